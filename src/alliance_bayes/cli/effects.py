"""``alliance-bayes effects fit.nc --covariate burdens --out fig.png [--table effects.csv]``."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from .app import app, console, fail
from .files import check_outputs

FIGURE_FORMATS = (".png", ".svg", ".pdf")


def parse_numbers(text: str | None, option: str) -> list[float] | None:
    """``--values -1,0,1`` as finite numbers (``None`` when not given).

    Examples
    --------
    >>> parse_numbers("-1, 0,1.5", "--values")
    [-1.0, 0.0, 1.5]
    """
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        fail(f"{option} {text!r}: give numbers separated by commas, e.g. {option}=-1,0,1.")
    return values


@app.command("effects")
def effects_command(
    fit_file: Path = typer.Argument(..., exists=True, help="A fit written by `fit` (netCDF)."),
    covariate: str = typer.Option(..., help="The covariate, e.g. burdens."),
    out: Path = typer.Option(..., help="The figure: a .png, .svg or .pdf file."),
    values: str = typer.Option(
        None, help="Covariate values, e.g. --values=-1,0,1 (the default; SD units unless --raw)."
    ),
    raw: bool = typer.Option(False, "--raw", help="--values are raw scores, not SD units."),
    sessions: str = typer.Option(
        None,
        help="Sessions of the table (default: first, middle, last observed); e.g. 3,12,40.",
    ),
    label: str = typer.Option(None, help="The covariate's name in the legend."),
    prob: float = typer.Option(0.95, help="Mass of the credible bands and intervals."),
    table: Path = typer.Option(
        None, help="Also write the differences per SD and per raw unit (CSV)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Expected trajectories per rater at covariate values (figure) and differences (table)."""
    if out.suffix.lower() not in FIGURE_FORMATS:
        fail(f"--out {out}: the figure must be a .png, .svg or .pdf file.")
    if not 0 < prob < 1:
        fail(f"--prob must be between 0 and 1, got {prob}.")
    chosen = parse_numbers(values, "--values") or [-1.0, 0.0, 1.0]
    at = parse_numbers(sessions, "--sessions")
    files = {"the figure": out} | ({"the table": table} if table is not None else {})
    check_outputs(files, force=force, inputs=[fit_file])

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..effects import conditional_effect_table
    from ..plots.conditional import plot_conditional_effects
    from ..result import load
    from ..summary import format_table

    idata = load(fit_file)
    units = "raw" if raw else "sd"
    figure = plot_conditional_effects(idata, covariate, chosen, units=units, prob=prob, label=label)
    differences = conditional_effect_table(idata, covariate, sessions=at, prob=prob)
    figure.savefig(out, dpi=300, bbox_inches="tight")
    plt.close(figure)
    console.print(
        f"Expected difference in alliance per SD of {covariate} "
        f"(average therapist and patient, {100 * prob:g}% intervals)",
        markup=False,
    )
    shown = differences[differences["per"] == "SD"].drop(columns="per")
    console.print(format_table(shown, "markdown"), markup=False, soft_wrap=True)
    written = [out]
    if table is not None:
        differences.insert(0, "covariate", covariate)
        differences.to_csv(table, index=False, float_format="%.6g")
        written.append(table)
    console.print("wrote " + ", ".join(str(p) for p in written), markup=False)
