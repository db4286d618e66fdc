"""One test per validation problem of issue 2: each raises DataValidationError (a ValueError)
whose message names the column and the offending ids or rows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from alliance_bayes import AllianceData, DataValidationError
from conftest import COLUMNS, ROW_OFFSET, build, make_long_frame, make_therapist_frame


def raises_naming(*fragments: str):
    """``pytest.raises(DataValidationError)`` whose message contains every fragment literally."""
    pattern = "".join(f"(?=.*{re.escape(f)})" for f in fragments)
    return pytest.raises(DataValidationError, match=re.compile(pattern, re.DOTALL))


def test_data_validation_error_is_a_value_error():
    assert issubclass(DataValidationError, ValueError)
    with pytest.raises(ValueError):
        build(make_long_frame(), score="wia")


def test_misspelt_column_suggests_closest_name(long_frame):
    with raises_naming("'wia'", "Did you mean 'wai'?"):
        build(long_frame, score="wia")


def test_missing_column_names_it_and_lists_columns(long_frame):
    with raises_naming("'visit'", "not in the data frame", "'session'"):
        build(long_frame, time="visit")


def test_misspelt_id_column_of_therapist_frame(long_frame):
    therapists = make_therapist_frame().rename(columns={"therapist": "therapist_id"})
    with raises_naming("'therapist'", "therapist frame", "Did you mean 'therapist_id'?"):
        build(long_frame, therapists=therapists)


def test_empty_frame(long_frame):
    with raises_naming("data frame", "empty"):
        build(long_frame.iloc[:0])


def test_nan_patient_id_names_rows(long_frame):
    long_frame.loc[[103, 107], "patient"] = np.nan
    with raises_naming("'patient'", "missing or empty ids", "2 rows", "103, 107"):
        build(long_frame)


def test_empty_string_therapist_id_names_row(long_frame):
    long_frame.loc[110, "therapist"] = "  "
    with raises_naming("'therapist'", "missing or empty ids", "rows 110"):
        build(long_frame)


def test_nan_id_in_therapist_frame(long_frame):
    therapists = make_therapist_frame(therapist=["T1", None, "T3"])
    with raises_naming("'therapist'", "therapist frame", "rows 1"):
        build(long_frame, therapists=therapists)


def test_patient_under_two_therapists(long_frame):
    long_frame.loc[long_frame["patient"] == "P2", "therapist"] = ["T1", "T1", "T2", "T2"]
    with raises_naming("'therapist'", "more than one therapist", "'P2'"):
        build(long_frame)


def test_non_numeric_scores_name_values_and_rows(long_frame):
    long_frame["wai"] = long_frame["wai"].astype(object)
    long_frame.loc[105, "wai"] = "high"
    long_frame.loc[108, "wai"] = "5,5"
    with raises_naming("'wai'", "not numbers", "'high'", "'5,5'", "rows 105, 108"):
        build(long_frame)


def test_scores_outside_scale_name_rows_and_values(long_frame):
    long_frame.loc[101, "wai"] = 0.5
    long_frame.loc[120, "wai"] = 7.5
    with raises_naming("'wai'", "outside the declared scale", "[1, 7]", "rows 101, 120", "0.5"):
        build(long_frame, scale=(1, 7))


def test_therapist_covariate_varies_within_therapist(long_frame):
    long_frame.loc[long_frame.index[long_frame["therapist"] == "T2"][0], "burdens"] = 9.0
    with raises_naming("'burdens'", "varies within 1 therapists", "'T2'"):
        build(long_frame, therapist_covariates=["burdens"])


def test_therapist_covariate_varies_within_therapist_frame(long_frame):
    therapists = pd.concat(
        [make_therapist_frame(), make_therapist_frame(mindfulness=[2.0, 2.5, 1.0])]
    )
    with raises_naming("'mindfulness'", "varies within", "'T3'"):
        build(long_frame, therapists=therapists, therapist_covariates=["mindfulness"])


def test_therapist_covariate_disagrees_between_frames(long_frame):
    therapists = make_therapist_frame(burdens=[1.5, 3.0, 4.0])  # T2 is 2.5 in the long frame
    with raises_naming("'burdens'", "disagrees", "therapist frame", "'T2'"):
        build(long_frame, therapists=therapists, therapist_covariates=["burdens"])


def test_duplicate_patient_time_rater_rows(long_frame):
    duplicate = long_frame.loc[[104]].rename(index={104: 999})
    frame = pd.concat([long_frame, duplicate])
    with raises_naming("'patient'", "'session'", "'rater'", "rows 104, 999"):
        build(frame)


def test_duplicate_rows_without_rater_column():
    frame = make_long_frame(with_rater=False)
    frame.loc[103, "session"] = 3  # P2 now has two ratings at session 3
    with raises_naming("'patient'", "'session'", "rows 102, 103"):
        build(frame)


def test_more_than_two_rater_labels(long_frame):
    p6_by_therapist = (long_frame["patient"] == "P6") & (long_frame["rater"] == "therapist")
    long_frame.loc[p6_by_therapist, "rater"] = "observer"
    with raises_naming("'rater'", "3 rater labels", "'observer'", "at most 2"):
        build(long_frame)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_time(long_frame, bad):
    long_frame["session"] = long_frame["session"].astype(float)
    long_frame.loc[[106, 111], "session"] = bad
    with raises_naming("'session'", "non-finite", "rows 106, 111"):
        build(long_frame)


@pytest.mark.parametrize("bad", [0, -1])
def test_sessions_not_positive_with_log_coding(long_frame, bad):
    long_frame.loc[long_frame["session"] == 3, "session"] = bad
    rows = ", ".join(str(r) for r in long_frame.index[long_frame["session"] == bad][:5])
    with raises_naming("'session'", "<= 0", f"rows {rows} (and 7 more)", "time_coding"):
        build(long_frame)


def test_sessions_not_positive_are_fine_with_linear_coding(long_frame):
    long_frame.loc[long_frame["session"] == 3, "session"] = 0
    data = build(long_frame, time_coding="linear")
    assert data.time.min() == 0.0


def test_zero_variance_covariate(long_frame):
    long_frame["burdens"] = 2.0
    with raises_naming("'burdens'", "zero variance", "2.0"):
        build(long_frame, therapist_covariates=["burdens"])


def test_zero_variance_patient_covariate(long_frame):
    long_frame["age"] = 30.0
    with raises_naming("'age'", "zero variance"):
        build(long_frame, patient_covariates=["age"])


def test_all_outcomes_missing(long_frame):
    long_frame["wai"] = np.nan
    with raises_naming("'wai'", "every outcome is missing"):
        build(long_frame)


def test_covariate_in_neither_frame(long_frame, therapist_frame):
    with raises_naming("'mindfullness'", "neither", "Did you mean 'mindfulness'?"):
        build(long_frame, therapists=therapist_frame, therapist_covariates=["mindfullness"])


def test_covariate_in_neither_frame_without_therapist_frame(long_frame):
    with raises_naming("'burden'", "neither", "Did you mean 'burdens'?"):
        build(long_frame, therapist_covariates=["burden"])


def test_at_most_five_offending_rows_are_shown(long_frame):
    long_frame["wai"] = 9.0
    with pytest.raises(DataValidationError) as info:
        build(long_frame, scale=(1, 7))
    message = str(info.value)
    assert f"rows {ROW_OFFSET}, {ROW_OFFSET + 1}, {ROW_OFFSET + 2}" in message
    assert "(and 19 more)" in message
    assert str(ROW_OFFSET + 5) not in message


def test_unknown_time_coding_is_a_value_error(long_frame):
    with pytest.raises(ValueError, match="time_coding"):
        build(long_frame, time_coding="quadratic")


def test_inverted_scale_is_a_value_error(long_frame):
    with pytest.raises(ValueError, match="low < high"):
        build(long_frame, scale=(7, 1))


def test_frame_must_be_a_dataframe(long_frame):
    with pytest.raises(TypeError, match="DataFrame"):
        AllianceData.from_frame(long_frame.to_dict("list"), **COLUMNS)


def test_covariate_spread_below_rounding_error_is_zero_variance(long_frame):
    frame = long_frame.assign(cov=np.where(long_frame["therapist"] == "T1", 2.2e-308, 0.0))
    with pytest.raises(DataValidationError, match="'cov' has zero variance"):
        build(frame, therapist_covariates=["cov"])


# ------------------------------------------------------------- issue 18: no silent wrongs
@pytest.mark.parametrize("bad", [np.inf, -np.inf, "inf", "-inf"])
def test_infinite_scores_are_refused_not_dropped(long_frame, bad):
    long_frame["wai"] = long_frame["wai"].astype(object)
    long_frame.loc[[102, 115], "wai"] = bad
    with raises_naming("'wai'", "non-finite", "rows 102, 115"):
        build(long_frame)


def test_blank_text_scores_are_missing_not_an_error(long_frame):
    long_frame["wai"] = long_frame["wai"].astype(object)
    long_frame.loc[[102, 115], "wai"] = "  "
    data = build(long_frame)
    assert np.isnan(data.score[[2, 15]]).all() and data.observed.sum() == 22


@pytest.mark.parametrize("label", ["Patient", "patient ", " PATIENT"])
def test_rater_labels_differing_by_case_or_whitespace(label):
    frame = make_long_frame()
    frame = frame[frame["rater"] == "patient"].copy()
    frame.loc[[100, 102], "rater"] = label
    with raises_naming("'rater'", f"{label!r} / 'patient'", "normalise_ids=True"):
        build(frame)


def test_therapist_ids_differing_by_whitespace(long_frame):
    long_frame.loc[long_frame["patient"] == "P2", "therapist"] = "T1 "
    with raises_naming("'therapist'", "'T1' / 'T1 '", "whitespace"):
        build(long_frame)


def test_patient_ids_differing_by_whitespace(long_frame):
    long_frame.loc[[100, 101], "patient"] = " P1"
    with raises_naming("'patient'", "' P1' / 'P1'"):
        build(long_frame)


def test_number_and_text_of_the_same_therapist_id(long_frame):
    long_frame["therapist"] = long_frame["therapist"].map({"T1": 7, "T2": "7", "T3": "T3"})
    with raises_naming("'therapist'", "7 (number) / '7'"):
        build(long_frame)


def test_int_ids_in_data_and_text_ids_in_therapist_frame(long_frame):
    long_frame["therapist"] = long_frame["therapist"].str[1:].astype(int)
    therapists = make_therapist_frame(therapist=["1", "2", "3"])
    with raises_naming("'therapist'", "1 (number) / '1' in the therapist frame", "2 (number)"):
        build(long_frame, therapists=therapists, therapist_covariates=["mindfulness"])


def test_therapist_frame_sharing_no_id_with_the_data(long_frame):
    therapists = make_therapist_frame(therapist=["T01", "T02", "T03"])
    with raises_naming("'therapist'", "none of the 3 therapist ids", "'T01'", "'T1'"):
        build(long_frame, therapists=therapists, therapist_covariates=["mindfulness"])


def test_sessions_given_as_text_are_compared_as_numbers(long_frame):
    long_frame["session"] = long_frame["session"].astype(str)  # '3' and '12'
    duplicate = long_frame.loc[[100]].rename(index={100: 999}).assign(session="3.0")
    with raises_naming("'session'", "compared as numbers", "rows 100, 999"):
        build(pd.concat([long_frame, duplicate]))


def test_date_sessions_are_refused(long_frame):
    long_frame["session"] = pd.Timestamp("2024-03-01") + pd.to_timedelta(
        long_frame["session"], unit="D"
    )
    with raises_naming("'session'", "dates", "time_unit="):
        build(long_frame)


def test_duration_sessions_need_a_time_unit(long_frame):
    long_frame["session"] = pd.to_timedelta(long_frame["session"], unit="D")
    with raises_naming("'session'", "durations", "time_unit='days' or 'weeks'"):
        build(long_frame)


def test_time_unit_with_numeric_sessions_is_a_value_error(long_frame):
    with pytest.raises(ValueError, match="time_unit"):
        build(long_frame, time_unit="days")


def test_unknown_time_unit_is_a_value_error(long_frame):
    long_frame["session"] = pd.to_timedelta(long_frame["session"], unit="D")
    with pytest.raises(ValueError, match="time_unit must be one of"):
        build(long_frame, time_unit="months")


def test_dates_in_a_score_or_covariate_column_are_refused(long_frame):
    long_frame["when"] = pd.Timestamp("2024-03-01")
    with raises_naming("'when'", "dates or durations"):
        build(long_frame, therapist_covariates=["when"])


@pytest.mark.parametrize("time_scale", [0, -1, -0.5, np.inf, np.nan])
def test_time_scale_must_be_positive_and_finite(long_frame, time_scale):
    with raises_naming("time_scale", "positive finite", "'session'"):
        build(long_frame, time_coding="linear", time_scale=time_scale)


def test_constant_outcome_without_scale(long_frame):
    long_frame["wai"] = 5.0
    with raises_naming("'wai'", "all 24 observed scores equal 5.0", "scale=(low, high)"):
        build(long_frame)
    assert build(long_frame, scale=(1, 7)).scale == (1.0, 7.0)  # the scale gives the priors


def test_a_single_observed_score_without_scale(long_frame):
    long_frame["wai"] = np.where(long_frame.index == 100, 5.0, np.nan)
    with raises_naming("'wai'", "only one observed score", "scale="):
        build(long_frame)


def test_huge_scores_that_overflow_the_prior_scale(long_frame):
    long_frame.loc[107, "wai"] = 1e308
    long_frame.loc[108, "wai"] = -1e308
    with raises_naming("'wai'", "1e+308", "rows 107, 108", "overflow"):
        build(long_frame)


def test_non_finite_scale_is_a_value_error(long_frame):
    with pytest.raises(ValueError, match="finite"):
        build(long_frame, scale=(1, np.inf))


def test_infinite_covariate_in_the_data_frame(long_frame):
    long_frame.loc[long_frame["therapist"] == "T2", "burdens"] = np.inf
    rows = ", ".join(str(r) for r in long_frame.index[long_frame["therapist"] == "T2"][:5])
    with raises_naming("'burdens'", "non-finite", f"rows {rows}"):
        build(long_frame, therapist_covariates=["burdens"])


def test_infinite_covariate_in_the_therapist_frame(long_frame):
    therapists = make_therapist_frame(mindfulness=[2.0, -np.inf, 3.5])
    with raises_naming("'mindfulness'", "therapist frame", "non-finite", "rows 1"):
        build(long_frame, therapists=therapists, therapist_covariates=["mindfulness"])


def test_rater_number_and_text_of_the_same_label(long_frame):
    long_frame["rater"] = long_frame["rater"].map({"patient": 1, "therapist": "1"})
    with raises_naming("'rater'", "1 (number) / '1'"):
        build(long_frame)


def test_two_columns_with_the_scores_name(long_frame):
    frame = pd.concat([long_frame, long_frame[["wai"]]], axis=1)
    with raises_naming("'wai'", "appears 2 times", "data frame"):
        build(frame)


def test_two_columns_with_a_covariates_name(long_frame, therapist_frame):
    therapists = pd.concat([therapist_frame, therapist_frame[["mindfulness"]]], axis=1)
    with raises_naming("'mindfulness'", "appears 2 times", "therapist frame"):
        build(long_frame, therapists=therapists, therapist_covariates=["mindfulness"])


def test_duplicated_index_labels_are_reported_by_position(long_frame):
    long_frame.index = [0] * len(long_frame)
    long_frame["wai"] = long_frame["wai"].astype(object)
    long_frame.iloc[[3, 8], long_frame.columns.get_loc("wai")] = "high"
    with raises_naming("'wai'", "rows at positions 3, 8", "repeats labels"):
        build(long_frame)


def test_two_raters_with_other_labels_need_roles(long_frame):
    long_frame["rater"] = long_frame["rater"].map({"patient": "client", "therapist": "clinician"})
    with raises_naming("'rater'", "'client', 'clinician'", "rater_roles={'client': 'patient'"):
        build(long_frame)


def test_one_role_label_beside_another_label_needs_roles(long_frame):
    long_frame["rater"] = long_frame["rater"].replace({"therapist": "clinician"})
    with raises_naming("'rater'", "rater_roles="):
        build(long_frame)


@pytest.mark.parametrize(
    ("roles", "fragments"),
    [
        ({"Client": "patient", "clinician": "therapist"}, ("'Client'", "'client'")),
        ({"client": "patient", "clinician": "observer"}, ("'observer'", "'therapist'")),
        ({"client": "patient", "clinician": "patient"}, ("same role",)),
        ({"client": "patient"}, ("no role for 'clinician'",)),
    ],
)
def test_bad_rater_roles(long_frame, roles, fragments):
    long_frame["rater"] = long_frame["rater"].map({"patient": "client", "therapist": "clinician"})
    with raises_naming("rater_roles", *fragments):
        build(long_frame, rater_roles=roles)


def test_a_role_label_cannot_take_the_other_role(long_frame):
    with raises_naming("rater_roles", "'patient'", "must have that role"):
        build(long_frame, rater_roles={"patient": "therapist", "therapist": "patient"})


def test_covariate_without_any_observed_value_says_so(long_frame):
    therapists = make_therapist_frame(mindfulness=[np.nan, np.nan, np.nan])
    with raises_naming("'mindfulness'", "no observed value"):
        build(long_frame, therapists=therapists, therapist_covariates=["mindfulness"])
