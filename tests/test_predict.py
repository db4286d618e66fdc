"""Predictions (issue 21, item 1): fitted and new groups, means and ratings, a fit from a file.

The exact checks use ``fake_fit`` (prior draws as the posterior, no sampling): the fitted mean
must equal the model's own ``alliance_mean`` node at every draw, and new groups must have the
moments computed by hand from the population draws.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import alliance_bayes as ab
from alliance_bayes import DataValidationError, growth_model, predict, simulate
from alliance_bayes._graph import alliance_mean, compile_graph, stored_names
from alliance_bayes.models import explicit_effects
from alliance_bayes.predict import population_draws, prediction_table
from alliance_bayes.result import rebuild_data, save
from conftest import TINY_TRUTH, build, fake_fit, make_long_frame, tiny_design


def _mean_node(model, posterior) -> np.ndarray:
    """The model's ``alliance_mean`` at every draw, through the compiled-graph layer."""
    model = explicit_effects(model)
    (values,) = compile_graph(model, [alliance_mean(model)], stored_names(model))(posterior)
    return values


@pytest.fixture(scope="module")
def tiny():
    """The tiny design's data (12 therapists, ``burdens``), its model and a fake fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        planned = growth_model(tiny_design().to_data(random_seed=1))
        data = simulate(planned, TINY_TRUTH, random_seed=101)
        model = growth_model(data)
        return data, model, fake_fit(model)


@pytest.fixture(scope="module")
def with_patient_covariate():
    """The small long frame with a patient covariate ``age``: columns ``wai``, ``session``."""
    frame = make_long_frame()
    frame["age"] = frame["patient"].map({f"P{i}": 20.0 + 7 * i for i in range(1, 7)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = build(
            frame, therapist_covariates=["burdens"], patient_covariates=["age"], scale=(1, 7)
        )
        model = growth_model(data)
        return frame, model, fake_fit(model)


# ---------------------------------------------------------------------------- exact: fitted
def test_fitted_mean_equals_the_models_mean_node(tiny):
    _, model, idata = tiny
    pred = predict(idata, kind="mean", groups="fitted")
    assert pred.dims == ("chain", "draw", "obs") and pred.name == "alliance"
    np.testing.assert_allclose(pred.to_numpy(), _mean_node(model, idata.posterior), rtol=1e-12)
    assert list(pred["obs"].values) == list(idata.observed_data["obs"].values)


def test_a_subset_frame_is_coded_as_the_fit_not_recentred(tiny):
    """Rows of two therapists, shuffled: the covariate mean of the subset must not re-centre."""
    _, model, idata = tiny
    expected = _mean_node(model, idata.posterior)
    fitted = rebuild_data(idata).to_frame().drop(columns=["alliance", "time_coded"])
    keep = fitted.index[fitted["therapist"].isin(fitted["therapist"].unique()[[2, 7]])]
    subset = fitted.loc[keep].sample(frac=1.0, random_state=1)
    pred = predict(idata, subset)
    np.testing.assert_allclose(pred.to_numpy(), expected[..., subset.index], rtol=1e-12)
    assert pred["burdens"].values.tolist() == subset["burdens"].tolist()


def test_fitted_mean_is_the_formula_of_the_architecture(with_patient_covariate):
    """level + growth x + z (level_coef + growth_coef x) + w (patient coefs) + effects."""
    frame, _, idata = with_patient_covariate
    post = idata.posterior
    new = frame.iloc[[3, 0, 17]].drop(columns=["wai"])
    new.loc[new.index[2], "session"] = 7  # a session the fit did not see
    pred = predict(idata, new).to_numpy()
    data = rebuild_data(idata)
    x = np.log(new["session"].to_numpy(float) / data.time_origin)
    r = np.array([data.rater_labels.index(v) for v in new["rater"]])
    z = (new["burdens"].to_numpy() - data.therapist_covariates.mean[0]) / (
        data.therapist_covariates.sd[0]
    )
    w = (new["age"].to_numpy() - data.patient_covariates.mean[0]) / data.patient_covariates.sd[0]
    t = [list(post["therapist"].values).index(v) for v in new["therapist"]]
    p = [list(post["patient"].values).index(v) for v in new["patient"]]
    a, b = post["therapist_effect"].to_numpy(), post["patient_effect"].to_numpy()
    hand = (
        post["level"].to_numpy()[..., r]
        + post["growth"].to_numpy()[..., r] * x
        + z
        * (post["level_coef"].to_numpy()[..., r, 0] + post["growth_coef"].to_numpy()[..., r, 0] * x)
        + w
        * (
            post["patient_level_coef"].to_numpy()[..., r, 0]
            + post["patient_growth_coef"].to_numpy()[..., r, 0] * x
        )
        + a[:, :, t, 2 * r]
        + a[:, :, t, 2 * r + 1] * x
        + b[:, :, p, 2 * r]
        + b[:, :, p, 2 * r + 1] * x
    )
    np.testing.assert_allclose(pred, hand, rtol=1e-10)


# ---------------------------------------------------------------------------- exact: new groups
def test_new_groups_have_the_moments_of_the_population(tiny):
    """Many new therapists (one patient each), both raters at one session, burdens one SD up:
    per draw, the mean, variances and cross-rater covariance across them are those computed by
    hand from the draw's fixed effects and covariances."""
    data, _, idata = tiny
    post = idata.posterior
    n, session = 3000, 4.0
    sd_burdens = data.therapist_covariates.sd[0]
    burdens = data.therapist_covariates.mean[0] + sd_burdens
    frame = pd.DataFrame(
        {
            "therapist": np.repeat([f"N{i}" for i in range(n)], 2),
            "patient": np.repeat([f"q{i}" for i in range(n)], 2),
            "session": session,
            "rater": np.tile(["patient", "therapist"], n),
            "burdens": burdens,
        }
    )
    pred = predict(idata, frame, groups="new", random_seed=3).to_numpy()
    values = pred.reshape(*pred.shape[:2], n, 2)  # (chain, draw, therapist, rater)
    x = np.log(session / data.time_origin)
    level, growth = post["level"].to_numpy(), post["growth"].to_numpy()
    coef = post["level_coef"].to_numpy()[..., 0] + post["growth_coef"].to_numpy()[..., 0] * x
    hand_mean = level + growth * x + coef  # z = 1
    cov = 0
    for group in ("therapist", "patient"):
        sd, corr = post[f"{group}_sd"].to_numpy(), post[f"{group}_corr"].to_numpy()
        cov = cov + sd[..., :, None] * corr * sd[..., None, :]
    lines = np.zeros((2, 4))  # the components of rater r's mean at x
    lines[0, :2] = lines[1, 2:] = [1.0, x]
    hand_cov = np.einsum("rk,cdkj,sj->cdrs", lines, cov, lines)
    hand_var = np.diagonal(hand_cov, axis1=-2, axis2=-1)
    se = np.sqrt(hand_var / n)
    assert np.all(np.abs(values.mean(axis=2) - hand_mean) < 5 * se)
    centred = values - values.mean(axis=2, keepdims=True)
    emp_cov = np.einsum("cdur,cdus->cdrs", centred, centred) / (n - 1)
    emp_var = np.diagonal(emp_cov, axis1=-2, axis2=-1)
    np.testing.assert_allclose((emp_var / hand_var).mean(axis=(0, 1)), 1.0, atol=0.02)
    scale = np.sqrt(hand_var[..., 0] * hand_var[..., 1])
    hand_corr, emp_corr = hand_cov[..., 0, 1] / scale, emp_cov[..., 0, 1] / scale
    assert np.abs(hand_corr).mean() > 0.05  # the check means something: raters correlate
    assert abs((emp_corr - hand_corr).mean()) < 0.01


def test_population_draws_are_seeded_and_joint(tiny):
    _, _, idata = tiny
    one = population_draws(idata.posterior, "patient", 5, np.random.default_rng(2))
    two = population_draws(idata.posterior, "patient", 5, np.random.default_rng(2))
    np.testing.assert_array_equal(one, two)
    assert one.shape == (2, 40, 5, 4)


def test_new_groups_same_seed_same_draws(tiny):
    _, _, idata = tiny
    frame = rebuild_data(idata).to_frame().iloc[:10]
    a = predict(idata, frame, groups="new", kind="rating", random_seed=5)
    b = predict(idata, frame, groups="new", kind="rating", random_seed=5)
    c = predict(idata, frame, groups="new", kind="rating", random_seed=6)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert not np.allclose(a.to_numpy(), c.to_numpy())


# ---------------------------------------------------------------------------- ratings
def test_ratings_add_the_residual_sd_of_their_rater(tiny):
    data, _, idata = tiny
    mean = predict(idata)
    rating = predict(idata, kind="rating", random_seed=1)
    sigma = idata.posterior["sigma"].to_numpy()[..., data.obs_rater[data.observed]]
    z = (rating - mean).to_numpy() / sigma
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03


def test_censored_ratings_stay_in_the_scale():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        planned = growth_model(tiny_design().to_data(random_seed=1), likelihood="censored")
        data = simulate(
            planned, TINY_TRUTH | {"level": {"patient": 6.6, "therapist": 6.6}}, random_seed=104
        )
        idata = fake_fit(growth_model(data, likelihood="censored"))
    rating = predict(idata, kind="rating", random_seed=1).to_numpy()
    assert rating.min() >= 1.0 and rating.max() <= 7.0
    assert (rating == 7.0).mean() > 0.01  # censored at the bound, not thrown away


# ---------------------------------------------------------------------------- refusals
def test_unknown_ids_and_columns_are_named(tiny):
    _, _, idata = tiny
    frame = rebuild_data(idata).to_frame().iloc[:4].drop(columns=["alliance"])
    unknown = frame.assign(therapist="T99")
    with pytest.raises(DataValidationError, match=r"T99.*groups='new'"):
        predict(idata, unknown)
    assert predict(idata, unknown, groups="new", random_seed=1).sizes["obs"] == 4
    with pytest.raises(DataValidationError, match="burdens"):
        predict(idata, frame.drop(columns=["burdens"]))
    with pytest.raises(DataValidationError, match="observer"):
        predict(idata, frame.assign(rater="observer"))
    with pytest.raises(DataValidationError, match="differs"):
        predict(idata, frame.assign(burdens=[1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(DataValidationError, match="another therapist"):
        predict(idata, frame.assign(therapist="T02"))
    with pytest.raises(ValueError, match="kind"):
        predict(idata, frame, kind="median")
    with pytest.raises(ValueError, match="groups"):
        predict(idata, frame, groups="old")


# ---------------------------------------------------------------------------- the table
def test_prediction_table_summarises_each_row(tiny):
    _, _, idata = tiny
    frame = rebuild_data(idata).to_frame().iloc[:5].drop(columns=["alliance"])
    pred = predict(idata, frame)
    table = prediction_table(pred, prob=0.8)
    draws = pred.to_numpy().reshape(-1, 5)
    assert list(table.columns) == [*frame.columns, "mean", "sd", "lower", "upper"]
    np.testing.assert_allclose(table["mean"], draws.mean(axis=0))
    np.testing.assert_allclose(table["lower"], np.quantile(draws, 0.1, axis=0))
    np.testing.assert_allclose(table["upper"], np.quantile(draws, 0.9, axis=0))
    assert table["therapist"].tolist() == frame["therapist"].tolist()


# ---------------------------------------------------------------------------- a new process
def test_predictions_from_a_saved_fit_in_a_new_process(tiny, tmp_path):
    _, _, idata = tiny
    frame = rebuild_data(idata).to_frame().iloc[:6].drop(columns=["alliance"])
    frame.to_csv(tmp_path / "new.csv", index=False)
    save(idata, tmp_path / "fit.nc")
    script = (
        "import sys, alliance_bayes as ab, pandas as pd\n"
        "frame = ab.read_table(sys.argv[2])\n"
        "pred = ab.predict(ab.load(sys.argv[1]), frame)\n"
        "pred.to_dataset().to_netcdf(sys.argv[3], engine='h5netcdf')\n"
    )
    out = tmp_path / "pred.nc"
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "fit.nc"), str(tmp_path / "new.csv"), out],
        check=True,
        capture_output=True,
    )
    import xarray as xr

    with xr.open_dataset(out, engine="h5netcdf") as read:
        values = read["alliance"].to_numpy()
    np.testing.assert_allclose(values, predict(idata, frame).to_numpy(), rtol=1e-12)


# ---------------------------------------------------------------------------- other fits
def test_one_rater_without_a_rater_column():
    frame = make_long_frame(with_rater=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = growth_model(build(frame, therapist_covariates=["burdens"], scale=(1, 7)))
        idata = fake_fit(model)
    np.testing.assert_allclose(
        predict(idata).to_numpy(), _mean_node(model, idata.posterior), rtol=1e-12
    )
    new = pd.DataFrame({"therapist": "T9", "patient": "P9", "session": [3, 6], "burdens": 2.0})
    pred = predict(idata, new, groups="new", random_seed=1)
    assert pred.shape == (2, 40, 2) and np.isfinite(pred.to_numpy()).all()


def test_student_t_ratings_use_nu(tiny):
    data, _, _ = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = fake_fit(growth_model(data, likelihood="student_t"))
    mean = predict(idata).to_numpy()
    rating = predict(idata, kind="rating", random_seed=1).to_numpy()
    sigma = idata.posterior["sigma"].to_numpy()[..., data.obs_rater[data.observed]]
    z = (rating - mean) / sigma
    nu = np.broadcast_to(idata.posterior["nu"].to_numpy()[..., None], z.shape)
    # the share beyond +-3 scale units is the Student-t's of each draw's nu, not the normal's
    expected = 2 * stats.t.sf(3, nu).mean()
    assert abs((np.abs(z) > 3).mean() - expected) < 0.01
    assert expected > 2 * stats.norm.sf(3) + 0.01


def test_only_the_covariates_the_model_uses_are_needed():
    """The shipped data hold mindfulness too; a model of burdens and satisfactions predicts a
    frame without it (found running README's blocks)."""
    data = ab.datasets.load("nissen_lie_2013")
    model = ab.growth_model(data, therapist_covariates=["burdens", "satisfactions"])
    idata = fake_fit(model, draws=10)
    new = pd.DataFrame(
        {
            "therapist": "new",
            "patient": "n1",
            "session": [3, 40],
            "rater": "patient",
            "burdens": 1.0,
            "satisfactions": 0.0,
        }
    )
    pred = ab.predict(idata, new, groups="new", random_seed=1)
    assert pred.shape == (2, 10, 2)
    with pytest.raises(ab.DataValidationError, match="satisfactions"):
        ab.predict(idata, new.drop(columns="satisfactions"), groups="new")
