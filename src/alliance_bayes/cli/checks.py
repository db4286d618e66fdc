"""``alliance-bayes ppc fit.nc --out DIR`` and ``alliance-bayes compare a.nc b.nc --by ...``."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from .app import app, console, fail
from .files import check_output_folder


@app.command()
def ppc(
    fit_file: Path = typer.Argument(..., exists=True, help="A fit written by `fit` (netCDF)."),
    out: Path = typer.Option(..., help="Folder for the figures and the statistics table."),
    fmt: str = typer.Option("png", "--format", help="Figure format: png, svg or pdf."),
    seed: int = typer.Option(None, help="Seed of the posterior predictive draws."),
    force: bool = typer.Option(False, "--force", help="Overwrite the files of an earlier run."),
) -> None:
    """Posterior predictive checks of a fit: statistics table (CSV, markdown) and figures."""
    from ..checks.report import PPC_FIGURES, write_ppc
    from ..fit import load
    from ..summary import format_table

    if fmt not in ("png", "svg", "pdf"):
        fail(f"--format must be png, svg or pdf, got {fmt!r}.")
    names = ["ppc_statistics.csv", "ppc_statistics.md", *(f"{f}.{fmt}" for f in PPC_FIGURES)]
    check_output_folder(out, names, force=force)
    with console.status("Posterior predictive draws, statistics and figures"):
        written = write_ppc(load(fit_file), out, fmt, seed)
    import pandas as pd

    table = pd.read_csv(written[0])
    console.print(format_table(table, "markdown"), markup=False, soft_wrap=True)
    flagged = table[(table["p_value"] < 0.05) | (table["p_value"] > 0.95)]
    if len(flagged):
        console.print(
            f"\n{len(flagged)} statistic(s) with p < 0.05 or p > 0.95: "
            + ", ".join(f"{r.statistic} [{r.rater}]" for r in flagged.itertuples()),
            markup=False,
        )
    console.print(f"wrote {len(written)} files to {out}", markup=False)


@app.command("compare")
def compare_command(
    fits: list[Path] = typer.Argument(..., exists=True, help="Two or more fits (netCDF)."),
    by: str = typer.Option("obs", help="Leave out one: obs, patient or therapist."),
    fmt: str = typer.Option("markdown", "--format", help="markdown, latex or csv."),
) -> None:
    """Compare fits of the same data by PSIS-LOO (leave one rating, patient or therapist out)."""
    from ..compare import ParetoKWarning, compare
    from ..fit import load
    from ..summary import format_table

    if len(fits) < 2:
        fail("compare needs two or more fits.")
    names = [p.stem for p in fits]
    if len(set(names)) < len(names):
        names = [str(p) for p in fits]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ParetoKWarning)
        try:
            table = compare(dict(zip(names, (load(p) for p in fits), strict=True)), by=by)
        except ValueError as error:
            fail(str(error))
    shown = table.reset_index(names="model")
    console.print(format_table(shown, fmt), markup=False, soft_wrap=True)
    for warning in caught:
        if issubclass(warning.category, ParetoKWarning):
            console.print(f"warning: {warning.message}", markup=False)
