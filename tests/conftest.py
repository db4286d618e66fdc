"""Small data sets and helpers shared by the tests.

The long frame has 3 therapists with 2 patients each, rated by patient and therapist at sessions
3 and 12 (24 rows). Its row index is deliberately not 0..n-1 so that tests can tell row ids from
positions.
"""

from __future__ import annotations

import itertools
import json
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


# ---------------------------------------------------------------------------- predictive checks
# Ceiling data: simulated from the tiny design with a censored likelihood and high levels, so that
# about a fifth of the ratings sit at 7. The normal refit reuses the tiny compiled model; the
# censored likelihood is the one extra model structure these tests compile.
CEILING_TRUTH = TINY_TRUTH | {"level": {"patient": 6.3, "therapist": 6.3}}
# Weakly identified patients (sigma large, patient SDs small): every patient's ratings move the
# posterior little, so leave-one-patient-out PSIS is reliable and can be checked by exact refits.
WEAK_TRUTH = TINY_TRUTH | {
    "sigma": 0.8,
    "patient_sd": {k: 0.1 if k.endswith("level") else 0.03 for k in TINY_TRUTH["patient_sd"]},
    "therapist_sd": {k: 0.1 if k.endswith("level") else 0.03 for k in TINY_TRUTH["therapist_sd"]},
}


@pytest.fixture(scope="session")
def ceiling_data():
    from alliance_bayes import growth_model, simulate

    censored = growth_model(tiny_design().to_data(random_seed=1), likelihood="censored")
    return simulate(censored, CEILING_TRUTH, random_seed=104)


@pytest.fixture(scope="session")
def ceiling_fits(ceiling_data):
    """``{"normal": fit, "censored": fit}`` of the ceiling data."""
    import warnings

    from alliance_bayes import fit, growth_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            kind: fit(growth_model(ceiling_data, likelihood=kind), random_seed=7, **FIT_SETTINGS)
            for kind in ("normal", "censored")
        }


def fake_fit(model, draws: int = 40, seed: int = 0):
    """A fit-shaped InferenceData without sampling: two chains of prior draws as the posterior.

    It has what ``fit`` returns (posterior in the vocabulary, observed_data, constant_data,
    log_likelihood, attrs), so predictive checks, figures and LOO can be tested in seconds.
    """
    import arviz as az
    import xarray as xr

    from alliance_bayes import prior_predictive
    from alliance_bayes._graph import log_likelihood_function
    from alliance_bayes.models import explicit_effects, model_info

    spec = json.dumps(model_info(model).spec.to_dict())
    model = explicit_effects(model)  # fit draws integrated-out effects back: so do we
    chains = [prior_predictive(model, draws=draws, random_seed=seed + c) for c in (0, 1)]
    posterior = xr.concat([c.prior for c in chains], dim="chain").assign_coords(chain=[0, 1])
    idata = az.InferenceData(
        posterior=posterior,
        observed_data=chains[0].observed_data,
        constant_data=chains[0].constant_data,
    )
    idata.attrs.update(chains[0].attrs)
    idata.attrs["spec"] = spec  # the fitted model's, as fit records it
    loglik = log_likelihood_function(model)(model, posterior)
    idata.add_groups(
        log_likelihood=xr.Dataset(
            {"alliance": (("chain", "draw", "obs"), loglik)},
            coords={"chain": [0, 1], "draw": posterior["draw"], "obs": idata.observed_data["obs"]},
        )
    )
    return idata
