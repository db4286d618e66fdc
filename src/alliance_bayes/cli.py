"""The ``alliance-bayes`` command."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from ._version import __version__

app = typer.Typer(
    help="Bayesian multilevel models of the therapeutic alliance.",
    no_args_is_help=True,
    add_completion=False,
)
design_app = typer.Typer(help="Study designs.", no_args_is_help=True)
app.add_typer(design_app, name="design")
console = Console()


def _version(value: bool) -> None:
    if value:
        console.print(f"alliance-bayes {__version__}")
        raise typer.Exit()


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=2)


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Bayesian multilevel models of the therapeutic alliance."""


def _spec(source: str):
    """A model spec from a TOML path or the name of a shipped spec."""
    from .spec import ModelSpec

    path = Path(source)
    if path.is_file():
        return ModelSpec.from_toml(path)
    try:
        return ModelSpec.shipped(source)
    except KeyError as error:
        _fail(f"no model spec {source!r}: not a file, and {str(error).strip(chr(34))}")


@design_app.command("show")
def design_show(
    design: str = typer.Argument(
        ..., help="A preset (nissen_lie_2013, razzaque_2015) or a TOML file."
    ),
    seed: int = typer.Option(1, help="Seed for one realisation of the design."),
) -> None:
    """Print a design's structure and one realisation's counts and dropout."""
    from .spec import Design

    try:
        spec = Design.from_toml(Path(design)) if design.endswith(".toml") else Design.preset(design)
    except (KeyError, FileNotFoundError) as error:
        _fail(str(error).strip('"'))
    console.print(spec.summary())
    data = spec.to_data(random_seed=seed)
    console.print(f"\nOne realisation (seed {seed}):")
    console.print(repr(data), markup=False)
    console.print(data.describe()["by_session"].to_string())


@app.command()
def simulate(
    spec: str = typer.Argument(..., help="Model spec (TOML path or shipped name) with a [design]."),
    seed: int = typer.Option(..., help="Seed; the same seed gives the same file, byte for byte."),
    out: Path = typer.Option(
        ..., help="CSV to write; its JSON (seed, spec, truth) goes beside it."
    ),
    truth: str = typer.Option(None, help="Truth preset (default: the design's name)."),
    likelihood: str = typer.Option(
        None,
        help="Simulate with this likelihood instead of the spec's "
        "(e.g. censored, to keep scores on the scale).",
    ),
) -> None:
    """Simulate a data set from a model spec and its design."""
    from . import datasets
    from .simulate import Truth

    model_spec = _spec(spec)
    if likelihood:
        model_spec.likelihood = likelihood
    preset = truth or (model_spec.design.name if model_spec.design else "")
    with console.status(f"Simulating {model_spec.name} (seed {seed})"):
        frame, meta = datasets.make(model_spec, Truth.preset(preset), seed)
    meta["made_by"] = (
        f"alliance-bayes simulate {Path(spec).stem} --seed {seed} --truth {preset}"
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
    therapists: Path = typer.Option(None, help="Therapist-level CSV (questionnaires)."),
    scale: str = typer.Option(None, help="Instrument range, e.g. 1,7."),
    draws: int = typer.Option(1000),
    tune: int | None = typer.Option(
        None, help="Tuning steps per chain (default: 400 with integrated effects, else 1000)."
    ),
    chains: int = typer.Option(4),
    seed: int = typer.Option(None),
) -> None:
    """Fit a model spec to a CSV and save the fit (netCDF)."""
    import pandas as pd

    from .data import AllianceData
    from .fit import fit, save
    from .models import build_model

    model_spec = _spec(spec)
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
    declared = (
        tuple(float(x) for x in scale.split(","))
        if scale
        else (tuple(design.scale) if design and design.scale else None)
    )
    frame = pd.read_csv(data)
    with console.status("Validating data"):
        alliance = AllianceData.from_frame(
            frame,
            therapist=columns["therapist"],
            patient=columns["patient"],
            score=columns["score"],
            time=columns["time"],
            rater=columns.get("rater") if columns.get("rater") in frame.columns else None,
            therapist_covariates=model_spec.therapist_covariates or (),
            patient_covariates=model_spec.patient_covariates or (),
            therapists=pd.read_csv(therapists) if therapists else None,
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
