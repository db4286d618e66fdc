"""Checks of models against data and of samplers against models.

Predictive checks (:mod:`.ppc`), simulation-based calibration (:mod:`.sbc`), parameter
recovery (:mod:`.recovery`) and power (:mod:`.power`), the last three on a resumable parallel
runner (:mod:`.runner`, local processes or Dask) with a store of JSON records (:mod:`.store`).
"""

from .jobs import FitSettings
from .power import PowerResult, run_power
from .ppc import posterior_predictive, prior_implied_alliance, prior_predictive
from .recovery import RecoveryResult, run_recovery
from .sbc import SBCResult, run_sbc
from .statistics import Statistic, default_statistics, ppc_statistics
from .store import StoreLockedError, StoreMismatchError, StoreWarning, UnsafePathError

__all__ = [
    "FitSettings",
    "PowerResult",
    "RecoveryResult",
    "SBCResult",
    "Statistic",
    "StoreLockedError",
    "StoreMismatchError",
    "StoreWarning",
    "UnsafePathError",
    "default_statistics",
    "posterior_predictive",
    "ppc_statistics",
    "prior_implied_alliance",
    "prior_predictive",
    "run_power",
    "run_recovery",
    "run_sbc",
]
