"""What a built model remembers about itself: its spec, its data and its resolved priors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
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


def is_marginal(model: pm.Model) -> bool:
    """Whether the model's random effects are integrated out of its likelihood."""
    return "patient_sd" in model.named_vars and "patient_effect" not in model.named_vars


def structure_key(model: pm.Model) -> str:
    """A hash of everything that fixes the compiled model: spec, priors and parameter shapes.

    Parameter shapes follow from the sizes of the grouping levels, the covariates and the number
    of missing covariate values; the number of observations is data and may change.
    """
    info = model_info(model)
    sizes = {name: len(values) for name, values in model.coords.items() if name != "obs"}
    if "therapist_covariate_missing" in model.named_vars:
        sizes["missing"] = int(model["missing_therapist"].get_value().size)
    content = {
        "spec": info.spec.structure(),
        "priors": info.priors,
        "sizes": sizes,
        "scale": info.data.scale,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def shared_values(model: pm.Model, names: Iterable[str]) -> dict[str, np.ndarray]:
    """Current values of the model's shared variables (data and dim lengths), by name."""
    values = {}
    for name in names:
        variable = model.dim_lengths[name] if name in model.dim_lengths else model[name]
        values[name] = variable.get_value()
    return values
