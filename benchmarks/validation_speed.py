"""Seconds that ``AllianceData.from_frame`` takes to validate and code a large long-format frame.

Run: python benchmarks/validation_speed.py [--rows 1000000] [--repeats 3] [--seed 1]
The frame has two raters, string ids (``T0001``, ``P000001``; pandas' default string dtype, as
``read_csv`` gives them), 10 % missing scores and one
therapist covariate in the long frame: 2,500 therapists with 10 patients each, rated by both
raters at ``rows / 50,000`` sessions each. The best of ``--repeats`` runs is reported (the others
measure the machine's other load), and one JSON line is appended to
benchmarks/results/validation_speed.jsonl with the seconds, the row count, the git commit and the
CPU name.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from competitors import cpu_name

from alliance_bayes import AllianceData

N_THERAPISTS = 2_500
PATIENTS_PER_THERAPIST = 10
RATERS = ("patient", "therapist")


def make_frame(n_rows: int, seed: int) -> pd.DataFrame:
    """A valid long frame of ``n_rows`` rows (rounded to whole patients and sessions)."""
    rng = np.random.default_rng(seed)
    n_patients = N_THERAPISTS * PATIENTS_PER_THERAPIST
    n_sessions = max(1, round(n_rows / (n_patients * len(RATERS))))
    patient = np.repeat(np.arange(n_patients), n_sessions * len(RATERS))
    therapist = patient // PATIENTS_PER_THERAPIST
    session = np.tile(np.repeat(np.arange(1, n_sessions + 1), len(RATERS)), n_patients)
    rater = np.tile(np.arange(len(RATERS)), n_patients * n_sessions)
    score = np.round(rng.uniform(1, 7, size=patient.size), 2)
    score[rng.uniform(size=patient.size) < 0.1] = np.nan
    burdens = np.round(rng.normal(3, 1, size=N_THERAPISTS), 2)
    return pd.DataFrame(
        {
            "therapist": np.char.add("T", np.char.zfill(therapist.astype(str), 4)),
            "patient": np.char.add("P", np.char.zfill(patient.astype(str), 6)),
            "session": session,
            "rater": np.asarray(RATERS)[rater],
            "wai": score,
            "burdens": burdens[therapist],
        }
    )  # text columns get pandas' default string dtype, as from read_csv


def time_once(frame: pd.DataFrame) -> float:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        AllianceData.from_frame(
            frame,
            therapist="therapist",
            patient="patient",
            score="wai",
            time="session",
            rater="rater",
            therapist_covariates=["burdens"],
            scale=(1, 7),
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    frame = make_frame(args.rows, args.seed)
    seconds = [time_once(frame) for _ in range(args.repeats)]
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent,
    ).stdout.strip()
    row = {
        "benchmark": "from_frame",
        "rows": len(frame),
        "seconds_best": round(min(seconds), 3),
        "seconds_all": [round(s, 3) for s in seconds],
        "commit": commit,
        "machine": cpu_name(),
    }
    print(json.dumps(row))
    with (Path(__file__).parent / "results" / "validation_speed.jsonl").open("a") as handle:
        handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
