"""Covariate effects: posterior means and intervals per parameter and rater."""

from __future__ import annotations

from collections.abc import Sequence

import arviz as az
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..summary import summarize


def plot_coefficients(
    idata: az.InferenceData,
    var_names: Sequence[str] = ("level_coef", "growth_coef"),
    prob: float = 0.95,
) -> Figure:
    """Posterior means and intervals of covariate effects, one panel per parameter, by rater.

    Examples
    --------
    >>> fig = plot_coefficients(idata)
    >>> fig.savefig("coefficients.png")
    """
    table = summarize(idata, var_names=var_names, prob=prob)
    names = [n for n in var_names if n in set(table["parameter"])]
    fig, axes = plt.subplots(
        1,
        len(names),
        figsize=(4.5 * len(names), 0.6 + 0.45 * len(table)),
        squeeze=False,
        sharey=False,
    )
    for ax, name in zip(axes[0], names, strict=True):
        rows = table[table["parameter"] == name].reset_index(drop=True)
        labels = [
            " / ".join(str(v) for v in (r.covariate, r.rater) if v) for r in rows.itertuples()
        ]
        y = range(len(rows))
        ax.errorbar(
            rows["mean"],
            y,
            xerr=[rows["mean"] - rows["lower"], rows["upper"] - rows["mean"]],
            fmt="o",
            color="C0",
            capsize=3,
        )
        ax.axvline(0, color="0.6", lw=1, ls="--")
        ax.set_yticks(list(y), labels)
        ax.invert_yaxis()
        ax.set_title(name)
        ax.set_xlabel(f"effect per SD of the covariate ({prob:.0%} interval)")
    fig.tight_layout()
    return fig
