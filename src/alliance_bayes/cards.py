"""A fit at a glance in Jupyter: :func:`fit_card`.

The InferenceData that :func:`alliance_bayes.fit` returns is ArviZ's object, with ArviZ's own
HTML view; it is not changed here. ``fit_card(idata)`` returns a small object that Jupyter shows
as an HTML card (and ``print`` as text): the model, the data sizes, the diagnostics with traffic
lights and the headline coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from ._html import Light, card, esc, facts, light, number, section, table
from .diagnostics import THRESHOLDS, convergence_report
from .result import read_attrs
from .summary import summarize

# the fixed effects a reader looks at first (the variance components have their own table)
HEADLINE = (
    "level",
    "growth",
    "level_coef",
    "growth_coef",
    "patient_level_coef",
    "patient_growth_coef",
    "intercept",
    "coef",
    "r2",
)
# amber up to these (past the green thresholds of diagnostics.THRESHOLDS), red beyond
AMBER = {"r_hat": 1.05, "ess": 100, "divergence_share": 0.01}
_COLUMNS = ["parameter", "rater", "covariate", "mean", "lower", "upper", "r_hat", "ess_bulk"]


@dataclass(frozen=True)
class FitCard:
    """What :func:`fit_card` returns: shown as HTML by Jupyter, as text by ``print``."""

    title: str
    model: list[tuple[str, str]]
    sizes: list[tuple[str, str]]
    lights: list[tuple[str, Light, str]]  # (what, colour, the value as text)
    coefficients: pd.DataFrame
    interval: str

    def _repr_html_(self) -> str:
        rows = [(label, esc(value)) for label, value in (*self.model, *self.sizes)]
        checks = [(what, light(colour, esc(text))) for what, colour, text in self.lights]
        return card(
            self.title,
            facts(rows),
            section("diagnostics", facts(checks)),
            section(
                f"headline coefficients ({self.interval} intervals)",
                table(self.coefficients.fillna(""), columns=_COLUMNS),
            ),
        )

    def __str__(self) -> str:
        lines = [self.title]
        lines += [f"  {label}: {value}" for label, value in (*self.model, *self.sizes)]
        lines += [f"  [{colour}] {what}: {text}" for what, colour, text in self.lights]
        shown = self.coefficients[_COLUMNS].fillna("")
        lines += ["", shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")]
        return "\n".join(lines)


def fit_card(idata: az.InferenceData, prob: float = 0.95) -> FitCard:
    """A compact summary card of a fit: model, data sizes, diagnostics and headline coefficients.

    Diagnostics come with traffic lights: green where they meet the thresholds of
    :mod:`alliance_bayes.diagnostics` (R-hat <= 1.01, bulk and tail ESS >= 400, no divergences,
    E-BFMI >= 0.3), amber a little beyond (R-hat <= 1.05, ESS >= 100, divergences in under 1 %
    of the draws), red otherwise; grey for an ADVI approximation, which has none.

    Parameters
    ----------
    idata
        A fit from :func:`alliance_bayes.fit` (or :func:`alliance_bayes.load`).
    prob
        Mass of the coefficients' equal-tailed intervals.

    Returns
    -------
    FitCard
        Shown as an HTML card in Jupyter (every label escaped), as text by ``print``.

    Examples
    --------
    >>> card = fit_card(idata)
    >>> card.sizes[:2]
    [('therapists', '12'), ('patients', '48')]
    >>> "growth_coef" in card._repr_html_()
    True
    """
    attrs = read_attrs(idata)
    spec = attrs.spec
    posterior = idata.posterior
    model = [("model", spec.name if spec else "unknown")]
    if spec is not None:
        model.append(("likelihood", spec.likelihood))
    covariates = [
        f"{label} ({level})"
        for level in ("therapist", "patient")
        if f"{level}_covariate" in posterior.coords
        for label in posterior.coords[f"{level}_covariate"].values.tolist()
    ]
    model.append(("covariates", ", ".join(map(str, covariates)) if covariates else "none"))
    if attrs.data is not None:
        roles = attrs.data.rater_roles
        model.append(
            ("raters", ", ".join(_rater(label, roles) for label in attrs.data.rater_labels))
        )
        scale = attrs.data.scale
        model.append(
            (
                "time",
                attrs.data.time_coding + (f"; scale {scale[0]:g}-{scale[1]:g}" if scale else ""),
            )
        )
    sampler = attrs.sampler or "unknown"
    sizes = [
        (name, number(int(posterior.sizes[dim])))
        for name, dim in (("therapists", "therapist"), ("patients", "patient"))
        if dim in posterior.sizes
    ]
    if "observed_data" in idata.groups():
        observed = np.asarray(idata.observed_data["alliance"])
        sizes.append(("ratings", number(int(np.isfinite(observed).sum()))))
    sizes.append(
        (
            "draws",
            f"{posterior.sizes['chain']} chains x {number(int(posterior.sizes['draw']))} "
            f"({sampler})",
        )
    )
    names = [n for n in HEADLINE if n in posterior]
    coefficients = summarize(idata, var_names=names, prob=prob) if names else pd.DataFrame()
    for column in _COLUMNS:
        if column not in coefficients:
            coefficients[column] = np.nan
    coefficients["ess_bulk"] = coefficients["ess_bulk"].round()  # shown without decimals
    return FitCard(
        title=f"Fit of {spec.name}" if spec else "Fit",
        model=model,
        sizes=sizes,
        lights=_lights(idata, attrs),
        coefficients=coefficients,
        interval=f"{prob:.0%}",
    )


def _rater(label: str, roles: dict[str, str]) -> str:
    role = roles.get(label, label)
    return label if role == label else f"{label} ({role})"


def _lights(idata: az.InferenceData, attrs: Any) -> list[tuple[str, Light, str]]:
    if attrs.advi is not None:
        return [("diagnostics", "grey", "none: an ADVI approximation (independent draws)")]
    report = attrs.diagnostics or convergence_report(idata)
    total = report["chains"] * report["draws"]
    r_hat, bulk, tail = report["max_r_hat"], report["min_ess_bulk"], report["min_ess_tail"]
    divergences = report["divergences"]
    out: list[tuple[str, Light, str]] = [
        (
            "max R-hat",
            _grade(r_hat, THRESHOLDS["r_hat"], AMBER["r_hat"], high_bad=True),
            f"{number(r_hat)} ({len(report['high_r_hat'])} above {THRESHOLDS['r_hat']})",
        ),
        (
            "min bulk ESS",
            _grade(bulk, THRESHOLDS["ess_bulk"], AMBER["ess"], high_bad=False),
            f"{number(bulk, 0)} ({len(report['low_ess_bulk'])} below {THRESHOLDS['ess_bulk']})",
        ),
        (
            "min tail ESS",
            _grade(tail, THRESHOLDS["ess_tail"], AMBER["ess"], high_bad=False),
            f"{number(tail, 0)} ({len(report['low_ess_tail'])} below {THRESHOLDS['ess_tail']})",
        ),
    ]
    share = divergences / total if total else 0.0
    colour: Light = (
        "green" if divergences == 0 else "amber" if share < AMBER["divergence_share"] else "red"
    )
    out.append(("divergences", colour, f"{divergences} of {number(total)} draws"))
    if report.get("e_bfmi"):
        low = report["low_e_bfmi_chains"]
        worst = min(report["e_bfmi"])
        out.append(
            (
                "min E-BFMI",
                "amber" if low else "green",
                f"{number(worst, 2)}"
                + (f" (chains {low} below {THRESHOLDS['e_bfmi']})" if low else ""),
            )
        )
    return out


def _grade(value: float, green: float, amber: float, *, high_bad: bool) -> Light:
    if value is None or not np.isfinite(value):
        return "grey"
    if high_bad:
        return "green" if value <= green else "amber" if value <= amber else "red"
    return "green" if value >= green else "amber" if value >= amber else "red"
