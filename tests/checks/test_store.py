"""Study stores survive what real folders go through (issue 18, section 5; symlinks of section 1).

Nothing here samples: jobs are replaced by a fake that returns a record of the right shape at
once (``runner.run_job`` is looked up when the jobs run), or stores are written directly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from dataclasses import replace
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from typer.testing import CliRunner

import alliance_bayes as ab
from alliance_bayes.checks import runner
from alliance_bayes.checks.jobs import QUANTILES
from alliance_bayes.checks.power import run_power
from alliance_bayes.checks.sbc import SBCResult
from alliance_bayes.checks.store import Store, StoreMismatchError
from alliance_bayes.cli import app

matplotlib.use("Agg")

SPEC = "razzaque_2015_regression"
MANIFEST = {"kind": "sbc", "spec": {"name": "fake"}, "seed": 1, "n_jobs": 3}


def fake_record(index: int) -> dict:
    """A finished SBC job's record: two quantities with spread-out ranks."""
    quantiles = {str(q): q - 0.5 for q in QUANTILES}
    return {
        "status": "ok",
        "reason": "",
        "quantities": {
            name: {
                "truth": 0.0,
                "rank": (7 * index + shift) % 100,
                "n_ranked": 99,
                "mean": 0.0,
                "sd": 1.0,
                "quantiles": quantiles,
            }
            for name, shift in (("coef[presence]", 0), ("sigma", 31))
        },
    }


def fake_job(job) -> dict:
    return fake_record(job.index)


@pytest.fixture
def fake_jobs(monkeypatch):
    """Replace the sampling job by :func:`fake_job`; the list collects the jobs that ran."""
    ran = []

    def run(job):
        ran.append(job.index)
        return fake_job(job)

    monkeypatch.setattr(runner, "run_job", run)
    return ran


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def sbc_args(out: Path, n: int, seed: int = 11) -> list[str]:
    return [
        "sbc",
        SPEC,
        "--n",
        str(n),
        "--out",
        str(out),
        "--workers",
        "1",
        "--seed",
        str(seed),
    ]


def written_store(folder: Path, n: int) -> Store:
    store = Store(folder)
    store.open(MANIFEST | {"n_jobs": n})
    for i in range(n):
        store.write(i, fake_record(i))
    return store


def message(result) -> str:
    return result.output + str(result.exception or "")


# ---------------------------------------------------------------------------- record files
@pytest.mark.parametrize("content", ["[1, 2, 3]", "null", '"text"', "42"])
def test_a_record_that_is_json_but_not_an_object_is_ignored_and_reported(tmp_path, content):
    store = written_store(tmp_path, 3)
    store.record_path(1).write_text(content)
    with pytest.warns(UserWarning, match=r"job_000001\.json \(holds a JSON"):
        records = list(store.records())
    assert [r["index"] for r in records] == [0, 2]
    assert store.read(1) is None
    assert store.done(3) == {0, 2}


def test_only_exact_record_names_are_records(tmp_path):
    written_store(tmp_path, 3)
    folder = tmp_path / "records"
    for copy in ("job_000001_copy.json", "job_000002 (1).json", "job_0000001.json", "job_1.json"):
        shutil.copy(folder / "job_000001.json", folder / copy)
    with pytest.warns(UserWarning) as caught:
        frame = SBCResult.from_store(tmp_path).frame
    assert sorted(frame["job"].unique()) == [0, 1, 2]
    assert len(frame) == 3 * 2  # three jobs, two quantities: no copy counted twice
    text = str(caught[0].message)
    assert "job_000001_copy.json" in text and "job_000002 (1).json" in text
    assert "not a record name" in text


def test_records_of_another_study_are_refused_not_overwritten(tmp_path):
    from alliance_bayes.checks.jobs import Job

    one = written_store(tmp_path / "one", 3)
    other = Store(tmp_path / "other")
    other.open(MANIFEST | {"seed": 2})  # another study: another settings hash
    (tmp_path / "other" / "records").mkdir()
    planted = other.record_path(1)
    shutil.copy(one.record_path(1), planted)
    before = planted.read_bytes()
    assert other.read(1) is None
    with pytest.warns(UserWarning, match="written under other settings"):
        assert list(other.records()) == []
    jobs = [Job(index=i, study_seed=2, spec={}, fit_spec={}, design={}, truth=None) for i in (0, 1)]
    with pytest.raises(StoreMismatchError, match=r"job_000001\.json"):
        runner.run_jobs(jobs, other, executor=1, progress=False, job_function=fake_job)
    assert planted.read_bytes() == before
    assert not other.record_path(0).exists()  # refused before any job ran


def test_a_store_without_manifest_is_refused_unless_adopted(tmp_path):
    store = written_store(tmp_path, 3)
    store.manifest_path.unlink()
    with pytest.raises(StoreMismatchError, match="--adopt"):
        store.open(MANIFEST | {"seed": 12})
    assert not store.manifest_path.exists()
    with pytest.raises(StoreMismatchError, match="cannot adopt"):
        store.open(MANIFEST | {"seed": 12}, adopt=True)
    store.open(MANIFEST, adopt=True)  # the settings that wrote them
    assert store.done(3) == {0, 1, 2}


def test_cli_refuses_old_records_under_new_settings_after_the_manifest_is_lost(tmp_path, fake_jobs):
    out = tmp_path / "study"
    assert cli(*sbc_args(out, 3, seed=11)).exit_code == 0
    assert fake_jobs == [0, 1, 2]
    (out / "manifest.json").unlink()
    for changed in (["--seed", "12"], ["--draws", "300"]):
        result = cli(*sbc_args(out, 3, seed=11), *changed)
        assert result.exit_code != 0
        assert "--adopt" in message(result)
    assert not (out / "manifest.json").exists()
    refused = cli(*sbc_args(out, 3, seed=12), "--adopt")
    assert refused.exit_code != 0 and "cannot adopt" in message(refused)
    adopted = cli(*sbc_args(out, 3, seed=11), "--adopt")
    assert adopted.exit_code == 0, message(adopted)
    assert fake_jobs == [0, 1, 2]  # the adopted records were used, none redone
    assert json.loads((out / "manifest.json").read_text())["seed"] == 11


# ---------------------------------------------------------------------------- the lock
def test_a_second_runner_is_refused_and_told_who_holds_the_store(tmp_path):
    first = Store(tmp_path)
    with first.lock():
        with pytest.raises(OSError, match=rf"process {os.getpid()} on \S+ \(since"):
            Store(tmp_path).open(MANIFEST)
        with first.lock():  # re-entrant for its holder
            first.open(MANIFEST)
    Store(tmp_path).open(MANIFEST)  # released


HOLD_SCRIPT = textwrap.dedent("""
    import sys, time
    from alliance_bayes.checks.store import Store
    with Store(sys.argv[1]).lock():
        print("locked", flush=True)
        time.sleep(120)
""")


def test_a_killed_runner_does_not_block_the_store(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OSError, match=f"process {holder.pid} on"):
            Store(tmp_path).open(MANIFEST)
    finally:
        holder.kill()
        holder.wait()
    Store(tmp_path).open(MANIFEST)  # the kernel released the dead runner's lock


def test_two_concurrent_cli_runs_do_not_both_run_the_jobs(tmp_path, fake_jobs):
    out = tmp_path / "study"
    with Store(out).lock():  # another runner is working the store
        busy = cli(*sbc_args(out, 3))
    assert busy.exit_code != 0 and "in use by process" in message(busy)
    assert fake_jobs == []


# ---------------------------------------------------------------------------- workers
POOL_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from alliance_bayes.checks import runner
    from alliance_bayes.checks.jobs import Job
    from alliance_bayes.checks.store import Store

    def sleepy(job):
        Path(os.environ["PIDS"], str(os.getpid())).touch()
        time.sleep(120)
        return {"status": "ok"}

    if __name__ == "__main__":
        store = Store(sys.argv[1])
        store.open({"kind": "sbc", "seed": 1, "n_jobs": 4})
        jobs = [Job(i, 1, {}, {}, {}, None) for i in range(4)]
        runner.run_job = sleepy  # looked up when the jobs run
        runner.run_jobs(jobs, store, executor=2, progress=False)
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has exited, only its exit status is left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_exit_when_their_runner_is_killed(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "pool_script.py"  # a file: spawned workers import its sleepy()
    script.write_text(POOL_SCRIPT)
    parent = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "store")],
        env=os.environ | {"PIDS": str(pids)},
    )
    deadline = time.time() + 120
    while len(list(pids.iterdir())) < 2 and time.time() < deadline and parent.poll() is None:
        time.sleep(0.1)
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) == 2, "both workers should have started a job"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 5
    while any(_alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in workers if _alive(pid)]
    for pid in survivors:  # do not leave them behind if the test fails
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"workers {survivors} outlived their killed runner"


# ---------------------------------------------------------------------------- reports
def test_n_selects_that_many_simulations_in_reports(tmp_path, fake_jobs):
    out = tmp_path / "study"
    assert cli(*sbc_args(out, 30)).exit_code == 0
    assert len(fake_jobs) == 30
    again = cli(*sbc_args(out, 10))
    assert again.exit_code == 0, message(again)
    assert len(fake_jobs) == 30  # nothing re-run
    assert "10 simulations" in again.output
    assert set(pd.read_csv(out / "sbc_test.csv")["n_sims"]) == {10}
    report = cli("report", out, "--n", "12")
    assert report.exit_code == 0, message(report)
    assert set(pd.read_csv(out / "sbc_test.csv")["n_sims"]) == {12}
    assert cli("report", out).exit_code == 0
    assert set(pd.read_csv(out / "sbc_test.csv")["n_sims"]) == {30}
    assert len(SBCResult.from_store(out, n=7).frame.drop_duplicates("job")) == 7


def test_power_settings_are_in_the_manifest(tmp_path, fake_jobs):
    spec = ab.ModelSpec.shipped(SPEC)
    designs = {f"{n} clinicians": replace(spec.design, n_therapists=n) for n in (8, 20)}
    truth = ab.Truth.razzaque_2015()
    out = tmp_path / "power"
    result = run_power(
        spec, designs, truth, 4, target="coef[presence]", store=out, workers=1, progress=False
    )
    assert list(result.table()["n_reps"]) == [4, 4]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "power"
    assert (manifest["target"], manifest["rule"]) == ("coef[presence]", "95% interval excludes 0")
    assert not (out / "power.json").exists()
    report = cli("report", out, "--n", "3")
    assert report.exit_code == 0, message(report)
    assert list(pd.read_csv(out / "power.csv")["n_reps"]) == [3, 3]
    assert (out / "power_curve.png").exists()


def test_an_old_power_folder_with_power_json_is_still_reported(tmp_path, fake_jobs):
    spec = ab.ModelSpec.shipped(SPEC)
    out = tmp_path / "power"
    run_power(
        spec,
        {"8 clinicians": spec.design},
        ab.Truth.razzaque_2015(),
        3,
        target="coef[presence]",
        store=out,
        workers=1,
        progress=False,
    )
    (out / "manifest.json").unlink(missing_ok=True)  # as written before the manifest existed
    (out / "power.json").write_text(
        json.dumps({"target": "sigma", "rule": "90% interval excludes 0"})
    )
    report = cli("report", out)
    assert report.exit_code == 0, message(report)
    assert pd.read_csv(out / "power.csv")["n_reps"].tolist() == [3]
    more = {"20 clinicians": replace(spec.design, n_therapists=20)}
    run_power(spec, more, ab.Truth.razzaque_2015(), 3, store=out, workers=1, progress=False)
    designs = json.loads((out / "manifest.json").read_text())["designs"]
    assert designs == {"8 clinicians": "8_clinicians", "20 clinicians": "20_clinicians"}


# ---------------------------------------------------------------------------- symlinks
def test_report_refuses_to_write_through_a_symlink_out_of_the_folder(tmp_path, fake_jobs):
    out = tmp_path / "study"
    assert cli(*sbc_args(out, 4)).exit_code == 0
    victim = tmp_path / "thesis.tex"
    victim.write_text("two years of work")
    (out / "sbc_test.csv").unlink()
    (out / "sbc_test.csv").symlink_to(victim)
    result = cli("report", out)
    assert result.exit_code != 0
    assert "outside the study folder" in message(result)
    assert victim.read_text() == "two years of work"
    assert (out / "sbc_test.csv").is_symlink()


def test_a_link_inside_the_folder_is_fine(tmp_path, fake_jobs):
    out = tmp_path / "study"
    assert cli(*sbc_args(out, 4)).exit_code == 0
    (out / "old").mkdir()
    (out / "sbc_test.md").unlink()
    (out / "sbc_test.md").symlink_to(out / "old" / "table.md")
    assert cli("report", out).exit_code == 0


def test_records_are_not_written_through_a_symlink_out_of_the_folder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store = Store(tmp_path / "study")
    store.open(MANIFEST)
    (store.folder / "records").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ValueError, match="outside the study folder"):
        store.write(0, fake_record(0))
    assert list(elsewhere.iterdir()) == []


def test_the_manifest_and_lock_are_not_written_through_a_symlink(tmp_path):
    outside = tmp_path / "outside.json"
    study = tmp_path / "study"
    study.mkdir()
    (study / "manifest.json").symlink_to(outside)  # dangling: open() would create it
    with pytest.raises(ValueError, match="outside the study folder"):
        Store(study).open(MANIFEST)
    assert not outside.exists()
    assert (study / "manifest.json").is_symlink()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".lock").symlink_to(outside)
    with pytest.raises(ValueError, match="outside the study folder"):
        Store(fresh).open(MANIFEST)
    assert not outside.exists()


def test_a_store_without_oddities_reads_without_warnings(tmp_path):
    store = written_store(tmp_path, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(store.records())) == 3


# ---------------------------------------------------------------------------- settings, executor
def test_settings_and_executor_stand_for_the_older_keywords(tmp_path, fake_jobs):
    from alliance_bayes.checks import FitSettings
    from alliance_bayes.checks.sbc import run_sbc

    spec = ab.ModelSpec.shipped(SPEC)
    new = run_sbc(
        spec,
        n_sims=3,
        store=tmp_path / "new",
        settings=FitSettings(draws=100, tune=50, thin=2),
        executor=1,
        progress=False,
    )
    old = run_sbc(
        spec, n_sims=3, store=tmp_path / "old", draws=100, tune=50, thin=2, workers=1,
        progress=False,
    )  # fmt: skip
    assert new.manifest["settings"] == old.manifest["settings"]
    assert new.manifest["settings"] == {
        "draws": 100, "tune": 50, "chains": 2, "thin": 2, "posterior_scale": 1.0
    }  # fmt: skip
    assert len(fake_jobs) == 6


def test_study_options_refuse_what_they_cannot_read():
    from alliance_bayes.checks import FitSettings

    assert runner.study_options(FitSettings(draws=9), None, chains=3, workers=2) == (
        FitSettings(draws=9, chains=3),
        2,
    )
    # a client before a scheduler before workers, as the older keywords were read
    assert runner.study_options(workers=2, scheduler="tcp://h:1")[1] == "tcp://h:1"
    with pytest.raises(TypeError, match=r"unexpected keyword.*'draw'"):
        runner.study_options(draw=100)
    with pytest.raises(TypeError, match="not both"):
        runner.study_options(executor=2, workers=2)
    with pytest.raises(TypeError, match="executor=True"):
        runner.study_options(executor=True)
    with pytest.raises(TypeError, match=r"distributed\.Client"):
        runner.study_options(executor=object())
    with pytest.raises(ValueError, match="1 or more"):
        runner.study_options(executor=-1)
