"""Caterpillar plot of therapist effects, with the uncertainty of each therapist's rank."""

from __future__ import annotations

from collections.abc import Sequence

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def effect_ranks(draws: np.ndarray) -> np.ndarray:
    """Rank of each therapist per draw (1 = lowest effect); ``draws`` is (n_draws, n_therapists).

    Examples
    --------
    >>> effect_ranks(np.array([[0.3, -1.0, 2.0]]))
    array([[2, 1, 3]])
    """
    return np.argsort(np.argsort(draws, axis=1), axis=1) + 1


def plot_therapist_effects(
    idata: az.InferenceData,
    components: Sequence[str] | None = None,
    prob: float = 0.9,
    max_labels: int = 40,
) -> Figure:
    """Therapist effects on level and growth, sorted, with intervals and rank intervals.

    One column per component (``<rater>:level``, ``<rater>:growth``). The top row shows each
    therapist's ``therapist_effect`` (posterior median and ``prob`` interval), therapists sorted by
    their posterior mean; the bottom row the posterior of each therapist's rank among all
    therapists (1 = lowest), in the same order: a wide rank interval says the data cannot tell
    where this therapist stands.

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

    Examples
    --------
    >>> fig = plot_therapist_effects(idata)
    >>> fig.savefig("therapist_effects.pdf")
    """
    if "therapist_effect" not in idata.posterior:
        raise ValueError("the fit has no therapist_effect (not a growth model).")
    effects = idata.posterior["therapist_effect"]
    components = list(components or [str(c) for c in effects["component"].to_numpy()])
    labels = np.asarray([str(t) for t in effects["therapist"].to_numpy()])
    n = labels.size
    tail = (1 - prob) / 2
    fig, axes = plt.subplots(
        2,
        len(components),
        figsize=(max(3.5, 0.12 * n + 1.5) * len(components), 6.0),
        squeeze=False,
        sharex="col",
    )
    x = np.arange(n)
    for col, component in enumerate(components):
        draws = (
            effects.sel(component=component)
            .stack(__sample__=("chain", "draw"))
            .transpose("__sample__", "therapist")
            .to_numpy()
        )
        order = np.argsort(draws.mean(axis=0))
        low, mid, high = np.quantile(draws[:, order], [tail, 0.5, 1 - tail], axis=0)
        top, bottom = axes[0, col], axes[1, col]
        top.errorbar(x, mid, yerr=[mid - low, high - mid], fmt="o", ms=3, color="C0", lw=1)
        top.axhline(0, color="0.6", lw=1, ls="--")
        top.set_title(f"therapist effect: {component}")
        top.set_ylabel(f"effect on {component.split(':')[-1]} ({prob:.0%} interval)")
        ranks = effect_ranks(draws)[:, order]
        r_low, r_mid, r_high = np.quantile(ranks, [tail, 0.5, 1 - tail], axis=0)
        bottom.errorbar(
            x, r_mid, yerr=[r_mid - r_low, r_high - r_mid], fmt="s", ms=3, color="C1", lw=1
        )
        bottom.set_ylim(0.5, n + 0.5)
        bottom.set_ylabel(f"rank (1 = lowest, {prob:.0%} interval)")
        bottom.set_xlabel("therapist (sorted by posterior mean effect)")
        if n <= max_labels:
            bottom.set_xticks(x, labels[order], rotation=90, fontsize=7)
        else:
            bottom.set_xticks([])
    fig.tight_layout()
    return fig
