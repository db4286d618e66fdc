"""Conditional effects: expected trajectories and differences per SD, against hand calculations
from the posterior draws of fit-shaped prior draws (no sampling)."""

from __future__ import annotations

import numpy as np
import pytest

import alliance_bayes as ab
from alliance_bayes.effects import default_sessions, observed_sessions, session_time
from alliance_bayes.result import read_attrs
from conftest import build, fake_fit, make_long_frame

PROB = 0.9


@pytest.fixture(scope="module")
def fake(tiny_datasets):
    """Dual rater (patient, therapist), covariate burdens, sessions 1, 2, 4, 8, log time."""
    return fake_fit(ab.growth_model(tiny_datasets[0]), draws=30)


@pytest.fixture(scope="module")
def linear_single():
    """One rater, linear time in units of 3 sessions (sessions 3 and 12), covariate burdens."""
    frame = make_long_frame(with_rater=False)
    data = build(frame, therapist_covariates=["burdens"], time_coding="linear", time_scale=3.0)
    return fake_fit(ab.growth_model(data), draws=20)


@pytest.fixture(scope="module")
def client_clinician():
    """Raters labelled client and clinician, their roles given: the contrast follows roles."""
    frame = make_long_frame()
    frame["rater"] = frame["rater"].map({"patient": "clinician", "therapist": "client"})
    data = build(
        frame,
        therapist_covariates=["burdens"],
        rater_roles={"client": "patient", "clinician": "therapist"},
    )
    return fake_fit(ab.growth_model(data), draws=20)


def _draws(idata, name, rater, covariate=None):
    array = idata.posterior[name].sel(rater=rater)
    if covariate is not None:
        array = array.sel(therapist_covariate=covariate)
    return array.to_numpy().ravel()  # (chain, draw) flattened, as stack(chain, draw) does


def _hand_trajectory(idata, rater, z, x):
    level, growth = _draws(idata, "level", rater), _draws(idata, "growth", rater)
    lc = _draws(idata, "level_coef", rater, "burdens")
    gc = _draws(idata, "growth_coef", rater, "burdens")
    return (level + z * lc)[:, None] + (growth + z * gc)[:, None] * np.asarray(x)[None, :]


def test_trajectories_equal_hand_calculation_from_draws(fake):
    sessions = [1.0, 3.0, 8.0]
    table = ab.conditional_trajectories(
        fake, "burdens", values=(-1, 0, 2), sessions=sessions, prob=PROB
    )
    assert len(table) == 2 * 3 * 3
    x = np.log(sessions) - np.log(1.0)  # log time, first session 1
    for rater in ("patient", "therapist"):
        for z in (-1.0, 0.0, 2.0):
            rows = table[(table["rater"] == rater) & (table["z"] == z)]
            hand = _hand_trajectory(fake, rater, z, x)
            np.testing.assert_allclose(rows["time"], x, atol=1e-12)
            np.testing.assert_allclose(rows["mean"], hand.mean(axis=0), rtol=1e-10)
            low, high = np.quantile(hand, [0.05, 0.95], axis=0)
            np.testing.assert_allclose(rows["lower"], low, rtol=1e-10)
            np.testing.assert_allclose(rows["upper"], high, rtol=1e-10)
    assert table.attrs["prob"] == PROB and table.attrs["time_coding"] == "log"


def test_default_grid_spans_each_raters_observed_sessions_log_spaced(fake):
    table = ab.conditional_trajectories(fake, "burdens", n_points=5)
    assert set(table["rater"]) == {"patient", "therapist"}
    for _, rows in table.groupby(["rater", "z"]):
        np.testing.assert_allclose(rows["session"], np.geomspace(1, 8, 5))
    assert observed_sessions(fake)["therapist"].tolist() == [1, 2, 4, 8]


def test_raw_units_convert_through_stored_mean_and_sd(fake):
    info = read_attrs(fake).data
    mean, sd = info.therapist_covariate_mean["burdens"], info.therapist_covariate_sd["burdens"]
    raw_values = (mean - 2 * sd, mean + 0.5 * sd)
    raw = ab.conditional_trajectories(fake, "burdens", raw_values, units="raw", n_points=4)
    in_sd = ab.conditional_trajectories(fake, "burdens", (-2, 0.5), units="sd", n_points=4)
    np.testing.assert_allclose(raw["z"], in_sd["z"], atol=1e-12)
    np.testing.assert_allclose(raw["mean"], in_sd["mean"], rtol=1e-10)
    np.testing.assert_allclose(in_sd["raw"], raw["value"], rtol=1e-10)
    assert raw["value"].iloc[0] == pytest.approx(raw_values[0])


def test_table_difference_per_sd_is_level_coef_plus_growth_coef_times_time(fake):
    sessions = [1.0, 4.0, 8.0]
    table = ab.conditional_effect_table(fake, "burdens", sessions=sessions, prob=PROB)
    x = np.log(sessions)
    sd = read_attrs(fake).data.therapist_covariate_sd["burdens"]
    per_sd = {}
    for rater in ("patient", "therapist"):
        lc = _draws(fake, "level_coef", rater, "burdens")
        gc = _draws(fake, "growth_coef", rater, "burdens")
        per_sd[rater] = lc[:, None] + gc[:, None] * x[None, :]
    per_sd["patient - therapist"] = per_sd["patient"] - per_sd["therapist"]
    assert list(dict.fromkeys(table["rater"])) == list(per_sd)
    for label, draws in per_sd.items():
        for per, factor in (("SD", 1.0), ("unit", 1 / sd)):
            rows = table[(table["rater"] == label) & (table["per"] == per)]
            hand = draws * factor
            np.testing.assert_allclose(rows["session"], sessions)
            np.testing.assert_allclose(rows["mean"], hand.mean(axis=0), rtol=1e-10)
            np.testing.assert_allclose(rows["sd"], hand.std(axis=0, ddof=1), rtol=1e-10)
            low, high = np.quantile(hand, [0.05, 0.95], axis=0)
            np.testing.assert_allclose(rows["lower"], low, rtol=1e-10)
            np.testing.assert_allclose(rows["upper"], high, rtol=1e-10)
            np.testing.assert_allclose(rows["p_gt_0"], (hand > 0).mean(axis=0))
            direction = np.where(
                hand.mean(axis=0) >= 0, (hand > 0).mean(axis=0), (hand < 0).mean(axis=0)
            )
            np.testing.assert_allclose(rows["p_direction"], direction)
    # the difference per SD at a session is the trajectories' difference between z = 1 and 0
    lines = ab.conditional_trajectories(fake, "burdens", (0, 1), sessions=sessions)
    patient = lines[lines["rater"] == "patient"]
    gap = patient[patient["z"] == 1]["mean"].to_numpy() - patient[patient["z"] == 0]["mean"]
    row = table[(table["rater"] == "patient") & (table["per"] == "SD")]
    np.testing.assert_allclose(gap.to_numpy(), row["mean"], rtol=1e-9)


def test_default_sessions_first_middle_last(fake):
    assert default_sessions(fake) == (1.0, 3.0, 8.0)  # sqrt(8) = 2.83, rounded
    table = ab.conditional_effect_table(fake, "burdens")
    assert sorted(set(table["session"])) == [1.0, 3.0, 8.0]


def test_linear_time_and_single_rater_has_no_contrast(linear_single):
    np.testing.assert_allclose(session_time(linear_single, [3, 6, 12]), [0, 1, 3])
    table = ab.conditional_effect_table(linear_single, "burdens", sessions=[3, 12])
    assert set(table["rater"]) == {"rating"}
    lc = _draws(linear_single, "level_coef", "rating", "burdens")
    gc = _draws(linear_single, "growth_coef", "rating", "burdens")
    row = table[(table["per"] == "SD") & (table["session"] == 12)]
    assert row["mean"].item() == pytest.approx((lc + gc * 3).mean())
    lines = ab.conditional_trajectories(linear_single, "burdens", n_points=4)
    np.testing.assert_allclose(lines["session"].iloc[:4], [3, 6, 9, 12])


def test_contrast_follows_stored_roles_not_label_order(client_clinician):
    table = ab.conditional_effect_table(client_clinician, "burdens", sessions=[3])
    assert "client - clinician" in set(table["rater"])
    rows = table[table["per"] == "SD"].set_index("rater")["mean"]
    assert rows["client - clinician"] == pytest.approx(rows["client"] - rows["clinician"])


def test_unknown_covariate_names_the_known_ones(fake):
    with pytest.raises(ValueError, match=r"no covariate 'satisfactions'.*\['burdens'\]"):
        ab.conditional_trajectories(fake, "satisfactions")
    with pytest.raises(ValueError, match=r"no covariate 'x'.*\['burdens'\]"):
        ab.conditional_effect_table(fake, "x")


def test_fit_without_covariates_and_bad_options_are_refused(tiny_datasets, fake):
    plain = fake_fit(ab.growth_model(tiny_datasets[0], therapist_covariates=[]), draws=5)
    with pytest.raises(ValueError, match="no covariates at all"):
        ab.conditional_effect_table(plain, "burdens")
    with pytest.raises(ValueError, match="units must be"):
        ab.conditional_trajectories(fake, "burdens", units="z")
    with pytest.raises(ValueError, match="prob must be"):
        ab.conditional_effect_table(fake, "burdens", prob=1.5)
    with pytest.raises(ValueError, match="positive with log-coded time"):
        ab.conditional_effect_table(fake, "burdens", sessions=[0, 4])


def test_patient_covariate_uses_the_patient_coefficients():
    frame = make_long_frame()
    frame["age"] = frame["patient"].map({f"P{i}": 20.0 + 7 * i for i in range(1, 7)})
    data = build(frame, therapist_covariates=["burdens"], patient_covariates=["age"])
    idata = fake_fit(ab.growth_model(data), draws=10)
    table = ab.conditional_effect_table(idata, "age", sessions=[3, 12])
    x = np.log(12.0) - np.log(3.0)
    select = {"rater": "therapist", "patient_covariate": "age"}
    lc = idata.posterior["patient_level_coef"].sel(select).to_numpy().ravel()
    gc = idata.posterior["patient_growth_coef"].sel(select).to_numpy().ravel()
    row = table[(table["rater"] == "therapist") & (table["per"] == "SD") & (table["session"] == 12)]
    assert row["mean"].item() == pytest.approx((lc + gc * x).mean())
    with pytest.raises(ValueError, match=r"\['burdens', 'age'\]"):
        ab.conditional_trajectories(idata, "sessions")
