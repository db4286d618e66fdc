"""SBC of the censored and Student-t dual-rater models (effects integrated out through latent
values), and the planted bug SBC must catch: a censoring bound one scale point off.

Run:   python benchmarks/sbc_likelihoods.py [--sims 100] [--which censored,student_t,planted]

A small dual-rater design (12 therapists, 3 patients each, sessions 1, 2, 4, 8, scale 1-7) with
a prior on the level that puts a fair share of the ratings at the top of the scale (as in
tests/checks/test_sbc_likelihoods.py, which runs a tinier design with 30 simulations). Each
study's test table (Bonferroni over its quantities, family-wise false-alarm rate 1 %) goes to
``benchmarks/results/sbc_likelihoods.jsonl`` with the time it took.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import alliance_bayes as ab
from alliance_bayes.checks.sbc import run_sbc
from alliance_bayes.fit import clear_compile_cache
from alliance_bayes.models import _latent

SETTINGS = {"draws": 500, "tune": 400, "chains": 2, "progress": False}


def design() -> ab.Design:
    return ab.Design(
        n_therapists=12,
        patients_per_therapist=3,
        sessions=[1.0, 2.0, 4.0, 8.0],
        raters=["patient", "therapist"],
        scale=[1.0, 7.0],
    )


def spec(likelihood: str) -> ab.ModelSpec:
    model = ab.ModelSpec(name=f"small_{likelihood}", likelihood=likelihood)
    model.priors = {"level": {"dist": "Normal", "mu": 6.3, "sigma": 0.4}}
    return model


def planted_bound() -> None:
    """Censor a rating at 7 as 'at or beyond 6' (and at 1 as 'at or below 2')."""
    real = _latent.censored_value
    _latent.censored_value = lambda bound, side, sd, u: real(bound, side, sd, u) - side
    os.environ["ALLIANCE_BAYES_CACHE"] = "0"
    clear_compile_cache()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--which", default="censored,student_t,planted")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    for which in args.which.split(","):
        if which == "planted":
            planted_bound()
        likelihood = "censored" if which == "planted" else which
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as store:
            result = run_sbc(
                spec(likelihood),
                design(),
                args.sims,
                store=store,
                workers=1 if which == "planted" else args.workers,  # the plant is in-process
                random_seed=2024,
                **SETTINGS,
            )
            table = result.test()
        row = {
            "study": which,
            "sims": args.sims,
            "seconds": round(time.perf_counter() - start, 1),
            "flagged": table.query("flagged")["quantity"].tolist(),
            "min_p_adjusted": float(table["p_adjusted"].min()) if "p_adjusted" in table else None,
            "quantities": len(table),
            # simulations ranked (a fit with divergences is left out of the ranks)
            "ranked": int(result.frame.query("status == 'ok'")["job"].nunique()),
            "load_average": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(row), flush=True)
        with (args.out / "sbc_likelihoods.jsonl").open("a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
