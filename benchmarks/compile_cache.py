"""Compile time of the Nissen-Lie models in a new process: no disk cache, cold and warm cache.

Run: python benchmarks/compile_cache.py [--specs nissen_lie_2013_dual_rater ...] [--repeats 1]

For each spec, three fresh processes build the model from the shipped data and call
``fit.compiled_model`` (what ``fit`` pays before sampling):

- ``off``: ``ALLIANCE_BAYES_CACHE=0``, plain ``nutpie.compile_pymc_model``;
- ``cold``: an empty cache folder (the model is compiled and stored);
- ``warm``: the same folder again (the model is loaded);
- ``new_size``: no disk cache, a simulated study like Nissen-Lie's but with a number of therapists
  drawn at random (100-999, recorded), so PyTensor's numba cache has not seen its shapes: what a
  study of another size pays.

PyTensor's own numba cache (``~/.pytensor``) is left as it is in all three, so ``off`` and
``cold`` are what a new process pays today. Each line records the seconds of ``compiled_model``
and of its nutpie part, the cache lookups, and the versions; lines are appended to
benchmarks/results/compile_cache.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from importlib.metadata import version
from pathlib import Path

from competitors import cpu_name

RESULTS = Path(__file__).parent / "results" / "compile_cache.jsonl"
SPECS = ("nissen_lie_2013_dual_rater", "nissen_lie_2013_patient")
PACKAGES = ("alliance_bayes", "nutpie", "pytensor", "numba", "pymc")

SHIPPED = """
model = build_model(datasets.load("nissen_lie_2013"), ab.ModelSpec.shipped({spec!r}))
"""
NEW_SIZE = """
import dataclasses
design = dataclasses.replace(
    ab.Design.nissen_lie_2013(), n_therapists={n_therapists}, patients_per_therapist=3
)
spec = ab.ModelSpec.shipped({spec!r})
planned = ab.growth_model(design.to_data(random_seed=1), spec=spec)
model = ab.growth_model(ab.simulate(planned, ab.Truth.nissen_lie_2013(), random_seed=2), spec=spec)
"""
CHILD = """
import json, time
start = time.perf_counter()
import alliance_bayes as ab
from alliance_bayes import _compile_cache, datasets
from alliance_bayes.fit import compiled_model
from alliance_bayes.models import build_model

{build}
built = time.perf_counter()
timing = {{}}
original = _compile_cache.default_store

def timed_store():
    store = original()
    get = store.get_or_compile

    def timed(*args, **kwargs):
        begin = time.perf_counter()
        result = get(*args, **kwargs)
        timing["nutpie_s"] = time.perf_counter() - begin
        return result

    store.get_or_compile = timed
    return store

_compile_cache.default_store = timed_store
begin = time.perf_counter()
compiled_model(model)
timing["compiled_model_s"] = time.perf_counter() - begin
timing["import_and_build_s"] = built - start
print(json.dumps({{**timing, "cache": _compile_cache.cache_stats()}}))
"""


def run_child(spec: str, env: dict[str, str], n_therapists: int | None = None) -> dict:
    build = SHIPPED if n_therapists is None else NEW_SIZE
    source = CHILD.format(build=build.format(spec=spec, n_therapists=n_therapists))
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}


def measure(spec: str) -> list[dict]:
    """off, cold, warm and new_size for one spec, each in a fresh process."""
    rows = []
    off = os.environ | {"ALLIANCE_BAYES_CACHE": "0"}
    with tempfile.TemporaryDirectory(prefix="alliance_bayes_cache_") as folder:
        cached = os.environ | {"ALLIANCE_BAYES_CACHE": "1", "ALLIANCE_BAYES_CACHE_DIR": folder}
        for mode, env in (("off", off), ("cold", cached), ("warm", cached)):
            rows.append({"spec": spec, "mode": mode, **run_child(spec, env)})
            print(json.dumps(rows[-1]), flush=True)
    n_therapists = random.randrange(100, 1000)
    row = {"spec": spec, "mode": "new_size", "n_therapists": n_therapists}
    rows.append(row | run_child(spec, off, n_therapists))
    print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--specs", nargs="+", default=list(SPECS))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    context = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": cpu_name(),
        "cpus": os.cpu_count(),
        "versions": {p: version(p) for p in PACKAGES},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    for _ in range(args.repeats):
        for spec in args.specs:
            rows = measure(spec)
            with RESULTS.open("a") as out:
                for row in rows:
                    out.write(json.dumps(row | context) + "\n")


if __name__ == "__main__":
    main()
