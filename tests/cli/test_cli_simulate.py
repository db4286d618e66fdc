"""``alliance-bayes simulate`` writes long or wide data as CSV, Excel or SPSS (no sampling)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import alliance_bayes as ab
from alliance_bayes import ModelSpec, Truth, datasets
from alliance_bayes.cli import app
from conftest import TINY_TRUTH, build, tiny_design

runner = CliRunner()
PATTERN = "alliance_{rater}_s{session}"


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.fixture(scope="module")
def spec_files(tmp_path_factory):
    """A tiny two-rater spec (12 therapists, 4 patients, sessions 1, 2, 4, 8) and its truth."""
    folder = tmp_path_factory.mktemp("spec")
    spec, truth = folder / "tiny.toml", folder / "truth.toml"
    ModelSpec(name="tiny", design=tiny_design()).to_toml(spec)
    Truth(dict(TINY_TRUTH)).to_toml(truth)
    return str(spec), str(truth)


def simulate(spec_files, out, *extra: str):
    spec, truth = spec_files
    args = ["simulate", spec, "--seed", "7", "--truth", truth, "--out", str(out), *extra]
    return runner.invoke(app, args)


@pytest.fixture(scope="module")
def long_csv(spec_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("long") / "sim.csv"
    result = simulate(spec_files, out)
    assert result.exit_code == 0, result.output
    return out


def long_data(frame: pd.DataFrame) -> ab.AllianceData:
    return build(frame, score="alliance", therapist_covariates=["burdens"], scale=(1, 7))


def wide_data(frame: pd.DataFrame, pattern: str = PATTERN, **options) -> ab.AllianceData:
    return ab.AllianceData.from_wide(
        frame,
        therapist="therapist",
        patient="patient",
        columns=pattern,
        therapist_covariates=["burdens"],
        scale=(1, 7),
        **options,
    )


def same_ratings(a: ab.AllianceData, b: ab.AllianceData) -> None:
    """The same ratings of the same therapists, patients, raters and sessions."""
    columns = ["therapist", "patient", "rater", "session", "alliance", "burdens"]
    order = ["therapist", "patient", "rater", "session"]
    left = a.to_frame()[columns].sort_values(order).reset_index(drop=True)
    right = b.to_frame()[columns].sort_values(order).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)


# ---------------------------------------------------------------------------- wide
def test_wide_csv_reads_back_as_the_long_csv(spec_files, long_csv, tmp_path):
    out = tmp_path / "wide.csv"
    result = simulate(spec_files, out, "--format", "wide")
    assert result.exit_code == 0, result.output
    assert "48 rows, wide" in " ".join(result.output.split())
    wide = ab.read_table(out, ids=["therapist", "patient"])
    assert list(wide.columns[:2]) == ["therapist", "patient"]
    assert "alliance_patient_s1" in wide.columns and "alliance_therapist_s8" in wide.columns
    same_ratings(wide_data(wide), long_data(ab.read_table(long_csv, ids=["therapist", "patient"])))
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["columns"] == {"therapist": "therapist", "patient": "patient", "wide": PATTERN}
    assert meta["made_by"].endswith(f"--format wide --pattern '{PATTERN}'")


def test_a_pattern_without_rater_gives_a_row_per_patient_and_rater(spec_files, long_csv, tmp_path):
    out = tmp_path / "wide.csv"
    result = simulate(spec_files, out, "--format", "wide", "--pattern", "wai_s{session}")
    assert result.exit_code == 0, result.output
    wide = ab.read_table(out, ids=["therapist", "patient", "rater"])
    assert len(wide) == 96 and {"wai_s1", "wai_s8", "rater"} <= set(wide.columns)
    long = long_data(ab.read_table(long_csv, ids=["therapist", "patient"]))
    same_ratings(wide_data(wide, "wai_s{session}", rater="rater"), long)
    assert json.loads(out.with_suffix(".json").read_text())["columns"]["rater"] == "rater"


# ---------------------------------------------------------------------------- Excel and SPSS
@pytest.mark.parametrize("suffix", [".xlsx", ".sav"])
def test_excel_and_spss_hold_the_csvs_values(spec_files, long_csv, tmp_path, suffix):
    out = tmp_path / f"sim{suffix}"
    result = simulate(spec_files, out)
    assert result.exit_code == 0, result.output
    written = ab.read_table(out, ids=["therapist", "patient", "rater"])
    expected = ab.read_table(long_csv, ids=["therapist", "patient", "rater"])
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta == json.loads(long_csv.with_suffix(".json").read_text())


@pytest.mark.parametrize("suffix", [".xlsx", ".sav"])
def test_wide_excel_and_spss_read_back_as_the_long_data(spec_files, long_csv, tmp_path, suffix):
    out = tmp_path / f"wide{suffix}"
    result = simulate(spec_files, out, "--format", "wide")
    assert result.exit_code == 0, result.output
    wide = ab.read_table(out, ids=["therapist", "patient"])
    assert np.isnan(wide.filter(like="alliance_").to_numpy()).sum() == 0  # no dropout here
    long = long_data(ab.read_table(long_csv, ids=["therapist", "patient"]))
    same_ratings(wide_data(wide), long)


# ---------------------------------------------------------------------------- refused
@pytest.fixture
def no_simulation(monkeypatch):
    """``datasets.make`` records that it was called instead of simulating."""
    called = []
    monkeypatch.setattr(datasets, "make", lambda *args: called.append(args))
    return called


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--format", "tall"], ["--format 'tall': choose long or wide."]),
        (["--pattern", "wai_s{session}"], ["--pattern names the columns of --format wide"]),
        (
            ["--format", "wide", "--pattern", "wai_{visit}"],
            ["the pattern 'wai_{visit}' has the placeholders ['visit']"],
        ),
    ],
)
def test_bad_layout_options_are_refused_before_simulating(
    spec_files, tmp_path, no_simulation, extra, fragments
):
    out = tmp_path / "sim.csv"
    assert_one_line_error(simulate(spec_files, out, *extra), *fragments)
    assert not out.exists() and not no_simulation


@pytest.mark.parametrize("suffix", [".zsav", ".xls", ".XLSM"])
def test_a_format_that_is_not_written_is_refused(spec_files, tmp_path, no_simulation, suffix):
    out = tmp_path / f"sim{suffix}"
    assert_one_line_error(
        simulate(spec_files, out),
        "files are not written; write .csv, .xlsx (Excel) or .sav (SPSS)",
    )
    assert not out.exists() and not no_simulation


def test_another_suffix_is_csv_as_before(spec_files, long_csv, tmp_path):
    out = tmp_path / "sim.txt"
    assert simulate(spec_files, out).exit_code == 0
    assert out.read_bytes() == long_csv.read_bytes()


@pytest.mark.parametrize("suffix", [".xlsx", ".sav"])
def test_existing_files_need_force(spec_files, tmp_path, no_simulation, suffix):
    out = tmp_path / f"sim{suffix}"
    out.write_bytes(b"mine")
    assert_one_line_error(simulate(spec_files, out), f"sim{suffix} exists; pass --force")
    assert out.read_bytes() == b"mine" and not no_simulation


def test_the_metadata_file_is_protected_too(spec_files, tmp_path, no_simulation):
    (tmp_path / "sim.json").write_text("{}")
    result = simulate(spec_files, tmp_path / "sim.sav", "--format", "wide")
    assert_one_line_error(result, "sim.json exists; pass --force")
    assert (tmp_path / "sim.json").read_text() == "{}" and not no_simulation


def test_force_overwrites(spec_files, tmp_path):
    out = tmp_path / "sim.xlsx"
    out.write_bytes(b"mine")
    result = simulate(spec_files, out, "--format", "wide", "--force")
    assert result.exit_code == 0, result.output
    assert len(ab.read_table(out)) == 48


@pytest.mark.parametrize(("suffix", "package"), [(".xlsx", "openpyxl"), (".sav", "pyreadstat")])
def test_a_missing_writer_is_one_line_naming_the_extra(
    spec_files, tmp_path, monkeypatch, no_simulation, suffix, package
):
    monkeypatch.setitem(sys.modules, package, None)  # importing it raises ImportError
    assert_one_line_error(
        simulate(spec_files, tmp_path / f"sim{suffix}"),
        f"needs the optional package {package!r}",
        'pip install "alliance_bayes[io]"',
    )
    assert not no_simulation
