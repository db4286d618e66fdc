"""Censored and Student-t dual-rater fits against the normal one, at ``fit``'s defaults.

Run:   python benchmarks/likelihoods.py [--smoke] [--out DIR]

Three dual-rater data sets of the Nissen-Lie design (70 therapists, 227 patients), simulated
from ``Truth.nissen_lie_2013()`` with the package's own simulator:

- ``ceiling``: the patient-rated level raised to 6.2 and the data censored at 7 (the simulator
  of the censored model), so that about a sixth of patient ratings sit at 7;
- ``outliers``: Student-t residuals with 4 degrees of freedom (outlying sessions);
- ``normal``: the truth as it is, normal residuals (the yardstick).

Each data set is fitted with its own likelihood and with the normal one, twice each: the first
fit of a structure in this process compiles (or loads the compiled model from the on-disk
cache), the second is a refit of the compiled model. Per fit: wall time, ``fit``'s timing,
divergences, max R-hat and min bulk ESS over the vocabulary parameters (and over the latent
slots too), and the time against the normal fit of the same data. One JSON line per fit goes to
``benchmarks/results/likelihoods.jsonl`` with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np

import alliance_bayes as ab
from alliance_bayes.diagnostics import convergence_report
from alliance_bayes.models.growth import bound_shares

COVARIATES = ["burdens", "satisfactions"]
DRAWN = ("therapist_effect", "patient_effect")  # drawn after sampling, not by the sampler


def simulated(kind: str, seed: int, n_therapists: int | None) -> ab.AllianceData:
    design = ab.Design.nissen_lie_2013()
    if n_therapists is not None:
        design.n_therapists, design.patients_per_therapist = n_therapists, 3
    truth = ab.Truth.nissen_lie_2013()
    likelihood = {"ceiling": "censored", "outliers": "student_t"}.get(kind, "normal")
    if kind == "ceiling":
        truth.values["level"] = {"patient": 6.2, "therapist": 5.0}
    if kind == "outliers":
        truth.values["nu"] = 4.0
    planned = design.to_data(random_seed=seed)
    simulator = ab.growth_model(planned, likelihood=likelihood, marginal=False)
    return ab.simulate(simulator, truth, random_seed=seed + 1)


def figures(idata, seconds: float) -> dict:
    vocabulary = convergence_report(idata, skip=[*DRAWN, "rating_latent"])
    everything = convergence_report(idata, skip=list(DRAWN))
    posterior = idata.posterior[[n for n in idata.posterior.data_vars if n not in DRAWN]]
    ess = az.ess(posterior, method="bulk")
    lowest = sorted(
        (float(value), f"{name}{list(index)}")
        for name, array in ess.data_vars.items()
        for index, value in np.ndenumerate(array.to_numpy())
    )[:3]
    return {
        "lowest_ess": [(name, round(value)) for value, name in lowest],
        "seconds": round(seconds, 2),
        "timing": json.loads(idata.attrs.get("timing", "{}")),
        "divergences": vocabulary["divergences"],
        "max_r_hat": round(vocabulary["max_r_hat"], 4),
        "min_ess_bulk": round(vocabulary["min_ess_bulk"]),
        "max_r_hat_with_latent": round(everything["max_r_hat"], 4),
        "min_ess_bulk_with_latent": round(everything["min_ess_bulk"]),
    }


def run(kind: str, likelihood: str, data: ab.AllianceData, draws: int, out: Path) -> list[dict]:
    model = ab.growth_model(data, therapist_covariates=COVARIATES, likelihood=likelihood)
    rows = []
    for attempt in ("first", "refit"):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = ab.fit(model, draws=draws, progressbar=False, random_seed=len(rows))
        row = {"data": kind, "likelihood": likelihood, "fit": attempt, "draws": draws}
        row |= figures(idata, time.perf_counter() - start)
        row |= {"load_average": round(os.getloadavg()[0], 2)}
        shares = bound_shares(data)
        row["share_at_top"] = {rater: round(high, 3) for rater, (_, high) in shares.items()}
        print(json.dumps(row), flush=True)
        with out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="8 therapists, 100 draws")
    parser.add_argument("--kinds", default="ceiling,outliers,normal")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "likelihoods.jsonl"
    n_therapists, draws = (8, 100) if args.smoke else (None, 1000)
    own = {"ceiling": "censored", "outliers": "student_t", "normal": "normal"}
    for kind in args.kinds.split(","):
        data = simulated(kind, 2013, n_therapists)
        for likelihood in dict.fromkeys([own[kind], "normal"]):
            run(kind, likelihood, data, draws, out)


if __name__ == "__main__":
    main()
