"""How many tuning steps the default (integrated) dual-rater model needs: `fit` at each setting on
the same simulated Nissen-Lie data sets, alternating, and optionally an SBC study at one setting.

Run: python benchmarks/tuning.py [--tunes 1000,400] [--datasets 8] [--sbc 0] [--sbc-tune 400]
                                  [--sbc-seed 3] [--explicit]

Per data set and setting: seconds of `fit`, min bulk and tail ESS over the population parameters,
max R-hat, divergences, and the largest difference of a posterior mean from the first setting's,
in that setting's posterior SDs. With ``--sbc N`` an SBC study of the shipped dual-rater spec
(N simulations, 2 chains x 500 draws after ``--sbc-tune`` steps) reports its flagged quantities,
the quantity with the smallest p and the failed simulations. Lines go to
benchmarks/results/tuning.jsonl. This is the evidence for `fit`'s default of 400 tuning steps
(nutpie's own) instead of PyMC's 1,000.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np
from competitors import cpu_name

import alliance_bayes as ab
from alliance_bayes.fit import compiled_model
from alliance_bayes.vocabulary import reported

RESULTS = Path(__file__).parent / "results" / "tuning.jsonl"
SPEC = "nissen_lie_2013_dual_rater"


def population(idata: az.InferenceData) -> list[str]:
    """The fixed effects, residual and random-effect SDs the posterior holds."""
    return [n for n in reported(correlations=False) if n in idata.posterior.data_vars]


def one_fit(model, tune: int) -> tuple[dict, az.InferenceData]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = ab.fit(model, tune=tune, random_seed=1, progressbar=False)
    seconds = time.perf_counter() - start
    posterior = idata.posterior[population(idata)]
    report = ab.diagnostics.stored_report(idata)
    row = {
        "tune": tune,
        "fit_s": round(seconds, 2),
        "min_bulk_ess": round(float(az.ess(posterior, method="bulk").to_array().min())),
        "min_tail_ess": round(float(az.ess(posterior, method="tail").to_array().min())),
        "max_r_hat": round(report["max_r_hat"], 4),
        "divergences": report["divergences"],
    }
    return row, idata


def mean_shift(idata: az.InferenceData, reference: az.InferenceData) -> float:
    """Largest |difference of posterior means| over the population parameters, in SDs."""
    names = population(idata)
    ours, theirs = idata.posterior[names], reference.posterior[names]
    shift = abs(ours.mean(("chain", "draw")) - theirs.mean(("chain", "draw")))
    return float((shift / ours.std(("chain", "draw"))).to_array().max())


def compare_fits(tunes: list[int], n_datasets: int, explicit: bool = False) -> list[dict]:
    spec = ab.ModelSpec.shipped(SPEC)
    spec.marginal = False if explicit else None  # None: the library's default (integrated)
    design = ab.Design.nissen_lie_2013()
    planned = ab.growth_model(design.to_data(random_seed=1), spec=spec)
    rows = []
    for seed in range(100, 100 + n_datasets):
        model = ab.growth_model(
            ab.simulate(planned, ab.Truth.nissen_lie_2013(), random_seed=seed), spec=spec
        )
        compiled_model(model)
        fits = {}
        for tune in tunes:
            row, fits[tune] = one_fit(model, tune)
            row |= {
                "explicit": explicit,
                "dataset_seed": seed,
                "max_mean_shift_sd": mean_shift(fits[tune], fits[tunes[0]]),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def sbc(n_sims: int, tune: int, seed: int = 3) -> dict:
    store = Path(tempfile.mkdtemp(prefix="tuning_sbc_"))
    start = time.perf_counter()
    result = ab.checks.run_sbc(
        ab.ModelSpec.shipped(SPEC),
        n_sims=n_sims,
        store=store,
        workers=os.cpu_count(),
        random_seed=seed,
        progress=False,
        draws=500,
        tune=tune,
        chains=2,
    )
    table = result.test()
    jobs = result.frame.drop_duplicates("job")
    shutil.rmtree(store)
    worst = table.loc[table["p_adjusted"].idxmin()]
    failed = jobs[jobs["status"] != "ok"]
    return {
        "sbc_tune": tune,
        "n_sims": n_sims,
        "study_seed": seed,
        "seconds": round(time.perf_counter() - start, 1),
        "failed": len(failed),
        "failures": sorted(set(failed["reason"].astype(str))),
        "flagged": table.loc[table["flagged"], "quantity"].tolist(),
        "min_p_adjusted": round(float(worst["p_adjusted"]), 4),
        "min_p_quantity": str(worst["quantity"]),
        "n_quantities": int(table.attrs["n_quantities"]),
    }


def quality(rows: list[dict]) -> str:
    """The worst tail ESS, R-hat, divergences and mean shift over the rows of one setting."""
    return (
        f"min tail ESS {min(r['min_tail_ess'] for r in rows)}, "
        f"max R-hat {max(r['max_r_hat'] for r in rows)}, "
        f"divergences {sum(r['divergences'] for r in rows)}, "
        f"max mean shift {max(r['max_mean_shift_sd'] for r in rows):.3f} SD"
    )


def append_rows(path: Path, rows: list[dict]) -> None:
    context = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": cpu_name()}
    with path.open("a") as out:
        for row in rows:
            out.write(json.dumps(row | context) + "\n")


def summarise(rows: list[dict], tunes: list[int]) -> None:
    for tune in tunes:
        mine = [r for r in rows if r["tune"] == tune]
        print(
            f"tune {tune}: fit {np.median([r['fit_s'] for r in mine]):.2f} s (median), "
            f"min bulk ESS {min(r['min_bulk_ess'] for r in mine)}, {quality(mine)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tunes", default="1000,400")
    parser.add_argument("--datasets", type=int, default=8)
    parser.add_argument("--sbc", type=int, default=0, metavar="N_SIMS")
    parser.add_argument("--sbc-tune", type=int, default=400)
    parser.add_argument("--sbc-seed", type=int, default=3)
    parser.add_argument(
        "--explicit", action="store_true", help="sample the random effects (default: integrated)"
    )
    args = parser.parse_args()
    tunes = [int(t) for t in args.tunes.split(",")]
    rows = compare_fits(tunes, args.datasets, args.explicit) if args.datasets else []
    if rows:
        summarise(rows, tunes)
    if args.sbc:
        rows.append(sbc(args.sbc, args.sbc_tune, args.sbc_seed))
        print(json.dumps(rows[-1]), flush=True)
    append_rows(RESULTS, rows)


if __name__ == "__main__":
    main()
