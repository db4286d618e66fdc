"""Functions of the model graph given the stored posterior (vocabulary) variables.

A fit stores the vocabulary only: ``therapist_effect`` but not the offsets and Cholesky factors it
is made of. ``pm.sample_posterior_predictive`` treats a deterministic whose random ancestors are
not in the trace as volatile and redraws it from the prior, which would ignore the fitted effects.
Here the stored variables replace their nodes in the model's own graph, so the outcome is drawn
(or the mean computed) from the graph given exactly the stored draws, and nothing else is random.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from pymc.distributions.distribution import SymbolicRandomVariable
from pymc.pytensorf import compile as compile_pymc
from pytensor.graph.replace import graph_replace
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.op import RandomVariable

MEAN_NAME = "alliance_mean"


def _is_random(variable: Any) -> bool:
    owner = variable.owner
    return owner is not None and isinstance(owner.op, RandomVariable | SymbolicRandomVariable)


@dataclass(frozen=True)
class ConditionalFunction:
    """A compiled function of the stored parameters (``names``) returning ``outputs``."""

    function: Any
    names: tuple[str, ...]

    def __call__(self, posterior: xr.Dataset) -> list[np.ndarray]:
        """Evaluate at every (chain, draw); each output gets leading (chain, draw) axes."""
        draws = [posterior[name].to_numpy() for name in self.names]
        n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
        out: list[np.ndarray] | None = None
        for c in range(n_chain):
            for d in range(n_draw):
                values = self.function(*(x[c, d] for x in draws))
                if out is None:
                    out = [np.empty((n_chain, n_draw, *np.shape(v))) for v in values]
                for target, value in zip(out, values, strict=True):
                    target[c, d] = value
        return out or []


def conditional_function(
    model: pm.Model,
    outputs: Sequence[Any],
    available: Sequence[str],
    random_seed: Any = None,
) -> ConditionalFunction:
    """Compile ``outputs`` as a function of the stored variables ``available`` they depend on.

    Raises
    ------
    ValueError
        If a random variable is still an ancestor of the outputs once the stored variables are
        given (its value would be drawn from the prior).
    """
    graph = set(ancestors(list(outputs)))
    names = [n for n in available if n in model.named_vars and model[n] in graph]
    given = [model[n] for n in names]
    inputs = [v.type(name=n) for v, n in zip(given, names, strict=True)]
    # graph_replace rebuilds only what depends on the given variables: any model variable that
    # is still an ancestor afterwards is the very same object, so it can be found by identity
    replaced = graph_replace(list(outputs), dict(zip(given, inputs, strict=True)), strict=False)
    # an output may be random itself (with an unnamed base distribution as a direct input, as
    # a censored outcome has); any other random node would be a draw from the prior
    allowed = {id(v) for out in replaced if out.owner for v in [out, *out.owner.inputs]}
    left = sorted(
        {
            str(v.name or v.owner.op)
            for v in ancestors(replaced)
            if _is_random(v) and id(v) not in allowed
        }
    )
    if left:
        raise ValueError(
            f"the stored draws do not determine {left}; they would be drawn from the prior. "
            "The posterior must hold the vocabulary variables of the model."
        )
    function = compile_pymc(inputs, replaced, random_seed=random_seed, on_unused_input="ignore")
    return ConditionalFunction(function, tuple(names))


def alliance_mean(model: pm.Model) -> Any:
    """The expected alliance per observation (``mu``), named ``alliance_mean`` in the graph."""
    return named_node(model, MEAN_NAME)


def named_node(model: pm.Model, name: str) -> Any:
    """The node called ``name`` among the ancestors of the outcome."""
    for variable in ancestors([model["alliance"]]):
        if variable.name == name:
            return variable
    raise ValueError(f"the model has no node named {name!r} (not an alliance_bayes model).")


def fixed_part(model: pm.Model, mean: Any) -> Any:
    """``mean`` with the therapist and patient random effects set to zero."""
    zeros = {
        model[name]: pt.zeros_like(model[name])
        for name in ("therapist_effect", "patient_effect")
        if name in model.named_vars
    }
    # graph_replace rebuilds only what depends on the effects, so the parameters stay the
    # model's own variables (and can be given their stored draws)
    return graph_replace(mean, zeros, strict=False) if zeros else mean
