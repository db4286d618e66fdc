"""alliance_bayes: Bayesian multilevel models of the therapeutic alliance, on PyMC and ArviZ."""

from ._version import __version__
from .data import AllianceData
from .errors import ConvergenceWarning, DataValidationError
from .fit import compile_counts, fit, load, save
from .models import build_model, growth_model, therapist_regression
from .priors import default_priors
from .simulate import Truth, simulate
from .spec import CovariateDesign, Design, ModelSpec
from .summary import format_table, rater_contrast, summarize, variance_components

__all__ = [
    "AllianceData",
    "ConvergenceWarning",
    "CovariateDesign",
    "DataValidationError",
    "Design",
    "ModelSpec",
    "Truth",
    "__version__",
    "build_model",
    "compile_counts",
    "default_priors",
    "fit",
    "format_table",
    "growth_model",
    "load",
    "rater_contrast",
    "save",
    "simulate",
    "summarize",
    "therapist_regression",
    "variance_components",
]
