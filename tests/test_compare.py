"""Model comparison by PSIS-LOO leaving out ratings, patients or therapists; Bayesian R^2."""

from __future__ import annotations

import json
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import logsumexp

import alliance_bayes as ab
from alliance_bayes.compare import group_codes, grouped_log_likelihood
from alliance_bayes.fit import log_likelihood_function
from conftest import FIT_SETTINGS, WEAK_TRUTH, fake_fit


@pytest.fixture(scope="module")
def fake(tiny_datasets):
    return fake_fit(ab.growth_model(tiny_datasets[0]), draws=60)


# ----------------------------------------------------------------------------- exact
@pytest.mark.parametrize("by", ["patient", "therapist"])
def test_grouped_log_likelihood_is_the_sum_over_each_groups_ratings(fake, by):
    grouped = grouped_log_likelihood(fake, by).log_likelihood["alliance"]
    const = fake.constant_data
    patient = const["patient_idx"].values
    labels = {
        "patient": const["patient"].values[patient],
        "therapist": const["therapist"].values[const["therapist_of_patient"].values[patient]],
    }[by]
    loglik = fake.log_likelihood["alliance"].values
    frame = pd.DataFrame(loglik.reshape(-1, loglik.shape[-1]).T).groupby(labels).sum()
    assert grouped.dims == ("chain", "draw", by)
    assert list(grouped[by].values) == list(frame.index)
    np.testing.assert_allclose(
        grouped.values.reshape(-1, grouped.shape[-1]), frame.to_numpy().T, rtol=1e-12
    )
    np.testing.assert_allclose(grouped.values.sum(-1), loglik.sum(-1), rtol=1e-12)


def test_loo_by_group_is_psis_on_the_group_sums(fake):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = ab.loo(fake, by="therapist", integrated=False)  # tests/test_kfold.py: integrated
    assert ours.n_data_points == fake.posterior.sizes["therapist"]
    codes, labels = group_codes(fake, "therapist")
    loglik = fake.log_likelihood["alliance"].values
    by_hand = np.stack([loglik[..., codes == g].sum(-1) for g in range(len(labels))], axis=-1)
    reference = az.InferenceData(
        posterior=fake.posterior,
        log_likelihood=xr.Dataset({"alliance": (("chain", "draw", "therapist"), by_hand)}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = az.loo(reference, pointwise=True)
    assert ours.elpd_loo == pytest.approx(expected.elpd_loo, rel=1e-12)
    np.testing.assert_allclose(ours.pareto_k.values, expected.pareto_k.values)


def test_compare_refuses_fits_of_different_data(fake, tiny_datasets):
    other = fake_fit(ab.growth_model(tiny_datasets[1]), draws=10)
    with pytest.raises(ValueError, match="different data"):
        ab.compare({"a": fake, "b": other})
    with pytest.raises(ValueError, match="by must be"):
        ab.compare({"a": fake, "b": fake}, by="session")


@pytest.fixture(scope="module")
def fake_censored(tiny_datasets):
    return fake_fit(ab.growth_model(tiny_datasets[0], likelihood="censored"), draws=20)


def with_attrs(idata: az.InferenceData, **attrs: str) -> az.InferenceData:
    """The same fit with some attrs replaced (``None`` removes one)."""
    copy = az.InferenceData(**{group: idata[group] for group in idata.groups()})
    copy.attrs.update(idata.attrs)
    for key, value in attrs.items():
        if value is None:
            copy.attrs.pop(key, None)
        else:
            copy.attrs[key] = value
    return copy


def test_compare_refuses_a_density_against_a_censored_likelihood(fake, fake_censored):
    message = (
        r"not comparable by LOO \('normal fit': normal \(density\); 'censored fit': censored "
        r"\(censored at .*\)\): a censored likelihood gives a rating at the scale's bounds a "
        "probability"
    )
    with pytest.raises(ValueError, match=message):
        ab.compare({"normal fit": fake, "censored fit": fake_censored})
    student = with_attrs(fake, spec=json.dumps({"likelihood": "student_t"}))
    with pytest.raises(ValueError, match="'t': student_t \\(density\\)"):
        ab.compare({"t": student, "c": fake_censored}, by="therapist")


def test_compare_refuses_censored_fits_at_other_bounds(fake_censored):
    one_to_seven = with_attrs(fake_censored, data=json.dumps({"scale": [1.0, 7.0]}))
    zero_to_ten = with_attrs(fake_censored, data=json.dumps({"scale": [0.0, 10.0]}))
    with pytest.raises(ValueError, match="'a': censored \\(censored at 1-7\\); 'b': censored"):
        ab.compare({"a": one_to_seven, "b": zero_to_ten})


def test_compare_refuses_a_fit_whose_likelihood_is_unknown(fake):
    with pytest.raises(ValueError, match="records no model spec"):
        ab.compare({"a": fake, "b": with_attrs(fake, spec=None)})


def test_compare_ranks_densities_and_censored_fits_among_themselves(fake, fake_censored):
    student = with_attrs(fake, spec=json.dumps({"likelihood": "student_t"}))
    with warnings.catch_warnings():  # Pareto k of prior draws; stacking of identical fits
        warnings.simplefilter("ignore", ab.ParetoKWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        assert set(ab.compare({"normal": fake, "t": student}).index) == {"normal", "t"}
        again = with_attrs(fake_censored)
        assert len(ab.compare({"c1": fake_censored, "c2": again})) == 2


def test_compare_command_reports_incomparable_likelihoods_in_one_line(
    fake, fake_censored, tmp_path
):
    from typer.testing import CliRunner

    from alliance_bayes.cli import app

    paths = [tmp_path / "normal.nc", tmp_path / "censored.nc"]
    ab.save(fake, paths[0])
    ab.save(fake_censored, paths[1])
    result = CliRunner().invoke(app, ["compare", *map(str, paths)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("error: these fits' likelihoods are not comparable by LOO")
    assert "'normal': normal (density)" in result.output
    assert "'censored': censored (censored at" in result.output
    assert "| model" not in result.output  # no ranking printed


def test_compare_table_has_grouping_and_pareto_columns(fake, tiny_datasets):
    second = fake_fit(ab.growth_model(tiny_datasets[0]), draws=60, seed=9)
    with pytest.warns(ab.ParetoKWarning, match="by patient is unreliable"):
        table = ab.compare({"first": fake, "second": second}, by="patient")
    assert set(table.index) == {"first", "second"}
    assert {"elpd_loo", "elpd_diff", "weight", "by", "n_groups", "n_high_k", "max_k"} <= set(
        table.columns
    )
    assert (table["n_groups"] == fake.posterior.sizes["patient"]).all()
    assert (table["by"] == "patient").all()


def test_bayes_r2_matches_a_hand_computation(fake):
    """Marginal and conditional R^2 per draw from numpy, as in test_fit's scipy check."""
    table = ab.bayes_r2(fake, prob=0.9)
    post = fake.posterior
    const = fake.constant_data
    p = const["patient_idx"].values
    r = const["rater_idx"].values
    x = const["time"].values
    t = const["therapist_of_patient"].values[p]
    z = const["therapist_covariates"].values[t, 0]
    values = {"marginal": [], "conditional": []}
    for rater in (0, 1):
        rows = r == rater
        draws = {"marginal": [], "conditional": []}
        for c in range(2):
            for d in range(post.sizes["draw"]):
                s = post.isel(chain=c, draw=d)
                fixed = (
                    s["level"].values[r]
                    + s["growth"].values[r] * x
                    + z * (s["level_coef"].values[r, 0] + s["growth_coef"].values[r, 0] * x)
                )[rows]
                a, b = s["therapist_effect"].values, s["patient_effect"].values
                random = (a[t, 2 * r] + a[t, 2 * r + 1] * x + b[p, 2 * r] + b[p, 2 * r + 1] * x)[
                    rows
                ]
                total = fixed.var() + random.var() + s["sigma"].values[rater] ** 2
                draws["marginal"].append(fixed.var() / total)
                draws["conditional"].append((fixed.var() + random.var()) / total)
        for kind in values:
            values[kind].append(np.mean(draws[kind]))
    for row in table.itertuples():
        expected = values[row.kind][["patient", "therapist"].index(row.rater)]
        assert row.mean == pytest.approx(expected, rel=1e-9)
    assert (table["lower"] <= table["mean"]).all() and (table["mean"] <= table["upper"]).all()


def test_bayes_r2_of_the_therapist_regression_is_its_r2():
    data = ab.Design.razzaque_2015().to_data(random_seed=1)
    planned = ab.therapist_regression(data)
    simulated = ab.simulate(planned, ab.Truth.razzaque_2015(), random_seed=2)
    fake = fake_fit(ab.therapist_regression(simulated), draws=30)
    table = ab.bayes_r2(fake)
    assert list(table["kind"]) == ["marginal", "conditional"]
    expected = float(fake.posterior["r2"].mean())
    np.testing.assert_allclose(table["mean"], expected, rtol=1e-9)


# ----------------------------------------------------------------------------- real fits
@pytest.mark.slow
def test_patient_loo_agrees_with_exact_refits_for_two_patients(tiny_planned):
    """Leave-one-patient-out PSIS against refits without the patient's ratings.

    Data with weakly identified patients (WEAK_TRUTH): the leave-one-patient-out target is
    log p(y_g | y_-g) = log E[p(y_g | theta, b_g)] over the posterior without patient g, whose
    b_g then comes from its hierarchical prior. The refit keeps the patient in the structure with
    missing ratings, so it reuses the compiled tiny model. The two patients (P01, P02) are fixed
    in advance; the tolerance is 4 combined Monte Carlo standard errors (PSIS and refit), a
    false-alarm rate below 1e-4 per patient under a normal approximation.
    """
    data = ab.simulate(tiny_planned, WEAK_TRUTH, random_seed=103)
    settings = FIT_SETTINGS | {"draws": 400}
    full = ab.growth_model(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = ab.fit(full, random_seed=7, **settings)
        psis = ab.loo(fitted, by="patient")
    loglik = log_likelihood_function(full)
    codes, labels = group_codes(fitted, "patient")
    for g in (0, 1):
        score = data.score.copy()
        score[data.obs_patient == g] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            refit = ab.fit(ab.growth_model(data.with_score(score)), random_seed=8, **settings)
        held_out = loglik(full, refit.posterior)
        held_out = held_out[..., codes == g].sum(-1)  # (chain, draw)
        exact = logsumexp(held_out) - np.log(held_out.size)
        weights = np.exp(held_out - held_out.max())
        ess = float(az.ess(weights, method="mean"))
        mcse_exact = np.sqrt(weights.var() / weights.mean() ** 2 / ess)
        full_g = fitted.log_likelihood["alliance"].values[..., codes == g].sum(-1)
        log_w, _ = az.psislw(-full_g.ravel())
        p = np.exp(full_g.ravel() - full_g.max())
        expected = np.sum(np.exp(log_w) * p)
        reff = float(az.ess(np.exp(full_g - full_g.max()), method="mean")) / full_g.size
        mcse_psis = np.sqrt(np.sum(np.exp(log_w) ** 2 * (p - expected) ** 2) / reff) / expected
        estimate = float(psis.loo_i.values[g])
        tolerance = 4 * np.hypot(mcse_exact, mcse_psis)
        assert abs(estimate - exact) < tolerance, (labels[g], estimate, exact, tolerance)


@pytest.mark.slow
def test_unreliable_groups_are_named(tiny_fit):
    with pytest.warns(ab.ParetoKWarning, match=r"by therapist is unreliable .*'T\d+'"):
        result = ab.loo(tiny_fit, by="therapist", integrated=False)
    assert result.n_data_points == 12
    assert np.isfinite(result.elpd_loo)
