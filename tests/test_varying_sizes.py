"""Designs whose numbers of therapists and patients vary per realisation compile once.

A model with its effects integrated out has no parameter per therapist or patient, so its
compiled code must not depend on their numbers: the structure key leaves them out and the graph
takes them as data (the dimensions' lengths). These tests check that a compiled model, the
simulator and the effect draws built for one size give exactly what a fresh compile gives for
another size.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import alliance_bayes as ab
from alliance_bayes import _graph
from alliance_bayes._graph import GraphCache
from alliance_bayes.models._info import structure_key
from conftest import FIT_SETTINGS, TINY_TRUTH, tiny_design

VARYING = {"dist": "poisson", "mean": 3.0, "min": 1, "max": 6}


def _varying(n_therapists: int, seed: int):
    """The tiny design's structure with other, varying numbers of therapists and patients."""
    design = tiny_design()
    design.n_therapists, design.patients_per_therapist = n_therapists, VARYING
    return design.to_data(random_seed=seed)


@pytest.fixture(scope="module")
def planned():
    return [ab.growth_model(_varying(n, seed)) for n, seed in ((9, 1), (14, 2))]


def test_integrated_models_of_other_sizes_share_one_structure(planned, tiny_planned):
    sizes = {(len(m.coords["therapist"]), len(m.coords["patient"])) for m in planned}
    assert len(sizes) == 2
    keys = {structure_key(m) for m in [*planned, tiny_planned]}
    assert len(keys) == 1


def test_models_with_sampled_effects_of_other_sizes_do_not():
    explicit = [ab.growth_model(_varying(n, seed), marginal=False) for n, seed in ((9, 1), (14, 2))]
    assert structure_key(explicit[0]) != structure_key(explicit[1])


def test_simulate_of_another_size_equals_a_fresh_compile(planned, monkeypatch):
    first = ab.simulate(planned[0], TINY_TRUTH, random_seed=5)  # compiles the draw
    reused = ab.simulate(planned[1], TINY_TRUTH, random_seed=6)
    monkeypatch.setattr(_graph, "CACHE", GraphCache())  # a fresh compile of every function
    fresh = ab.simulate(planned[1], TINY_TRUTH, random_seed=6)
    assert first.n_patients != reused.n_patients
    np.testing.assert_array_equal(reused.score, fresh.score)
    for name in ("therapist_effect", "patient_effect"):
        np.testing.assert_array_equal(reused.truth[name], fresh.truth[name])


@pytest.mark.slow
def test_fit_of_another_size_reuses_the_compiled_model_draw_for_draw(
    tiny_fit, planned, monkeypatch
):
    data = ab.simulate(planned[1], TINY_TRUTH, random_seed=6)
    settings = FIT_SETTINGS | {"draws": 60, "tune": 60, "random_seed": 3}
    before = ab.compile_counts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reused = ab.fit(ab.growth_model(data), **settings)
        assert ab.compile_counts()["compile"] == before["compile"]  # tiny_fit's compiled model
        # a fresh compile for this size, without the in-process or the disk cache
        fresh_cache = GraphCache()
        monkeypatch.setattr(_graph, "CACHE", fresh_cache)
        monkeypatch.setenv("ALLIANCE_BAYES_CACHE", "0")
        fresh = ab.fit(ab.growth_model(data), **settings)
    assert fresh_cache.counts["sampler"] == {"compile": 1, "reuse": 0}
    for name in ("level", "patient_sd", "therapist_corr", "therapist_effect", "patient_effect"):
        np.testing.assert_array_equal(reused.posterior[name], fresh.posterior[name])
    np.testing.assert_array_equal(
        reused.log_likelihood["alliance"], fresh.log_likelihood["alliance"]
    )
