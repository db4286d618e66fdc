"""The vocabulary module: the table, one name per scalar (correlations below the diagonal,
the same in summaries, diagnostics and studies), the ICC, and old study names. No sampling:
the posteriors here are made by hand."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr

from alliance_bayes.checks.jobs import flatten_truth, quantity_draws
from alliance_bayes.diagnostics import convergence_report
from alliance_bayes.summary import summarize, variance_components
from alliance_bayes.vocabulary import (
    below_diagonal,
    flatten,
    icc,
    is_internal,
    parameters,
    renamed_pairs,
    reported,
    scalar_name,
    term,
    terms,
)

RATERS = ["patient", "therapist"]
COMPONENTS = [f"{r}:{k}" for r in RATERS for k in ("level", "growth")]


def fake_posterior(chains: int = 2, draws: int = 50, seed: int = 0) -> xr.Dataset:
    """A growth model's population posterior, random but of the right shapes and coords."""
    rng = np.random.default_rng(seed)
    n = len(COMPONENTS)
    corr = np.broadcast_to(np.eye(n), (chains, draws, n, n)).copy()
    for i, j in zip(*below_diagonal(n), strict=True):
        corr[..., i, j] = corr[..., j, i] = rng.uniform(-0.3, 0.3, (chains, draws))
    variables = {
        "level": (("rater",), 2),
        "growth": (("rater",), 2),
        "growth_coef": (("rater", "therapist_covariate"), (2, 1)),
        "sigma": (("rater",), 2),
        "therapist_sd": (("component",), n),
        "patient_sd": (("component",), n),
    }
    data = {
        name: (
            ("chain", "draw", *dims),
            np.abs(rng.normal(size=(chains, draws, *np.atleast_1d(s)))),
        )
        for name, (dims, s) in variables.items()
    }
    for level in ("therapist", "patient"):
        data[f"{level}_corr"] = (("chain", "draw", "component", "component_"), corr)
    coords = {
        "chain": range(chains),
        "draw": range(draws),
        "rater": RATERS,
        "therapist_covariate": ["burdens"],
        "component": COMPONENTS,
        "component_": COMPONENTS,
    }
    return xr.Dataset(data, coords=coords)


# ---------------------------------------------------------------------------- the table
def test_parameters_keep_the_simulators_order():
    # the prior draw of an SBC study follows this order: changing it changes seeded studies
    assert parameters() == (
        "level", "growth", "level_coef", "growth_coef", "patient_level_coef",
        "patient_growth_coef", "therapist_sd", "patient_sd", "therapist_corr", "patient_corr",
        "sigma", "nu", "session_coef", "intercept", "coef",
    )  # fmt: skip


def test_tables_report_in_the_order_they_always_did():
    growth = [n for n in reported(correlations=False) if n in {t.name for t in terms("growth")}]
    assert growth == [
        "level", "growth", "level_coef", "growth_coef", "patient_level_coef",
        "patient_growth_coef", "session_coef", "sigma", "nu", "therapist_sd", "patient_sd",
    ]  # fmt: skip
    assert reported("regression") == ("intercept", "coef", "coef_std", "r2", "sigma")
    assert reported("growth")[-2:] == ("therapist_corr", "patient_corr")


def test_a_name_of_both_families_is_the_growth_models_and_unknown_names_are_refused():
    assert term("sigma").dims == ("rater",)
    assert [t.dims for t in terms("regression") if t.name == "sigma"] == [()]
    with pytest.raises(KeyError, match="not in the vocabulary"):
        term("sigma_y")


def test_internal_names():
    for name in ("therapist_offset", "patient_chol_cov", "x_packed", "sigma_log__"):
        assert is_internal(name)
    assert not any(is_internal(name) for name in parameters())


# ---------------------------------------------------------------------------- one name
def test_correlations_give_their_pairs_below_the_diagonal_row_by_row():
    corr = fake_posterior()["therapist_corr"]
    names = list(flatten("therapist_corr", corr))
    expected = [
        scalar_name("therapist_corr", [COMPONENTS[i], COMPONENTS[j]])
        for i, j in zip(*below_diagonal(4), strict=True)
    ]
    assert names == expected
    assert names[0] == "therapist_corr[patient:growth, patient:level]"


def test_one_pair_has_one_name_in_summaries_diagnostics_and_studies():
    posterior = fake_posterior()
    stuck = posterior.copy()
    stuck["patient_corr"] = posterior["patient_corr"] + 5.0 * posterior["chain"]
    report = convergence_report(az.InferenceData(posterior=stuck))
    flagged = {n for n in report["high_r_hat"] if n.startswith("patient_corr")}
    studied = {n for n in quantity_draws(posterior) if n.startswith("patient_corr")}
    terms_ = variance_components(az.InferenceData(posterior=posterior))
    tabled = {
        f"patient_corr[{t}]" for t in terms_.query("kind == 'corr' and level == 'patient'")["term"]
    }
    assert len(studied) == 6 and flagged == studied == tabled
    table = summarize(az.InferenceData(posterior=posterior), var_names=["patient_corr"])
    summarised = {
        scalar_name("patient_corr", [r.component, r.component_]) for r in table.itertuples()
    }
    assert summarised == studied


def test_truth_is_named_as_the_draws():
    posterior = fake_posterior(chains=1, draws=3)
    truth = {name: posterior[name].to_numpy()[0, 0] for name in posterior.data_vars}
    true_values = flatten_truth(truth, posterior)
    assert set(true_values) == set(quantity_draws(posterior))
    assert true_values["icc[patient]"] == pytest.approx(
        float(icc(posterior).sel(rater="patient")[0, 0])
    )


# ---------------------------------------------------------------------------- the ICC
def test_icc_is_the_share_of_level_variance_between_therapists():
    posterior = fake_posterior()
    shares = icc(posterior)
    assert shares.dims == ("chain", "draw", "rater")
    for rater in RATERS:
        between = posterior["therapist_sd"].sel(component=f"{rater}:level") ** 2
        within = posterior["patient_sd"].sel(component=f"{rater}:level") ** 2
        expected = between / (between + within + posterior["sigma"].sel(rater=rater) ** 2)
        np.testing.assert_allclose(shares.sel(rater=rater), expected)
    table = variance_components(az.InferenceData(posterior=posterior)).query("kind == 'icc'")
    studied = quantity_draws(posterior)
    for row in table.itertuples():
        assert row.mean == pytest.approx(studied[f"icc[{row.term}]"].mean())


# ---------------------------------------------------------------------------- old stores
def test_old_pairs_above_the_diagonal_are_renamed_and_new_ones_kept():
    old = {
        "patient_corr[patient:level, patient:growth]": "[patient:growth, patient:level]",
        "patient_corr[patient:level, therapist:level]": "[therapist:level, patient:level]",
        "therapist_corr[patient:growth, therapist:growth]": "[therapist:growth, patient:growth]",
        "therapist_corr[patient:level, patient:growth]": "[patient:growth, patient:level]",
    }
    renamed = renamed_pairs([*old, "sigma[patient]"])
    assert renamed == {k: k.split("[")[0] + v for k, v in old.items()}
    assert renamed_pairs(quantity_draws(fake_posterior(draws=5))) == {}
    # a one-rater label with a colon of its own
    assert renamed_pairs(["patient_corr[a:b:level, a:b:growth]"]) == {
        "patient_corr[a:b:level, a:b:growth]": "patient_corr[a:b:growth, a:b:level]"
    }
