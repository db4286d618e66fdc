"""Shipped data sets load (also from an installed wheel) and regenerate byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alliance_bayes import datasets
from alliance_bayes.cli import app

ROOT = Path(__file__).resolve().parents[1]


def test_available_and_load():
    assert datasets.available() == ["nissen_lie_2013", "razzaque_2015"]
    nissen = datasets.load("nissen_lie_2013")
    assert (nissen.n_therapists, nissen.n_patients) == (70, 227)
    assert nissen.rater_labels == ("patient", "therapist")
    assert nissen.therapist_covariates.names == ("burdens", "satisfactions", "mindfulness")
    razzaque = datasets.load("razzaque_2015")
    assert razzaque.n_therapists == 76 and razzaque.n_obs == 76
    with pytest.raises(KeyError, match="available"):
        datasets.load("nope")


@pytest.mark.parametrize(
    ("name", "spec", "extra"),
    [
        (
            "nissen_lie_2013",
            "alliance_full_dual_rater",
            ["--truth", "nissen_lie_2013", "--likelihood", "censored"],
        ),
        ("razzaque_2015", "razzaque_2015_regression", []),
    ],
)
def test_simulate_command_regenerates_the_shipped_files(tmp_path, name, spec, extra):
    meta = datasets.metadata(name)
    out = tmp_path / f"{name}.csv"
    result = CliRunner().invoke(
        app, ["simulate", spec, "--seed", str(meta["seed"]), "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    shipped = ROOT / "data" / "simulated"
    assert out.read_bytes() == (shipped / f"{name}.csv").read_bytes()
    assert json.loads(out.with_suffix(".json").read_text()) == json.loads(
        (shipped / f"{name}.json").read_text()
    )


@pytest.mark.slow
def test_load_works_from_an_installed_wheel(tmp_path):
    """Build the wheel, unpack it away from the checkout and load a data set from there."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
    )
    wheel = next(tmp_path.glob("alliance_bayes-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import alliance_bayes, alliance_bayes.datasets as d; "
        "assert 'site' in alliance_bayes.__file__, alliance_bayes.__file__; "
        "print(d.load('nissen_lie_2013').n_patients)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "227"


def test_datasets_is_an_attribute_of_the_package_in_a_new_process():
    # README's quick start calls ab.datasets.load(...) right after `import alliance_bayes as ab`
    code = "import alliance_bayes as ab; print(ab.datasets.load('razzaque_2015').n_therapists)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "76"
