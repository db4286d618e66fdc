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

    Parameter shapes follow from the sizes of the dimensions that the parameters use and from
    the number of missing covariate values. Everything else is data and may change between
    models of one structure: the number of ratings always, and the numbers of therapists and
    patients where no parameter has them as a dimension (the effects integrated out), so that a
    design whose cluster sizes vary per simulation compiles once.
    """
    info = model_info(model)
    content = {
        "spec": info.spec.structure(),
        "priors": info.priors,
        "sizes": parameter_sizes(model),
        "scale": info.data.scale,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def parameter_sizes(model: pm.Model) -> dict[str, int]:
    """The lengths of the dimensions of the model's parameters (free and deterministic), and
    the number of missing covariate values (the length of the imputed vector).

    Examples
    --------
    >>> from alliance_bayes import Design, growth_model
    >>> model = growth_model(Design(n_therapists=4, patients_per_therapist=2,
    ...                             sessions=[1, 2, 4], scale=[1, 7]).to_data(random_seed=1))
    >>> parameter_sizes(model)
    {'component': 2, 'component_': 2, 'rater': 1}
    """
    dims = {
        dim
        for variable in model.free_RVs + model.deterministics
        for dim in model.named_vars_to_dims.get(variable.name, ())
        if dim is not None
    }
    sizes = {dim: len(model.coords[dim]) for dim in sorted(dims)}
    if "therapist_covariate_missing" in model.named_vars:
        sizes["missing"] = int(model["missing_therapist"].get_value().size)
    return sizes


def shared_values(model: pm.Model, names: Iterable[str]) -> dict[str, np.ndarray]:
    """Current values of the model's shared variables (data and dim lengths), by name."""
    values = {}
    for name in names:
        variable = model.dim_lengths[name] if name in model.dim_lengths else model[name]
        values[name] = variable.get_value()
    return values
