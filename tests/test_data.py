"""AllianceData.from_frame: what is kept (indices, coded time, covariates, coords, row ids,
missingness), what describe() reports, and properties over random valid frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliance_bayes import AllianceData, Design
from alliance_bayes.data import SINGLE_RATER, DataWarning, code_time
from conftest import (
    BURDENS,
    ROW_OFFSET,
    THERAPISTS,
    build,
    make_long_frame,
    make_therapist_frame,
)

# ---------------------------------------------------------------------------------- structure


def test_indices_and_labels(long_frame):
    data = build(long_frame)
    assert data.n_therapists == 3 and data.n_patients == 6 and data.n_raters == 2
    assert data.n_obs == len(long_frame) == 24
    assert list(data.therapist_labels) == list(THERAPISTS)
    assert list(data.patient_labels) == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert data.rater_labels == ("patient", "therapist")
    # every row's indices point back at its own labels
    assert list(data.patient_labels[data.obs_patient]) == list(long_frame["patient"])
    assert list(data.therapist_labels[data.obs_therapist]) == list(long_frame["therapist"])
    assert [data.rater_labels[r] for r in data.obs_rater] == list(long_frame["rater"])
    assert list(data.therapist_labels[data.patient_therapist]) == [
        "T1",
        "T1",
        "T2",
        "T2",
        "T3",
        "T3",
    ]
    np.testing.assert_array_equal(data.score, long_frame["wai"].to_numpy())
    np.testing.assert_array_equal(data.session, long_frame["session"].to_numpy(dtype=float))


def test_row_id_keeps_the_users_index(long_frame):
    data = build(long_frame)
    np.testing.assert_array_equal(data.row_id, np.arange(ROW_OFFSET, ROW_OFFSET + 24))
    labelled = long_frame.set_axis([f"r{i}" for i in range(len(long_frame))])
    assert list(build(labelled).row_id) == [f"r{i}" for i in range(24)]


def test_row_id_of_a_filtered_frame(long_frame):
    subset = long_frame[long_frame["rater"] == "patient"]
    data = build(subset)
    np.testing.assert_array_equal(data.row_id, subset.index.to_numpy())
    assert data.n_raters == 1


def test_coords_carry_user_labels(long_frame, therapist_frame):
    data = build(long_frame, therapists=therapist_frame, therapist_covariates=["mindfulness"])
    coords = data.coords
    assert coords["therapist"] == list(THERAPISTS)
    assert coords["patient"] == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert coords["rater"] == ["patient", "therapist"]
    assert coords["therapist_covariate"] == ["mindfulness"]
    assert coords["patient_covariate"] == []
    assert coords["component"] == [
        "patient:level",
        "patient:growth",
        "therapist:level",
        "therapist:growth",
    ]
    assert coords["component_"] == coords["component"]


def test_integer_ids_are_kept_as_given():
    frame = make_long_frame()
    frame["therapist"] = frame["therapist"].map({"T1": 30, "T2": 4, "T3": 101})
    frame["patient"] = frame["patient"].str[1:].astype(int) * 10
    data = build(frame)
    assert list(data.therapist_labels) == [4, 30, 101]
    assert list(data.patient_labels) == [10, 20, 30, 40, 50, 60]


def test_mixed_type_ids_do_not_depend_on_row_order(long_frame):
    long_frame["therapist"] = long_frame["therapist"].map({"T1": 7, "T2": "b", "T3": 2})
    forward = build(long_frame)
    backward = build(long_frame.iloc[::-1])
    assert list(forward.therapist_labels) == list(backward.therapist_labels)


def test_single_rater_without_rater_column():
    data = build(make_long_frame(with_rater=False))
    assert data.rater_labels == (SINGLE_RATER,)
    assert data.components == [f"{SINGLE_RATER}:level", f"{SINGLE_RATER}:growth"]
    assert np.all(data.obs_rater == 0)


def test_from_frame_does_not_change_the_users_frame(long_frame, therapist_frame):
    before, before_t = long_frame.copy(), therapist_frame.copy()
    build(long_frame, therapists=therapist_frame, therapist_covariates=["burdens", "mindfulness"])
    pd.testing.assert_frame_equal(long_frame, before)
    pd.testing.assert_frame_equal(therapist_frame, before_t)


def test_scale_is_kept(long_frame):
    assert build(long_frame, scale=(1, 7)).scale == (1.0, 7.0)
    assert build(long_frame).scale is None


# ---------------------------------------------------------------------------------- time coding


def test_log_time_coding(long_frame):
    data = build(long_frame, time_coding="log")
    expected = np.log(long_frame["session"].to_numpy(dtype=float)) - np.log(3.0)
    np.testing.assert_allclose(data.time, expected)
    assert data.time_coding == "log" and data.time_origin == 3.0
    assert set(np.round(data.time, 6)) == {0.0, round(np.log(4.0), 6)}


def test_linear_time_coding_with_scale(long_frame):
    data = build(long_frame, time_coding="linear", time_scale=9.0)
    expected = (long_frame["session"].to_numpy(dtype=float) - 3.0) / 9.0
    np.testing.assert_allclose(data.time, expected)
    assert set(data.time) == {0.0, 1.0}
    assert data.time_origin == 3.0 and data.time_scale == 9.0


def test_as_is_time_coding(long_frame):
    long_frame["session"] = long_frame["session"] / 4 - 2  # weeks since intake, may be negative
    data = build(long_frame, time_coding="as_is")
    np.testing.assert_array_equal(data.time, long_frame["session"].to_numpy())
    assert data.time_origin == 0.0


def test_code_time_with_given_origin():
    coded, origin = code_time(np.array([3.0, 12.0]), "linear", time_scale=2.0, origin=1.0)
    np.testing.assert_allclose(coded, [1.0, 5.5])
    assert origin == 1.0


# ---------------------------------------------------------------------------------- covariates


def test_standardisation_keeps_mean_and_sd(long_frame, therapist_frame):
    data = build(
        long_frame, therapists=therapist_frame, therapist_covariates=["burdens", "mindfulness"]
    )
    cov = data.therapist_covariates
    assert cov.names == ("burdens", "mindfulness") and cov.standardized
    raw = np.column_stack([list(BURDENS.values()), therapist_frame["mindfulness"]])
    np.testing.assert_allclose(cov.mean, raw.mean(axis=0))
    np.testing.assert_allclose(cov.sd, raw.std(axis=0, ddof=1))
    # standardised over therapists (one value each), not over rows
    np.testing.assert_allclose(cov.values.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(cov.values.std(axis=0, ddof=1), 1.0)
    np.testing.assert_allclose(cov.raw, raw)


def test_unstandardised_covariates_are_raw(long_frame):
    data = build(long_frame, therapist_covariates=["burdens"], standardize=False)
    cov = data.therapist_covariates
    assert not cov.standardized
    np.testing.assert_array_equal(cov.values[:, 0], list(BURDENS.values()))
    np.testing.assert_array_equal(cov.raw, cov.values)


def test_covariates_from_both_frames_agreeing(long_frame, therapist_frame):
    therapists = therapist_frame.assign(burdens=list(BURDENS.values()))
    data = build(long_frame, therapists=therapists, therapist_covariates=["burdens"])
    np.testing.assert_allclose(data.therapist_covariates.raw[:, 0], list(BURDENS.values()))


def test_patient_covariates(long_frame):
    ages = {p: 20 + 5 * i for i, p in enumerate(sorted(long_frame["patient"].unique()))}
    long_frame["age"] = long_frame["patient"].map(ages)
    data = build(long_frame, patient_covariates=["age"])
    cov = data.patient_covariates
    assert data.coords["patient_covariate"] == ["age"]
    np.testing.assert_allclose(cov.raw[:, 0], list(ages.values()))
    np.testing.assert_allclose(cov.mean, [np.mean(list(ages.values()))])


def test_to_frame_round_trips_labels_and_raw_covariates(long_frame):
    data = build(long_frame, therapist_covariates=["burdens"])
    back = data.to_frame()
    for column in ("therapist", "patient", "rater", "session", "wai", "burdens"):
        np.testing.assert_array_equal(back[column].to_numpy(), long_frame[column].to_numpy())


# ---------------------------------------------------------------------------------- not errors


def test_missing_outcomes_are_kept_and_counted(long_frame):
    long_frame.loc[[101, 110, 123], "wai"] = np.nan
    data = build(long_frame)
    assert data.n_obs == 24
    assert data.observed.sum() == 21
    np.testing.assert_array_equal(np.flatnonzero(~data.observed), [1, 10, 23])
    d = data.describe()
    assert d["missing_outcomes"] == 3
    assert d["counts"]["rows"] == 24 and d["counts"]["observed"] == 21
    assert d["by_session"]["missing"].sum() == 3
    assert "24 rows (21 with an outcome)" in repr(data)


def test_empty_string_outcomes_count_as_missing(long_frame):
    long_frame["wai"] = long_frame["wai"].astype(object)
    long_frame.loc[105, "wai"] = ""
    data = build(long_frame)
    assert data.describe()["missing_outcomes"] == 1


def test_missing_therapist_covariates_are_kept_as_nan(long_frame, therapist_frame):
    therapist_frame.loc[therapist_frame["therapist"] == "T2", "mindfulness"] = np.nan
    data = build(long_frame, therapists=therapist_frame, therapist_covariates=["mindfulness"])
    values = data.therapist_covariates.values[:, 0]
    np.testing.assert_array_equal(np.isnan(values), [False, True, False])
    assert data.describe()["missing_therapist_covariates"] == {"mindfulness": 1}
    assert "mindfulness (1 missing)" in repr(data)
    # mean and SD from the therapists that have a value
    np.testing.assert_allclose(data.therapist_covariates.mean, [np.mean([2.0, 3.5])])


def test_missing_therapist_covariate_in_long_frame_is_kept(long_frame):
    long_frame["burdens"] = long_frame["burdens"].astype(float)
    long_frame.loc[long_frame["therapist"] == "T1", "burdens"] = np.nan
    long_frame.loc[long_frame["patient"] == "P3", "burdens"] = np.nan  # T2 still has P4's value
    data = build(long_frame, therapist_covariates=["burdens"])
    np.testing.assert_array_equal(
        data.therapist_covariates.raw[:, 0], [np.nan, BURDENS["T2"], BURDENS["T3"]]
    )
    assert data.describe()["missing_therapist_covariates"] == {"burdens": 1}


def test_therapists_without_questionnaire_are_reported(long_frame, therapist_frame):
    partial = therapist_frame[therapist_frame["therapist"] != "T3"]
    partial = pd.concat([partial, pd.DataFrame({"therapist": ["T9"], "mindfulness": [1.0]})])
    with pytest.warns(DataWarning, match="'T9'"):
        data = build(long_frame, therapists=partial, therapist_covariates=["mindfulness"])
    assert data.n_therapists == 3  # T9 has no ratings and is left out
    assert data.therapists_without_questionnaire == ("T3",)
    d = data.describe()
    assert d["therapists_without_questionnaire"] == ["T3"]
    assert d["missing_therapist_covariates"] == {"mindfulness": 1}
    assert np.isnan(data.therapist_covariates.values[2, 0])
    assert "without a questionnaire row: 'T3'" in repr(data)


# ---------------------------------------------------------------------------------- reporting


def test_describe_counts_and_cluster_sizes(long_frame):
    subset = long_frame.drop(index=[100, 101])  # P1 loses session 3
    d = build(subset).describe()
    assert d["counts"] == {
        "therapists": 3,
        "patients": 6,
        "raters": 2,
        "rows": 22,
        "observed": 22,
    }
    assert d["patients_per_therapist"] == {"min": 2, "median": 2.0, "max": 2}
    assert d["observations_per_patient"] == {"min": 2, "median": 4.0, "max": 4}
    table = d["by_session"]
    assert list(table.index) == [(s, r) for s in (3.0, 12.0) for r in ("patient", "therapist")]
    np.testing.assert_array_equal(table["rows"], [5, 5, 6, 6])
    np.testing.assert_allclose(table["retention"], [5 / 6, 5 / 6, 1.0, 1.0])


def test_repr_is_readable(long_frame):
    data = build(long_frame, therapist_covariates=["burdens"], scale=(1, 7))
    text = repr(data)
    assert text.startswith("AllianceData: 3 therapists, 6 patients, 24 rows")
    assert "raters: patient, therapist; time coding: log; scale: 1.0-7.0" in text
    assert "patients per therapist: min 2, median 2.0, max 2" in text
    assert "therapist covariates: burdens" in text
    html = data._repr_html_()
    assert html.startswith("<div>") and "<table" in html


def test_fingerprint_changes_with_the_outcome(long_frame):
    data = build(long_frame)
    assert data.fingerprint() == build(long_frame.copy()).fingerprint()
    changed = data.with_score(data.score + 0.1)
    assert changed.fingerprint() != data.fingerprint()
    with pytest.raises(ValueError, match="shape"):
        data.with_score(data.score[:3])


# ---------------------------------------------------------------------------------- rater roles


def as_client_and_clinician(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(rater=frame["rater"].map({"patient": "client", "therapist": "clinician"}))


def test_roles_are_inferred_for_the_labels_patient_and_therapist(long_frame):
    assert build(long_frame).rater_roles == {"patient": "patient", "therapist": "therapist"}


def test_roles_given_for_other_labels_are_kept(long_frame):
    roles = {"client": "patient", "clinician": "therapist"}
    data = build(as_client_and_clinician(long_frame), rater_roles=roles)
    assert data.rater_labels == ("client", "clinician")
    assert data.rater_roles == roles
    assert data.describe()["rater_roles"] == roles
    assert "raters: client (patient), clinician (therapist)" in repr(data)


def test_roles_do_not_follow_the_order_of_the_labels(long_frame):
    """'alpha' sorts before 'beta', yet 'beta' is the patient: roles, not order, decide."""
    frame = long_frame.assign(
        rater=long_frame["rater"].map({"patient": "beta", "therapist": "alpha"})
    )
    data = build(frame, rater_roles={"beta": "patient", "alpha": "therapist"})
    assert data.rater_labels == ("alpha", "beta")
    assert data.rater_roles == {"alpha": "therapist", "beta": "patient"}


def test_one_rater_needs_no_role_but_may_have_one(long_frame):
    one = long_frame[long_frame["rater"] == "therapist"].assign(rater="clinician")
    assert build(one).rater_roles == {}
    assert build(one, rater_roles={"clinician": "therapist"}).rater_roles == {
        "clinician": "therapist"
    }
    no_column = make_long_frame(with_rater=False)
    assert build(no_column, rater_roles={SINGLE_RATER: "patient"}).rater_roles == {
        SINGLE_RATER: "patient"
    }


def test_a_design_infers_its_roles():
    data = Design.nissen_lie_2013().to_data(random_seed=1)
    assert data.rater_roles == {"patient": "patient", "therapist": "therapist"}


def test_roles_are_written_into_the_fits_data_attrs(long_frame):
    from alliance_bayes.result import DataAttrs

    roles = {"client": "patient", "clinician": "therapist"}
    data = build(as_client_and_clinician(long_frame), rater_roles=roles)
    assert DataAttrs.from_data(data).to_dict()["rater_roles"] == roles


# ---------------------------------------------------------------------------------- normalise_ids


def test_normalise_ids_merges_rater_labels_and_says_what_changed(long_frame):
    long_frame.loc[[100, 102], "rater"] = "Patient "
    long_frame.loc[[101], "rater"] = "THERAPIST"
    before = long_frame.copy()
    with pytest.warns(DataWarning, match=r"'Patient ' -> 'patient'.*'THERAPIST' -> 'therapist'"):
        data = build(long_frame, normalise_ids=True)
    assert data.rater_labels == ("patient", "therapist")
    assert data.rater_roles == {"patient": "patient", "therapist": "therapist"}
    assert [data.rater_labels[r] for r in data.obs_rater] == list(
        before["rater"].str.strip().str.lower()
    )
    pd.testing.assert_frame_equal(long_frame, before)  # the user's frame is untouched


def test_normalise_ids_strips_therapist_and_patient_ids(long_frame):
    long_frame.loc[long_frame["patient"] == "P2", "therapist"] = " T1"
    long_frame.loc[[100], "patient"] = "P1  "
    with pytest.warns(DataWarning, match=r"column 'therapist': ' T1' -> 'T1'"):
        data = build(long_frame, normalise_ids=True)
    assert list(data.therapist_labels) == list(THERAPISTS)
    assert list(data.patient_labels) == ["P1", "P2", "P3", "P4", "P5", "P6"]


def test_normalise_ids_reads_a_number_and_its_text_as_one_id(long_frame):
    long_frame["therapist"] = long_frame["therapist"].astype(object)
    long_frame.loc[long_frame["patient"] == "P1", "therapist"] = 7
    long_frame.loc[long_frame["patient"] == "P2", "therapist"] = "7 "
    with pytest.warns(DataWarning, match=r"7 \(number\) -> '7'.*'7 ' -> '7'"):
        data = build(long_frame, normalise_ids=True)
    assert list(data.therapist_labels) == ["7", "T2", "T3"]
    assert list(data.patient_therapist) == [0, 0, 1, 1, 2, 2]


def test_normalise_ids_joins_int_ids_to_text_ids_of_the_therapist_frame(long_frame):
    long_frame["therapist"] = long_frame["therapist"].str[1:].astype(int)
    therapists = make_therapist_frame(therapist=["1", "2", "3"])
    with pytest.warns(DataWarning, match="normalise_ids=True"):
        data = build(
            long_frame,
            therapists=therapists,
            therapist_covariates=["mindfulness"],
            normalise_ids=True,
        )
    np.testing.assert_allclose(data.therapist_covariates.raw[:, 0], [2.0, 2.5, 3.5])
    assert data.therapists_without_questionnaire == ()


def test_normalise_ids_is_silent_when_nothing_changes(long_frame, recwarn):
    build(long_frame, normalise_ids=True)
    assert not [w for w in recwarn if issubclass(w.category, DataWarning)]


# ---------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(("unit", "per"), [("days", 1.0), ("weeks", 7.0)])
def test_durations_are_converted_with_an_explicit_unit(long_frame, unit, per):
    days = long_frame["session"].to_numpy(dtype=float) * 7  # sessions 3 and 12 weeks in
    frame = long_frame.assign(session=pd.to_timedelta(days, unit="D"))
    data = build(frame, time_unit=unit, time_coding="linear")
    np.testing.assert_allclose(data.session, days / per)
    assert data.time_origin == 21.0 / per


# ---------------------------------------------------------------------------------- thin data


def test_therapists_without_patients_are_reported_and_warned(long_frame, therapist_frame):
    extra = pd.DataFrame(
        {"therapist": ["T9", "T8"], "satisfactions": [1.0, 2.0], "mindfulness": [1.0, 2.0]}
    )
    therapists = pd.concat([therapist_frame, extra])
    with pytest.warns(DataWarning, match=r"without patients .* left out \(2\): 'T8', 'T9'"):
        data = build(long_frame, therapists=therapists, therapist_covariates=["mindfulness"])
    assert data.therapists_without_patients == ("T8", "T9")
    assert data.describe()["therapists_without_patients"] == ["T8", "T9"]
    assert "left out (in the therapist frame, no patients): 'T8', 'T9'" in repr(data)
    # their questionnaires do not enter the covariate's mean and SD
    np.testing.assert_allclose(data.therapist_covariates.mean, [np.mean([2.0, 2.5, 3.5])])


def test_rater_without_observed_ratings_warns(long_frame):
    long_frame.loc[long_frame["rater"] == "therapist", "wai"] = np.nan
    with pytest.warns(DataWarning, match="rater 'therapist' has no observed rating"):
        build(long_frame)


def test_a_single_session_warns(long_frame):
    single = long_frame[long_frame["session"] == 3]
    with pytest.warns(DataWarning, match=r"same session \(3\): growth cannot be estimated"):
        build(single)


def test_a_single_session_with_as_is_time_does_not_warn(long_frame, recwarn):
    """The therapist-level regression takes one score per clinician with time as it is."""
    build(long_frame[long_frame["session"] == 3], time_coding="as_is")
    assert not [w for w in recwarn if issubclass(w.category, DataWarning)]


def test_a_single_therapist_warns(long_frame):
    with pytest.warns(DataWarning, match="single therapist \\('T1'\\)"):
        build(long_frame.assign(therapist="T1"))


def test_valid_data_give_no_warning(long_frame, therapist_frame, recwarn):
    build(long_frame, therapists=therapist_frame, therapist_covariates=["mindfulness"])
    assert not [w for w in recwarn if issubclass(w.category, DataWarning)]


# ---------------------------------------------------------------------------------- properties

ids = st.one_of(st.integers(-50, 10_000), st.text(alphabet="abcTP", min_size=1, max_size=4))


@st.composite
def valid_frames(draw) -> pd.DataFrame:
    """A random valid long frame: 1-5 therapists, 1-3 patients each, one or two raters,
    missing outcomes, one therapist covariate (with missing values) and a shuffled row index."""
    n_therapists = draw(st.integers(1, 5))
    therapist_ids = draw(st.lists(ids, min_size=n_therapists, max_size=n_therapists, unique=True))
    n_patients = draw(st.lists(st.integers(1, 3), min_size=n_therapists, max_size=n_therapists))
    patient_ids = draw(
        st.lists(ids, min_size=sum(n_patients), max_size=sum(n_patients), unique=True)
    )
    raters = draw(st.sampled_from([None, ("patient",), ("patient", "therapist")]))
    covariate = draw(
        st.lists(
            # covariate scores on a 0.1 grid, as questionnaires give them
            st.one_of(st.none(), st.integers(-30, 30).map(lambda k: k / 10)),
            min_size=n_therapists,
            max_size=n_therapists,
        )
    )
    rows = []
    patients = iter(patient_ids)
    for t, count, cov in zip(therapist_ids, n_patients, covariate, strict=True):
        for _ in range(count):
            p = next(patients)
            sessions = draw(st.sets(st.sampled_from([1, 2, 3, 5, 8, 12, 20, 40]), min_size=1))
            for s in sorted(sessions):
                for r in raters or (None,):
                    score = draw(st.one_of(st.none(), st.floats(1, 7)))
                    row = {"therapist": t, "patient": p, "session": s, "wai": score, "cov": cov}
                    rows.append(row | ({"rater": r} if r else {}))
    frame = pd.DataFrame(rows)
    frame["wai"] = frame["wai"].astype(float)
    frame["cov"] = frame["cov"].astype(float)
    if frame["wai"].isna().all():
        frame.loc[0, "wai"] = 4.0
    frame.index = draw(st.permutations(range(1000, 1000 + len(frame))))
    return frame


def from_random_frame(frame: pd.DataFrame) -> AllianceData:
    finite = frame.groupby("therapist")["cov"].first().dropna()
    usable = finite.nunique() >= 2
    return build(
        frame,
        rater="rater" if "rater" in frame.columns else None,
        therapist_covariates=["cov"] if usable else [],
        time_coding="linear",
        scale=(1, 7),  # a constant or single score is refused without one
    )


def per_row(data: AllianceData) -> dict:
    """Everything the model sees about each row, keyed by the user's row id."""
    covariates = data.therapist_covariates.values
    return {
        row_id: (
            data.therapist_labels[data.obs_therapist[i]],
            data.patient_labels[data.obs_patient[i]],
            data.rater_labels[data.obs_rater[i]],
            data.session[i],
            data.time[i],
            None if np.isnan(data.score[i]) else data.score[i],
            tuple(None if np.isnan(v) else v for v in covariates[data.obs_therapist[i]]),
        )
        for i, row_id in enumerate(data.row_id)
    }


PROPERTY_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(frame=valid_frames())
def test_random_valid_frames_keep_every_id_and_count(frame):
    data = from_random_frame(frame)
    assert set(data.therapist_labels) == set(frame["therapist"])
    assert set(data.patient_labels) == set(frame["patient"])
    assert data.n_therapists == frame["therapist"].nunique()
    assert data.n_patients == frame["patient"].nunique()
    assert data.n_obs == len(frame)
    assert list(data.row_id) == list(frame.index)
    assert list(data.patient_labels[data.obs_patient]) == list(frame["patient"])
    assert list(data.therapist_labels[data.obs_therapist]) == list(frame["therapist"])

    d = data.describe()
    assert d["counts"]["rows"] == len(frame)
    assert d["counts"]["observed"] == frame["wai"].notna().sum()
    assert d["missing_outcomes"] == frame["wai"].isna().sum()
    sizes = frame.groupby("therapist")["patient"].nunique()
    assert d["patients_per_therapist"]["min"] == sizes.min()
    assert d["patients_per_therapist"]["max"] == sizes.max()
    per_patient = frame.dropna(subset=["wai"]).groupby("patient").size()
    per_patient = per_patient.reindex(frame["patient"].unique(), fill_value=0)
    assert d["observations_per_patient"]["max"] == per_patient.max()
    assert d["observations_per_patient"]["min"] == per_patient.min()
    if data.therapist_covariates.names:
        missing = frame.groupby("therapist")["cov"].first().isna().sum()
        assert d["missing_therapist_covariates"] == {"cov": missing}


@PROPERTY_SETTINGS
@given(frame=valid_frames(), order_seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_change_the_result(frame, order_seed):
    shuffled = frame.sample(frac=1.0, random_state=np.random.default_rng(order_seed))
    a, b = from_random_frame(frame), from_random_frame(shuffled)
    assert list(a.therapist_labels) == list(b.therapist_labels)
    assert list(a.patient_labels) == list(b.patient_labels)
    assert a.rater_labels == b.rater_labels
    assert a.coords == b.coords
    np.testing.assert_array_equal(a.patient_therapist, b.patient_therapist)
    assert a.time_origin == b.time_origin
    assert per_row(a) == per_row(b)
    np.testing.assert_array_equal(a.therapist_covariates.mean, b.therapist_covariates.mean)
    np.testing.assert_array_equal(a.therapist_covariates.sd, b.therapist_covariates.sd)
    assert a.therapists_without_questionnaire == b.therapists_without_questionnaire
    da, db = a.describe(), b.describe()
    assert {k: da[k] for k in da if k != "by_session"} == {
        k: db[k] for k in db if k != "by_session"
    }
    pd.testing.assert_frame_equal(da["by_session"], db["by_session"])


def test_a_numpy_time_scale_is_accepted(long_frame):
    data = build(long_frame, time_coding="linear", time_scale=np.int64(9))
    np.testing.assert_allclose(data.time, (long_frame["session"].to_numpy() - 3) / 9)
