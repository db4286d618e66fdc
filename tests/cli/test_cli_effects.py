"""``alliance-bayes effects``: the conditional effects figure and table of a saved fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import alliance_bayes as ab
from alliance_bayes.cli import app
from conftest import fake_fit

runner = CliRunner()


@pytest.fixture(scope="module")
def fit_file(tiny_datasets, tmp_path_factory):
    path = tmp_path_factory.mktemp("effects") / "fit.nc"
    ab.save(fake_fit(ab.growth_model(tiny_datasets[0]), draws=20), path)
    return path


def _run(*args: str):
    return runner.invoke(app, ["effects", *args])


def test_writes_figure_and_table(fit_file, tmp_path):
    figure, table = tmp_path / "fig.png", tmp_path / "effects.csv"
    args = [str(fit_file), "--covariate", "burdens", "--out", str(figure)]
    result = _run(*args, "--table", str(table), "--sessions", "1,8", "--values", "-1,0,1")
    assert result.exit_code == 0, result.output
    assert figure.stat().st_size > 0 and figure.read_bytes()[:4] == b"\x89PNG"
    written = pd.read_csv(table)
    assert list(written.columns[:5]) == ["covariate", "rater", "session", "time", "per"]
    assert set(written["rater"]) == {"patient", "therapist", "patient - therapist"}
    assert sorted(set(written["session"])) == [1, 8] and set(written["per"]) == {"SD", "unit"}
    expected = ab.conditional_effect_table(ab.load(fit_file), "burdens", sessions=[1, 8])
    np.testing.assert_allclose(written["mean"], expected["mean"], rtol=1e-5)
    assert "per SD of burdens" in result.output and "patient - therapist" in result.output
    # an existing output needs --force
    again = _run(*args)
    assert again.exit_code == 2 and "exists; pass --force" in again.output
    assert _run(*args, "--force", "--raw", "--values=0,1").exit_code == 0


def test_outputs_checked_before_the_fit_is_read(fit_file, tmp_path):
    existing = tmp_path / "fig.pdf"
    existing.write_text("keep me")
    result = _run(str(fit_file), "--covariate", "nope", "--out", str(existing))
    assert result.exit_code == 2 and "exists; pass --force" in result.output
    assert existing.read_text() == "keep me"
    result = _run(str(fit_file), "--covariate", "burdens", "--out", str(tmp_path / "fig.txt"))
    assert result.exit_code == 2 and ".png, .svg or .pdf" in result.output


def test_user_errors_are_one_line_and_exit_2(fit_file, tmp_path):
    out = str(tmp_path / "fig.svg")
    result = _run(str(fit_file), "--covariate", "mindfulness", "--out", out)
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "['burdens']" in result.output
    assert result.output.count("\n") == 1  # one line
    result = _run(str(fit_file), "--covariate", "burdens", "--out", out, "--values", "a,b")
    assert result.exit_code == 2 and "--values 'a,b'" in result.output
    result = _run(str(fit_file), "--covariate", "burdens", "--out", out, "--prob", "2")
    assert result.exit_code == 2 and "--prob" in result.output
    assert not (tmp_path / "fig.svg").exists()
