"""Covariates as model inputs: selection by name and latent imputation of missing values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..data import AllianceData


def select_covariates(
    available: Sequence[str], requested: Sequence[str] | None, level: str
) -> tuple[list[str], list[int]]:
    """Names and column positions of the requested covariates (all when ``None``)."""
    if requested is None:
        return list(available), list(range(len(available)))
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise KeyError(
            f"{level} covariates {unknown} are not in the data (it has {list(available)}); "
            f"name them in AllianceData.from_frame(..., {level}_covariates=[...])."
        )
    return list(requested), [list(available).index(name) for name in requested]


def therapist_covariate_matrix(data: AllianceData, cols: list[int]) -> pt.TensorVariable:
    """Therapist covariates as data, with missing entries replaced by latent variables."""
    values = data.therapist_covariates.values[:, cols]
    missing_t, missing_k = np.nonzero(~np.isfinite(values))
    z = pm.Data(
        "therapist_covariates",
        np.nan_to_num(values, nan=0.0),
        dims=("therapist", "therapist_covariate"),
    )
    if missing_t.size == 0:
        return z
    # Missing covariates are imputed from the covariate's observed distribution (MAR).
    # Everything that depends on the data is pm.Data, so a compiled model can swap it.
    centre = pm.Data("missing_centre", np.nanmean(values, axis=0)[missing_k])
    spread = pm.Data("missing_spread", np.nanstd(values, axis=0, ddof=1)[missing_k])
    row_idx = pm.Data("missing_therapist", missing_t)
    col_idx = pm.Data("missing_covariate", missing_k)
    latent = pm.Normal("therapist_covariate_missing", mu=centre, sigma=spread, shape=missing_t.size)
    return pt.set_subtensor(z[row_idx, col_idx], latent)


def within_between(
    data: AllianceData, rows: np.ndarray, requested: Sequence[str] | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The time-varying covariates split for the model: their names, the within-patient part
    per row of ``rows`` (the value less the patient's mean over those rows) and the
    between-patient part per patient (that mean; 0 for a patient without any). The values are
    the data's, standardised over its rows by default, so a patient mean of 0 is the sample's
    mean; the rebuilt data of a fit and new data for predictions (standardised with the fit's
    mean and SD) give the same parts. A row's value is its within part plus its patient's
    between part.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"t": [1, 1, 1, 2, 2], "p": [1, 1, 2, 3, 3], "s": [1, 2, 1, 1, 2],
    ...                       "wai": [5.0, 5.5, 4.0, 4.2, 4.4], "sym": [2.0, 4.0, 6.0, 1.0, 1.0]})
    >>> data = AllianceData.from_frame(frame, therapist="t", patient="p", score="wai", time="s",
    ...                                session_covariates=["sym"], standardize=False)
    >>> names, within, between = within_between(data, np.arange(5), None)
    >>> within[:, 0].tolist(), between[:, 0].tolist()
    ([-1.0, 1.0, 0.0, 0.0, 0.0], [3.0, 6.0, 1.0])
    """
    covariates = data.session_covariates
    available = () if covariates is None else covariates.names
    names, cols = select_covariates(available, requested, "session")
    if not names:
        return [], np.zeros((len(rows), 0)), np.zeros((data.n_patients, 0))
    values = covariates.values[rows][:, cols]
    patient = data.obs_patient[rows]
    counts = np.bincount(patient, minlength=data.n_patients).astype(float)
    totals = np.stack(
        [np.bincount(patient, values[:, m], minlength=data.n_patients) for m in range(len(cols))],
        axis=1,
    )
    present = counts > 0
    means = np.zeros_like(totals)
    means[present] = totals[present] / counts[present, None]
    within = values - means[patient]
    return names, within, means
