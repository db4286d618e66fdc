"""The censored and Student-t models on the integrated path (``models/_latent.py``) are exact.

Their log-density, with the latent values (a censored rating's value beyond its bound, a
Student-t rating's weight) integrated out numerically, must equal the censored (Student-t)
log-likelihood with the therapist and patient effects integrated out by quadrature, computed
here from scipy's densities without any of the package's algebra.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats
from scipy.special import logsumexp

from alliance_bayes import AllianceData, growth_model
from alliance_bayes.models import is_marginal
from alliance_bayes.models._latent import LATENT_NAME, capacity

LOW, HIGH = 1.0, 7.0

# therapist A: one patient, two of three ratings at the ceiling; therapist B: one patient, one
# of two ratings at the floor. One patient per therapist: its total effect a + b ~ N(0, T + S).
FRAME = pd.DataFrame(
    {
        "therapist": ["A", "A", "A", "B", "B"],
        "patient": ["a1", "a1", "a1", "b1", "b1"],
        "session": [1, 3, 8, 1, 5],
        "wai": [7.0, 6.1, 7.0, 1.0, 2.4],
    }
)


def _data(frame: pd.DataFrame = FRAME) -> AllianceData:
    return AllianceData.from_frame(
        frame,
        therapist="therapist",
        patient="patient",
        score="wai",
        time="session",
        scale=(LOW, HIGH),
    )


def _point(model, rng):
    """A point away from the initial one, and its constrained values by name."""
    point = {
        name: value + 0.3 * rng.normal(size=np.shape(value))
        for name, value in model.initial_point().items()
    }
    names = ["level", "growth", "sigma", "therapist_sd", "therapist_corr"]
    names += ["patient_sd", "patient_corr"] + (["nu"] if "nu" in model.named_vars else [])
    outputs = model.replace_rvs_by_values([model[n] for n in names])
    function = pm.pytensorf.compile(model.value_vars, outputs, on_unused_input="ignore")
    values = function(*(point[v.name] for v in model.value_vars))
    return point, dict(zip(names, values, strict=True))


def _effects_covariance(v):
    cov = lambda g: v[f"{g}_sd"][:, None] * v[f"{g}_corr"] * v[f"{g}_sd"][None, :]  # noqa: E731
    return cov("therapist") + cov("patient")


def _reference(data, v, rating_density, nodes=80):
    """log prod_therapists int prod_i f(y_i | e) N(e; 0, T + S) de, by Gauss-Hermite."""
    x, w = np.polynomial.hermite.hermgauss(nodes)
    grid = np.array(list(itertools.product(x, x))) * np.sqrt(2)  # (nodes^2, 2)
    log_weights = np.log(np.outer(w, w).ravel() / np.pi)
    effects = grid @ np.linalg.cholesky(_effects_covariance(v)).T  # N(0, T + S)
    total = 0.0
    for p in range(data.n_patients):  # one patient per therapist
        rows = np.flatnonzero(data.obs_patient == p)
        mean = v["level"][0] + effects[:, :1] + (v["growth"][0] + effects[:, 1:]) * data.time[rows]
        log_f = rating_density(data.score[rows], mean, v).sum(axis=1)
        total += logsumexp(log_f + log_weights)
    return total


def _latent_integral(model, point, slots_of_group, lo, hi, step):
    """log int exp(logp(latent, alliance)) d latent, the slots of each group integrated on a
    grid (trapezoid; the integrands are smooth and decay fast), the other groups' slots at 0:
    groups are independent, so the integral is the product of the groups' integrals. Empty
    slots are standard normal (checked at 0 and taken out)."""
    logp = model.compile_logp(vars=[model[LATENT_NAME], model["alliance"]])
    n_slots = len(point[LATENT_NAME])
    base = dict(point, **{LATENT_NAME: np.zeros(n_slots)})
    at_zero = float(logp(base))
    grid = np.arange(lo, hi + step / 2, step)
    total = at_zero
    for slots in slots_of_group:
        values = []
        for u in itertools.product(grid, repeat=len(slots)):
            latent = np.zeros(n_slots)
            latent[slots] = u
            values.append(float(logp(dict(base, **{LATENT_NAME: latent}))))
        shape = (len(grid),) * len(slots)
        density = np.exp(np.reshape(values, shape) - at_zero)
        for _ in slots:
            density = np.trapezoid(density, dx=step, axis=0)
        total += np.log(density)
    empty = n_slots - sum(len(s) for s in slots_of_group)
    return total + empty * 0.5 * np.log(2 * np.pi)


def _censored_density(y, mean, v):
    sd = v["sigma"][0]
    return np.where(
        np.isclose(y, HIGH),
        stats.norm.logsf(HIGH, mean, sd),
        np.where(
            np.isclose(y, LOW), stats.norm.logcdf(LOW, mean, sd), stats.norm.logpdf(y, mean, sd)
        ),
    )


def _student_density(y, mean, v):
    return stats.t.logpdf(y, v["nu"], mean, v["sigma"][0])


def test_capacity_rounds_up_to_few_sizes():
    sizes = {capacity(n) for n in range(2000)}
    assert all(capacity(n) >= n for n in range(2000))
    assert len(sizes) <= 20 and max(capacity(n) / max(n, 8) for n in range(2000)) <= 1.5


def test_censored_and_student_t_models_integrate_the_effects_out_by_default():
    for likelihood in ("censored", "student_t"):
        model = growth_model(_data(), likelihood=likelihood)
        assert is_marginal(model) and LATENT_NAME in model.named_vars


def test_censored_log_density_equals_the_censored_likelihood_by_quadrature():
    data = _data()
    model = growth_model(data, likelihood="censored")
    point, values = _point(model, np.random.default_rng(3))
    side = model["censored_side"].get_value()
    held = model["censored_rating"].get_value()[side != 0]
    therapist = data.patient_therapist[data.obs_patient[held]]
    groups = [np.flatnonzero(side != 0)[therapist == t] for t in range(data.n_therapists)]
    assert [len(g) for g in groups] == [2, 1]  # two ceiling ratings of A, one floor of B
    ours = _latent_integral(model, point, groups, lo=-40.0, hi=5.0, step=0.25)
    want = _reference(data, values, _censored_density)
    assert ours == pytest.approx(want, abs=1e-6)


def test_a_bound_off_by_one_point_breaks_the_censored_equality():
    """The check above can fail: the same model read against a ceiling of 6 differs."""
    data = _data()
    model = growth_model(data, likelihood="censored")
    point, values = _point(model, np.random.default_rng(3))
    side = model["censored_side"].get_value()
    groups = [np.flatnonzero(side > 0), np.flatnonzero(side < 0)]
    ours = _latent_integral(model, point, groups, lo=-40.0, hi=5.0, step=0.25)

    def off_by_one(y, mean, v):
        sd = v["sigma"][0]
        at_top = np.isclose(y, HIGH)
        planted = np.where(at_top, stats.norm.logsf(HIGH - 1, mean, sd), 0.0)
        return np.where(at_top, planted, _censored_density(y, mean, v))

    assert abs(ours - _reference(data, values, off_by_one)) > 0.1


def test_student_t_log_density_equals_the_student_t_likelihood_by_quadrature():
    frame = FRAME.drop(index=1).assign(wai=[5.5, 2.0, 2.2, 2.4])  # an outlying rating of a1
    data = _data(frame)
    model = growth_model(data, likelihood="student_t")
    point, values = _point(model, np.random.default_rng(4))
    assert len(point[LATENT_NAME]) == capacity(4) == 8
    # one weight per rating, in the order of the ratings (four used slots, four empty)
    therapist = data.patient_therapist[model["patient_idx"].get_value()]
    groups = [np.flatnonzero(therapist == t) for t in range(data.n_therapists)]
    assert [len(g) for g in groups] == [2, 2]
    ours = _latent_integral(model, point, groups, lo=-14.0, hi=8.0, step=0.35)
    want = _reference(data, values, _student_density, nodes=240)  # t tails: 80 nodes miss 6e-6
    assert ours == pytest.approx(want, abs=1e-6)
