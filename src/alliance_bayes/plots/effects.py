"""Caterpillar plot of therapist effects, with the uncertainty of each therapist's rank."""

from __future__ import annotations

from collections.abc import Sequence

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .style import cycle_colour, panel_axes


def effect_ranks(draws: np.ndarray) -> np.ndarray:
    """Rank of each therapist per draw (1 = lowest effect); ``draws`` is (n_draws, n_therapists).

    Examples
    --------
    >>> effect_ranks(np.array([[0.3, -1.0, 2.0]]))
    array([[2, 1, 3]])
    """
    return np.argsort(np.argsort(draws, axis=1), axis=1) + 1


def therapist_panel_width(n_therapists: int, labelled: bool) -> float:
    """Width in inches of one panel with ``n_therapists`` along its x axis.

    About 0.1 inch per labelled therapist (a 7 pt label), 0.035 inch per unlabelled one
    (a point and its interval), between 2.6 and 4.5 inches: 70 therapists of one rater fit a
    7-inch page in two columns.

    Examples
    --------
    >>> therapist_panel_width(12, True), therapist_panel_width(70, False)
    (2.6, 3.65)
    """
    per = 0.1 if labelled else 0.035
    return float(np.clip(round(1.2 + per * n_therapists, 2), 2.6, 4.5))


def plot_therapist_effects(
    idata: az.InferenceData,
    components: Sequence[str] | None = None,
    prob: float = 0.9,
    max_labels: int = 30,
    *,
    ranks: bool = True,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Therapist effects on level and growth, sorted, with intervals and rank intervals.

    One column per kind of effect (level, growth) and, per rater, a row of effects and a row of
    ranks: each therapist's ``therapist_effect`` (posterior median and ``prob`` interval),
    therapists sorted by their posterior mean, and below it the posterior of each therapist's
    rank among all therapists (1 = lowest), in the same order: a wide rank interval says the
    data cannot tell where this therapist stands. The panels' width grows with the number of
    therapists (:func:`therapist_panel_width`), up to a page.

    Parameters
    ----------
    idata
        A fit of the growth model.
    components
        Which components to show (default: all).
    prob
        Interval mass.
    max_labels
        Therapist labels are written on the axis up to this many therapists.
    ranks
        Whether to draw the rank panels.
    ax
        Axes to draw on: one per panel, in the order component by component (its effects,
        then its ranks when ``ranks``); a single Axes for one component without ranks.

    Examples
    --------
    >>> fig = plot_therapist_effects(idata)
    >>> [round(float(v), 1) for v in fig.get_size_inches()]  # 12 therapists, 2 raters
    [5.2, 9.2]
    >>> fig.savefig("therapist_effects.pdf")
    """
    from ..report import rater_label

    if "therapist_effect" not in idata.posterior:
        raise ValueError("the fit has no therapist_effect (not a growth model).")
    effects = idata.posterior["therapist_effect"]
    known = [str(c) for c in effects["component"].to_numpy()]
    components = list(components or known)
    unknown = [c for c in components if c not in known]
    if unknown:
        raise ValueError(f"components {unknown} are not in the fit; its components: {known}.")
    labels = np.asarray([str(t) for t in effects["therapist"].to_numpy()])
    n = labels.size
    labelled = n <= max_labels
    per = 2 if ranks else 1
    fig, axes = _effect_axes(ax, components, per, therapist_panel_width(n, labelled))
    tail = (1 - prob) / 2
    x = np.arange(n)
    for k, component in enumerate(components):
        rater, kind = component.rsplit(":", 1)
        who = rater_label(idata, rater)
        draws = (
            effects.sel(component=component)
            .stack(__sample__=("chain", "draw"))
            .transpose("__sample__", "therapist")
            .to_numpy()
        )
        order = np.argsort(draws.mean(axis=0))
        low, mid, high = np.quantile(draws[:, order], [tail, 0.5, 1 - tail], axis=0)
        top = axes[per * k]
        top.errorbar(
            x, mid, yerr=[mid - low, high - mid], fmt="o", ms=2.5, color=cycle_colour(0), lw=0.8
        )
        top.axhline(0, color="0.6", lw=0.8, ls="--")
        top.set_title(f"{kind.capitalize()}" + (f", {who}" if who else ""))
        top.set_ylabel(f"Therapist effect on {kind}\n(median, {prob:.0%} interval)")
        panels = [top]
        if ranks:
            bottom = axes[per * k + 1]
            ranked = effect_ranks(draws)[:, order]
            r_low, r_mid, r_high = np.quantile(ranked, [tail, 0.5, 1 - tail], axis=0)
            bottom.errorbar(
                x,
                r_mid,
                yerr=[r_mid - r_low, r_high - r_mid],
                fmt="s",
                ms=2.5,
                color=cycle_colour(1),
                lw=0.8,
            )
            bottom.set_ylim(0.5, n + 0.5)
            bottom.set_ylabel(f"Rank of the therapist\n(1 = lowest, {prob:.0%} interval)")
            panels.append(bottom)
        for panel in panels:
            if labelled:
                panel.set_xticks(x, labels[order], rotation=90, fontsize=6)
            else:
                panel.set_xticks([])
        panels[-1].set_xlabel("Therapist (sorted by mean effect)")
    if ax is None:
        fig.tight_layout()
    return fig


def _effect_axes(
    ax: Axes | Sequence[Axes] | None, components: list[str], per: int, width: float
) -> tuple[Figure, list[Axes]]:
    """Panels component by component (effects, then ranks); a new figure puts each kind of
    effect (level, growth) in a column and each rater's effects and ranks in rows."""
    n = per * len(components)
    if ax is not None:
        return panel_axes(ax, n, f"{per} per component {components}", (1, 1))
    raters = list(dict.fromkeys(c.rsplit(":", 1)[0] for c in components))
    kinds = list(dict.fromkeys(c.rsplit(":", 1)[1] for c in components))
    rows = per * len(raters)
    fig, grid = plt.subplots(
        rows, len(kinds), figsize=(width * len(kinds), 2.3 * rows), squeeze=False
    )
    axes: list[Axes] = []
    used = set()
    for component in components:
        rater, kind = component.rsplit(":", 1)
        row, col = per * raters.index(rater), kinds.index(kind)
        for j in range(per):
            axes.append(grid[row + j, col])
            used.add((row + j, col))
    for (row, col), panel in np.ndenumerate(grid):
        if (row, col) not in used:
            panel.set_visible(False)
    return fig, axes
