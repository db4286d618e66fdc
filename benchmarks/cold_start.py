"""The first fit on a fresh machine: every compile cache empty, the dual-rater Nissen-Lie model.

Run: python benchmarks/cold_start.py [--likelihoods normal censored] [--repeats 1] [--note TEXT]

Each run is a fresh process with a fresh ``NUMBA_CACHE_DIR``, a fresh PyTensor compile folder
(``PYTENSOR_FLAGS=base_compiledir=...``: ``compiledir`` alone would leave PyTensor's numba cache,
``<base_compiledir>/numba``, warm) and ``ALLIANCE_BAYES_CACHE_DIR`` pointing at an empty folder:
what ``alliance-bayes demo`` or a first ``fit`` costs right after ``pip install``. It fits
``ModelSpec.shipped("nissen_lie_2013_dual_rater")`` (with ``likelihood`` replaced) on
``datasets.load("nissen_lie_2013")`` at ``fit``'s defaults and records:

- ``import_s``, ``build_s``: importing the package, building the model;
- ``fit`` phases from ``idata.attrs["timing"]``: ``compile_s`` (the model's compile before the
  first draw), ``sampling_s`` (compile included), ``random_effects_s`` (the conditional effect
  draws, with their compile), ``log_likelihood_s`` (with its compile), ``diagnostics_s``;
- ``numba``: seconds of numba compiles (numba's compile events), per function (inclusive: the
  kernel's compile is part of the PyTensor wrapper's that calls it) and ``top_level`` (all
  compiles not nested in another, in any thread);
- ``to_first_draw_s`` (import + build + compile) and ``process_s`` (the whole process);
- ``load_before``/``load_after``: the 1-minute load average (the machine is shared: compare
  runs under comparable load, repeat, take medians).

Lines are appended to benchmarks/results/cold_start.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "cold_start.jsonl"
PACKAGES = ("alliance_bayes", "nutpie", "pytensor", "numba", "pymc")

CHILD = """
import dataclasses, json, threading, time
from collections import defaultdict
start = time.perf_counter()
from numba.core import event

compiles = defaultdict(float)
top_level = [0.0]
open_events = defaultdict(list)  # per thread: start times of the compiles under way


class Compiles(event.Listener):
    def on_start(self, ev):
        open_events[threading.get_ident()].append(time.perf_counter())

    def on_end(self, ev):
        stack = open_events[threading.get_ident()]
        seconds = time.perf_counter() - stack.pop()
        name = getattr(ev.data["dispatcher"], "__name__", None) or str(ev.data["dispatcher"])
        compiles[name.split(".")[-1]] += seconds
        if not stack:
            top_level[0] += seconds


event.register("numba:compile", Compiles())
import alliance_bayes as ab
from alliance_bayes import datasets
from alliance_bayes.models import build_model

imported = time.perf_counter()
spec = dataclasses.replace(
    ab.ModelSpec.shipped("nissen_lie_2013_dual_rater"), likelihood={likelihood!r}
)
model = build_model(datasets.load("nissen_lie_2013"), spec)
built = time.perf_counter()
idata = ab.fit(model, progressbar=False, random_seed=1, random_effects={effects!r})
done = time.perf_counter()
timing = idata.attrs.get("timing", {{}})
timing = dict(json.loads(timing) if isinstance(timing, str) else timing)
top = sorted(compiles.items(), key=lambda kv: -kv[1])[:8]
print(json.dumps({{
    "import_s": imported - start,
    "build_s": built - imported,
    **timing,
    "to_first_draw_s": built - start + timing.get("compile_s", float("nan")),
    "fit_s": done - built,
    "numba": {{"top_level": top_level[0], **dict(top)}},
}}))
"""


def load_average() -> float:
    return os.getloadavg()[0]


def run_child(likelihood: str, effects: bool = True) -> dict:
    """One cold first fit in a fresh process with every cache empty (``effects``: ``fit``'s
    ``random_effects``; without them no effect draws and no pointwise log-likelihood)."""
    with tempfile.TemporaryDirectory(prefix="alliance_bayes_cold_") as root:
        folders = {name: Path(root) / name for name in ("numba", "pytensor", "ours")}
        for folder in folders.values():
            folder.mkdir()
        env = os.environ | {
            "NUMBA_CACHE_DIR": str(folders["numba"]),
            "PYTENSOR_FLAGS": f"base_compiledir={folders['pytensor']}",  # its numba cache too
            "ALLIANCE_BAYES_CACHE": "1",
            "ALLIANCE_BAYES_CACHE_DIR": str(folders["ours"]),
        }
        source = textwrap.dedent(CHILD.format(likelihood=likelihood, effects=effects))
        before = load_average()
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-c", source], capture_output=True, text=True, env=env
        )
        seconds = time.perf_counter() - start
    if run.returncode:  # recorded, not raised: the other likelihood still runs
        last = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""
        print(run.stderr[-3000:], file=sys.stderr)
        result = {"error": last}
    else:
        result = json.loads(run.stdout.strip().splitlines()[-1])
    result |= {"process_s": seconds, "load_before": before, "load_after": load_average()}
    return _rounded(result)


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(value, 2) if isinstance(value, float) else value


def commit() -> str:
    run = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
    )
    return run.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--likelihoods", nargs="+", default=["normal", "censored"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--note", default="", help="what this run measures (e.g. the change)")
    parser.add_argument(
        "--no-effects", action="store_true", help="fit(random_effects=False): no effect draws"
    )
    args = parser.parse_args()
    context = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": commit(),
        "note": args.note,
        "cpus": os.cpu_count(),
        "versions": {p: version(p) for p in PACKAGES},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    for _ in range(args.repeats):
        for likelihood in args.likelihoods:
            effects = not args.no_effects
            row = {"likelihood": likelihood, "random_effects": effects}
            row |= run_child(likelihood, effects) | context
            print(json.dumps(row), flush=True)
            with RESULTS.open("a") as out:
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
