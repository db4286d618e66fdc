"""Calibration studies: the store, SBC (passing and catching planted bugs), resume, Dask,
recovery and power.

SBC runs use the therapist regression on a small design (8 clinicians: the data do not swamp
the prior, so a wrong prior shows) and a tiny growth model; fits take a fraction of a second
after the one compile. The SBC uniformity test is Bonferroni-corrected over its quantities at
a family-wise false-alarm rate of 1 % and seeded, so the passing runs are deterministic.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import matplotlib
import matplotlib.pyplot
import numpy as np
import pytest

import alliance_bayes as ab
from alliance_bayes.checks.power import rule_met, run_power
from alliance_bayes.checks.recovery import run_recovery
from alliance_bayes.checks.sbc import records_frame, run_sbc
from alliance_bayes.checks.store import Store, StoreMismatchError

matplotlib.use("Agg")

SPEC = ab.ModelSpec.shipped("razzaque_2015_regression")
SMALL = {"draws": 200, "tune": 200, "chains": 2, "progress": False}


def small_design(n: int = 8) -> ab.Design:
    design = ab.Design.razzaque_2015()
    design.n_therapists = n
    return design


# ---------------------------------------------------------------------------- the store
def test_records_are_checked_and_corrupt_ones_are_redone(tmp_path):
    store = Store(tmp_path)
    store.open({"kind": "sbc", "seed": 1, "n_jobs": 3})
    store.write(0, {"status": "ok", "quantities": {"a": 1}})
    store.write(1, {"status": "ok"})
    assert store.read(0)["quantities"] == {"a": 1}
    path = store.record_path(1)
    path.write_text(path.read_text()[:-10])  # a partial write
    assert store.read(1) is None
    store.write(2, {"status": "ok"})
    content = json.loads(store.record_path(2).read_text())
    content["status"] = "tampered"
    store.record_path(2).write_text(json.dumps(content))
    assert store.done(3) == {0}
    assert not list(store.folder.glob("records/.*tmp"))


def test_a_mismatched_manifest_is_refused(tmp_path):
    store = Store(tmp_path)
    store.open({"kind": "sbc", "seed": 1, "n_jobs": 3})
    store.open({"kind": "sbc", "seed": 1, "n_jobs": 10})  # more jobs of the same study: fine
    assert store.manifest()["n_jobs"] == 10
    with pytest.raises(StoreMismatchError, match="seed"):
        store.open({"kind": "sbc", "seed": 2, "n_jobs": 3})


def test_an_old_store_is_read_under_todays_names_of_correlation_pairs(tmp_path):
    """Records written before the vocabulary module named a pair above the diagonal
    (``[a, b]``, ``a`` first); they are read as ``[b, a]``, as new records name it."""
    store = Store(tmp_path)
    store.open({"kind": "sbc", "seed": 1, "n_jobs": 2})
    q = {"rank": 3, "n_ranked": 9, "truth": 0.1, "mean": 0.0, "sd": 1.0, "quantiles": {"0.5": 0}}
    old = {"patient_corr[patient:level, patient:growth]": q, "sigma[patient]": q}
    store.write(0, {"status": "ok", "quantities": old})
    store.write(
        1, {"status": "ok", "quantities": {"patient_corr[patient:growth, patient:level]": q}}
    )
    frame = records_frame(store)
    assert frame.groupby("quantity")["job"].apply(list).to_dict() == {
        "patient_corr[patient:growth, patient:level]": [0, 1],
        "sigma[patient]": [0],
    }


def test_power_rules():
    assert rule_met("95% interval excludes 0", {"q0.025": -0.3, "q0.975": -0.01})
    assert not rule_met("90% interval excludes 0", {"q0.05": -0.3, "q0.95": 0.01})
    with pytest.raises(ValueError, match="unknown rule"):
        rule_met("P(>0) > 0.9", {})


# ---------------------------------------------------------------------------- SBC
@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    store = tmp_path_factory.mktemp("sbc") / "ok"
    return run_sbc(SPEC, small_design(), 80, store=store, workers=1, random_seed=3, **SMALL)


@pytest.mark.slow
def test_sbc_of_a_small_model_passes(calibrated):
    assert len(calibrated.frame.drop_duplicates("job")) == 80
    table = calibrated.test()
    assert table.attrs["n_quantities"] == len(table) == 7  # intercept, 4 coef, sigma, loglik
    assert not table["flagged"].any(), table
    assert "family-wise false-alarm rate <= 1%" in calibrated.summary()
    assert calibrated.plot_ecdf().axes and calibrated.plot_ranks().axes
    _, axes = matplotlib.pyplot.subplots(1, 2)
    calibrated.plot_ranks(["sigma", "loglik"], ax=axes)
    calibrated.plot_ecdf(["sigma", "loglik"], ax=axes)
    assert [a.get_title() for a in axes] == ["sigma", "loglik"] and axes[1].patches
    with pytest.raises(ValueError, match="ax= got 1 Axes"):
        calibrated.plot_ranks(["sigma", "loglik"], ax=axes[0])


@pytest.mark.slow
def test_sbc_flags_a_fitted_prior_half_as_wide(tmp_path):
    half = ab.ModelSpec.from_dict(SPEC.to_dict())
    half.priors = {"coef": {"sigma": 0.375 / 2}}  # the simulating prior's SD is 0.375
    result = run_sbc(
        SPEC, small_design(), 80, fit_spec=half, store=tmp_path, workers=1, random_seed=3, **SMALL
    )
    flagged = result.test().query("flagged")["quantity"].tolist()
    assert any(q.startswith("coef[") for q in flagged), result.test()


@pytest.mark.slow
def test_sbc_flags_a_too_narrow_posterior(tmp_path):
    result = run_sbc(
        SPEC,
        small_design(),
        80,
        posterior_scale=0.5,
        store=tmp_path,
        workers=1,
        random_seed=3,
        **SMALL,
    )
    assert result.test()["flagged"].sum() >= 3, result.test()


@pytest.mark.slow
def test_sbc_of_a_tiny_growth_model_passes(tmp_path):
    design = ab.Design(
        n_therapists=10,
        patients_per_therapist=3,
        sessions=[1.0, 2.0, 4.0],
        therapist_covariates=ab.CovariateDesign(names=["burdens"]),
        scale=[1.0, 7.0],
    )
    spec = ab.ModelSpec(name="tiny_growth")
    # Seed 5 flagged growth_coef (p_adj 0.008) once the integrated model changed (new kernel and
    # partial correlations); 200 simulations of the same study seed showed it calibrated
    # (p 0.41, nothing flagged), so that was this test's 1 % false alarm. Seed 7 is a fresh draw.
    # With the SDs on the probit_linear scale, 40 simulations flagged patient_sd[patient:growth]
    # (p_adj 0.005); 80 (this test: p 0.034, p_adj 0.44) and 200 (p 0.14) of the same study
    # seed flagged nothing, nor did 100 of the dual-rater Nissen-Lie spec (benchmarks/README.md).
    result = run_sbc(spec, design, 80, store=tmp_path, workers=1, random_seed=7, **SMALL)
    table = result.test()
    assert {"icc[patient]", "loglik", "growth_coef[patient, burdens]"} <= set(table["quantity"])
    assert not table["flagged"].any(), table


# ---------------------------------------------------------------------------- resume, Dask
RESUME_SCRIPT = textwrap.dedent("""
    import sys
    import alliance_bayes as ab
    from alliance_bayes.checks.sbc import run_sbc
    design = ab.Design.razzaque_2015(); design.n_therapists = 8
    run_sbc(ab.ModelSpec.shipped("razzaque_2015_regression"), design, {n}, store=sys.argv[1],
            workers=1, random_seed=3, draws=200, tune=200, chains=2, progress=False)
""")


@pytest.mark.slow
def test_a_killed_study_resumes_to_the_same_ranks(tmp_path, calibrated):
    """Resumed, the killed study's records equal those of ``calibrated``'s first ``n`` jobs: the
    same study run straight (same spec, design, settings and seed)."""
    n = 40
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", RESUME_SCRIPT.format(n=n), str(killed)])
    deadline = time.time() + 300
    while len(list((killed / "records").glob("job_*.json"))) < 5 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(Store(killed).done(n))
    assert 5 <= done_before < n, "the study should have been killed part way"
    design = small_design()
    resumed = run_sbc(SPEC, design, n, store=killed, workers=1, random_seed=3, **SMALL)
    straight = calibrated.frame[calibrated.frame["job"] < n]
    columns = ["job", "quantity", "rank", "n_ranked", "truth"]
    a = resumed.frame[columns].sort_values(["job", "quantity"]).reset_index(drop=True)
    b = straight[columns].sort_values(["job", "quantity"]).reset_index(drop=True)
    assert len(a) == len(b) == n * 7
    assert a.equals(b)


@pytest.mark.slow
def test_dask_cluster_gives_the_same_results_as_the_local_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    design = small_design()
    pool = run_sbc(SPEC, design, 6, store=tmp_path / "pool", workers=2, random_seed=21, **SMALL)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        dask = run_sbc(
            SPEC, design, 6, store=tmp_path / "dask", client=client, random_seed=21, **SMALL
        )
    columns = ["job", "quantity", "rank", "n_ranked", "truth", "mean"]
    a = pool.frame[columns].sort_values(["job", "quantity"]).reset_index(drop=True)
    b = dask.frame[columns].sort_values(["job", "quantity"]).reset_index(drop=True)
    assert len(a) == 6 * 7
    assert a.equals(b)


def test_failed_jobs_are_recorded_and_the_study_goes_on(tmp_path):
    from alliance_bayes.checks.jobs import Job, run_job

    bad = SPEC.to_dict() | {"therapist_covariates": ["no_such_covariate"]}
    record = run_job(
        Job(
            index=0,
            study_seed=1,
            spec=bad,
            fit_spec=bad,
            design=small_design().to_dict(),
            truth=None,
        )
    )
    assert record["status"] == "failed"
    assert "no_such_covariate" in record["reason"]


# ---------------------------------------------------------------------------- recovery, power
@pytest.mark.slow
def test_recovery_table_and_plot(tmp_path):
    truth = ab.Truth.razzaque_2015()
    result = run_recovery(
        SPEC, small_design(30), truth, 12, store=tmp_path, workers=1, random_seed=1, **SMALL
    )
    table = result.table()
    row = table.set_index("quantity").loc["coef[presence]"]
    assert row["truth"] == pytest.approx(0.15)
    assert row["n_reps"] == 12
    assert 0 <= row["coverage_95%"] <= 1 and row["coverage_95%_se"] >= 0
    assert 0 < row["contraction"] < 1
    assert np.isfinite(table["rmse"]).all()
    assert result.plot(["coef[presence]", "sigma"]).axes
    _, axes = matplotlib.pyplot.subplots(1, 2)  # a paper's own panels (issue 23)
    assert result.plot(["coef[presence]", "sigma"], ax=axes).axes == list(axes)
    assert axes[0].get_title() == "coef[presence]" and axes[0].lines


@pytest.mark.slow
def test_power_grows_with_the_number_of_therapists(tmp_path):
    truth = ab.Truth(
        {
            "intercept": 5.0,
            "coef": {"presence": 0.4, "acceptance": 0.0, "openness": 0.0, "insight": 0.0},
            "sigma": 0.4,
        }
    )
    designs = {"8 clinicians": small_design(8), "60 clinicians": small_design(60)}
    result = run_power(
        SPEC,
        designs,
        truth,
        12,
        target="coef[presence]",
        store=tmp_path,
        workers=1,
        random_seed=2,
        **SMALL,
    )
    table = result.table().set_index("design")
    assert table.loc["60 clinicians", "assurance"] > table.loc["8 clinicians", "assurance"]
    assert (table["mc_se"] >= 0).all()
    assert result.plot().axes
    fig, ax = matplotlib.pyplot.subplots()
    assert result.plot(ax=ax) is fig and ax.get_ylabel() == "assurance (power)"
    with pytest.raises(KeyError, match="not among"):
        type(result).from_store(tmp_path, target="nope", rule=result.rule).table()


@pytest.mark.slow
def test_cli_sbc_resumes_and_reports(tmp_path):
    from typer.testing import CliRunner

    from alliance_bayes.cli import app

    spec = ab.ModelSpec.from_dict(SPEC.to_dict())
    spec.design = small_design()
    spec_file = tmp_path / "small.toml"
    spec.to_toml(spec_file)
    out = tmp_path / "study"
    args = [
        "sbc",
        str(spec_file),
        "--n",
        "6",
        "--out",
        str(out),
        "--workers",
        "1",
        "--draws",
        "100",
        "--tune",
        "100",
        "--seed",
        "4",
    ]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "records").glob("*.json")}
    assert len(stamps) == 6
    again = runner.invoke(app, args)  # the same command resumes: nothing left to run
    assert again.exit_code == 0, again.output
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (out / "records").glob("*.json")}
    for name in ("sbc_test.csv", "sbc_test.md", "sbc_ecdf.png", "sbc_ranks.png"):
        assert (out / name).exists()
    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0 and "simulations" in report.output


def test_study_jobs_simulate_on_the_designs_instrument_scale(monkeypatch):
    """A design with a sum score gives the fitted model integer sums in range, as a study of
    that instrument will have (the fit itself is stopped: no sampling)."""
    from alliance_bayes.checks import jobs
    from alliance_bayes.models._info import model_info
    from conftest import tiny_design

    class Fitted(Exception):
        pass

    def stop(model, **settings):
        raise Fitted(model_info(model).data)

    monkeypatch.setattr(jobs, "fit", stop)
    design = tiny_design()
    design.raters, design.therapist_covariates = ["patient"], ab.CovariateDesign()
    design.score, design.scale = {"kind": "sum", "items": 4, "item_low": 1, "item_high": 7}, None
    design = ab.Design.from_dict(design.to_dict())  # the scale becomes the sum's, 4-28
    spec = ab.ModelSpec(kind="growth", likelihood="normal")
    truth = {
        "level": 16,
        "growth": 1.0,
        "sigma": 3.0,
        "therapist_sd": 1.0,
        "patient_sd": 2.0,
        "therapist_corr": {},
        "patient_corr": {},
    }
    job = jobs.Job(0, 1, spec.to_dict(), spec.to_dict(), design.to_dict(), truth)
    with pytest.raises(Fitted) as fitted:
        jobs._run(job)
    scores = fitted.value.args[0].score
    scores = scores[np.isfinite(scores)]
    assert np.array_equal(scores, np.round(scores)) and scores.min() >= 4 and scores.max() <= 28
