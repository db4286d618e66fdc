"""The command line: fit a CSV, summarise the fit, and the shipped specs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alliance_bayes import ModelSpec, Truth, datasets
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


# ---------------------------------------------------------------------------- a spec's truth
def test_shipped_specs_name_their_truth_preset():
    expected = {
        "alliance_full_dual_rater": "nissen_lie_2013",
        "nissen_lie_2013_dual_rater": "nissen_lie_2013",
        "nissen_lie_2013_patient": "nissen_lie_2013",
        "razzaque_2015_regression": "razzaque_2015",
    }
    for name, truth in expected.items():
        assert ModelSpec.shipped(name).truth == truth
        assert truth in Truth.preset_names()


def test_spec_truth_round_trips_and_must_be_a_name():
    spec = ModelSpec(name="m", truth="nissen_lie_2013")
    assert ModelSpec.from_toml(spec.to_toml()) == spec
    assert 'truth = "nissen_lie_2013"' in spec.to_toml()
    assert ModelSpec.from_toml(ModelSpec(name="m").to_toml()).truth is None
    with pytest.raises(ValueError, match="truth must name a truth preset"):
        ModelSpec(name="m", truth={"sigma": 0.3})  # type: ignore[arg-type]
