"""The therapist-level regression (Razzaque design): one alliance score per clinician.

    y[t] ~ Normal(intercept + z[t] . coef, sigma)

with standardised covariates ``z`` (missing ones imputed), Bayesian R^2 (Gelman, Goodrich, Gabry
and Vehtari 2019: var(fit) / (var(fit) + sigma^2), per draw) and fully standardised
coefficients ``coef_std = coef / sqrt(var(fit) + sigma^2)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..aggregate import Aggregate, therapist_scores
from ..data import AllianceData
from ..errors import DataValidationError, show_some
from ..priors import Prior, prior_variable, resolve_priors
from ..spec import ModelSpec
from ._covariates import select_covariates, therapist_covariate_matrix
from ._info import attach_info


def therapist_regression(
    data: AllianceData,
    *,
    covariates: Sequence[str] | None = None,
    priors: Mapping[str, Prior] | None = None,
    spec: ModelSpec | None = None,
    aggregate: Aggregate | None = None,
) -> pm.Model:
    """Regress each therapist's one alliance score on therapist covariates.

    Parameters
    ----------
    data
        One row per therapist (e.g. ``Design.razzaque_2015().to_data()``), or long data
        (patients, raters, sessions) with ``aggregate``.
    covariates
        Therapist covariates to use (default: all of them).
    priors
        Replacements for ``intercept``, ``coef`` and ``sigma`` by name.
    spec
        A :class:`ModelSpec` of kind ``"regression"``; when given, it supplies the above.
    aggregate
        How long data become one score per therapist (see
        :func:`~alliance_bayes.aggregate.therapist_scores`): a rule such as
        ``"mean of patient-rated at session 3"``, or a function of one therapist's ratings
        returning a number. Long data without it are refused.

    Examples
    --------
    >>> from alliance_bayes import Design
    >>> model = therapist_regression(Design.razzaque_2015().to_data(random_seed=1))
    >>> sorted(v.name for v in model.deterministics)
    ['coef_std', 'r2']

    From long data (here the doctests' two raters, 12 therapists, sessions 1, 2, 4 and 8):

    >>> model = therapist_regression(data, aggregate="mean of patient-rated at session 8")
    >>> len(model.coords["obs"]), model.coords["therapist_covariate"]
    (12, ('burdens',))
    """
    if aggregate is not None:
        data = therapist_scores(data, aggregate)
    if spec is None:
        spec = ModelSpec(
            kind="regression",
            priors=dict(priors or {}),
            therapist_covariates=None if covariates is None else list(covariates),
        )
    rows = np.flatnonzero(data.observed) if data.has_outcome else np.arange(data.n_obs)
    _require_one_row_per_therapist(data, rows)
    resolved = resolve_priors(data, spec.priors, "regression")
    names, cols = select_covariates(
        data.therapist_covariates.names, spec.therapist_covariates, "therapist"
    )
    coords = {
        "therapist": list(data.therapist_labels),
        "therapist_covariate": names,
        "obs": list(data.therapist_labels[data.obs_therapist[rows]]),
    }
    with pm.Model(coords=coords) as model:
        therapist_idx = pm.Data("therapist_idx", data.obs_therapist[rows], dims="obs")
        z = therapist_covariate_matrix(data, cols)
        intercept = prior_variable("intercept", resolved["intercept"])
        coef = prior_variable("coef", resolved["coef"], dims="therapist_covariate")
        sigma = prior_variable("sigma", resolved["sigma"])
        fitted = (z @ coef)[therapist_idx]
        explained = pt.var(fitted)
        pm.Deterministic("r2", explained / (explained + sigma**2))
        pm.Deterministic(
            "coef_std", coef / pt.sqrt(explained + sigma**2), dims="therapist_covariate"
        )
        placeholder = data.score[rows] if data.has_outcome else np.zeros(len(rows))
        observed = pm.Data("alliance_observed", placeholder, dims="obs")
        mu = intercept + fitted
        mu.name = "alliance_mean"  # found by name by R^2 (_graph.alliance_mean)
        pm.Normal("alliance", mu=mu, sigma=sigma, observed=observed, dims="obs")
    return attach_info(model, spec=spec, data=data, priors=resolved)


def _require_one_row_per_therapist(data: AllianceData, rows: np.ndarray) -> None:
    counts = np.bincount(data.obs_therapist[rows], minlength=data.n_therapists)
    bad = data.therapist_labels[counts != 1]
    if len(bad):
        column = data.columns.get("therapist", "therapist")
        raise DataValidationError(
            f"column {column!r}: the therapist regression needs exactly one alliance score per "
            f"therapist; therapists {show_some(bad)} have {show_some(counts[counts != 1])} "
            f"({_how_to_aggregate(data)})."
        )


def _how_to_aggregate(data: AllianceData) -> str:
    """The hint for long data: an ``aggregate=`` that makes one score per therapist."""
    rater = f" of {data.rater_labels[0]}-rated" if data.n_raters > 1 else ""
    sessions = np.unique(data.session[np.isfinite(data.session)])
    at = f" at session {sessions[0]:g}" if sessions.size > 1 else ""
    return (
        f"pass aggregate=, e.g. aggregate='mean{rater}{at}', or a function of one therapist's "
        "ratings returning a number"
    )
