"""Tables for papers: coefficients, variance components, ICC, R^2 and rater contrasts.

Every function takes the ``az.InferenceData`` returned by :func:`fit` (or :func:`load`) and
nothing else, and returns a tidy ``pandas.DataFrame``. :func:`format_table` renders one as
markdown, LaTeX or CSV.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .result import DataAttrs, read_attrs
from .vocabulary import icc, labels_text, reported, scalars, terms

DIM_COLUMNS = {
    "rater": "rater",
    "therapist_covariate": "covariate",
    "patient_covariate": "covariate",
    "component": "component",
}


# Estimates whose sign is a finding: covariate effects, mean growth, rater contrasts. An SD,
# a residual SD or a level on the score's own scale is positive by construction, so a
# probability of being above 0 says nothing about it.
DIRECTIONAL_KINDS = ("coefficient",)
DIRECTIONAL_NAMES = ("growth", "coef_std")


def is_directional(name: str) -> bool:
    """Whether the sign of ``name`` is a finding (then tables give its probability of direction).

    Covariate effects (``kind == "coefficient"``, and the therapist regression's standardised
    ``coef_std``) and the mean ``growth`` are directional;
    SDs, correlations of effects, residual SDs and the level are not. Rater contrasts of a
    directional name are directional too.

    Examples
    --------
    >>> is_directional("growth_coef"), is_directional("growth"), is_directional("therapist_sd")
    (True, True, False)
    """
    found = {t.name: t for t in terms()}
    return name in DIRECTIONAL_NAMES or (name in found and found[name].kind in DIRECTIONAL_KINDS)


def p_direction(draws: np.ndarray) -> float:
    """Posterior probability that a quantity has the sign of its posterior mean.

    Examples
    --------
    >>> p_direction(np.array([-0.2, -0.1, 0.3, -0.4]))
    0.75
    """
    values = np.asarray(draws).ravel()
    mean = values.mean()
    return float((values > 0).mean() if mean >= 0 else (values < 0).mean())


def _interval(draws: np.ndarray, prob: float) -> tuple[float, float]:
    tail = (1 - prob) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return float(low), float(high)


def _data_attrs(idata: az.InferenceData) -> DataAttrs:
    return read_attrs(idata).data or DataAttrs()


def _raw_sd(idata: az.InferenceData, name: str, covariate: str | None) -> float | None:
    """SD of a covariate on the user's scale, to turn a per-SD effect into a per-unit one."""
    levels = {t.name: t.level for t in terms() if t.kind == "coefficient"}
    if covariate is None or name not in levels:
        return None
    return getattr(_data_attrs(idata), f"{levels[name]}_covariate_sd").get(covariate)


def summarize(
    idata: az.InferenceData, var_names: Sequence[str] | None = None, prob: float = 0.95
) -> pd.DataFrame:
    """One row per scalar parameter: mean, sd, interval, P(>0), ESS and R-hat.

    ``p_gt_0`` is given only where the sign is a finding (:func:`is_directional`:
    coefficients and growth); it is NaN for SDs, residual SDs and levels, which are positive by
    construction or on the score's own scale.

    Covariate effects are per SD of the covariate (covariates are standardised); the columns
    ``mean_raw``, ``lower_raw`` and ``upper_raw`` give them per unit of the covariate's own scale.

    Examples
    --------
    >>> table = summarize(idata)
    >>> table.query("parameter == 'growth_coef'")[["parameter", "rater", "covariate"]]
         parameter      rater covariate
    6  growth_coef    patient   burdens
    7  growth_coef  therapist   burdens
    """
    posterior = idata.posterior
    names = [n for n in (var_names or reported(correlations=False)) if n in posterior]
    with warnings.catch_warnings():  # a constant quantity's R-hat divides by zero
        warnings.simplefilter("ignore", RuntimeWarning)
        ess = az.ess(posterior[names], method="bulk")
        r_hat = az.rhat(posterior[names]) if posterior.sizes["chain"] > 1 else None
    rows = []
    for name in names:
        for labels, values in scalars(posterior[name]):
            draws = values.ravel()
            if _fixed(draws):
                continue  # fixed by the model's shape (an SD of an effect it does not have)
            low, high = _interval(draws, prob)
            row = {"parameter": name, "rater": None, "covariate": None, "component": None}
            row |= {DIM_COLUMNS.get(d, d): str(v) for d, v in labels.items()}
            row |= {
                "mean": draws.mean(),
                "sd": draws.std(ddof=1),
                "lower": low,
                "upper": high,
                "p_gt_0": float((draws > 0).mean()) if is_directional(name) else np.nan,
                "ess_bulk": float(ess[name].sel(labels)),
                "r_hat": float(r_hat[name].sel(labels)) if r_hat is not None else np.nan,
            }
            sd = _raw_sd(idata, name, row["covariate"])
            if sd:
                row |= {"mean_raw": row["mean"] / sd, "lower_raw": low / sd, "upper_raw": high / sd}
            rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["interval"] = f"{prob:.0%} equal-tailed"
    return table


def variance_components(idata: az.InferenceData, prob: float = 0.95) -> pd.DataFrame:
    """SDs and correlations per level, and the therapist ICC of level per rater.

    The ICC of rater ``r`` is ``therapist_sd[r:level]^2 / (therapist_sd[r:level]^2 +
    patient_sd[r:level]^2 + sigma[r]^2)``: the share of the variance of ratings at time 0 that
    lies between therapists (:func:`alliance_bayes.vocabulary.icc`). A correlation's term is
    its pair of components below the diagonal, ``later, earlier``, as in every other result.

    Examples
    --------
    >>> variance_components(idata).query("kind == 'icc'")[["kind", "level", "term"]]
       kind      level       term
    21  icc  therapist    patient
    23  icc  therapist  therapist
    """
    posterior = idata.posterior
    rows = []
    for level in ("therapist", "patient"):
        for kind in ("sd", "corr"):
            for labels, draws in scalars(posterior[f"{level}_{kind}"]):
                if _fixed(np.asarray(draws).ravel()):
                    continue  # fixed by the model's shape (no therapist slopes, independence)
                rows.append(_row(kind, level, labels_text(list(labels.values())), draws, prob))
    shares = icc(posterior)
    for rater in posterior["sigma"]["rater"].values:
        rows.append(_row("sd", "residual", str(rater), posterior["sigma"].sel(rater=rater), prob))
        rows.append(_row("icc", "therapist", str(rater), shares.sel(rater=rater), prob))
    return pd.DataFrame(rows)


def _fixed(draws: np.ndarray) -> bool:
    """Whether a quantity is the same at every draw: an SD of 0 or a correlation of 0 that the
    model's shape fixes (its R-hat and interval say nothing)."""
    return draws.size > 1 and bool(np.all(draws == draws[0]))


def _row(kind: str, level: str, label: str, draws: Any, prob: float) -> dict[str, Any]:
    values = np.asarray(draws).ravel()
    low, high = _interval(values, prob)
    return {
        "kind": kind,
        "level": level,
        "term": label,
        "mean": values.mean(),
        "sd": values.std(ddof=1),
        "lower": low,
        "upper": high,
    }


def stored_rater_roles(idata: az.InferenceData) -> dict[str, str]:
    """Each rater label's role (``patient`` / ``therapist``) as stored in the fit, or ``{}``.

    Fits made before roles were stored know them only for the labels ``patient`` and
    ``therapist`` themselves.
    """
    return dict(_data_attrs(idata).rater_roles)  # read_attrs infers them for old fits


def _patient_and_therapist(
    raters: list[str], stored: dict[str, str], given: dict[str, str] | None
) -> tuple[str, str]:
    """The labels of the patient and of the therapist rater, from the roles; never by order."""
    if given is not None and stored and any(stored.get(k, v) != v for k, v in given.items()):
        raise ValueError(
            f"rater_roles={given} contradicts the roles stored in the fit ({stored}); "
            "the stored roles are the ones the data were given."
        )
    roles = {r: role for r, role in (stored | (given or {})).items() if r in raters}
    by_role = {role: label for label, role in roles.items()}
    if set(by_role) != {"patient", "therapist"}:
        example = f"{{{raters[0]!r}: 'patient', {raters[1]!r}: 'therapist'}}"
        raise ValueError(
            f"this fit does not say which of its raters {raters} is the patient and which the "
            f"therapist (roles known: {roles or 'none'}); pass rater_roles={example} "
            "(or the other way round)."
        )
    return by_role["patient"], by_role["therapist"]


def contrast_label(name: str, patient: str, therapist: str) -> str:
    """``patient-rated ('client') minus therapist-rated ('clinician') growth_coef``.

    Examples
    --------
    >>> contrast_label("growth_coef", "patient", "therapist")
    'patient-rated minus therapist-rated growth_coef'
    >>> contrast_label("growth_coef", "client", "clinician")
    "patient-rated ('client') minus therapist-rated ('clinician') growth_coef"
    """
    first = "patient-rated" + ("" if patient == "patient" else f" ({patient!r})")
    second = "therapist-rated" + ("" if therapist == "therapist" else f" ({therapist!r})")
    return f"{first} minus {second} {name}"


def contrast_draws(
    idata: az.InferenceData,
    name: str = "growth_coef",
    rater_roles: dict[str, str] | None = None,
) -> xr.DataArray:
    """Posterior draws of ``name`` for the patient rater minus the therapist rater.

    Which label is which rater comes from the roles stored in the fit (from
    ``AllianceData.from_frame(..., rater_roles=...)``), never from the order of the labels;
    ``rater_roles`` supplies them for a fit that does not store them. The result's name is
    ``name[<patient label>] - name[<therapist label>]`` and ``attrs["label"]`` says it in words.

    Examples
    --------
    >>> contrast_draws(idata, "growth_coef").attrs["label"]
    'patient-rated minus therapist-rated growth_coef'
    """
    posterior = idata.posterior
    if name not in posterior or "rater" not in posterior[name].dims:
        raise KeyError(f"{name!r} with a rater dimension is not in this fit.")
    raters = [str(r) for r in posterior[name]["rater"].values]
    if len(raters) != 2:
        raise ValueError(f"a rater contrast needs two raters; this fit has {raters}.")
    patient, therapist = _patient_and_therapist(raters, stored_rater_roles(idata), rater_roles)
    diff = posterior[name].sel(rater=patient) - posterior[name].sel(rater=therapist)
    diff = diff.rename(f"{name}[{patient}] - {name}[{therapist}]")
    diff.attrs["label"] = contrast_label(name, patient, therapist)
    return diff


def rater_contrast(
    idata: az.InferenceData,
    name: str = "growth_coef",
    prob: float = 0.95,
    rater_roles: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Patient-rated minus therapist-rated ``name``, per covariate: the Nissen-Lie question.

    The patient and the therapist rater are found by the roles stored in the fit (see
    :func:`contrast_draws`). The draws are in ``table.attrs["draws"]`` (an
    ``xarray.DataArray``) and the contrast in words in ``table.attrs["label"]``.

    Examples
    --------
    >>> rater_contrast(idata, "growth_coef")[["contrast", "covariate"]]
                                            contrast covariate
    0  growth_coef[patient] - growth_coef[therapist]   burdens
    """
    diff = contrast_draws(idata, name, rater_roles)
    extra = [d for d in diff.dims if d not in ("chain", "draw")]
    rows = []
    for index in np.ndindex(*[diff.sizes[d] for d in extra]):
        labels = {d: diff[d].values[i] for d, i in zip(extra, index, strict=True)}
        values = diff.sel(labels).to_numpy().ravel()
        low, high = _interval(values, prob)
        rows.append(
            {
                "contrast": diff.name,
                **{DIM_COLUMNS.get(d, d): str(v) for d, v in labels.items()},
                "mean": values.mean(),
                "sd": values.std(ddof=1),
                "lower": low,
                "upper": high,
                "p_gt_0": float((values > 0).mean()),
            }
        )
    table = pd.DataFrame(rows)
    table.attrs["draws"] = diff
    table.attrs["label"] = diff.attrs["label"]
    return table


def format_table(table: pd.DataFrame, fmt: str = "markdown", digits: int = 3) -> str:
    """Render a table as ``markdown``, ``latex`` or ``csv`` text.

    Examples
    --------
    >>> print(format_table(pd.DataFrame({"a": [1.23456]}), "markdown"))
    | a |
    |---:|
    | 1.235 |
    """
    shown = table.dropna(axis=1, how="all")
    if fmt == "csv":
        return shown.to_csv(index=False)
    places = [0 if str(c).startswith("ess") else digits for c in shown.columns]
    cells = [
        [_cell(v, p) for v, p in zip(row, places, strict=True)]
        for row in shown.itertuples(index=False)
    ]
    header = [str(c) for c in shown.columns]
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) for c in shown.columns]
    if fmt == "markdown":
        align = ["---:" if n else ":---" for n in numeric]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines)
    if fmt == "latex":
        escape = lambda s: s.replace("_", r"\_").replace("%", r"\%").replace("~", r"$\sim$")  # noqa: E731
        spec = "".join("r" if n else "l" for n in numeric)
        lines = [
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            " & ".join(escape(h) for h in header) + r" \\",
            r"\midrule",
        ]
        lines += [" & ".join(escape(c) for c in row) + r" \\" for row in cells]
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines)
    raise ValueError(f"fmt must be 'markdown', 'latex' or 'csv', got {fmt!r}.")


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}f}"
    return str(value)
