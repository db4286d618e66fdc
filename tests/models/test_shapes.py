"""The model shapes of ModelSpec (issue 22): no therapist slopes, independent effects, quadratic
and piecewise time, and time-varying covariates split into within- and between-patient parts.
Each integrated (fast) model against the dense multivariate normal of scipy, its gradient
against finite differences (the kernel takes singular covariance factors), and what simulate,
the effect draws, predictions and the tables make of them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from pytensor.graph.traversal import ancestors
from test_marginal import _mvnormal_logp, gappy_data

import alliance_bayes as ab
from alliance_bayes._effect_draws import add_conditional_effects
from alliance_bayes.errors import DataValidationError
from alliance_bayes.models._effects import correlation_cholesky_graph, shaped_values
from alliance_bayes.result import rebuild_data
from conftest import build, fake_fit

SHAPES = {
    "no_therapist_slopes": {"therapist_slopes": False},
    "independent": {"correlated": False},
    "both": {"therapist_slopes": False, "correlated": False},
    "quadratic": {"time_shape": "quadratic"},
    "piecewise": {"time_shape": "piecewise", "knot": 2.0},
    "all": {"therapist_slopes": False, "correlated": False, "time_shape": "quadratic"},
    "session_covariate": {"session_covariates": ["symptoms"]},
    "everything": {"therapist_slopes": False, "time_shape": "piecewise", "knot": 2.0},
}
SYMPTOMS = ab.CovariateDesign(names=["symptoms"], mean=[12.0], sd=[4.0])


def _point(model, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(scale=0.3, size=np.shape(v)) for k, v in model.initial_point().items()}


def _values(model, point, names):
    nodes = [
        next(v for v in ancestors([model["alliance"]]) if v.name == name)
        if name == "alliance_mean"
        else model[name]
        for name in names
    ]
    return model.compile_fn(
        model.replace_rvs_by_values(nodes),
        inputs=model.value_vars,
        on_unused_input="ignore",
        point_fn=False,
    )(**point)


@pytest.fixture(scope="module")
def dual():
    """Dual-rater gappy data with a time-varying covariate (and a patient covariate)."""
    truth = {"patient_level_coef": [[0.1, 0.2]] * 2, "patient_growth_coef": [[0.0, 0.1]] * 2}
    simulated = gappy_data(
        ["patient", "therapist"],
        spec=ab.ModelSpec(session_covariates=["symptoms"]),
        truth=truth | {"session_coef": [[-0.1], [0.05]]},
        patient_covariates=ab.CovariateDesign(names=["age"]),
        session_covariates=SYMPTOMS,
    )
    assert (~simulated.observed).any() and simulated.session_covariates is not None
    return simulated


@pytest.mark.parametrize("shape", list(SHAPES))
def test_integrated_density_of_each_shape_equals_the_multivariate_normal(dual, shape):
    model = ab.growth_model(dual, spec=ab.ModelSpec(**SHAPES[shape]))
    assert "therapist_offset" not in model.named_vars  # the effects are integrated out
    point = _point(model)
    logp = model.compile_logp(vars=[model["alliance"]], jacobian=False)(point)
    names = ["alliance_mean", "sigma"] + [
        f"{group}_{part}" for group in ("patient", "therapist") for part in ("sd", "corr")
    ]
    mean, sigma, p_sd, p_corr, t_sd, t_corr = _values(model, point, names)
    if not SHAPES[shape].get("therapist_slopes", True):
        assert t_sd[1::2].tolist() == [0.0, 0.0] and t_sd[0::2].min() > 0
    if not SHAPES[shape].get("correlated", True):
        np.testing.assert_array_equal(p_corr, np.eye(4))
    covariance = lambda sd, corr: np.diag(sd) @ corr @ np.diag(sd)  # noqa: E731
    expected = _mvnormal_logp(dual, mean, sigma, covariance(p_sd, p_corr), covariance(t_sd, t_corr))
    assert logp == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("shape", ["all", "everything"])
def test_gradient_of_each_shape_equals_finite_differences(dual, shape):
    """Through the kernel's covariance-factor gradient at a factor with zero rows, and through
    the rating sums less the session terms."""
    model = ab.growth_model(dual, spec=ab.ModelSpec(**SHAPES[shape]))
    point = _point(model, seed=1)
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    grad = dlogp(point)
    numeric, step = [], 1e-5
    for name, value in point.items():
        for i in range(np.size(value)):
            up, down = dict(point), dict(point)
            up[name] = np.array(value, dtype=float).copy()
            down[name] = np.array(value, dtype=float).copy()
            up[name].flat[i] += step
            down[name].flat[i] -= step
            numeric.append((logp(up) - logp(down)) / (2 * step))
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_session_terms_reach_the_censored_path(dual):
    """With no rating at a bound the censored density is the normal one: the session terms
    shift the ratings the latent values build on as they shift the normal model's."""
    data = dataclasses.replace(dual, scale=(-50.0, 50.0))
    spec = ab.ModelSpec(time_shape="quadratic")
    normal = ab.growth_model(data, spec=spec)
    censored = ab.growth_model(data, spec=dataclasses.replace(spec, likelihood="censored"))
    point = _point(normal, seed=2)
    cens_point = _point(censored, seed=2) | point
    value = normal.compile_logp(vars=[normal["alliance"]])(point)
    assert censored.compile_logp(vars=[censored["alliance"]])(cens_point) == pytest.approx(value)


def test_explicit_twin_has_the_same_shape(dual):
    spec = ab.ModelSpec(therapist_slopes=False, correlated=False, marginal=False)
    model = ab.growth_model(dual, spec=spec)
    assert "therapist_offset" in model.named_vars and "therapist_chol_cov" not in model.named_vars
    draws = pm.draw([model["therapist_sd"], model["patient_corr"]], draws=5, random_seed=1)
    assert np.all(draws[0][:, 1::2] == 0) and np.all(draws[0][:, 0::2] > 0)
    np.testing.assert_array_equal(draws[1], np.broadcast_to(np.eye(4), (5, 4, 4)))


def test_shaped_values_invert_the_correlation_factor():
    rng = np.random.default_rng(3)
    corr = np.corrcoef(rng.normal(size=(3, 10)))
    values = shaped_values("t", np.ones(3), corr, np.ones(3, dtype=bool), True)
    low = correlation_cholesky_graph(2 * values["t_corr_packed"] - 1, 3).eval()
    np.testing.assert_allclose(low @ low.T, corr, atol=1e-12)


def test_simulate_holds_the_truth_to_the_model_shape(dual):
    spec = ab.ModelSpec(therapist_slopes=False, correlated=False, time_shape="quadratic")
    truth = {
        k: v
        for k, v in ab.Truth.nissen_lie_2013().values.items()
        if k not in ("level_coef", "growth_coef")  # no therapist covariates here
    }
    truth["session_coef"] = [[0.1], [-0.1]]
    truth |= {"patient_level_coef": [[0.1, 0.2]] * 2, "patient_growth_coef": [[0.0, 0.1]] * 2}
    model = ab.growth_model(dual, spec=spec)
    with pytest.raises(ValueError, match=r"'session_coef' has shape \(2, 1\); this model's is"):
        ab.simulate(model, truth, random_seed=4)
    truth["session_coef"] = {"patient": {"time^2": 0.1, "symptoms (within)": -0.2}}
    truth["session_coef"]["therapist"] = {"time^2": 0.0, "symptoms (within)": 0.1}
    sim = ab.simulate(model, truth, random_seed=4)
    assert np.all(sim.truth["therapist_sd"][1::2] == 0)
    assert np.all(sim.truth["therapist_effect"][:, 1::2] == 0)
    np.testing.assert_array_equal(sim.truth["patient_corr"], np.eye(4))
    assert sim.truth["session_coef"].shape == (2, 2)  # time^2 and symptoms (within)


def test_effect_draws_with_no_therapist_slopes_have_zero_growth(dual):
    model = ab.growth_model(dual, spec=ab.ModelSpec(**SHAPES["all"]))
    with model:
        prior = pm.sample_prior_predictive(draws=6, random_seed=5, compile_kwargs={})
    posterior = prior.prior
    add_conditional_effects(posterior, model, random_seed=6)
    therapist = posterior["therapist_effect"].to_numpy()
    assert np.all(therapist[..., 1::2] == 0) and np.all(therapist[..., 0::2] != 0)
    assert np.all(np.isfinite(posterior["patient_effect"].to_numpy()))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"time_shape": "piecewise"}, "needs knot"),
        ({"knot": 8.0}, "needs knot"),
        ({"time_shape": "cubic"}, "time_shape must be one of"),
        ({"therapist_slopes": False, "centered": True}, "centered=True needs"),
    ],
)
def test_shape_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        ab.ModelSpec(**options)


def test_knot_is_coded_as_the_data_time(dual):
    model = ab.growth_model(dual, spec=ab.ModelSpec(time_shape="piecewise", knot=4.0))
    expected = np.log(4.0) - np.log(dual.time_origin)
    assert float(model["time_knot"].get_value()) == pytest.approx(expected)
    assert list(model.coords["session_term"]) == ["time after session 4", "symptoms (within)"]


# ------------------------------------------------------------------ time-varying covariates
def test_a_time_varying_covariate_is_split_into_within_and_between(dual):
    model = ab.growth_model(dual, spec=ab.ModelSpec(**SHAPES["everything"]))
    assert list(model.coords["session_term"]) == ["time after session 2", "symptoms (within)"]
    assert list(model.coords["patient_covariate"]) == ["age", "symptoms (between)"]
    within = model["session_within"].get_value()[:, 0]
    rows = np.flatnonzero(dual.observed)
    patient = dual.obs_patient[rows]
    # the within part averages to 0 in each patient; with the between part it is the value
    per_patient = pd.Series(within).groupby(patient).mean()
    np.testing.assert_allclose(per_patient, 0.0, atol=1e-12)
    between = model["patient_covariates"].get_value()[:, 1]
    np.testing.assert_allclose(within + between[patient], dual.session_covariates.values[rows, 0])


def test_a_missing_session_covariate_where_there_is_a_score_is_named():
    frame = pd.DataFrame(
        {"t": [1, 1, 2, 2], "p": [1, 1, 2, 2], "s": [1, 2, 1, 2], "wai": [5.0, 5.5, 4.0, 4.2]}
    )
    frame["sym"] = [1.0, np.nan, 3.0, 2.0]
    with pytest.raises(DataValidationError, match=r"'sym' \(a session covariate\).*rows \[?1"):
        ab.AllianceData.from_frame(
            frame, therapist="t", patient="p", score="wai", time="s", session_covariates=["sym"]
        )
    frame.loc[1, "wai"] = np.nan  # no score there: no value needed
    data = ab.AllianceData.from_frame(
        frame, therapist="t", patient="p", score="wai", time="s", session_covariates=["sym"]
    )
    assert data.to_frame()["sym"].tolist()[::2] == [1.0, 3.0]


def test_a_design_with_session_covariates_round_trips_and_draws_them():
    design = ab.Design(n_therapists=3, patients_per_therapist=2, session_covariates=SYMPTOMS)
    assert ab.Design.from_toml(design.to_toml()) == design
    data = design.to_data(random_seed=2)
    raw = data.session_covariates.raw[:, 0]
    assert raw.std() > 1 and abs(raw.mean() - 12) < 4
    # a patient's rows differ (within) and the patients' means differ (between)
    means = pd.Series(raw).groupby(data.obs_patient).mean()
    assert means.std() > 0.5 and pd.Series(raw).groupby(data.obs_patient).std().min() > 0


def test_rebuilt_data_and_predictions_keep_the_session_covariates(dual):
    spec = ab.ModelSpec(**SHAPES["everything"])
    idata = fake_fit(ab.growth_model(dual, spec=spec), draws=10)
    rebuilt = rebuild_data(idata)
    assert rebuilt.patient_covariates.names == ("age",)
    np.testing.assert_allclose(
        rebuilt.session_covariates.values, dual.session_covariates.values[dual.observed]
    )
    fitted = ab.predict(idata)
    frame = dual.to_frame().drop(columns=["time_coded"])[dual.observed]
    again = ab.predict(idata, frame)
    np.testing.assert_allclose(fitted.values, again.values, atol=1e-10)
    shifted = frame.assign(symptoms=frame["symptoms"] + 4.0)  # one SD more at every session
    moved = ab.predict(idata, shifted) - again
    coef = idata.posterior["session_coef"].sel(session_term="symptoms (within)")
    between = idata.posterior["patient_level_coef"].sel(patient_covariate="symptoms (between)")
    assert float(abs(moved).max()) > 0  # the between part moves with the patient's mean
    with pytest.raises(DataValidationError, match="lacks the columns"):
        ab.predict(idata, frame.drop(columns=["symptoms"]))
    assert coef.size and between.size


def test_the_report_names_the_within_and_between_parts_and_the_shape(dual):
    spec = ab.ModelSpec(**SHAPES["everything"])
    table = ab.report_table(fake_fit(ab.growth_model(dual, spec=spec), draws=10))
    labels = table.rows["label"].tolist()
    assert "Symptoms (within patients), patient-rated" in labels
    assert "Level × Symptoms (between patients), therapist-rated" in labels
    assert "Change of growth after session 2 per ln(session), patient-rated" in labels
    assert not any("SD of growth" in label and "Therapist" in label for label in labels)


def test_conditional_trajectories_follow_the_time_shape(dual):
    spec = ab.ModelSpec(time_shape="quadratic", session_covariates=[], patient_covariates=["age"])
    idata = fake_fit(ab.growth_model(dual, spec=spec), draws=10)
    table = ab.conditional_trajectories(idata, "age", values=[0.0], sessions=[1.0, 4.0])
    post = idata.posterior.sel(rater="patient")
    x = np.log([1.0, 4.0]) - np.log(dual.time_origin)
    coef = post["session_coef"].sel(session_term="time^2")
    draws = post["level"].values[..., None] + post["growth"].values[..., None] * x
    draws = draws + coef.values[..., None] * x**2
    got = table.query("rater == 'patient'")["mean"].to_numpy()
    np.testing.assert_allclose(got, draws.reshape(-1, 2).mean(axis=0), rtol=1e-10)


def test_a_spec_for_another_time_coding_refuses_the_data(dual):
    spec = ab.ModelSpec(name="linear_time", time_coding="linear")
    assert ab.ModelSpec.from_toml(spec.to_toml()) == spec
    with pytest.raises(
        ValueError, match="is for 'linear' time, but the data's time is coded 'log'"
    ):
        ab.growth_model(dual, spec=spec)
    with pytest.raises(ValueError, match="time_coding must be one of"):
        ab.ModelSpec(time_coding="sqrt")


def test_a_session_covariate_takes_a_display_label_for_both_parts(dual):
    frame = dual.to_frame().drop(columns=["time_coded"])
    data = build(
        frame,
        score="alliance",
        patient_covariates=["age"],
        session_covariates=["symptoms"],
        labels={"symptoms": "Symptom distress"},
        scale=(1, 7),
    )
    assert data.labels == {"symptoms": "Symptom distress"}
    spec = ab.ModelSpec(**SHAPES["everything"])
    labels = ab.report_table(fake_fit(ab.growth_model(data, spec=spec), draws=10)).rows["label"]
    assert "Symptom distress (within patients), patient-rated" in set(labels)
    assert "Level × Symptom distress (between patients), patient-rated" in set(labels)
