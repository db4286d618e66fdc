"""Marginalised patient effects: exact marginal log-density and exact conditional draws."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.traversal import ancestors
from scipy import integrate, stats

import alliance_bayes as ab
from alliance_bayes.models._effects import (
    correlation_cholesky,
    correlation_cholesky_graph,
    separate_sd_corr,
)
from alliance_bayes.models._marginal import (
    design_patterns,
    draw_conditional_effects,
    marginal_log_density,
    rating_sums,
)
from alliance_bayes.models._marginal_kernel import (
    IntegratedLogDensity,
    conditional_effect_draws,
    register_jax_dispatch,
)
from conftest import TINY_TRUTH


def gappy_data(raters, spec=None, truth=None, **covariates):
    """Unequal lengths: dropout, 10 % missing at random, one or two raters. ``covariates``
    replace the design's (a therapist covariate), ``spec`` the simulating model's defaults and
    ``truth`` adds to or replaces values of TINY_TRUTH."""
    covariates = covariates or {"therapist_covariates": ab.CovariateDesign(names=["burdens"])}
    design = ab.Design(
        n_therapists=5,
        patients_per_therapist=3,
        sessions=[1.0, 2.0, 4.0, 8.0],
        raters=raters,
        retention=[1, 1, 0.7, 0.5],
        missing_rate=0.1,
        scale=[1.0, 7.0],
        **covariates,
    )
    planned = ab.growth_model(design.to_data(random_seed=1), spec=spec)
    values = {k: _for(v, raters) for k, v in ab.Truth(TINY_TRUTH).values.items()}
    if "therapist_covariates" not in covariates:
        values = {k: v for k, v in values.items() if k not in ("level_coef", "growth_coef")}
    return ab.simulate(planned, values | dict(truth or {}), random_seed=3)


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


def _mvnormal_logp(data, mean, sigma, patient_cov, therapist_cov):
    """Log-density of all ratings, one dense multivariate normal per therapist."""
    obs = data.observed
    y, p = data.score[obs], data.obs_patient[obs]
    r, x = data.obs_rater[obs], data.time[obs]
    t = data.patient_therapist[p]
    total = 0.0
    for therapist in np.unique(t):
        i = t == therapist
        z = np.zeros((i.sum(), patient_cov.shape[0]))
        z[np.arange(i.sum()), 2 * r[i]] = 1.0
        z[np.arange(i.sum()), 2 * r[i] + 1] = x[i]
        same_patient = p[i][:, None] == p[i][None, :]
        cov = z @ therapist_cov @ z.T + same_patient * (z @ patient_cov @ z.T)
        total += stats.multivariate_normal(mean[i], cov + np.diag(sigma[r[i]] ** 2)).logpdf(y[i])
    return total


@pytest.mark.parametrize("raters", [["patient"], ["patient", "therapist"]])
def test_marginal_log_density_equals_the_multivariate_normal(raters):
    data = gappy_data(raters)
    assert (~data.observed).any()  # missing values and unequal lengths are exercised
    model = ab.growth_model(data, marginal=True)
    for group in ("therapist", "patient"):
        assert f"{group}_offset" not in model.named_vars and f"{group}_sd" in model.named_vars
    rng = np.random.default_rng(0)
    point = {k: rng.normal(scale=0.3, size=np.shape(v)) for k, v in model.initial_point().items()}
    logp = model.compile_logp(vars=[model["alliance"]], jacobian=False)(point)
    mean_node = next(v for v in ancestors([model["alliance"]]) if v.name == "alliance_mean")
    names = [mean_node, model["sigma"]] + [
        model[f"{group}_{part}"] for group in ("patient", "therapist") for part in ("sd", "corr")
    ]
    values = model.compile_fn(
        model.replace_rvs_by_values(names),
        inputs=model.value_vars,
        on_unused_input="ignore",
        point_fn=False,
    )(**point)
    mean, sigma, p_sd, p_corr, t_sd, t_corr = values
    covariance = lambda sd, corr: np.diag(sd) @ corr @ np.diag(sd)  # noqa: E731
    expected = _mvnormal_logp(data, mean, sigma, covariance(p_sd, p_corr), covariance(t_sd, t_corr))
    assert logp == pytest.approx(expected, rel=1e-9)


def test_every_likelihood_integrates_the_effects_out():
    """The censored and Student-t likelihoods through latent values (tests/models/test_latent)."""
    for likelihood in ("student_t", "normal"):
        model = ab.growth_model(gappy_data(["patient"]), marginal=True, likelihood=likelihood)
        assert "patient_effect" not in model.named_vars


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
    )[1][:, 0]
    np.testing.assert_allclose(draws.mean(0), expected_mean, atol=0.01)
    np.testing.assert_allclose(np.cov(draws.T), expected_cov, atol=0.005)


def _compiled_draws(level, growth, sigma, sums, cov, rng, therapist):
    return conditional_effect_draws(
        level, growth, sigma, sums, design_patterns(sums), therapist, cov, rng
    )


@pytest.mark.parametrize("n_raters", [1, 2])
@pytest.mark.parametrize("draw", [draw_conditional_effects, _compiled_draws])
def test_conditional_therapist_and_patient_draws_match_the_joint_gaussian_posterior(draw, n_raters):
    """Therapist effects, then patient effects given them, against ``u | y`` for the stacked
    effects ``u`` of two therapists (two patients and one), from the dense joint formulas: the
    reference (NumPy) draws and the compiled ones ``fit`` uses, one rater and two (the second
    rates every other session; patients 0 and 2 share a design pattern with one rater)."""
    rng = np.random.default_rng(2)
    k = 2 * n_raters
    patient = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    time = np.array([0.0, 0.5, 1.0, 0.0, 1.0, 0.0, 0.5, 1.0])
    rater = np.arange(len(patient)) % n_raters
    therapist_of = np.array([0, 0, 1])
    level = np.array([[5.0, 4.6], [5.2, 5.0], [4.9, 4.4]])[:, :n_raters]
    growth = np.array([[0.1, 0.0], [0.0, 0.1], [0.2, -0.1]])[:, :n_raters]
    sigma = np.array([0.4, 0.3])[:n_raters]
    across = np.array([[1.0, 0.4], [0.4, 1.0]])[:n_raters, :n_raters]  # between the raters
    t_cov = np.kron(across, np.array([[0.2, 0.02], [0.02, 0.05]]))
    p_cov = np.kron(across, np.array([[0.3, -0.03], [-0.03, 0.1]]))
    y = rng.normal(5, 0.6, len(patient))
    # u = (a_0, a_1, b_0, b_1, b_2), each (level, growth) per rater
    rows = np.arange(len(patient))
    z = np.zeros((len(patient), 5 * k))
    for column, group in ((0, therapist_of[patient]), (2 * k, patient)):
        z[rows, column + k * group + 2 * rater] = 1.0
        z[rows, column + k * group + 2 * rater + 1] = time
    prior = np.zeros((5 * k, 5 * k))
    for g in range(5):
        prior[k * g : k * g + k, k * g : k * g + k] = t_cov if g < 2 else p_cov
    precision = sigma[rater] ** -2
    covariance = np.linalg.inv(np.linalg.inv(prior) + z.T @ (precision[:, None] * z))
    mean_line = level[patient, rater] + growth[patient, rater] * time
    expected_mean = covariance @ z.T @ (precision * (y - mean_line))
    n_draws = 40_000
    therapist, patients = draw(
        np.tile(level, (n_draws, 1, 1)),
        np.tile(growth, (n_draws, 1, 1)),
        np.tile(sigma, (n_draws, 1)),
        rating_sums(y, time, rater, patient, 3, n_raters),
        np.tile(p_cov, (n_draws, 1, 1)),
        rng,
        therapist=(therapist_of, 2, np.tile(t_cov, (n_draws, 1, 1))),
    )
    draws = np.concatenate([therapist.reshape(n_draws, -1), patients.reshape(n_draws, -1)], 1)
    np.testing.assert_allclose(draws.mean(0), expected_mean, atol=0.01)
    np.testing.assert_allclose(np.cov(draws.T), covariance, atol=0.005)


@pytest.mark.parametrize(
    ("options", "marginal"),
    [
        ({}, True),
        ({"likelihood": "censored"}, True),
        ({"likelihood": "student_t"}, True),
        ({"centered": True}, False),
        ({"marginal": False}, False),
        ({"raters": ["patient", "therapist"]}, True),
        ({"raters": ["patient", "therapist"], "marginal": False}, False),
        ({"raters": ["patient", "therapist"], "marginal": True}, True),
    ],
)
def test_random_effects_are_integrated_out_by_default(options, marginal):
    options = dict(options)
    data = gappy_data(options.pop("raters", ["patient"]))
    model = ab.growth_model(data.with_score(np.clip(data.score, 1.5, 6.5)), **options)
    for group in ("therapist", "patient"):
        assert (f"{group}_effect" not in model.named_vars) is marginal
    assert ab.models.is_marginal(model) is marginal


def test_simulating_from_a_marginal_model_returns_the_random_effects():
    data = gappy_data(["patient"])  # simulated from the default (marginal) model
    assert ab.models.is_marginal(ab.growth_model(data))
    assert data.truth["patient_effect"].shape == (data.n_patients, 2)
    assert data.truth["therapist_effect"].shape == (data.n_therapists, 2)
    assert np.isfinite(data.score[data.observed]).all()


def test_fit_refuses_ratings_swapped_in_by_hand():
    """The integrated likelihood reads the ratings' sums: swapping the ratings alone is refused."""
    model = ab.growth_model(gappy_data(["patient"]))
    assert ab.models.is_marginal(model)
    with model:
        pm.set_data({"alliance_observed": model["alliance_observed"].get_value() + 1.0})
    with pytest.raises(ValueError, match="changed after it was built"):
        ab.fit(model)


def _separate_prior(k: int, eta: float) -> pm.Model:
    components = [f"c{i}" for i in range(k)]
    with pm.Model(coords={"component": components, "component_": components}) as model:
        separate_sd_corr(
            "therapist",
            n_components=k,
            sd_prior={"dist": "HalfNormal", "sigma": 1.0},
            corr_prior={"dist": "LKJ", "eta": eta},
        )
    return model


def _log_ratios_to_lkj(k: int, eta: float, wrong_beta: float | None = None) -> list[float]:
    """log(density of the partial correlations / |Jacobian| / LKJCorr density) at 5 points;
    ``wrong_beta`` replaces the prior by Beta(wrong_beta, wrong_beta) on every one of them."""
    model = _separate_prior(k, eta)
    stored, packed = model["therapist_corr_packed"], pt.vector("u")
    corr = pytensor.clone_replace(model["therapist_corr"], {stored: packed})
    upper = corr[np.triu_indices(k, 1)]
    density = (
        pm.logp(stored, packed)
        if wrong_beta is None
        else pm.logp(pm.Beta.dist(wrong_beta, wrong_beta, shape=k * (k - 1) // 2), packed)
    )
    log_ratio = (
        density.sum()
        - pt.log(pt.abs(pt.nlinalg.det(pytensor.gradient.jacobian(upper, packed))))
        - pm.logp(pm.LKJCorr.dist(n=k, eta=eta), upper)
    )
    function = pytensor.function([packed], [log_ratio, corr])
    rng = np.random.default_rng(k)
    ratios = []
    for _ in range(5):
        ratio, matrix = function(rng.uniform(0.02, 0.98, size=k * (k - 1) // 2))
        np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-12)
        assert np.all(np.linalg.eigvalsh(matrix) > 0)
        ratios.append(float(ratio))
    return ratios


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("eta", [1.0, 2.0, 4.5])
def test_partial_correlations_give_the_lkj_prior(k, eta):
    """The integrated model samples canonical partial correlations, ``(1 + z) / 2 ~ Beta``. The
    density they imply for the correlation matrix (their density over the Jacobian of z -> the
    matrix's upper triangle) is LKJ(eta)'s: a constant log-ratio to PyMC's LKJCorr at any point.
    """
    ratios = _log_ratios_to_lkj(k, eta)
    np.testing.assert_allclose(ratios, ratios[0], atol=1e-10)


def test_planted_wrong_beta_shape_breaks_the_lkj_check():
    """The check above can fail: Beta(eta, eta) on every partial correlation (the two-component
    rule applied to four components) is not LKJ(eta)."""
    assert np.ptp(_log_ratios_to_lkj(4, 2.0, wrong_beta=2.0)) > 0.1


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("mode", ["FAST_RUN", "NUMBA", "JAX"])
def test_compiled_correlation_factor_equals_the_reference_graph(k, mode):
    """The one-node factor from partial correlations and its compiled vector-Jacobian product,
    against the entry-by-entry PyTensor graph and PyTensor's gradient of it, through ``perform``
    (FAST_RUN), the numba dispatch and JAX (where installed); near the edges too."""
    if mode == "JAX":
        pytest.importorskip("jax")
        register_jax_dispatch()
    partial, weights = pt.dvector("z"), pt.dmatrix("g")
    functions = []
    for build in (correlation_cholesky_graph, correlation_cholesky):
        low = build(partial, k)
        outputs = [low, pt.grad(pt.sum(weights * low), partial)]
        functions.append(pytensor.function([partial, weights], outputs, mode=mode))
    rng = np.random.default_rng(k)
    for bound in (0.5, 0.99):
        z = rng.uniform(-bound, bound, size=k * (k - 1) // 2)
        g = rng.normal(size=(k, k))
        (low, gradient), (ours_low, ours_gradient) = (f(z, g) for f in functions)
        np.testing.assert_allclose(ours_low, low, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(ours_gradient, gradient, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(np.diag(ours_low @ ours_low.T), 1.0, rtol=1e-13)


@pytest.mark.parametrize("eta", [1.0, 2.0, 4.5])
def test_two_component_correlation_density_integrates_to_one(eta):
    """With two components the one partial correlation is the correlation: its density is
    normalised (PyMC's LKJCorr, whose constant differs, is matched only up to it above)."""
    model = _separate_prior(2, eta)
    value = pt.vector("u")
    density = pytensor.function([value], pm.logp(model["therapist_corr_packed"], value).sum())
    total, _ = integrate.quad(lambda r: np.exp(float(density([(1 + r) / 2])) - np.log(2.0)), -1, 1)
    assert total == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("n_raters", [1, 2])
@pytest.mark.parametrize("mode", ["FAST_RUN", "NUMBA", "JAX"])
def test_compiled_kernel_equals_the_reference_graph(n_raters, mode):
    """The model's one-node kernel (value and Fisher-identity gradient, shared design patterns)
    against the unrolled PyTensor reference and PyTensor's own gradient of it, with a therapist
    without patients and patients without ratings; through ``perform`` (FAST_RUN) and the numba
    dispatch; JAX (where installed, not in the test extra) evaluates the reference itself."""
    if mode == "JAX":
        pytest.importorskip("jax")
        register_jax_dispatch()
    rng = np.random.default_rng(n_raters)
    k, n_patients, n_therapists = 2 * n_raters, 23, 7
    # sessions 0, 0.5, 1 (some patients stop after two) and a few at odd times: patients share
    # design patterns, and the last two have no ratings
    patient, rater, time = [], [], []
    for p in range(n_patients - 2):
        times = [0.0, 0.5, 1.0][: rng.integers(2, 4)] + ([rng.uniform()] if p % 5 == 0 else [])
        for r in range(n_raters):
            patient += [p] * len(times)
            rater += [r] * len(times)
            time += times
    patient, rater, time = np.array(patient), np.array(rater), np.array(time)
    sums = rating_sums(rng.normal(size=len(time)), time, rater, patient, n_patients, n_raters)
    patterns = design_patterns(sums)
    assert 3 <= patterns.max() + 1 < n_patients - 2
    therapist_of = rng.integers(0, n_therapists - 1, n_patients)  # the last has no patients
    factor = lambda: np.linalg.cholesky(np.cov(rng.normal(size=(k, 3 * k))) + 0.05 * np.eye(k))  # noqa: E731
    values = [
        rng.normal(size=(n_patients, n_raters)),
        0.3 * rng.normal(size=(n_patients, n_raters)),
        rng.uniform(0.5, 1.5, n_raters),
        factor(),
        factor(),
    ]
    values.append(sums)
    level, growth, sigma, chol_p, chol_t, sums_in = inputs = [
        pt.dmatrix(),
        pt.dmatrix(),
        pt.dvector(),
        pt.dmatrix(),
        pt.dmatrix(),
        pt.tensor3(),
    ]
    therapist = (pt.as_tensor(therapist_of), n_therapists, chol_t)
    reference = marginal_log_density(sums_in, level, growth, sigma, chol_p, n_raters, therapist)
    # the rating sums are an input too: censored values and Student-t weights reach the
    # density through them, so the kernel's gradient with respect to them is checked as well
    kernel = IntegratedLogDensity(n_raters)(
        sums_in, level, growth, sigma, chol_p, therapist_of, patterns, n_therapists, chol_t
    )[0]
    want = pytensor.function(inputs, [reference, *pt.grad(reference, inputs)])(*values)
    got = pytensor.function(inputs, [kernel, *pt.grad(kernel, inputs)], mode=mode)(*values)
    assert float(got[0]) == pytest.approx(float(want[0]), rel=1e-12)
    for ours, theirs in zip(got[1:], want[1:], strict=True):
        theirs = np.tril(theirs) if theirs.shape == (k, k) else theirs  # factors: lower part
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-10)
