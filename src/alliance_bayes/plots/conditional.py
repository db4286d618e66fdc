"""Conditional effects figure: expected trajectories per rater at chosen covariate values."""

from __future__ import annotations

from collections.abc import Sequence

import arviz as az
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from ..data import SINGLE_RATER
from ..effects import Units, _contrast, conditional_trajectories, observed_sessions
from .style import column_label, panel_axes, score_label, time_label

# line styles that stay distinct in grey print, in the order of the values
_STYLES = ("--", "-", ":", "-.", (0, (5, 1, 1, 1)))


def plot_conditional_effects(
    idata: az.InferenceData,
    covariate: str,
    values: Sequence[float] = (-1, 0, 1),
    *,
    units: Units = "sd",
    sessions: Sequence[float] | None = None,
    prob: float = 0.95,
    label: str | None = None,
    ylabel: str | None = None,
    n_points: int = 50,
    ax: Axes | None = None,
) -> Figure:
    """Expected alliance over sessions per rater, at chosen values of a covariate.

    The figure of Nissen-Lie et al. (2013): for a typical therapist and patient (random effects
    at 0, other covariates at their mean), the expected trajectory over each rater's observed
    session range (or ``sessions``), one line and ``prob`` credible band per covariate value,
    one panel per rater with a shared y axis. Sessions are raw session numbers (a log axis when
    time is log-coded). See :func:`alliance_bayes.effects.conditional_trajectories`.

    Parameters
    ----------
    idata
        A fit of the growth model.
    covariate
        A therapist (or patient) covariate of the fit.
    values
        Covariate values: SD from the mean (``units="sd"``) or raw scores (``units="raw"``).
    units
        ``"sd"`` or ``"raw"``.
    sessions
        Session numbers to draw over (default: each rater's observed range).
    prob
        Mass of the credible bands.
    label
        The covariate's name in the legend, e.g. ``"Personal Burdens"`` (default: its label
        stored with the fit, e.g. an SPSS column label, else its name).
    ylabel
        The y axis label (default: the score column's name and the scale's range,
        :func:`~alliance_bayes.plots.style.score_label`).
    n_points
        Sessions per line.
    ax
        Axes to draw on: one per rater (a single Axes for a fit with one rater).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_conditional_effects(idata, "burdens", label="Personal Burdens")
    >>> [a.get_title() for a in fig.axes]
    ['Patient-rated', 'Therapist-rated']
    >>> fig.legends[0].get_texts()[0].get_text()
    'Personal Burdens: -1 SD (-0.38)'
    >>> fig.savefig("conditional_effects.png", dpi=200)
    """
    table = conditional_trajectories(
        idata, covariate, values, sessions=sessions, units=units, n_points=n_points, prob=prob
    )
    raters = list(dict.fromkeys(table["rater"]))
    fig, axes = panel_axes(
        ax,
        len(raters),
        f"one panel per rater {raters}",
        (3.6 * len(raters) + 0.6, 3.6),
        sharey=True,
    )
    name = label or column_label(idata, covariate)
    log_time = table.attrs["time_coding"] == "log"
    # viridis, or the greys of paper_style(): both stay apart in grey print
    colors = plt.get_cmap(mpl.rcParams["image.cmap"])(np.linspace(0.1, 0.8, len(values)))[::-1]
    observed = observed_sessions(idata)
    for axis, rater in zip(axes, raters, strict=True):
        rows = table[table["rater"] == rater]
        for i, (_, group) in enumerate(rows.groupby("value", sort=False)):
            color, style = colors[i], _STYLES[i % len(_STYLES)]
            axis.fill_between(
                group["session"], group["lower"], group["upper"], color=color, alpha=0.18, lw=0
            )
            axis.plot(
                group["session"],
                group["mean"],
                color=color,
                ls=style,
                lw=1.8,
                label=_legend_text(name, group.iloc[0], units),
            )
        axis.set_title(_rater_title(idata, rater))
        axis.set_xlabel(time_label(idata))
        _session_axis(axis, observed[rater] if sessions is None else np.asarray(sessions), log_time)
        axis.spines[["top", "right"]].set_visible(False)
        axis.grid(axis="y", color="0.9", lw=0.6)
    axes[0].set_ylabel(ylabel or score_label(idata))
    title = f"Average therapist and patient, {100 * prob:g}% credible bands"
    if ax is not None:
        axes[0].legend(title=title, frameon=False, fontsize="small", title_fontsize="small")
        return fig
    handles, labels = axes[0].get_legend_handles_labels()
    ncol = len(labels) if len(raters) > 1 or len(labels) <= 2 else 1
    legend = fig.legend(
        handles,
        labels,
        title=title,
        loc="lower center",
        ncol=ncol,
        frameon=False,
        fontsize="small",
        title_fontsize="small",
    )
    fig.tight_layout()
    # room below the panels for the legend, measured in the drawn figure
    fig.canvas.draw()
    height = legend.get_window_extent().height / fig.bbox.height
    fig.tight_layout(rect=(0, height + 0.01, 1, 1))
    return fig


def _legend_text(name: str, row: object, units: Units) -> str:
    """``Personal Burdens: -1 SD (2.10)``, or ``Personal Burdens = 4.5 (+1.2 SD)`` in raw units."""
    z, raw = float(row["z"]), float(row["raw"])
    if units == "raw":
        return f"{name} = {_number(float(row['value']))} ({z:+.1f} SD)"
    sd = "mean" if z == 0 else f"{_number(z, signed=True)} SD"
    return f"{name}: {sd}" + ("" if np.isnan(raw) else f" ({raw:.2f})")


def _number(value: float, signed: bool = False) -> str:
    text = f"{value:g}"
    return ("+" + text) if signed and value > 0 else text


def _rater_title(idata: az.InferenceData, rater: str) -> str:
    contrast = _contrast(idata)
    roles = {} if contrast is None else {contrast[0]: "patient", contrast[1]: "therapist"}
    role = roles.get(rater) or (rater if rater in ("patient", "therapist") else None)
    if role is None:
        return "" if rater == SINGLE_RATER else str(rater)  # one unnamed rater: no title
    title = f"{role.capitalize()}-rated"
    return title if rater == role else f"{title} ({rater})"


def _session_axis(axis: Axes, observed: np.ndarray, log_time: bool) -> None:
    """Raw session numbers; a log axis with ticks at the observed sessions for log-coded time."""
    if not log_time:
        return
    axis.set_xscale("log")
    ticks = np.unique(observed)
    if ticks.size > 8:  # too many to label: a few round numbers within the range
        nice = np.array([1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500])
        ticks = nice[(nice >= ticks[0]) & (nice <= ticks[-1])]
    axis.xaxis.set_major_locator(FixedLocator(ticks))
    axis.xaxis.set_minor_locator(NullLocator())
    formatter = ScalarFormatter()
    formatter.set_scientific(False)
    axis.xaxis.set_major_formatter(formatter)
