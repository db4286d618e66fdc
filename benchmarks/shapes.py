"""The model shapes of ModelSpec against the full model, at ``fit``'s defaults.

Run:   python benchmarks/shapes.py [--smoke] [--out DIR]

One dual-rater data set of the Nissen-Lie design (70 therapists, 227 patients) with a
time-varying covariate (``symptoms``, a patient's own level plus a session's departure from it),
simulated from ``Truth.nissen_lie_2013()`` and a within-patient effect of -0.1 per SD on both
raters' ratings (between-patient parts and the therapist covariates as in the truth). It is
fitted with the full model and with each shape: no therapist slopes, independent effects,
quadratic time, piecewise time (knot at session 12), and the time-varying covariate split into
its within and between parts. Each fit runs twice: the first compiles (or loads the compiled
model from the on-disk cache), the second is a refit of the compiled model. Per fit: wall time,
divergences, max R-hat and min bulk ESS over the vocabulary parameters, and the three lowest
ESS (``likelihoods.figures``). One JSON line per fit goes to ``benchmarks/results/shapes.jsonl``
with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import alliance_bayes as ab

sys.path.insert(0, str(Path(__file__).parent))
from likelihoods import COVARIATES, figures

SYMPTOMS = ab.CovariateDesign(names=["symptoms"], mean=[12.0], sd=[4.0])
SHAPES = {
    "full": {},
    "no_therapist_slopes": {"therapist_slopes": False},
    "independent": {"correlated": False},
    "quadratic": {"time_shape": "quadratic"},
    "piecewise": {"time_shape": "piecewise", "knot": 12.0},
    "session_covariate": {"session_covariates": ["symptoms"]},
}


def simulated(seed: int, n_therapists: int | None) -> ab.AllianceData:
    design = ab.Design.nissen_lie_2013()
    design.session_covariates = SYMPTOMS
    if n_therapists is not None:
        design.n_therapists, design.patients_per_therapist = n_therapists, 3
    truth = dict(ab.Truth.nissen_lie_2013().values)
    truth["session_coef"] = [[-0.1], [-0.1]]
    truth["patient_level_coef"] = [[0.1], [0.05]]
    truth["patient_growth_coef"] = [[0.0], [0.0]]
    planned = design.to_data(random_seed=seed)
    spec = ab.ModelSpec(session_covariates=["symptoms"], marginal=False)
    return ab.simulate(ab.growth_model(planned, spec=spec), truth, random_seed=seed + 1)


def run(shape: str, data: ab.AllianceData, draws: int, out: Path) -> None:
    options = {"session_covariates": [], **SHAPES[shape]}  # the covariate only where named
    spec = ab.ModelSpec(name=shape, therapist_covariates=COVARIATES, **options)
    model = ab.growth_model(data, spec=spec)
    for attempt in ("first", "refit"):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = ab.fit(model, draws=draws, progressbar=False, random_seed=1)
        row = {"shape": shape, "fit": attempt, "draws": draws}
        row |= figures(idata, time.perf_counter() - start)
        row |= {"load_average": round(os.getloadavg()[0], 2)}
        print(json.dumps(row), flush=True)
        with out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="8 therapists, 100 draws")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    n_therapists, draws = (8, 100) if args.smoke else (None, 1000)
    data = simulated(2022, n_therapists)
    for shape in args.shapes.split(","):
        run(shape, data, draws, args.out / "shapes.jsonl")


if __name__ == "__main__":
    main()
