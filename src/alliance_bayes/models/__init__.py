"""Model families: each a function from data (and options) to a ``pm.Model``."""

from ._info import model_info
from .growth import growth_model
from .regression import therapist_regression

__all__ = ["build_model", "growth_model", "model_info", "therapist_regression"]


def build_model(data, spec):
    """The model a :class:`ModelSpec` describes, on ``data``."""
    if spec.kind == "regression":
        return therapist_regression(data, spec=spec)
    return growth_model(data, spec=spec)
