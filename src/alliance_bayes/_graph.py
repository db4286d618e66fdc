"""The compiled-graph layer: a model's own graph, with parameters and data as inputs, compiled.

Everything that evaluates a model's graph outside the sampler goes through :func:`compile_graph`:
the pointwise log-likelihood, each patient's line (for the effect draws), the simulator's forward
draw, the predictive draws and the R^2 means. Parameters named as inputs replace their nodes by
graph replacement (what ``pm.do`` does), so a function of the stored posterior takes exactly the
stored draws and nothing else is random. With ``data_inputs`` the model's data are inputs too,
so one compiled function serves every model of the same structure: :data:`CACHE` keeps them by
:func:`~alliance_bayes.models._info.structure_key`, bounded, with one ``clear()``.

``pm.sample_posterior_predictive`` would not do: it treats a deterministic whose random
ancestors are not in the trace (``therapist_effect`` without its offsets) as volatile and redraws
it from the prior, which would ignore the fitted effects.

Examples
--------
>>> cache = GraphCache({"lines": 2})
>>> cache.get("lines", "a", lambda: 1), cache.get("lines", "b", lambda: 2)
(1, 2)
>>> cache.get("lines", "a", lambda: 0)  # reused: "a" is now the most recently used
1
>>> cache.get("lines", "c", lambda: 3)  # drops "b", the least recently used
3
>>> cache.keys("lines"), cache.counts["lines"]
(['a', 'c'], {'compile': 3, 'reuse': 1})
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from pymc.distributions.distribution import SymbolicRandomVariable
from pymc.pytensorf import compile as compile_pymc
from pymc.pytensorf import reseed_rngs
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.op import RandomVariable
from pytensor.tensor.random.type import RandomGeneratorType

from .models import explicit_effects
from .models._info import shared_values, structure_key
from .vocabulary import is_internal

MEAN_NAME = "alliance_mean"
# values per block of draws when a batched function is evaluated (16 MB of float64 per output)
BLOCK_VALUES = 2 * 10**6
# entries kept per kind, the most recently used: compiled nutpie models (about 10 MB each),
# log-likelihoods, the patients' lines (for the effect draws) and the simulator's draws
CACHE_LIMITS = {"sampler": 16, "loglik": 16, "lines": 16, "draw": 32}


class GraphCache:
    """Compiled functions of this process by kind, each kind bounded to its most recent entries.

    A process that meets many model structures (an SBC study of a design whose parameter shapes
    change, a notebook trying specs) must not keep every compiled function. ``counts`` says per
    kind how many were compiled and how many reused (behind :func:`compile_counts`).
    """

    def __init__(self, limits: Mapping[str, int] = CACHE_LIMITS):
        if any(n < 1 for n in limits.values()):
            raise ValueError(f"every limit must be at least 1, not {dict(limits)}.")
        self.limits = dict(limits)
        self._entries: dict[str, OrderedDict] = {kind: OrderedDict() for kind in limits}
        self.counts = {kind: {"compile": 0, "reuse": 0} for kind in limits}

    def get(self, kind: str, key: Hashable, build: Callable[[], Any]) -> Any:
        """The entry ``key`` of ``kind``, built by ``build()`` when it is not kept."""
        entries = self._entries[kind]
        if key in entries:
            self.counts[kind]["reuse"] += 1
            entries.move_to_end(key)
            return entries[key]
        self.counts[kind]["compile"] += 1
        value = entries[key] = build()
        while len(entries) > self.limits[kind]:
            entries.popitem(last=False)
        return value

    def keys(self, kind: str) -> list[Hashable]:
        """The keys kept of ``kind``, the least recently used first."""
        return list(self._entries[kind])

    def clear(self) -> None:
        """Forget every entry (the counts stay: they count what this process did)."""
        for entries in self._entries.values():
            entries.clear()


CACHE = GraphCache()


def compile_counts() -> dict[str, int]:
    """How many models were compiled and how many fits reused a compiled one (this process).

    Examples
    --------
    >>> sorted(compile_counts())
    ['compile', 'reuse']
    """
    return dict(CACHE.counts["sampler"])


def clear_compile_cache() -> None:
    """Forget every compiled model and function of this process (fits, log-likelihoods, effect
    draws and the simulator's draws alike); the disk cache stays.

    Examples
    --------
    >>> clear_compile_cache()
    """
    CACHE.clear()


def stored_names(model: pm.Model) -> list[str]:
    """The variables a fit stores: the model's free and deterministic vocabulary variables.

    Examples
    --------
    >>> "patient_sd" in stored_names(model)
    True
    """
    names = [v.name for v in model.free_RVs + model.deterministics]
    return [n for n in names if not is_internal(n)]


def _is_random(variable: Any) -> bool:
    owner = variable.owner
    return owner is not None and isinstance(owner.op, RandomVariable | SymbolicRandomVariable)


@dataclass(frozen=True)
class GraphFunction:
    """A compiled function of the parameters ``names`` (and the model's ``data``).

    ``batched``: the function takes a block of draws at once (a leading axis on every parameter
    and output); otherwise one draw per call. ``data``: the model's data variables the function
    takes after the parameters, read from the model passed at each call. ``rngs``: the random
    generators of a function with random outputs.
    """

    function: Any
    names: tuple[str, ...]
    batched: bool = False
    data: tuple[str, ...] = ()
    rngs: tuple[Any, ...] = ()

    def __call__(self, posterior: xr.Dataset, model: pm.Model | None = None) -> list[np.ndarray]:
        """Evaluate at every (chain, draw); each output gets leading (chain, draw) axes."""
        draws = [posterior[name].to_numpy() for name in self.names]
        data = self._data_values(model)
        n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
        if self.batched:
            return self._in_blocks(draws, data, n_chain, n_draw)
        out: list[np.ndarray] | None = None
        for c in range(n_chain):
            for d in range(n_draw):
                values = self.function(*(x[c, d] for x in draws), *data)
                if out is None:
                    out = [np.empty((n_chain, n_draw, *np.shape(v))) for v in values]
                for target, value in zip(out, values, strict=True):
                    target[c, d] = value
        return out or []

    def at(self, values: Mapping[str, Any], model: pm.Model | None = None) -> list[np.ndarray]:
        """A batched function at one set of parameter values (e.g. the truth of a simulation)."""
        one = (np.asarray(values[name])[None] for name in self.names)
        return [v[0] for v in self.function(*one, *self._data_values(model))]

    def draw(self, values: Mapping[str, Any], model: pm.Model, seed: Any) -> list[np.ndarray]:
        """One random draw at ``values``; the same ``seed`` gives the same draw."""
        reseed_rngs(list(self.rngs), seed)
        return self.function(*(values[n] for n in self.names), *self._data_values(model))

    def _data_values(self, model: pm.Model | None) -> list[np.ndarray]:
        if not self.data:
            return []
        if model is None:
            raise ValueError(f"this function takes the data {self.data} of a model.")
        return list(shared_values(model, self.data).values())

    def _in_blocks(
        self, draws: list[np.ndarray], data: list[np.ndarray], n_chain: int, n_draw: int
    ) -> list[np.ndarray]:
        """The batched function over blocks of draws: the first draw alone gives the size of
        the outputs, and with it a block size of about ``BLOCK_VALUES`` values per output."""
        flat = [x.reshape(n_chain * n_draw, *x.shape[2:]) for x in draws]
        total = n_chain * n_draw
        out: list[np.ndarray] = []
        start, block = 0, 1
        while start < total:
            part = slice(start, min(start + block, total))
            values = self.function(*(x[part] for x in flat), *data)
            if not out:
                out = [np.empty((total, *np.shape(v)[1:])) for v in values]
                per_draw = max(int(np.prod(np.shape(v)[1:])) for v in values)
                block = max(1, BLOCK_VALUES // max(per_draw, 1))
            for target, value in zip(out, values, strict=True):
                target[part] = value
            start = part.stop
        return [x.reshape(n_chain, n_draw, *x.shape[1:]) for x in out]


def compile_graph(
    model: pm.Model,
    outputs: Sequence[Any],
    parameters: Sequence[str],
    *,
    data_inputs: bool = False,
    batched: bool = True,
    random_seed: Any = None,
    derive: Callable[[list[Any]], list[Any]] | None = None,
    from_prior: bool = False,
) -> GraphFunction:
    """Compile ``outputs`` (names or nodes of ``model``) as a function of the ``parameters``.

    The parameters the outputs depend on become inputs by graph replacement, before ``derive``
    (e.g. a log-probability) is applied to the replaced outputs: deriving first and replacing
    afterwards would miss the clones a derivation makes (the censored likelihood's). With
    ``data_inputs`` the model's data (its named shared variables) are inputs after them, so
    the function serves every model of the same structure. Deterministic outputs are evaluated
    a block of draws per call (``vectorize_graph``; 2.6x faster than a call per draw for the
    dual-rater lines) unless ``batched`` is false; random outputs take one call per draw.

    Raises
    ------
    ValueError
        Unless ``from_prior``: if a random variable is still an ancestor of the outputs once
        the parameters are given (its value would be drawn from the prior).

    Examples
    --------
    >>> mean = compile_graph(model, [alliance_mean(model)], stored_names(model))
    >>> (mu,) = mean(idata.posterior)
    >>> mu.shape  # chain, draw, obs
    (2, 40, 384)
    """
    outputs = [model[o] if isinstance(o, str) else o for o in outputs]
    graph = set(ancestors(outputs))
    names = [n for n in parameters if n in model.named_vars and model[n] in graph]
    inputs = [model[n].type(name=n) for n in names]
    # graph_replace rebuilds only what depends on the given variables: any model variable that
    # is still an ancestor afterwards is the very same object, so it can be found by identity
    given = dict(zip([model[n] for n in names], inputs, strict=True))
    replaced = graph_replace(outputs, given, strict=False)
    replaced = list(derive(replaced)) if derive is not None else replaced
    if not from_prior:
        _check_determined(replaced)
    shared = _data_variables(replaced) if data_inputs else []
    data = [v.type(name=v.name) for v in shared]
    batched = batched and not any(_is_random(v) for v in ancestors(replaced))
    if batched:
        stacked = [pt.tensor(dtype=v.type.dtype, shape=(None, *v.type.shape)) for v in inputs]
        replaced = vectorize_graph(replaced, replace=dict(zip(inputs, stacked, strict=True)))
        inputs = stacked
    function = compile_pymc(
        [*inputs, *data],
        replaced,
        random_seed=random_seed,
        givens=list(zip(shared, data, strict=True)),
        on_unused_input="ignore",
    )
    rngs = tuple(v for v in function.get_shared() if isinstance(v.type, RandomGeneratorType))
    return GraphFunction(function, tuple(names), batched, tuple(v.name for v in shared), rngs)


def _check_determined(outputs: list[Any]) -> None:
    """Refuse outputs that still depend on a random variable other than themselves."""
    # an output may be random itself (with an unnamed base distribution as a direct input, as
    # a censored outcome has); any other random node would be a draw from the prior
    allowed = {id(v) for out in outputs if out.owner for v in [out, *out.owner.inputs]}
    left = sorted(
        {
            str(v.name or v.owner.op)
            for v in ancestors(outputs)
            if _is_random(v) and id(v) not in allowed
        }
    )
    if left:
        raise ValueError(
            f"the stored draws do not determine {left}; they would be drawn from the prior. "
            "The posterior must hold the vocabulary variables of the model."
        )


def _data_variables(outputs: list[Any]) -> list[Any]:
    """The model's data among the ancestors of ``outputs`` (named, not random generators)."""
    return [
        v
        for v in ancestors(outputs)
        if isinstance(v, SharedVariable) and v.name and not isinstance(v.type, RandomGeneratorType)
    ]


@dataclass(frozen=True)
class LogLikelihood:
    """Pointwise log-likelihood as a function of stored parameters and of a model's data,
    evaluated a block of draws per call."""

    blocks: GraphFunction

    def at(self, model: pm.Model, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Pointwise log-likelihood at one set of parameter values (e.g. the truth)."""
        return np.asarray(self.blocks.at(values, model)[0])

    def __call__(self, model: pm.Model, posterior: xr.Dataset) -> np.ndarray:
        """Pointwise log-likelihood at every (chain, draw) of ``posterior``."""
        return self.blocks(posterior, model)[0]


def log_likelihood_function(model: pm.Model) -> LogLikelihood:
    """The pointwise log-likelihood, a function of the stored parameters and of the data.

    Compiled once per structure (kept in :data:`CACHE`), so any model of the same structure can
    use it: ``f(model, posterior)`` gives (chain, draw, obs), ``f.at(model, values)`` one set
    of values. For a model with the effects integrated out it is the one of its explicit twin
    (given the effects, which ``fit`` draws back): the integrated density has no pointwise terms.

    Examples
    --------
    >>> loglik = log_likelihood_function(model)
    >>> loglik(model, idata.posterior).shape
    (2, 40, 384)
    """
    return CACHE.get("loglik", structure_key(model), lambda: _log_likelihood(model))


def _log_likelihood(model: pm.Model) -> LogLikelihood:
    model = explicit_effects(model)
    observed = model["alliance_observed"]
    # a block of draws per call: 4,000 draws of the dual-rater Nissen-Lie model took 0.4 s at
    # one call per draw
    function = compile_graph(
        model,
        ["alliance"],
        stored_names(model),
        data_inputs=True,
        derive=lambda replaced: [pm.logp(replaced[0], observed)],
    )
    return LogLikelihood(function)


def named_node(model: pm.Model, name: str) -> Any:
    """The node called ``name`` among the ancestors of the outcome.

    Examples
    --------
    >>> named_node(model, "alliance_mean")
    alliance_mean
    """
    for variable in ancestors([model["alliance"]]):
        if variable.name == name:
            return variable
    raise ValueError(f"the model has no node named {name!r} (not an alliance_bayes model).")


def alliance_mean(model: pm.Model) -> Any:
    """The expected alliance per observation (``mu``), named ``alliance_mean`` in the graph.

    Examples
    --------
    >>> alliance_mean(model).name
    'alliance_mean'
    """
    return named_node(model, MEAN_NAME)


def fixed_part(model: pm.Model, mean: Any) -> Any:
    """``mean`` with the therapist and patient random effects set to zero.

    Examples
    --------
    >>> fixed = fixed_part(model, alliance_mean(model))
    """
    zeros = {
        model[name]: pt.zeros_like(model[name])
        for name in ("therapist_effect", "patient_effect")
        if name in model.named_vars
    }
    # graph_replace rebuilds only what depends on the effects, so the parameters stay the
    # model's own variables (and can be given their stored draws)
    return graph_replace(mean, zeros, strict=False) if zeros else mean
