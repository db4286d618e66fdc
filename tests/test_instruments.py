"""Instrument scoring (WAI-SR, WAI-S, own keys) and reliability (alpha, omega, intervals)."""

from __future__ import annotations

import statistics
import warnings

import numpy as np
import pandas as pd
import pytest

import alliance_bayes as ab
from alliance_bayes import DataValidationError, DataWarning, InstrumentKey, reliability, score_wai
from alliance_bayes.instruments import WAI_S, WAI_SR, cronbach_alpha, mcdonald_omega, one_factor

ITEMS = [f"wai{i}" for i in range(1, 13)]

# Six hand-made WAI-SR occasions (items 1..12, answered 1-5).
HAND = [
    [5, 5, 4, 4, 5, 4, 5, 4, 5, 4, 4, 5],
    [3, 3, 3, 2, 3, 3, 4, 2, 3, 3, 2, 3],
    [4, 4, 5, 4, 4, 4, 4, 4, 5, 4, 4, 4],
    [2, 2, 3, 1, 2, 2, 3, 2, 2, 1, 2, 2],
    [1, 2, 1, 1, 2, 1, 2, 1, 1, 2, 1, 1],
    [4, 3, 4, 3, 4, 4, 5, 3, 4, 3, 3, 4],
]
# Added up by hand: task = items 1, 2, 10, 12; bond = 3, 5, 7, 9; goal = 4, 6, 8, 11.
HAND_TOTAL = [54, 34, 50, 24, 16, 44]
HAND_TASK = [19, 12, 16, 7, 6, 14]
HAND_BOND = [19, 13, 18, 10, 6, 17]
HAND_GOAL = [16, 9, 16, 7, 4, 13]


def hand_frame() -> pd.DataFrame:
    return pd.DataFrame(HAND, columns=ITEMS, index=[f"occ{i}" for i in range(1, 7)])


def hand_alpha(rows: list[list[float]]) -> float:
    """alpha = k / (k - 1) * (1 - sum of item variances / variance of the total), by hand."""
    k = len(rows[0])
    item_variances = [statistics.variance([r[j] for r in rows]) for j in range(k)]
    total_variance = statistics.variance([sum(r) for r in rows])
    return k / (k - 1) * (1 - sum(item_variances) / total_variance)


# ------------------------------------------------------------------------------ the keys
def test_wai_sr_preset_is_the_published_key():
    key = InstrumentKey.preset("wai_sr")
    assert key is WAI_SR
    assert (key.items, key.low, key.high) == (12, 1, 5)
    assert dict(key.subscales) == {
        "task": (1, 2, 10, 12),
        "bond": (3, 5, 7, 9),
        "goal": (4, 6, 8, 11),
    }
    assert key.reversed == ()
    assert key.unverified == ()
    assert "Hatcher" in key.reference and "2006" in key.reference
    # the three subscales share out the twelve items
    assert sorted(i for items in key.subscales.values() for i in items) == list(range(1, 13))


def test_wai_s_preset_states_what_is_unverified():
    key = InstrumentKey.preset("WAI-S")
    assert key is WAI_S
    assert (key.items, key.low, key.high) == (12, 1, 7)
    assert key.score_range() == (12, 84)
    assert dict(key.subscales) == {} and key.reversed == ()
    assert set(key.unverified) == {"subscales", "reversed"}
    assert "Tracey" in key.reference and "1989" in key.reference


def test_replace_clears_the_fields_the_user_states():
    key = WAI_S.replace(reversed=(4,), subscales={"bond": (3, 5, 7, 9)})
    assert key.unverified == ()
    assert key.reversed == (4,) and key.subscales["bond"] == (3, 5, 7, 9)
    assert WAI_S.unverified == ("subscales", "reversed")  # the preset is unchanged
    assert hash(key) != hash(WAI_S)


def test_key_is_frozen_and_its_subscales_read_only():
    with pytest.raises(AttributeError):
        WAI_SR.items = 10
    with pytest.raises(TypeError):
        WAI_SR.subscales["task"] = (1,)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"items": 0}, "positive whole number"),
        ({"low": 5, "high": 1}, "low < high"),
        ({"subscales": {"a": (1, 13)}}, "outside 1-12"),
        ({"reversed": (2, 2)}, "names an item twice"),
        ({"subscales": {"total": (1,)}}, "cannot be called 'total'"),
        ({"subscales": {"a": ()}}, "at least one item"),
        ({"unverified": ("wording",)}, "unverified names 'wording'"),
    ],
)
def test_bad_keys_are_refused(options, message):
    arguments = {"name": "x", "items": 12, "low": 1, "high": 5} | options
    with pytest.raises(ValueError, match=message):
        InstrumentKey(**arguments)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError, match=r"Unknown instrument 'wai36'.*'wai_s', 'wai_sr'"):
        InstrumentKey.preset("wai36")


# ------------------------------------------------------------------------------ scoring
def test_wai_sr_scores_of_hand_made_responses():
    frame = hand_frame()
    scores = score_wai(frame, version="wai_sr")
    assert list(scores.columns) == ["total", "task", "bond", "goal"]
    assert scores.index.equals(frame.index)
    assert scores["total"].tolist() == HAND_TOTAL
    assert scores["task"].tolist() == HAND_TASK
    assert scores["bond"].tolist() == HAND_BOND
    assert scores["goal"].tolist() == HAND_GOAL


def test_mean_scale_is_the_item_mean():
    scores = score_wai(hand_frame(), scale="mean")
    assert scores["total"].tolist() == pytest.approx([t / 12 for t in HAND_TOTAL])
    assert scores["bond"].tolist() == pytest.approx([b / 4 for b in HAND_BOND])


def test_wai_sr_alpha_of_hand_made_responses():
    table = reliability(hand_frame(), n_boot=0)
    assert table.loc[0, "n"] == 6 and table.loc[0, "items"] == 12
    assert table.loc[0, "alpha"] == pytest.approx(hand_alpha(HAND), abs=1e-12)
    assert 0.9 < table.loc[0, "alpha"] < 1  # these occasions agree closely
    bond = reliability(hand_frame(), scales=["bond"], n_boot=0)
    bond_rows = [[r[2], r[4], r[6], r[8]] for r in HAND]
    assert bond.loc[0, "alpha"] == pytest.approx(hand_alpha(bond_rows), abs=1e-12)


def test_missing_items_are_prorated_up_to_max_missing():
    frame = hand_frame().astype(float)
    frame.loc["occ1", "wai7"] = np.nan  # a bond item; occ1 answered 5 there
    strict = score_wai(frame)
    assert np.isnan(strict.loc["occ1", "total"]) and np.isnan(strict.loc["occ1", "bond"])
    assert strict.loc["occ1", ["task", "goal"]].tolist() == [19, 16]
    lenient = score_wai(frame, max_missing=1)
    assert lenient.loc["occ1", "total"] == pytest.approx((54 - 5) / 11 * 12)
    assert lenient.loc["occ1", "bond"] == pytest.approx((19 - 5) / 3 * 4)
    assert lenient.drop("occ1")["total"].tolist() == HAND_TOTAL[1:]
    per_scale = score_wai(frame, max_missing={"total": 1})
    assert per_scale.loc["occ1", "total"] == pytest.approx(49 / 11 * 12)
    assert np.isnan(per_scale.loc["occ1", "bond"])


def test_more_missing_than_allowed_gives_missing():
    frame = hand_frame().astype(float)
    frame.loc["occ2", ["wai1", "wai2"]] = np.nan
    scores = score_wai(frame, max_missing=1)
    assert np.isnan(scores.loc["occ2", "total"]) and np.isnan(scores.loc["occ2", "task"])
    assert scores.loc["occ2", "bond"] == HAND_BOND[1]
    frame.loc["occ3", ITEMS] = np.nan  # nothing answered: missing whatever the allowance
    assert score_wai(frame, max_missing=12).loc["occ3"].isna().all()


def test_reversed_items_are_scored_low_plus_high_minus_x():
    key = InstrumentKey("toy", items=3, low=1, high=7, subscales={"a": (1, 2)}, reversed=(2,))
    frame = pd.DataFrame({"item1": [7, 2], "item2": [1, 6], "item3": [4, 1]})
    scores = score_wai(frame, version=key)
    assert scores["total"].tolist() == [7 + 7 + 4, 2 + 2 + 1]
    assert scores["a"].tolist() == [14, 4]


def test_item_columns_by_list_or_by_mapping():
    frame = hand_frame()
    renamed = frame.rename(columns={c: f"q{13 - i}" for i, c in enumerate(ITEMS, 1)})
    shuffled = renamed[sorted(renamed.columns)]  # column order no longer the item order
    by_list = score_wai(shuffled, items=[f"q{13 - i}" for i in range(1, 13)])
    by_map = score_wai(shuffled, items={i: f"q{13 - i}" for i in range(1, 13)})
    expected = score_wai(frame)
    pd.testing.assert_frame_equal(by_list, expected)
    pd.testing.assert_frame_equal(by_map, expected)


@pytest.mark.parametrize("style", ["item{}", "WAI_{}", "wai{:02d}"])
def test_default_item_columns(style):
    frame = hand_frame().set_axis([style.format(i) for i in range(1, 13)], axis=1)
    assert score_wai(frame)["total"].tolist() == HAND_TOTAL


def test_scores_join_back_to_the_occasions():
    frame = hand_frame().assign(patient=list("aabbcc"), session=[3, 12] * 3)
    joined = frame[["patient", "session"]].join(score_wai(frame))
    assert joined["total"].tolist() == HAND_TOTAL
    assert joined["patient"].tolist() == list("aabbcc")


def test_nullable_integer_items_are_read():
    frame = hand_frame().astype("Int64")
    frame.loc["occ1", "wai7"] = pd.NA
    assert score_wai(frame, max_missing=1).loc["occ1", "total"] == pytest.approx(49 / 11 * 12)


def test_wai_s_warns_until_its_key_is_stated():
    frame = pd.DataFrame([[7] * 12, [1] * 12], columns=ITEMS)
    with pytest.warns(DataWarning, match=r"WAI-S: the subscales and reversed .*replace\("):
        scores = score_wai(frame, version="wai_s")
    assert scores.columns.tolist() == ["total"] and scores["total"].tolist() == [84, 12]
    stated = WAI_S.replace(reversed=(4,), subscales={})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert score_wai(frame, version=stated)["total"].tolist() == [7 * 11 + 1, 11 + 7]


def test_exported_from_the_package():
    assert ab.score_wai is score_wai and ab.reliability is reliability
    assert ab.InstrumentKey is InstrumentKey
    assert {"score_wai", "reliability", "InstrumentKey"} <= set(ab.__all__)


# --------------------------------------------------------------------------- bad inputs
def test_out_of_range_responses_name_column_and_rows():
    frame = hand_frame()
    frame.loc["occ2", "wai3"] = 6
    frame.loc["occ5", "wai3"] = 0
    with pytest.raises(DataValidationError) as error:
        score_wai(frame)
    message = str(error.value)
    assert "whole numbers from 1 to 5" in message
    assert "column 'wai3': rows 'occ2', 'occ5' (values 0.0, 6.0)" in message


def test_non_integer_responses_are_refused():
    frame = hand_frame().astype(float)
    frame.loc["occ4", "wai10"] = 2.5
    frame.loc["occ6", "wai11"] = np.inf
    with pytest.raises(DataValidationError) as error:
        score_wai(frame)
    message = str(error.value)
    assert "column 'wai10': rows 'occ4' (values 2.5)" in message
    assert "column 'wai11': rows 'occ6' (values inf)" in message


def test_wai_sr_responses_on_a_seven_point_scale_are_refused():
    frame = pd.DataFrame([[7] * 12], columns=ITEMS)
    with pytest.raises(DataValidationError, match="WAI-SR responses must be whole numbers"):
        score_wai(frame)


def test_text_responses_are_refused():
    frame = hand_frame().astype(object)
    frame.loc["occ3", "wai5"] = "often"
    with pytest.raises(DataValidationError, match=r"'wai5' .*rows 'occ3' \(e.g. 'often'\)"):
        score_wai(frame)
    frame.loc["occ3", "wai5"] = "4"  # a number as text is still text
    with pytest.raises(DataValidationError, match="'wai5' holds values that are not numbers"):
        score_wai(frame)


def test_value_labels_are_refused():
    frame = hand_frame()
    frame["wai1"] = pd.Categorical(np.where(frame["wai1"] > 3, "Always", "Seldom"))
    with pytest.raises(DataValidationError, match=r"'wai1' holds category values.*value labels"):
        score_wai(frame)


def test_missing_item_columns_are_named():
    frame = hand_frame().drop(columns=["wai4", "wai9"])
    with pytest.raises(DataValidationError, match="items 4, 9 are missing"):
        score_wai(frame)


def test_columns_beyond_the_key_are_refused():
    frame = hand_frame().assign(wai13=1)
    with pytest.raises(DataValidationError, match="13 are not item numbers of WAI-SR"):
        score_wai(frame)


def test_no_item_columns_says_how_to_name_them():
    with pytest.raises(DataValidationError, match=r"name them wai1..wai12 or item1..item12"):
        score_wai(pd.DataFrame({"x": [1]}))


def test_two_families_of_item_columns_are_ambiguous():
    frame = hand_frame().join(hand_frame().set_axis([f"item{i}" for i in range(1, 13)], axis=1))
    with pytest.raises(DataValidationError, match=r"Both wai.. and item.. columns"):
        score_wai(frame)


def test_bad_items_arguments():
    frame = hand_frame()
    with pytest.raises(DataValidationError, match="12 items, but items= names 11"):
        score_wai(frame, items=ITEMS[:11])
    with pytest.raises(DataValidationError, match="'wai1' more than once"):
        score_wai(frame, items=["wai1", *ITEMS[:11]])
    with pytest.raises(DataValidationError, match="'nope' are not in the frame"):
        score_wai(frame, items=[*ITEMS[:11], "nope"])
    with pytest.raises(DataValidationError, match="items 12 are missing"):
        score_wai(frame, items={i: c for i, c in enumerate(ITEMS[:11], 1)})


def test_bad_options():
    frame = hand_frame()
    with pytest.raises(ValueError, match="scale must be 'sum' or 'mean'"):
        score_wai(frame, scale="median")
    with pytest.raises(ValueError, match="whole number >= 0, not -1"):
        score_wai(frame, max_missing=-1)
    with pytest.raises(ValueError, match="max_missing names 'bonds'"):
        score_wai(frame, max_missing={"bonds": 1})


# --------------------------------------------------------------------------- reliability
def tau_equivalent(n: int, seed: int, loadings: list[float], error_sd: list[float]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(n, 1))
    return factor * np.array(loadings) + rng.normal(size=(n, len(error_sd))) * np.array(error_sd)


def test_omega_equals_alpha_for_tau_equivalent_items():
    x = tau_equivalent(5000, 1, [1.0] * 6, [0.6, 0.8, 1.0, 1.2, 1.4, 0.9])
    cov = np.cov(x, rowvar=False)
    alpha, omega = float(cronbach_alpha(cov)), float(mcdonald_omega(cov))
    assert alpha == pytest.approx(hand_alpha(x.tolist()), abs=1e-10)
    assert omega == pytest.approx(alpha, abs=0.005)


def test_omega_of_congeneric_items_exceeds_alpha_and_hits_its_population_value():
    loadings, error_sd = [1.6, 1.2, 0.8, 0.5, 0.3, 0.2], [0.8] * 6
    population = sum(loadings) ** 2 / (sum(loadings) ** 2 + sum(e**2 for e in error_sd))
    cov = np.cov(tau_equivalent(20000, 2, loadings, error_sd), rowvar=False)
    assert float(mcdonald_omega(cov)) == pytest.approx(population, abs=0.01)
    assert float(mcdonald_omega(cov)) > float(cronbach_alpha(cov)) + 0.02


def test_one_factor_recovers_an_exact_model_and_signs_loadings_positive():
    loadings = np.array([0.9, -0.8, 0.7, 0.6, 0.5])
    cov = np.outer(loadings, loadings) + np.diag([0.3, 0.4, 0.5, 0.6, 0.7])
    lam, psi = one_factor(cov)
    assert lam == pytest.approx(loadings, abs=1e-6)
    assert psi == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7], abs=1e-6)
    flipped, _ = one_factor(np.outer(-loadings, -loadings) + np.diag(psi))
    assert flipped.sum() > 0


def test_reliability_per_group_and_scale():
    frame = pd.concat([hand_frame(), hand_frame().iloc[::-1] % 5 + 1], ignore_index=True)
    frame["session"] = [3] * 6 + [12] * 6
    frame["rater"] = ["patient", "therapist"] * 6
    table = reliability(frame, by=["session", "rater"], scales=["total", "goal"], n_boot=0)
    assert table[["session", "rater", "scale"]].values.tolist() == [
        [s, r, scale]
        for s in (3, 12)
        for r in ("patient", "therapist")
        for scale in ("total", "goal")
    ]
    items = frame[ITEMS]
    for row in table.itertuples():
        group = items[(frame["session"] == row.session) & (frame["rater"] == row.rater)]
        columns = ITEMS if row.scale == "total" else ["wai4", "wai6", "wai8", "wai11"]
        assert row.n == 3
        assert row.alpha == pytest.approx(hand_alpha(group[columns].values.tolist()))


def test_reliability_leaves_out_incomplete_rows_and_turns_reversed_items():
    key = InstrumentKey("toy", items=3, low=1, high=5, reversed=(3,))
    frame = pd.DataFrame(
        {"item1": [1, 2, 3, 4, 5, 3], "item2": [2, 2, 3, 5, 4, np.nan], "item3": [5, 4, 3, 1, 2, 1]}
    )
    table = reliability(frame, version=key, n_boot=0)
    complete = [[1, 2, 1], [2, 2, 2], [3, 3, 3], [4, 5, 5], [5, 4, 4]]  # item3 turned: 6 - x
    assert table.loc[0, "n"] == 5
    assert table.loc[0, "alpha"] == pytest.approx(hand_alpha(complete))


def test_bootstrap_intervals_are_seeded_and_cover_the_estimate():
    x = np.clip(np.round(3 + tau_equivalent(150, 3, [0.8] * 12, [0.9] * 12)), 1, 5)
    frame = pd.DataFrame(x, columns=ITEMS)
    first = reliability(frame, n_boot=300, random_seed=7)
    again = reliability(frame, n_boot=300, random_seed=7)
    other = reliability(frame, n_boot=300, random_seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert first.loc[0, "alpha_low"] != other.loc[0, "alpha_low"]
    row = first.loc[0]
    assert row.alpha_low < row.alpha < row.alpha_high
    assert row.omega_low < row.omega < row.omega_high
    assert row.alpha_high - row.alpha_low < 0.1
    with_bond = reliability(frame, scales=["bond", "total"], n_boot=300, random_seed=7)
    total = with_bond[with_bond["scale"] == "total"].reset_index(drop=True)
    pd.testing.assert_frame_equal(total, first)  # asking for more scales changes nothing


def test_reliability_of_too_few_rows_is_missing():
    table = reliability(hand_frame().iloc[:2], n_boot=50, random_seed=1)
    assert table.loc[0, "n"] == 2
    assert table.loc[0, ["alpha", "alpha_low", "omega", "omega_high"]].isna().all()


def test_reliability_bad_inputs():
    frame = hand_frame()
    with pytest.raises(DataValidationError, match=r"Grouping column.*'sesion'"):
        reliability(frame, by="sesion")
    with pytest.raises(ValueError, match="no scale 'alliance'"):
        reliability(frame, scales=["alliance"])
    with pytest.raises(ValueError, match="ci must be between 0 and 1"):
        reliability(frame, ci=95)
    with pytest.raises(ValueError, match="n_boot must be a whole number"):
        reliability(frame, n_boot=-5)
    frame.loc["occ1", "wai2"] = 9
    with pytest.raises(DataValidationError, match="column 'wai2': rows 'occ1'"):
        reliability(frame)
