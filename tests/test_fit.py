"""Real sampling on a tiny design: recovery, compile reuse, the result object, save and load."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import alliance_bayes as ab
from alliance_bayes.diagnostics import _below_diagonal, convergence_report, problems
from alliance_bayes.summary import summarize
from conftest import FIT_SETTINGS, TINY_TRUTH

pytestmark = pytest.mark.slow


def test_fit_recovers_fixed_effects_within_99_percent_intervals(tiny_fit):
    table = summarize(
        tiny_fit, var_names=["level", "growth", "level_coef", "growth_coef"], prob=0.99
    )
    assert len(table) == 8
    for row in table.itertuples():
        truth = TINY_TRUTH[row.parameter][row.rater]
        value = truth[row.covariate] if isinstance(truth, dict) else truth
        assert row.lower <= value <= row.upper, (row.parameter, row.rater, row.covariate, value)


def test_result_groups_names_and_coords(tiny_fit, tiny_datasets):
    for group in ("posterior", "sample_stats", "observed_data", "constant_data", "log_likelihood"):
        assert group in tiny_fit.groups()
    posterior = tiny_fit.posterior
    assert set(posterior.data_vars) >= {
        "level",
        "growth",
        "level_coef",
        "growth_coef",
        "sigma",
        "therapist_sd",
        "patient_sd",
        "therapist_corr",
        "patient_corr",
        "therapist_effect",
        "patient_effect",
    }
    assert not [n for n in posterior.data_vars if "offset" in n or "chol" in n]
    data = tiny_datasets[0]
    assert list(posterior["therapist"].values) == list(data.therapist_labels)
    assert list(posterior["rater"].values) == ["patient", "therapist"]
    assert list(posterior["therapist_covariate"].values) == ["burdens"]
    n_observed = int(data.observed.sum())
    assert tiny_fit.log_likelihood["alliance"].shape == (2, 300, n_observed)
    assert tiny_fit.observed_data["alliance"].shape == (n_observed,)
    attrs = tiny_fit.attrs
    assert json.loads(attrs["spec"])["kind"] == "growth"
    assert attrs["data_hash"] == data.fingerprint()
    assert "pymc" in json.loads(attrs["versions"])
    assert "divergences" in json.loads(attrs["diagnostics"])


def test_log_likelihood_matches_scipy_at_a_draw(tiny_fit, tiny_datasets):
    from scipy import stats

    post = tiny_fit.posterior.isel(chain=0, draw=5)
    const = tiny_fit.constant_data
    p = const["patient_idx"].values
    r = const["rater_idx"].values
    x = const["time"].values
    t = const["therapist_of_patient"].values[p]
    z = const["therapist_covariates"].values[t, 0]
    a = post["therapist_effect"].values
    b = post["patient_effect"].values
    mu = (
        post["level"].values[r]
        + post["growth"].values[r] * x
        + z * (post["level_coef"].values[r, 0] + post["growth_coef"].values[r, 0] * x)
        + a[t, 2 * r]
        + a[t, 2 * r + 1] * x
        + b[p, 2 * r]
        + b[p, 2 * r + 1] * x
    )
    y = tiny_fit.observed_data["alliance"].values
    expected = stats.norm.logpdf(y, mu, post["sigma"].values[r])
    np.testing.assert_allclose(
        tiny_fit.log_likelihood["alliance"].values[0, 5], expected, rtol=1e-8
    )


def test_refit_reuses_the_compiled_model(tiny_fit, tiny_datasets):
    before = ab.compile_counts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = ab.fit(ab.growth_model(tiny_datasets[1]), random_seed=8, **FIT_SETTINGS)
    after = ab.compile_counts()
    assert after["compile"] == before["compile"]
    assert after["reuse"] == before["reuse"] + 1
    # the refit saw the new data, not the old
    assert refit.attrs["data_hash"] == tiny_datasets[1].fingerprint()
    np.testing.assert_allclose(
        refit.observed_data["alliance"].values, tiny_datasets[1].score[tiny_datasets[1].observed]
    )
    assert not np.allclose(
        refit.posterior["level"].mean().values, tiny_fit.posterior["level"].mean().values, atol=1e-6
    )


def test_therapist_with_missing_covariate_keeps_its_patients(tiny_datasets):
    import dataclasses

    data = tiny_datasets[0]
    values = data.therapist_covariates.values.copy()
    values[[0, 3], 0] = np.nan
    covariates = dataclasses.replace(data.therapist_covariates, values=values)
    gappy = dataclasses.replace(data, therapist_covariates=covariates)
    model = ab.growth_model(gappy)
    assert model["therapist_covariate_missing"].eval().shape == (2,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = ab.fit(model, random_seed=3, **FIT_SETTINGS)
    assert idata.posterior.sizes["therapist"] == data.n_therapists
    assert idata.observed_data.sizes["obs"] == int(data.observed.sum())
    assert idata.posterior["therapist_covariate_missing"].shape[-1] == 2


def test_saved_fit_is_summarised_in_a_new_process(tiny_fit, tmp_path):
    path = ab.save(tiny_fit, tmp_path / "fit.nc")
    code = (
        "import alliance_bayes as ab; from alliance_bayes.summary import summarize;"
        f"t = summarize(ab.load({str(path)!r})); print(len(t), t.parameter.iloc[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "level"
    loaded = ab.load(path)
    assert loaded.attrs["data_hash"] == tiny_fit.attrs["data_hash"]


def test_convergence_problems_are_reported_and_warned(tiny_fit):
    bad = tiny_fit.copy()
    bad.sample_stats["diverging"][0, :3] = True
    report = convergence_report(bad)
    assert report["divergences"] == 3 and not report["ok"]
    assert any("divergent" in p for p in problems(report))
    with pytest.warns(ab.ConvergenceWarning, match=r"divergent.*tune=1000"):
        ab.diagnostics.warn_if_unconverged(report)


def test_skipped_variables_are_left_out_of_r_hat_and_ess(tiny_fit):
    stuck = tiny_fit.copy()
    effect = stuck.posterior["patient_effect"]
    stuck.posterior["patient_effect"] = effect + 5.0 * effect["chain"]  # chains disagree
    assert any(n.startswith("patient_effect[") for n in convergence_report(stuck)["high_r_hat"])
    report = convergence_report(stuck, skip=["patient_effect"])
    assert report["skipped"] == ["patient_effect"]
    assert not any(n.startswith("patient_effect") for n in report["high_r_hat"])


def test_correlations_are_checked_below_the_diagonal_only_without_nan(tiny_fit):
    """R-hat and ESS of a correlation matrix cover its entries below the diagonal, named
    ``<name>[<component>, <component_>]``, and what goes to ArviZ holds no NaN (ArviZ logs a
    warning for each array that does)."""
    stuck = tiny_fit.copy()
    corr = stuck.posterior["patient_corr"]
    stuck.posterior["patient_corr"] = corr + 5.0 * corr["chain"]  # chains disagree everywhere
    labels = list(corr["component"].values)
    pairs = zip(*np.tril_indices(len(labels), -1), strict=True)
    below = {f"patient_corr[{labels[i]}, {labels[j]}]" for i, j in pairs}
    report = convergence_report(stuck)
    assert below and {n for n in report["high_r_hat"] if n.startswith("patient_corr")} == below
    checked = _below_diagonal(stuck.posterior)
    assert not [n for n, v in checked.data_vars.items() if np.isnan(v.to_numpy()).any()]


def test_log_likelihood_is_left_out_with_a_warning_when_too_large(tiny_datasets, monkeypatch):
    fit_module = sys.modules["alliance_bayes.fit"]
    settings = FIT_SETTINGS | {"draws": 20}
    n_values = settings["chains"] * 20 * int(tiny_datasets[1].observed.sum())
    monkeypatch.setattr(fit_module, "LOG_LIKELIHOOD_AUTO_LIMIT", n_values - 1)
    with pytest.warns(UserWarning, match="log_likelihood=True"):
        idata = ab.fit(ab.growth_model(tiny_datasets[1]), random_seed=9, **settings)
    assert "log_likelihood" not in idata.groups()
    monkeypatch.setattr(fit_module, "LOG_LIKELIHOOD_AUTO_LIMIT", n_values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ab.ConvergenceWarning)
        idata = ab.fit(ab.growth_model(tiny_datasets[1]), random_seed=9, **settings)
    assert idata.log_likelihood["alliance"].size == n_values


class _Stop(Exception):
    pass


def test_fit_tunes_400_steps_only_for_nutpie_on_an_integrated_model(monkeypatch, tiny_datasets):
    """Without ``tune``: 400 steps for nutpie on the integrated model (the Student-t one too),
    1,000 for PyMC's NUTS, for a model with sampled effects and for the censored model; an
    explicit value passes through."""
    fit_module = importlib.import_module("alliance_bayes.fit")  # ab.fit is the function
    seen = []

    def record(model, sampler, draws, tune, *args, **kwargs):
        seen.append((sampler, tune))
        raise _Stop

    monkeypatch.setattr(fit_module, "_draw", record)
    integrated = ab.growth_model(tiny_datasets[0])
    explicit = ab.growth_model(tiny_datasets[0], marginal=False)
    calls = [
        (integrated, {}),
        (integrated, {"sampler": "pymc"}),
        (explicit, {}),
        (integrated, {"tune": 123}),
        (ab.growth_model(tiny_datasets[0], likelihood="student_t"), {}),
        (ab.growth_model(tiny_datasets[0], likelihood="censored"), {}),
    ]
    for model, options in calls:
        with pytest.raises(_Stop):
            ab.fit(model, **options)
    assert seen == [
        ("nutpie", 400),
        ("pymc", 1000),
        ("nutpie", 1000),
        ("nutpie", 123),
        ("nutpie", 400),
        ("nutpie", 1000),
    ]


def test_fit_takes_a_new_structure_from_the_store_it_is_given(tiny_fit, tiny_datasets, monkeypatch):
    from alliance_bayes import _graph
    from alliance_bayes.models._info import structure_key

    model = ab.growth_model(tiny_datasets[1])
    compiled = _graph.CACHE.get("sampler", f"numba:{structure_key(model)}", _never_compile)

    class Store:  # the CompiledModelStore protocol, handing out tiny_fit's compiled model
        def __init__(self):
            self.asked = []

        def get_or_compile(self, model, var_names=None):
            self.asked.append(list(var_names))
            return compiled

    monkeypatch.setattr(_graph, "CACHE", _graph.GraphCache())  # nothing compiled in-process
    store = Store()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = ab.fit(model, random_seed=8, store=store, **(FIT_SETTINGS | {"draws": 50}))
    assert len(store.asked) == 1 and "level" in store.asked[0]
    assert refit.posterior.sizes["draw"] == 50


def _never_compile():
    raise AssertionError("tiny_fit's model should be compiled already")
