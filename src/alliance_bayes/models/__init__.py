"""Model families: each a function from data (and options) to a ``pm.Model``."""

import dataclasses

from ._info import is_marginal, model_info
from .growth import growth_model
from .regression import therapist_regression

__all__ = [
    "build_model",
    "explicit_effects",
    "growth_model",
    "is_marginal",
    "model_info",
    "therapist_regression",
]


def build_model(data, spec):
    """The model a :class:`ModelSpec` describes, on ``data``."""
    if spec.kind == "regression":
        return therapist_regression(data, spec=spec)
    return growth_model(data, spec=spec)


def explicit_effects(model):
    """``model`` itself, or for one with the random effects integrated out, its twin with them
    explicit (same data and parameters): for simulating ratings and pointwise log-likelihoods."""
    if not is_marginal(model):
        return model
    info = model_info(model)
    return build_model(info.data, dataclasses.replace(info.spec, marginal=False))
