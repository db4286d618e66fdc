"""``alliance-bayes fit``, ``summary`` and ``demo``: a model fitted to data, and its tables."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import typer
from rich.markup import escape

from .app import app, console, fail
from .files import check_outputs, parse_rater_roles, parse_scale, read_spec, read_table


@app.command("fit")
def fit_command(
    data: Path = typer.Argument(
        ...,
        exists=True,
        help="Ratings: a CSV, Excel (.xlsx) or SPSS (.sav) file, one row per rating (or wide, "
        "see --wide).",
    ),
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
    wide: str = typer.Option(
        None,
        "--wide",
        metavar="PATTERN",
        help="The file is wide: one row per patient (or per patient and --rater), one column "
        "per session named by PATTERN, e.g. 'wai_{rater}_s{session}' or 'wai_s{session}'.",
    ),
    sheet: str = typer.Option(None, help="The worksheet of an Excel data file."),
    therapists: Path = typer.Option(
        None, help="Therapist-level file (questionnaires): CSV, Excel or SPSS."
    ),
    therapists_sheet: str = typer.Option(None, help="The worksheet of an Excel --therapists file."),
    scale: str = typer.Option(None, help="Instrument range, e.g. 1,7."),
    draws: int = typer.Option(1000),
    tune: int | None = typer.Option(
        None, help="Tuning steps per chain (default: 400 with integrated effects, else 1000)."
    ),
    chains: int = typer.Option(4),
    seed: int = typer.Option(None),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out file."),
) -> None:
    """Fit a model spec to a data file (CSV, Excel, SPSS; long or wide) and save the fit."""
    from ..data import AllianceData
    from ..fit import fit, save
    from ..io import names_raters
    from ..models import build_model

    model_spec = read_spec(spec)
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
    needed = ("therapist", "patient") if wide else ("therapist", "patient", "score", "time")
    missing = [k for k in needed if k not in columns]
    if missing:
        fail(f"name the columns {missing} (e.g. --{missing[0]} <column>).")
    design = model_spec.design
    declared = parse_scale(scale, design.scale if design else None)
    roles = parse_rater_roles(rater_roles)
    ids = [columns["therapist"], columns["patient"], columns.get("rater")]
    frame = read_table(data, ids, sheet)
    rater_column = columns.get("rater")
    if wide and names_raters(wide):
        if rater:
            fail(f"--rater {rater!r} and --wide {wide!r}: the pattern names the raters already.")
        rater_column = None
    elif rater_column not in frame.columns:
        if rater:
            fail(
                f"--rater {rater!r} is not a column of {data} (columns: "
                f"{', '.join(map(str, frame.columns))})."
            )
        if rater_column:
            console.print(f"{data} has no rater column {rater_column!r}: one rater.", markup=False)
        rater_column = None
    options = {
        "therapist": columns["therapist"],
        "patient": columns["patient"],
        "score": columns.get("score", "alliance"),
        "time": columns.get("time", "session"),
        "rater": rater_column,
        "rater_roles": roles,
        "therapist_covariates": model_spec.therapist_covariates or (),
        "patient_covariates": model_spec.patient_covariates or (),
        "session_covariates": model_spec.session_covariates or (),
        "therapists": read_table(therapists, [columns["therapist"]], therapists_sheet)
        if therapists
        else None,
        "time_coding": model_spec.time_coding or (design.time_coding if design else "log"),
        "scale": declared,
    }
    with console.status("Validating data"):
        if wide:
            alliance = AllianceData.from_wide(frame, columns=wide, **options)
        else:
            alliance = AllianceData.from_frame(frame, **options)
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
    from ..fit import load

    console.print(_report(load(fit_file), format), markup=False, soft_wrap=True)


def _report(idata, fmt: str) -> str:
    from ..summary import format_table, rater_contrast, summarize, variance_components

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

    from ..fit import compiled_model, fit
    from ..models import build_model
    from ..simulate import Truth
    from ..simulate import simulate as draw

    model_spec = read_spec("nissen_lie_2013_dual_rater")
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
