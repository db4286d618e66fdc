"""The correlated random-effect block shared by the growth models.

Effects of one grouping level (therapist or patient) on level and growth per rater are
multivariate normal with a covariance built from SDs and an LKJ correlation matrix. The
Cholesky factor and the offsets are internal; what results speak is ``<level>_sd``,
``<level>_corr`` and ``<level>_effect``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..priors import Prior, prior_dist, prior_variable
from ._sd_transform import sd_transform


def correlated_covariance(
    level: str, *, n_components: int, sd_prior: Prior, corr_prior: Prior
) -> pt.TensorVariable:
    """Cholesky factor of the effects' covariance; records ``<level>_sd`` and ``<level>_corr``."""
    if corr_prior.get("dist", "LKJ") != "LKJ":
        raise ValueError(f"{level}_corr: only an LKJ prior is supported, got {corr_prior}.")
    chol, corr, sd = pm.LKJCholeskyCov(
        f"{level}_chol_cov",
        n=n_components,
        eta=float(corr_prior.get("eta", 2.0)),
        sd_dist=prior_dist(f"{level}_sd", sd_prior, shape=n_components),
        compute_corr=True,
        store_in_trace=False,
    )
    pm.Deterministic(f"{level}_sd", sd, dims="component")
    pm.Deterministic(f"{level}_corr", corr, dims=("component", "component_"))
    return chol


def separate_sd_corr(
    level: str, *, n_components: int, sd_prior: Prior, corr_prior: Prior
) -> pt.TensorVariable:
    """``<level>_sd`` and ``<level>_corr`` as parameters of their own; returns the covariance's
    Cholesky factor ``diag(sd) L`` with ``L`` the correlation's.

    The same prior as :func:`correlated_covariance` (independent SDs times an LKJ correlation),
    for models whose likelihood takes the covariance itself: sampling the SDs apart from the
    correlations avoids the funnel between a small SD and the Cholesky entries that scale with it
    (divergences) and PyMC's packed-Cholesky bookkeeping, which took most of a gradient's time
    (benchmarks/README.md). The SDs are sampled on the :class:`._sd_transform.ProbitLinear`
    scale, whose left tail is Gaussian where the log scale's is exponential.

    The correlations are sampled as canonical partial correlations (the C-vine of Lewandowski,
    Kurowicka and Joe 2009), stored as ``<level>_corr_packed`` = ``(1 + z) / 2``: independent
    ``Beta(b, b)`` with ``b = eta + (k - 2 - i) / 2`` for the partial correlations of component
    ``i`` with the later ones given the earlier ones. That is exactly LKJ(eta) on the correlation
    matrix; with two components it is ``(1 + corr) / 2 ~ Beta(eta, eta)``.
    """
    _check_lkj(level, corr_prior)
    sd = prior_variable(f"{level}_sd", sd_prior, dims="component", **_sd_scale(sd_prior))
    low = _vine_factor(level, corr_prior, n_components)
    pm.Deterministic(f"{level}_corr", low @ low.T, dims=("component", "component_"))
    # the likelihood takes the factor straight from the partial correlations. (Factoring the
    # stored correlation again with pt.linalg.cholesky made dual-rater sampling 2-4x slower.) So
    # it is not a function of the stored draws alone: pointwise log-likelihoods and predictions
    # at stored draws go through the explicit twin, which takes <level>_corr.
    return sd[:, None] * low


def shaped_sd_corr(
    level: str,
    *,
    n_components: int,
    sd_prior: Prior,
    corr_prior: Prior,
    active: np.ndarray,
    correlated: bool,
) -> pt.TensorVariable:
    """:func:`separate_sd_corr` for the model shapes of :class:`~alliance_bayes.ModelSpec`:
    only the ``active`` components have effects (the others' SDs are exactly 0: no therapist
    slopes), correlated by LKJ among themselves or, with ``correlated=False``, independent.

    ``<level>_sd`` and ``<level>_corr`` keep every component (an inactive one with SD 0 and
    correlation 0 with the others), so results speak the vocabulary of the full model; the
    sampled SDs are ``<level>_sd_packed`` (the active ones). The factor returned is
    ``diag(sd) L``, with zero rows for the inactive components: the integrated likelihood
    takes such a singular factor (its gradient needs no inverse of it).
    """
    active = np.asarray(active, dtype=bool)
    if active.all() and correlated:
        return separate_sd_corr(
            level, n_components=n_components, sd_prior=sd_prior, corr_prior=corr_prior
        )
    index = np.flatnonzero(active)
    k = len(index)
    prior = _prior_of(sd_prior, active)
    packed = prior_variable(f"{level}_sd_packed", prior, shape=k, **_sd_scale(prior))
    sd = pt.set_subtensor(pt.zeros(n_components)[index], packed)
    pm.Deterministic(f"{level}_sd", sd, dims="component")
    if correlated and k > 1:
        _check_lkj(level, corr_prior)
        low_active = _vine_factor(level, corr_prior, k)
    else:
        low_active = pt.eye(k)
    low = pt.set_subtensor(pt.eye(n_components)[np.ix_(index, index)], low_active)
    pm.Deterministic(f"{level}_corr", low @ low.T, dims=("component", "component_"))
    return sd[:, None] * low


def _check_lkj(level: str, corr_prior: Prior) -> None:
    if corr_prior.get("dist", "LKJ") != "LKJ":
        raise ValueError(f"{level}_corr: only an LKJ prior is supported, got {corr_prior}.")


def _sd_scale(prior: Prior) -> dict[str, Any]:
    """The keyword that samples an SD with this prior on its :func:`sd_transform` scale."""
    transform = sd_transform(prior)
    return {} if transform is None else {"default_transform": transform}


def _vine_factor(level: str, corr_prior: Prior, k: int) -> pt.TensorVariable:
    """The Cholesky factor of a k x k LKJ(eta) correlation, from its canonical partial
    correlations ``<level>_corr_packed`` (independent Beta, see :func:`separate_sd_corr`)."""
    eta = float(corr_prior.get("eta", 2.0))
    shapes = np.array([eta + (k - 2 - i) / 2 for i, _ in _vine_pairs(k)])
    packed = pm.Beta(f"{level}_corr_packed", alpha=shapes, beta=shapes, shape=len(shapes))
    return correlation_cholesky(2.0 * packed - 1.0, k)


def _prior_of(prior: Prior, active: np.ndarray) -> Prior:
    """The prior of the active components: parameters given per component are subset."""
    n = len(active)
    return {
        key: (list(np.asarray(value)[active]) if np.ndim(value) == 1 and len(value) == n else value)
        for key, value in prior.items()
    }


def shaped_values(
    level: str, sd: np.ndarray, corr: np.ndarray, active: np.ndarray, correlated: bool
) -> dict[str, np.ndarray]:
    """The free variables of a block of :func:`shaped_sd_corr` at given SDs and correlations
    (``simulate`` fixes them so): the active SDs and, when correlated, the partial correlations
    of the active components (``(1 + z) / 2``, the inverse of :func:`correlation_cholesky`).

    Examples
    --------
    >>> corr = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]])
    >>> values = shaped_values("t", np.array([1.0, 0.0, 2.0]), corr, np.array([1, 0, 1]), True)
    >>> values["t_sd_packed"].tolist(), values["t_corr_packed"].tolist()
    ([1.0, 2.0], [0.75])
    """
    index = np.flatnonzero(np.asarray(active, dtype=bool))
    out = {f"{level}_sd_packed": np.asarray(sd, dtype=float)[index]}
    if correlated and len(index) > 1:
        low = np.linalg.cholesky(np.asarray(corr, dtype=float)[np.ix_(index, index)])
        partial = []
        for i, j in _vine_pairs(len(index)):
            left = 1.0 - np.sum(low[j, :i] ** 2)
            partial.append(low[j, i] / np.sqrt(left))
        out[f"{level}_corr_packed"] = (1.0 + np.array(partial)) / 2.0
    return out


def shaped_truth(
    sd: np.ndarray, corr: np.ndarray, active: np.ndarray, correlated: bool
) -> tuple[np.ndarray, np.ndarray]:
    """SDs and correlations as a shaped block holds them: 0 for the inactive components (and
    their correlations), and no correlations at all unless ``correlated``."""
    active = np.asarray(active, dtype=bool)
    sd = np.where(active, np.asarray(sd, dtype=float), 0.0)
    keep = active[:, None] & active[None, :] if correlated else np.eye(len(active), dtype=bool)
    corr = np.where(keep, np.asarray(corr, dtype=float), 0.0)
    np.fill_diagonal(corr, 1.0)
    return sd, corr


def _vine_pairs(k: int) -> list[tuple[int, int]]:
    """The pairs ``(i, j)``, ``i < j``, in the order of ``<level>_corr_packed``."""
    return [(i, j) for i in range(k) for j in range(i + 1, k)]


def correlation_cholesky(partial: Any, k: int) -> pt.TensorVariable:
    """Lower Cholesky factor of the correlation matrix with canonical partial correlations
    ``partial`` (in :func:`_vine_pairs` order), as one compiled node (``_correlation_op``)."""
    from ._correlation_op import CorrelationCholesky

    return CorrelationCholesky(k)(partial)


def correlation_cholesky_graph(partial: Any, k: int) -> pt.TensorVariable:
    """:func:`correlation_cholesky` built entry by entry in PyTensor (the reference form): row
    ``j`` is ``z[i, j]`` times the square root of what the earlier entries of the row left of its
    unit length."""
    at = {pair: n for n, pair in enumerate(_vine_pairs(k))}
    rows = []
    for j in range(k):
        row, left = [], pt.ones(())
        for i in range(j):
            z = partial[at[(i, j)]]
            row.append(z * pt.sqrt(left))
            left = left * (1.0 - z**2)
        row.append(pt.sqrt(left))
        row.extend(pt.zeros(()) for _ in range(j + 1, k))
        rows.append(pt.stack(row))
    return pt.stack(rows)


def correlated_effects(
    level: str,
    *,
    n_components: int,
    sd_prior: Prior,
    corr_prior: Prior,
    centered: bool = False,
    shape: dict[str, Any] | None = None,
) -> pt.TensorVariable:
    """Random effects ``<level>_effect`` with dims ``(level, "component")``.

    ``shape`` (``active``, ``correlated``): a block shaped as in :func:`shaped_sd_corr`.

    Non-centred by default: ``effect = offset @ L.T`` with standard-normal offsets and ``L`` the
    Cholesky factor of the covariance. ``centered=True`` samples the effects directly from the
    multivariate normal, which pays when there are many observations per group.
    """
    if shape is not None and not (shape["active"].all() and shape["correlated"]):
        chol = shaped_sd_corr(
            level, n_components=n_components, sd_prior=sd_prior, corr_prior=corr_prior, **shape
        )
    else:
        chol = correlated_covariance(
            level, n_components=n_components, sd_prior=sd_prior, corr_prior=corr_prior
        )
    if centered:
        return pm.MvNormal(f"{level}_effect", mu=0.0, chol=chol, dims=(level, "component"))
    offset = pm.Normal(f"{level}_offset", 0.0, 1.0, dims=(level, "component"))
    return pm.Deterministic(f"{level}_effect", offset @ chol.T, dims=(level, "component"))
