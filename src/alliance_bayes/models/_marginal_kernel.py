"""The integrated log-density and its gradient as one compiled kernel (one graph node), and the
conditional draws of the integrated-out effects: PyTensor Ops around the numba functions of
:mod:`._marginal_numba` (the algebra, and why it is fast and exact, is explained there).

The same quantity as :func:`._marginal.marginal_log_density` (which stays as the readable
reference the tests compare against). The Ops register a numba form under
:data:`KERNEL_VERSION`, so PyTensor's numba cache keeps their compiled code across processes,
and a JAX form that evaluates the reference graph.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_undefined
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch import basic as numba_basic

from . import _marginal_numba
from ._numba_key import source_version

# PyTensor's numba cache keeps the compiled Ops across processes under this key (the first
# compile takes about 20 s): a hash of this file and of the numba functions' file, so an
# edited kernel never meets stale code.
KERNEL_VERSION = source_version(__file__, _marginal_numba.__file__)


def kernel(k: int):
    """The compiled kernel ``integrated_log_density`` for effects of ``k`` components."""
    return _marginal_numba.compiled(k)[0]


def effect_sampler(k: int):
    """The compiled ``draw_effects``: conditional draws of the integrated-out effects, one per
    posterior draw, through the same per-pattern algebra as the log-density."""
    return _marginal_numba.compiled(k)[1]


def conditional_effect_draws(
    level: np.ndarray,
    growth: np.ndarray,
    sigma: np.ndarray,
    sums: np.ndarray,
    pattern_of: np.ndarray,
    therapist: tuple[np.ndarray, int, np.ndarray],
    cov: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The compiled twin of :func:`._marginal.draw_conditional_effects` (same arguments, plus
    ``pattern_of``; the therapist effects are always integrated out here): therapist effects
    (draws, T, k) and patient effects (draws, P, k), drawn from their exact conditional.

    Runs as a PyTensor function in NUMBA mode, so PyTensor's numba cache keeps the compiled
    code across processes."""
    therapist_of, n_therapists, therapist_cov = therapist
    n_draws, k = cov.shape[0], cov.shape[-1]
    noise_t = rng.standard_normal((n_draws, n_therapists, k))
    noise_p = rng.standard_normal((n_draws, level.shape[1], k))
    draw = _effect_draw_function(k // 2)
    # read-only, as nutpie hands the model's data to the log-density: the draws then reuse the
    # stages the log-density compiled for those types instead of compiling them again
    sums = np.array(sums, dtype=np.float64)
    sums.flags.writeable = False
    therapist_effect, patient_effect = draw(
        sums,
        np.asarray(level, dtype=np.float64),
        np.asarray(growth, dtype=np.float64),
        np.asarray(sigma, dtype=np.float64),
        covariance_factor(cov),
        np.asarray(therapist_of, dtype=np.int64),
        np.asarray(pattern_of, dtype=np.int64),
        covariance_factor(therapist_cov),
        noise_t,
        noise_p,
    )
    return therapist_effect, patient_effect


def covariance_factor(cov: np.ndarray) -> np.ndarray:
    """Lower factors ``L`` with ``L L' = cov`` (stacked), as ``diag(sd)`` times the correlation's
    Cholesky factor: a component of SD 0 (no therapist slopes) is a zero row, where
    ``np.linalg.cholesky`` would fail.

    Examples
    --------
    >>> covariance_factor(np.diag([4.0, 0.0])[None])[0]
    array([[2., 0.],
           [0., 0.]])
    """
    cov = np.asarray(cov, dtype=float)
    sd = np.sqrt(np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 0.0, None))
    scale = np.where(sd > 0, sd, 1.0)
    corr = cov / (scale[..., :, None] * scale[..., None, :])
    k = cov.shape[-1]
    unit = np.eye(k, dtype=bool)
    absent = (sd == 0)[..., :, None] | (sd == 0)[..., None, :]
    corr = np.where(absent, unit, corr)
    return sd[..., :, None] * np.linalg.cholesky(corr)


@cache
def _effect_draw_function(n_raters: int):
    import pytensor

    inputs = [
        pt.tensor3("sums"),
        pt.tensor3("level"),
        pt.tensor3("growth"),
        pt.dmatrix("sigma"),
        pt.tensor3("chol_p"),
        pt.lvector("therapist_of"),
        pt.lvector("pattern_of"),
        pt.tensor3("chol_t"),
        pt.tensor3("noise_t"),
        pt.tensor3("noise_p"),
    ]
    return pytensor.function(inputs, ConditionalEffectDraws(n_raters)(*inputs), mode="NUMBA")


class ConditionalEffectDraws(Op):
    """``(sums, level, growth, sigma, chol_p, therapist_of, pattern_of, chol_t, noise_t,
    noise_p)`` -> therapist and patient effects drawn from their exact conditional, one per
    posterior draw (:func:`conditional_effect_draws`)."""

    __props__ = ("n_raters",)

    def __init__(self, n_raters: int):
        self.n_raters = int(n_raters)

    def make_node(self, *inputs) -> Apply:
        inputs = [pt.as_tensor_variable(v) for v in inputs]
        return Apply(self, inputs, [pt.tensor3(), pt.tensor3()])

    def perform(self, node, inputs, outputs) -> None:
        drawn = effect_sampler(2 * self.n_raters)(*inputs)
        for storage, result in zip(outputs, drawn, strict=True):
            storage[0] = result


class IntegratedLogDensity(Op):
    """``(sums, level, growth, sigma, chol_p, therapist_of, pattern_of, n_therapists, chol_t)`` ->
    the integrated log-density (a scalar) and its gradients, as further outputs that :meth:`grad`
    hands on (one pass computes both).

    The number of therapists is an input, not a property: the compiled code (and PyTensor's
    numba cache entry) then serves studies of every size. As a property each new count cost a
    fresh numba compile of the kernel, 40-55 s here."""

    __props__ = ("n_raters",)

    def __init__(self, n_raters: int):
        self.n_raters = int(n_raters)

    def make_node(
        self, sums, level, growth, sigma, chol_p, therapist_of, pattern_of, n_therapists, chol_t
    ) -> Apply:
        floats = [
            pt.as_tensor_variable(v).astype("float64") for v in (sums, level, growth, sigma, chol_p)
        ]
        integers = [
            pt.as_tensor_variable(v).astype("int64")
            for v in (therapist_of, pattern_of, n_therapists)
        ]
        if integers[2].ndim != 0:
            raise TypeError("n_therapists must be a scalar.")
        chol_t = pt.as_tensor_variable(chol_t).astype("float64")
        inputs = [*floats, *integers, chol_t]
        outputs = [pt.dscalar()] + [v.type() for v in (*floats[1:], chol_t, floats[0])]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, outputs) -> None:
        sums, level, growth, sigma, chol_p, therapist_of, pattern_of, n_therapists, chol_t = inputs
        count = np.asarray(n_therapists, dtype=np.int64)  # 0-d, as in the compiled graph
        results = kernel(2 * self.n_raters)(
            sums, level, growth, sigma, chol_p, therapist_of, pattern_of, count, chol_t
        )
        for storage, result in zip(outputs, results, strict=True):
            storage[0] = np.asarray(result, dtype="float64")

    def grad(self, inputs, output_grads):
        if any(not isinstance(g.type, DisconnectedType) for g in output_grads[1:]):
            raise NotImplementedError("the integrated log-density has no second derivatives.")
        _, *gradients = self(*inputs)
        scale = output_grads[0]
        level, growth, sigma, chol_p, chol_t, sums = (scale * g for g in gradients)
        return [
            sums,  # data for the normal model; functions of latent values in the others
            level,
            growth,
            sigma,
            chol_p,
            *(
                grad_undefined(self, i, inputs[i], "indices and counts are integers")
                for i in (5, 6, 7)
            ),
            chol_t,
        ]


@numba_basic.register_funcify_default_op_cache_key(IntegratedLogDensity)
def _numba_integrated_log_density(op: IntegratedLogDensity, node: Any = None, **kwargs: Any):
    # the kernel itself, no njit wrapper: numba links a callee's code into its caller and
    # optimises and compiles it all again, so each wrapper level cost about as much as the
    # kernel's own compile (benchmarks/cold_start.py)
    return kernel(2 * op.n_raters), KERNEL_VERSION


def _jax_integrated_log_density(op: IntegratedLogDensity, node: Any = None, **kwargs: Any):
    """JAX backends (nutpie's, numpyro via PyMC): the reference graph of ``_marginal``, with
    JAX's own gradient standing in for the kernel's."""
    import jax
    import jax.numpy as jnp
    from pytensor.graph.fg import FunctionGraph
    from pytensor.link.jax.dispatch import jax_funcify

    from ._marginal import marginal_log_density

    count = node.inputs[7]
    if not isinstance(count, pt.TensorConstant):
        raise NotImplementedError("the JAX form needs the number of therapists as a constant.")
    inputs = [v.type() for v in node.inputs]
    sums, level, growth, sigma, chol_p, therapist_of, _, _, chol_t = inputs
    value = marginal_log_density(
        sums, level, growth, sigma, chol_p, op.n_raters, (therapist_of, int(count.data), chol_t)
    )
    reference = jax_funcify(FunctionGraph(inputs, [value], clone=True))

    def integrated(sums, level, growth, sigma, chol_p, therapist_of, pattern_of, n, chol_t):
        def density(sums, level, growth, sigma, chol_p, chol_t):
            args = (level, growth, sigma, chol_p, therapist_of, pattern_of, n, chol_t)
            out = reference(sums, *args)
            return out[0] if isinstance(out, list | tuple) else out

        value, grads = jax.value_and_grad(density, argnums=(0, 1, 2, 3, 4, 5))(
            sums, level, growth, sigma, chol_p, chol_t
        )
        sums_, level_, growth_, sigma_, chol_p_, chol_t_ = grads
        return value, level_, growth_, sigma_, jnp.tril(chol_p_), jnp.tril(chol_t_), sums_

    return integrated


def register_jax_dispatch() -> None:
    """Teach PyTensor's JAX backend this Op and the correlation factor's (call before compiling
    a model for JAX). Not done at import: PyTensor's JAX dispatch imports jax, which takes
    seconds."""
    from pytensor.link.jax.dispatch.basic import jax_funcify

    from . import _correlation_op

    jax_funcify.register(IntegratedLogDensity)(_jax_integrated_log_density)
    _correlation_op.register_jax_dispatch()


@numba_basic.register_funcify_default_op_cache_key(ConditionalEffectDraws)
def _numba_conditional_effect_draws(op: ConditionalEffectDraws, node: Any = None, **kwargs: Any):
    return effect_sampler(2 * op.n_raters), KERNEL_VERSION
