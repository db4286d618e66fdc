"""Tables from a fit: coefficients, variance components, ICC, rater contrast, formats."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pytest
import xarray as xr

from alliance_bayes.summary import (
    format_table,
    rater_contrast,
    summarize,
    variance_components,
)
from conftest import build, make_long_frame


@pytest.mark.slow
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


@pytest.mark.slow
def test_covariate_effects_are_back_transformed_to_raw_units(tiny_fit, tiny_datasets):
    table = summarize(tiny_fit).query("parameter == 'level_coef'")
    sd = tiny_datasets[0].therapist_covariates.sd[0]
    np.testing.assert_allclose(table["mean_raw"], table["mean"] / sd)


@pytest.mark.slow
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


@pytest.mark.slow
def test_rater_contrast_is_patient_minus_therapist(tiny_fit):
    table = rater_contrast(tiny_fit, "growth_coef")
    post = tiny_fit.posterior["growth_coef"]
    diff = post.sel(rater="patient") - post.sel(rater="therapist")
    assert table.iloc[0]["mean"] == pytest.approx(float(diff.mean()))
    assert table.iloc[0]["p_gt_0"] == pytest.approx(float((diff > 0).mean()))
    assert table.attrs["draws"].shape[:2] == (2, 300)


@pytest.mark.slow
def test_rater_contrast_needs_two_raters(tiny_fit):
    one = tiny_fit.posterior[["growth_coef"]].sel(rater=["patient"])
    import arviz as az

    with pytest.raises(ValueError, match="two raters"):
        rater_contrast(az.InferenceData(posterior=one), "growth_coef")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["markdown", "latex", "csv"])
def test_format_table(tiny_fit, fmt):
    text = format_table(summarize(tiny_fit), fmt)
    assert "growth_coef" in text.replace("\\_", "_")
    if fmt == "latex":
        assert text.startswith(r"\begin{tabular}") and text.endswith(r"\end{tabular}")
    if fmt == "markdown":
        assert text.splitlines()[1].startswith("|")


# ------------------------------------------------- rater roles (issue 18): no sampling needed
def fake_fit(raters: list[str], roles: dict[str, str] | None) -> az.InferenceData:
    """A posterior of growth_coef whose first rater's draws are 2 above the second's.

    ``roles`` go into the data attrs as :func:`alliance_bayes.fit` writes them; ``None`` makes
    a fit from before roles were stored.
    """
    noise = np.random.default_rng(1).normal(0, 0.01, (2, 50, 1))  # the same for both raters
    values = np.stack([1 + noise, -1 + noise], axis=2)
    growth_coef = xr.DataArray(
        values,
        dims=("chain", "draw", "rater", "therapist_covariate"),
        coords={"rater": raters, "therapist_covariate": ["burdens"]},
    )
    idata = az.InferenceData(posterior=xr.Dataset({"growth_coef": growth_coef}))
    info = {"rater_labels": raters} | ({} if roles is None else {"rater_roles": roles})
    idata.attrs["data"] = json.dumps(info)
    return idata


def test_contrast_is_built_from_the_stored_roles_not_the_label_order():
    """'client' sorts first, but the stored roles make 'clinician' the patient rater."""
    idata = fake_fit(["client", "clinician"], {"client": "therapist", "clinician": "patient"})
    table = rater_contrast(idata, "growth_coef")
    assert table["mean"].tolist() == pytest.approx([-2.0])  # clinician minus client
    assert table["contrast"].tolist() == ["growth_coef[clinician] - growth_coef[client]"]
    assert table.attrs["label"] == (
        "patient-rated ('clinician') minus therapist-rated ('client') growth_coef"
    )


def test_contrast_of_patient_and_therapist_labels():
    table = rater_contrast(fake_fit(["patient", "therapist"], None), "growth_coef")
    assert table["mean"].tolist() == pytest.approx([2.0])
    assert table.attrs["label"] == "patient-rated minus therapist-rated growth_coef"


def test_contrast_without_roles_is_refused_and_can_be_given():
    idata = fake_fit(["client", "clinician"], None)
    with pytest.raises(ValueError, match=r"rater_roles=\{'client': 'patient'"):
        rater_contrast(idata, "growth_coef")
    roles = {"client": "patient", "clinician": "therapist"}
    assert rater_contrast(idata, "growth_coef", rater_roles=roles)[
        "mean"
    ].tolist() == pytest.approx([2.0])


def test_contrast_refuses_roles_that_contradict_the_stored_ones():
    idata = fake_fit(["client", "clinician"], {"client": "patient", "clinician": "therapist"})
    with pytest.raises(ValueError, match="contradicts the roles stored"):
        rater_contrast(idata, rater_roles={"client": "therapist", "clinician": "patient"})


def test_cli_summary_labels_the_contrast_from_the_roles():
    from alliance_bayes.cli import _report

    idata = fake_fit(["client", "clinician"], {"client": "therapist", "clinician": "patient"})
    text = _report(idata, "markdown")
    assert "Rater contrast (patient-rated ('clinician') minus therapist-rated ('client')" in text
    assert "growth_coef[clinician] - growth_coef[client]" in text


def test_cli_summary_of_a_fit_without_roles_says_why_there_is_no_contrast():
    from alliance_bayes.cli import _report

    text = _report(fake_fit(["client", "clinician"], None), "markdown")
    assert "Rater contrast not shown: this fit does not say which" in text


def test_roles_survive_save_load_and_rebuild(tmp_path):
    """The roles travel in the fit's data attrs through netCDF and back into AllianceData."""
    import alliance_bayes as ab
    from alliance_bayes.models._info import model_info
    from alliance_bayes.result import (
        DataAttrs,
        FitAttrs,
        load,
        rebuild_data,
        save,
        write_data_groups,
    )

    frame = make_long_frame()
    frame["rater"] = frame["rater"].map({"patient": "client", "therapist": "clinician"})
    roles = {"client": "therapist", "clinician": "patient"}
    data = build(frame, rater_roles=roles, scale=(1, 7), therapist_covariates=["burdens"])
    model = ab.growth_model(data)
    idata = fake_fit(["client", "clinician"], None)
    write_data_groups(idata, model)
    FitAttrs(spec=model_info(model).spec, data=DataAttrs.from_data(data)).write(idata)
    back = load(save(idata, tmp_path / "fit.nc"))
    assert rebuild_data(back).rater_roles == roles
    assert rater_contrast(back)["mean"].tolist() == pytest.approx([-2.0])
