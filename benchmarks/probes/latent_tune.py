"""Tuning steps for the censored and Student-t models: 400 against 1,000, at fit's defaults
otherwise, on ``likelihoods.py``'s data sets (its simulator, data seeds 2013 and 7).

Run:   python benchmarks/probes/latent_tune.py [--seeds 2013,7] [--fits 3]

Each (likelihood, tune, data seed) runs in a fresh process and fits ``--fits`` times with
sampler seeds 0, 1, ...: the first fit may compile (or load the compiled model from the disk
cache), the others are refits. Per fit: seconds in all, sampling and diagnostics seconds, mean
leapfrog steps per draw, divergences, max R-hat and min bulk ESS over the vocabulary parameters,
and the three lowest-ESS parameters (latent slots included). Printed; the run of 2026-12-01 is
in ``benchmarks/results/probes/latent_tune.txt``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = {"censored": "ceiling", "student_t": "outliers"}


def child(likelihood: str, tune: int, seed: int, fits: int) -> None:
    sys.path.insert(0, str(HERE.parent))
    from likelihoods import COVARIATES, figures, simulated

    import alliance_bayes as ab

    data = simulated(KINDS[likelihood], seed, None)
    model = ab.growth_model(data, therapist_covariates=COVARIATES, likelihood=likelihood)
    for fit_seed in range(fits):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = ab.fit(model, tune=tune, random_seed=fit_seed, progressbar=False)
        row = figures(idata, time.perf_counter() - start)
        steps = float(idata.sample_stats["n_steps"].mean())
        print(
            json.dumps(
                {
                    "likelihood": likelihood,
                    "tune": tune,
                    "data_seed": seed,
                    "fit": fit_seed,
                    "steps": round(steps, 2),
                }
                | row
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="2013,7")
    parser.add_argument("--fits", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("LIKELIHOOD", "TUNE", "SEED"))
    args = parser.parse_args()
    if args.child:
        likelihood, tune, seed = args.child
        child(likelihood, int(tune), int(seed), args.fits)
        return
    for likelihood in KINDS:
        for tune in (400, 1000):
            for seed in args.seeds.split(","):
                command = [
                    sys.executable,
                    __file__,
                    "--fits",
                    str(args.fits),
                    "--child",
                    likelihood,
                    str(tune),
                    seed,
                ]
                subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
