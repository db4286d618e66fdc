"""Design: presets, to_data (structure, covariates, missingness, determinism), TOML round trip
and the designs that must be refused."""

from __future__ import annotations

import numpy as np
import pytest

from alliance_bayes import AllianceData, CovariateDesign, Design


@pytest.fixture(scope="module")
def nissen_lie() -> AllianceData:
    return Design.nissen_lie_2013().to_data(random_seed=1)


def small_design(**changes) -> Design:
    values = {
        "name": "small",
        "n_therapists": 6,
        "patients_per_therapist": 3,
        "sessions": [1.0, 4.0, 8.0],
        "raters": ["patient", "therapist"],
    }
    return Design(**(values | changes))


def same_data(a: AllianceData, b: AllianceData) -> bool:
    return (
        a.fingerprint() == b.fingerprint()
        and np.array_equal(a._planned_missing, b._planned_missing)
        and np.array_equal(a.therapist_covariates.raw, b.therapist_covariates.raw)
    )


# ---------------------------------------------------------------------------------- presets


def test_nissen_lie_structure(nissen_lie):
    assert nissen_lie.n_therapists == 70
    assert nissen_lie.n_patients == 227
    assert nissen_lie.rater_labels == ("patient", "therapist")
    assert nissen_lie.n_obs == 227 * 4 * 2
    assert sorted(set(nissen_lie.session)) == [3.0, 12.0, 20.0, 40.0]
    assert nissen_lie.time_coding == "log" and nissen_lie.time_origin == 3.0
    assert nissen_lie.scale == (1.0, 7.0)
    assert nissen_lie.coords["therapist_covariate"] == ["burdens", "satisfactions", "mindfulness"]
    assert not nissen_lie.has_outcome
    counts = np.bincount(nissen_lie.patient_therapist)
    assert counts.min() == 1 and counts.max() == 8


def test_nissen_lie_describe_shows_dropout(nissen_lie):
    d = nissen_lie.describe()
    assert d["counts"]["therapists"] == 70 and d["counts"]["patients"] == 227
    assert d["patients_per_therapist"]["min"] == 1 and d["patients_per_therapist"]["max"] == 8
    retention = d["by_session"]["retention"]
    for rater in ("patient", "therapist"):
        # 227 patients: binomial SD of the retention is under .035, so these bounds are > 4 SD
        assert 0.85 <= retention[(3.0, rater)] <= 1.0
        assert 0.65 <= retention[(20.0, rater)] <= 0.9
        assert 0.3 <= retention[(40.0, rater)] <= 0.6
        assert retention[(40.0, rater)] < retention[(20.0, rater)] < retention[(12.0, rater)]
    assert d["missing_outcomes"] == int(nissen_lie.planned_missing.sum()) > 0
    assert d["counts"]["observed"] == nissen_lie.n_obs - d["missing_outcomes"]


def test_nissen_lie_dropout_is_once_gone_gone(nissen_lie):
    design = Design.nissen_lie_2013()
    no_mar = Design(**(design.to_dict() | {"missing_rate": 0.0})).to_data(random_seed=1)
    present = ~no_mar.planned_missing.reshape(227, 4, 2)
    assert np.all(present[:, :, 0] == present[:, :, 1])  # both raters leave together
    assert np.all(np.diff(present[:, :, 0].astype(int), axis=1) <= 0)  # never come back
    assert present[:, :2].all()  # retention 1 at sessions 3 and 12


def test_nissen_lie_covariate_correlations_are_plausible():
    data = Design.nissen_lie_2013().to_data(random_seed=3)
    corr = np.corrcoef(data.therapist_covariates.raw, rowvar=False)
    # with 70 therapists the SE of a correlation is about .12; 0.35 is about 3 SE
    expected = np.array([[1.0, -0.3, -0.2], [-0.3, 1.0, 0.3], [-0.2, 0.3, 1.0]])
    np.testing.assert_allclose(corr, expected, atol=0.35)


def test_nissen_lie_is_reproducible(nissen_lie):
    again = Design.nissen_lie_2013().to_data(random_seed=1)
    assert same_data(nissen_lie, again)
    assert list(again.patient_labels) == list(nissen_lie.patient_labels)


def test_another_seed_gives_other_data(nissen_lie):
    other = Design.nissen_lie_2013().to_data(random_seed=2)
    assert other.n_therapists == 70 and other.n_patients == 227
    assert not np.array_equal(other.planned_missing, nissen_lie.planned_missing)
    assert not np.allclose(other.therapist_covariates.raw, nissen_lie.therapist_covariates.raw)


def test_seed_sequence_is_accepted():
    design = small_design(retention=[1.0, 0.7, 0.5], missing_rate=0.1)
    a = design.to_data(np.random.SeedSequence(11))
    b = design.to_data(np.random.SeedSequence(11))
    assert same_data(a, b)


def test_razzaque_preset():
    design = Design.razzaque_2015()
    data = design.to_data(random_seed=1)
    assert data.n_therapists == 76 and data.n_patients == 76 and data.n_obs == 76
    assert data.rater_labels == ("therapist",)
    names = ["presence", "acceptance", "openness", "insight"]
    assert list(data.therapist_covariates.names) == names
    assert data.therapist_covariates.values.shape == (76, 4)
    corr = np.asarray(design.therapist_covariates.corr)
    np.testing.assert_allclose(corr[~np.eye(4, dtype=bool)], 0.5)
    assert data.describe()["missing_outcomes"] == 0


def test_preset_by_name():
    assert Design.preset("razzaque_2015") == Design.razzaque_2015()
    with pytest.raises(KeyError, match="nissen_lie_2013"):
        Design.preset("nissen_lie")


def test_summary_names_the_structure():
    text = Design.nissen_lie_2013().summary()
    assert "therapists: 70" in text and "227 in all (1-8 each)" in text
    assert "sessions: 3, 12, 20, 40" in text
    assert "retention: 1, 1, 0.8, 0.45" in text
    assert "burdens" in text and "-0.3" in text


# ---------------------------------------------------------------------------------- to_data


def test_to_data_structure_without_outcome():
    data = small_design().to_data(random_seed=0)
    assert data.n_therapists == 6 and data.n_patients == 18 and data.n_obs == 18 * 3 * 2
    assert np.isnan(data.score).all()
    assert data.describe()["counts"]["observed"] == data.n_obs  # nothing planned missing
    assert "outcome not simulated yet" in repr(data)


def test_patients_per_therapist_as_list():
    data = small_design(patients_per_therapist=[1, 2, 3, 1, 2, 3]).to_data(random_seed=0)
    assert list(np.bincount(data.patient_therapist)) == [1, 2, 3, 1, 2, 3]


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "poisson", "mean": 3.2, "min": 1, "max": 5},
        {"dist": "uniform", "min": 2, "max": 4},
    ],
)
def test_patients_per_therapist_from_a_distribution(spec):
    design = small_design(n_therapists=40, patients_per_therapist=spec)
    data = design.to_data(random_seed=4)
    counts = np.bincount(data.patient_therapist, minlength=40)
    assert counts.min() >= spec["min"] and counts.max() <= spec["max"]
    assert len(set(counts)) > 1
    assert same_data(data, design.to_data(random_seed=4))


def test_covariates_of_a_design_are_standardised_with_raw_kept():
    design = small_design(
        n_therapists=30,
        therapist_covariates=CovariateDesign(names=["burdens"], mean=[2.0], sd=[0.5]),
        patient_covariates=CovariateDesign(names=["severity"], mean=[10.0], sd=[3.0]),
    )
    data = design.to_data(random_seed=5)
    t, p = data.therapist_covariates, data.patient_covariates
    np.testing.assert_allclose(t.values.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(t.raw.mean(axis=0), t.mean)
    assert 1.5 < t.mean[0] < 2.5 and 0.3 < t.sd[0] < 0.8
    assert p.values.shape == (data.n_patients, 1) and 7.0 < p.mean[0] < 13.0


def test_covariate_design_shape_mismatch():
    bad = CovariateDesign(names=["a", "b"], mean=[0.0])
    with pytest.raises(ValueError, match="match 2 names"):
        bad.draw(5, np.random.default_rng(0))


def test_covariates_are_drawn_through_the_cholesky_factor():
    """The draw is ``mean + z L'`` with ``L`` the (unique) Cholesky factor of the covariance and
    ``z`` the seed's standard normals, so a seed gives the same covariates on every CPU (an SVD,
    NumPy's default, may flip signs between machines)."""
    design = CovariateDesign(
        names=["a", "b", "c"],
        mean=[1.0, -2.0, 0.5],
        sd=[0.5, 2.0, 1.0],
        corr=[[1.0, 0.4, -0.2], [0.4, 1.0, 0.3], [-0.2, 0.3, 1.0]],
    )
    drawn = design.draw(6, np.random.default_rng(3))
    cov = np.asarray(design.corr) * np.outer(design.sd, design.sd)
    z = np.random.default_rng(3).standard_normal((6, 3))
    np.testing.assert_allclose(drawn, design.mean + z @ np.linalg.cholesky(cov).T, rtol=1e-12)


# ---------------------------------------------------------------------------------- TOML


@pytest.mark.parametrize(
    "design",
    [
        Design.nissen_lie_2013(),
        Design.razzaque_2015(),
        Design(
            name="planned",
            n_therapists=40,
            patients_per_therapist={"dist": "poisson", "mean": 3.2, "min": 1, "max": 8},
            retention=[1.0, 0.9, 0.8, 0.6],
            missing_rate=0.1,
            therapist_covariates=CovariateDesign(names=["burdens"], mean=[0.0], sd=[1.0]),
        ),
        Design(),
    ],
    ids=["nissen_lie_2013", "razzaque_2015", "distribution", "default"],
)
def test_toml_round_trip(design, tmp_path):
    text = design.to_toml()
    assert text.startswith("[design]")
    assert Design.from_toml(text) == design
    path = tmp_path / "design.toml"
    design.to_toml(path)
    assert Design.from_toml(path) == design
    assert Design.from_toml(str(path)) == design


def test_toml_round_trip_gives_the_same_data():
    design = Design.nissen_lie_2013()
    back = Design.from_toml(design.to_toml())
    assert same_data(back.to_data(random_seed=7), design.to_data(random_seed=7))


def test_toml_with_unknown_field_is_refused():
    with pytest.raises(ValueError, match="unknown design fields"):
        Design.from_toml("[design]\nn_therapists = 3\nn_sessions = 4\n")


# ---------------------------------------------------------------------------------- invalid


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"retention": [1.0, 0.8, 0.9]}, "non-increasing"),
        ({"retention": [1.0, 0.8]}, "one probability per session"),
        ({"retention": [1.2, 0.8, 0.5]}, r"\[0, 1\]"),
        ({"missing_rate": 1.0}, "missing_rate"),
        ({"missing_rate": -0.1}, "missing_rate"),
        ({"raters": ["patient", "therapist", "observer"]}, "one or two raters"),
        ({"raters": []}, "one or two raters"),
        ({"raters": ["patient", "patient"]}, "distinct"),
        ({"time_coding": "quadratic"}, "time_coding"),
        ({"sessions": [0.0, 4.0, 8.0]}, "sessions > 0"),
        ({"sessions": [1.0, 4.0, 4.0]}, "strictly increasing"),
        ({"sessions": [8.0, 4.0, 1.0]}, "strictly increasing"),
        ({"sessions": []}, "strictly increasing"),
        ({"n_therapists": 0}, "at least one therapist"),
    ],
)
def test_invalid_designs_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        small_design(**changes)


def test_sessions_from_zero_are_fine_with_linear_coding():
    data = small_design(sessions=[0.0, 4.0, 8.0], time_coding="linear").to_data(random_seed=0)
    assert sorted(set(data.time)) == [0.0, 4.0, 8.0]


@pytest.mark.parametrize(
    "patients_per_therapist",
    [[1, 2], 0, {"dist": "zipf", "min": 1}],
    ids=["wrong-length", "zero", "unknown-dist"],
)
def test_invalid_patient_counts_are_refused(patients_per_therapist):
    design = small_design(patients_per_therapist=patients_per_therapist)
    with pytest.raises(ValueError, match=r"patients_per_therapist|at least one patient"):
        design.to_data(random_seed=0)


# ---------------------------------------------------------------------------------- schedules
WEEKLY = {"kind": "weekly", "weeks": 30, "attendance": 0.8, "dropout_hazard": 0.03}


def test_weekly_schedule_gives_each_patient_sessions_of_their_own():
    design = small_design(sessions=None, schedule=WEEKLY)
    assert design.sessions == [float(w) for w in range(1, 31)]
    data = design.to_data(random_seed=1)
    frame = data.to_frame()
    per_patient = frame.groupby("patient")["session"].apply(lambda s: tuple(sorted(set(s))))
    assert all(s[0] == 1.0 and set(s) <= set(design.sessions) for s in per_patient)
    assert per_patient.nunique() > 10  # 18 patients, (nearly) all with schedules of their own
    # both raters rate every attended session
    assert (frame.groupby(["patient", "session"]).size() == 2).all()
    assert same_data(data, design.to_data(random_seed=1))
    assert not same_data(data, design.to_data(random_seed=2))


def test_schedule_with_full_attendance_and_no_dropout_is_the_fixed_grid():
    weeks = [1.0, 2.0, 3.0, 4.0]
    fixed = small_design(sessions=weeks).to_data(random_seed=3)
    scheduled = small_design(schedule={"kind": "sessions"}, sessions=weeks).to_data(random_seed=3)
    np.testing.assert_array_equal(scheduled.session, fixed.session)
    np.testing.assert_array_equal(scheduled.obs_patient, fixed.obs_patient)
    np.testing.assert_array_equal(scheduled.obs_rater, fixed.obs_rater)
    only_first = small_design(
        sessions=None, schedule={"kind": "weekly", "weeks": 4, "dropout_hazard": 1.0}
    )
    assert set(only_first.to_data(random_seed=3).session) == {1.0}


def test_schedule_attendance_and_dropout_follow_the_documented_model():
    design = Design(
        n_therapists=400, patients_per_therapist=5, sessions=None, schedule=WEEKLY, raters=["x"]
    )
    attended = design.attendance(np.random.default_rng(11), 2000)
    a, h = WEEKLY["attendance"], WEEKLY["dropout_hazard"]
    expected = np.r_[1.0, a * (1 - h) ** np.arange(1, 30)]
    # 2000 patients: binomial SDs are under .0112; 0.05 is more than 4 SD for every week
    np.testing.assert_allclose(attended.mean(axis=0), expected, atol=0.05)
    last = np.where(attended, np.arange(30), -1).max(axis=1)
    gone = np.arange(30)[None, :] > last[:, None]
    assert attended[:, 0].all()
    assert attended.sum(axis=1).mean() == pytest.approx(design_expected(design), rel=0.03)
    assert not (attended & gone).any()


def design_expected(design: Design) -> float:
    from alliance_bayes.spec import expected_sessions

    return expected_sessions(design)


def test_expected_sessions_by_hand():
    design = Design(
        schedule={"kind": "weekly", "weeks": 3, "attendance": 0.5, "dropout_hazard": 0.5}
    )
    assert design_expected(design) == 1 + 0.5 * (0.5 + 0.25)
    assert design_expected(Design()) == 4.0


def test_schedule_round_trips_to_toml_and_gives_the_same_data():
    design = small_design(sessions=None, schedule={"kind": "weekly", "weeks": 12})
    back = Design.from_toml(design.to_toml())
    assert back == design and back.schedule == {
        "kind": "weekly",
        "weeks": 12,
        "attendance": 1.0,
        "dropout_hazard": 0.0,
    }
    assert same_data(back.to_data(random_seed=4), design.to_data(random_seed=4))
    assert "schedule" not in Design().to_dict() and Design().sessions == [3.0, 12.0, 20.0, 40.0]


def test_schedule_in_the_summary():
    text = small_design(sessions=None, schedule=WEEKLY).summary()
    assert "sessions: 1, 2, ..., 30" in text
    assert "schedule: weekly, 30 possible sessions; attendance 0.8, dropout hazard 0.03" in text


@pytest.mark.parametrize(
    ("schedule", "changes", "match"),
    [
        ({"kind": "monthly"}, {}, "schedule kind must be one of"),
        ({"kind": "weekly", "weeks": 0}, {}, "whole number >= 1"),
        ({"kind": "weekly", "weeks": 2.5}, {}, "whole number >= 1"),
        ({"kind": "weekly", "weeks": 9, "attendance": 0.0}, {}, r"attendance must be in \(0, 1\]"),
        ({"kind": "weekly", "weeks": 9, "dropout_hazard": -0.1}, {}, "dropout_hazard"),
        (
            {"kind": "weekly", "weeks": 9, "hazard": 0.1},
            {},
            r"unknown schedule fields \['hazard'\]",
        ),
        ({"kind": "sessions", "weeks": 9}, {}, "not weeks"),
        ({"kind": "weekly", "weeks": 9}, {"retention": [1.0] * 9}, "leave retention out"),
        ({"kind": "weekly", "weeks": 2}, {"sessions": [1.0, 3.0]}, "has sessions 1, 2"),
        ({"kind": "sessions"}, {"sessions": None}, "needs the possible sessions"),
        ("weekly", {}, "must be a table"),
    ],
)
def test_invalid_schedules_are_refused(schedule, changes, match):
    with pytest.raises(ValueError, match=match):
        small_design(**({"sessions": None, "schedule": schedule} | changes))
