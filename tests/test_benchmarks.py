"""The competitor benchmark's smoke configuration runs, so the full (manual) suite cannot rot."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "competitors.py"
SAMPLED = ("alliance_bayes", "pymc_nuts", "bambi")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("competitors")
    subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out)], check=True)
    report = json.loads((out / "competitors_smoke.json").read_text())
    return report, (out / "competitors_smoke.md").read_text()


@pytest.mark.slow
def test_every_competitor_reports_its_figures(smoke):
    report, _ = smoke
    rows = {row["competitor"]: row for row in report["rows"]}
    assert set(rows) == {*SAMPLED, "mixedlm"}
    for name in SAMPLED:
        row = rows[name]
        for key in ("compile_s", "sample_s", "min_bulk_ess", "ess_per_s", "max_r_hat"):
            assert math.isfinite(row[key]) and row[key] > 0, (name, key, row[key])
        assert row["divergences"] >= 0
        assert len(row["means"]) == 11  # every shared parameter found under its name
    assert rows["alliance_bayes"]["ours_over_this_ess_per_s"] == 1.0
    assert rows["mixedlm"]["converged"] in (True, False)
    assert report["machine"]["versions"]["bambi"].startswith("0.17")


@pytest.mark.slow
def test_markdown_table_names_machine_and_competitors(smoke):
    report, text = smoke
    assert report["machine"]["cpu"] in text
    for name in (*SAMPLED, "mixedlm"):
        assert f"| {name} |" in text
    assert "time\\|therapist_sigma" in text  # pipes in bambi's names do not break the table


@pytest.mark.slow
def test_competitors_agree_on_the_fixed_effects(smoke):
    """Same data, same model: posterior means of the fixed effects within 0.3 of MixedLM's."""
    report, _ = smoke
    rows = {row["competitor"]: row for row in report["rows"]}
    reference = rows["mixedlm"]["means"]
    for name in SAMPLED:
        for label in ("Intercept", "time", "burdens", "satisfactions"):
            assert abs(rows[name]["means"][label] - reference[label]) < 0.3, (name, label)


# ---------------------------------------------------------------------------- brms (manual)
# The brms comparison itself needs R with brms (manual, not in CI); what carries the comparison's
# correctness is tested here without R: the frame brms reads, the name map and its use.
def _competitors():
    import importlib.util

    spec = importlib.util.spec_from_file_location("competitors", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["competitors"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def competitors():
    return _competitors()


@pytest.fixture(scope="module")
def ceiling(competitors):
    """A small dual-rater data set with ratings at the ceiling, as the brms comparison makes."""
    return competitors.brms_study(
        competitors.Settings(**(competitors.BRMS_SMOKE.__dict__ | {"likelihood": "censored"}))
    )


def test_brms_frame_marks_censored_ratings_and_keeps_our_inputs(competitors, ceiling):
    import numpy as np

    frame = competitors.brms_frame(ceiling)
    observed = np.isfinite(ceiling.score)
    assert len(frame) == observed.sum()
    assert (frame["cens"] == "right").sum() == (ceiling.score[observed] >= 7).sum() > 0
    assert set(frame.loc[frame["y"] < 7, "cens"]) == {"none"}
    np.testing.assert_array_equal(frame["time"], ceiling.time[observed])
    therapist = ceiling.obs_therapist[observed]
    for k, name in enumerate(ceiling.therapist_covariates.names):
        np.testing.assert_array_equal(
            frame[name], ceiling.therapist_covariates.values[therapist, k]
        )
    # a patient id is unique across therapists, and one patient has one therapist
    assert (frame.groupby("patient")["therapist"].nunique() == 1).all()
    assert frame["patient"].nunique() == ceiling.n_patients


def test_brms_frame_refuses_missing_covariates_by_name(competitors, ceiling):
    import dataclasses

    import numpy as np

    values = ceiling.therapist_covariates.values.copy()
    values[2, 1] = np.nan
    covariates = dataclasses.replace(ceiling.therapist_covariates, values=values)
    name = ceiling.therapist_covariates.names[1]
    with pytest.raises(ValueError, match=name):
        competitors.brms_frame(dataclasses.replace(ceiling, therapist_covariates=covariates))


def test_brms_names_map_onto_every_shared_parameter_of_ours(competitors, ceiling):
    """Every shared parameter is found in our posterior under its scalar name, and brms's draws
    (a table as brms writes it) come back under our names, sigma exponentiated, chains kept."""
    import numpy as np
    import pandas as pd

    from alliance_bayes import growth_model
    from alliance_bayes.errors import DataWarning
    from conftest import fake_fit

    with pytest.warns(DataWarning, match="at 7"):  # the ceiling data, on purpose
        posterior = fake_fit(growth_model(ceiling, likelihood="student_t")).posterior
    shared = competitors.brms_shared(ceiling, "student_t")
    ours = competitors.ours_draws(posterior, shared)
    covariates = len(ceiling.therapist_covariates.names)
    # level, growth, sigma per rater; 2 coefficients per rater and covariate; nu; per group 4 SDs
    # and 6 correlations
    assert len(ours) == 2 * 3 + 2 * 2 * covariates + 1 + 2 * (4 + 6)
    assert ours["therapist_sd[therapist:growth]"].shape == posterior["nu"].shape
    value = posterior["patient_corr"].sel(component="therapist:level", component_="patient:growth")
    np.testing.assert_array_equal(
        ours["patient_corr[therapist:level, patient:growth]"], value.to_numpy()
    )
    # brms's table: one row per draw, chains one after the other, sigma on the log scale
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    table = pd.DataFrame(
        {
            ".chain": np.repeat(np.arange(1, chains + 1), draws),
            ".iteration": np.tile(np.arange(1, draws + 1), chains),
        }
    )
    for s in shared:
        flat = ours[s.name].reshape(-1)
        table[s.brms] = np.log(flat) if s.log_scale else flat
    table = table.sample(frac=1.0, random_state=1)  # brms's row order is not relied on
    back = competitors.brms_draws(table, shared)
    for name, array in ours.items():
        np.testing.assert_allclose(back[name], array, rtol=1e-12, err_msg=name)
    assert competitors.agreement(ours, back) == pytest.approx(dict.fromkeys(ours, 0.0), abs=1e-9)
    with pytest.raises(KeyError, match="sd_patient__ratertherapist:time"):
        competitors.brms_draws(table.drop(columns="sd_patient__ratertherapist:time"), shared)


def test_brms_correlation_names_follow_brms_term_order(competitors, ceiling):
    """brms names a correlation by its terms in the order of ``0 + rater + rater:time``
    (levels of both raters first, then the growths), whatever our component order."""
    shared = {s.name: s.brms for s in competitors.brms_shared(ceiling, "normal")}
    assert shared["therapist_corr[patient:growth, patient:level]"] == (
        "cor_therapist__raterpatient__raterpatient:time"
    )
    assert shared["patient_corr[therapist:level, patient:growth]"] == (
        "cor_patient__ratertherapist__raterpatient:time"
    )
    assert shared["sigma[therapist]"] == "b_sigma_ratertherapist"
    assert shared["growth_coef[patient, burdens]"] == "b_raterpatient:time:burdens"
    assert "nu" not in shared


def test_agreement_is_the_mean_difference_in_brms_posterior_sds(competitors):
    import numpy as np

    rng = np.random.default_rng(3)
    brms = {"a": rng.normal(1.0, 2.0, size=(4, 500))}
    ours = {"a": brms["a"] + 0.5}
    expected = 0.5 / brms["a"].std(ddof=1)
    assert competitors.agreement(ours, brms)["a"] == pytest.approx(expected)


def _brms_installed() -> bool:
    import shutil

    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(
        ["Rscript", "-e", "quit(status = !requireNamespace('brms', quietly = TRUE))"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("ALLIANCE_BAYES_BRMS_TESTS") != "1" or not _brms_installed(),
    reason="the manual brms benchmark: set ALLIANCE_BAYES_BRMS_TESTS=1 where R has brms",
)
def test_brms_smoke_comparison_reports_its_figures(tmp_path):
    """Compiles and samples a tiny brms model (a minute or two): manual, not in CI (a machine
    with R and brms would otherwise spend 90 s of every run on it)."""
    subprocess.run(
        [sys.executable, str(SCRIPT), "--brms", "censored", "--smoke", "--out", str(tmp_path)],
        check=True,
    )
    report = json.loads((tmp_path / "brms_smoke.json").read_text())
    ours, theirs = report["rows"]
    assert (ours["competitor"], theirs["competitor"]) == ("alliance_bayes", "brms")
    for key in ("compile_s", "sample_s", "min_bulk_ess", "ess_per_s", "posterior_min_bulk_ess"):
        assert math.isfinite(theirs[key]) and theirs[key] > 0, key
    assert "cens(cens)" in theirs["formula"]
    assert len(theirs["mean_difference_in_sd"]) == len(ours["means"])
    assert "| brms |" in (tmp_path / "brms_smoke.md").read_text()
