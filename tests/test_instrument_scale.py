"""Simulation on the instrument's scale: whole-number sum scores and item responses that score
back to them (issue 22, item 6)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

import alliance_bayes as ab
from alliance_bayes import datasets
from alliance_bayes.errors import DataValidationError
from alliance_bayes.simulate import item_responses, sum_scores
from alliance_bayes.spec import score_key

WAI_S_SUM = {"kind": "sum", "items": 12, "item_low": 1, "item_high": 7}
WAI_SR_ITEMS = {"kind": "items", "instrument": "wai_sr"}

# On the 12-84 sum scale; level and SDs so wide that some sums fall past both ends.
TRUTH_84 = {
    "level": 70.0,
    "growth": 4.0,
    "sigma": 6.0,
    "patient_sd": [12.0, 2.0],
    "therapist_sd": [4.0, 1.0],
    "patient_corr": {},
    "therapist_corr": {},
}


def _design(score, **changes):
    values = {"n_therapists": 8, "patients_per_therapist": 4, "sessions": [1, 3, 6, 10]}
    return ab.Design(**(values | changes), score=score)


def _simulate(design, truth, seed=2, score="design"):
    model = ab.growth_model(design.to_data(random_seed=1))
    return ab.simulate(
        model, truth, random_seed=seed, score=design.score if score == "design" else score
    )


# ------------------------------------------------------------------ the design's field
def test_score_sets_the_sum_scale_and_round_trips_through_toml():
    design = _design(WAI_S_SUM)
    assert design.scale == [12.0, 84.0]
    text = design.to_toml()
    assert "[design.score]" in text
    assert ab.Design.from_toml(text) == design
    items = _design({"kind": "items", "items": 4, "item_low": 0, "item_high": 3, "reversed": (2,)})
    back = ab.Design.from_toml(items.to_toml())
    assert back == items and back.score["reversed"] == [2] and back.scale == [0.0, 12.0]
    spec = ab.ModelSpec(name="m", design=_design(WAI_SR_ITEMS, scale=[12, 60]))
    assert ab.ModelSpec.from_toml(spec.to_toml()) == spec


def test_a_design_without_score_is_unchanged():
    design = ab.Design()
    assert design.score is None
    assert "score" not in design.to_toml() and "score" not in design.to_dict()
    assert "observed score" not in design.summary()
    assert ab.Design.from_toml(design.to_toml()) == design


def test_summary_names_the_observed_score():
    assert (
        "observed score: items of WAI-SR (12 items 1-5; whole-number sums 12-60)"
        in _design(WAI_SR_ITEMS).summary()
    )
    assert (
        "observed score: sum of 12 items 1-7 (whole-number sums 12-84)"
        in _design(WAI_S_SUM).summary()
    )


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ({"kind": "mean", "instrument": "wai_sr"}, "score kind must be one of ('sum', 'items')"),
        ({"kind": "sum", "instrument": "wai_x"}, "Unknown instrument 'wai_x'"),
        ({"kind": "sum", "instrument": "wai_sr", "items": 12}, "and ['items'] too"),
        ({"kind": "sum", "items": 12, "item_low": 1}, "['item_high'] missing"),
        ({"kind": "sum", "items": 12, "item_low": 1, "item_high": 7.5}, "must be whole numbers"),
        ({"kind": "sum", "items": True, "item_low": 1, "item_high": 7}, "must be whole numbers"),
        ({"kind": "sum", "items": 12, "item_low": 7, "item_high": 1}, "low < high"),
        ({"kind": "sum", "instrument": "wai_sr", "bounds": [1, 5]}, "unknown score fields"),
        ("wai_sr", "score must be a table"),
    ],
)
def test_bad_scores_are_refused(score, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _design(score)


def test_a_scale_other_than_the_sums_is_refused():
    with pytest.raises(ValueError, match=r"spans 12-84, but scale is \[1, 7\].*scale=\[12, 84\]"):
        _design(WAI_S_SUM, scale=[1, 7])
    assert _design(WAI_S_SUM, scale=[12, 84]).scale == [12, 84]


def test_score_key_of_each_form():
    assert score_key(WAI_SR_ITEMS) is ab.InstrumentKey.preset("wai_sr")
    key = score_key(WAI_S_SUM | {"reversed": [3]})
    assert (key.items, key.low, key.high, key.reversed) == (12, 1, 7, (3,))


# ------------------------------------------------------------------ sum scores
def test_sum_scores_round_to_the_nearest_whole_number_and_clip():
    values = np.array([-3.0, 11.5, 12.4, 12.5, 13.5, 47.49, 47.51, 83.6, 84.4, 200.0, np.nan])
    got = sum_scores(values, WAI_S_SUM, (12.0, 84.0))
    expected = [12, 12, 12, 12, 14, 47, 48, 84, 84, 84, np.nan]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("scale", [None, (1.0, 7.0), (12.0, 60.0)])
def test_sum_scores_need_the_sum_scale(scale):
    with pytest.raises(ValueError, match=r"a sum from 12 to 84, but the data's scale is"):
        sum_scores(np.array([50.0]), WAI_S_SUM, scale)


def test_simulated_sums_are_whole_numbers_within_the_range_and_coarsen_the_same_draw():
    design = _design(WAI_S_SUM, retention=[1.0, 1.0, 0.8, 0.6])
    continuous = _simulate(design, TRUTH_84, score=None)
    sums = _simulate(design, TRUTH_84)
    observed = np.isfinite(sums.score)
    assert observed.sum() > 100 and np.array_equal(observed, np.isfinite(continuous.score))
    values = sums.score[observed]
    assert np.all(values == np.round(values))
    assert values.min() >= 12 and values.max() <= 84
    # the draw past 84 is clipped (the 70 scores outside 12-84), the rest rounded
    assert np.any(continuous.score[observed] > 84) and np.any(values == 84)
    expected = np.clip(np.rint(continuous.score[observed]), 12, 84)
    np.testing.assert_array_equal(values, expected)
    # the truth (effects included) is the same: only the outcome is coarsened
    np.testing.assert_array_equal(sums.truth["patient_effect"], continuous.truth["patient_effect"])


def test_simulate_refuses_a_score_on_another_scale():
    design = ab.Design(n_therapists=4, patients_per_therapist=2, sessions=[1, 2], scale=[1, 7])
    truth = {
        "level": 5.0,
        "growth": 0.1,
        "sigma": 0.5,
        "patient_sd": [0.5, 0.1],
        "therapist_sd": [0.2, 0.05],
        "patient_corr": {},
        "therapist_corr": {},
    }
    with pytest.raises(ValueError, match=r"the data's scale is \(1.0, 7.0\)"):
        _simulate(design, truth, score=WAI_S_SUM)


# ------------------------------------------------------------------ item responses
def _wai_sr_truth():
    return TRUTH_84 | {"level": 42.0, "growth": 2.0, "sigma": 4.0, "patient_sd": [8.0, 1.0]}


def test_item_responses_score_back_to_the_sums_exactly():
    design = _design(WAI_SR_ITEMS, retention=[1.0, 0.9, 0.8, 0.7], missing_rate=0.05)
    data = _simulate(design, _wai_sr_truth())
    items = item_responses(data, "wai_sr", random_seed=3)
    assert list(items.columns) == [f"wai{j}" for j in range(1, 13)]
    assert items.index.equals(data.to_frame().index)
    answered = np.isfinite(data.score)
    assert items[~answered].isna().all().all() and items[answered].notna().all().all()
    values = items[answered].to_numpy()
    assert values.min() >= 1 and values.max() <= 5 and np.all(values == np.round(values))
    # as even as possible: no two items of one rating differ by more than one point
    assert np.all(values.max(axis=1) - values.min(axis=1) <= 1)
    total = ab.score_wai(items)["total"]
    np.testing.assert_array_equal(total.to_numpy(), data.score)
    joined = data.to_frame().join(items)
    assert joined.shape == (data.n_obs, data.to_frame().shape[1] + 12)


def test_item_responses_exact_values_and_the_seed():
    data = _design(WAI_SR_ITEMS, n_therapists=1, patients_per_therapist=1).to_data()
    data = data.with_score(np.array([12.0, 60.0, 38.0, 59.0]))
    items = item_responses(data, WAI_SR_ITEMS, random_seed=5)
    np.testing.assert_array_equal(items.iloc[0], np.ones(12))
    np.testing.assert_array_equal(items.iloc[1], np.full(12, 5.0))
    # 38 = 12 + 26: every item 1 + 2, and two items one more; 59: eleven 5s and one 4
    assert sorted(items.iloc[2]) == [3.0] * 10 + [4.0] * 2
    assert sorted(items.iloc[3]) == [4.0] + [5.0] * 11
    pd.testing.assert_frame_equal(items, item_responses(data, "wai_sr", random_seed=5))
    assert not items.equals(item_responses(data, "wai_sr", random_seed=6))


def test_reversed_items_are_written_turned():
    score = {"kind": "items", "items": 4, "item_low": 0, "item_high": 3, "reversed": [2, 4]}
    design = _design(score, n_therapists=1, patients_per_therapist=1, sessions=[1, 2, 3])
    data = design.to_data().with_score(np.array([0.0, 7.0, 12.0]))
    items = item_responses(data, score, random_seed=1, prefix="item")
    np.testing.assert_array_equal(items.iloc[0], [0, 3, 0, 3])
    np.testing.assert_array_equal(items.iloc[2], [3, 0, 3, 0])
    key = score_key(score)
    np.testing.assert_array_equal(ab.score_wai(items, key)["total"], [0.0, 7.0, 12.0])


@pytest.mark.parametrize(
    ("scores", "values"),
    [([37.5, 40.0, 12.0, 13.0], "37.5"), ([11.0, 61.0, 40.0, 40.0], "11.0, 61.0")],
)
def test_item_responses_refuse_scores_that_are_not_sums(scores, values):
    data = _design(WAI_SR_ITEMS, n_therapists=1, patients_per_therapist=1).to_data()
    data = data.with_score(np.array(scores))
    with pytest.raises(DataValidationError) as error:
        item_responses(data, "wai_sr")
    message = str(error.value)
    assert "Column 'alliance': WAI-SR sums are whole numbers from 12 to 60" in message
    assert f"(values {values})" in message and "rows" in message


def test_make_writes_whole_sums_and_items_beside_them():
    design = _design(WAI_SR_ITEMS, raters=["patient", "therapist"], retention=[1, 1, 0.8, 0.6])
    spec = ab.ModelSpec(name="wai_sr_study", design=design)
    truth = _wai_sr_truth() | {"patient_sd": [8.0, 1.0, 8.0, 1.0], "therapist_sd": [4.0] * 4}
    frame, meta = datasets.make(spec, ab.Truth(truth), seed=7)
    assert list(frame.columns[-12:]) == [f"wai{j}" for j in range(1, 13)]
    assert frame["alliance"].between(12, 60).all()
    assert (frame["alliance"] == frame["alliance"].round()).all()
    np.testing.assert_array_equal(ab.score_wai(frame)["total"], frame["alliance"])
    assert meta["spec"]["design"]["score"] == WAI_SR_ITEMS
    again, _ = datasets.make(ab.ModelSpec.from_dict(meta["spec"]), ab.Truth(truth), seed=7)
    pd.testing.assert_frame_equal(frame, again)
    sums, _ = datasets.make(
        dataclasses.replace(spec, design=dataclasses.replace(design, score=None)),
        ab.Truth(truth),
        seed=7,
    )
    # the same continuous draw, without the instrument: the sums are its rounding
    np.testing.assert_array_equal(
        np.clip(np.rint(sums["alliance"]), 12, 60), frame["alliance"].to_numpy()
    )


def test_a_weekly_schedule_and_a_score_together():
    schedule = {"kind": "weekly", "weeks": 8, "attendance": 0.8, "dropout_hazard": 0.1}
    design = ab.Design(
        n_therapists=6,
        patients_per_therapist=3,
        schedule=schedule,
        time_coding="linear",
        score=WAI_S_SUM,
    )
    assert ab.Design.from_toml(design.to_toml()) == design
    sums = _simulate(design, TRUTH_84).score
    values = sums[np.isfinite(sums)]
    assert values.size > 30 and np.all(values == np.round(values))
    assert values.min() >= 12 and values.max() <= 84
