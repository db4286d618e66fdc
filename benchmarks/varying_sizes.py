"""SBC seconds per simulation for a design whose numbers of patients vary per simulation.

Run: python benchmarks/varying_sizes.py [--n 12] [--therapists 20] [--label after]

Each simulation of a design with ``patients_per_therapist={"dist": "poisson", ...}`` has its own
number of patients. The default model (effects integrated out) has no parameter per patient, so
one compiled model should serve every simulation. Until 198fcb7 its cache key held the number
of therapists and patients, and most simulations compiled anew (the issue measured 14 of 24).
This runs an SBC study in this process (``workers=1``), so that ``compile_counts`` sees every
compile, and appends a line to benchmarks/results/varying_sizes.jsonl. The disk cache is
switched off, so a compile is a compile (as on a fresh machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from competitors import cpu_name

import alliance_bayes as ab
from alliance_bayes.checks import run_sbc

RESULTS = Path(__file__).parent / "results" / "varying_sizes.jsonl"
SETTINGS = {"draws": 300, "tune": 300, "chains": 2}
VARYING = {"dist": "poisson", "mean": 3.0, "min": 1, "max": 6}


def design(n_therapists: int) -> ab.Design:
    return ab.Design(
        name="varying",
        n_therapists=n_therapists,
        patients_per_therapist=VARYING,
        sessions=[1.0, 3.0, 6.0, 12.0],
        raters=["patient", "therapist"],
        therapist_covariates=ab.CovariateDesign(names=["burdens", "satisfactions"]),
        scale=[1.0, 7.0],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--therapists", type=int, default=20)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    os.environ["ALLIANCE_BAYES_CACHE"] = "0"
    spec = ab.ModelSpec.shipped("nissen_lie_2013_dual_rater")
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        result = run_sbc(
            spec,
            design(args.therapists),
            args.n,
            store=Path(folder) / "study",
            workers=1,
            random_seed=3,
            progress=False,
            **SETTINGS,
        )
        total = time.perf_counter() - start
    jobs = result.frame.drop_duplicates("job")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    line = {
        "label": args.label,
        "commit": commit,
        "cpu": cpu_name(),
        "design": f"{args.therapists} therapists, patients per therapist {VARYING}",
        "settings": SETTINGS,
        "n_sims": args.n,
        "compiles": ab.compile_counts()["compile"],
        "total_s": round(total, 1),
        "per_sim_s": round(total / args.n, 2),
        "median_job_s": round(float(jobs["seconds"].median()), 2),
        "max_job_s": round(float(jobs["seconds"].max()), 2),
        "failed": int((jobs["status"] != "ok").sum()),
    }
    print(json.dumps(line))
    with RESULTS.open("a") as out:
        out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
