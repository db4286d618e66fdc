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
