"""The command line: fit a CSV, summarise the fit, and the shipped specs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alliance_bayes import ModelSpec, datasets
from alliance_bayes.cli import app

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"

runner = CliRunner()


def test_shipped_specs_round_trip():
    names = sorted(p.stem for p in MODELS_DIR.glob("*.toml"))
    assert names == [
        "alliance_full_dual_rater",
        "nissen_lie_2013_dual_rater",
        "nissen_lie_2013_patient",
        "razzaque_2015_regression",
    ]
    for path in MODELS_DIR.glob("*.toml"):
        spec = ModelSpec.from_toml(path)
        assert ModelSpec.from_toml(spec.to_toml()) == spec
        assert spec.design is not None


def test_unknown_spec_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["fit", __file__, "--spec", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "no model spec 'nope'" in result.output
    assert "nissen_lie_2013_dual_rater" in result.output


@pytest.mark.slow
def test_fit_and_summary_commands(tmp_path):
    csv = tmp_path / "razzaque.csv"
    datasets.load_frame("razzaque_2015").to_csv(csv, index=False)
    out = tmp_path / "fit.nc"
    result = runner.invoke(
        app,
        [
            "fit",
            str(csv),
            "--spec",
            "razzaque_2015_regression",
            "--out",
            str(out),
            "--draws",
            "200",
            "--tune",
            "300",
            "--chains",
            "2",
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.exists()
    for fmt, marker in (
        ("markdown", "| parameter"),
        ("latex", r"\begin{tabular}"),
        ("csv", "parameter,"),
    ):
        result = runner.invoke(app, ["summary", str(out), "--format", fmt])
        assert result.exit_code == 0, result.output
        assert marker in result.output
        assert "r2" in result.output
