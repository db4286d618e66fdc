"""The unconstrained scale on which the integrated models sample the SDs of their effects.

On PyMC's log scale, an SD that the data allow to be near zero has a long left tail: as
``u = log(sd)`` goes to minus infinity the density falls only like ``exp(u)`` (the prior's
density at zero times the Jacobian), while the bulk may be a few tenths wide. The dual-rater
Nissen-Lie model's therapist SDs had kurtosis up to 13 on that scale and a patient SD 75; NUTS
then needs small steps and long trajectories, and their ESS was the lowest of the model.

:class:`ProbitLinear` maps ``u`` to ``sd = s g(u)`` with ``g(u) = 2 Phi(u)`` for ``u < 0`` (so
the left tail is Gaussian) and ``g(u) = 1 + sqrt(2 / pi) u`` above (linear, as if the SD were
sampled directly); ``g`` is twice continuously differentiable at 0. ``s`` is the prior's scale.
The model is the same: only the coordinates NUTS moves in change (benchmarks/README.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor.tensor as pt
from pymc.logprob.transforms import Transform

from ..priors import Prior

_SLOPE = float(np.sqrt(2.0 / np.pi))  # g'(0) = 2 phi(0)
_LOG_2_PHI_0 = float(np.log(_SLOPE))


class ProbitLinear(Transform):
    """``sd = scale * g(u)``: ``g(u) = 2 Phi(u)`` below zero, ``1 + sqrt(2 / pi) u`` above."""

    name = "probit_linear"

    def __init__(self, scale: Any) -> None:
        self.scale = np.asarray(scale, dtype=float)

    def forward(self, value, *inputs):
        y = value / self.scale
        below = -np.sqrt(2.0) * pt.erfcinv(pt.minimum(y, 1.0))  # 2 Phi(u) = erfc(-u / sqrt 2)
        return pt.switch(y < 1.0, below, (y - 1.0) / _SLOPE)

    def backward(self, value, *inputs):
        below = pt.erfc(-pt.minimum(value, 0.0) / np.sqrt(2.0))
        return self.scale * pt.switch(value < 0.0, below, 1.0 + _SLOPE * pt.maximum(value, 0.0))

    def log_jac_det(self, value, *inputs):
        # log g'(u) = log(2 phi(u)) = log(2 phi(0)) - u^2 / 2 below zero, log(2 phi(0)) above
        return np.log(self.scale) + _LOG_2_PHI_0 - 0.5 * pt.minimum(value, 0.0) ** 2


def sd_transform(prior: Prior) -> ProbitLinear | None:
    """The transform for an SD with this prior: :class:`ProbitLinear` at the prior's scale for
    the priors with a positive density at zero (HalfNormal, HalfStudentT, HalfCauchy,
    Exponential), else ``None`` (PyMC's log scale, fine for priors that vanish at zero)."""
    dist = prior.get("dist")
    if dist in ("HalfNormal", "HalfStudentT"):
        scale = prior.get("sigma", 1.0)
    elif dist == "HalfCauchy":
        scale = prior.get("beta", 1.0)
    elif dist == "Exponential":
        scale = prior["scale"] if "scale" in prior else 1.0 / np.asarray(prior.get("lam", 1.0))
    else:
        return None
    return ProbitLinear(scale)
