"""The command line: ``alliance-bayes --version`` and ``alliance-bayes design show``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from alliance_bayes import Design, __version__
from alliance_bayes.cli import app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def flat(text: str) -> str:
    """The output with every run of whitespace (including rich's line wrapping) as one space."""
    return " ".join(text.split())


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"alliance-bayes {__version__}"


def test_design_show_preset(runner):
    result = runner.invoke(app, ["design", "show", "nissen_lie_2013"])
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "therapists: 70" in out
    assert "70 therapists, 227 patients" in out
    assert "retention" in out and "40.0" in out


def test_design_show_seed_is_reproducible(runner):
    first = runner.invoke(app, ["design", "show", "nissen_lie_2013", "--seed", "3"])
    second = runner.invoke(app, ["design", "show", "nissen_lie_2013", "--seed", "3"])
    assert first.exit_code == 0 and first.output == second.output
    assert "seed 3" in first.output


def test_design_show_razzaque(runner):
    result = runner.invoke(app, ["design", "show", "razzaque_2015"])
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "76 therapists, 76 patients" in out
    assert "presence, acceptance, openness, insight" in out


def test_design_show_toml_file(runner, tmp_path):
    path = tmp_path / "pilot.toml"
    Design(name="pilot", n_therapists=12, patients_per_therapist=2, sessions=[1.0, 5.0]).to_toml(
        path
    )
    result = runner.invoke(app, ["design", "show", str(path)])
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "'pilot'" in out
    assert "12 therapists, 24 patients" in out


def test_design_show_unknown_preset_fails(runner):
    result = runner.invoke(app, ["design", "show", "nissen_lie_2031"])
    assert result.exit_code != 0
    assert "nissen_lie_2031" in result.output + str(result.exception)


def test_design_show_missing_toml_file_fails(runner, tmp_path):
    result = runner.invoke(app, ["design", "show", str(tmp_path / "absent.toml")])
    assert result.exit_code != 0


def test_no_arguments_prints_help(runner):
    result = runner.invoke(app, [])
    assert "design" in result.output


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[design\nname = 'x'\n", "is not valid TOML: Expected ']'"),
        ("[design]\nn_therapist = 3\n", "is not a valid design: unknown design fields"),
    ],
)
def test_design_show_bad_toml_is_one_error_line(runner, tmp_path, text, fragment):
    path = tmp_path / "pilot.toml"
    path.write_text(text)
    result = runner.invoke(app, ["design", "show", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith(f"error: {path} {fragment}")
    assert result.output.count("\n") == 1  # one line, however long


def test_help_offers_debug(runner):
    result = runner.invoke(app, ["--help"])
    assert "--debug" in result.output


def test_python_m_runs_every_command():
    """``python -m alliance_bayes.cli`` is the whole command (it once lacked ppc, sbc, ...)."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "alliance_bayes.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    for command in ("simulate", "fit", "ppc", "compare", "sbc", "power", "report", "design"):
        assert command in result.stdout


def test_the_command_modules_import_the_app_and_never_each_other():
    """``app`` imports no command group, and no group imports another: no import cycle."""
    import ast
    from pathlib import Path

    import alliance_bayes.cli

    folder = Path(alliance_bayes.cli.__file__).parent
    groups = {"data", "models", "checks", "studies"}
    for path in folder.glob("*.py"):
        if path.stem in ("__init__", "__main__"):
            continue
        tree = ast.parse(path.read_text())
        siblings = {
            alias.name if node.module is None else node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1
            for alias in node.names
        }
        assert not siblings & groups, (path.name, siblings & groups)
        if path.stem == "app":
            assert not siblings, siblings
