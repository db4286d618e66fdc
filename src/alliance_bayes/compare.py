"""Model comparison by PSIS-LOO, leaving out one rating, patient or therapist; Bayesian R^2.

``by="obs"`` leaves out one rating at a time (ArviZ's LOO on the pointwise log-likelihood).
``by="patient"`` and ``by="therapist"`` sum the pointwise log-likelihood over each patient's (or
therapist's) ratings, so the importance weights leave out a whole patient or therapist: the question
"how well does the model predict the ratings of a new patient of this therapist?" (or of the
patients of a new therapist). For the normal likelihood each group's log-likelihood is its
*integrated* one (:func:`alliance_bayes.cv.integrated_log_likelihood`: the group's own effects
integrated out, the group scored as a new one), a smooth function of the population parameters
on which PSIS works. For the censored and Student-t likelihoods it is the pointwise
log-likelihood summed over the group, which conditions on the group's own random effects, so
the importance weights are heavy-tailed when a group holds many ratings. Groups whose Pareto k
exceeds ArviZ's threshold are named in a :class:`ParetoKWarning` and their estimate should not be
trusted: refit without them (:func:`alliance_bayes.kfold`, or ``alliance_bayes.loo(...,
reloo=True)``).

``compare`` also ranks ELPD results made by :func:`alliance_bayes.kfold` and
:func:`alliance_bayes.loo` (they carry their grouping, likelihood and data hash).

Only log-likelihoods on one footing are compared: the normal and Student-t likelihoods give every
rating a density, the censored one gives a rating at the scale's bounds a probability (a mass), so
a censored fit is compared only with censored fits at the same bounds, and ``compare`` refuses to
rank a mixture. Compare such models by their predictive checks instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .errors import show_some
from .result import coord_labels, predictive_model, read_attrs

GROUPINGS = ("obs", "patient", "therapist")
DENSITIES = ("normal", "student_t")  # likelihoods whose log-likelihoods are log densities


class ParetoKWarning(UserWarning):
    """PSIS-LOO is unreliable for some observations or groups (Pareto k above the threshold)."""


def group_codes(idata: az.InferenceData, by: str) -> tuple[np.ndarray, list[Any]]:
    """For each observation, the index of its group, and the group labels.

    Examples
    --------
    >>> codes, labels = group_codes(idata, "therapist")
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}, got {by!r}.")
    constant = idata.constant_data
    n_obs = idata.log_likelihood.sizes["obs"]
    if by == "obs":
        return np.arange(n_obs), list(idata.log_likelihood["obs"].to_numpy().tolist())
    if "patient_idx" in constant:
        patient = constant["patient_idx"].to_numpy().astype(int)
        if by == "patient":
            return patient, coord_labels(idata, "patient").tolist()
        therapist = constant["therapist_of_patient"].to_numpy().astype(int)[patient]
        return therapist, coord_labels(idata, "therapist").tolist()
    if by == "patient":
        raise ValueError("this model has no patient level (one rating per therapist).")
    return constant["therapist_idx"].to_numpy().astype(int), coord_labels(
        idata, "therapist"
    ).tolist()


def grouped_log_likelihood(idata: az.InferenceData, by: str = "obs") -> az.InferenceData:
    """The fit's posterior with the log-likelihood of ``alliance`` summed by group.

    Parameters
    ----------
    idata
        A fit with a ``log_likelihood`` group.
    by
        ``"obs"`` (unchanged), ``"patient"`` or ``"therapist"``: one log-likelihood value per
        group and draw, the sum over the group's ratings.

    Examples
    --------
    >>> grouped = grouped_log_likelihood(idata, "therapist")
    >>> grouped.log_likelihood["alliance"].dims
    ('chain', 'draw', 'therapist')
    """
    if "log_likelihood" not in idata.groups():
        raise ValueError("the fit has no log_likelihood group; fit with log_likelihood=True.")
    codes, labels = group_codes(idata, by)
    loglik = idata.log_likelihood["alliance"].transpose("chain", "draw", "obs")
    if by == "obs":
        summed = loglik
    else:
        values = np.zeros((*loglik.shape[:2], len(labels)))
        np.add.at(values, (slice(None), slice(None), codes), loglik.to_numpy())
        summed = xr.DataArray(
            values,
            dims=("chain", "draw", by),
            coords={"chain": loglik["chain"], "draw": loglik["draw"], by: labels},
        )
        summed = summed.isel({by: np.unique(codes)})  # groups without ratings drop out
    return az.InferenceData(
        posterior=idata.posterior, log_likelihood=xr.Dataset({"alliance": summed})
    )


def loo(
    idata: az.InferenceData,
    by: str = "obs",
    *,
    name: str = "model",
    integrated: bool | None = None,
) -> az.ELPDData:
    """PSIS-LOO leaving out one rating, patient or therapist, with Pareto-k warnings.

    Parameters
    ----------
    idata
        A fit with a ``log_likelihood`` group.
    by
        ``"obs"``, ``"patient"`` or ``"therapist"``.
    name
        The model's name in warnings.
    integrated
        By patient or therapist: score each group by its integrated log-likelihood (its own
        effects integrated out). Default (``None``): for normal growth fits; ``False``: the
        pointwise log-likelihood summed over the group (conditional on its own effects).

    Returns
    -------
    arviz.ELPDData
        With pointwise values (``loo_i``, ``pareto_k``) over the groups, and ``by``,
        ``method``, ``integrated`` (whether the groups' effects were integrated out: normal
        fits by patient or therapist), ``likelihood``, ``footing`` and ``data_hash``.

    Warns
    -----
    ParetoKWarning
        Naming up to five groups whose Pareto k exceeds the threshold ``good_k``.

    Examples
    --------
    >>> loo(idata, by="patient").pareto_k.dims  # one pointwise value per patient
    ('patient',)
    """
    if integrated and (by == "obs" or not _integrates(idata)):
        raise ValueError(
            "integrated=True scores whole patients or therapists of a normal growth fit; "
            f"this is by={by!r} of a {likelihood_footing(idata)[0]} fit."
        )
    integrated = by != "obs" and _integrates(idata) if integrated is None else integrated
    if integrated:
        from .cv import integrated_log_likelihood

        grouped = az.InferenceData(
            posterior=idata.posterior,
            log_likelihood=xr.Dataset({"alliance": integrated_log_likelihood(idata, by)}),
        )
    else:
        grouped = grouped_log_likelihood(idata, by)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        result = az.loo(grouped, pointwise=True)
    _describe(result, idata, by, method="psis", integrated=integrated)
    k = np.asarray(result.pareto_k)
    bad = k > result.good_k
    if bad.any():
        labels = np.asarray(result.pareto_k[result.pareto_k.dims[0]].to_numpy().tolist(), object)
        unit = "ratings" if by == "obs" else f"{by}s"
        warnings.warn(
            f"{name}: PSIS-LOO by {by} is unreliable for {int(bad.sum())} of {k.size} {unit} "
            f"(Pareto k > {result.good_k:.2f}): {show_some(labels[bad].tolist())}; "
            f"max k = {k.max():.2f}. Their elpd estimates may be far off; refit without them "
            "(alliance_bayes.kfold, or loo(..., reloo=True)).",
            ParetoKWarning,
            stacklevel=2,
        )
    return result


def _integrates(idata: az.InferenceData) -> bool:
    """Whether a fit's groups are scored by their integrated log-likelihood (normal growth)."""
    if "spec" not in idata.attrs:
        return False
    spec = read_attrs(idata).require("spec")
    return spec.likelihood == "normal" and spec.kind != "regression"


def _describe(result: az.ELPDData, idata: az.InferenceData, by: str, **entries: Any) -> az.ELPDData:
    """Add what :func:`compare` checks to an ELPD result: grouping, likelihood, data."""
    likelihood, footing = likelihood_footing(idata) if "spec" in idata.attrs else (None, None)
    data_hash = fit_data_hash(idata)
    values = {"by": by, "likelihood": likelihood, "footing": footing, "data_hash": data_hash}
    for key, value in (values | entries).items():
        result[key] = value
    return result


def fit_data_hash(idata: az.InferenceData) -> str | None:
    """A hash of the fitted ratings and their structure (therapists, patients, raters, times),
    not of the covariates: fits with and without a covariate model the same observations.
    ``None``: a fit of another package.

    Examples
    --------
    >>> fit_data_hash(idata) == fit_data_hash(fit_plain)  # with and without Burdens
    True
    """
    if "spec" not in idata.attrs or "data" not in idata.attrs:
        return None
    import hashlib

    from .result import rebuild_data

    data = rebuild_data(idata)
    digest = hashlib.sha256()
    for array in (data.patient_therapist, data.obs_patient, data.obs_rater, data.time, data.score):
        digest.update(np.ascontiguousarray(array).tobytes())
    for labels in (data.therapist_labels, data.patient_labels, data.rater_labels):
        digest.update(repr(list(labels)).encode())
    return digest.hexdigest()[:16]


def _check_same_results(fits: Mapping[str, az.InferenceData | az.ELPDData], by: str) -> None:
    """With ELPD results among ``fits``: the same grouping and the same data (its hash)."""
    hashes = {}
    for name, item in fits.items():
        if isinstance(item, az.ELPDData):
            if item.get("by", by) != by:
                raise ValueError(
                    f"{name!r} leaves out one {item['by']}, not one {by}: compare with "
                    f"by={item['by']!r}, or compute it by {by!r}."
                )
            hashes[name] = item.get("data_hash")
        else:
            hashes[name] = fit_data_hash(item)
    if len(set(hashes.values())) > 1 or None in hashes.values():
        each = ", ".join(f"{name!r}: {value}" for name, value in hashes.items())
        raise ValueError(
            "these results were not made from the same data (data hashes: "
            f"{each}); LOO and K-fold compare models of the same observations."
        )


def _check_same_data(fits: Mapping[str, az.InferenceData | az.ELPDData], by: str) -> None:
    if any(isinstance(fit, az.ELPDData) for fit in fits.values()):
        _check_same_results(fits, by)
        return
    names = list(fits)
    first = fits[names[0]]
    y0 = first.observed_data["alliance"].to_numpy()
    labels0 = group_codes(first, by)
    for name in names[1:]:
        y = fits[name].observed_data["alliance"].to_numpy()
        labels = group_codes(fits[name], by)
        same = (
            y.shape == y0.shape
            and np.allclose(y, y0)
            and np.array_equal(labels[0], labels0[0])
            and labels[1] == labels0[1]
        )
        if not same:
            raise ValueError(
                f"models {names[0]!r} and {name!r} were fitted to different data; LOO compares "
                "models of the same observations."
            )


def likelihood_footing(idata: az.InferenceData) -> tuple[str, str]:
    """The fit's likelihood and what its log-likelihood measures (a density, or mass at bounds).

    Examples
    --------
    >>> likelihood_footing(fit_censored)
    ('censored', 'censored at 1-7')
    """
    if "spec" not in idata.attrs:
        raise ValueError(
            "a fit records no model spec (attrs['spec']), so its likelihood is unknown; compare "
            "fits made by alliance_bayes.fit."
        )
    attrs = read_attrs(idata)
    likelihood = attrs.require("spec").likelihood
    if likelihood in DENSITIES:
        return likelihood, "density"
    scale = attrs.data.scale if attrs.data is not None else None
    bounds = "unknown bounds" if scale is None else f"{scale[0]:g}-{scale[1]:g}"
    return likelihood, f"censored at {bounds}"


def _footing(item: az.InferenceData | az.ELPDData) -> tuple[str, str]:
    """:func:`likelihood_footing` of a fit, or the one an ELPD result of this package carries."""
    if isinstance(item, az.ELPDData):
        if item.get("footing") is None:
            raise ValueError(
                "an ELPD result records no likelihood (footing), so it cannot be checked against "
                "the others; compare results of alliance_bayes.loo or alliance_bayes.kfold."
            )
        return str(item["likelihood"]), str(item["footing"])
    return likelihood_footing(item)


def _check_comparable(fits: Mapping[str, az.InferenceData | az.ELPDData]) -> None:
    """Refuse to rank log densities against log probabilities (normal vs censored)."""
    footing = {name: _footing(fit) for name, fit in fits.items()}
    if len({kind for _, kind in footing.values()}) > 1:
        each = "; ".join(f"{name!r}: {lik} ({kind})" for name, (lik, kind) in footing.items())
        raise ValueError(
            f"these fits' likelihoods are not comparable by LOO ({each}): a censored likelihood "
            "gives a rating at the scale's bounds a probability, a normal or Student-t one a "
            "density, so their log-likelihoods are on different footings. Compare them by their "
            "predictive checks (alliance-bayes ppc, ppc_statistics) instead."
        )


def compare(
    fits: Mapping[str, az.InferenceData | az.ELPDData],
    by: str = "obs",
    *,
    method: str = "stacking",
) -> pd.DataFrame:
    """Rank models by PSIS-LOO, leaving out one rating, patient or therapist.

    Parameters
    ----------
    fits
        ``{"name": fit, ...}``: fits of the same data (two or more), or ELPD results of them
        made by :func:`alliance_bayes.kfold` or :func:`alliance_bayes.loo` (by the same group).
    by
        ``"obs"``, ``"patient"`` or ``"therapist"`` (see the module notes).
    method
        ArviZ's weighting method (``"stacking"``, ``"BB-pseudo-BMA"``, ``"pseudo-BMA"``).

    Returns
    -------
    pandas.DataFrame
        ArviZ's comparison table (``rank``, ``elpd_loo``, ``p_loo``, ``elpd_diff``, ``weight``,
        ``se``, ``dse``, ``warning``, ``scale``) plus ``by``, ``n_groups``, ``n_high_k`` (groups
        with Pareto k above the threshold) and ``max_k``.

    Raises
    ------
    ValueError
        For fewer than two fits, fits of different data, or fits whose likelihoods are not
        comparable (normal or Student-t against censored, or censored at other bounds).

    Warns
    -----
    ParetoKWarning
        For each model with unreliable groups.

    Examples
    --------
    >>> table = compare({"covariates": idata, "no covariates": fit_plain}, by="therapist")
    >>> sorted(table.index), table["n_groups"].tolist()
    (['covariates', 'no covariates'], [12, 12])
    """
    if len(fits) < 2:
        raise ValueError("compare needs two or more fits.")
    _check_comparable(fits)
    _check_same_data(fits, by)
    results = {
        name: fit if isinstance(fit, az.ELPDData) else loo(fit, by, name=name)
        for name, fit in fits.items()
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        # az.compare's own sort_values(inplace=True), deprecated by pandas 3.1: not ours to fix
        warnings.filterwarnings("ignore", message="The inplace keyword", module=r"arviz\.")
        table = az.compare(results, ic="loo", method=method)
    table["by"] = by
    for name, result in results.items():
        k = np.asarray(result.pareto_k)
        table.loc[name, "n_groups"] = k.size
        table.loc[name, "n_high_k"] = int((k > result.good_k).sum())
        table.loc[name, "max_k"] = float(k.max())
    return table.astype({"n_groups": int, "n_high_k": int})


def bayes_r2(idata: az.InferenceData, prob: float = 0.95) -> pd.DataFrame:
    """Bayesian R^2 per rater, marginal (fixed effects) and conditional (with random effects).

    Per posterior draw and rater, with ``f`` the fixed part of the expected alliance (level,
    growth, covariate effects), ``u`` the therapist and patient effects at each rating's time, and
    ``s2`` the residual variance (``sigma^2``; ``sigma^2 nu / (nu - 2)`` for Student-t, on the
    latent scale for the censored likelihood), with variances over the rater's ratings::

        marginal    = var(f) / (var(f) + var(u) + s2)
        conditional = (var(f) + var(u)) / (var(f) + var(u) + s2)

    (Nakagawa and Schielzeth 2013, with random slopes as in Johnson 2014, computed per draw as in
    Gelman, Goodrich, Gabry and Vehtari 2019). The expected alliance is computed by the model's
    own graph from the stored draws. For the therapist regression both equal ``r2``.

    Returns
    -------
    pandas.DataFrame
        ``kind`` (marginal, conditional), ``rater``, ``mean``, ``sd``, ``lower``, ``upper``.

    Examples
    --------
    >>> bayes_r2(idata)[["kind", "rater"]]
              kind      rater
    0     marginal    patient
    1  conditional    patient
    2     marginal  therapist
    3  conditional  therapist
    """
    from ._graph import alliance_mean, compile_graph, fixed_part
    from .models._info import model_info

    model = predictive_model(idata)
    mean = alliance_mean(model)
    posterior = idata.posterior
    function = compile_graph(
        model, [mean, fixed_part(model, mean)], [str(n) for n in posterior.data_vars]
    )
    total, fixed = function(posterior)
    random = total - fixed
    constant = idata.constant_data
    raters = [str(r) for r in model_info(model).data.rater_labels]
    rater_idx = (
        constant["rater_idx"].to_numpy() if "rater_idx" in constant else np.zeros(total.shape[-1])
    )
    sigma = posterior["sigma"].to_numpy()
    if sigma.ndim == 2:
        sigma = sigma[..., None]
    residual = sigma**2
    if "nu" in posterior:
        nu = posterior["nu"].to_numpy()[..., None]
        residual = np.where(nu > 2, residual * nu / np.where(nu > 2, nu - 2, 1.0), np.nan)
    tail = (1 - prob) / 2
    rows = []
    for r, rater in enumerate(raters):
        cols = rater_idx == r
        var_f = fixed[..., cols].var(axis=-1)
        var_u = random[..., cols].var(axis=-1)
        denominator = var_f + var_u + residual[..., r]
        for kind, value in (
            ("marginal", var_f / denominator),
            ("conditional", (var_f + var_u) / denominator),
        ):
            draws = value[np.isfinite(value)].ravel()
            low, high = np.quantile(draws, [tail, 1 - tail])
            rows.append(
                {
                    "kind": kind,
                    "rater": rater,
                    "mean": float(draws.mean()),
                    "sd": float(draws.std(ddof=1)),
                    "lower": float(low),
                    "upper": float(high),
                }
            )
    return pd.DataFrame(rows)
