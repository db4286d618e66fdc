"""Integrated-out against sampled random effects: compile s, fit s, min bulk ESS, ESS/s.

Run: python benchmarks/marginal_speed.py [--spec nissen_lie_2013_patient]
Simulates one Nissen-Lie-like data set (Truth.nissen_lie_2013), fits it with marginal=True and
marginal=False (4 chains x 1000 draws after 1000 tuning steps), and appends one JSON line per
fit to benchmarks/results/marginal_vs_conditional.jsonl. ``fit_s`` includes the pointwise
log-likelihood and, for the marginal fit, the conditional draws of the random effects.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np

import alliance_bayes as ab
from alliance_bayes.fit import compiled_model

GROUPS = [
    "level",
    "growth",
    "growth_coef",
    "level_coef",
    "sigma",
    "therapist_sd",
    "patient_sd",
    "therapist_corr",
    "patient_corr",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default="nissen_lie_2013_patient")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    spec = ab.ModelSpec.shipped(args.spec)
    planned = ab.growth_model(spec.design.to_data(random_seed=1), spec=spec)
    data = ab.simulate(planned, ab.Truth.nissen_lie_2013(), random_seed=11)
    out = Path(__file__).parent / "results" / "marginal_vs_conditional.jsonl"
    for marginal in (True, False):
        spec.marginal = marginal
        model = ab.growth_model(data, spec=spec)
        start = time.perf_counter()
        compiled_model(model)
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        idata = ab.fit(model, progressbar=False, random_seed=1)
        fit_s = time.perf_counter() - start
        report = ab.diagnostics.stored_report(idata)
        ess = az.ess(idata.posterior[GROUPS])
        by_group = {k: round(float(np.nanmin(ess[k].values))) for k in GROUPS}
        effects = idata.posterior["patient_effect"].mean(("chain", "draw")).values
        row = {
            "spec": args.spec,
            "marginal": marginal,
            "compile_s": round(compile_s, 1),
            "fit_s": round(fit_s, 1),
            "divergences": report["divergences"],
            "max_r_hat": round(report["max_r_hat"], 3),
            "min_ess": min(by_group.values()),
            "ess_per_s": round(min(by_group.values()) / fit_s, 1),
            "by_group": by_group,
            "corr_true_patient_level_effects": round(
                float(np.corrcoef(effects[:, 0], data.truth["patient_effect"][:, 0])[0, 1]), 3
            ),
        }
        print(json.dumps(row), flush=True)
        with out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
