"""Checks of models against data and of samplers against models (predictive checks, SBC, ...)."""

from .ppc import prior_implied_alliance, prior_predictive

__all__ = ["prior_implied_alliance", "prior_predictive"]
