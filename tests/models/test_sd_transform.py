"""The SDs' sampling scale (``models/_sd_transform.py``): exact against scipy."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

from alliance_bayes.models._sd_transform import ProbitLinear, sd_transform

SCALE = np.array([0.3, 0.05, 0.2])
U = np.linspace(-7.0, 5.0, 49)


def g(u: np.ndarray) -> np.ndarray:
    """``sd / scale`` written with scipy: 2 Phi(u) below zero, linear with slope 2 phi(0) above."""
    return np.where(u < 0, 2 * stats.norm.cdf(u), 1 + 2 * stats.norm.pdf(0) * u)


def g_prime(u: np.ndarray) -> np.ndarray:
    return np.where(u < 0, 2 * stats.norm.pdf(u), 2 * stats.norm.pdf(0))


@pytest.fixture(scope="module")
def functions():
    u = pt.dmatrix("u")
    transform = ProbitLinear(SCALE)
    sd = transform.backward(u)
    return pytensor.function(
        [u], [sd, transform.forward(sd), transform.log_jac_det(u), pt.grad(sd.sum(), u)]
    )


def test_backward_forward_and_jacobian_match_scipy(functions) -> None:
    u = np.repeat(U[:, None], len(SCALE), axis=1)
    sd, again, log_jac, derivative = functions(u)
    np.testing.assert_allclose(sd, SCALE * g(u), rtol=1e-12)
    np.testing.assert_allclose(again, u, atol=1e-8)
    np.testing.assert_allclose(log_jac, np.log(SCALE * g_prime(u)), rtol=1e-12, atol=1e-12)
    # the Jacobian term is the derivative of the map PyTensor differentiates
    np.testing.assert_allclose(np.log(derivative), log_jac, rtol=1e-10, atol=1e-12)


def test_smooth_at_zero(functions) -> None:
    """g, g' and g'' agree from both sides of zero (so the log-density's gradient is
    continuous): the one-sided difference quotients over 1e-4 agree to that order."""
    h = 1e-4
    u = np.array([[-2 * h, -h, 0.0, h, 2 * h]]).T @ np.ones((1, len(SCALE)))
    sd, _, log_jac, _ = functions(u)
    first = np.diff(sd, axis=0) / h
    assert np.abs(np.diff(first, axis=0)).max() / h < 1e-2
    assert np.abs(np.diff(log_jac, axis=0)).max() < 1e-7


@pytest.mark.parametrize(
    ("prior", "scale"),
    [
        ({"dist": "HalfNormal", "sigma": [0.3, 0.1]}, [0.3, 0.1]),
        ({"dist": "HalfStudentT", "nu": 3, "sigma": 0.5}, 0.5),
        ({"dist": "HalfCauchy", "beta": 0.2}, 0.2),
        ({"dist": "Exponential", "lam": 4.0}, 0.25),
        ({"dist": "Exponential", "scale": 0.5}, 0.5),
    ],
)
def test_transform_for_priors_with_density_at_zero(prior, scale) -> None:
    transform = sd_transform(prior)
    np.testing.assert_allclose(transform.scale, scale)


def test_log_scale_kept_for_priors_that_vanish_at_zero() -> None:
    assert sd_transform({"dist": "Gamma", "alpha": 2, "beta": 10}) is None


def test_model_log_density_on_the_new_scale_matches_scipy() -> None:
    """The sampled density of ``u``: the prior at ``sd(u)`` times ``|d sd / d u|``."""
    with pm.Model() as model:
        pm.HalfNormal("sd", sigma=SCALE, default_transform=ProbitLinear(SCALE))
    assert [v.name for v in model.value_vars] == ["sd_probit_linear__"]
    u = np.array([-3.1, 0.4, -0.2])
    expected = stats.halfnorm.logpdf(SCALE * g(u), scale=SCALE) + np.log(SCALE * g_prime(u))
    logp = model.compile_logp()({"sd_probit_linear__": u})
    np.testing.assert_allclose(logp, expected.sum(), rtol=1e-12)


def test_integrated_growth_model_samples_sds_on_the_new_scale(tiny_planned) -> None:
    names = {v.name for v in tiny_planned.value_vars}
    assert {"therapist_sd_probit_linear__", "patient_sd_probit_linear__"} <= names
    assert "sigma_log__" in names
