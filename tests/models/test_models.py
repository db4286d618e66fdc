"""The growth model and the therapist regression: exact log-probability at a point against scipy,
names and dims of the shared vocabulary, and how data, covariates and priors enter the graph.

The log-probability tests evaluate each model once, at a random point of the unconstrained space,
through one compiled function per model (module-scoped), and recompute the likelihood in plain
numpy and scipy from the natural-scale parameter values. No sampling.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats

import alliance_bayes as ab
from alliance_bayes import AllianceData, Design, ModelSpec, default_priors, vocabulary
from alliance_bayes import growth_model as _growth_model
from alliance_bayes.models import model_info, therapist_regression
from conftest import PATIENTS, THERAPISTS, build, make_long_frame, make_therapist_frame

# These exact tests are of the model with explicit patient effects; the default for the normal
# likelihood integrates them out, which tests/models/test_marginal.py checks against scipy.
growth_model = functools.partial(_growth_model, marginal=False)

RTOL = 1e-6
SCALE = (1.0, 7.0)
SEVERITY = {"P1": 0.2, "P2": 1.4, "P3": -0.5, "P4": 0.9, "P5": 2.1, "P6": -1.0}

# ------------------------------------------------------------------------------- small data


def dual_rater_data(*, scores: np.ndarray | None = None) -> AllianceData:
    """3 therapists x 2 patients x 2 sessions x 2 raters; 2 therapist and 1 patient covariate."""
    frame = make_long_frame()
    frame["severity"] = frame["patient"].map(SEVERITY)
    if scores is not None:
        frame["wai"] = scores
    return build(
        frame,
        therapists=make_therapist_frame(),
        therapist_covariates=["burdens", "satisfactions"],
        patient_covariates=["severity"],
        scale=SCALE,
    )


def single_rater_data() -> AllianceData:
    """One rater; T2's mindfulness is missing (imputed) and one outcome is missing (left out)."""
    frame = make_long_frame(with_rater=False)
    frame["severity"] = frame["patient"].map(SEVERITY)
    frame.loc[frame.index[5], "wai"] = np.nan
    therapists = make_therapist_frame(mindfulness=[2.0, np.nan, 3.5])
    return build(
        frame,
        therapists=therapists,
        therapist_covariates=["burdens", "mindfulness"],
        patient_covariates=["severity"],
        scale=SCALE,
    )


def censored_scores() -> np.ndarray:
    """Scores of the dual-rater frame with several values exactly at the bounds 1 and 7."""
    scores = np.round(np.linspace(1.5, 6.5, 24), 3)
    scores[[0, 5, 17]] = SCALE[0]
    scores[[2, 11, 20, 23]] = SCALE[1]
    return scores


def regression_data() -> AllianceData:
    """One alliance score for each of 8 clinicians, two questionnaire covariates."""
    rng = np.random.default_rng(11)
    n = 8
    frame = pd.DataFrame(
        {
            "clinician": [f"C{i}" for i in range(n)],
            "client": [f"K{i}" for i in range(n)],
            "session": 1.0,
            "wai": np.round(rng.uniform(3, 7, n), 2),
            "presence": rng.normal(3, 1, n),
            "insight": rng.normal(2, 0.5, n),
        }
    )
    return AllianceData.from_frame(
        frame,
        therapist="clinician",
        patient="client",
        score="wai",
        time="session",
        therapist_covariates=["presence", "insight"],
        time_coding="as_is",
        scale=SCALE,
    )


# ------------------------------------------------------------------------------- evaluation

GROWTH_VALUES = (
    "level",
    "growth",
    "level_coef",
    "growth_coef",
    "patient_level_coef",
    "patient_growth_coef",
    "sigma",
    "nu",
    "therapist_sd",
    "therapist_corr",
    "therapist_effect",
    "therapist_offset",
    "patient_sd",
    "patient_corr",
    "patient_effect",
    "patient_offset",
    "therapist_covariate_missing",
)
REGRESSION_VALUES = ("intercept", "coef", "sigma", "r2", "coef_std")
PRIOR_TERMS = ("level", "sigma", "growth_coef", "intercept", "coef")


@dataclass
class Evaluated:
    """A model evaluated at one point: natural-scale values and log-probability terms."""

    model: pm.Model
    data: AllianceData
    values: dict[str, np.ndarray]
    logp: dict[str, float]


def free_names(model: pm.Model) -> set[str]:
    return {rv.name for rv in model.free_RVs}


def random_point(model: pm.Model, seed: int, shift: dict[str, float]) -> dict[str, np.ndarray]:
    """Standard-normal-ish values for every value variable, some shifted to a plausible place."""
    rng = np.random.default_rng(seed)
    shapes = model.eval_rv_shapes()
    return {
        var.name: rng.normal(0.0, 0.5, size=shapes[var.name]) + shift.get(var.name, 0.0)
        for var in model.value_vars
    }


def evaluate(model: pm.Model, data: AllianceData, names: tuple[str, ...], seed: int) -> Evaluated:
    """Natural-scale values of ``names`` and per-variable logp (no Jacobian), one compile."""
    names = tuple(n for n in names if n in model.named_vars)
    terms = ("alliance", *(n for n in PRIOR_TERMS if n in model.named_vars))
    terms += tuple(n for n in ("therapist_effect", "patient_effect") if n in free_names(model))
    outputs = model.replace_rvs_by_values([model[n] for n in names])
    elementwise = model.logp(vars=[model[n] for n in terms], jacobian=False, sum=False)
    outputs += [term.sum() for term in elementwise]
    fn = model.compile_fn(
        outputs, inputs=model.value_vars, on_unused_input="ignore", point_fn=False
    )
    point = random_point(model, seed, {"level": 4.5, "intercept": 5.0})
    results = fn(*(point[v.name] for v in model.value_vars))
    values = {n: np.asarray(r) for n, r in zip(names, results[: len(names)], strict=True)}
    logp = {n: float(r) for n, r in zip(terms, results[len(names) :], strict=True)}
    return Evaluated(model, data, values, logp)


def numpy_mu(data: AllianceData, v: dict[str, np.ndarray]) -> np.ndarray:
    """The growth model's linear predictor for the observed rows, written out in numpy."""
    rows = np.flatnonzero(data.observed)
    p = data.obs_patient[rows]
    t = data.patient_therapist[p]
    r = data.obs_rater[rows]
    x = data.time[rows]
    mu = v["level"][r] + v["growth"][r] * x
    if "level_coef" in v:
        z = data.therapist_covariates.values.copy()
        z[~np.isfinite(z)] = v.get("therapist_covariate_missing", np.zeros(0))
        mu += np.sum(z[t] * (v["level_coef"][r] + v["growth_coef"][r] * x[:, None]), axis=1)
    if "patient_level_coef" in v:
        w = data.patient_covariates.values[p]
        coef = v["patient_level_coef"][r] + v["patient_growth_coef"][r] * x[:, None]
        mu += np.sum(w * coef, axis=1)
    a, b = v["therapist_effect"], v["patient_effect"]
    mu += a[t, 2 * r] + a[t, 2 * r + 1] * x
    mu += b[p, 2 * r] + b[p, 2 * r + 1] * x
    return mu


def scipy_loglik(kind: str, data: AllianceData, v: dict[str, np.ndarray]) -> float:
    rows = np.flatnonzero(data.observed)
    y = data.score[rows]
    mu = numpy_mu(data, v)
    sigma = v["sigma"][data.obs_rater[rows]]
    if kind == "normal":
        return float(stats.norm.logpdf(y, mu, sigma).sum())
    if kind == "student_t":
        return float(stats.t.logpdf(y, float(v["nu"]), mu, sigma).sum())
    low, high = data.scale
    terms = np.where(
        y <= low,
        stats.norm.logcdf(low, mu, sigma),
        np.where(y >= high, stats.norm.logsf(high, mu, sigma), stats.norm.logpdf(y, mu, sigma)),
    )
    return float(terms.sum())


CASES: dict[str, tuple[str, Any]] = {
    "single_normal": ("normal", single_rater_data),
    "dual_normal": ("normal", dual_rater_data),
    "dual_censored": ("censored", lambda: dual_rater_data(scores=censored_scores())),
    "dual_student_t": ("student_t", dual_rater_data),
}


@functools.cache
def evaluated(name: str) -> Evaluated:
    """Each case is built and compiled once per test session."""
    kind, make = CASES[name]
    data = make()
    return evaluate(
        growth_model(data, likelihood=kind), data, GROWTH_VALUES, seed=1 + sorted(CASES).index(name)
    )


@pytest.fixture(params=sorted(CASES))
def case(request) -> tuple[str, Evaluated]:
    return CASES[request.param][0], evaluated(request.param)


@pytest.fixture(scope="module")
def regression() -> Evaluated:
    data = regression_data()
    return evaluate(therapist_regression(data), data, REGRESSION_VALUES, seed=5)


# ------------------------------------------------------------------------------- exact logp


def test_alliance_logp_matches_scipy(case):
    kind, ev = case
    expected = scipy_loglik(kind, ev.data, ev.values)
    assert np.isfinite(expected)
    np.testing.assert_allclose(ev.logp["alliance"], expected, rtol=RTOL)


def test_censored_point_exercises_both_bounds():
    """The censored case must have rows at 1 and 7, whose terms are a cdf and an sf, not a pdf."""
    ev = evaluated("dual_censored")
    y = ev.data.score[ev.data.observed]
    assert (y == SCALE[0]).sum() >= 2 and (y == SCALE[1]).sum() >= 2
    uncensored = scipy_loglik("normal", ev.data, ev.values)
    assert not np.isclose(ev.logp["alliance"], uncensored, rtol=1e-3)


def test_prior_terms_match_scipy(case):
    _, ev = case
    priors = default_priors(ev.data)
    level, sigma = priors["level"], priors["sigma"]
    expected_level = stats.norm.logpdf(ev.values["level"], level["mu"], level["sigma"]).sum()
    np.testing.assert_allclose(ev.logp["level"], expected_level, rtol=RTOL)
    expected_sigma = stats.halfnorm.logpdf(ev.values["sigma"], scale=sigma["sigma"]).sum()
    np.testing.assert_allclose(ev.logp["sigma"], expected_sigma, rtol=RTOL)
    # defaults on a 1-7 scale: centre 4, u = 1.5, level SD 2u/3
    assert level == {"dist": "Normal", "mu": 4.0, "sigma": 1.0}


@pytest.mark.parametrize("level", ["therapist", "patient"])
def test_effects_are_offsets_times_cholesky(case, level):
    _, ev = case
    sd, corr = ev.values[f"{level}_sd"], ev.values[f"{level}_corr"]
    np.testing.assert_allclose(np.diag(corr), 1.0, rtol=RTOL)
    np.testing.assert_allclose(corr, corr.T, rtol=RTOL)
    chol = np.linalg.cholesky(np.diag(sd) @ corr @ np.diag(sd))
    offset = ev.values[f"{level}_offset"]
    np.testing.assert_allclose(ev.values[f"{level}_effect"], offset @ chol.T, rtol=RTOL, atol=1e-12)


def test_missing_covariate_is_latent_in_the_likelihood():
    """T2's mindfulness is a latent value that T2's rows use (numpy_mu puts it in the same place,
    so test_alliance_logp_matches_scipy[single_normal] depends on it); here: it exists, with one
    value, and the data's missing entry is the one it fills."""
    ev = evaluated("single_normal")
    latent = ev.values["therapist_covariate_missing"]
    assert latent.shape == (1,) and latent[0] != 0.0
    z = ev.data.therapist_covariates.values
    assert list(zip(*np.nonzero(~np.isfinite(z)), strict=True)) == [(1, 1)]


def test_centered_effects_logp_matches_scipy():
    """centered=True: the effects are MvNormal(0, diag(sd) corr diag(sd)) themselves."""
    data = dual_rater_data()
    ev = evaluate(growth_model(data, centered=True), data, GROWTH_VALUES, seed=3)
    assert "therapist_offset" not in ev.values
    np.testing.assert_allclose(ev.logp["alliance"], scipy_loglik("normal", data, ev.values), RTOL)
    for level in ("therapist", "patient"):
        sd, corr = ev.values[f"{level}_sd"], ev.values[f"{level}_corr"]
        cov = np.diag(sd) @ corr @ np.diag(sd)
        effect = ev.values[f"{level}_effect"]
        expected = stats.multivariate_normal(np.zeros(len(sd)), cov).logpdf(effect).sum()
        np.testing.assert_allclose(ev.logp[f"{level}_effect"], expected, rtol=RTOL)


def test_regression_logp_matches_scipy(regression):
    data, v = regression.data, regression.values
    z = data.therapist_covariates.values[data.obs_therapist]
    fitted = z @ v["coef"]
    y = data.score
    expected = stats.norm.logpdf(y, v["intercept"] + fitted, v["sigma"]).sum()
    np.testing.assert_allclose(regression.logp["alliance"], expected, rtol=RTOL)
    priors = default_priors(data, "regression")
    expected_coef = stats.norm.logpdf(v["coef"], 0.0, priors["coef"]["sigma"]).sum()
    np.testing.assert_allclose(regression.logp["coef"], expected_coef, rtol=RTOL)
    expected_intercept = stats.norm.logpdf(v["intercept"], 4.0, 1.0)
    np.testing.assert_allclose(regression.logp["intercept"], expected_intercept, rtol=RTOL)


def test_regression_r2_and_standardised_coefficients(regression):
    data, v = regression.data, regression.values
    fitted = data.therapist_covariates.values[data.obs_therapist] @ v["coef"]
    total = np.var(fitted) + v["sigma"] ** 2
    np.testing.assert_allclose(v["r2"], np.var(fitted) / total, rtol=RTOL)
    np.testing.assert_allclose(v["coef_std"], v["coef"] / np.sqrt(total), rtol=RTOL)


# ------------------------------------------------------------------------------- vocabulary


@pytest.fixture(scope="module")
def dual_model() -> pm.Model:
    return growth_model(dual_rater_data())


def test_names_and_dims_match_the_vocabulary(dual_model):
    dims = dual_model.named_vars_to_dims
    expected = {
        "level": ("rater",),
        "growth": ("rater",),
        "level_coef": ("rater", "therapist_covariate"),
        "growth_coef": ("rater", "therapist_covariate"),
        "patient_level_coef": ("rater", "patient_covariate"),
        "patient_growth_coef": ("rater", "patient_covariate"),
        "therapist_sd": ("component",),
        "patient_sd": ("component",),
        "therapist_corr": ("component", "component_"),
        "patient_corr": ("component", "component_"),
        "therapist_effect": ("therapist", "component"),
        "patient_effect": ("patient", "component"),
        "sigma": ("rater",),
        "alliance": ("obs",),
    }
    assert {name: tuple(dims.get(name, ())) for name in expected} == expected
    assert dual_model["alliance"] in dual_model.observed_RVs
    free = {rv.name for rv in dual_model.free_RVs}
    assert {"level", "growth", "level_coef", "growth_coef", "sigma"} <= free
    # non-centred by default: the effects are deterministic, the offsets are free
    assert "therapist_effect" not in free and "therapist_offset" in free


def test_coords_carry_the_users_labels(dual_model):
    coords = dual_model.coords
    assert list(coords["therapist"]) == list(THERAPISTS)
    assert list(coords["patient"]) == [p for t in THERAPISTS for p in PATIENTS[t]]
    assert list(coords["rater"]) == ["patient", "therapist"]
    assert list(coords["therapist_covariate"]) == ["burdens", "satisfactions"]
    assert list(coords["patient_covariate"]) == ["severity"]
    components = ["patient:level", "patient:growth", "therapist:level", "therapist:growth"]
    assert list(coords["component"]) == components
    assert list(coords["component_"]) == components
    # obs are labelled by the user's row ids (the frame's index starts at 100)
    assert list(coords["obs"]) == list(range(100, 124))


def test_single_rater_components_use_the_rater_label():
    model = growth_model(single_rater_data())
    assert list(model.coords["rater"]) == ["rating"]
    assert list(model.coords["component"]) == ["rating:level", "rating:growth"]


def test_patient_coefficients_only_with_patient_covariates():
    model = growth_model(dual_rater_data(), patient_covariates=[])
    assert "patient_level_coef" not in model.named_vars
    assert "patient_growth_coef" not in model.named_vars
    assert "level_coef" in model.named_vars


def test_covariate_selection_by_name():
    model = growth_model(dual_rater_data(), therapist_covariates=["satisfactions"])
    assert list(model.coords["therapist_covariate"]) == ["satisfactions"]
    np.testing.assert_allclose(
        model["therapist_covariates"].get_value()[:, 0],
        dual_rater_data().therapist_covariates.values[:, 1],
    )


@pytest.mark.parametrize("option", ["therapist_covariates", "patient_covariates"])
def test_unknown_covariate_raises_key_error(option):
    with pytest.raises(KeyError, match="nonsense"):
        growth_model(dual_rater_data(), **{option: ["nonsense"]})


def test_regression_unknown_covariate_raises_key_error():
    with pytest.raises(KeyError, match="nonsense"):
        therapist_regression(regression_data(), covariates=["nonsense"])


def test_regression_names_and_coords():
    data = regression_data()
    model = therapist_regression(data)
    dims = model.named_vars_to_dims
    assert tuple(dims["coef"]) == ("therapist_covariate",)
    assert tuple(dims["coef_std"]) == ("therapist_covariate",)
    assert tuple(dims["alliance"]) == ("obs",)
    assert list(model.coords["therapist_covariate"]) == ["presence", "insight"]
    assert list(model.coords["therapist"]) == [f"C{i}" for i in range(8)]


def test_the_vocabulary_table_is_true_of_both_models():
    """Every name of the table is in its model with the table's dims, and every prior of a
    model with all its options (Student-t, covariates at both levels, a session term) is a
    parameter."""
    models = {
        "growth": growth_model(dual_rater_data(), likelihood="student_t", time_shape="quadratic"),
        "regression": therapist_regression(regression_data()),
    }
    for family, model in models.items():
        table = {t.name: t.dims for t in vocabulary.terms(family)}
        dims = {name: tuple(model.named_vars_to_dims.get(name, ())) for name in table}
        assert dims == table and set(table) <= set(model.named_vars)
        assert set(model_info(model).priors) == set(vocabulary.parameters(family))


def test_a_keyword_that_contradicts_the_spec_is_refused():
    data = dual_rater_data()
    robust = ModelSpec(name="robust", likelihood="student_t")
    with pytest.raises(ValueError, match=r"likelihood='censored' \(the spec has 'student_t'\)"):
        _growth_model(data, spec=robust, likelihood="censored")
    with pytest.raises(ValueError, match="priors="):
        _growth_model(data, spec=robust, priors={"sigma": {"sigma": 0.1}})
    # a keyword that says what the spec says is no conflict
    model = _growth_model(data, spec=robust, likelihood="student_t", marginal=None)
    assert "nu" in model.named_vars


# ------------------------------------------------------------------------------- data in the graph


def test_missing_outcomes_are_left_out_of_the_likelihood():
    data = single_rater_data()
    model = growth_model(data)
    assert data.n_obs == 12 and data.observed.sum() == 11
    assert len(model.coords["obs"]) == 11
    assert model["alliance_observed"].get_value().shape == (11,)
    np.testing.assert_array_equal(model["alliance_observed"].get_value(), data.score[data.observed])
    missing_row = data.row_id[~data.observed][0]
    assert missing_row not in list(model.coords["obs"])


def test_a_design_without_outcome_observes_every_row():
    data = Design(n_therapists=3, patients_per_therapist=2, sessions=[1, 2], scale=[1, 7]).to_data(
        random_seed=1
    )
    assert not data.has_outcome
    model = growth_model(data)
    assert model["alliance"] in model.observed_RVs
    assert len(model.coords["obs"]) == data.n_obs == 12
    assert model["alliance_observed"].get_value().shape == (12,)


def test_therapist_with_missing_covariate_keeps_patients_and_rows():
    data = single_rater_data()
    model = growth_model(data)
    assert list(model.coords["therapist"]) == list(THERAPISTS)
    assert len(model.coords["patient"]) == 6
    t2_rows = data.therapist_labels[data.obs_therapist[data.observed]] == "T2"
    assert t2_rows.sum() == 3  # four rows of T2, one with a missing outcome
    assert model["patient_idx"].get_value().shape == (11,)
    latent = model["therapist_covariate_missing"]
    assert latent in model.free_RVs
    assert latent.type.shape == (1,)
    assert np.isfinite(model["therapist_covariates"].get_value()).all()


def test_complete_covariates_have_no_latent_variable(dual_model):
    assert "therapist_covariate_missing" not in dual_model.named_vars


def test_prior_replaced_by_name_changes_the_logp():
    data = dual_rater_data()
    model = growth_model(data, priors={"growth_coef": {"dist": "Normal", "sigma": 0.1}})
    value = np.array([[0.05, -0.2], [0.3, 0.01]])
    fn = model.compile_fn(
        model.logp(vars=[model["growth_coef"]], jacobian=False),
        inputs=[model.rvs_to_values[model["growth_coef"]]],
        point_fn=False,
    )
    expected = stats.norm.logpdf(value, 0.0, 0.1).sum()
    np.testing.assert_allclose(fn(value), expected, rtol=RTOL)
    default = default_priors(data)["growth_coef"]["sigma"]
    assert not np.isclose(default, 0.1)
    assert not np.isclose(fn(value), stats.norm.logpdf(value, 0.0, default).sum())


@pytest.mark.parametrize("build_model", [growth_model, therapist_regression])
def test_unknown_prior_name_raises_key_error(build_model):
    data = regression_data() if build_model is therapist_regression else dual_rater_data()
    with pytest.raises(KeyError, match="growht"):
        build_model(data, priors={"growht": {"dist": "Normal", "sigma": 1.0}})


def test_censored_without_scale_raises_value_error(long_frame):
    data = build(long_frame)
    assert data.scale is None
    with pytest.raises(ValueError, match="scale"):
        growth_model(data, likelihood="censored")


def test_unknown_likelihood_raises_value_error():
    with pytest.raises(ValueError, match="likelihood"):
        growth_model(dual_rater_data(), likelihood="poisson")


def test_centered_effects_are_free_random_variables():
    model = growth_model(dual_rater_data(), centered=True)
    free = {rv.name for rv in model.free_RVs}
    assert {"therapist_effect", "patient_effect"} <= free
    assert "therapist_offset" not in model.named_vars
    assert tuple(model.named_vars_to_dims["therapist_effect"]) == ("therapist", "component")
    assert tuple(model.named_vars_to_dims["patient_effect"]) == ("patient", "component")


def test_student_t_has_nu_and_normal_does_not(dual_model):
    assert "nu" not in dual_model.named_vars
    assert "nu" in growth_model(dual_rater_data(), likelihood="student_t").named_vars


def test_ratings_piled_at_a_bound_suggest_the_censored_likelihood(ceiling_data):
    from alliance_bayes.models.growth import bound_shares

    shares = bound_shares(ceiling_data)
    assert all(high > 0.1 for _, high in shares.values())  # the fixture's ceiling effect
    with pytest.warns(ab.DataWarning, match=r"patient: \d+% at 7.*likelihood='censored'"):
        ab.growth_model(ceiling_data)
    with pytest.warns(ab.DataWarning, match="student_t likelihood"):
        ab.growth_model(ceiling_data, likelihood="student_t", marginal=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ab.DataWarning)
        ab.growth_model(ceiling_data, likelihood="censored")


def test_ratings_off_the_bounds_give_no_warning(tiny_datasets):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ab.DataWarning)
        ab.growth_model(tiny_datasets[0])
