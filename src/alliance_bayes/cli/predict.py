"""``alliance-bayes predict fit.nc new.csv --out pred.csv``: predictions per row of a new file."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console, fail
from .files import check_outputs, read_table, table_format, write_table


@app.command("predict")
def predict_command(
    fit_file: Path = typer.Argument(..., exists=True, help="A fit written by `fit` (netCDF)."),
    new_file: Path = typer.Argument(
        ...,
        exists=True,
        help="Rows to predict (CSV, Excel or SPSS): the fit's therapist, patient, session and "
        "rater columns and its covariates in raw units; no outcome needed.",
    ),
    out: Path = typer.Option(
        ..., help="Table of the predictions (CSV; .xlsx or .sav by the suffix)."
    ),
    kind: str = typer.Option("mean", help="mean (expected alliance) or rating (a new rating)."),
    groups: str = typer.Option(
        "fitted",
        help="fitted (the fitted therapists' and patients' effects) or new (effects drawn "
        "from the fitted population).",
    ),
    prob: float = typer.Option(0.95, help="Probability of the intervals."),
    seed: int = typer.Option(None, help="Seed of new effects and ratings."),
    sheet: str = typer.Option(None, help="The worksheet of an Excel file."),
    draws: Path = typer.Option(None, help="Also write every draw to this netCDF file."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
) -> None:
    """Predict the alliance for the rows of a file: mean, sd and interval per row."""
    if kind not in ("mean", "rating"):
        fail(f"--kind must be mean or rating, got {kind!r}.")
    if groups not in ("fitted", "new"):
        fail(f"--groups must be fitted or new, got {groups!r}.")
    if not 0 < prob < 1:
        fail(f"--prob must be between 0 and 1, got {prob}.")
    outputs = {"the predictions": out} | ({"the draws": draws} if draws else {})
    check_outputs(outputs, force=force, inputs=[fit_file, new_file])
    table_format(out)
    from ..predict import predict, prediction_table
    from ..result import load, read_attrs

    idata = load(fit_file)
    columns = read_attrs(idata).require("data").columns
    ids = [columns.get(k, k) for k in ("therapist", "patient", "rater")]
    frame = read_table(new_file, ids=ids, sheet=sheet)
    with console.status("Predicting"):
        pred = predict(idata, frame, kind=kind, groups=groups, random_seed=seed)
        table = prediction_table(pred, prob=prob)
    write_table(table, out, "%.6g")
    if draws:
        pred.to_dataset().to_netcdf(str(draws), engine="h5netcdf")
    shape = f"{pred.sizes['chain']} x {pred.sizes['draw']} draws"
    console.print(
        f"wrote {len(table)} predictions ({kind}, {groups} groups, {shape}) to {out}",
        markup=False,
    )
