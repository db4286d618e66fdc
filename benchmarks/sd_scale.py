"""The random-effect SDs of the integrated dual-rater model sampled on PyMC's log scale against
the `probit_linear` scale (models/_sd_transform.py), on the same simulated Nissen-Lie data sets,
alternating.

Run: python benchmarks/sd_scale.py [--datasets 6] [--tune 1000]

Per data set and scale: sampling seconds, gradient evaluations (warm-up and sampling), mean step
size, min bulk and tail ESS over the population parameters, max R-hat, divergences, and the
largest difference of a posterior mean from the log scale's, in posterior SDs. Both scales are
compiled once with nutpie directly and refitted by swapping data in: `fit`'s caches key by the
model's structure, which is the same for both. Lines go to benchmarks/results/sd_scale.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from unittest import mock

import arviz as az
import numpy as np
import nutpie
from tuning import SPEC, append_rows, mean_shift, population, quality

import alliance_bayes as ab
from alliance_bayes.models import _effects
from alliance_bayes.models._info import shared_values
from alliance_bayes.vocabulary import reported

RESULTS = Path(__file__).parent / "results" / "sd_scale.jsonl"
SCALE_NAMES = ("log", "probit_linear")


def build(data: ab.AllianceData, scale: str):
    spec = ab.ModelSpec.shipped(SPEC)
    if scale == "log":
        with mock.patch.object(_effects, "sd_transform", lambda prior: None):
            return ab.growth_model(data, spec=spec)
    return ab.growth_model(data, spec=spec)


def sample(compiled, tune: int) -> tuple[float, az.InferenceData]:
    start = time.perf_counter()
    idata = nutpie.sample(
        compiled, chains=4, cores=2, tune=tune, draws=1000, seed=1, progress_bar=False,
        save_warmup=True,
    )  # fmt: skip
    return time.perf_counter() - start, idata


def row_of(seconds: float, idata: az.InferenceData) -> dict:
    posterior = idata.posterior[population(idata)]
    stats = idata.sample_stats
    return {
        "sample_s": round(seconds, 2),
        "warmup_gradients": int(idata.warmup_sample_stats["n_steps"].sum()),
        "gradients": int(stats["n_steps"].sum()),
        "step_size": round(float(stats["step_size"].mean()), 3),
        "min_bulk_ess": round(float(az.ess(posterior, method="bulk").to_array().min())),
        "min_tail_ess": round(float(az.ess(posterior, method="tail").to_array().min())),
        "max_r_hat": round(float(az.rhat(posterior).to_array().max()), 4),
        "divergences": int(stats["diverging"].sum()),
    }


def compare(n_datasets: int, tune: int) -> list[dict]:
    planned = ab.growth_model(
        ab.Design.nissen_lie_2013().to_data(random_seed=1), spec=ab.ModelSpec.shipped(SPEC)
    )
    compiled, rows = {}, []
    for seed in range(100, 100 + n_datasets):
        data = ab.simulate(planned, ab.Truth.nissen_lie_2013(), random_seed=seed)
        fits = {}
        for scale in SCALE_NAMES:
            model = build(data, scale)
            if scale not in compiled:
                names = [n for n in reported(correlations=False) if n in model.named_vars]
                compiled[scale] = nutpie.compile_pymc_model(model, var_names=names)
            swapped = compiled[scale].with_data(**shared_values(model, compiled[scale].shared_data))
            seconds, fits[scale] = sample(swapped, tune)
            row = {"scale": scale, "dataset_seed": seed, "tune": tune}
            row |= row_of(seconds, fits[scale])
            row["max_mean_shift_sd"] = round(mean_shift(fits[scale], fits["log"]), 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def summarise(rows: list[dict]) -> None:
    for scale in SCALE_NAMES:
        mine = [r for r in rows if r["scale"] == scale]
        gradients = [r["warmup_gradients"] + r["gradients"] for r in mine]
        print(
            f"{scale}: sampling {np.median([r['sample_s'] for r in mine]):.2f} s, "
            f"{np.median(gradients):,.0f} gradients (medians); "
            f"min bulk ESS {min(r['min_bulk_ess'] for r in mine)} "
            f"(median {np.median([r['min_bulk_ess'] for r in mine]):.0f}), {quality(mine)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=6)
    parser.add_argument("--tune", type=int, default=1000)
    args = parser.parse_args()
    rows = compare(args.datasets, args.tune)
    summarise(rows)
    append_rows(RESULTS, rows)


if __name__ == "__main__":
    main()
