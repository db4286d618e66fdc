"""Session terms of the growth model: fixed terms per rating beyond the linear trajectory.

A rating's mean gains ``session_coef[rater] . u``, where ``u`` holds the time shape's term
(``x^2``, or ``max(x - knot, 0)``) and the within-patient parts of time-varying covariates. They
are not linear in time per patient, so the integrated likelihood takes the rating sums of the
ratings less the terms: :func:`shifted_sums` makes them from data sums of the terms (normal
likelihood), :func:`._latent.observed_sums` from the ratings less the terms (latent models).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..data import AllianceData, code_time
from ..priors import Prior, prior_variable, time_span
from ..spec import ModelSpec
from ._latent import LATENT_SUMS_NAME


def session_term_labels(spec: ModelSpec) -> list[str]:
    """The labels of the session terms of ``spec``'s time shape (``session_term`` coords; the
    within-patient parts of time-varying covariates follow them).

    Examples
    --------
    >>> session_term_labels(ModelSpec(time_shape="piecewise", knot=8))
    ['time after session 8']
    """
    if spec.time_shape == "quadratic":
        return ["time^2"]
    if spec.time_shape == "piecewise":
        return [f"time after session {spec.knot:g}"]
    return []


def session_terms(
    spec: ModelSpec,
    data: AllianceData,
    time: Any,
    priors: dict[str, Prior],
    within: tuple[list[str], np.ndarray],
) -> tuple[Any, Any] | None:
    """The fixed session terms (``None`` without any): their values per rating ``u`` (obs,
    term) and their coefficients ``session_coef`` (rater, term); a rating's mean gains
    ``session_coef[rater] . u``. The terms are the time shape's and the within-patient parts of
    time-varying covariates. The knot is coded as the data's time (data, not a constant, so a
    compiled model serves other knots)."""
    names, values = within
    labels = session_term_labels(spec)
    if not labels and not names:
        return None
    model = pm.modelcontext(None)
    model.add_coord("session_term", labels + [f"{name} (within)" for name in names])
    columns, scales = [], []
    if spec.time_shape == "quadratic":
        columns.append(time[:, None] ** 2)
        scales.append(1.0 / time_span(data))  # per unit of x^2
    elif spec.time_shape == "piecewise":
        coded, _ = code_time(
            np.array([float(spec.knot)]), data.time_coding, data.time_scale, data.time_origin
        )
        knot = pm.Data("time_knot", float(coded[0]))
        columns.append(pt.maximum(time - knot, 0.0)[:, None])
        scales.append(1.0)
    if names:
        model.add_coord("session_covariate", names)
        columns.append(pm.Data("session_within", values, dims=("obs", "session_covariate")))
        # per SD of the covariate, as the other coefficients: u / 4 where growth has u / (2T)
        scales += [time_span(data) / 2] * len(names)
    prior = dict(priors["session_coef"])
    if "session_coef" not in spec.priors and "sigma" in prior:
        prior["sigma"] = [float(prior["sigma"]) * scale for scale in scales]
    priors["session_coef"] = prior
    coef = prior_variable("session_coef", prior, dims=("rater", "session_term"))
    u = columns[0] if len(columns) == 1 else pt.concatenate(columns, axis=1)
    return u, coef


def term_effect(terms: tuple[Any, Any], rater: Any) -> Any:
    """Each rating's share of the session terms, ``session_coef[rater] . u``."""
    u, coef = terms
    return (u * coef[rater]).sum(axis=-1)


def shifted_sums(
    sums: Any, terms: tuple[Any, Any], y: np.ndarray, rows: np.ndarray, data: AllianceData
) -> Any:
    """The rating sums of the ratings less the session terms ``f = u . coef[rater]``: the sums of
    ``y``, ``x y`` and ``y^2`` change by ``-F``, ``-XF`` and ``-2 YF + FF``, where ``F``, ``XF``,
    ``YF`` and ``FF`` are the per-cell sums of ``f``, ``x f``, ``y f`` and ``f^2``, linear and
    quadratic in the coefficients with data sums of ``u`` (``session_term_sums``), so no
    evaluation passes over single ratings."""
    u, coef = terms
    model = pm.modelcontext(None)
    values = np.asarray(u.eval(), dtype=float)  # u is a function of the model's data only
    n_terms = values.shape[1]
    cell = data.obs_patient[rows] * data.n_raters + data.obs_rater[rows]
    n_cells, x = data.n_patients * data.n_raters, data.time[rows]

    def per_cell(column: np.ndarray) -> np.ndarray:
        return np.bincount(cell, column, minlength=n_cells).reshape(data.n_patients, -1)

    linear = [[per_cell(w * values[:, k]) for k in range(n_terms)] for w in (1.0, x, y)]
    square = [
        [per_cell(values[:, k] * values[:, j]) for j in range(n_terms)] for k in range(n_terms)
    ]
    model.add_coord("term_sum", ["u", "xu", "yu"])
    model.add_coord("session_term_", list(model.coords["session_term"]))
    by_term = pm.Data(
        "session_term_sums",
        np.array(linear),
        dims=("term_sum", "session_term", "patient", "rater"),
    )
    products = pm.Data(
        "session_term_products",
        np.array(square),
        dims=("session_term", "session_term_", "patient", "rater"),
    )
    b = coef.T  # (term, rater)
    f, xf, yf = ((by_term[i] * b[:, None, :]).sum(axis=0) for i in range(3))
    ff = (products * b[:, None, None, :] * b[None, :, None, :]).sum(axis=(0, 1))
    changed = pt.stack([sums[3] - f, sums[4] - xf, sums[5] - 2 * yf + ff])
    shifted = pt.concatenate([sums[:3], changed])
    shifted.name = LATENT_SUMS_NAME  # found by name by fit's conditional draws of the effects
    return shifted
