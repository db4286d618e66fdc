"""The command line: fit a CSV, summarise the fit, and the shipped specs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from alliance_bayes import Design, ModelSpec, Truth, datasets
from alliance_bayes.cli import app

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"

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


# ---------------------------------------------------------------------------- errors and outputs
# The fit command is stopped where the model would be built: these tests need no sampling.
COLUMNS = "therapist,patient,session,alliance,burdens,satisfactions\n"


class Stopped(Exception):
    """Raised instead of building (and sampling) the model."""


@pytest.fixture
def no_sampling(monkeypatch):
    """``fit`` stops where the model would be built; the data it was given are kept."""
    import alliance_bayes.models

    seen = {}

    def stop(data, spec):
        seen["data"] = data
        raise Stopped

    monkeypatch.setattr(alliance_bayes.models, "build_model", stop)
    return seen


def write_ratings(path: Path, therapists=("T1", "T2", "T3")) -> Path:
    rows = [
        f"{t},{t}-P{p},{s},{4 + 0.1 * s + 0.2 * p},{k * 0.5},{k * 0.3}\n"
        for k, t in enumerate(therapists)
        for p in range(3)
        for s in (1, 2, 4)
    ]
    path.write_text(COLUMNS + "".join(rows))
    return path


def fit_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["fit", str(data), "--spec", "nissen_lie_2013_patient", "--out", str(out), *extra]


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.mark.parametrize(
    ("content", "extra", "fragments"),
    [
        (b"", [], ["is empty: no header row"]),
        (
            COLUMNS.encode() + "Jos\xe9,P1,1,4,0,0\n".encode("latin-1"),
            [],
            ["is not UTF-8 text (byte 0xe9", "save it as a UTF-8 CSV"],
        ),
        (None, ["--scale", "1,7,9"], ["--scale '1,7,9'", "two numbers"]),
        (None, ["--scale", "one,seven"], ["--scale 'one,seven'", "two numbers"]),
        (None, ["--scale", "7,1"], ["low end must be below the high end"]),
        (None, ["--rater", "who"], ["--rater 'who' is not a column of", "therapist, patient"]),
        (None, ["--score", "wai"], ["column 'wai' is not in the data frame"]),
    ],
    ids=["empty", "latin-1", "scale-3", "scale-text", "scale-reversed", "rater", "validation"],
)
def test_bad_input_is_one_error_line_and_exit_code_2(
    tmp_path, no_sampling, content, extra, fragments
):
    data = tmp_path / "ratings.csv"
    if content is None:
        write_ratings(data)
    else:
        data.write_bytes(content)
    result = runner.invoke(app, fit_args(data, tmp_path / "fit.nc", *extra))
    assert_one_line_error(result, *fragments)
    assert "data" not in no_sampling  # refused before the model


def test_malformed_toml_spec_is_one_error_line_naming_the_file(tmp_path):
    spec = tmp_path / "mine.toml"
    spec.write_text("[model\nname = 'x'\n")
    data = write_ratings(tmp_path / "ratings.csv")
    result = runner.invoke(app, ["fit", str(data), "--spec", str(spec), "--out", "x.nc"])
    assert_one_line_error(result, f"{spec} is not valid TOML", "line 1")


def test_debug_shows_the_traceback(tmp_path):
    data = tmp_path / "empty.csv"
    data.write_text("")
    result = runner.invoke(app, ["--debug", *fit_args(data, tmp_path / "fit.nc")])
    assert result.exit_code == 1
    assert not isinstance(result.exception, SystemExit)
    assert "is empty" in str(result.exception)
    assert result.exc_info is not None and result.exc_info[2] is not None  # the traceback


def test_ids_are_read_as_text_so_01_and_1_stay_two_therapists(tmp_path, no_sampling):
    data = write_ratings(tmp_path / "ratings.csv", therapists=("01", "1", "2"))
    with pytest.raises(Stopped):
        runner.invoke(app, fit_args(data, tmp_path / "fit.nc"), catch_exceptions=False)
    assert no_sampling["data"].n_therapists == 3
    assert sorted(no_sampling["data"].coords["therapist"]) == ["01", "1", "2"]


def test_fit_never_overwrites_an_existing_file_without_force(tmp_path, no_sampling):
    data = write_ratings(tmp_path / "ratings.csv")
    out = tmp_path / "fit.nc"
    out.write_text("a thesis' fit")
    result = runner.invoke(app, fit_args(data, out))
    assert_one_line_error(result, f"{out} exists; pass --force")
    assert out.read_text() == "a thesis' fit"
    assert "data" not in no_sampling
    with pytest.raises(Stopped):  # --force passes the check and reaches the model
        runner.invoke(app, fit_args(data, out, "--force"), catch_exceptions=False)


def test_fit_never_overwrites_its_input_even_with_force(tmp_path):
    data = write_ratings(tmp_path / "ratings.csv")
    before = data.read_bytes()
    result = runner.invoke(app, fit_args(data, data, "--force"))
    assert_one_line_error(result, "is an input of this command")
    assert data.read_bytes() == before


def test_fit_output_folder_is_checked_before_the_data_are_read(tmp_path, no_sampling):
    data = write_ratings(tmp_path / "ratings.csv")
    result = runner.invoke(app, fit_args(data, tmp_path / "no" / "such" / "fit.nc"))
    assert_one_line_error(result, "the folder", "does not exist")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = runner.invoke(app, fit_args(data, tmp_path / "a-file" / "fit.nc"))
    assert_one_line_error(result, "does not exist")
    result = runner.invoke(app, fit_args(data, tmp_path))
    assert_one_line_error(result, "is a folder; --out needs a file name")
    assert "data" not in no_sampling


# ---------------------------------------------------------------------------- simulate
@pytest.fixture
def no_simulation(monkeypatch):
    """``simulate`` records the spec and truth it would simulate from and writes a tiny frame."""
    import pandas as pd

    seen = {}

    def make(spec, truth, seed):
        seen.update(spec=spec, truth=truth, seed=seed)
        return pd.DataFrame({"alliance": [4.0]}), {"truth": truth.values}

    monkeypatch.setattr(datasets, "make", make)
    return seen


def test_simulate_refuses_an_out_where_data_and_metadata_collide(tmp_path, no_simulation):
    out = tmp_path / "x.json"
    result = runner.invoke(
        app, ["simulate", "razzaque_2015_regression", "--seed", "1", "--out", str(out)]
    )
    assert_one_line_error(result, "the data (CSV) and its metadata (JSON)", str(out))
    assert not out.exists() and not no_simulation


def test_simulate_never_overwrites_without_force(tmp_path, no_simulation):
    out = tmp_path / "sim.csv"
    (tmp_path / "sim.json").write_text("{}")
    args = ["simulate", "razzaque_2015_regression", "--seed", "1", "--out", str(out)]
    result = runner.invoke(app, args)
    assert_one_line_error(result, "sim.json exists; pass --force")
    assert (tmp_path / "sim.json").read_text() == "{}" and not no_simulation
    result = runner.invoke(app, [*args, "--force"])
    assert result.exit_code == 0, result.output
    assert out.read_text() == "alliance\n4\n"


def test_simulate_uses_the_specs_own_truth_or_a_truth_file(tmp_path, no_simulation):
    result = runner.invoke(
        app,
        ["simulate", "nissen_lie_2013_patient", "--seed", "1", "--out", str(tmp_path / "a.csv")],
    )
    assert result.exit_code == 0, result.output
    assert no_simulation["truth"] == Truth.nissen_lie_2013()
    assert "--truth nissen_lie_2013" in (tmp_path / "a.json").read_text()

    truth = Truth.nissen_lie_2013()
    truth.values["sigma"] = {"patient": 0.5, "therapist": 0.5}
    truth_file = tmp_path / "truth.toml"
    truth.to_toml(truth_file)
    own = tmp_path / "own.toml"
    ModelSpec(name="own", design=ModelSpec.shipped("nissen_lie_2013_patient").design).to_toml(own)
    args = ["simulate", str(own), "--seed", "1", "--out", str(tmp_path / "b.csv")]
    result = runner.invoke(app, args)
    assert_one_line_error(result, "model spec 'own' names no truth", "--truth FILE.toml")
    result = runner.invoke(app, [*args, "--truth", str(truth_file)])
    assert result.exit_code == 0, result.output
    assert no_simulation["truth"] == truth
    assert f"--truth {truth_file}" in (tmp_path / "b.json").read_text()


def test_simulate_refuses_a_bad_truth_file_in_one_line(tmp_path, no_simulation):
    truth_file = tmp_path / "truth.toml"
    truth_file.write_text("[truth]\nsigma = '0.3'\n")
    result = runner.invoke(
        app,
        ["simulate", "nissen_lie_2013_patient", "--seed", "1", "--truth", str(truth_file),
         "--out", str(tmp_path / "a.csv")],
    )  # fmt: skip
    assert_one_line_error(result, f"{truth_file} is not a valid truth", "numbers only")
    result = runner.invoke(
        app,
        ["simulate", "nissen_lie_2013_patient", "--seed", "1", "--truth", "nissen_lie_2031",
         "--out", str(tmp_path / "a.csv")],
    )  # fmt: skip
    assert_one_line_error(result, "--truth 'nissen_lie_2031' is neither a truth preset")
    own = tmp_path / "own.toml"
    ModelSpec(name="own", design=Design.preset("nissen_lie_2013"), truth="mine").to_toml(own)
    result = runner.invoke(
        app, ["simulate", str(own), "--seed", "1", "--out", str(tmp_path / "b.csv")]
    )
    assert_one_line_error(result, "model spec 'own' names the truth 'mine', which is not a preset")
    assert not no_simulation


def test_simulate_the_patient_spec_without_truth_end_to_end(tmp_path):
    """The shipped nissen_lie_2013_patient failed with "unknown truth preset"; no MCMC here."""
    out = tmp_path / "patient.csv"
    result = runner.invoke(
        app, ["simulate", "nissen_lie_2013_patient", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert set(frame["rater"]) == {"patient"} and frame["therapist"].nunique() == 70


# ---------------------------------------------------------------------------- studies
@pytest.fixture
def no_study(monkeypatch):
    """``sbc``, ``recovery`` and ``power`` record what they would run instead of running it."""
    import alliance_bayes.checks.power
    import alliance_bayes.checks.recovery
    import alliance_bayes.checks.sbc

    seen = {}

    def run(*args, **kwargs):
        seen.update(kwargs, args=args)
        raise Stopped

    monkeypatch.setattr(alliance_bayes.checks.recovery, "run_recovery", run)
    monkeypatch.setattr(alliance_bayes.checks.power, "run_power", run)
    monkeypatch.setattr(alliance_bayes.checks.sbc, "run_sbc", run)
    return seen


def test_recovery_and_power_take_the_specs_truth_or_a_truth_file(tmp_path, no_study):
    with pytest.raises(Stopped):
        runner.invoke(
            app,
            ["recovery", "nissen_lie_2013_patient", "--n", "1", "--out", str(tmp_path / "r")],
            catch_exceptions=False,
        )
    assert no_study["truth"] == Truth.nissen_lie_2013()
    own = tmp_path / "own.toml"
    ModelSpec(name="own", design=ModelSpec.shipped("nissen_lie_2013_patient").design).to_toml(own)
    args = ["power", str(own), "--n", "1", "--therapists", "20,40", "--out", str(tmp_path / "p")]
    no_study.clear()
    assert_one_line_error(runner.invoke(app, args), "model spec 'own' names no truth")
    truth_file = tmp_path / "truth.toml"
    Truth.nissen_lie_2013().to_toml(truth_file)
    with pytest.raises(Stopped):
        runner.invoke(app, [*args, "--truth", str(truth_file)], catch_exceptions=False)
    assert no_study["args"][2] == Truth.nissen_lie_2013()


def test_a_truth_that_does_not_fit_the_model_is_refused_before_the_study(tmp_path, no_study):
    result = runner.invoke(
        app,
        ["recovery", "nissen_lie_2013_patient", "--truth", "razzaque_2015", "--n", "1",
         "--out", str(tmp_path / "r")],
    )  # fmt: skip
    assert_one_line_error(result, "truth is missing", "growth_coef")
    assert not no_study and not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["sbc", "recovery", "power"])
def test_a_study_folder_that_is_a_file_is_refused_before_the_study(tmp_path, no_study, command):
    out = tmp_path / "study"
    out.write_text("not a folder")
    result = runner.invoke(app, [command, "nissen_lie_2013_patient", "--n", "1", "--out", str(out)])
    assert_one_line_error(result, f"{out} is a file; --out needs a folder")
    assert not no_study


def test_power_refuses_therapist_counts_that_are_not_whole_numbers(tmp_path, no_study):
    result = runner.invoke(
        app,
        ["power", "nissen_lie_2013_patient", "--therapists", "20,4o", "--out", str(tmp_path / "p")],
    )
    assert_one_line_error(result, "--therapists '20,4o'")
    assert not no_study


# ---------------------------------------------------------------------------- ppc
def test_ppc_never_overwrites_an_earlier_run_without_force(tmp_path):
    out = tmp_path / "checks"
    out.mkdir()
    (out / "density.png").write_bytes(b"earlier figure")
    fit_file = tmp_path / "fit.nc"
    fit_file.write_text("not read: the folder is checked first")
    result = runner.invoke(app, ["ppc", str(fit_file), "--out", str(out)])
    assert_one_line_error(result, "already holds density.png", "--force")
    assert (out / "density.png").read_bytes() == b"earlier figure"
    result = runner.invoke(app, ["ppc", str(fit_file), "--out", str(fit_file)])
    assert_one_line_error(result, "is a file; --out needs a folder")


def write_two_raters(path: Path, labels=("client", "clinician")) -> Path:
    """``write_ratings``' data rated by two raters with the user's own labels."""
    single = write_ratings(path.with_name("single.csv")).read_text().splitlines()
    rows = [f"{line},{label}" for line in single[1:] for label in labels]
    path.write_text("\n".join([single[0] + ",informant", *rows]) + "\n")
    return path


def test_fit_asks_for_the_roles_of_raters_with_other_labels(tmp_path, no_sampling):
    data = write_two_raters(tmp_path / "ratings.csv")
    result = runner.invoke(app, fit_args(data, tmp_path / "fit.nc", "--rater", "informant"))
    assert_one_line_error(result, "--rater-roles client=patient,clinician=therapist")
    assert "data" not in no_sampling


def test_fit_takes_the_roles_of_raters_with_other_labels(tmp_path, no_sampling):
    data = write_two_raters(tmp_path / "ratings.csv")
    roles = ["--rater", "informant", "--rater-roles", "clinician=therapist, client=patient"]
    with pytest.raises(Stopped):
        runner.invoke(app, fit_args(data, tmp_path / "fit.nc", *roles), catch_exceptions=False)
    assert no_sampling["data"].rater_roles == {"client": "patient", "clinician": "therapist"}


@pytest.mark.parametrize("roles", ["client", "client=patient,clinician", "=patient"])
def test_malformed_rater_roles_are_one_line(tmp_path, roles):
    data = write_two_raters(tmp_path / "ratings.csv")
    args = fit_args(data, tmp_path / "fit.nc", "--rater", "informant", "--rater-roles", roles)
    assert_one_line_error(runner.invoke(app, args), "--rater-roles", "label=role")


@pytest.mark.parametrize("command", ["sbc", "recovery", "power"])
def test_the_shared_study_options_reach_the_study_as_settings_and_executor(
    tmp_path, no_study, command
):
    from alliance_bayes.checks import FitSettings

    args = [command, "nissen_lie_2013_patient", "--n", "1", "--out", str(tmp_path / "s")]
    shared = ["--workers", "3", "--draws", "7", "--tune", "8", "--chains", "1", "--seed", "5"]
    with pytest.raises(Stopped):
        runner.invoke(app, [*args, *shared, "--adopt"], catch_exceptions=False)
    assert no_study["settings"] == FitSettings(draws=7, tune=8, chains=1)
    assert (no_study["executor"], no_study["random_seed"], no_study["adopt"]) == (3, 5, True)
    no_study.clear()
    with pytest.raises(Stopped):  # a scheduler wins over --workers, as before
        runner.invoke(app, [*args, "--workers", "3", "--scheduler", "tcp://h:1"],
                      catch_exceptions=False)  # fmt: skip
    assert no_study["executor"] == "tcp://h:1"
    assert no_study["settings"] == FitSettings()  # the defaults of run_sbc & co.


# ---------------------------------------------------------------------------- wide, Excel, SPSS
WIDE_PATTERN = "wai_{rater}_s{session}"
ROLE_ARGS = ["--rater-roles", "client=patient,clinician=therapist"]


def wide_two_raters(tmp_path: Path) -> pd.DataFrame:
    """``write_two_raters``' ratings, one row per patient, a column per rater and session."""
    from alliance_bayes.io import long_to_wide

    long = pd.read_csv(write_two_raters(tmp_path / "long.csv"), dtype={"therapist": str})
    ids = {"id_columns": ["therapist", "patient"], "score": "alliance", "time": "session"}
    return long_to_wide(long, WIDE_PATTERN, rater="informant", **ids)


def fitted_data(args: list[str], seen: dict):
    with pytest.raises(Stopped):
        runner.invoke(app, args, catch_exceptions=False)
    data = seen.pop("data")
    frame = data.to_frame().rename(columns={data.columns.get("rater", "rater"): "rater"})
    return data, frame.sort_values(["patient", "rater", "session"]).reset_index(drop=True)


@pytest.mark.parametrize("suffix", [".xlsx", ".sav"])
def test_fit_reads_a_wide_excel_or_spss_file_as_the_same_data(tmp_path, no_sampling, suffix):
    import pyreadstat

    wide = wide_two_raters(tmp_path)
    path = tmp_path / f"wide{suffix}"
    if suffix == ".xlsx":
        wide.to_excel(path, index=False, sheet_name="ratings")
    else:
        pyreadstat.write_sav(wide, path)
    long_args = fit_args(tmp_path / "long.csv", tmp_path / "a.nc", "--rater", "informant")
    expected, expected_frame = fitted_data([*long_args, *ROLE_ARGS], no_sampling)
    args = fit_args(path, tmp_path / "b.nc", "--wide", WIDE_PATTERN, *ROLE_ARGS)
    data, frame = fitted_data(args, no_sampling)
    pd.testing.assert_frame_equal(frame, expected_frame)
    assert list(data.therapist_labels) == list(expected.therapist_labels) == ["T1", "T2", "T3"]
    assert data.rater_roles == expected.rater_roles
    assert data.therapist_covariates.names == ("burdens", "satisfactions")
    assert data.row_id[0] == "0:wai_client_s1"


def test_fit_reads_a_wide_file_with_one_row_per_patient_and_rater(tmp_path, no_sampling):
    from alliance_bayes.io import long_to_wide

    long = pd.read_csv(write_two_raters(tmp_path / "long.csv"), dtype={"therapist": str})
    ids = ["therapist", "patient", "informant"]
    wide = long_to_wide(long, "wai_s{session}", id_columns=ids, score="alliance", time="session")
    wide.to_csv(tmp_path / "wide.csv", index=False)
    long_args = fit_args(tmp_path / "long.csv", tmp_path / "a.nc", "--rater", "informant")
    _, expected = fitted_data([*long_args, *ROLE_ARGS], no_sampling)
    args = ["--wide", "wai_s{session}", "--rater", "informant", *ROLE_ARGS]
    _, frame = fitted_data(fit_args(tmp_path / "wide.csv", tmp_path / "b.nc", *args), no_sampling)
    pd.testing.assert_frame_equal(frame, expected)


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--wide", "wai_{rater}"], ["the pattern 'wai_{rater}'", "needs {session} once"]),
        (["--wide", "alliance_s{session}"], ["no column of the wide frame fits the pattern"]),
        (["--wide", WIDE_PATTERN, "--rater", "informant"], ["the pattern names the raters"]),
        (["--sheet", "ratings"], ["sheet='ratings'", "is not an Excel workbook"]),
    ],
    ids=["no-session", "no-match", "two-raters", "sheet-of-csv"],
)
def test_bad_wide_options_are_one_error_line(tmp_path, no_sampling, extra, fragments):
    wide_two_raters(tmp_path).to_csv(tmp_path / "wide.csv", index=False)
    result = runner.invoke(app, fit_args(tmp_path / "wide.csv", tmp_path / "fit.nc", *extra))
    assert_one_line_error(result, *fragments)
    assert "data" not in no_sampling


def test_a_missing_reader_package_is_one_error_line(tmp_path, monkeypatch):
    import sys

    path = tmp_path / "study.sav"
    path.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "pyreadstat", None)
    result = runner.invoke(app, fit_args(path, tmp_path / "fit.nc"))
    assert_one_line_error(result, "'pyreadstat'", 'pip install "alliance_bayes[io]"')


def test_fit_reads_the_session_covariates_a_spec_names(tmp_path, no_sampling):
    """A spec file with a model shape and a time-varying covariate: the CLI reads its column."""
    data = write_ratings(tmp_path / "ratings.csv")
    frame = data.read_text().splitlines()
    rows = [f"{line},{3 + i % 4}" for i, line in enumerate(frame[1:])]
    data.write_text("\n".join([frame[0] + ",symptoms", *rows]) + "\n")
    spec = ModelSpec(
        name="shaped",
        therapist_covariates=["burdens"],
        session_covariates=["symptoms"],
        time_shape="quadratic",
        therapist_slopes=False,
        time_coding="linear",
        columns={"therapist": "therapist", "patient": "patient", "score": "alliance"}
        | {"time": "session"},
    )
    spec_file = tmp_path / "shaped.toml"
    spec.to_toml(spec_file)
    args = ["fit", str(data), "--spec", str(spec_file), "--out", str(tmp_path / "fit.nc")]
    with pytest.raises(Stopped):
        runner.invoke(app, args, catch_exceptions=False)
    assert no_sampling["data"].session_covariates.names == ("symptoms",)
    assert no_sampling["data"].time_coding == "linear"  # the spec's coding
    assert ModelSpec.from_toml(spec_file) == spec
