"""Covariate effects: posterior means and intervals per parameter and rater."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import arviz as az
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..report import coefficient_labels, time_unit
from ..summary import summarize
from ..vocabulary import scalar_name
from .style import cycle_colour, panel_axes

TITLES = {
    "level_coef": "Effects on level",
    "growth_coef": "Effects on growth",
    "patient_level_coef": "Patient covariates: effects on level",
    "patient_growth_coef": "Patient covariates: effects on growth",
}


def plot_coefficients(
    idata: az.InferenceData,
    var_names: Sequence[str] = ("level_coef", "growth_coef"),
    prob: float = 0.95,
    *,
    labels: Mapping[str, str] | None = None,
    xlabel: str | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Posterior means and intervals of covariate effects, one panel per parameter, by rater.

    Rows are labelled as in :func:`alliance_bayes.report_table` ("Growth × Burdens,
    patient-rated"); panels are stacked, and the height grows with the number of rows.

    Parameters
    ----------
    idata
        A fit.
    var_names
        The coefficients to show, one panel each.
    prob
        Interval mass.
    labels
        Display names of covariates and raters (as in :func:`alliance_bayes.report_table`).
    xlabel
        The x axis label (default: per SD of the covariate, and per unit of time for growth).
    ax
        Axes to draw on: one per panel.

    Examples
    --------
    >>> fig = plot_coefficients(idata, labels={"burdens": "Personal Burdens"})
    >>> fig.axes[1].get_yticklabels()[0].get_text()
    'Growth × Personal Burdens, patient-rated'
    >>> fig.savefig("coefficients.png")
    """
    posterior = idata.posterior
    names = [n for n in var_names if n in posterior and posterior[n].size]
    if not names:
        raise ValueError(
            f"the fit has none of {list(var_names)} (a model without covariates?); "
            f"its variables: {sorted(str(n) for n in posterior.data_vars)}."
        )
    table = summarize(idata, var_names=names, prob=prob)
    words = coefficient_labels(idata, labels)
    rows_per = [int((table["parameter"] == n).sum()) for n in names]
    # panels one below the other: the row labels are long, the intervals need the width
    height = sum(0.9 + 0.3 * k for k in rows_per)
    fig, axes = panel_axes(
        ax,
        len(names),
        f"one per parameter {names}",
        (6.5, max(2.0, height)),
        nrows=len(names),
        gridspec_kw={"height_ratios": rows_per},
    )
    for panel, name in zip(axes, names, strict=True):
        rows = table[table["parameter"] == name].reset_index(drop=True)
        ticks = [
            words.get(scalar_name(name, [str(v) for v in (r.rater, r.covariate) if v]), name)
            for r in rows.itertuples()
        ]
        y = range(len(rows))
        panel.errorbar(
            rows["mean"],
            y,
            xerr=[rows["mean"] - rows["lower"], rows["upper"] - rows["mean"]],
            fmt="o",
            color=cycle_colour(0),
            capsize=3,
        )
        panel.axvline(0, color="0.6", lw=1, ls="--")
        panel.set_yticks(list(y), ticks)
        panel.invert_yaxis()
        panel.set_title(TITLES.get(name, name))
        unit = "per SD of the covariate" + (f", {time_unit(idata)}" if "growth" in name else "")
        panel.set_xlabel(xlabel or f"Effect {unit} ({prob:.0%} CrI)")
    if ax is None:
        fig.tight_layout()
    return fig
