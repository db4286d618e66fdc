"""Small data sets and helpers shared by the tests.

The long frame has 3 therapists with 2 patients each, rated by patient and therapist at sessions
3 and 12 (24 rows). Its row index is deliberately not 0..n-1 so that tests can tell row ids from
positions.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alliance_bayes import AllianceData

THERAPISTS = ("T1", "T2", "T3")
PATIENTS = {"T1": ("P1", "P2"), "T2": ("P3", "P4"), "T3": ("P5", "P6")}
SESSIONS = (3, 12)
RATERS = ("patient", "therapist")
BURDENS = {"T1": 1.5, "T2": 2.5, "T3": 4.0}
ROW_OFFSET = 100

COLUMNS = {
    "therapist": "therapist",
    "patient": "patient",
    "score": "wai",
    "time": "session",
    "rater": "rater",
}


def make_long_frame(*, with_rater: bool = True) -> pd.DataFrame:
    """A small valid long frame: scores on a 1-7 scale, ``burdens`` constant per therapist."""
    raters = RATERS if with_rater else (None,)
    rows = []
    for t in THERAPISTS:
        for p, s, r in itertools.product(PATIENTS[t], SESSIONS, raters):
            row = {"therapist": t, "patient": p, "session": s, "burdens": BURDENS[t]}
            if r is not None:
                row["rater"] = r
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame["wai"] = np.round(np.linspace(3.0, 6.5, len(frame)), 3)
    frame.index = pd.RangeIndex(ROW_OFFSET, ROW_OFFSET + len(frame))
    return frame


def make_therapist_frame(**columns: Any) -> pd.DataFrame:
    """One row per therapist; defaults are two questionnaire scores, overridable by keyword."""
    values = {
        "therapist": list(THERAPISTS),
        "satisfactions": [3.0, 4.5, 5.0],
        "mindfulness": [2.0, 2.5, 3.5],
    } | columns
    return pd.DataFrame(values)


def build(frame: pd.DataFrame, **options: Any) -> AllianceData:
    """``AllianceData.from_frame`` with the column names of :func:`make_long_frame`."""
    columns = dict(COLUMNS)
    if "rater" not in frame.columns and "rater" not in options:
        columns.pop("rater")
    return AllianceData.from_frame(frame, **(columns | options))


@pytest.fixture
def long_frame() -> pd.DataFrame:
    return make_long_frame()


@pytest.fixture
def therapist_frame() -> pd.DataFrame:
    return make_therapist_frame()


# ---------------------------------------------------------------------------- fitted models
# Compile once, refit many times: these session fixtures share one compiled tiny model.
TINY_TRUTH = {
    "level": {"patient": 5.0, "therapist": 4.7},
    "growth": {"patient": 0.3, "therapist": 0.1},
    "level_coef": {"patient": {"burdens": 0.2}, "therapist": {"burdens": 0.0}},
    "growth_coef": {"patient": {"burdens": -0.15}, "therapist": {"burdens": 0.1}},
    "sigma": 0.3,
    "therapist_sd": {
        "patient:level": 0.2,
        "patient:growth": 0.05,
        "therapist:level": 0.2,
        "therapist:growth": 0.05,
    },
    "patient_sd": {
        "patient:level": 0.4,
        "patient:growth": 0.1,
        "therapist:level": 0.4,
        "therapist:growth": 0.1,
    },
    "therapist_corr": {},
    "patient_corr": {"patient:level ~ therapist:level": 0.3},
}
FIT_SETTINGS = {"draws": 300, "tune": 400, "chains": 2, "progressbar": False}


def tiny_design():
    from alliance_bayes import CovariateDesign, Design

    return Design(
        name="tiny",
        n_therapists=12,
        patients_per_therapist=4,
        sessions=[1.0, 2.0, 4.0, 8.0],
        raters=["patient", "therapist"],
        therapist_covariates=CovariateDesign(names=["burdens"]),
        scale=[1.0, 7.0],
    )


@pytest.fixture(scope="session")
def tiny_planned():
    from alliance_bayes import growth_model

    return growth_model(tiny_design().to_data(random_seed=1))


@pytest.fixture(scope="session")
def tiny_datasets(tiny_planned):
    from alliance_bayes import simulate

    return [simulate(tiny_planned, TINY_TRUTH, random_seed=seed) for seed in (101, 102)]


@pytest.fixture(scope="session")
def tiny_fit(tiny_datasets):
    import warnings

    from alliance_bayes import fit, growth_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(growth_model(tiny_datasets[0]), random_seed=7, **FIT_SETTINGS)
