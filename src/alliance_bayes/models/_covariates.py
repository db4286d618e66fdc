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
