"""The ``alliance-bayes`` command.

Every command answers a problem the user can fix (bad data, a malformed TOML file, an option out
of range, an output that would overwrite a file) with one line on stderr and exit code 2; the
global ``--debug`` option shows the traceback instead. Outputs are checked before any work is done.
"""

from __future__ import annotations

import math
import os
import tomllib
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from typer.core import TyperGroup

from ._version import __version__
from .errors import DataValidationError

_DEBUG = "alliance_bayes.debug"
T = TypeVar("T")


class CliError(Exception):
    """A problem with the command's arguments or files that the user can fix (exit code 2)."""


# What a user can act on. DataValidationError, a malformed TOML file (tomllib.TOMLDecodeError),
# an empty or undecodable CSV (pandas' EmptyDataError, UnicodeDecodeError) are ValueErrors; a
# missing or unreadable file is an OSError; an unknown preset or spec is a KeyError.
USER_ERRORS = (CliError, ValueError, KeyError, OSError)


class _Commands(TyperGroup):
    """The root command: the one place where errors become a message and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as error:
            if ctx.meta.get(_DEBUG):
                raise
            _print_error(error)
            raise typer.Exit(code=2) from None


app = typer.Typer(
    cls=_Commands,
    help="Bayesian multilevel models of the therapeutic alliance.",
    no_args_is_help=True,
    add_completion=False,
)
design_app = typer.Typer(help="Study designs.", no_args_is_help=True)
app.add_typer(design_app, name="design")
console = Console()
error_console = Console(stderr=True, soft_wrap=True, highlight=False)


def _print_error(error: BaseException) -> None:
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        message = error.args[0]  # str(KeyError) would wrap the message in quotes
    else:
        message = str(error) or type(error).__name__
    if not isinstance(error, CliError | DataValidationError):
        # a library error: usually the user's input too, but --debug shows where it came from
        message += " (alliance-bayes --debug ... shows the traceback)"
    error_console.print(Text("error: ", style="red") + Text(message))


def _version(value: bool) -> None:
    if value:
        console.print(f"alliance-bayes {__version__}")
        raise typer.Exit()


def _fail(message: str) -> NoReturn:
    raise CliError(message)


@app.callback()
def main(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of an error instead of a one-line message."
    ),
) -> None:
    """Bayesian multilevel models of the therapeutic alliance."""
    ctx.meta[_DEBUG] = debug


# ---------------------------------------------------------------------------- reading inputs
def _read_toml_file(path: Path, reader: Callable[[Path], T], what: str) -> T:
    """``reader(path)``, with the file named in the message when its TOML or contents are bad."""
    try:
        return reader(path)
    except tomllib.TOMLDecodeError as error:
        raise CliError(f"{path} is not valid TOML: {error}.") from error
    except (ValueError, TypeError) as error:
        raise CliError(f"{path} is not a valid {what}: {error}") from error


def _spec(source: str):
    """A model spec from a TOML path or the name of a shipped spec."""
    from .spec import ModelSpec

    path = Path(source)
    if path.is_file():
        return _read_toml_file(path, ModelSpec.from_toml, "model spec")
    try:
        return ModelSpec.shipped(source)
    except KeyError as error:
        _fail(f"no model spec {source!r}: not a file, and {error.args[0]}")


def _truth(source: str | None, model_spec: Any) -> tuple[Any, str]:
    """The truth to simulate from, and how to name it in ``made_by``.

    ``--truth`` (a preset, else a TOML file), else the spec's ``truth``, else the preset named
    like the spec's design (how shipped specs worked before they named their truth).
    """
    from .simulate import Truth

    presets = Truth.preset_names()
    if source is not None and source not in presets:
        if not Path(source).is_file():
            _fail(f"--truth {source!r} is neither a truth preset {presets} nor an existing file.")
        return _read_toml_file(Path(source), Truth.from_toml, "truth"), source
    name = source or model_spec.truth
    if name is None and model_spec.design is not None and model_spec.design.name in presets:
        name = model_spec.design.name
    if name is None:
        _fail(
            f"model spec {model_spec.name!r} names no truth to simulate from: pass --truth "
            f"FILE.toml (a [truth] table, see Truth.to_toml) or a preset {presets}, or set "
            'truth = "<preset>" in its [model] table.'
        )
    if name not in presets:
        _fail(
            f"model spec {model_spec.name!r} names the truth {name!r}, which is not a preset "
            f"{presets}; pass --truth FILE.toml."
        )
    return Truth.preset(name), name


def read_csv(path: Path, ids: Iterable[str | None] = ()) -> Any:
    """A user's CSV, its id columns read as text: ``01`` and ``1`` stay two therapists.

    A UTF-8 byte order mark (as spreadsheets write it) is dropped rather than glued to the first
    column's name.
    """
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=dict.fromkeys(filter(None, ids), str), encoding="utf-8-sig")
    except pd.errors.EmptyDataError as error:
        raise CliError(f"{path} is empty: no header row of column names.") from error
    except UnicodeDecodeError as error:
        raise CliError(
            f"{path} is not UTF-8 text (byte {error.object[error.start]:#04x} at position "
            f"{error.start}); save it as a UTF-8 CSV."
        ) from error
    except pd.errors.ParserError as error:
        raise CliError(f"{path} is not a readable CSV: {error}") from error


def parse_scale(text: str | None, default: Iterable[float] | None) -> tuple[float, float] | None:
    """``--scale low,high`` as two finite numbers with low < high (else the design's scale)."""
    if not text:
        return tuple(default) if default else None  # type: ignore[return-value]
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        _fail(f"--scale {text!r}: give the instrument's range as two numbers, e.g. --scale 1,7.")
    if values[0] >= values[1]:
        _fail(f"--scale {text!r}: the low end must be below the high end, e.g. --scale 1,7.")
    return values[0], values[1]


def parse_rater_roles(text: str | None) -> dict[str, str] | None:
    """``--rater-roles client=patient,clinician=therapist`` as ``{label: role}``.

    Examples
    --------
    >>> parse_rater_roles("client=patient, clinician=therapist")
    {'client': 'patient', 'clinician': 'therapist'}
    """
    if not text:
        return None
    pairs = [part.split("=") for part in text.split(",")]
    if any(len(pair) != 2 or not all(p.strip() for p in pair) for pair in pairs):
        _fail(
            f"--rater-roles {text!r}: give each rater label its role as label=role, e.g. "
            "--rater-roles client=patient,clinician=therapist."
        )
    return {label.strip(): role.strip() for label, role in pairs}


# ---------------------------------------------------------------------------- outputs
def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)  # hard links


def _check_writable_folder(folder: Path, what: str) -> None:
    """``folder`` (or, if it does not exist yet, the folder it would be made in) is writable."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        _fail(f"{what}: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        _fail(f"{what}: the folder {existing} is not writable.")


def check_outputs(
    files: Mapping[str, Path], *, force: bool, inputs: Iterable[Path | None] = ()
) -> None:
    """Refuse, before any work, outputs that would lose a file or that cannot be written.

    Parameters
    ----------
    files
        ``{description: path}`` of every file the command will write.
    force
        Allow overwriting existing files (never the command's inputs).
    inputs
        Files the command reads; they are never overwritten.
    """
    sources = [Path(p) for p in inputs if p is not None and Path(p).is_file()]
    seen: dict[str, Path] = {}
    for what, path in files.items():
        for other_what, other in seen.items():
            if _same_file(path, other):
                _fail(
                    f"{other_what} and {what} would both be written to {path}; "
                    "choose another --out."
                )
        seen[what] = path
        if any(_same_file(path, source) for source in sources):
            _fail(
                f"{path} is an input of this command; it is never overwritten "
                "(choose another --out)."
            )
        if path.is_dir():
            _fail(f"{path} is a folder; --out needs a file name.")
        if path.exists() and not force:
            _fail(f"{path} exists; pass --force to overwrite it.")
        if not path.parent.is_dir():
            _fail(f"cannot write {path}: the folder {path.parent} does not exist.")
        _check_writable_folder(path.parent, f"cannot write {path}")


def check_output_folder(folder: Path, names: Iterable[str] = (), *, force: bool = False) -> None:
    """Refuse, before any work, a folder that cannot be written or holds files it would replace."""
    if folder.exists() and not folder.is_dir():
        _fail(f"{folder} is a file; --out needs a folder.")
    _check_writable_folder(folder, f"cannot write into {folder}")
    present = [name for name in names if (folder / name).exists()]
    if present and not force:
        _fail(
            f"{folder} already holds {', '.join(present)}; pass --force to overwrite them, or "
            "choose another --out."
        )


@design_app.command("show")
def design_show(
    design: str = typer.Argument(
        ..., help="A preset (nissen_lie_2013, razzaque_2015) or a TOML file."
    ),
    seed: int = typer.Option(1, help="Seed for one realisation of the design."),
) -> None:
    """Print a design's structure and one realisation's counts and dropout."""
    from .spec import Design

    if design.endswith(".toml"):
        spec = _read_toml_file(Path(design), Design.from_toml, "design")
    else:
        spec = Design.preset(design)
    console.print(spec.summary())
    data = spec.to_data(random_seed=seed)
    console.print(f"\nOne realisation (seed {seed}):")
    console.print(repr(data), markup=False)
    console.print(data.describe()["by_session"].to_string())


TRUTH_HELP = (
    "A truth preset or a TOML file with a [truth] table (default: the spec's truth; see "
    "Truth.to_toml)."
)


@app.command()
def simulate(
    spec: str = typer.Argument(..., help="Model spec (TOML path or shipped name) with a [design]."),
    seed: int = typer.Option(..., help="Seed; the same seed gives the same file, byte for byte."),
    out: Path = typer.Option(
        ..., help="CSV to write; its JSON (seed, spec, truth) goes beside it."
    ),
    truth: str = typer.Option(None, help=TRUTH_HELP),
    likelihood: str = typer.Option(
        None,
        help="Simulate with this likelihood instead of the spec's "
        "(e.g. censored, to keep scores on the scale).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
) -> None:
    """Simulate a data set from a model spec and its design."""
    from . import datasets

    model_spec = _spec(spec)
    if likelihood:
        model_spec.likelihood = likelihood
    true_values, truth_name = _truth(truth, model_spec)
    check_outputs(
        {"the data (CSV)": out, "its metadata (JSON)": out.with_suffix(".json")},
        force=force,
        inputs=[Path(spec), Path(truth) if truth else None],
    )
    with console.status(f"Simulating {model_spec.name} (seed {seed})"):
        frame, meta = datasets.make(model_spec, true_values, seed)
    meta["made_by"] = (
        f"alliance-bayes simulate {Path(spec).stem} --seed {seed} --truth {truth_name}"
        + (f" --likelihood {likelihood}" if likelihood else "")
    )
    csv_path, json_path = datasets.write(frame, meta, out)
    console.print(f"wrote {csv_path} ({len(frame)} rows) and {json_path}")


@app.command("fit")
def fit_command(
    data: Path = typer.Argument(..., exists=True, help="Long-format CSV, one row per rating."),
    spec: str = typer.Option(..., help="Model spec (TOML path or shipped name)."),
    out: Path = typer.Option(..., help="netCDF file for the fit."),
    therapist: str = typer.Option(None, help="Therapist id column."),
    patient: str = typer.Option(None, help="Patient id column."),
    score: str = typer.Option(None, help="Alliance score column."),
    time: str = typer.Option(None, help="Session (time) column."),
    rater: str = typer.Option(None, help="Rater column (omit for one rater)."),
    rater_roles: str = typer.Option(
        None,
        help="Which rater label is the patient and which the therapist, e.g. "
        "client=patient,clinician=therapist (needed unless the labels are patient/therapist).",
    ),
    therapists: Path = typer.Option(None, help="Therapist-level CSV (questionnaires)."),
    scale: str = typer.Option(None, help="Instrument range, e.g. 1,7."),
    draws: int = typer.Option(1000),
    tune: int | None = typer.Option(
        None, help="Tuning steps per chain (default: 400 with integrated effects, else 1000)."
    ),
    chains: int = typer.Option(4),
    seed: int = typer.Option(None),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out file."),
) -> None:
    """Fit a model spec to a CSV and save the fit (netCDF)."""
    from .data import AllianceData
    from .fit import fit, save
    from .models import build_model

    model_spec = _spec(spec)
    check_outputs({"the fit": out}, force=force, inputs=[data, therapists, Path(spec)])
    columns = dict(model_spec.columns)
    given = {
        "therapist": therapist,
        "patient": patient,
        "score": score,
        "time": time,
        "rater": rater,
    }
    columns |= {k: v for k, v in given.items() if v}
    missing = [k for k in ("therapist", "patient", "score", "time") if k not in columns]
    if missing:
        _fail(f"name the columns {missing} (e.g. --{missing[0]} <column>).")
    design = model_spec.design
    declared = parse_scale(scale, design.scale if design else None)
    roles = parse_rater_roles(rater_roles)
    ids = [columns["therapist"], columns["patient"], columns.get("rater")]
    frame = read_csv(data, ids)
    rater_column = columns.get("rater")
    if rater_column not in frame.columns:
        if rater:
            _fail(
                f"--rater {rater!r} is not a column of {data} (columns: "
                f"{', '.join(map(str, frame.columns))})."
            )
        if rater_column:
            console.print(f"{data} has no rater column {rater_column!r}: one rater.", markup=False)
        rater_column = None
    with console.status("Validating data"):
        alliance = AllianceData.from_frame(
            frame,
            therapist=columns["therapist"],
            patient=columns["patient"],
            score=columns["score"],
            time=columns["time"],
            rater=rater_column,
            rater_roles=roles,
            therapist_covariates=model_spec.therapist_covariates or (),
            patient_covariates=model_spec.patient_covariates or (),
            therapists=read_csv(therapists, [columns["therapist"]]) if therapists else None,
            time_coding=design.time_coding if design else "log",
            scale=declared,
        )
    console.print(repr(alliance), markup=False)
    with console.status("Building and compiling the model"):
        model = build_model(alliance, model_spec)
    idata = fit(model, draws=draws, tune=tune, chains=chains, random_seed=seed)
    save(idata, out)
    console.print(f"wrote {out}")


@app.command()
def summary(
    fit_file: Path = typer.Argument(..., exists=True, help="A fit written by `fit` (netCDF)."),
    format: str = typer.Option("markdown", "--format", help="markdown, latex or csv."),
) -> None:
    """Print the coefficient table (and variance components and rater contrast) of a fit."""
    from .fit import load

    console.print(_report(load(fit_file), format), markup=False, soft_wrap=True)


def _report(idata, fmt: str) -> str:
    from .summary import format_table, rater_contrast, summarize, variance_components

    table = summarize(idata)
    parts = [f"Coefficients ({table.attrs['interval']} intervals)", format_table(table, fmt)]
    if "therapist_sd" in idata.posterior:
        parts += ["Variance components", format_table(variance_components(idata), fmt)]
    if "rater" in idata.posterior.get("growth_coef", idata.posterior).dims:
        if idata.posterior.sizes.get("rater", 1) == 2:
            try:  # the label comes from the raters' stored roles, never from their order
                contrast = rater_contrast(idata, "growth_coef")
                parts += [
                    f"Rater contrast ({contrast.attrs['label']})",
                    format_table(contrast, fmt),
                ]
            except ValueError as error:  # a fit that does not store its raters' roles
                parts += [f"Rater contrast not shown: {error}"]
    return "\n\n".join(parts)


@app.command()
def demo(
    seed: int = typer.Option(2013, help="Seed of the simulated study."),
    draws: int = typer.Option(int(os.environ.get("ALLIANCE_BAYES_DRAWS", 1000))),
    tune: int | None = typer.Option(
        os.environ.get("ALLIANCE_BAYES_TUNE"), help="Tuning steps per chain (default: 400)."
    ),
    chains: int = typer.Option(4),
) -> None:
    """Simulate a Nissen-Lie-like study, fit the dual-rater model, print the table."""
    import time as clock

    from .fit import compiled_model, fit
    from .models import build_model
    from .simulate import Truth
    from .simulate import simulate as draw

    model_spec = _spec("nissen_lie_2013_dual_rater")
    console.rule("alliance_bayes demo: a Nissen-Lie et al. (2013)-like study")
    console.print(model_spec.design.summary())
    with console.status("Simulating the study from the model (Truth.nissen_lie_2013)"):
        planned = model_spec.design.to_data(random_seed=seed)
        data = draw(build_model(planned, model_spec), Truth.nissen_lie_2013(), random_seed=seed + 1)
    console.print(repr(data), markup=False)
    model = build_model(data, model_spec)
    start = clock.perf_counter()
    with console.status("Compiling the model with nutpie (about half a minute, once)"):
        compiled_model(model)
    compile_s = clock.perf_counter() - start
    start = clock.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = fit(model, draws=draws, tune=tune, chains=chains, random_seed=seed)
    sample_s = clock.perf_counter() - start
    console.print(
        f"compiled in {compile_s:.0f} s, sampled {chains} x {draws} draws in {sample_s:.0f} s"
    )
    for warning in caught:
        if warning.category.__name__ == "ConvergenceWarning":
            console.print(f"[yellow]warning:[/yellow] {escape(str(warning.message))}")
    console.print(_report(idata, "markdown"), markup=False, soft_wrap=True)
    console.print(
        "\nTrue values: growth_coef[patient, burdens] = -0.03, "
        "growth_coef[therapist, satisfactions] = +0.03 (Truth.nissen_lie_2013).",
        markup=False,
    )


# the commands of these modules register themselves on ``app``
from . import cli_checks, cli_studies  # noqa: E402, F401

if __name__ == "__main__":
    app()
