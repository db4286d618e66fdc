"""What a built model remembers about itself: its spec, its data and its resolved priors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymc as pm

from ..data import AllianceData
from ..priors import Prior
from ..spec import ModelSpec

_ATTRIBUTE = "_alliance_info"


@dataclass(frozen=True)
class ModelInfo:
    spec: ModelSpec
    data: AllianceData
    priors: dict[str, Prior]


def attach_info(model: pm.Model, **info: Any) -> pm.Model:
    setattr(model, _ATTRIBUTE, ModelInfo(**info))
    return model


def model_info(model: pm.Model) -> ModelInfo:
    """The spec, data and priors a model was built from (models of this package only)."""
    info = getattr(model, _ATTRIBUTE, None)
    if info is None:
        raise TypeError(
            "this model was not built by alliance_bayes (growth_model or therapist_regression)."
        )
    return info
