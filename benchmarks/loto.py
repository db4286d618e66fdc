"""Leave-one-therapist-out of the shipped Nissen-Lie dual-rater fit, and prediction speed.

Run: python benchmarks/loto.py [--workers 2] [--draws 500] [--tune 400] [--chains 2]
Fits the dual-rater model (models/nissen_lie_2013_dual_rater.toml) to the shipped data set
``nissen_lie_2013`` (4 chains x 1000 draws, fit's default tuning), then measures (issue 21):

1. exact leave-one-therapist-out, ``ab.kfold(fit, "therapist")``: 70 refits on ``--workers``
   local processes (each refit ``--chains`` chains on one core), wall clock (target < 5 min);
2. integrated PSIS-LOO by therapist, ``ab.loo(fit, by="therapist")``: the share of therapists
   with Pareto k <= 0.7 (target >= 90 %), against the conditional group sums of earlier
   versions (``integrated=False``), and its elpd against the exact one (difference in SEs);
3. ``ab.predict`` of 10,000 new rows (new therapists and patients) from the 4 x 1000-draw fit,
   expected alliance and new ratings (target < 5 s).

Writes benchmarks/results/loto.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from competitors import cpu_name

import alliance_bayes as ab
from alliance_bayes.checks import FitSettings

HERE = Path(__file__).parent


def new_rows(n: int, fit_data) -> pd.DataFrame:
    """``n`` rows of new therapists (5 patients each), both raters at the design's sessions."""
    sessions = sorted(set(fit_data.session.tolist()))[:4]
    raters = list(fit_data.rater_labels)
    per_patient = len(sessions) * len(raters)
    n_patients = int(np.ceil(n / per_patient))
    burdens = np.random.default_rng(1).normal(2.5, 0.8, size=n_patients // 5 + 1)
    rows = [
        {
            "therapist": f"new_t{p // 5}",
            "patient": f"new_p{p}",
            "session": s,
            "rater": r,
            **{name: float(burdens[p // 5]) for name in fit_data.therapist_covariates.names},
        }
        for p in range(n_patients)
        for s in sessions
        for r in raters
    ]
    frame = pd.DataFrame(rows[:n])
    columns = dict(fit_data.columns)
    return frame.rename(columns={k: columns.get(k, k) for k in ("therapist", "patient", "rater")})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500, help="per chain, of every refit")
    parser.add_argument("--tune", type=int, default=400)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "loto.json")
    args = parser.parse_args()

    data = ab.datasets.load("nissen_lie_2013")
    spec = ab.ModelSpec.from_toml(HERE.parent / "models" / "nissen_lie_2013_dual_rater.toml")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = ab.fit(ab.build_model(data, spec), draws=1000, chains=4, random_seed=2013,
                       progressbar=False)  # fmt: skip
    fit_s = time.perf_counter() - start
    results: dict = {
        "data": f"nissen_lie_2013: {data.n_therapists} therapists, {data.n_patients} patients, "
        f"{int(data.observed.sum())} ratings",
        "fit": "4 chains x 1000 draws (default tuning)",
        "fit_s": round(fit_s, 1),
    }

    # 2. PSIS-LOO by therapist: integrated and, for contrast, conditional group sums
    for integrated in (True, False):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            psis = ab.loo(idata, by="therapist", integrated=integrated)
        k = psis.pareto_k.values
        results["loo_integrated" if integrated else "loo_conditional"] = {
            "seconds": round(time.perf_counter() - start, 2),
            "elpd": round(float(psis["elpd_loo"]), 2),
            "se": round(float(psis["se"]), 2),
            "share_k_le_0.7": round(float(np.mean(k <= 0.7)), 3),
            "median_k": round(float(np.median(k)), 3),
            "max_k": round(float(k.max()), 3),
        }
        if integrated:
            integrated_result = psis

    # 1. exact leave-one-therapist-out
    settings = FitSettings(draws=args.draws, tune=args.tune, chains=args.chains, cores=1)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exact = ab.kfold(idata, "therapist", settings=settings, executor=args.workers,
                             store=folder, random_seed=1)  # fmt: skip
        kfold_s = time.perf_counter() - start
        records = [json.loads(p.read_text()) for p in Path(folder, "records").glob("*.json")]
    diff = integrated_result.loo_i.values - exact.loo_i.values
    results["kfold"] = {
        "refits": int(exact["n_folds"]),
        "settings": settings.identity() | {"workers": args.workers},
        "seconds": round(kfold_s, 1),
        "seconds_per_refit_in_worker": round(float(np.median([r["seconds"] for r in records])), 2),
        "elpd": round(float(exact["elpd_loo"]), 2),
        "se": round(float(exact["se"]), 2),
        "p_kfold": round(float(exact["p_loo"]), 2),
        "share_draw_k_le_0.7": round(float(np.mean(exact.pareto_k.values <= 0.7)), 3),
        "divergent_refits": int(sum(bool(r["diagnostics"].get("divergences")) for r in records)),
        "integrated_minus_exact": round(float(diff.sum()), 2),
        "se_of_difference": round(float(np.sqrt(len(diff) * np.var(diff))), 2),
        "max_abs_difference_per_therapist": round(float(np.abs(diff).max()), 3),
    }

    # 3. predictions of 10,000 new rows
    frame = new_rows(10_000, data)
    timings = {}
    for kind in ("mean", "rating"):
        start = time.perf_counter()
        pred = ab.predict(idata, frame, kind=kind, groups="new", random_seed=1)
        timings[kind] = round(time.perf_counter() - start, 2)
    results["predict_10000_new_rows"] = {"draws": int(pred.sizes["chain"] * pred.sizes["draw"])}
    results["predict_10000_new_rows"] |= {f"{kind}_s": s for kind, s in timings.items()}

    results["machine"] = cpu_name()
    results["versions"] = {p: version(p) for p in ("alliance_bayes", "pymc", "nutpie", "arviz")}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
