"""Quiet by default (issue 23, item 2): no warning or log line reaches a user unless they can act
on it.

The rules live here: :data:`ALLOWED` names every warning that may appear and why. README's main
command runs as a subprocess (below); the notebooks are checked as nbmake runs them, by
``notebooks/conftest.py``, which applies :func:`unexpected_in_notebook` (no second run). Both run
in processes of their own, so pyproject's ``filterwarnings`` (which hide the BLAS and ArviZ
warnings from the rest of the suite) do not hide anything here.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Warnings a user may see, by category, and why each is there. Everything else fails the test.
ALLOWED: dict[str, str] = {
    "ConvergenceWarning": "alliance_bayes's own: names the parameters and the remedy (more "
    "draws); the notebooks sample few draws in CI",
    "DataWarning": "alliance_bayes's own: notebook 02 shows ratings piling up at the scale's "
    "bound, the reason to switch to the censored likelihood",
    "ParetoKWarning": "alliance_bayes's own: notebook 02 shows which ratings PSIS-LOO cannot "
    "estimate reliably (refit without them to check)",
}
# `path:line: Category: message` as warnings.showwarning writes it
_WARNING = re.compile(r"^\S.*?:\d+: (?P<category>\w+): ")


def unexpected(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are warnings or log lines outside :data:`ALLOWED`.

    A Python warning is its ``path:line: Category: message`` line and the indented source line
    under it; any other non-blank line (a log record, a second line of a warning's message) is
    unexpected.
    """
    found = []
    for line in stderr.splitlines():
        if not line.strip() or line.startswith((" ", "\t")):
            continue  # blank, or the source line that Python prints under a warning
        match = _WARNING.match(line)
        if match and match["category"] in ALLOWED:
            continue
        found.append(line)
    return found


def unexpected_in_notebook(nb) -> list[str]:
    """:func:`unexpected` over every stderr output of an executed notebook, with its cell."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                found += [f"cell {index}: {line}" for line in unexpected(output["text"])]
    return found


# --------------------------------------------------------------------------- the rules themselves
BLAS = (
    "/x/pytensor/link/c/cmodule.py:2986: UserWarning: PyTensor could not link to a BLAS "
    "installation. Operations that might benefit from BLAS will be severely degraded.\n"
    "This usually happens when PyTensor is installed via pip.\n"
    "  warnings.warn(\n"
)


@pytest.mark.parametrize(
    ("stderr", "n_found"),
    [
        (BLAS, 2),
        ("/x/arviz/__init__.py:50: FutureWarning: \nArviZ is undergoing a major refactor\n", 2),
        ("compiled model not stored: the callback refers to process-specific addresses.\n", 1),
        ("Sampling: [alliance, growth, level]\n", 1),
        ("WARNING (pytensor.tensor.blas): Using NumPy C-API based implementation\n", 1),
        ("/tmp/x.py:3: ConvergenceWarning: R-hat > 1.01\n  idata = ab.fit(model)\n", 0),
        ("/x/models/__init__.py:23: DataWarning: ratings pile up\n  return growth_model()\n", 0),
        ("", 0),
    ],
)
def test_rules_flag_third_party_noise_and_pass_our_own_warnings(stderr, n_found):
    assert len(unexpected(stderr)) == n_found


def test_notebook_rule_names_the_cell():
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="Sampling: [a]\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("text"), cell]
    assert unexpected_in_notebook(nb) == ["cell 1: Sampling: [a]"]


# --------------------------------------------------------------------------- README's main command
@pytest.mark.slow
def test_readme_main_command_prints_only_the_demos_output(tmp_path):
    """``alliance-bayes demo`` (small draws) in a fresh process: nothing on stderr, and nothing
    on stdout that looks like a Python warning or a log record.

    The process imports ArviZ as a fresh install would: without arviz-plots (whose presence
    silences ArviZ's refactor warning) and with no record of a warning shown today.
    """
    import matplotlib

    code = (
        "import sys; sys.modules['arviz_plots'] = None\n"  # as without the arviz-plots package
        "from alliance_bayes.cli import app\n"
        "app(['demo', '--draws', '100', '--tune', '150', '--chains', '2'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONWARNINGS", "CI"))} | {
        "ALLIANCE_BAYES_CACHE_DIR": str(tmp_path / "compiled"),  # a first compile, as a new user
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),  # ArviZ's "shown today" stamp: not there
        "MPLCONFIGDIR": matplotlib.get_cachedir(),  # matplotlib's font cache: already built
        "PYTHONPATH": str(ROOT / "src"),
        "COLUMNS": "100",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr
    assert unexpected(done.stderr) == [], done.stderr
    assert done.stderr.strip() == "", done.stderr
    looks_like_noise = re.compile(r"\w+Warning: |^WARNING|^Sampling: |compiled model not stored")
    noisy = [line for line in done.stdout.splitlines() if looks_like_noise.search(line)]
    assert noisy == []
    assert "Coefficients" in done.stdout  # the demo's own output is there


# --------------------------------------------------------------------------- each source, alone
def test_pymc_prior_predictive_logs_no_sampling_line(tiny_planned, caplog):
    from alliance_bayes import prior_predictive

    with caplog.at_level(logging.INFO):
        prior_predictive(tiny_planned, draws=5, random_seed=1)
    assert [r.getMessage() for r in caplog.records if "Sampling" in r.getMessage()] == []
    assert logging.getLogger("pymc.sampling.forward").level == logging.NOTSET  # restored


def test_compare_gives_no_pandas_deprecation_warning(tiny_datasets):
    from alliance_bayes import compare, growth_model
    from conftest import fake_fit  # tests/conftest.py

    model = growth_model(tiny_datasets[0])
    first, second = fake_fit(model, draws=20, seed=0), fake_fit(model, draws=20, seed=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compare({"a": first, "b": second}, by="therapist")
    pandas_warnings = [w for w in caught if "inplace" in str(w.message)]
    assert pandas_warnings == []


def test_sbc_ecdf_plot_gives_no_behaviour_change_warning():
    import matplotlib.pyplot as plt

    from alliance_bayes.checks.sbc import SBCResult

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "job": np.repeat(np.arange(30), 2),
            "quantity": ["level", "sigma"] * 30,
            "rank": rng.integers(0, 100, 60),
            "n_ranked": 99,
            "status": "ok",
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = SBCResult(frame, {"spec": {"name": "m"}}).plot_ecdf()
    plt.close(figure)
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


def test_compiled_model_that_cannot_be_stored_logs_below_warning(
    tiny_planned, tmp_path, monkeypatch, caplog
):
    """An entry whose callbacks hold this process's addresses (the censored likelihood's) is
    not stored, as before; that is expected, so it is said at debug level only."""
    from alliance_bayes import _compile_cache as cc
    from alliance_bayes import _nutpie_seam as seam
    from alliance_bayes._nutpie_seam import CacheEntryError

    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_KEY_FILE", str(tmp_path / "config" / "cache.key"))
    monkeypatch.delenv("ALLIANCE_BAYES_CACHE", raising=False)
    monkeypatch.setattr(seam, "compile_cacheable", lambda model, names: ("compiled", 0, 0, 0))

    def unstorable(*args):
        raise CacheEntryError("the callback refers to process-specific addresses.")

    monkeypatch.setattr(seam, "entry_content", unstorable)
    with caplog.at_level(logging.DEBUG, logger=cc.__name__):
        assert cc.compile_nutpie_model(tiny_planned, ["level"]) == "compiled"
    levels = {r.levelno for r in caplog.records if "not stored" in r.getMessage()}
    assert levels == {logging.DEBUG}
    assert list((tmp_path / "cache").rglob("*.nbmodel")) == []  # nothing stored, as before


def test_blas_and_arviz_warnings_do_not_arise_at_import_or_first_compile(tmp_path):
    """In a fresh process: import the package as a new install would see ArviZ (no
    arviz-plots, no stamp of today's warning), then compile a graph with a dot product in
    PyTensor's C backend (what the simulator does): no warning at all."""
    import matplotlib

    code = (
        "import sys, warnings; sys.modules['arviz_plots'] = None\n"
        "warnings.simplefilter('always')\n"
        "import alliance_bayes\n"
        "import pytensor, pytensor.tensor as pt\n"
        "a = pt.matrix('a'); pytensor.function([a], a @ a)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONWARNINGS")} | {
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
        "MPLCONFIGDIR": matplotlib.get_cachedir(),
        "PYTHONPATH": str(ROOT / "src"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "BLAS" not in done.stderr and "ArviZ" not in done.stderr, done.stderr


def test_cli_warning_is_one_line_without_python_source():
    """A warning under the ``alliance-bayes`` command: ``warning: message``, no file or line."""
    import typer
    from typer.testing import CliRunner

    from alliance_bayes.cli.app import _Commands

    app = typer.Typer(cls=_Commands)

    @app.command()
    def warn() -> None:
        warnings.warn("the scale's upper bound is never reached", UserWarning, stacklevel=1)

    @app.command()
    def other() -> None:  # two commands: typer then needs the command's name
        pass

    shown = warnings.showwarning
    result = CliRunner().invoke(app, ["warn"])
    assert result.exit_code == 0
    assert result.stderr.strip() == "warning: the scale's upper bound is never reached"
    assert warnings.showwarning is shown  # restored after the command
