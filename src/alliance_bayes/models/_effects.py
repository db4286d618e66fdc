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
    if corr_prior.get("dist", "LKJ") != "LKJ":
        raise ValueError(f"{level}_corr: only an LKJ prior is supported, got {corr_prior}.")
    transform = sd_transform(sd_prior)
    extra = {} if transform is None else {"default_transform": transform}
    sd = prior_variable(f"{level}_sd", sd_prior, dims="component", **extra)
    eta = float(corr_prior.get("eta", 2.0))
    k = n_components
    shapes = np.array([eta + (k - 2 - i) / 2 for i, _ in _vine_pairs(k)])
    packed = pm.Beta(f"{level}_corr_packed", alpha=shapes, beta=shapes, shape=len(shapes))
    low = correlation_cholesky(2.0 * packed - 1.0, k)
    pm.Deterministic(f"{level}_corr", low @ low.T, dims=("component", "component_"))
    # the likelihood takes the factor straight from the partial correlations. (Factoring the
    # stored correlation again with pt.linalg.cholesky made dual-rater sampling 2-4x slower.) So
    # it is not a function of the stored draws alone: pointwise log-likelihoods and predictions
    # at stored draws go through the explicit twin, which takes <level>_corr.
    return sd[:, None] * low


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
) -> pt.TensorVariable:
    """Random effects ``<level>_effect`` with dims ``(level, "component")``.

    Non-centred by default: ``effect = offset @ L.T`` with standard-normal offsets and ``L`` the
    Cholesky factor of the covariance. ``centered=True`` samples the effects directly from the
    multivariate normal, which pays when there are many observations per group.
    """
    chol = correlated_covariance(
        level, n_components=n_components, sd_prior=sd_prior, corr_prior=corr_prior
    )
    if centered:
        return pm.MvNormal(f"{level}_effect", mu=0.0, chol=chol, dims=(level, "component"))
    offset = pm.Normal(f"{level}_offset", 0.0, 1.0, dims=(level, "component"))
    return pm.Deterministic(f"{level}_effect", offset @ chol.T, dims=(level, "component"))
