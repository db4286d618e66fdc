"""The log predictive density of a whole group's ratings, its effects drawn from the population.

Leave-one-group-out cross-validation scores a left-out therapist (or patient) by the density of
*all* its ratings jointly, as those of a new therapist: its effects (and its patients') are not
known, so they are integrated over the fitted population. Per posterior draw:

- **normal likelihood**: exact. The ratings of a group are Gaussian with mean ``f`` (the mean
  without the integrated effects) and covariance ``V = D + Z_b S Z_b' + Z_a T Z_a'`` (residual
  variances, patient effects' covariance ``S`` per patient, therapist effects' covariance ``T``
  shared by the therapist's patients). :func:`group_log_density` evaluates ``log N(y; f, V)``
  with the Woodbury identity and the determinant lemma on 2R x 2R matrices, the algebra of
  :mod:`alliance_bayes.models._marginal` written in numpy over draws (``(S^-1 + A)^-1`` as
  ``(I + S A)^-1 S``, so a singular correlation needs no inverse).
- **censored and Student-t likelihoods**: Monte Carlo, by importance sampling. Per posterior
  draw, ``mc_draws`` sets of the group's effects are drawn from their conditional under a normal
  likelihood with the same ``sigma`` (the ratings taken at face value; exact if the likelihood
  were normal) and weighted by ``p(y | u) p(u) / q(u)``; the log-mean-exp of the weights
  estimates the log-density (consistent; its Monte Carlo error shrinks with ``mc_draws``, and
  is larger where the censored or Student-t conditional is far from the normal one).

Grouped by patient, the patient's therapist is a fitted one: its effect is taken from each
posterior draw (``therapist_effect``) and only the patient's own effect is integrated.

:func:`integrated_log_likelihood` gives these densities per group at the draws of a fit
(PSIS-LOO by group then works on a smooth quantity, :func:`alliance_bayes.loo`);
:func:`held_out_log_density` scores the left-out groups of a refit (exact K-fold,
:func:`alliance_bayes.kfold`); :func:`elpd_data` turns per-group draws into an ELPD result that
:func:`alliance_bayes.compare` ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr
from scipy import sparse, stats
from scipy.special import logsumexp

from . import _graph
from ._graph import alliance_mean, compile_graph, fixed_part, stored_names
from .models import explicit_effects
from .models._info import structure_key

GROUPINGS = ("therapist", "patient")
# the proposal's residual SD per sigma, and for a rating at a bound of a censored likelihood
PROPOSAL_SD = {"normal": 1.0, "censored": 1.0, "student_t": 1.0}
CENSORED_SPREAD = 3.0
MC_DRAWS = 200  # importance draws of a group's effects per posterior draw (censored, Student-t)
# k x k matrices per block of draws (about 40 MB per array of 4 x 4 matrices)
BLOCK_MATRICES = 300_000


def group_log_density(
    residual: np.ndarray,
    time: np.ndarray,
    rater: np.ndarray,
    patient: np.ndarray,
    patient_group: np.ndarray,
    n_groups: int,
    sigma: np.ndarray,
    patient_cov: np.ndarray,
    therapist_cov: np.ndarray | None = None,
) -> np.ndarray:
    """Log-density of each group's ratings with the random effects integrated out, per draw.

    Parameters
    ----------
    residual
        (draws, n): ratings minus their mean without the integrated effects.
    time, rater, patient
        (n,): coded time, rater index and patient index (``0..P-1``) of each rating.
    patient_group
        (P,): the group (``0..n_groups-1``) of each patient.
    n_groups
        Number of groups; a group without ratings gets 0.
    sigma
        (draws, R): residual SD per rater.
    patient_cov
        (draws, k, k): covariance of a patient's effects, ``k = 2R`` (level, growth per rater).
    therapist_cov
        (draws, k, k): covariance of the therapist effects, shared by the patients of a group
        (a group is then one therapist); ``None``: the groups' patients are independent given
        the mean (the therapist effect is in ``residual`` already).

    Returns
    -------
    numpy.ndarray
        (draws, n_groups).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> residual = rng.normal(size=(3, 4))
    >>> time, rater, patient = np.array([0.0, 1, 0, 1]), np.zeros(4, int), np.array([0, 0, 1, 1])
    >>> cov = np.broadcast_to(np.diag([0.5, 0.1]), (3, 2, 2))
    >>> group_log_density(residual, time, rater, patient, np.array([0, 0]), 1,
    ...                   np.ones((3, 1)), cov, cov).shape
    (3, 1)
    """
    residual = np.atleast_2d(np.asarray(residual, dtype=float))
    sigma = np.asarray(sigma, dtype=float)
    n_draws, n_raters = sigma.shape
    n_patients = len(patient_group)
    k = 2 * n_raters
    time = np.asarray(time, dtype=float)
    cell = np.asarray(patient) * n_raters + np.asarray(rater)
    n_cells = n_patients * n_raters
    to_cells = sparse.csr_matrix(
        (np.ones(len(cell)), (cell, np.arange(len(cell)))), shape=(n_cells, len(cell))
    )
    design = [np.bincount(cell, time**p, minlength=n_cells) for p in (0, 1, 2)]
    n, x, xx = (d.reshape(n_patients, n_raters) for d in design)
    to_groups = sparse.csr_matrix(
        (np.ones(n_patients), (np.asarray(patient_group), np.arange(n_patients))),
        shape=(n_groups, n_patients),
    )
    out = np.empty((n_draws, n_groups))
    block = max(1, BLOCK_MATRICES // max(n_patients, 1))
    for start in range(0, n_draws, block):
        part = slice(start, min(start + block, n_draws))
        r = residual[part]
        sums = [
            np.asarray(to_cells @ v.T).T.reshape(-1, n_patients, n_raters)
            for v in (r, r * time, r**2)
        ]
        out[part] = _block_density(
            sums,
            (n, x, xx),
            sigma[part],
            patient_cov[part],
            None if therapist_cov is None else therapist_cov[part],
            to_groups,
            k,
        )
    return out


def _block_density(sums, design, sigma, patient_cov, therapist_cov, to_groups, k):
    """:func:`group_log_density` for one block of draws."""
    r_sum, xr_sum, rr_sum = sums  # (draws, P, R)
    n, x, xx = design  # (P, R)
    w = sigma[:, None, :] ** -2  # (draws, 1, R)
    own = -0.5 * (n * np.log(2 * np.pi) + n * np.log(sigma[:, None, :] ** 2) + w * rr_sum)
    n_draws, n_patients, n_raters = r_sum.shape
    a = np.zeros((n_draws, n_patients, k, k))
    c = np.zeros((n_draws, n_patients, k))
    for r in range(n_raters):
        lvl, grw = 2 * r, 2 * r + 1
        a[..., lvl, lvl] = w[..., r] * n[:, r]
        a[..., lvl, grw] = a[..., grw, lvl] = w[..., r] * x[:, r]
        a[..., grw, grw] = w[..., r] * xx[:, r]
        c[..., lvl] = w[..., r] * r_sum[..., r]
        c[..., grw] = w[..., r] * xr_sum[..., r]
    eye = np.eye(k)
    s = patient_cov[:, None]  # (draws, 1, k, k)
    q = eye + s @ a  # I + S A, |I + S A| = |S| |S^-1 + A|
    m_inv = np.linalg.solve(q, np.broadcast_to(s, q.shape))  # (S^-1 + A)^-1
    m_inv_c = (m_inv @ c[..., None])[..., 0]
    patients = own.sum(-1) - 0.5 * (np.linalg.slogdet(q)[1] - (c * m_inv_c).sum(-1))
    per_group = lambda v: np.asarray(to_groups @ v.T).T  # noqa: E731  (draws, P) -> (draws, G)
    total = per_group(patients)
    if therapist_cov is None:
        return total
    b = a - a @ m_inv @ a  # what a patient's ratings say about its therapist's effect
    d = c - (a @ m_inv_c[..., None])[..., 0]
    n_groups = to_groups.shape[0]
    b_t = per_group(b.transpose(0, 2, 3, 1).reshape(-1, n_patients)).reshape(
        n_draws, k, k, n_groups
    )
    b_t = b_t.transpose(0, 3, 1, 2)
    d_t = per_group(d.transpose(0, 2, 1).reshape(-1, n_patients)).reshape(n_draws, k, n_groups)
    d_t = d_t.transpose(0, 2, 1)
    t = therapist_cov[:, None]
    q_t = eye + t @ b_t
    inner = np.linalg.solve(q_t, np.broadcast_to(t, q_t.shape)) @ d_t[..., None]
    return total - 0.5 * (np.linalg.slogdet(q_t)[1] - (d_t * inner[..., 0]).sum(-1))


# ------------------------------------------------------------------------ draws of a fit
def _flat(posterior: xr.Dataset, name: str) -> np.ndarray:
    values = posterior[name].to_numpy()
    return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])


def _covariance(posterior: xr.Dataset, group: str) -> np.ndarray:
    sd = _flat(posterior, f"{group}_sd")
    corr = _flat(posterior, f"{group}_corr")
    return sd[:, :, None] * corr * sd[:, None, :]


def fixed_mean_function(model: pm.Model) -> Any:
    """The mean of every rating without random effects, a function of the stored draws.

    Compiled once per structure and data (kept in :data:`alliance_bayes._graph.CACHE`); the
    model's data are constants, so it serves every refit of that model's data.

    Examples
    --------
    >>> (mean,) = fixed_mean_function(model)(idata.posterior)
    >>> mean.shape  # chain, draw, obs
    (2, 40, 384)
    """
    from .models._info import model_info

    key = ("fixed_mean", structure_key(model), model_info(model).data.fingerprint())

    def build() -> Any:
        explicit = explicit_effects(model)
        mean = alliance_mean(explicit)
        return compile_graph(explicit, [fixed_part(explicit, mean)], stored_names(explicit))

    return _graph.CACHE.get("lines", key, build)


def held_out_log_density(
    posterior: xr.Dataset,
    fixed: np.ndarray,
    rows: np.ndarray,
    groups: np.ndarray,
    data: Any,
    *,
    by: str,
    likelihood: str,
    mc_draws: int = MC_DRAWS,
    rng: np.random.Generator | None = None,
    diagnostics: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Log-density of the ratings of each group in ``groups`` as a new therapist or patient.

    Parameters
    ----------
    posterior
        Draws of a fit (a refit without these groups, or the fit itself for PSIS-LOO).
    fixed
        (chain, draw, n_rows of ``data``): each rating's mean without random effects
        (:func:`fixed_mean_function`).
    rows
        Positions (in ``data``) of the ratings to score.
    groups
        (len(rows),): the group index (therapist or patient, by ``by``) of each of those rows;
        the output has one column per distinct value, in sorted order.
    data
        The :class:`~alliance_bayes.data.AllianceData` of the rows.
    by
        ``"therapist"`` (therapist and patient effects integrated) or ``"patient"`` (the
        patient's effects integrated, its therapist's taken from each draw).
    likelihood
        ``"normal"`` (exact), ``"student_t"`` or ``"censored"`` (importance sampling,
        ``mc_draws`` sets of effects per draw, drawn by ``rng``).
    diagnostics
        A dict that, for importance sampling, receives ``"importance_ess"`` (draws, groups):
        the effective share of the ``mc_draws`` weights, ``(sum w)^2 / (M sum w^2)`` (1: all
        weights equal; near ``1/M``: one draw dominates and the estimate is too low).

    Returns
    -------
    numpy.ndarray
        (draws, n_groups), draws flattened over chains.

    Examples
    --------
    >>> from alliance_bayes.result import rebuild_data
    >>> data = rebuild_data(idata)
    >>> (fixed,) = fixed_mean_function(model)(idata.posterior)
    >>> rows = np.flatnonzero(data.obs_therapist < 2)
    >>> held_out_log_density(idata.posterior, fixed, rows, data.obs_therapist[rows], data,
    ...                      by="therapist", likelihood="normal").shape
    (80, 2)
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {list(GROUPINGS)}, got {by!r}.")
    rows = np.asarray(rows, dtype=int)
    labels, group = np.unique(np.asarray(groups), return_inverse=True)
    mean = fixed.reshape(-1, fixed.shape[-1])[:, rows]
    patient_all = data.obs_patient[rows]
    patients, patient = np.unique(patient_all, return_inverse=True)
    patient_group = np.zeros(len(patients), dtype=int)
    patient_group[patient] = group
    time, rater = data.time[rows], data.obs_rater[rows]
    if by == "patient":  # the fitted therapist's effect at each draw
        effect = _flat(posterior, "therapist_effect")[:, data.obs_therapist[rows]]
        mean = mean + np.take_along_axis(effect, 2 * rater[None, :, None], -1)[..., 0]
        mean = mean + np.take_along_axis(effect, 2 * rater[None, :, None] + 1, -1)[..., 0] * time
    y = data.score[rows]
    sigma = _flat(posterior, "sigma").reshape(mean.shape[0], -1)
    patient_cov = _covariance(posterior, "patient")
    therapist_cov = _covariance(posterior, "therapist") if by == "therapist" else None
    if likelihood == "normal":
        return group_log_density(
            y - mean,
            time,
            rater,
            patient,
            patient_group,
            len(labels),
            sigma,
            patient_cov,
            therapist_cov,
        )
    nu = _flat(posterior, "nu").reshape(-1) if likelihood == "student_t" else None
    return _monte_carlo_density(
        y,
        mean,
        (time, rater, patient, patient_group, len(labels)),
        sigma,
        (patient_cov, therapist_cov),
        (likelihood, nu, data.scale),
        mc_draws,
        rng if rng is not None else np.random.default_rng(),
        diagnostics,
    )


def _monte_carlo_density(y, mean, structure, sigma, covs, family, mc_draws, rng, diagnostics=None):
    """Importance-sampling estimate, per draw and group, of the density of the group's ratings
    with its effects integrated out (censored and Student-t likelihoods).

    The proposal is the effects' exact conditional under the normal likelihood with the same
    ``sigma`` (the group's ratings taken at face value): ``N(C Z' V^-1 r, C - C Z' V^-1 Z C)``
    with ``C`` the effects' prior covariance (therapist and patients of the group) and
    ``V = Z C Z' + D``. The weights are ``p(y | u) p(u) / q(u)``; their log-mean-exp estimates
    the log-density, exactly so when the likelihood is normal (every weight is ``p(y)``).
    """
    time, rater, patient, patient_group, n_groups = structure
    patient_cov, therapist_cov = covs
    likelihood, nu, scale = family
    n_draws = mean.shape[0]
    out = np.empty((n_draws, n_groups))
    ess = np.empty((n_draws, n_groups))
    row_group = patient_group[patient]
    for g in range(n_groups):
        rows = np.flatnonzero(row_group == g)
        members, local = np.unique(patient[rows], return_inverse=True)
        z, prior = _effect_design(
            time[rows], rater[rows], local, len(members), patient_cov, therapist_cov
        )
        residual = y[rows] - mean[:, rows]
        sd = sigma[:, rater[rows]]
        spread = sd * PROPOSAL_SD[likelihood]  # the proposal's residual SDs
        if likelihood == "censored":  # a rating at a bound says less than one inside
            spread = np.where(np.isin(y[rows], scale), CENSORED_SPREAD * spread, spread)
        if likelihood == "student_t":  # the t's variance, when it has one
            spread = spread * np.sqrt(np.where(nu > 2.5, nu / (nu - 2), 5.0))[:, None]
        block = max(1, 4_000_000 // (mc_draws * max(z.shape[1], len(rows))))
        for start in range(0, n_draws, block):
            part = slice(start, min(start + block, n_draws))
            out[part, g], ess[part, g] = _importance_block(
                y[rows],
                mean[part][:, rows],
                residual[part],
                (sd[part], spread[part]),
                z,
                prior[part],
                (likelihood, None if nu is None else nu[part], scale),
                mc_draws,
                rng,
            )
    if diagnostics is not None:
        diagnostics["importance_ess"] = ess
    return out


def _effect_design(time, rater, local, n_members, patient_cov, therapist_cov):
    """Each rating's row ``Z`` over the group's effects (its patients', then the therapist's),
    and their prior covariance (draws, d, d), block diagonal."""
    k = patient_cov.shape[-1]
    blocks = n_members + (therapist_cov is not None)
    d = k * blocks
    z = np.zeros((len(time), d))
    idx = np.arange(len(time))
    z[idx, local * k + 2 * rater] = 1.0
    z[idx, local * k + 2 * rater + 1] = time
    if therapist_cov is not None:
        z[idx, n_members * k + 2 * rater] = 1.0
        z[idx, n_members * k + 2 * rater + 1] = time
    prior = np.zeros((patient_cov.shape[0], d, d))
    for j in range(n_members):
        prior[:, j * k : (j + 1) * k, j * k : (j + 1) * k] = patient_cov
    if therapist_cov is not None:
        prior[:, n_members * k :, n_members * k :] = therapist_cov
    return z, prior


def _importance_block(y, mean, residual, sd, z, prior, family, mc_draws, rng):
    """:func:`_monte_carlo_density` for one group and a block of draws: (draws,)."""
    likelihood, nu, scale = family
    sd, spread = sd
    d = z.shape[1]
    jitter = 1e-10 * np.eye(d)
    cz = prior @ z.T  # (S, d, n)
    v = z @ cz + np.einsum("sn,nm->snm", spread**2, np.eye(len(y)))  # Z C Z' + D
    gain = np.linalg.solve(v, cz.transpose(0, 2, 1)).transpose(0, 2, 1)  # C Z' V^-1
    centre = (gain @ residual[..., None])[..., 0]  # (S, d)
    cov = prior - gain @ cz.transpose(0, 2, 1)
    cov = (cov + cov.transpose(0, 2, 1)) / 2
    chol_q = np.linalg.cholesky(cov + jitter)
    chol_p = np.linalg.cholesky(prior + jitter)
    noise = rng.standard_normal((mean.shape[0], d, mc_draws))
    u = centre[..., None] + chol_q @ noise  # (S, d, M)
    log_q = _mvn_logpdf_whitened(noise, chol_q)
    log_p = _mvn_logpdf_whitened(np.linalg.solve(chol_p, u), chol_p)
    mu = mean[..., None] + z @ u  # (S, n, M)
    scale_sd = sd[..., None]
    if likelihood == "student_t":
        point = stats.t.logpdf(y[:, None], nu[:, None, None], loc=mu, scale=scale_sd)
    elif likelihood == "censored":
        point = _censored_logpdf(y[:, None], mu, scale_sd, scale)
    else:  # normal: the proposal is exact (tests)
        point = stats.norm.logpdf(y[:, None], loc=mu, scale=scale_sd)
    log_w = point.sum(axis=1) + log_p - log_q  # (S, M)
    share = np.exp(2 * logsumexp(log_w, axis=1) - logsumexp(2 * log_w, axis=1)) / mc_draws
    return logsumexp(log_w, axis=1) - np.log(mc_draws), share


def _mvn_logpdf_whitened(white: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """``log N(x; m, L L')`` given ``L^-1 (x - m)`` (S, d, M) and ``L`` (S, d, d): (S, M)."""
    d = chol.shape[-1]
    log_det = np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)  # (S,)
    return -0.5 * (white**2).sum(axis=1) - log_det[:, None] - 0.5 * d * np.log(2 * np.pi)


def _censored_logpdf(y: np.ndarray, mu: np.ndarray, sd: np.ndarray, scale: Any) -> np.ndarray:
    low, high = scale
    z = (y - mu) / sd
    return np.where(
        y <= low,
        stats.norm.logcdf((low - mu) / sd),
        np.where(y >= high, stats.norm.logsf((high - mu) / sd), stats.norm.logpdf(z) - np.log(sd)),
    )


def integrated_log_likelihood(
    idata: az.InferenceData,
    by: str = "therapist",
    *,
    mc_draws: int = MC_DRAWS,
    random_seed: Any = None,
) -> xr.DataArray:
    """Per group and draw of a fit, the log-density of the group's ratings as a new group's.

    The quantity PSIS-LOO by group needs: unlike the sum of the pointwise log-likelihood, which
    conditions on the group's own effects, it is smooth in the population parameters.

    Returns
    -------
    xarray.DataArray
        ``(chain, draw, by)`` with the groups' labels (groups without ratings left out).

    Examples
    --------
    >>> integrated_log_likelihood(idata, "therapist").dims
    ('chain', 'draw', 'therapist')
    """
    from .result import predictive_model, read_attrs, rebuild_data

    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {list(GROUPINGS)}, got {by!r}.")
    spec = read_attrs(idata).require("spec")
    if spec.kind == "regression":
        raise ValueError("leave-one-group-out scores need a growth model (patients in therapists).")
    data = rebuild_data(idata)
    model = predictive_model(idata)
    posterior = idata.posterior
    (fixed,) = fixed_mean_function(model)(posterior)
    rows = np.flatnonzero(data.observed)
    codes = data.obs_therapist if by == "therapist" else data.obs_patient
    values = held_out_log_density(
        posterior,
        fixed,
        rows,
        codes[rows],
        data,
        by=by,
        likelihood=spec.likelihood,
        mc_draws=mc_draws,
        rng=np.random.default_rng(random_seed),
    )
    labels = (data.therapist_labels if by == "therapist" else data.patient_labels)[
        np.unique(codes[rows])
    ]
    shape = (posterior.sizes["chain"], posterior.sizes["draw"], len(labels))
    return xr.DataArray(
        values.reshape(shape),
        dims=("chain", "draw", by),
        coords={"chain": posterior["chain"], "draw": posterior["draw"], by: list(labels)},
        name="alliance",
    )


# ------------------------------------------------------------------------ ELPD results
def log_mean_exp(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """``log(mean(exp(values)))`` along ``axis``, without overflow.

    Examples
    --------
    >>> round(float(log_mean_exp(np.log([1.0, 3.0]))), 12)  # log 2
    0.69314718056
    """
    values = np.asarray(values, dtype=float)
    return logsumexp(values, axis=axis) - np.log(values.shape[axis])


def draws_khat(lpd: np.ndarray) -> np.ndarray:
    """Pareto k of the ratios ``exp(lpd)`` over draws, per group: how far the draw average of
    a density is from trustworthy (above 0.7, a few draws dominate the average).

    ``lpd`` is (draws, groups).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> bool(draws_khat(rng.normal(size=(1000, 1)))[0] < 0.7)
    True
    """
    lpd = np.asarray(lpd, dtype=float)
    _, k = az.psislw(lpd.T.copy(), normalize=True)
    return np.asarray(k, dtype=float).reshape(lpd.shape[1])


def elpd_data(
    elpd: np.ndarray,
    pareto_k: np.ndarray,
    labels: Sequence[Any],
    *,
    by: str,
    n_samples: int,
    lppd: np.ndarray | None = None,
    **entries: Any,
) -> az.ELPDData:
    """An ArviZ ELPD result (as :func:`arviz.loo` returns) from per-group estimates.

    ``elpd`` and ``pareto_k`` are per group; ``lppd`` (per group, the fit's own log predictive
    density) gives ``p_loo`` as ``sum(lppd - elpd)``. ``entries`` are stored too (``by``,
    ``method``, ``likelihood``, ...).

    Examples
    --------
    >>> result = elpd_data(np.array([-3.0, -4.0]), np.array([0.1, 0.9]), ["a", "b"], by="therapist",
    ...                    n_samples=100)
    >>> float(result["elpd_loo"]), result["loo_i"].dims
    (-7.0, ('therapist',))
    """
    elpd = np.asarray(elpd, dtype=float)
    n = len(elpd)
    coords = {by: list(labels)}
    loo_i = xr.DataArray(elpd, dims=(by,), coords=coords, name="loo_i")
    k = xr.DataArray(np.asarray(pareto_k, dtype=float), dims=(by,), coords=coords, name="pareto_k")
    good_k = min(1 - 1 / np.log10(n_samples), 0.7) if n_samples > 10 else 0.7
    p = float(np.sum(np.asarray(lppd) - elpd)) if lppd is not None else np.nan
    values = {
        "elpd_loo": float(elpd.sum()),
        "se": float((n * np.var(elpd)) ** 0.5),
        "p_loo": p,
        "n_samples": int(n_samples),
        "n_data_points": n,
        "warning": bool((k > good_k).any()),
        "loo_i": loo_i,
        "pareto_k": k,
        "scale": "log",
        "good_k": good_k,
        "by": by,
    } | entries
    return az.ELPDData(data=list(values.values()), index=list(values))
