"""Latent values that put the censored and Student-t likelihoods on the integrated path.

The integrated likelihood (:mod:`._marginal`) is exact for normal ratings. Two exact
augmentations keep it for the other likelihoods:

* **Censored.** A rating at a bound of the scale says "at or beyond the bound". Its value beyond
  the bound is a latent value, ``y* = bound + side * sigma_r * exp(u)`` (side +1 at the ceiling,
  -1 at the floor). Given the latent values the ratings are normal, so the integrated normal
  density applies unchanged; integrating ``u`` out again (the sampler does) gives the censored
  likelihood exactly, since the normal density of ``y*`` over the half-line beyond the bound is
  the probability of the censored rating. ``u`` is flat but for the Jacobian ``u + log sigma_r``
  of ``y*``; scaling by ``sigma_r`` keeps ``u`` nearly independent of the residual SD.
* **Student-t.** A t-distributed residual is a normal one with precision scaled by a weight
  ``lambda ~ Gamma(nu/2, nu/2)``. Given the weights the ratings are normal with variances
  ``sigma_r^2 / lambda_i``: the integrated density reads weighted rating sums (weight, weight x,
  ..., the count replaced by the sum of weights) plus a correction of its normalising terms. The
  weights are parameterised as ``log lambda = m(nu) + s(nu) z`` with ``m`` and ``s^2`` the mean
  and variance of ``log lambda`` under its prior (digamma and trigamma), an exact change of
  variables (its Jacobian is in the density) under which ``z`` is close to standard normal
  whatever ``nu``: the centred weights form a funnel with ``nu``.

The number of latent values is data (the censored ratings, the ratings), but a compiled model
has a fixed number of parameters. They are held in ``latent_slot`` slots, a capacity rounded up
to the next of 8, 12, 16, 24, 32, 48, ... (:func:`capacity`), for a censored model at least a
quarter of the ratings; a slot without a rating is an independent standard normal that touches
nothing else, so data sets whose counts differ (the simulations of a study) share a compiled
model while their capacity is the same.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..data import AllianceData

LATENT_NAME = "rating_latent"  # stored by fit (the effects' conditional draws need it)
LATENT_DIM = "latent_slot"
LATENT_SUMS_NAME = "latent_rating_sums"  # the rating sums given the latent values, in the graph
CENSORED_SIDE_NAME = "censored_side"  # per latent slot: +1 at the top, -1 at the bottom, 0 empty
CENSORED_ROOM = 4  # slots for at least one rating in this many (see censored_slots)
_LOG_2PI = math.log(2 * math.pi)


def capacity(n: int) -> int:
    """The number of latent slots for ``n`` latent values: the next of 8, 12, 16, 24, 32, ...

    Examples
    --------
    >>> [capacity(n) for n in (0, 8, 9, 13, 100, 1447)]
    [8, 8, 12, 16, 128, 1536]
    """
    size = 8
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def censored_slots(data: AllianceData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per latent slot, the rating it holds (an index into ``rows``; 0 for an empty slot) and
    its side: +1 for a rating at the scale's top, -1 at its bottom, 0 for an empty slot.

    Examples
    --------
    >>> from alliance_bayes import Design
    >>> data = Design(n_therapists=2, patients_per_therapist=2, sessions=[1, 2],
    ...               scale=[1, 7]).to_data(random_seed=1)
    >>> index, side = censored_slots(data, np.arange(data.n_obs))
    >>> len(index), int(np.abs(side).sum())  # a planned design has no ratings yet
    (8, 0)
    """
    score = data.score[rows] if data.has_outcome else np.full(len(rows), np.nan)
    low, high = data.scale  # type: ignore[misc]
    sides = np.where(np.isclose(score, high), 1.0, np.where(np.isclose(score, low), -1.0, 0.0))
    held = np.flatnonzero(sides)
    # room for a quarter of the ratings at a bound whatever the count: the simulated data sets
    # of a study (SBC, power) then share one compiled model
    size = capacity(max(len(held), len(rows) // CENSORED_ROOM))
    index, side = np.zeros(size, dtype=np.int64), np.zeros(size)
    index[: len(held)], side[: len(held)] = held, sides[held]
    return index, side


def latent_values(likelihood: str, data: AllianceData, rows: np.ndarray, sigma: Any, nu: Any):
    """Adds the latent slots of a censored or Student-t model to the model (a PyMC variable
    ``rating_latent``) and returns what the likelihood needs of them: a function ``(sums,
    observed) -> (sums, patterns, extra log-density)`` of the observed values' rating sums."""
    model = pm.modelcontext(None)
    if likelihood == "censored":
        index, side = censored_slots(data, rows)
        model.add_coord(LATENT_DIM, np.arange(len(index)))
        index = pm.Data("censored_rating", index, dims=LATENT_DIM)
        side = pm.Data(CENSORED_SIDE_NAME, side, dims=LATENT_DIM)
        latent = _slots(pt.neq(side, 0))
        slot_sd = sigma[model["rater_idx"][index]]

        def censored(sums: Any, observed: Any) -> tuple[Any, Any, Any]:
            # flat in u but for the Jacobian of y* = bound + side sd exp(u)
            jacobian = pt.sum(pt.switch(pt.neq(side, 0), latent + pt.log(slot_sd), 0.0))
            shifted = _censored_sums(sums, observed, latent, index, side, slot_sd, data.n_raters)
            return shifted, model["design_pattern"], jacobian

        return censored
    model.add_coord(LATENT_DIM, np.arange(capacity(len(rows))))
    n_obs = model.dim_lengths["obs"]
    latent = _slots(pt.lt(pt.arange(model.dim_lengths[LATENT_DIM]), n_obs))

    def weighted(sums: Any, observed: Any) -> tuple[Any, Any, Any]:
        log_weight = log_weights(latent[:n_obs], nu)
        rater = model["rater_idx"]
        # the integrated density takes the sum of weights for the count: its normalising terms
        # then count (weight - 1) log sigma too many, and miss the weights' own log |D| part
        normalising = 0.5 * pt.sum(
            log_weight - (1 - pt.exp(log_weight)) * (_LOG_2PI + 2 * pt.log(sigma[rater]))
        )
        patterns = pt.arange(model.dim_lengths["patient"])  # every patient its own weights
        weights = _weight_density(latent[:n_obs], nu)
        return _weighted_sums(observed, log_weight, data.n_raters), patterns, normalising + weights

    return weighted


def _slots(used: Any) -> Any:
    """The latent slots, ``rating_latent``: its density here is the empty slots' (standard
    normal); the used slots' density (a Jacobian, the weights' prior) depends on parameters
    and is the likelihood's, so that the slots do not depend on other parameters (graph
    replacement of the stored draws, ``_graph.compile_graph``, needs them independent)."""
    return pm.CustomDist(LATENT_NAME, used, logp=_slot_logp, random=_placeholder, dims=LATENT_DIM)


def log_weights(latent: Any, nu: Any) -> Any:
    """``log lambda = m(nu) + s(nu) z``: the Student-t weights of the latent slots ``z``."""
    mean, sd = log_weight_moments(nu / 2)
    return mean + sd * latent


def log_weight_moments(half: Any) -> tuple[Any, Any]:
    """The mean and SD of ``log lambda`` for ``lambda ~ Gamma(half, half)``: ``psi(half) -
    log(half)`` and ``sqrt(psi'(half))``, by the recurrences ``psi(h) = psi(h + 3) - 1/h -
    1/(h+1) - 1/(h+2)`` (and the like for ``psi'``) and the asymptotic series at ``h + 3``
    (relative error below 1e-9 for ``nu`` > 0.2).

    Any smooth mean and SD would make the change of variables exact (its Jacobian is in the
    density); these make ``z`` close to standard normal. PyTensor's own ``psi`` and
    ``tri_gamma`` call scipy through process-specific addresses in numba, which kept the
    compiled model out of the disk cache.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import polygamma, psi
    >>> mean, sd = (float(v.eval()) for v in log_weight_moments(pt.constant(1.7)))
    >>> bool(np.isclose(mean, psi(1.7) - np.log(1.7), rtol=1e-9))
    True
    >>> bool(np.isclose(sd**2, polygamma(1, 1.7), rtol=1e-9))
    True
    """
    shifted = half + 3
    inverse = 1 / shifted
    inverse2 = inverse**2
    digamma = (
        pt.log(shifted)
        - 0.5 * inverse
        - inverse2 * (1 / 12 - inverse2 * (1 / 120 - inverse2 * (1 / 252 - inverse2 / 240)))
    )
    trigamma = (
        inverse
        + 0.5 * inverse2
        + inverse * inverse2 * (1 / 6 - inverse2 * (1 / 30 - inverse2 * (1 / 42 - inverse2 / 30)))
    )
    for step in range(3):
        digamma = digamma - 1 / (half + step)
        trigamma = trigamma + 1 / (half + step) ** 2
    return digamma - pt.log(half), pt.sqrt(trigamma)


def _slot_logp(value: Any, used: Any) -> Any:
    """Flat for a used slot (its density is the likelihood's), standard normal for an empty one."""
    return pt.switch(used, 0.0, -0.5 * (value**2 + _LOG_2PI))


def _weight_density(latent: Any, nu: Any) -> Any:
    """The Gamma(nu/2, nu/2) log-density of the weights ``lambda`` of the used slots, times the
    Jacobian of ``z -> lambda``, summed."""
    half = nu / 2
    mean, scale = log_weight_moments(half)
    log_weight = mean + scale * latent
    gamma = half * pt.log(half) - pt.gammaln(half) + half * log_weight - half * pt.exp(log_weight)
    return pt.sum(gamma + pt.log(scale))


def _placeholder(*args: Any, rng: np.random.Generator | None = None, size: Any = None) -> Any:
    """Prior draws of the latent slots: standard normal placeholders. The outcome's own random
    draws ignore them (a latent value has no prior of its own: it is part of the rating)."""
    shape = np.shape(args[0]) if size is None else size
    return rng.standard_normal(shape)


def _cell(model: pm.Model, index: Any, n_raters: int) -> Any:
    return model["patient_idx"][index] * n_raters + model["rater_idx"][index]


def _censored_sums(
    sums: Any, observed: Any, latent: Any, index: Any, side: Any, slot_sd: Any, n_raters: int
) -> Any:
    """The rating sums with each censored rating at its latent value: only the sums of ``y``,
    ``x y`` and ``y^2`` change, by ``d``, ``x d`` and ``2 bound d + d^2`` (``d`` the excess)."""
    model = pm.modelcontext(None)
    rating, time = observed[index], model["time"][index]
    excess = censored_value(rating, side, slot_sd, latent) - rating
    change = pt.stack([excess, time * excess, (2 * rating + excess) * excess])
    n_cells = model.dim_lengths["patient"] * n_raters
    total = pt.inc_subtensor(pt.zeros((3, n_cells))[:, _cell(model, index, n_raters)], change)
    shifted = sums[3:] + total.reshape((3, -1, n_raters))
    return _named(pt.concatenate([sums[:3], shifted]))


def censored_value(bound: Any, side: Any, slot_sd: Any, latent: Any) -> Any:
    """A censored rating's latent value beyond its bound (``bound`` itself for an empty slot,
    whose ``side`` is 0). The SBC test plants a bound off by one scale point here."""
    return bound + side * slot_sd * pt.exp(latent)


def _weighted_sums(observed: Any, log_weight: Any, n_raters: int) -> Any:
    """The weighted rating sums (weight, weight x, weight x^2, weight y, weight x y, weight
    y^2) per (patient, rater) cell."""
    model = pm.modelcontext(None)
    weight, time = pt.exp(log_weight), model["time"]
    columns = pt.stack(
        [weight * time**power for power in (0, 1, 2)]
        + [weight * observed * time**power for power in (0, 1)]
        + [weight * observed**2]
    )
    n_cells = model.dim_lengths["patient"] * n_raters
    cells = model["patient_idx"] * n_raters + model["rater_idx"]
    total = pt.inc_subtensor(pt.zeros((6, n_cells))[:, cells], columns)
    return _named(total.reshape((6, -1, n_raters)))


def observed_sums(observed: Any, n_raters: int) -> Any:
    """The rating sums of ``observed`` (ratings less fixed session terms), made in the graph."""
    return _weighted_sums(observed, pt.zeros_like(observed), n_raters)


def _named(sums: Any) -> Any:
    sums.name = LATENT_SUMS_NAME  # found by name by fit's conditional draws of the effects
    return sums
