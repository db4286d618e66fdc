"""alliance_bayes: Bayesian multilevel models of the therapeutic alliance, on PyMC and ArviZ."""

from ._version import __version__
from .data import AllianceData
from .errors import ConvergenceWarning, DataValidationError
from .fit import compile_counts, fit, load, save
from .models import growth_model
from .priors import default_priors
from .simulate import Truth, simulate
from .spec import CovariateDesign, Design, ModelSpec

__all__ = [
    "AllianceData",
    "ConvergenceWarning",
    "CovariateDesign",
    "DataValidationError",
    "Design",
    "ModelSpec",
    "Truth",
    "__version__",
    "compile_counts",
    "default_priors",
    "fit",
    "growth_model",
    "load",
    "save",
    "simulate",
]
