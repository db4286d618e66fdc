"""Figures; each function returns the matplotlib Figure (shown in Jupyter, saved with savefig).

Every figure function takes ``ax=`` (one Axes per panel), labels its axes from the data, and
draws for print inside ``with paper_style():``; :func:`savefig` saves at 300 dpi.
"""

from .coefficients import plot_coefficients
from .conditional import plot_conditional_effects
from .effects import plot_therapist_effects
from .predictive import plot_density, plot_loo_pit, plot_statistics, plot_trajectories
from .style import paper_style, savefig

__all__ = [
    "paper_style",
    "plot_coefficients",
    "plot_conditional_effects",
    "plot_density",
    "plot_loo_pit",
    "plot_statistics",
    "plot_therapist_effects",
    "plot_trajectories",
    "savefig",
]
