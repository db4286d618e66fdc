"""Figures for print: the paper style, saving at 300 dpi, axes from the caller, labels from data.

:func:`paper_style` is the ``style="paper"`` of every figure: a context manager that sets
matplotlib's parameters for a journal page (small fonts, no top or right spines, a greyscale
colour cycle with distinct line styles, fonts embedded as TrueType, 300 dpi when saved). Any
figure function called inside it draws in that style; :func:`savefig` writes a figure at 300 dpi
with a tight bounding box. Every figure function takes ``ax=``: one Axes for a one-panel figure,
or a sequence of Axes, one per panel (:func:`panel_axes`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import arviz as az
import matplotlib as mpl
import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..result import DataAttrs, read_attrs

# greys of distinct lightness with distinct line styles: lines stay apart in grey print
PAPER_CYCLE = cycler(color=["0.0", "0.5", "0.3", "0.7"]) + cycler(linestyle=["-", "--", ":", "-."])
PAPER_RC: dict[str, Any] = {
    "axes.prop_cycle": PAPER_CYCLE,
    "image.cmap": "gray",
    "font.family": "sans-serif",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "errorbar.capsize": 0,
    "grid.color": "0.85",
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,  # TrueType fonts in PDF and PS: journals refuse Type 3
    "ps.fonttype": 42,
}
"""matplotlib parameters of :func:`paper_style`."""

PAPER_DPI = 300


@contextmanager
def paper_style(**overrides: Any) -> Iterator[None]:
    """Draw figures for print inside this block: greyscale-safe, small fonts, 300 dpi.

    ``overrides`` are further matplotlib parameters (``rcParams`` names with dots replaced
    by ``__``, e.g. ``font__size=9``).

    Examples
    --------
    >>> import matplotlib as mpl
    >>> with paper_style():
    ...     mpl.rcParams["savefig.dpi"], mpl.rcParams["axes.spines.top"]
    (300.0, False)
    >>> from alliance_bayes.plots import plot_therapist_effects
    >>> with paper_style(font__size=10):
    ...     fig = plot_therapist_effects(idata)
    ...     path = savefig(fig, "therapist_effects.png")
    """
    params = PAPER_RC | {key.replace("__", "."): value for key, value in overrides.items()}
    with mpl.rc_context(params):
        yield


def savefig(
    fig: Figure, path: str | os.PathLike, *, dpi: int = PAPER_DPI, close: bool = False, **kwargs
) -> Path:
    """Save ``fig`` at ``dpi`` (300 by default) with a tight bounding box; returns the path.

    The format follows the file's suffix (``.png``, ``.pdf``, ``.svg``, ``.tiff``).

    Examples
    --------
    >>> from alliance_bayes.plots import plot_coefficients
    >>> savefig(plot_coefficients(idata), "coefficients.png")
    PosixPath('coefficients.png')
    """
    path = Path(path)
    fig.savefig(path, dpi=dpi, bbox_inches=kwargs.pop("bbox_inches", "tight"), **kwargs)
    if close:
        plt.close(fig)
    return path


def cycle_colour(k: int) -> str | tuple:
    """The ``k``-th colour of the current colour cycle, resolved now.

    Figures name their colours by this rather than ``"C0"``: matplotlib resolves ``"C0"`` only
    when the figure is drawn, so a figure made inside :func:`paper_style` and shown after it
    (Jupyter draws at the end of the cell) would lose its greys.

    Examples
    --------
    >>> with paper_style():
    ...     cycle_colour(0)
    '0.0'
    """
    colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    return colours[k % len(colours)]


def panel_axes(
    ax: Axes | Sequence[Axes] | None,
    n: int,
    what: str,
    figsize: tuple[float, float],
    nrows: int = 1,
    **subplots: Any,
) -> tuple[Figure, list[Axes]]:
    """The figure and the ``n`` panels to draw on: new ones, or the caller's ``ax``.

    ``ax`` is one Axes (when ``n == 1``) or a sequence of ``n`` Axes, all of one figure;
    ``what`` says what the panels are, for the error ("one per rater ['patient', ...]").
    A new figure has ``nrows`` rows of panels.

    Examples
    --------
    >>> fig, axes = panel_axes(None, 2, "one per rater", (6, 3))
    >>> len(axes), panel_axes(axes, 2, "one per rater", (6, 3))[1] == axes
    (2, True)
    >>> panel_axes(axes[0], 2, "one per rater ['patient', 'therapist']", (6, 3))
    Traceback (most recent call last):
    ValueError: this figure has 2 panels (one per rater ['patient', 'therapist']); ax= got 1 Axes. Pass 2 Axes, or leave ax out.
    """  # noqa: E501
    if ax is None:
        ncols = -(-n // nrows)
        fig, grid = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **subplots)
        flat = list(grid.ravel())
        for extra in flat[n:]:
            extra.set_visible(False)
        return fig, flat[:n]
    axes = [ax] if isinstance(ax, Axes) else list(getattr(ax, "ravel", lambda: ax)())
    if len(axes) != n:
        raise ValueError(
            f"this figure has {n} panels ({what}); ax= got {len(axes)} Axes. Pass {n} Axes, "
            "or leave ax out."
        )
    figures = {id(a.figure) for a in axes}
    if len(figures) != 1:
        raise ValueError("ax= must hold Axes of one figure.")
    return axes[0].figure, axes


def _data(idata: az.InferenceData) -> DataAttrs:
    return read_attrs(idata).data or DataAttrs()


def score_label(idata: az.InferenceData) -> str:
    """The outcome's axis label: the score column's label (or name) and the instrument's range.

    ``Alliance`` for the default column name ``alliance``; ``wai (1–7)`` for a column ``wai``
    on a 1-7 scale. Every figure function takes a label of its own to override it.

    Examples
    --------
    >>> score_label(idata)
    'Alliance (1–7)'
    """
    data = _data(idata)
    column = data.columns.get("score", "alliance")
    name = column_label(idata, column, "Alliance" if column == "alliance" else column)
    if data.scale is None:
        return name
    low, high = data.scale
    return f"{name} ({low:g}–{high:g})"


def time_label(idata: az.InferenceData) -> str:
    """The time axis label: the time column's label, or its name capitalised (``Session``).

    Examples
    --------
    >>> time_label(idata)
    'Session'
    """
    column = _data(idata).columns.get("time", "session")
    return column_label(idata, column, column[:1].upper() + column[1:])


def column_label(idata: az.InferenceData, column: str, default: str | None = None) -> str:
    """A column's display name stored with the fit (an SPSS column label that
    :func:`~alliance_bayes.read_table` kept, or ``labels=`` of ``AllianceData.from_frame``),
    else ``default`` (else the column's own name).

    Examples
    --------
    >>> column_label(idata, "burdens")
    'burdens'
    """
    return _data(idata).labels.get(column, column if default is None else default)
