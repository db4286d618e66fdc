"""The conditional effects figure (on fit-shaped prior draws, no sampling)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

import alliance_bayes as ab
from alliance_bayes.result import read_attrs
from conftest import build, fake_fit, make_long_frame


@pytest.fixture(scope="module")
def fake(tiny_datasets):
    return fake_fit(ab.growth_model(tiny_datasets[0]), draws=20)


@pytest.fixture(scope="module")
def single_linear():
    frame = make_long_frame(with_rater=False)
    data = build(frame, therapist_covariates=["burdens"], time_coding="linear")
    return fake_fit(ab.growth_model(data), draws=10)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_one_panel_per_rater_with_lines_bands_and_legend(fake, tmp_path):
    fig = ab.plot_conditional_effects(fake, "burdens", label="Personal Burdens", prob=0.9)
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["Patient-rated", "Therapist-rated"]
    assert axes[0].get_shared_y_axes().joined(axes[0], axes[1])
    assert axes[0].get_ylabel() == "Alliance (1–7)"  # the score column and scale of the data
    info = read_attrs(fake).data
    mean, sd = info.therapist_covariate_mean["burdens"], info.therapist_covariate_sd["burdens"]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == [
        f"Personal Burdens: -1 SD ({mean - sd:.2f})",
        f"Personal Burdens: mean ({mean:.2f})",
        f"Personal Burdens: +1 SD ({mean + sd:.2f})",
    ]
    assert "90% credible bands" in fig.legends[0].get_title().get_text()
    table = ab.conditional_trajectories(fake, "burdens", prob=0.9)
    for ax, rater in zip(axes, ("patient", "therapist"), strict=True):
        assert ax.get_xlabel() == "Session"
        assert ax.get_xscale() == "log"  # log-coded time: sessions on a log axis
        assert list(ax.get_xticks()) == [1, 2, 4, 8]  # the observed sessions
        lines = ax.get_lines()
        assert len(lines) == 3 and len(ax.collections) == 3  # a line and a band per value
        rows = table[(table["rater"] == rater) & (table["z"] == -1)]
        np.testing.assert_allclose(lines[0].get_xdata(), rows["session"])
        np.testing.assert_allclose(lines[0].get_ydata(), rows["mean"])
        assert len({line.get_linestyle() for line in lines}) == 3  # distinct in grey print
    fig.savefig(tmp_path / "effects.png", dpi=80)
    assert (tmp_path / "effects.png").stat().st_size > 0


def test_raw_values_in_legend(fake):
    info = read_attrs(fake).data
    mean, sd = info.therapist_covariate_mean["burdens"], info.therapist_covariate_sd["burdens"]
    fig = ab.plot_conditional_effects(fake, "burdens", [mean + sd], units="raw")
    (text,) = [t.get_text() for t in fig.legends[0].get_texts()]
    assert text == f"burdens = {mean + sd:g} (+1.0 SD)"


def test_single_rater_on_given_axes(single_linear):
    fig, ax = plt.subplots()
    out = ab.plot_conditional_effects(single_linear, "burdens", (-1, 1), ax=ax, ylabel="WAI")
    assert out is fig and fig.axes == [ax]
    assert ax.get_xscale() == "linear" and ax.get_ylabel() == "WAI"
    assert ax.get_title() == ""  # one unnamed rater
    assert len(ax.get_legend().get_texts()) == 2
    assert ax.get_lines()[0].get_xdata()[[0, -1]].tolist() == [3, 12]
    alone = ab.plot_conditional_effects(single_linear, "burdens")
    assert alone.axes[0].get_ylabel() == "wai"  # the data's score column


def test_axes_for_two_raters_and_unknown_covariate_refused(fake):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="one panel per rater"):
        ab.plot_conditional_effects(fake, "burdens", ax=ax)
    with pytest.raises(ValueError, match=r"no covariate 'mindfulness'.*burdens"):
        ab.plot_conditional_effects(fake, "mindfulness")
