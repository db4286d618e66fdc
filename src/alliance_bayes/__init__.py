"""alliance_bayes: Bayesian multilevel models of the therapeutic alliance, on PyMC and ArviZ."""

from ._version import __version__
from .data import AllianceData
from .errors import ConvergenceWarning, DataValidationError
from .spec import CovariateDesign, Design

__all__ = [
    "AllianceData",
    "ConvergenceWarning",
    "CovariateDesign",
    "DataValidationError",
    "Design",
    "__version__",
]
