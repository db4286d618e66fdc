"""Hostile and ambiguous inputs to ``AllianceData.from_frame`` (issue 18, sections 2 and 3).

Run: python benchmarks/probes/data_probes.py
Prints one line per probe: what ``from_frame`` did (refused with which error, or accepted, with
the warnings it gave and what it made of the input). Run it on two commits to compare them.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from alliance_bayes import AllianceData

COLUMNS = {"therapist": "t", "patient": "p", "score": "y", "time": "s", "rater": "r"}


def frame(raters=("patient", "therapist"), sessions=(3, 12)) -> pd.DataFrame:
    rows = [
        {"t": f"T{i // 2 + 1}", "p": f"P{i + 1}", "s": s, "r": r}
        for i, s, r in itertools.product(range(6), sessions, raters)
    ]
    out = pd.DataFrame(rows)
    out["y"] = np.round(np.linspace(3.0, 6.5, len(out)), 3)
    out["cov"] = out["t"].map({"T1": 1.5, "T2": 2.5, "T3": 4.0})
    return out


def run(f: pd.DataFrame, **options) -> AllianceData:
    return AllianceData.from_frame(f, **(COLUMNS | options))


def replace(f: pd.DataFrame, column: str, rows, value) -> pd.DataFrame:
    f = f.copy()
    f[column] = f[column].astype(object)
    for row in np.atleast_1d(rows):
        f.at[row, column] = value
    return f


def probes() -> dict[str, Callable[[], AllianceData]]:
    f = frame()
    questionnaires = pd.DataFrame({"t": ["T1", "T2", "T3", "T9"], "q": [1.0, 2.0, 4.0, 3.0]})
    int_ids = f.assign(t=f["t"].str[1:].astype(int))
    str_questionnaires = pd.DataFrame({"t": ["1", "2", "3"], "q": [1.0, 2.0, 4.0]})
    sevens = f.assign(t=f["t"].astype(object))
    sevens.loc[sevens["t"] == "T1", "t"] = 7
    sevens.loc[sevens["t"] == "T2", "t"] = "7"
    one_rater = frame(raters=("patient",))
    two_columns = pd.concat([f, f[["y"]]], axis=1)
    return {
        "score inf": lambda: run(replace(f, "y", [0], np.inf)),
        "score -inf": lambda: run(replace(f, "y", [0], -np.inf)),
        "score 'inf' (text)": lambda: run(replace(f, "y", [0], "inf")),
        "rater 'Patient' beside 'patient'": lambda: run(replace(one_rater, "r", [0, 1], "Patient")),
        "rater 'patient ' beside 'patient'": lambda: run(
            replace(one_rater, "r", [0, 1], "patient ")
        ),
        "therapist 'T1 ' beside 'T1'": lambda: run(replace(f, "t", [0, 1, 2, 3], "T1 ")),
        "patient 'P1 ' beside 'P1'": lambda: run(replace(f, "p", [0, 1], "P1 ")),
        "therapist 7 and '7'": lambda: run(sevens),
        "int ids, str ids in therapist frame": lambda: run(
            int_ids, therapists=str_questionnaires, therapist_covariates=["q"]
        ),
        "sessions '3' and '3.0' (text)": lambda: run(
            replace(replace(f, "s", [0], "3"), "s", [2], "3.0").assign(
                p=lambda g: g["p"].where(g.index != 2, "P1"),
                r=lambda g: g["r"].where(g.index != 2, "patient"),
            )
        ),
        "datetime sessions": lambda: run(
            f.assign(s=pd.Timestamp("2024-01-01") + pd.to_timedelta(f["s"], unit="D"))
        ),
        "timedelta sessions": lambda: run(f.assign(s=pd.to_timedelta(f["s"], unit="D"))),
        "time_scale=0 (linear)": lambda: run(f, time_coding="linear", time_scale=0),
        "time_scale=-1 (linear)": lambda: run(f, time_coding="linear", time_scale=-1),
        "constant outcome, no scale": lambda: run(f.assign(y=5.0)),
        "score 1e308, no scale": lambda: run(replace(f, "y", [0], 1e308)),
        "covariate holding inf": lambda: run(
            f.assign(cov=f["cov"].where(f["t"] != "T1", np.inf)), therapist_covariates=["cov"]
        ),
        "rater 1 and '1'": lambda: run(
            f.assign(r=f["r"].map({"patient": 1, "therapist": "1"}).astype(object))
        ),
        "two columns named 'y'": lambda: run(two_columns),
        "duplicated index labels + bad score": lambda: run(
            replace(f, "y", [0, 5], "high").set_axis([0] * len(f))
        ),
        "therapist frame row with no patients": lambda: run(
            f, therapists=questionnaires, therapist_covariates=["q"]
        ),
        "rater with no observed rating": lambda: run(f.assign(y=f["y"].where(f["r"] == "patient"))),
        "a single session": lambda: run(frame(sessions=(3,))),
        "a single therapist": lambda: run(f.assign(t="T1")),
        "raters client/clinician, no roles": lambda: run(
            f.assign(r=f["r"].map({"patient": "client", "therapist": "clinician"}))
        ),
        "raters client/clinician, roles given": lambda: run(
            f.assign(r=f["r"].map({"patient": "client", "therapist": "clinician"})),
            rater_roles={"client": "patient", "clinician": "therapist"},
        ),
        "rater 'Patient'/'patient', normalise_ids": lambda: run(
            replace(one_rater, "r", [0, 1], "Patient"), normalise_ids=True
        ),
    }


def outcome(make: Callable[[], AllianceData]) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            data = make()
        except Exception as error:  # a probe reports every failure, whatever its type
            return f"{type(error).__name__}: {str(error)[:160]}"
    told = [str(w.message)[:90] for w in caught]
    kept = (
        f"accepted: {data.n_therapists} therapists {list(data.therapist_labels)[:4]}, "
        f"{data.n_patients} patients, raters {list(data.rater_labels)}, "
        f"{int(data.observed.sum())}/{data.n_obs} observed"
    )
    roles = getattr(data, "rater_roles", None)
    if roles:
        kept += f", roles {dict(roles)}"
    return kept + (f"; warned: {' | '.join(told)}" if told else "")


def main() -> None:
    for name, make in probes().items():
        print(f"{name:45s} {outcome(make)}")


if __name__ == "__main__":
    main()
