"""Speed of the Nissen-Lie dual-rater model: compile s, sample s, min bulk ESS, ESS/s, divergences.

Run: python benchmarks/fit_speed.py [--centered] [--low-rank] [--explicit] [--draws 1000]
                                    [--tune N] [--chains 4] [--[no-]log-likelihood]
Fits the model on one simulated data set (compile + sample), then refits it on a second one
(data swapped into the compiled model), and prints one line per fit plus the min bulk ESS per
parameter group. Results are appended to benchmarks/results/fit_speed.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import arviz as az
from competitors import cpu_name

import alliance_bayes as ab
from alliance_bayes.fit import compiled_model, default_tune

GROUPS = [
    "level",
    "growth",
    "level_coef",
    "growth_coef",
    "sigma",
    "therapist_sd",
    "patient_sd",
    "therapist_corr",
    "patient_corr",
]


def one_fit(model, args, seed):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = ab.fit(
            model,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            random_seed=seed,
            progressbar=False,
            log_likelihood=args.log_likelihood,
            low_rank=args.low_rank,
        )
    seconds = time.perf_counter() - start
    ess = az.ess(idata.posterior[GROUPS], method="bulk")
    by_group = {g: float(ess[g].min()) for g in GROUPS}
    by_group = {g: v for g, v in by_group.items() if v == v}  # drop NaN (corr diagonal)
    report = ab.diagnostics.stored_report(idata)
    return seconds, by_group, report | {"log_likelihood": "log_likelihood" in idata.groups()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=None, help="default: fit's own")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--centered", action="store_true")
    parser.add_argument("--low-rank", action="store_true")
    parser.add_argument(
        "--explicit", action="store_true", help="sample the random effects (default: integrated)"
    )
    parser.add_argument(
        "--log-likelihood",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add the pointwise log-likelihood (default: fit's own, which adds it at this size)",
    )
    args = parser.parse_args()

    spec = ab.ModelSpec.from_toml(
        Path(__file__).parents[1] / "models" / "nissen_lie_2013_dual_rater.toml"
    )
    spec.centered = args.centered
    spec.marginal = False if args.explicit else None  # None: the library's default
    design = ab.Design.nissen_lie_2013()
    planned = ab.growth_model(design.to_data(random_seed=1), spec=spec)
    datasets = [ab.simulate(planned, ab.Truth.nissen_lie_2013(), random_seed=s) for s in (11, 12)]

    rows = []
    for label, data in zip(("first fit", "refit"), datasets, strict=True):
        model = ab.growth_model(data, spec=spec)
        start = time.perf_counter()
        compiled_model(model)  # compiles on the first fit, swaps data on the refit
        compile_s = time.perf_counter() - start
        sample_s, ess, report = one_fit(model, args, seed=1)
        min_ess = min(ess.values())
        row = {
            "fit": label,
            "compile_s": round(compile_s, 1),
            "sample_s": round(sample_s, 1),
            "min_bulk_ess": round(min_ess),
            "ess_per_s": round(min_ess / sample_s, 2),
            "ess_per_s_with_compile": round(min_ess / (sample_s + compile_s), 2),
            "divergences": report["divergences"],
            "max_r_hat": round(report["max_r_hat"], 3),
            "min_bulk_ess_by_group": {g: round(v) for g, v in ess.items()},
            "centered": args.centered,
            "low_rank": args.low_rank,
            "marginal": ab.models.is_marginal(model),
            "log_likelihood": report["log_likelihood"],
            "chains": args.chains,
            "draws": args.draws,
            "tune": default_tune(model) if args.tune is None else args.tune,
            "sd_scale": model.rvs_to_transforms[model["therapist_sd"]].name,
            "machine": cpu_name(),
            "counts": ab.compile_counts(),
        }
        rows.append(row)
        print(json.dumps(row))
    out = Path(__file__).parent / "results" / "fit_speed.jsonl"
    with out.open("a") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
