"""Seconds to fit the therapist regression of 40 therapists from long data, cold and warm.

Run: python benchmarks/regression_speed.py [--first-use]

Each line is ``ab.fit(therapist_regression(long, aggregate="mean of patient-rated at session
12"))`` with fit's defaults (4 chains, 1,000 draws, 1,000 tuning steps), on 40 therapists x 3
patients x sessions 3/12 x two raters, in fresh processes that share one new compile cache:

- ``cold``: the first fit of this structure (nutpie's numba compile of the model),
- ``warm_same_process``: a refit of the therapist-rated score (same structure: data swapped in),
- ``no_scale_refit``: a refit of the same therapist-rated data built without ``scale=``, whose
  default priors (compiled into the model) then come from the observed scores: a new compile,
- ``disk_cache``: a new process, the structure taken from the disk cache.

``--first-use`` also gives the first process a new PyTensor/numba cache folder (what a new
installation pays once for numba's compile of PyTensor's operations). Each fit's
``attrs["timing"]`` is kept. One JSON line is appended to
benchmarks/results/regression_speed.jsonl with the commit and the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from competitors import cpu_name

RESULTS = Path(__file__).parent / "results" / "regression_speed.jsonl"
RULE = "mean of patient-rated at session 12"


def long_data(scale: bool = True):
    import alliance_bayes as ab

    design = ab.Design(
        n_therapists=40,
        patients_per_therapist=3,
        sessions=[3.0, 12.0],
        raters=["patient", "therapist"],
        therapist_covariates=ab.CovariateDesign(names=["presence", "insight"]),
        scale=[1.0, 7.0],
    )
    zero = {"presence": 0.0, "insight": 0.0}
    sds = {"patient:level": 0.2, "patient:growth": 0.05, "therapist:level": 0.2}
    truth = {
        "level": {"patient": 5.0, "therapist": 4.7},
        "growth": {"patient": 0.2, "therapist": 0.1},
        "level_coef": {"patient": {"presence": 0.2, "insight": 0.1}, "therapist": zero},
        "growth_coef": {"patient": zero, "therapist": zero},
        "sigma": 0.4,
        "therapist_sd": sds | {"therapist:growth": 0.05},
        "patient_sd": {k: 2 * v for k, v in sds.items()} | {"therapist:growth": 0.1},
        "therapist_corr": {},
        "patient_corr": {},
    }
    data = ab.simulate(ab.growth_model(design.to_data(random_seed=1)), truth, random_seed=2)
    return data if scale else dataclasses.replace(data, scale=None)


def timed_fit(model) -> dict:
    import warnings

    import alliance_bayes as ab

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = ab.fit(model, random_seed=1, progressbar=False)
    return {"seconds": round(time.perf_counter() - start, 2)} | json.loads(idata.attrs["timing"])


def child(stage: str) -> None:
    """One process: the fits of ``stage``, printed as one JSON object."""
    import alliance_bayes as ab

    out = {}
    long = long_data()
    out[stage] = timed_fit(ab.therapist_regression(long, aggregate=RULE))
    if stage == "cold":
        therapist = ab.therapist_regression(long, aggregate="mean of therapist-rated")
        out["warm_same_process"] = timed_fit(therapist)
        no_scale = ab.therapist_regression(long_data(scale=False), aggregate=RULE)
        out["no_scale_refit"] = timed_fit(no_scale)
    print(json.dumps(out))


def run_child(stage: str, env: dict) -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", stage],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result | {"process_s": round(time.perf_counter() - start, 2)}


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--first-use", action="store_true")
    parser.add_argument("--child", default=None)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, ALLIANCE_BAYES_CACHE_DIR=str(Path(folder) / "cache"))
        first = dict(env)
        if args.first_use:
            first["PYTENSOR_FLAGS"] = f"base_compiledir={folder}/pytensor"
            first["NUMBA_CACHE_DIR"] = f"{folder}/numba"
        cold = run_child("cold", first)
        disk = run_child("disk_cache", env)
    record = {
        "commit": commit(),
        "cpu": cpu_name(),
        "first_use": args.first_use,
        "rule": RULE,
        "cold_process": cold,
        "disk_cache_process": disk,
    }
    print(json.dumps(record, indent=1))
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
