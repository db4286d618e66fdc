"""The correlated random-effect block shared by the growth models.

Effects of one grouping level (therapist or patient) on level and growth per rater are
multivariate normal with a covariance built from SDs and an LKJ correlation matrix. The
Cholesky factor and the offsets are internal; what results speak is ``<level>_sd``,
``<level>_corr`` and ``<level>_effect``.
"""

from __future__ import annotations

import pymc as pm
import pytensor.tensor as pt

from ..priors import Prior, prior_dist, prior_variable


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


def separate_sd_corr(level: str, *, n_components: int, sd_prior: Prior, corr_prior: Prior) -> None:
    """``<level>_sd`` and ``<level>_corr`` as parameters of their own (no Cholesky factor).

    The same prior as :func:`correlated_covariance` (independent SDs times an LKJ correlation),
    for models whose likelihood takes the covariance itself: sampling the SDs on the log scale
    apart from the correlation avoids the funnel between a small SD and the Cholesky entries
    that scale with it (divergences) and PyMC's packed-Cholesky bookkeeping, which took most of
    a gradient's time (benchmarks/README.md). Two components only (one correlation).
    """
    if n_components != 2:
        raise ValueError("separate SDs and correlations are for two components only.")
    if corr_prior.get("dist", "LKJ") != "LKJ":
        raise ValueError(f"{level}_corr: only an LKJ prior is supported, got {corr_prior}.")
    prior_variable(f"{level}_sd", sd_prior, dims="component")
    # with two components LKJ(eta) is (1 + corr) / 2 ~ Beta(eta, eta)
    eta = float(corr_prior.get("eta", 2.0))
    corr = 2.0 * pm.Beta(f"{level}_corr_packed", alpha=eta, beta=eta) - 1.0
    off_diagonal = pt.as_tensor([[0.0, 1.0], [1.0, 0.0]])
    pm.Deterministic(
        f"{level}_corr", pt.eye(2) + corr * off_diagonal, dims=("component", "component_")
    )


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
