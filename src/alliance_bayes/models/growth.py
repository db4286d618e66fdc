"""The three-level growth model of the alliance (sessions in patients in therapists).

    y[i]  ~ Normal(mu[i], sigma[r])      (or StudentT, or Normal censored at the scale's bounds)
    mu[i] = level[r] + growth[r] x[i]
          + z[t] . (level_coef[r] + growth_coef[r] x[i])
          + w[p] . (patient_level_coef[r] + patient_growth_coef[r] x[i])
          + a[t, (r, level)] + a[t, (r, growth)] x[i] + b[p, (r, level)] + b[p, (r, growth)] x[i]

with correlated therapist effects ``a`` and patient effects ``b`` (2R x 2R LKJ covariances).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..data import AllianceData
from ..errors import DataWarning
from ..priors import Prior, prior_variable, resolve_priors
from ..spec import ModelSpec
from ._covariates import select_covariates, therapist_covariate_matrix, within_between
from ._effects import correlated_effects, shaped_sd_corr
from ._info import attach_info
from ._latent import latent_values, observed_sums
from ._marginal import (
    LINE_NAMES,
    RATING_SUMS,
    design_patterns,
    rating_sums,
)
from ._marginal_kernel import IntegratedLogDensity
from ._session_terms import session_terms, shifted_sums, term_effect

# the keywords of growth_model that a ModelSpec supplies when it is given
# a rater's share of ratings at a bound of the scale from which growth_model suggests the
# censored likelihood (a few ratings at the ceiling hardly move the fit; in many WAI samples a
# sixth to a fifth of patient ratings sit at the maximum)
BOUND_SHARE_WARNING = 0.05

OPTIONS = (
    "therapist_covariates",
    "patient_covariates",
    "likelihood",
    "centered",
    "marginal",
    "priors",
    "therapist_slopes",
    "correlated",
    "time_shape",
    "knot",
    "session_covariates",
)


def growth_model(
    data: AllianceData,
    *,
    therapist_covariates: Sequence[str] | None = None,
    patient_covariates: Sequence[str] | None = None,
    likelihood: str = "normal",
    priors: Mapping[str, Prior] | None = None,
    centered: bool = False,
    marginal: bool | None = None,
    therapist_slopes: bool = True,
    correlated: bool = True,
    time_shape: str = "linear",
    knot: float | None = None,
    session_covariates: Sequence[str] | None = None,
    spec: ModelSpec | None = None,
) -> pm.Model:
    """Build the multilevel growth model for one rater or two raters jointly.

    Parameters
    ----------
    data
        :class:`AllianceData`. Rows with a missing outcome are left out of the likelihood; with no
        outcome at all (a planned design) every row is observed through a placeholder, so the
        model can simulate.
    therapist_covariates, patient_covariates
        Which covariates of ``data`` predict level and growth (default: all of them). Missing
        therapist covariates are imputed as latent variables.
    likelihood
        ``"normal"``, ``"student_t"`` or ``"censored"`` (Normal censored at ``data.scale``).
    priors
        Replacements for the defaults, by name (see :func:`alliance_bayes.default_priors`).
    centered
        Centred random effects (default non-centred).
    marginal
        Integrate the therapist and patient effects out of the (normal) likelihood analytically;
        ``fit`` draws them from their exact conditional after sampling, so results keep the
        vocabulary. Default (``None``): integrated out for the normal likelihood and non-centred
        effects, one rater or two (it samples fastest there), explicit otherwise (see
        ``ModelSpec.integrates_effects``).
        The integrated likelihood reads the ratings through their sums per patient, made when the
        model is built: to fit new ratings, build the model again (``fit`` checks this); tools
        that swap ``alliance_observed`` by hand need ``marginal=False``.
    therapist_slopes, correlated, time_shape, knot
        The model's shape (see :class:`ModelSpec`): no therapist effects on growth,
        independent effects, and a quadratic or piecewise-linear (``knot``: a session) mean
        trajectory, whose extra term's coefficient is ``session_coef``.
    session_covariates
        Which time-varying covariates of ``data`` predict the ratings (default: all of them),
        each split into its within-patient part (a ``session_coef`` term, ``"<name>
        (within)"``) and its between-patient part (a patient covariate, ``"<name>
        (between)"``, on level and growth).
    spec
        A :class:`ModelSpec`; when given, it supplies all of the above, and a keyword that
        contradicts it raises ``ValueError`` (it would otherwise be ignored).

    Returns
    -------
    pm.Model
        Parameters named in the shared vocabulary (``level``, ``growth``, ``level_coef``,
        ``growth_coef``, ``therapist_sd``, ``therapist_corr``, ``therapist_effect``, ...,
        ``sigma``) and the observed ``alliance``.

    Examples
    --------
    >>> from alliance_bayes import Design
    >>> data = Design.nissen_lie_2013().to_data(random_seed=1)
    >>> model = growth_model(data, therapist_covariates=["burdens", "satisfactions"])
    >>> model["growth_coef"].eval().shape
    (2, 2)
    """
    options = ModelSpec(
        kind="growth",
        therapist_covariates=_names(therapist_covariates),
        patient_covariates=_names(patient_covariates),
        likelihood=likelihood,
        centered=centered,
        marginal=marginal,
        priors=dict(priors or {}),
        therapist_slopes=therapist_slopes,
        correlated=correlated,
        time_shape=time_shape,
        knot=knot,
        session_covariates=_names(session_covariates),
    )
    spec = options if spec is None else _agreed(spec, options)
    if spec.time_coding is not None and spec.time_coding != data.time_coding:
        raise ValueError(
            f"spec {spec.name!r} is for {spec.time_coding!r} time, but the data's time is coded "
            f"{data.time_coding!r}: build the data with time_coding={spec.time_coding!r}."
        )
    marginal = spec.integrates_effects()
    if spec.likelihood == "censored" and data.scale is None:
        raise ValueError(
            "the censored likelihood needs the instrument's scale: declare scale=(low, high)."
        )
    if spec.likelihood != "censored":
        _warn_if_at_bounds(data, spec.likelihood)
    resolved = resolve_priors(data, spec.priors, "growth")
    t_names, t_cols = select_covariates(
        data.therapist_covariates.names, spec.therapist_covariates, "therapist"
    )
    p_names, p_cols = select_covariates(
        data.patient_covariates.names, spec.patient_covariates, "patient"
    )
    rows = np.flatnonzero(data.observed) if data.has_outcome else np.arange(data.n_obs)
    s_names, within, between = within_between(data, rows, spec.session_covariates)
    p_values = np.hstack([data.patient_covariates.values[:, p_cols], between])
    p_names = p_names + [f"{name} (between)" for name in s_names]
    coords = data.coords | {
        "therapist_covariate": t_names,
        "patient_covariate": p_names,
        "obs": _obs_labels(data, rows),
    }

    with pm.Model(coords=coords) as model:
        patient_idx = pm.Data("patient_idx", data.obs_patient[rows], dims="obs")
        rater_idx = pm.Data("rater_idx", data.obs_rater[rows], dims="obs")
        time = pm.Data("time", data.time[rows], dims="obs")
        therapist_of = pm.Data("therapist_of_patient", data.patient_therapist, dims="patient")

        level = prior_variable("level", resolved["level"], dims="rater")
        growth = prior_variable("growth", resolved["growth"], dims="rater")
        n_comp = 2 * data.n_raters
        blocks = {
            group: {
                "n_components": n_comp,
                "sd_prior": resolved[f"{group}_sd"],
                "corr_prior": resolved[f"{group}_corr"],
            }
            for group in ("therapist", "patient")
        }
        shapes = effect_shapes(spec, n_comp)
        if marginal:  # the random effects are integrated out of the likelihood
            chols = {
                group: shaped_sd_corr(group, **block, **shapes[group])
                for group, block in blocks.items()
            }
            # sized by the model's dimensions, not by numbers: a compiled model of this
            # structure then serves data sets with other numbers of therapists and patients
            lengths = model.dim_lengths
            t_level = t_growth = pt.zeros((lengths["therapist"], data.n_raters))
            p_level = p_growth = pt.zeros((lengths["patient"], data.n_raters))
        else:
            a, b = (
                correlated_effects(
                    group, centered=spec.centered, shape=shapes[group], **blocks[group]
                )
                for group in ("therapist", "patient")
            )
            # per-group contributions to level and growth, shape (group, rater), gathered per row
            t_level, t_growth = a[:, 0::2], a[:, 1::2]
            p_level, p_growth = b[:, 0::2], b[:, 1::2]
        if t_names:
            z = therapist_covariate_matrix(data, t_cols)
            t_level = t_level + _effect_of(z, "level_coef", resolved, "therapist_covariate")
            t_growth = t_growth + _effect_of(z, "growth_coef", resolved, "therapist_covariate")
        if p_names:
            w = pm.Data("patient_covariates", p_values, dims=("patient", "patient_covariate"))
            p_level = p_level + _effect_of(w, "patient_level_coef", resolved, "patient_covariate")
            p_growth = p_growth + _effect_of(
                w, "patient_growth_coef", resolved, "patient_covariate"
            )
        # each patient's line per rater, (patient, rater); a rating's mean is on its line
        line_level = level + t_level[therapist_of] + p_level
        line_growth = growth + t_growth[therapist_of] + p_growth
        line_level.name, line_growth.name = LINE_NAMES  # found by name by fit's conditional draws
        mu = line_level[patient_idx, rater_idx] + line_growth[patient_idx, rater_idx] * time
        terms = session_terms(spec, data, time, resolved, (s_names, within))
        if terms is not None:
            mu = mu + term_effect(terms, rater_idx)
        mu.name = "alliance_mean"  # found by name by R^2 (_graph.alliance_mean)
        sigma = prior_variable("sigma", resolved["sigma"], dims="rater")
        if marginal:
            nu = prior_variable("nu", resolved["nu"]) if spec.likelihood == "student_t" else None
            lines = (line_level, line_growth)
            _marginal_likelihood(data, rows, spec.likelihood, mu, lines, sigma, nu, chols, terms)
        else:
            _likelihood(spec.likelihood, data, rows, mu, sigma[rater_idx], resolved)

    # a prior is used when its parameter is in the graph (a coefficient only with covariates)
    used = {k: v for k, v in resolved.items() if k in model.named_vars}
    return attach_info(model, spec=spec, data=data, priors=used)


def effect_shapes(spec: ModelSpec, n_components: int) -> dict[str, dict[str, Any]]:
    """Per group, which components have effects and whether they correlate (the spec's
    ``therapist_slopes`` and ``correlated``); components alternate level, growth per rater."""
    everything = np.ones(n_components, dtype=bool)
    levels_only = np.arange(n_components) % 2 == 0
    return {
        "therapist": {
            "active": everything if spec.therapist_slopes else levels_only,
            "correlated": spec.correlated,
        },
        "patient": {"active": everything, "correlated": spec.correlated},
    }


def _agreed(spec: ModelSpec, options: ModelSpec) -> ModelSpec:
    """``spec``, after checking that no keyword given beside it says otherwise."""
    default = ModelSpec(kind="growth")
    conflicts = [
        f"{name}={getattr(options, name)!r} (the spec has {getattr(spec, name)!r})"
        for name in OPTIONS
        if getattr(options, name) != getattr(default, name)
        and getattr(options, name) != getattr(spec, name)
    ]
    if conflicts:
        raise ValueError(
            f"growth_model got spec={spec.name!r} and {', '.join(conflicts)}; the spec supplies "
            "every option: change it (dataclasses.replace(spec, ...)) or leave the keyword out."
        )
    return spec


def bound_shares(data: AllianceData) -> dict[str, tuple[float, float]]:
    """Per rater, the shares of observed ratings at the scale's low and high end.

    Examples
    --------
    >>> from alliance_bayes import datasets
    >>> shares = bound_shares(datasets.load("nissen_lie_2013"))
    >>> {rater: round(high, 3) for rater, (low, high) in shares.items()}
    {'patient': 0.011, 'therapist': 0.001}
    """
    if data.scale is None:
        return {}
    observed = np.isfinite(data.score)
    shares = {}
    for r, rater in enumerate(data.rater_labels):
        scores = data.score[observed & (data.obs_rater == r)]
        at = [
            float(np.mean(np.isclose(scores, bound))) if len(scores) else 0.0
            for bound in data.scale
        ]
        shares[str(rater)] = (at[0], at[1])
    return shares


def _warn_if_at_bounds(data: AllianceData, likelihood: str) -> None:
    """Warn when a rater's ratings pile up at a bound of the scale (a ceiling effect): the
    censored likelihood is then the right model (notebook 02 shows the normal one misfit)."""
    piled = {
        rater: (low, high)
        for rater, (low, high) in bound_shares(data).items()
        if max(low, high) >= BOUND_SHARE_WARNING
    }
    if piled:
        shares = "; ".join(
            f"{rater}: {high:.0%} at {data.scale[1]:g}, {low:.0%} at {data.scale[0]:g}"
            for rater, (low, high) in piled.items()
        )
        warnings.warn(
            f"ratings pile up at the bounds of the scale ({shares}); the {likelihood} "
            "likelihood treats them as exact values. Consider likelihood='censored', which "
            "models a rating at a bound as 'at or beyond' it.",
            DataWarning,
            stacklevel=3,
        )


def _effect_of(covariates: Any, name: str, priors: dict[str, Prior], dim: str) -> Any:
    """(group, rater) contribution of covariates through the coefficient ``name`` (rater, dim)."""
    return covariates @ prior_variable(name, priors[name], dims=("rater", dim)).T


def _names(names: Sequence[str] | None) -> list[str] | None:
    return None if names is None else list(names)


def _obs_labels(data: AllianceData, rows: np.ndarray) -> list[Any]:
    labels = data.row_id[rows]
    return list(labels) if len(set(labels.tolist())) == len(labels) else list(rows)


def _likelihood(
    kind: str, data: AllianceData, rows: np.ndarray, mu: Any, sigma: Any, priors: dict[str, Prior]
) -> Any:
    placeholder = data.score[rows] if data.has_outcome else np.zeros(len(rows))
    observed = pm.Data("alliance_observed", placeholder, dims="obs")
    if kind == "normal":
        return pm.Normal("alliance", mu=mu, sigma=sigma, observed=observed, dims="obs")
    if kind == "student_t":
        nu = prior_variable("nu", priors["nu"])
        return pm.StudentT("alliance", nu=nu, mu=mu, sigma=sigma, observed=observed, dims="obs")
    low, high = data.scale  # type: ignore[misc]
    return pm.Censored(
        "alliance",
        pm.Normal.dist(mu=mu, sigma=sigma),
        lower=low,
        upper=high,
        observed=observed,
        dims="obs",
    )


def _marginal_likelihood(
    data: AllianceData,
    rows: np.ndarray,
    likelihood: str,
    mu: Any,
    lines: tuple[Any, Any],
    sigma: Any,
    nu: Any,
    chols: dict[str, Any],
    terms: tuple[Any, Any] | None = None,
) -> Any:
    """The likelihood with the therapist and patient effects integrated out (``_marginal``).

    One multivariate outcome over all ratings. Its log-density takes the ratings through their
    sums per (patient, rater), ``rating_sums`` (data made from the same rows as
    ``alliance_observed``), and each patient's line without random effects (``lines``:
    level and growth, (patient, rater)); the mean per rating ``mu`` serves the random draws
    only. ``chols`` holds the Cholesky factors of the therapist and the patient effects'
    covariances. ``design_pattern`` (data) groups the patients whose rating times give the
    same k x k algebra, which the compiled kernel (``_marginal_kernel``) computes once per
    group. The censored and Student-t likelihoods are normal given latent values
    (:mod:`._latent`), which change the sums. Fixed session terms (``terms``: their values per
    rating and coefficients) are not linear in time per patient, so the sums are of the ratings
    less them: for the normal likelihood from data sums of the terms' products with ``1``,
    ``x``, ``y`` and each other (no pass over single ratings, :func:`shifted_sums`), for the
    latent models from the ratings less the terms, summed in the graph. The lines stay as they
    are.
    """
    placeholder = data.score[rows] if data.has_outcome else np.zeros(len(rows))
    observed = pm.Data("alliance_observed", placeholder, dims="obs")
    model = pm.modelcontext(None)
    patient, rater, time = model["patient_idx"], model["rater_idx"], model["time"]
    therapist_of = model["therapist_of_patient"]
    # the number of therapists enters as the dimension's length (an input of the compiled
    # model), never as a number: the compiled model serves data sets of other sizes
    n_therapists = model.dim_lengths["therapist"]
    n_patients, n_raters = data.n_patients, data.n_raters
    model.add_coord("rating_sum", list(RATING_SUMS))
    cell_sums = rating_sums(
        placeholder,
        data.time[rows],
        data.obs_rater[rows],
        data.obs_patient[rows],
        n_patients,
        n_raters,
    )
    sums = pm.Data("rating_sums", cell_sums, dims=("rating_sum", "patient", "rater"))
    patterns = pm.Data("design_pattern", design_patterns(cell_sums), dims="patient")
    extra: Any = pt.zeros(())
    less_terms = observed
    if terms is not None and likelihood == "normal":
        sums = shifted_sums(sums, terms, placeholder, rows, data)
    elif terms is not None:
        less_terms = observed - term_effect(terms, rater)
        sums = observed_sums(less_terms, n_raters)
    if likelihood != "normal":
        given_latent = latent_values(likelihood, data, rows, sigma, nu)
        sums, patterns, extra = given_latent(sums, less_terms)
    line_level, line_growth = lines
    draw_residuals = _residual_draws(likelihood, data.scale)

    def logp(
        value, mean, sums, level, growth, sd, shape, extra, x, r, p, chol_p, t, pattern, chol_t, n_t
    ):
        # one compiled node for the value and its gradient (the same as marginal_log_density)
        density = IntegratedLogDensity(n_raters)
        args = (sums, level, growth, sd, chol_p, t, pattern, n_t, chol_t)
        return density(*args)[0] + extra

    def random(
        mean,
        sums,
        level,
        growth,
        sd,
        shape,
        extra,
        x,
        r,
        p,
        chol_p,
        t,
        pattern,
        chol_t,
        n_t,
        rng=None,
        size=None,
    ):
        t, p, r = (np.asarray(v, dtype=int) for v in (t, p, r))
        effects = rng.standard_normal((len(t), chol_p.shape[0])) @ chol_p.T
        effects += (rng.standard_normal((int(n_t), chol_t.shape[0])) @ chol_t.T)[t]
        shift = effects[p, 2 * r] + effects[p, 2 * r + 1] * x
        return draw_residuals(mean + shift, sd[r], shape, rng)

    return pm.CustomDist(
        "alliance",
        mu,
        sums,
        line_level,
        line_growth,
        sigma,
        pt.zeros(()) if nu is None else nu,
        extra,
        time,
        rater,
        patient,
        chols["patient"],
        therapist_of,
        patterns,
        chols["therapist"],
        n_therapists,
        logp=logp,
        random=random,
        signature="(n),(s,p,r),(p,r),(p,r),(r),(),(),(n),(n),(n),(k,k),(p),(p),(k,k),()->(n)",
        observed=observed,
        dims="obs",
    )


def _residual_draws(likelihood: str, scale: tuple[float, float] | None):
    """``(mean, sd, nu, rng) -> ratings`` for the likelihood: the outcome's random draws."""

    def draw(mean: np.ndarray, sd: np.ndarray, nu: Any, rng: np.random.Generator) -> np.ndarray:
        if likelihood == "student_t":
            return mean + sd * rng.standard_t(float(nu), np.shape(mean))
        drawn = mean + sd * rng.standard_normal(np.shape(mean))
        return np.clip(drawn, *scale) if likelihood == "censored" else drawn

    return draw
