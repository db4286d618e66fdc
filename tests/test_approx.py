"""The approximate posterior (mean-field ADVI) keeps the shape and vocabulary of a sampled fit."""

from __future__ import annotations

import json

import pytest

import alliance_bayes as ab

SINGLE_TRUTH = {
    "level": {"patient": 5.0},
    "growth": {"patient": 0.3},
    "level_coef": {"patient": {"burdens": 0.2}},
    "growth_coef": {"patient": {"burdens": -0.15}},
    "sigma": 0.3,
    "therapist_sd": {"patient:level": 0.2, "patient:growth": 0.05},
    "patient_sd": {"patient:level": 0.4, "patient:growth": 0.1},
    "therapist_corr": {},
    "patient_corr": {},
}


@pytest.fixture(scope="module")
def advi_fit():
    design = ab.Design(
        n_therapists=30,
        patients_per_therapist=4,
        sessions=[1.0, 2.0, 4.0, 8.0],
        therapist_covariates=ab.CovariateDesign(names=["burdens"]),
        scale=[1.0, 7.0],
    )
    planned = ab.growth_model(design.to_data(random_seed=1))
    data = ab.simulate(planned, SINGLE_TRUTH, random_seed=5)
    model = ab.growth_model(data)
    assert ab.models.is_marginal(model)
    idata = ab.fit(
        model,
        sampler="advi",
        advi_steps=8000,
        draws=250,
        chains=2,
        random_seed=3,
        progressbar=False,
    )
    return model, idata


@pytest.mark.slow
def test_advi_fit_has_the_vocabulary_shapes_and_its_loss_settled(advi_fit):
    model, idata = advi_fit
    posterior = idata.posterior
    assert posterior.sizes["chain"] == 2 and posterior.sizes["draw"] == 250
    for name in ("level", "growth", "level_coef", "sigma", "therapist_sd"):
        assert posterior[name].dims[2:] == tuple(model.named_vars_to_dims[name]), name
    for group in ("therapist", "patient"):  # integrated out, drawn afterwards
        assert posterior[f"{group}_effect"].shape[2:] == (len(model.coords[group]), 2)
    assert "log_likelihood" in idata.groups()
    advi = json.loads(idata.attrs["advi"])
    assert idata.attrs["sampler"] == "advi" and advi["steps"] == 8000
    assert advi["relative_change"] < 0.01, advi


@pytest.mark.slow
def test_advi_recovers_the_fixed_effects(advi_fit):
    _, idata = advi_fit
    for name in ("level", "growth", "sigma"):
        draws = idata.posterior[name].to_numpy().ravel()
        truth = SINGLE_TRUTH[name]
        truth = truth["patient"] if isinstance(truth, dict) else truth
        error = abs(draws.mean() - truth) / draws.std()
        assert error < 4, (name, draws.mean(), draws.std())


def test_an_unknown_sampler_names_the_choices(tiny_planned):
    with pytest.raises(ValueError, match="'nutpie', 'pymc' or 'advi'"):
        ab.fit(tiny_planned, sampler="gibbs")
