"""Figures; each function returns the matplotlib Figure (shown in Jupyter, saved with savefig)."""

from .coefficients import plot_coefficients
from .conditional import plot_conditional_effects
from .effects import plot_therapist_effects
from .predictive import plot_density, plot_loo_pit, plot_statistics, plot_trajectories

__all__ = [
    "plot_coefficients",
    "plot_conditional_effects",
    "plot_density",
    "plot_loo_pit",
    "plot_statistics",
    "plot_therapist_effects",
    "plot_trajectories",
]
