"""Predictive-check figures and the ppc / compare commands (on fit-shaped prior draws)."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

import alliance_bayes as ab
from alliance_bayes.cli import app
from alliance_bayes.plots.effects import effect_ranks
from conftest import fake_fit

RATERS = ("patient", "therapist")


@pytest.fixture(scope="module")
def fake(tiny_datasets):
    idata = fake_fit(ab.growth_model(tiny_datasets[0]), draws=30)
    return ab.posterior_predictive(idata, random_seed=1)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _visible(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def test_trajectories_one_panel_per_rater(fake):
    fig = ab.plot_trajectories(fake, n_patients=5, random_seed=1)
    assert isinstance(fig, Figure)
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == [f"{r.capitalize()}-rated ratings" for r in RATERS]
    for ax in axes:
        assert ax.get_xlabel() == "Session" and ax.get_ylabel() == "Alliance (1–7)"
        assert ax.get_xscale() == "log"  # time coded as ln(session)
        labels = ax.get_legend_handles_labels()[1]
        assert "observed patients" in labels and "posterior predictive 90%" in labels
        observed_lines = [line for line in ax.get_lines() if line.get_marker() == "o"]
        assert len(observed_lines) == 5


def test_density_overlay_per_rater(fake):
    fig = ab.plot_density(fake, num_pp_samples=10, random_seed=1)
    assert isinstance(fig, Figure)
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == [
        f"{r.capitalize()}-rated ratings (posterior predictive)" for r in RATERS
    ]
    assert all(ax.get_xlabel() == "Alliance (1–7)" for ax in axes)
    assert all(len(ax.get_lines()) >= 12 for ax in axes)  # 10 replicates, observed, mean


def test_prior_density_of_a_planned_design(tiny_planned):
    prior = ab.prior_predictive(tiny_planned, draws=20, random_seed=1)
    fig = ab.plot_density(prior, group="prior", num_pp_samples=5, random_seed=1)
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == [
        f"{r.capitalize()}-rated ratings (prior predictive)" for r in RATERS
    ]
    assert all(len(ax.get_lines()) == 6 for ax in axes)  # 5 replicates and the pooled density


def test_statistics_panels(fake):
    fig = ab.plot_statistics(fake, {"median": lambda f: f["alliance"].median()}, columns=2)
    assert isinstance(fig, Figure)
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == [f"median\n{r}" for r in RATERS]
    assert all(ax.get_xlabel() == "median" for ax in axes)
    assert all(any(t.get_text().startswith("p = ") for t in ax.texts) for ax in axes)
    fig = ab.plot_statistics(fake)
    assert len(_visible(fig)) == 30  # the default statistics, two raters


def test_therapist_caterpillar_with_ranks(fake):
    fig = ab.plot_therapist_effects(fake, prob=0.8)
    assert isinstance(fig, Figure)
    # per rater a row of effects and a row of ranks; level and growth in columns
    top = [ax.get_title() for ax in (fig.axes[0], fig.axes[1], fig.axes[4], fig.axes[5])]
    assert top == [f"{k}, {r}-rated" for r in RATERS for k in ("Level", "Growth")]
    bottom = [fig.axes[2], fig.axes[3], fig.axes[6], fig.axes[7]]
    assert all(
        ax.get_ylabel() == "Rank of the therapist\n(1 = lowest, 80% interval)" for ax in bottom
    )
    assert [t.get_text() for t in bottom[0].get_xticklabels()][:1]  # 12 therapists: labelled


def test_effect_ranks():
    draws = np.array([[0.1, -2.0, 3.0], [5.0, 4.0, -1.0]])
    np.testing.assert_array_equal(effect_ranks(draws), [[2, 1, 3], [3, 2, 1]])


def test_loo_pit_per_rater(fake):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = ab.plot_loo_pit(fake)
    assert isinstance(fig, Figure)
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == [
        f"{r.capitalize()}-rated ratings: LOO-PIT" for r in RATERS
    ]
    assert all(ax.get_xlabel() == "LOO-PIT" for ax in axes)


def test_ppc_command_writes_table_and_figures(fake, tmp_path):
    path = ab.save(fake, tmp_path / "fit.nc")
    out = tmp_path / "ppc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(app, ["ppc", str(path), "--out", str(out), "--format", "svg"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["ppc_statistics.csv", "ppc_statistics.md"]
        + [f"{n}.svg" for n in ("trajectories", "density", "statistics", "therapist_effects")]
        + ["loo_pit.svg"]
    )
    assert "| statistic | rater |" in (out / "ppc_statistics.md").read_text()
    assert "residual_lag1" in result.output


def test_compare_command(fake, tiny_datasets, tmp_path):
    second = fake_fit(ab.growth_model(tiny_datasets[0]), draws=30, seed=5)
    a, b = ab.save(fake, tmp_path / "a.nc"), ab.save(second, tmp_path / "b.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(app, ["compare", str(a), str(b), "--by", "therapist"])
    assert result.exit_code == 0, result.output
    assert "| model | rank | elpd_loo |" in result.output
    assert "therapist" in result.output
    assert "warning:" in result.output  # prior draws as a posterior: Pareto k is high
    bad = CliRunner().invoke(app, ["compare", str(a), str(b), "--by", "session"])
    assert bad.exit_code == 2 and "by must be one of" in bad.output
