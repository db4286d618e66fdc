"""Study stores against what real folders go through (issue 18, sections 1 and 5).

Run: python benchmarks/probes/store_probes.py
Prints one line per probe: odd files in ``records/``, a deleted or malformed manifest, a record
copied from another study, two runners on one store, SIGKILL of a runner with pool workers,
``--n`` below the store's size, symlinks out of the study folder, a library power study. A line
says what the library did (exit code, jobs re-run, rows read, files touched, the exception) and
the first "ignored" warning. Jobs are stubbed out (fake records, no model is built or sampled);
probes 8 and 9 start short-lived Python processes and kill what is left of them.

Works on the current code and on commits before the store's checks (fb006b6), where the probes
print what happened instead (an exception, an unknown option). Everything is written under one
temporary folder, removed at the end (shown as <tmp>).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib
from typer.testing import CliRunner

import alliance_bayes
from alliance_bayes.checks import runner
from alliance_bayes.checks.jobs import QUANTILES
from alliance_bayes.checks.power import run_power
from alliance_bayes.checks.sbc import SBCResult
from alliance_bayes.checks.store import Store
from alliance_bayes.cli import app

RAN: list[int] = []  # indices of the jobs the stubbed runner ran, cleared by each probe
BOX = re.compile(r"[\u2500-\u257f]")  # rich's error panels
TMP = re.compile(re.escape(tempfile.gettempdir()) + r"/storeprobe-\w+")  # this run's folder

# Two runners share a store; each logs "<pid> <job>" for every job it runs.
CONCURRENT = textwrap.dedent(
    """
    import os
    import sys
    import time

    from alliance_bayes.checks import runner
    from alliance_bayes.checks.jobs import Job
    from alliance_bayes.checks.store import Store


    def slow(job):
        with open(sys.argv[2], "a") as log:
            log.write(f"{os.getpid()} {job.index}\\n")
        time.sleep(0.5)
        return {"status": "ok"}


    runner.run_job = slow
    store = Store(sys.argv[1])
    try:
        store.open({"kind": "x", "seed": 1, "n_jobs": 6})
        jobs = [Job(i, 1, {}, {}, {}, None) for i in range(6)]
        runner.run_jobs(jobs, store, workers=1, progress=False)
        print("ran")
    except Exception as error:
        print(type(error).__name__, str(error)[:150])
    """
)

# A runner with two pool workers, each of which touches $PIDS/<pid> and sleeps for a minute.
POOL = textwrap.dedent(
    """
    import os
    import sys
    import time
    from pathlib import Path

    from alliance_bayes.checks import runner
    from alliance_bayes.checks.jobs import Job
    from alliance_bayes.checks.store import Store


    def sleepy(job):
        Path(os.environ["PIDS"], str(os.getpid())).touch()
        time.sleep(60)
        return {"status": "ok"}


    if __name__ == "__main__":
        store = Store(sys.argv[1])
        store.open({"kind": "x", "seed": 1, "n_jobs": 4})
        runner.run_job = sleepy
        jobs = [Job(i, 1, {}, {}, {}, None) for i in range(4)]
        runner.run_jobs(jobs, store, workers=2, progress=False)
    """
)


# --- stubs and helpers ---------------------------------------------------------------------------


def fake_record(i: int) -> dict:
    quantiles = {str(x): x - 0.5 for x in QUANTILES}
    quantities = {
        name: {
            "truth": 0.0,
            "rank": (7 * i + shift) % 100,
            "n_ranked": 99,
            "mean": 0.0,
            "sd": 1.0,
            "quantiles": quantiles,
        }
        for name, shift in (("coef[presence]", 0), ("sigma", 31))
    }
    return {"status": "ok", "reason": "", "quantities": quantities}


def fake_job(job) -> dict:
    RAN.append(job.index)
    return fake_record(job.index)


def short(text: str) -> str:
    """``text`` with <tmp> for this run's temporary folder."""
    return TMP.sub("<tmp>", text)


def cli(*args) -> tuple[int, str]:
    """Exit code and output (plus the exception, other than SystemExit) on one line."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    text = result.output
    error = result.exception
    if error is not None and not isinstance(error, SystemExit):
        text += f" {type(error).__name__}: {error}"
    return result.exit_code, " ".join(short(BOX.sub(" ", text)).split())


def sbc(out: Path, n: int, *extra, seed: int = 11) -> tuple[int, str]:
    model = "razzaque_2015_regression"
    return cli("sbc", model, "--n", n, "--out", out, "--workers", 1, "--seed", seed, *extra)


def study(root: Path, name: str, n: int = 3) -> Path:
    out = root / name
    code, text = sbc(out, n)
    if code != 0:
        raise RuntimeError(f"could not make the study {name}: {text}")
    return out


def jobs_in(out: Path) -> list[int]:
    return sorted(SBCResult.from_store(out).frame["job"].unique().tolist())


def tail(code: int, text: str, n: int) -> str:
    """The end of a failing command's output."""
    return text[-n:] if code else ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in "ZX"


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        todo += children
    return found


def kill_all(pids: list[int]) -> list[int]:
    """SIGKILL the live ones among ``pids``; returns those that were alive."""
    left = [pid for pid in pids if alive(pid)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


# --- probes ---------------------------------------------------------------------------------------


def record_not_an_object(root: Path, content: str) -> str:
    out = study(root, f"nonobj_{content}")
    (out / "records" / "job_000001.json").write_text(content)
    jobs = jobs_in(out)
    RAN.clear()
    code, text = sbc(out, 3)
    return f"report jobs {jobs}; resume exit {code}, re-ran {RAN} {tail(code, text, 120)}"


def record_copy(root: Path) -> str:
    out = study(root, "copy")
    shutil.copy(out / "records/job_000001.json", out / "records/job_000001_copy.json")
    frame = SBCResult.from_store(out).frame
    return f"{len(frame)} rows (should be 6), jobs {sorted(frame['job'].tolist())}"


def record_numbered_copy(root: Path) -> str:
    out = study(root, "paren")
    shutil.copy(out / "records/job_000002.json", out / "records/job_000002 (1).json")
    return f"{len(SBCResult.from_store(out).frame)} rows"


def manifest_deleted(root: Path, extra: list[str], seed: int) -> str:
    out = study(root, f"lost_{seed}_{'_'.join(extra)}")
    (out / "manifest.json").unlink()
    RAN.clear()
    code, text = sbc(out, 3, *extra, seed=seed)
    manifest = out / "manifest.json"
    m = json.loads(manifest.read_text()) if manifest.exists() else None
    now = f"seed={m and m['seed']} draws={m and m['settings']['draws']}"
    return f"exit {code}, jobs re-run {RAN}, manifest now {now}; {tail(code, text, 160)}"


def record_from_another_study(root: Path) -> str:
    a = study(root, "foreign_a")
    b = root / "foreign_b"
    code, text = sbc(b, 3, seed=12)
    if code != 0:
        raise RuntimeError(f"could not make the study foreign_b: {text}")
    shutil.copy(a / "records/job_000002.json", b / "records/job_000002.json")
    RAN.clear()
    code, text = sbc(b, 3, seed=12)
    if code:
        said = text[-150:]
    else:
        said = f"record of seed 11 used in the seed-12 study: jobs {jobs_in(b)}"
    return f"resume exit {code}, re-ran {RAN}; {said}"


def two_runners(root: Path) -> str:
    script = root / "two_runners.py"  # not concurrent.py: it would hide concurrent.futures
    script.write_text(CONCURRENT)
    log = root / "two_runners.log"
    command = [sys.executable, str(script), str(root / "two_runners"), str(log)]
    runners = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        said = [p.communicate(timeout=120)[0].strip() for p in runners]
    finally:
        for p in runners:
            p.kill()
            p.wait()
    said = [re.sub(r"process \d+", "process <pid>", s) for s in said]
    said = sorted(re.sub(r"\(since [^)]*\)", "(since <time>)", s) for s in said)  # any order
    runs = log.read_text().splitlines()
    return f"{len(runs)} job executions for 6 jobs; runners said {said}"


def sigkill_runner(root: Path) -> str:
    script = root / "pool.py"
    script.write_text(POOL)
    pids = root / "pids"
    pids.mkdir()
    env = os.environ | {"PIDS": str(pids)}
    process = subprocess.Popen([sys.executable, str(script), str(root / "pool")], env=env)
    below: list[int] = []
    try:
        deadline = time.time() + 60
        while len(list(pids.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.1)
        workers = [int(path.name) for path in pids.iterdir()]
        below = descendants(process.pid)  # workers and helpers, before they lose their parent
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        start = time.time()
        while any(alive(w) for w in workers) and time.time() - start < 10:
            time.sleep(0.1)
        left = kill_all(workers)
        gone = "" if left else f" (all gone after {time.time() - start:.1f} s)"
        line = f"{len(workers)} workers; {len(left)} still alive 10 s after the runner's SIGKILL"
        return line + gone
    finally:
        process.kill()
        process.wait()
        time.sleep(0.5)  # helpers (e.g. the resource tracker) exit once the workers are gone
        kill_all(below)


def n_below_store(root: Path) -> str:
    out = study(root, "n30", 30)
    code, text = sbc(out, 10)
    said = re.search(r"SBC of \S+ (\d+) simulations", text)
    return f"exit {code}; summary says {said and said.group(1)} simulations"


def report_through_link(root: Path) -> str:
    out = study(root, "link", 4)
    victim = root / "thesis.tex"
    victim.write_text("two years of work")
    (out / "sbc_test.csv").unlink()
    (out / "sbc_test.csv").symlink_to(victim)
    code, text = cli("report", out)
    return f"exit {code}; victim now {victim.read_text()[:30]!r}; {tail(code, text, 140)}"


def records_link(root: Path) -> str:
    out = root / "reclink"
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    store = Store(out)
    store.open({"kind": "sbc", "seed": 1, "n_jobs": 1})
    (out / "records").symlink_to(elsewhere, target_is_directory=True)
    try:
        store.write(0, fake_record(0))
        written = "written"
    except Exception as error:  # a probe reports every failure, whatever its type
        written = f"{type(error).__name__}: {short(str(error))[:120]}"
    return f"{written}; files outside: {[path.name for path in elsewhere.iterdir()]}"


def power_report(root: Path) -> str:
    spec = alliance_bayes.ModelSpec.shipped("razzaque_2015_regression")
    out = root / "power"
    truth = alliance_bayes.Truth.razzaque_2015()
    designs = {"8 clinicians": spec.design}
    options = {"target": "coef[presence]", "store": out, "workers": 1, "progress": False}
    run_power(spec, designs, truth, 3, **options)
    code, text = cli("report", out)
    files = sorted(path.name for path in out.iterdir() if path.is_file())
    return f"report of a library power study: exit {code} {tail(code, text, 120)}; files {files}"


def manifest_not_an_object(root: Path) -> str:
    out = study(root, "badmanifest")
    (out / "manifest.json").write_text("[1, 2]")
    code, text = cli("report", out)
    return f"exit {code}: {text[-150:]}"


def probes(root: Path) -> dict[str, Callable[[], str]]:
    return {
        "1 record [1,2,3]": lambda: record_not_an_object(root, "[1,2,3]"),
        "2 record null": lambda: record_not_an_object(root, "null"),
        "3 job_000001_copy.json": lambda: record_copy(root),
        "4 'job_000002 (1).json'": lambda: record_numbered_copy(root),
        "5 manifest deleted, --seed 12": lambda: manifest_deleted(root, [], 12),
        "6 manifest deleted, --draws 300": lambda: manifest_deleted(root, ["--draws", "300"], 11),
        "6b manifest deleted, same settings --adopt": lambda: manifest_deleted(
            root, ["--adopt"], 11
        ),
        "6c manifest deleted, --seed 12 --adopt": lambda: manifest_deleted(root, ["--adopt"], 12),
        "7 record copied from another study": lambda: record_from_another_study(root),
        "8 two concurrent runners": lambda: two_runners(root),
        "9 SIGKILL of the runner only": lambda: sigkill_runner(root),
        "10 --n 10 on a 30-simulation store": lambda: n_below_store(root),
        "11 report: sbc_test.csv -> file outside": lambda: report_through_link(root),
        "12 records/ -> folder outside": lambda: records_link(root),
        "13 report of run_power's folder": lambda: power_report(root),
        "14 manifest.json holds [1, 2]": lambda: manifest_not_an_object(root),
    }


def outcome(make: Callable[[], str]) -> str:
    """What a probe saw, or the exception it ended with, and the first 'ignored' warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            said = make()
        except Exception as error:  # a probe reports every failure, whatever its type
            return f"RAISED {type(error).__name__}: {short(str(error))[:200]}"
    ignored = [short(str(w.message))[:160] for w in caught if "ignored" in str(w.message)]
    return said + (f" | warning: {ignored[0]}" if ignored else "")


def main() -> None:
    matplotlib.use("Agg")
    os.environ["ALLIANCE_BAYES_CACHE"] = "0"  # nothing is compiled; never touch the user's cache
    runner.run_job = fake_job
    print("package:", alliance_bayes.__file__)
    with tempfile.TemporaryDirectory(prefix="storeprobe-") as folder:
        root = Path(folder)
        for name, make in probes(root).items():
            print(short(f"{name}: {outcome(make)}"))


if __name__ == "__main__":
    main()
