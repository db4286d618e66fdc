"""Default priors (on the outcome's own scale) and replacing them by name. Pure functions, no
compilation: what a prior does to the model's log-probability is checked in
models/test_models.py."""

from __future__ import annotations

import numpy as np
import pytest

from alliance_bayes import Design, default_priors
from alliance_bayes.priors import resolve_priors
from alliance_bayes.vocabulary import parameters
from conftest import build


@pytest.fixture(scope="module")
def nissen_lie():
    return Design.nissen_lie_2013().to_data(random_seed=1)


def test_growth_defaults_follow_the_scale_and_the_time_span(nissen_lie):
    priors = default_priors(nissen_lie)
    assert set(priors) == set(parameters("growth"))
    span = np.log(40) - np.log(3)  # log time coding of sessions 3..40
    # u = 1.5 on a 1-7 scale (a quarter of its range)
    assert priors["level"] == {"dist": "Normal", "mu": 4.0, "sigma": 1.0}
    assert priors["growth"]["sigma"] == pytest.approx(1.5 / (2 * span))
    assert priors["growth_coef"]["sigma"] == pytest.approx(1.5 / (4 * span))
    assert priors["level_coef"]["sigma"] == pytest.approx(0.375)
    assert priors["sigma"] == {"dist": "HalfNormal", "sigma": 0.5}
    # one SD scale per component: <rater>:level, <rater>:growth for both raters
    np.testing.assert_allclose(priors["therapist_sd"]["sigma"], [0.5, 0.5 / span, 0.5, 0.5 / span])
    assert priors["patient_corr"] == {"dist": "LKJ", "eta": 2.0}


def test_regression_defaults(nissen_lie):
    priors = default_priors(nissen_lie, "regression")
    assert set(priors) == set(parameters("regression"))
    assert priors["intercept"] == {"dist": "Normal", "mu": 4.0, "sigma": 1.0}
    assert priors["coef"] == {"dist": "Normal", "mu": 0.0, "sigma": 0.375}


def test_unknown_model_kind_raises(nissen_lie):
    with pytest.raises(ValueError, match="growth"):
        default_priors(nissen_lie, "mixture")


def test_without_a_scale_the_observed_scores_set_the_unit(long_frame):
    data = build(long_frame)
    priors = default_priors(data)
    scores = long_frame["wai"].to_numpy()
    assert priors["level"]["mu"] == pytest.approx(scores.mean())
    assert priors["level"]["sigma"] == pytest.approx(2 / 3 * 1.5 * scores.std(ddof=1))


def test_without_scale_or_outcome_defaults_raise():
    data = Design(n_therapists=2, patients_per_therapist=1, sessions=[1, 2]).to_data(1)
    with pytest.raises(ValueError, match="scale"):
        default_priors(data)


def test_a_prior_with_dist_replaces_the_default(nissen_lie):
    priors = resolve_priors(nissen_lie, {"growth_coef": {"dist": "Normal", "sigma": 0.1}})
    assert priors["growth_coef"] == {"dist": "Normal", "sigma": 0.1}
    assert priors["level"] == default_priors(nissen_lie)["level"]


def test_a_prior_without_dist_updates_the_default(nissen_lie):
    priors = resolve_priors(nissen_lie, {"level": {"sigma": 0.5}})
    assert priors["level"] == {"dist": "Normal", "mu": 4.0, "sigma": 0.5}


def test_resolving_does_not_change_the_callers_dicts(nissen_lie):
    override = {"therapist_sd": {"sigma": [0.1, 0.2, 0.3, 0.4]}}
    priors = resolve_priors(nissen_lie, override)
    priors["therapist_sd"]["sigma"].append(9.9)
    assert override == {"therapist_sd": {"sigma": [0.1, 0.2, 0.3, 0.4]}}


@pytest.mark.parametrize("model", ["growth", "regression"])
def test_an_unknown_prior_name_raises_key_error(nissen_lie, model):
    with pytest.raises(KeyError, match="slope"):
        resolve_priors(nissen_lie, {"slope": {"sigma": 1.0}}, model)


def test_prior_implied_alliance_mostly_on_the_scale(nissen_lie):
    """The defaults are weakly informative: most prior predictive scores fall on the 1-7 scale."""
    from alliance_bayes import growth_model
    from alliance_bayes.checks import prior_implied_alliance

    table = prior_implied_alliance(growth_model(nissen_lie), draws=200, random_seed=1)
    assert len(table) == 8  # 4 sessions x 2 raters
    assert (table["outside_scale"] < 0.2).all()
    assert ((table["q50"] > 3) & (table["q50"] < 5)).all()
    assert (table["q95"] - table["q05"] > 2).all()  # not so tight that data cannot move it
