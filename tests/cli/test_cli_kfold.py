"""``alliance-bayes kfold fit.nc --by therapist --out DIR`` (issue 21, item 5): resumable."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from alliance_bayes.cli import app
from alliance_bayes.result import save

runner = CliRunner()
ARGS = ["--folds", "2", "--draws", "60", "--tune", "150", "--workers", "1", "--seed", "4"]


@pytest.fixture(scope="module")
def fit_file(tiny_fit, tmp_path_factory):
    path = tmp_path_factory.mktemp("kfold") / "fit.nc"
    save(tiny_fit, path)
    return path


@pytest.mark.slow
def test_kfold_writes_the_table_and_resumes(fit_file, tmp_path):
    out = tmp_path / "cv"
    result = runner.invoke(app, ["kfold", str(fit_file), "--out", str(out), *ARGS])
    assert result.exit_code == 0, result.output
    assert "elpd_kfold = " in result.output and "over 12 therapists in 2 refits" in result.output
    table = pd.read_csv(out / "kfold_therapist.csv")
    assert list(table.columns) == ["therapist", "elpd", "pareto_k"] and len(table) == 12
    records = sorted((out / "records").glob("job_*.json"))
    assert len(records) == 2
    stamps = [p.stat().st_mtime_ns for p in records]
    again = runner.invoke(app, ["kfold", str(fit_file), "--out", str(out), *ARGS])
    assert again.exit_code == 0, again.output
    assert [p.stat().st_mtime_ns for p in records] == stamps  # resumed: nothing refitted
    np.testing.assert_array_equal(pd.read_csv(out / "kfold_therapist.csv")["elpd"], table["elpd"])
    assert json.loads((out / "manifest.json").read_text())["kind"] == "kfold"


@pytest.mark.slow
def test_kfold_refuses_another_study_in_the_same_folder(fit_file, tmp_path):
    out = tmp_path / "cv"
    first = runner.invoke(app, ["kfold", str(fit_file), "--out", str(out), *ARGS])
    assert first.exit_code == 0, first.output
    other = runner.invoke(app, ["kfold", str(fit_file), "--out", str(out), *ARGS[:-1], "5"])
    assert other.exit_code == 2
    assert "error: " in other.output and "different study" in other.output


def test_kfold_names_a_wrong_option(tmp_path):
    fit_file = tmp_path / "fit.nc"
    fit_file.write_bytes(b"")  # the option is checked before the fit is read
    result = runner.invoke(app, ["kfold", str(fit_file), "--out", str(tmp_path), "--by", "rater"])
    assert result.exit_code == 2
    assert "error: --by must be therapist or patient, got 'rater'." in result.output
