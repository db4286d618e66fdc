"""Tables from a fit: coefficients, variance components, ICC, rater contrast, formats."""

from __future__ import annotations

import numpy as np
import pytest

from alliance_bayes.summary import (
    format_table,
    rater_contrast,
    summarize,
    variance_components,
)

pytestmark = pytest.mark.slow


def test_summarize_is_tidy_and_matches_the_draws(tiny_fit):
    table = summarize(tiny_fit)
    assert {
        "parameter",
        "rater",
        "covariate",
        "component",
        "mean",
        "sd",
        "lower",
        "upper",
        "p_gt_0",
        "ess_bulk",
        "r_hat",
    } <= set(table.columns)
    row = table.query("parameter == 'growth_coef' and rater == 'patient'").iloc[0]
    draws = tiny_fit.posterior["growth_coef"].sel(rater="patient", therapist_covariate="burdens")
    assert row["mean"] == pytest.approx(float(draws.mean()))
    assert row.p_gt_0 == pytest.approx(float((draws > 0).mean()))
    low, high = np.quantile(draws.values.ravel(), [0.025, 0.975])
    assert (row.lower, row.upper) == pytest.approx((low, high))


def test_covariate_effects_are_back_transformed_to_raw_units(tiny_fit, tiny_datasets):
    table = summarize(tiny_fit).query("parameter == 'level_coef'")
    sd = tiny_datasets[0].therapist_covariates.sd[0]
    np.testing.assert_allclose(table["mean_raw"], table["mean"] / sd)


def test_variance_components_and_icc(tiny_fit):
    table = variance_components(tiny_fit)
    icc = table.query("kind == 'icc'")
    assert list(icc["term"]) == ["patient", "therapist"]
    assert ((icc["mean"] > 0) & (icc["mean"] < 1)).all()
    post = tiny_fit.posterior
    between = post["therapist_sd"].sel(component="patient:level") ** 2
    total = (
        between
        + post["patient_sd"].sel(component="patient:level") ** 2
        + post["sigma"].sel(rater="patient") ** 2
    )
    assert icc.iloc[0]["mean"] == pytest.approx(float((between / total).mean()))
    assert len(table.query("kind == 'corr' and level == 'patient'")) == 6


def test_rater_contrast_is_patient_minus_therapist(tiny_fit):
    table = rater_contrast(tiny_fit, "growth_coef")
    post = tiny_fit.posterior["growth_coef"]
    diff = post.sel(rater="patient") - post.sel(rater="therapist")
    assert table.iloc[0]["mean"] == pytest.approx(float(diff.mean()))
    assert table.iloc[0]["p_gt_0"] == pytest.approx(float((diff > 0).mean()))
    assert table.attrs["draws"].shape[:2] == (2, 300)


def test_rater_contrast_needs_two_raters(tiny_fit):
    one = tiny_fit.posterior[["growth_coef"]].sel(rater=["patient"])
    import arviz as az

    with pytest.raises(ValueError, match="two raters"):
        rater_contrast(az.InferenceData(posterior=one), "growth_coef")


@pytest.mark.parametrize("fmt", ["markdown", "latex", "csv"])
def test_format_table(tiny_fit, fmt):
    text = format_table(summarize(tiny_fit), fmt)
    assert "growth_coef" in text.replace("\\_", "_")
    if fmt == "latex":
        assert text.startswith(r"\begin{tabular}") and text.endswith(r"\end{tabular}")
    if fmt == "markdown":
        assert text.splitlines()[1].startswith("|")
