"""Predictive-check figures: trajectories, density overlay, statistics, LOO-PIT.

Each takes a fit (or a prior predictive InferenceData with ``group="prior"``), makes the
predictive draws when they are missing, and draws one panel per rater (or per statistic).
With more than eight distinct sessions (irregular schedules), sessions are grouped into at most
eight time bins (:func:`~alliance_bayes._bins.session_bins`, as in ``describe()`` and the
statistics): trajectory bands are drawn per bin and a per-bin statistic gets one panel per
rater with an interval per bin, so figures stay a readable size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import arviz as az
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._bins import SessionBins, session_bins
from ..checks.statistics import (
    GROUPS,
    StatisticDraws,
    predictive_draws,
    predictive_frame,
    statistic_draws,
)
from ..report import rater_label
from ..result import read_attrs
from .style import cycle_colour, panel_axes, score_label, time_label


def _rater_title(idata: az.InferenceData, rater: str, what: str) -> str:
    """``Patient-rated ratings``, or ``Ratings`` for the one unnamed rater."""
    who = rater_label(idata, rater)
    text = f"{who} {what}" if who else what
    return text[:1].upper() + text[1:]


def _time_coding(idata: az.InferenceData) -> str:
    data = read_attrs(idata).data
    return "log" if data is None else data.time_coding


def plot_trajectories(
    idata: az.InferenceData,
    group: str = "posterior",
    n_patients: int = 8,
    prob: float = 0.9,
    random_seed: int | None = None,
    *,
    ylabel: str | None = None,
    xlabel: str | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Observed trajectories of a sample of patients against predictive bands per session.

    One panel per rater: the predictive distribution of a rating at each session (all patients
    pooled; the ``prob`` band, the 50 % band and the median) and the observed lines of
    ``n_patients`` patients drawn at random. Sessions are on a log axis when time is coded as
    ln(session). With more than eight distinct sessions the bands are per time bin, drawn at
    the bin's mean session, and the axis is ticked at the bins' first sessions. The axes are
    labelled from the data (:func:`~alliance_bayes.plots.style.score_label`, the time column),
    or by ``ylabel`` / ``xlabel``; ``ax`` takes one Axes per rater.

    Examples
    --------
    >>> fig = plot_trajectories(idata, n_patients=10, random_seed=1)
    >>> fig.axes[0].get_ylabel(), fig.axes[0].get_xlabel()
    ('Alliance (1–7)', 'Session')
    """
    frame, scale = predictive_frame(idata)
    draws = predictive_draws(idata, group, random_seed)
    rng = np.random.default_rng(random_seed)
    raters = list(dict.fromkeys(frame["rater"]))
    n_sessions = min(len(np.unique(frame["session"])), 8)
    width = 3.2 + 0.15 * n_sessions  # grows with the sessions shown, at most 8 (time bins)
    own = ax is None
    fig, axes = panel_axes(
        ax, len(raters), f"one per rater {raters}", (width * len(raters), 3.4), sharey=True
    )
    tail = (1 - prob) / 2
    observed = np.isfinite(frame["alliance"].to_numpy()).any()
    ylabel = ylabel or score_label(idata)
    for ax, rater in zip(axes, raters, strict=True):
        rows = (frame["rater"] == rater).to_numpy()
        sub = frame[rows]
        bins = session_bins(sub["session"].to_numpy(dtype=float))
        sessions = bins.centre
        bands = np.array(
            [
                np.quantile(draws[:, rows][:, bins.codes == k], [tail, 0.25, 0.5, 0.75, 1 - tail])
                for k in range(bins.n_bins)
            ]
        )
        for (low, high), alpha, share in (((0, 4), 0.2, prob), ((1, 3), 0.35, 0.5)):
            label = f"{group} predictive {share:.0%}"
            ax.fill_between(
                sessions,
                bands[:, low],
                bands[:, high],
                color=cycle_colour(0),
                alpha=alpha,
                label=label,
            )
        ax.plot(sessions, bands[:, 2], color=cycle_colour(0), lw=1.5, label="predictive median")
        if observed:
            patients = np.unique(sub["patient"].astype(str))
            shown = rng.choice(patients, size=min(n_patients, patients.size), replace=False)
            for k, patient in enumerate(sorted(shown)):
                line = sub[sub["patient"].astype(str) == patient].sort_values("session")
                ax.plot(
                    line["session"],
                    line["alliance"],
                    color="k",
                    ls="-",
                    lw=0.8,
                    alpha=0.7,
                    marker="o",
                    ms=2.5,
                    label="observed patients" if k == 0 else None,
                )
        if scale is not None:
            for bound in scale:
                ax.axhline(bound, color="0.5", lw=0.8, ls=":")
        log = _time_coding(idata) == "log" and bins.lower[0] > 0
        _session_axis(ax, bins, log=log, label=xlabel or time_label(idata))
        ax.set_ylabel(ylabel)
        ax.set_title(_rater_title(idata, str(rater), "ratings"))
        ax.legend(fontsize=7, loc="lower right")
    _finish(fig, own)
    return fig


def _finish(fig: Figure, own: bool) -> None:
    """Tight layout for a figure of our own; the caller's figure is left as the caller made it."""
    if own:
        fig.tight_layout()


def _session_axis(ax: Any, bins: SessionBins, log: bool, label: str = "Session") -> None:
    """Sessions on a log axis (ticked at the sessions, or at the bins' first sessions)."""
    if log:
        ax.set_xscale("log")
        ax.set_xticks(bins.lower, [f"{s:g}" for s in bins.lower])
        ax.minorticks_off()
    if bins.binned:
        ax.set_xlabel(f"{label} (predictive bands in {bins.n_bins} bins)")
    else:
        ax.set_xlabel(label)


def plot_density(
    idata: az.InferenceData,
    group: str = "posterior",
    num_pp_samples: int = 50,
    random_seed: int | None = None,
    *,
    xlabel: str | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Density of the observed ratings over densities of predictive replicates, per rater.

    ArviZ's ``plot_ppc`` on each rater's ratings; for a planned design (prior predictive
    draws, no ratings yet) the densities of replicate data sets alone.

    Examples
    --------
    >>> fig = plot_density(idata, num_pp_samples=20)
    """
    frame, _ = predictive_frame(idata)
    predictive_draws(idata, group, random_seed)  # make the draws when missing
    observed = "observed_data" in idata.groups()
    raters = list(dict.fromkeys(frame["rater"]))
    own = ax is None
    fig, axes = panel_axes(ax, len(raters), f"one per rater {raters}", (3.6 * len(raters), 3.0))
    obs = idata[GROUPS[group]]["obs"].to_numpy()
    rng = np.random.default_rng(random_seed)
    for ax, rater in zip(axes, raters, strict=True):
        rows = (frame["rater"] == rater).to_numpy()
        if not observed:  # a planned design: ArviZ's plot_ppc needs observed data
            _predictive_densities(ax, idata, group, rows, num_pp_samples, rng)
        else:
            az.plot_ppc(
                idata,
                group=group,
                var_names=["alliance"],
                coords={"obs": obs[rows]},
                num_pp_samples=num_pp_samples,
                random_seed=random_seed,
                ax=ax,
            )
        ax.set_title(_rater_title(idata, str(rater), f"ratings ({group} predictive)"))
        ax.set_xlabel(xlabel or score_label(idata))
        ax.set_ylabel("Density")
    _finish(fig, own)
    return fig


def _predictive_densities(
    ax: Any, idata: az.InferenceData, group: str, rows: np.ndarray, n: int, rng: Any
) -> None:
    """Densities of ``n`` predictive data sets and of all of them pooled (no observed data)."""
    from arviz.stats.density_utils import kde

    draws = predictive_draws(idata, group)[:, rows]
    for k, i in enumerate(rng.choice(len(draws), size=min(n, len(draws)), replace=False)):
        grid, density = kde(draws[i])
        label = f"{group} predictive" if k == 0 else None
        ax.plot(grid, density, color=cycle_colour(0), alpha=0.2, lw=0.8, label=label)
    grid, density = kde(draws.ravel())
    ax.plot(
        grid, density, color=cycle_colour(1), ls="--", lw=1.5, label=f"{group} predictive (pooled)"
    )
    ax.legend(fontsize=7)


def plot_statistics(
    idata: az.InferenceData,
    statistics: Any = None,
    group: str = "posterior",
    *,
    columns: int = 4,
    random_seed: int | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """One panel per statistic and rater: the predictive distribution and the observed value.

    ``statistics`` as in :func:`alliance_bayes.checks.ppc_statistics`; each panel is titled with
    the statistic and the rater, and gives the (mid-)p-value. A statistic per time bin (more
    than eight distinct sessions: see :mod:`alliance_bayes.checks.statistics`) gets one panel
    per rater: the ``90 %`` and 50 % predictive intervals and the observed value per bin, with
    each bin's p-value under its label. ``ax`` takes one Axes per panel.

    Examples
    --------
    >>> fig = plot_statistics(idata, {"median": lambda f: f["alliance"].median()})
    >>> fig = plot_statistics(idata)
    """
    panels = _panels(statistic_draws(idata, statistics, group, random_seed))
    columns = max(1, min(columns, len(panels)))
    rows = int(np.ceil(len(panels) / columns))
    own = ax is None
    fig, axes = panel_axes(
        ax,
        len(panels),
        "one per statistic and rater",
        (2.6 * columns, 2.2 * rows),
        nrows=rows,
    )
    for panel_ax, panel in zip(axes, panels, strict=True):
        if panel[0].binned:
            _binned_panel(panel_ax, panel)
        else:
            _histogram_panel(panel_ax, panel[0], group)
    _finish(fig, own)
    return fig


def _panels(items: list[StatisticDraws]) -> list[list[StatisticDraws]]:
    """One panel per item, except the bins of a binned statistic: one panel per rater."""
    panels: dict[Any, list[StatisticDraws]] = {}
    for k, item in enumerate(items):
        panels.setdefault((item.name, item.rater) if item.binned else k, []).append(item)
    return list(panels.values())


def _histogram_panel(ax: Any, item: StatisticDraws, group: str) -> None:
    draws = item.draws[np.isfinite(item.draws)]
    if draws.size:
        ax.hist(draws, bins=30, color=cycle_colour(0), alpha=0.6, label=f"{group} predictive")
    if np.isfinite(item.observed):
        ax.axvline(item.observed, color="k", lw=2, label="observed")
    ax.set_title(f"{item.statistic}\n{item.rater}", fontsize=9)
    ax.set_xlabel(item.statistic, fontsize=8)
    ax.set_yticks([])
    if np.isfinite(item.p_value):
        ax.text(0.02, 0.95, f"p = {item.p_value:.2f}", transform=ax.transAxes, fontsize=8, va="top")


def _binned_panel(ax: Any, items: list[StatisticDraws]) -> None:
    """A statistic per time bin: predictive intervals (90 %, 50 %), observed values, p-values."""
    x = np.arange(len(items))
    quantiles = np.array(
        [
            np.quantile(d, [0.05, 0.25, 0.75, 0.95]) if d.size else np.full(4, np.nan)
            for d in (item.draws[np.isfinite(item.draws)] for item in items)
        ]
    )
    ax.vlines(x, quantiles[:, 0], quantiles[:, 3], color=cycle_colour(0), lw=1.2, alpha=0.6)
    ax.vlines(x, quantiles[:, 1], quantiles[:, 2], color=cycle_colour(0), lw=4, alpha=0.6)
    ax.plot(x, [item.observed for item in items], "o", color="k", ms=3.5)
    labels = [
        f"{item.label}\n{item.p_value:.2f}" if np.isfinite(item.p_value) else str(item.label)
        for item in items
    ]
    ax.set_xticks(x, labels, fontsize=6)
    ax.set_title(f"{items[0].name} by session bin\n{items[0].rater}", fontsize=9)
    ax.set_xlabel("sessions (p-value below)", fontsize=8)


def plot_loo_pit(
    idata: az.InferenceData,
    ecdf: bool = True,
    random_seed: int | None = None,
    *,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """LOO-PIT per rater (ArviZ's ``plot_loo_pit``).

    The leave-one-out probability integral transforms of the observed ratings should look uniform
    when the model predicts left-out ratings well: an S shape means the predictive distributions
    are too wide, an inverted S too narrow, a slope one-sided bias. With ``ecdf=True`` the
    difference between their ECDF and the uniform one is shown with a simultaneous band. Ratings
    exactly at a bound of the scale under the censored likelihood have a PIT of one (or zero),
    which shows as a step at the end. ``ax`` takes one Axes per rater.

    Examples
    --------
    >>> fig = plot_loo_pit(idata)
    """
    if "log_likelihood" not in idata.groups():
        raise ValueError("LOO-PIT needs the log_likelihood group; fit with log_likelihood=True.")
    frame, _ = predictive_frame(idata)
    y_hat = predictive_draws(idata, "posterior", random_seed).T
    loglik = idata.log_likelihood["alliance"].stack(__sample__=("chain", "draw"))
    loglik = loglik.transpose("obs", "__sample__")
    n_chains = idata.posterior.sizes["chain"]
    if n_chains > 1:
        ess = az.ess(idata.posterior, method="mean")
        reff = float(np.hstack([ess[v].to_numpy().ravel() for v in ess.data_vars]).mean())
        reff /= loglik.sizes["__sample__"]
    else:
        reff = 1.0
    log_weights = az.psislw(-loglik, reff=reff)[0].to_numpy()
    raters = list(dict.fromkeys(frame["rater"]))
    own = ax is None
    fig, axes = panel_axes(ax, len(raters), f"one per rater {raters}", (3.6 * len(raters), 3.0))
    y = frame["alliance"].to_numpy()
    for ax, rater in zip(axes, raters, strict=True):
        rows = (frame["rater"] == rater).to_numpy()
        az.plot_loo_pit(
            y=y[rows], y_hat=y_hat[rows], log_weights=log_weights[rows], ecdf=ecdf, ax=ax
        )
        ax.set_title(_rater_title(idata, str(rater), "ratings: LOO-PIT"))
        ax.set_xlabel("LOO-PIT")
        ax.set_ylabel("ECDF difference" if ecdf else "Density")
    _finish(fig, own)
    return fig
