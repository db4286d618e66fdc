"""The Cholesky factor of a correlation matrix from canonical partial correlations, as one
compiled node with a compiled vector-Jacobian product.

:func:`._effects.correlation_cholesky_graph` builds the same factor entry by entry in PyTensor
(the reference the tests compare against). For the dual-rater model's two 4 x 4 factors that
graph and its gradient were about 75 of the 162 nodes of the log-density and gradient, each a
call with its own small arrays; here it is two nodes.

Row ``j`` of the factor: ``L[j, i] = z[i, j] sqrt(left_i)`` for ``i < j`` and
``L[j, j] = sqrt(left_j)``, where ``left_0 = 1`` and ``left_{i+1} = left_i (1 - z[i, j]^2)`` is
what the earlier entries of the row leave of its unit length.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch import basic as numba_basic

from ._numba_key import source_version

OP_VERSION = source_version(__file__)


@numba.njit
def _pair_index(i: int, j: int, k: int) -> int:
    """Position of the pair ``(i, j)``, ``i < j``, in ``_effects._vine_pairs`` order."""
    return i * k - i * (i + 1) // 2 + (j - i - 1)


@numba.njit
def cholesky_from_partial(partial: np.ndarray, k: int) -> np.ndarray:
    """The lower Cholesky factor (k, k) for canonical partial correlations ``partial``."""
    low = np.zeros((k, k))
    for j in range(k):
        left = 1.0
        for i in range(j):
            z = partial[_pair_index(i, j, k)]
            low[j, i] = z * np.sqrt(left)
            left *= 1.0 - z * z
        low[j, j] = np.sqrt(left)
    return low


@numba.njit
def partial_vjp(partial: np.ndarray, grad_low: np.ndarray, k: int) -> np.ndarray:
    """The gradient with respect to ``partial`` of ``sum(grad_low * L(partial))``: the recurrence
    of each row run backwards."""
    out = np.zeros(partial.shape[0])
    lefts = np.empty(k)
    for j in range(k):
        left = 1.0
        for i in range(j):
            lefts[i] = left
            z = partial[_pair_index(i, j, k)]
            left *= 1.0 - z * z
        grad_left = grad_low[j, j] * 0.5 / np.sqrt(left)  # d sqrt(left_j)
        for i in range(j - 1, -1, -1):
            n = _pair_index(i, j, k)
            z, root = partial[n], np.sqrt(lefts[i])
            # left_{i+1} = left_i (1 - z^2) and L[j, i] = z sqrt(left_i)
            out[n] = grad_left * lefts[i] * (-2.0 * z) + grad_low[j, i] * root
            grad_left = grad_left * (1.0 - z * z) + grad_low[j, i] * z * 0.5 / root
    return out


class CorrelationCholesky(Op):
    """``partial`` (k (k - 1) / 2,) -> the lower Cholesky factor (k, k) of the correlation."""

    __props__ = ("k",)

    def __init__(self, k: int):
        self.k = int(k)

    def make_node(self, partial) -> Apply:
        partial = pt.as_tensor_variable(partial).astype("float64")
        return Apply(self, [partial], [pt.tensor(dtype="float64", shape=(self.k, self.k))])

    def perform(self, node, inputs, outputs) -> None:
        outputs[0][0] = cholesky_from_partial(inputs[0], self.k)

    def grad(self, inputs, output_grads):
        return [CorrelationCholeskyVJP(self.k)(inputs[0], output_grads[0])]


class CorrelationCholeskyVJP(Op):
    """``(partial, grad_low)`` -> the gradient with respect to ``partial``."""

    __props__ = ("k",)

    def __init__(self, k: int):
        self.k = int(k)

    def make_node(self, partial, grad_low) -> Apply:
        partial = pt.as_tensor_variable(partial).astype("float64")
        grad_low = pt.as_tensor_variable(grad_low).astype("float64")
        return Apply(self, [partial, grad_low], [partial.type()])

    def perform(self, node, inputs, outputs) -> None:
        outputs[0][0] = partial_vjp(inputs[0], inputs[1], self.k)


@numba_basic.register_funcify_default_op_cache_key(CorrelationCholesky)
def _numba_correlation_cholesky(op: CorrelationCholesky, node: Any = None, **kwargs: Any):
    k = op.k

    @numba_basic.numba_njit
    def factor(partial):
        return cholesky_from_partial(partial, k)

    return factor, OP_VERSION


@numba_basic.register_funcify_default_op_cache_key(CorrelationCholeskyVJP)
def _numba_correlation_cholesky_vjp(op: CorrelationCholeskyVJP, node: Any = None, **kwargs: Any):
    k = op.k

    @numba_basic.numba_njit
    def vjp(partial, grad_low):
        return partial_vjp(partial, grad_low, k)

    return vjp, OP_VERSION


def register_jax_dispatch() -> None:
    """Teach PyTensor's JAX backend both Ops, through the reference graph (and JAX's own
    vector-Jacobian product of it)."""
    import jax
    from pytensor.graph.fg import FunctionGraph
    from pytensor.link.jax.dispatch.basic import jax_funcify

    from ._effects import correlation_cholesky_graph

    def reference(k: int):
        partial = pt.dvector()
        graph = FunctionGraph([partial], [correlation_cholesky_graph(partial, k)], clone=True)
        compiled = jax_funcify(graph)
        return lambda z: compiled(z)[0]

    @jax_funcify.register(CorrelationCholesky)
    def _jax_factor(op, node=None, **kwargs):
        return reference(op.k)

    @jax_funcify.register(CorrelationCholeskyVJP)
    def _jax_vjp(op, node=None, **kwargs):
        factor = reference(op.k)
        return lambda partial, grad_low: jax.vjp(factor, partial)[1](grad_low)[0]
