"""Marginalised patient effects: exact marginal log-density and exact conditional draws."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from pytensor.graph.traversal import ancestors
from scipy import stats

import alliance_bayes as ab
from alliance_bayes.models._marginal import draw_conditional_effects, rating_sums
from conftest import TINY_TRUTH


def gappy_data(raters):
    """Unequal lengths: dropout, 10 % missing at random, one or two raters."""
    design = ab.Design(
        n_therapists=5,
        patients_per_therapist=3,
        sessions=[1.0, 2.0, 4.0, 8.0],
        raters=raters,
        retention=[1, 1, 0.7, 0.5],
        missing_rate=0.1,
        therapist_covariates=ab.CovariateDesign(names=["burdens"]),
        scale=[1.0, 7.0],
    )
    planned = ab.growth_model(design.to_data(random_seed=1))
    truth = ab.Truth(TINY_TRUTH)
    return ab.simulate(
        planned, {k: _for(v, raters) for k, v in truth.values.items()}, random_seed=3
    )


def _for(value, raters):
    if isinstance(value, dict) and set(value) >= {"patient", "therapist"}:
        return {r: value[r] for r in raters}
    if isinstance(value, dict) and any(":" in k for k in value):
        return {
            k: v
            for k, v in value.items()
            if all(part.split(":")[0] in raters for part in k.split(" ~ "))
        }
    return value


def _mvnormal_logp(data, mean, sigma, cov):
    obs = data.observed
    y, p = data.score[obs], data.obs_patient[obs]
    r, x = data.obs_rater[obs], data.time[obs]
    total = 0.0
    for patient in np.unique(p):
        i = p == patient
        z = np.zeros((i.sum(), cov.shape[0]))
        z[np.arange(i.sum()), 2 * r[i]] = 1.0
        z[np.arange(i.sum()), 2 * r[i] + 1] = x[i]
        total += stats.multivariate_normal(
            mean[i], z @ cov @ z.T + np.diag(sigma[r[i]] ** 2)
        ).logpdf(y[i])
    return total


@pytest.mark.parametrize("raters", [["patient"], ["patient", "therapist"]])
def test_marginal_log_density_equals_the_multivariate_normal(raters):
    data = gappy_data(raters)
    assert (~data.observed).any()  # missing values and unequal lengths are exercised
    model = ab.growth_model(data, marginal=True)
    assert "patient_offset" not in model.named_vars and "patient_sd" in model.named_vars
    rng = np.random.default_rng(0)
    point = {k: rng.normal(scale=0.3, size=np.shape(v)) for k, v in model.initial_point().items()}
    logp = model.compile_logp(vars=[model["alliance"]], jacobian=False)(point)
    mean_node = next(v for v in ancestors([model["alliance"]]) if v.name == "alliance_mean")
    names = [mean_node, model["sigma"], model["patient_sd"], model["patient_corr"]]
    values = model.compile_fn(
        model.replace_rvs_by_values(names),
        inputs=model.value_vars,
        on_unused_input="ignore",
        point_fn=False,
    )(**point)
    mean, sigma, sd, corr = values
    expected = _mvnormal_logp(data, mean, sigma, np.diag(sd) @ corr @ np.diag(sd))
    assert logp == pytest.approx(expected, rel=1e-9)


def test_marginal_only_for_the_normal_likelihood():
    with pytest.raises(ValueError, match="normal likelihood only"):
        ab.growth_model(gappy_data(["patient"]), marginal=True, likelihood="student_t")


def test_conditional_effect_draws_match_the_gaussian_conditional():
    """Mean and covariance of b | y against the joint-Gaussian formulas, one patient."""
    rng = np.random.default_rng(1)
    k, n = 4, 5
    time = np.array([0.0, 0.5, 1.0, 0.0, 1.0])
    rater = np.array([0, 0, 0, 1, 1])
    cov = np.array(
        [[0.4, -0.05, 0.1, 0], [-0.05, 0.05, 0, 0], [0.1, 0, 0.3, 0.02], [0, 0, 0.02, 0.04]]
    )
    sigma = np.array([0.3, 0.5])
    level, growth = np.array([5.1, 4.8]), np.array([0.2, -0.1])  # the patient's line per rater
    mean = level[rater] + growth[rater] * time
    y = rng.normal(5, 0.5, n)
    z = np.zeros((n, k))
    z[np.arange(n), 2 * rater] = 1.0
    z[np.arange(n), 2 * rater + 1] = time
    v = z @ cov @ z.T + np.diag(sigma[rater] ** 2)
    gain = cov @ z.T @ np.linalg.inv(v)
    expected_mean = gain @ (y - mean)
    expected_cov = cov - gain @ z @ cov
    n_draws = 40_000
    draws = draw_conditional_effects(
        np.tile(level, (n_draws, 1, 1)),
        np.tile(growth, (n_draws, 1, 1)),
        np.tile(sigma, (n_draws, 1)),
        rating_sums(y, time, rater, np.zeros(n, dtype=int), 1, 2),
        np.tile(cov, (n_draws, 1, 1)),
        rng,
    )[:, 0]
    np.testing.assert_allclose(draws.mean(0), expected_mean, atol=0.01)
    np.testing.assert_allclose(np.cov(draws.T), expected_cov, atol=0.005)


@pytest.mark.parametrize(
    ("options", "marginal"),
    [
        ({}, True),
        ({"likelihood": "censored"}, False),
        ({"likelihood": "student_t"}, False),
        ({"centered": True}, False),
        ({"marginal": False}, False),
        ({"raters": ["patient", "therapist"]}, False),
        ({"raters": ["patient", "therapist"], "marginal": True}, True),
    ],
)
def test_patient_effects_are_integrated_out_by_default_for_the_normal_likelihood(options, marginal):
    options = dict(options)
    data = gappy_data(options.pop("raters", ["patient"]))
    model = ab.growth_model(data.with_score(np.clip(data.score, 1.5, 6.5)), **options)
    assert ("patient_effect" not in model.named_vars) is marginal
    assert ab.models.is_marginal(model) is marginal


def test_simulating_from_a_marginal_model_returns_the_patient_effects():
    data = gappy_data(["patient"])  # simulated from the default (marginal) model
    assert ab.models.is_marginal(ab.growth_model(data))
    assert data.truth["patient_effect"].shape == (data.n_patients, 2)
    assert np.isfinite(data.score[data.observed]).all()


def test_fit_refuses_ratings_swapped_in_by_hand():
    """The integrated likelihood reads the ratings' sums: swapping the ratings alone is refused."""
    model = ab.growth_model(gappy_data(["patient"]))
    assert ab.models.is_marginal(model)
    with model:
        pm.set_data({"alliance_observed": model["alliance_observed"].get_value() + 1.0})
    with pytest.raises(ValueError, match="changed after it was built"):
        ab.fit(model)
