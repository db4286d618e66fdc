"""Figures for a paper: ax= on every figure function, sizes, labels from the data, paper style.

Fits are ``fake_fit``s (prior draws as the posterior): no sampling.
"""

from __future__ import annotations

import inspect
import warnings

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

import alliance_bayes as ab
from alliance_bayes import plots
from alliance_bayes.checks.recovery import RecoveryResult
from conftest import build, fake_fit, make_long_frame

FUNCTIONS = [name for name in plots.__all__ if name.startswith("plot_")]
MEDIAN = {"median": lambda f: f["alliance"].median()}


@pytest.fixture(scope="module")
def fake(tiny_datasets):
    idata = fake_fit(ab.growth_model(tiny_datasets[0]), draws=30)
    return ab.posterior_predictive(idata, random_seed=1)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _draw(name: str, idata, **kwargs) -> Figure:
    """Each figure function with the arguments a small test needs."""
    function = getattr(plots, name)
    extra = {
        "plot_conditional_effects": {"covariate": "burdens"},
        "plot_statistics": {"statistics": MEDIAN},
        "plot_density": {"num_pp_samples": 5, "random_seed": 1},
        "plot_trajectories": {"random_seed": 1},
    }.get(name, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PSIS on prior draws warns, rightly
        return function(idata, **extra, **kwargs)


def _drawn(ax) -> int:
    return len(ax.lines) + len(ax.collections) + len(ax.patches) + len(ax.containers)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_figure_function_draws_into_the_given_axes(name, fake):
    assert "ax" in inspect.signature(getattr(plots, name)).parameters
    own = _draw(name, fake)
    n = len([ax for ax in own.axes if ax.get_visible()])
    fig, axes = plt.subplots(1, n, squeeze=False)
    given = list(axes[0])
    out = _draw(name, fake, ax=given if n > 1 else given[0])
    assert out is fig
    assert fig.axes[: len(given)] == given
    assert all(_drawn(ax) > 0 for ax in given), [(_drawn(ax), ax.get_title()) for ax in given]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_wrong_number_of_axes_is_refused(name, fake):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"this figure has \d+ panels \(.*\); ax= got 1 Axes"):
        _draw(name, fake, ax=ax)


def _one_rater_fit(n_therapists: int):
    """A fake fit of one rater: ``n_therapists`` therapists, 2 patients each, 4 sessions."""
    rng = np.random.default_rng(n_therapists)
    rows = [
        {"therapist": f"T{t:02d}", "patient": f"T{t:02d}P{p}", "session": s}
        for t in range(1, n_therapists + 1)
        for p in (1, 2)
        for s in (1, 2, 4, 8)
    ]
    frame = pd.DataFrame(rows).assign(wai=lambda f: rng.uniform(3, 6, len(f)).round(2))
    return fake_fit(ab.growth_model(build(frame, scale=(1, 7))), draws=20)


def test_therapist_figure_grows_with_therapists_and_fits_a_page():
    small, large = (
        ab.plot_therapist_effects(_one_rater_fit(n)).get_size_inches() for n in (12, 70)
    )
    assert large[0] > small[0]  # wider with more therapists
    assert large[0] <= 7.5 and large[1] <= 9.5  # 70 therapists of one rater fit a page
    assert small[1] == large[1]  # the height depends on the raters, not the therapists


def test_therapist_labels_only_while_they_fit():
    # 0.1 inch per 7-pt label: up to max_labels=30 therapists are named, more are not
    fig = ab.plot_therapist_effects(_one_rater_fit(35))
    assert all(len(ax.get_xticklabels()) == 0 for ax in fig.axes)
    fig = ab.plot_therapist_effects(_one_rater_fit(12))
    assert all(len(ax.get_xticklabels()) == 12 for ax in fig.axes)


def test_axis_labels_come_from_the_data_and_can_be_overridden(fake):
    fig = ab.plot_trajectories(fake, random_seed=1)
    assert fig.axes[0].get_ylabel() == "Alliance (1–7)"  # the score and the instrument's range
    assert fig.axes[0].get_xlabel() == "Session"
    fig = ab.plot_trajectories(fake, random_seed=1, ylabel="WAI-SR total", xlabel="Week")
    assert (fig.axes[0].get_ylabel(), fig.axes[0].get_xlabel()) == ("WAI-SR total", "Week")
    fig = ab.plot_density(fake, num_pp_samples=5, random_seed=1, xlabel="WAI-SR total")
    assert fig.axes[0].get_xlabel() == "WAI-SR total"


def test_axis_label_is_the_data_s_score_column():
    idata = fake_fit(ab.growth_model(build(make_long_frame(with_rater=False))), draws=10)
    fig = ab.plot_trajectories(idata, random_seed=1)
    assert fig.axes[0].get_ylabel() == "wai"  # the column's name; no scale given
    assert fig.axes[0].get_title() == "Ratings"  # one unnamed rater


def test_coefficient_rows_are_labelled_as_in_the_report_table(fake):
    fig = ab.plot_coefficients(fake, labels={"burdens": "Personal Burdens"})
    rows = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert rows == [
        "Growth × Personal Burdens, patient-rated",
        "Growth × Personal Burdens, therapist-rated",
    ]
    assert fig.axes[1].get_xlabel() == "Effect per SD of the covariate, per ln(session) (95% CrI)"


def test_paper_style_is_greyscale_and_saves_at_300_dpi(fake, tmp_path):
    from PIL import Image

    before = dict(mpl.rcParams)
    with plots.paper_style():
        fig = ab.plot_coefficients(fake)
        traj = ab.plot_trajectories(fake, random_seed=1)
        path = plots.savefig(traj, tmp_path / "trajectories.png")
    colours = [to_rgb(line.get_color()) for ax in traj.axes for line in ax.get_lines()]
    colours += [to_rgb(c.get_facecolor()[0][:3]) for ax in traj.axes for c in ax.collections]
    assert colours and all(np.ptp(c) < 1e-9 for c in colours)  # every colour a grey
    assert all(to_rgb(line.get_color()) == (0, 0, 0) for line in fig.axes[0].get_lines()[:1])
    assert np.allclose(Image.open(path).info["dpi"], 300, atol=0.01)
    assert dict(mpl.rcParams) == before  # the style ends with the block


def test_recovery_plot_ticks_whole_replications():
    rows = [
        {"quantity": "sigma[rating]", "status": "ok", "mean": m, "q0.05": m - 0.1, "q0.95": m + 0.1}
        | {"truth": 0.5, "job": j}
        for j, m in enumerate([0.48, 0.52, 0.5])
    ]
    fig = RecoveryResult(pd.DataFrame(rows), {}).plot()
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticks()
    visible = ticks[(ticks >= fig.axes[0].get_xlim()[0]) & (ticks <= fig.axes[0].get_xlim()[1])]
    assert len(visible) >= 2 and np.allclose(visible, np.round(visible))


def test_coefficients_of_a_fit_without_covariates_are_refused():
    idata = fake_fit(ab.growth_model(build(make_long_frame(with_rater=False))), draws=10)
    with pytest.raises(ValueError, match=r"none of \['level_coef', 'growth_coef'\]"):
        ab.plot_coefficients(idata)


def test_trajectory_panels_widen_with_the_sessions(fake):
    two_sessions = fake_fit(ab.growth_model(build(make_long_frame())), draws=10)
    narrow = ab.plot_trajectories(two_sessions, random_seed=1).get_size_inches()[0] / 2
    wide = ab.plot_trajectories(fake, random_seed=1).get_size_inches()[0] / 2  # 4 sessions
    assert wide > narrow
