"""Default priors, on the outcome's own scale, and how to replace them by name.

A prior is a small dict: ``{"dist": "Normal", "mu": 4.0, "sigma": 1.5}``, where ``dist`` names a
PyMC distribution and the other keys are its parameters (scalars, or lists that broadcast over the
parameter's dims). Defaults are weakly informative and are derived from the instrument's declared
scale (or, when none is declared, from the observed scores) and from the span of coded time:

========================  ==========================================  =========================
name                      default                                     meaning
========================  ==========================================  =========================
``level``                 Normal(centre, 2u/3)                        mean alliance at time 0
``growth``                Normal(0, u / (2T))                         mean growth per unit time
``level_coef``            Normal(0, u / 4)                            per SD of a therapist cov.
``growth_coef``           Normal(0, u / (4T))                         per SD of a therapist cov.
``patient_level_coef``    Normal(0, u / 4)                            per SD of a patient cov.
``patient_growth_coef``   Normal(0, u / (4T))                         per SD of a patient cov.
``session_coef``          Normal(0, u / (2T)); u / (2T^2) for x^2     per unit of a session term
``therapist_sd``          HalfNormal([u / 3, u / (3T)] per rater)     SDs of therapist effects
``patient_sd``            HalfNormal([u / 3, u / (3T)] per rater)     SDs of patient effects
``therapist_corr``        LKJ(eta = 2)                                their correlations
``patient_corr``          LKJ(eta = 2)
``sigma``                 HalfNormal(u / 3)                           residual SD per rater
``nu``                    Gamma(2, 0.1)                               Student-t degrees of freedom
``intercept``             Normal(centre, 2u/3)                        therapist regression
``coef``                  Normal(0, u / 4)                            therapist regression
========================  ==========================================  =========================

``centre`` is the scale's midpoint (4 on a 1-7 WAI), ``u`` a quarter of its range (1.5 on a 1-7
WAI), and ``T`` the largest absolute coded time (ln 40 - ln 3 = 2.6 for sessions 3 to 40). With no
declared scale, ``centre`` is the mean observed score and ``u`` 1.5 observed SDs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import pymc as pm

from .data import AllianceData

Prior = dict[str, Any]


def outcome_unit(data: AllianceData) -> tuple[float, float]:
    """``(centre, u)``: the scale's midpoint and a quarter of its range (see module docs)."""
    if data.scale is not None:
        low, high = data.scale
        return (low + high) / 2, (high - low) / 4
    observed = data.score[np.isfinite(data.score)]
    if observed.size < 2:
        raise ValueError(
            "default priors need the instrument's scale (e.g. scale=(1, 7)) when the data "
            "hold no outcome yet."
        )
    return float(observed.mean()), float(1.5 * observed.std(ddof=1))


def time_span(data: AllianceData) -> float:
    span = float(np.max(np.abs(data.time))) if data.n_obs else 1.0
    return span if span > 0 else 1.0


def default_priors(data: AllianceData, model: str = "growth") -> dict[str, Prior]:
    """The default priors for ``data``, by vocabulary name.

    Examples
    --------
    >>> from alliance_bayes import Design
    >>> p = default_priors(Design.nissen_lie_2013().to_data(random_seed=1))
    >>> p["level"]
    {'dist': 'Normal', 'mu': 4.0, 'sigma': 1.0}
    """
    centre, u = outcome_unit(data)
    if model == "regression":
        return {
            "intercept": {"dist": "Normal", "mu": centre, "sigma": 2 * u / 3},
            "coef": {"dist": "Normal", "mu": 0.0, "sigma": u / 4},
            "sigma": {"dist": "HalfNormal", "sigma": u / 3},
        }
    if model != "growth":
        raise ValueError(f"model must be 'growth' or 'regression', got {model!r}.")
    span = time_span(data)
    sd_scales = [u / 3, u / (3 * span)] * data.n_raters
    return {
        "level": {"dist": "Normal", "mu": centre, "sigma": 2 * u / 3},
        "growth": {"dist": "Normal", "mu": 0.0, "sigma": u / (2 * span)},
        "level_coef": {"dist": "Normal", "mu": 0.0, "sigma": u / 4},
        "growth_coef": {"dist": "Normal", "mu": 0.0, "sigma": u / (4 * span)},
        "patient_level_coef": {"dist": "Normal", "mu": 0.0, "sigma": u / 4},
        "patient_growth_coef": {"dist": "Normal", "mu": 0.0, "sigma": u / (4 * span)},
        "session_coef": {"dist": "Normal", "mu": 0.0, "sigma": u / (2 * span)},
        "therapist_sd": {"dist": "HalfNormal", "sigma": list(sd_scales)},
        "patient_sd": {"dist": "HalfNormal", "sigma": list(sd_scales)},
        "therapist_corr": {"dist": "LKJ", "eta": 2.0},
        "patient_corr": {"dist": "LKJ", "eta": 2.0},
        "sigma": {"dist": "HalfNormal", "sigma": u / 3},
        "nu": {"dist": "Gamma", "alpha": 2.0, "beta": 0.1},
    }


def resolve_priors(
    data: AllianceData, overrides: Mapping[str, Prior] | None, model: str = "growth"
) -> dict[str, Prior]:
    """Defaults with the user's priors put in by name.

    An override with a ``dist`` replaces the default; one without updates its parameters
    (``{"sigma": 0.1}`` keeps the default distribution).
    """
    priors = default_priors(data, model)
    for name, prior in (overrides or {}).items():
        if name not in priors:
            raise KeyError(f"unknown prior {name!r}; priors of this model: {sorted(priors)}.")
        prior = dict(prior)
        priors[name] = prior if "dist" in prior else {**priors[name], **prior}
    return copy.deepcopy(priors)


def _params(prior: Prior) -> dict[str, Any]:
    return {
        k: (np.asarray(v, dtype=float) if isinstance(v, list) else v)
        for k, v in prior.items()
        if k != "dist"
    }


def _distribution(name: str, prior: Prior) -> type:
    try:
        return getattr(pm, prior["dist"])
    except (KeyError, AttributeError) as error:
        raise ValueError(f"prior {name!r}: unknown distribution {prior.get('dist')!r}.") from error


def prior_variable(name: str, prior: Prior, **kwargs: Any) -> Any:
    """The random variable ``name`` with the given prior, inside the current model.

    Examples
    --------
    >>> with pm.Model(coords={"rater": ["patient"]}):
    ...     level = prior_variable("level", {"dist": "Normal", "mu": 4, "sigma": 1.5}, dims="rater")
    """
    return _distribution(name, prior)(name, **_params(prior), **kwargs)


def prior_dist(name: str, prior: Prior, **kwargs: Any) -> Any:
    """An unnamed distribution (``.dist``), e.g. the SD prior of an LKJ Cholesky covariance."""
    return _distribution(name, prior).dist(**_params(prior), **kwargs)
