"""Irregular and continuous time (issue 22, item 3): the one time binning, describe() by time
bins, per-bin statistics and figures of bounded size for sessions that differ per patient."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import alliance_bayes as ab
from alliance_bayes._bins import MAX_SESSIONS, session_bins
from alliance_bayes.checks.statistics import Layout, default_statistics, rating_frame
from conftest import TINY_TRUTH, build, fake_fit

WEEKLY = {"kind": "weekly", "weeks": 30, "attendance": 0.8, "dropout_hazard": 0.03}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------------- binning


def test_few_sessions_are_their_own_bins():
    bins = session_bins([12.0, 3.0, 40.0, 3.0, 20.0])
    assert not bins.binned
    assert bins.labels == (3.0, 12.0, 20.0, 40.0)
    assert bins.codes.tolist() == [1, 0, 3, 0, 2]
    assert bins.describe() == "one bin per session"


def test_many_sessions_are_binned_at_quantiles_by_hand():
    # 18 sorted sessions; inverted-CDF quantiles at k/8 are the 3rd, 5th, 7th, 9th, 12th, 14th
    # and 16th values: 1, 2, 3, 5, 7, 9, 10 -> bins [1], [2], [3], (3, 5], (5, 7], (7, 9],
    # (9, 10], (10, 12]
    sessions = [1, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 7, 8, 9, 9, 10, 11, 12]
    bins = session_bins(np.random.default_rng(0).permutation(sessions))
    assert bins.binned and bins.n_bins == MAX_SESSIONS == 8
    assert bins.labels == ("1", "2", "3", "4-5", "6-7", "8-9", "10", "11-12")
    ordered = session_bins(sessions)
    assert np.bincount(ordered.codes).tolist() == [3, 2, 2, 3, 2, 3, 1, 2]
    np.testing.assert_allclose(ordered.centre, [1, 2, 3, 14 / 3, 6.5, 26 / 3, 10, 11.5])


@pytest.mark.parametrize("seed", range(5))
def test_bins_never_overlap_and_are_never_empty(seed):
    rng = np.random.default_rng(seed)
    sessions = np.concatenate(
        [rng.exponential(20, size=50), np.ones(rng.integers(0, 300)), rng.integers(1, 40, 30)]
    )
    bins = session_bins(sessions)
    assert 1 <= bins.n_bins <= MAX_SESSIONS
    assert np.all(np.bincount(bins.codes, minlength=bins.n_bins) > 0)
    assert np.all(bins.upper[:-1] < bins.lower[1:])  # ordered, disjoint
    for k in range(bins.n_bins):
        inside = sessions[bins.codes == k]
        assert inside.min() == bins.lower[k] and inside.max() == bins.upper[k]


@pytest.mark.parametrize(
    ("sessions", "max_bins", "match"),
    [([1.0, np.nan], 8, "finite"), ([[1.0, 2.0]], 8, "one-dimensional"), ([1.0], 0, "max_bins")],
)
def test_bad_inputs_to_binning(sessions, max_bins, match):
    with pytest.raises(ValueError, match=match):
        session_bins(sessions, max_bins)


# ---------------------------------------------------------------------------------- describe


def _irregular_frame() -> pd.DataFrame:
    """Three patients of two therapists: P1 at sessions 1-12 (12 not rated), P2 at 1-3, P3 at
    1, 5 and 9. The 18 rows are those of the binning test above."""
    schedule = {"P1": range(1, 13), "P2": (1, 2, 3), "P3": (1, 5, 9)}
    rows = [
        {"therapist": "T1" if p != "P3" else "T2", "patient": p, "session": s}
        for p, sessions in schedule.items()
        for s in sessions
    ]
    frame = pd.DataFrame(rows)
    frame["wai"] = np.linspace(3.0, 6.0, len(frame))
    frame.loc[(frame["patient"] == "P1") & (frame["session"] == 12), "wai"] = np.nan
    return frame


def test_describe_reports_retention_by_time_bins():
    d = build(_irregular_frame()).describe()
    table = d["by_session"]
    assert table.index.names == ["sessions", "rater"]
    assert [label for label, _ in table.index] == [
        "1",
        "2",
        "3",
        "4-5",
        "6-7",
        "8-9",
        "10",
        "11-12",
    ]
    assert table["rows"].tolist() == [3, 2, 2, 3, 2, 3, 1, 2]
    assert table["observed"].tolist() == [3, 2, 2, 3, 2, 3, 1, 1]
    assert table["missing"].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert table["patients"].tolist() == [3, 2, 2, 2, 1, 2, 1, 1]
    np.testing.assert_allclose(table["retention"], np.array([3, 2, 2, 2, 1, 2, 1, 1]) / 3)
    assert d["time_bins"].startswith("sessions in 8 bins at the quantiles of the ratings")
    assert "patients with one in the first bin" in d["time_bins"]


def test_describe_of_a_fixed_schedule_is_unchanged(long_frame):
    d = build(long_frame).describe()
    assert d["time_bins"] is None
    assert list(d["by_session"].columns) == ["rows", "observed", "missing", "retention"]
    assert d["by_session"].index.names == ["session", "rater"]


def test_describe_of_a_weekly_design_shows_dropout_by_bins():
    design = ab.Design(n_therapists=100, patients_per_therapist=5, schedule=WEEKLY)
    d = design.to_data(random_seed=2).describe()
    table = d["by_session"].xs("patient", level="rater")
    assert len(table) <= MAX_SESSIONS and table.index[0] == "1-3"
    assert table["retention"].iloc[0] == 1.0  # everybody is rated at the intake
    assert np.all(np.diff(table["retention"].to_numpy()) < 0)  # 500 patients: dropout shows
    # the last bin holds weeks 26-30 or so: still in treatment (0.97 ** 25 = 0.47) and rated
    # at least once in it (1 - 0.2 ** 5); 500 patients give an SD under .023
    assert 0.35 <= table["retention"].iloc[-1] <= 0.57


# ---------------------------------------------------------------------------------- checks


def test_per_session_statistics_are_per_bin_and_agree_frame_and_vectorised():
    frame = rating_frame(build(_irregular_frame()))
    frame["alliance"] = np.linspace(3.0, 6.0, len(frame))  # every row rated
    layout = Layout.from_frame(frame, (1.0, 7.0))
    draws = frame["alliance"].to_numpy()[None, :]
    for name in ("mean", "sd"):
        statistic = default_statistics()[name]
        by_frame = statistic.of_frame(frame)
        vectorised = statistic.of_draws(draws, layout)
        assert (
            list(by_frame)
            == list(vectorised)
            == ["1", "2", "3", "4-5", "6-7", "8-9", "10", "11-12"]
        )
        for label, value in by_frame.items():
            assert vectorised[label][0] == pytest.approx(value, nan_ok=True)
    means = default_statistics()["mean"].of_frame(frame)
    bins = session_bins(frame["session"].to_numpy())
    assert means["4-5"] == pytest.approx(frame["alliance"][bins.codes == 3].mean())


@pytest.fixture(scope="module")
def irregular_fit():
    """A 30-week irregular design with two raters, fit-shaped prior draws, predictive draws."""
    design = ab.Design(
        n_therapists=6,
        patients_per_therapist=3,
        raters=["patient", "therapist"],
        schedule=WEEKLY,
        therapist_covariates=ab.CovariateDesign(names=["burdens"]),
        scale=[1.0, 7.0],
    )
    data = ab.simulate(ab.growth_model(design.to_data(random_seed=3)), TINY_TRUTH, random_seed=4)
    assert len(np.unique(data.session)) > 20
    idata = fake_fit(ab.growth_model(data), draws=20)
    return ab.posterior_predictive(idata, random_seed=1)


def test_ppc_statistics_of_irregular_sessions_are_per_bin(irregular_fit):
    table = ab.ppc_statistics(irregular_fit)
    means = table[table["statistic"].str.startswith("mean (")]
    assert 2 <= len(means) <= 2 * MAX_SESSIONS
    assert means["statistic"].iloc[0].startswith("mean (sessions 1-")
    assert len(table) <= 2 * (2 * MAX_SESSIONS + 7)  # not one row per distinct session
    assert table["p_value"].between(0, 1).all()


def test_statistics_figure_of_irregular_sessions_is_bounded(irregular_fit):
    fig = ab.plot_statistics(irregular_fit)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2 * 9  # 9 default statistics, one panel each per rater
    assert fig.get_size_inches()[1] <= 12.0
    binned = [ax for ax in axes if "by session bin" in ax.get_title()]
    assert [ax.get_title() for ax in binned] == [
        f"{name} by session bin\n{rater}"
        for name in ("mean", "sd")
        for rater in ("patient", "therapist")
    ]
    for ax in binned:
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert 2 <= len(ticks) <= MAX_SESSIONS
        assert ticks[0].startswith("1") and "\n" in ticks[0]  # bin label, then its p-value


def test_trajectories_of_irregular_sessions_have_readable_axes(irregular_fit):
    fig = ab.plot_trajectories(irregular_fit, n_patients=4, random_seed=1)
    for ax in fig.axes:
        assert ax.get_xlabel().lower().startswith("session (predictive bands in ")
        assert ax.get_xscale() == "log"
        assert len(ax.get_xticks()) <= MAX_SESSIONS
        assert ax.get_xticklabels()[0].get_text() == "1"
        median = [line for line in ax.get_lines() if line.get_label() == "predictive median"]
        assert len(median[0].get_xdata()) <= MAX_SESSIONS
    assert fig.get_size_inches()[1] <= 12.0
