"""alliance_bayes: Bayesian multilevel models of the therapeutic alliance, on PyMC and ArviZ."""

# first: imported, it settles PyTensor's BLAS flags and imports ArviZ without their warnings
from . import (
    _quiet,  # noqa: F401  (isort: keep first)
    datasets,  # ab.datasets.load(...) without importing the submodule first
)
from ._graph import compile_counts
from ._version import __version__
from .aggregate import therapist_scores
from .cards import fit_card
from .checks import (
    Statistic,
    default_statistics,
    posterior_predictive,
    ppc_statistics,
    prior_predictive,
)
from .checks.kfold import kfold, loo  # loo: compare.loo, with refits where PSIS fails
from .compare import ParetoKWarning, bayes_r2, compare
from .data import AllianceData
from .effects import conditional_effect_table, conditional_trajectories
from .errors import (
    ConvergenceWarning,
    DataValidationError,
    DataWarning,
    StoreLockedError,
    StoreMismatchError,
    StoreWarning,
    UnsafePathError,
    UntrustedCacheWarning,
)
from .fit import fit
from .instruments import InstrumentKey, reliability, score_wai
from .io import read_table
from .models import build_model, growth_model, therapist_regression
from .plots import (
    plot_coefficients,
    plot_conditional_effects,
    plot_density,
    plot_loo_pit,
    plot_statistics,
    plot_therapist_effects,
    plot_trajectories,
)
from .predict import predict, prediction_table
from .priors import default_priors
from .report import ReportTable, report_table
from .result import load, save
from .simulate import Truth, item_responses, simulate
from .spec import CovariateDesign, Design, ModelSpec
from .summary import format_table, rater_contrast, summarize, variance_components

__all__ = [
    "AllianceData",
    "ConvergenceWarning",
    "CovariateDesign",
    "DataValidationError",
    "DataWarning",
    "Design",
    "InstrumentKey",
    "ModelSpec",
    "ParetoKWarning",
    "ReportTable",
    "Statistic",
    "StoreLockedError",
    "StoreMismatchError",
    "StoreWarning",
    "Truth",
    "UnsafePathError",
    "UntrustedCacheWarning",
    "__version__",
    "bayes_r2",
    "build_model",
    "compare",
    "compile_counts",
    "conditional_effect_table",
    "conditional_trajectories",
    "datasets",
    "default_priors",
    "default_statistics",
    "fit",
    "fit_card",
    "format_table",
    "growth_model",
    "item_responses",
    "kfold",
    "load",
    "loo",
    "plot_coefficients",
    "plot_conditional_effects",
    "plot_density",
    "plot_loo_pit",
    "plot_statistics",
    "plot_therapist_effects",
    "plot_trajectories",
    "posterior_predictive",
    "ppc_statistics",
    "predict",
    "prediction_table",
    "prior_predictive",
    "rater_contrast",
    "read_table",
    "reliability",
    "report_table",
    "save",
    "score_wai",
    "simulate",
    "summarize",
    "therapist_regression",
    "therapist_scores",
    "variance_components",
]
