"""``alliance-bayes ppc fit.nc --out DIR`` and ``alliance-bayes compare a.nc b.nc --by ...``."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from .cli import _fail, app, check_output_folder, console

FIGURES = ("trajectories", "density", "statistics", "therapist_effects", "loo_pit")


def write_ppc(idata, out: Path, fmt: str = "png", seed: int | None = None) -> list[Path]:
    """Posterior predictive draws, the statistics table (CSV, markdown) and the figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plots
    from .checks import posterior_predictive, ppc_statistics
    from .summary import format_table

    out.mkdir(parents=True, exist_ok=True)
    if "posterior_predictive" not in idata.groups():
        posterior_predictive(idata, random_seed=seed)
    table = ppc_statistics(idata)
    written = [out / "ppc_statistics.csv", out / "ppc_statistics.md"]
    table.to_csv(written[0], index=False)
    written[1].write_text(
        f"Posterior predictive checks ({table.attrs['interval']} intervals, mid-p p-values)\n\n"
        + format_table(table, "markdown")
        + "\n"
    )
    makers = {
        "trajectories": lambda: plots.plot_trajectories(idata, random_seed=seed),
        "density": lambda: plots.plot_density(idata, random_seed=seed),
        "statistics": lambda: plots.plot_statistics(idata),
        "therapist_effects": lambda: plots.plot_therapist_effects(idata),
        "loo_pit": lambda: plots.plot_loo_pit(idata),
    }
    for name in FIGURES:
        if name == "therapist_effects" and "therapist_effect" not in idata.posterior:
            continue
        if name == "loo_pit" and "log_likelihood" not in idata.groups():
            continue
        figure = makers[name]()
        path = out / f"{name}.{fmt}"
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


@app.command()
def ppc(
    fit_file: Path = typer.Argument(..., exists=True, help="A fit written by `fit` (netCDF)."),
    out: Path = typer.Option(..., help="Folder for the figures and the statistics table."),
    fmt: str = typer.Option("png", "--format", help="Figure format: png, svg or pdf."),
    seed: int = typer.Option(None, help="Seed of the posterior predictive draws."),
    force: bool = typer.Option(False, "--force", help="Overwrite the files of an earlier run."),
) -> None:
    """Posterior predictive checks of a fit: statistics table (CSV, markdown) and figures."""
    from .fit import load
    from .summary import format_table

    if fmt not in ("png", "svg", "pdf"):
        _fail(f"--format must be png, svg or pdf, got {fmt!r}.")
    names = ["ppc_statistics.csv", "ppc_statistics.md", *(f"{f}.{fmt}" for f in FIGURES)]
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
    from .compare import ParetoKWarning, compare
    from .fit import load
    from .summary import format_table

    if len(fits) < 2:
        _fail("compare needs two or more fits.")
    names = [p.stem for p in fits]
    if len(set(names)) < len(names):
        names = [str(p) for p in fits]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ParetoKWarning)
        try:
            table = compare(dict(zip(names, (load(p) for p in fits), strict=True)), by=by)
        except ValueError as error:
            _fail(str(error))
    shown = table.reset_index(names="model")
    console.print(format_table(shown, fmt), markup=False, soft_wrap=True)
    for warning in caught:
        if issubclass(warning.category, ParetoKWarning):
            console.print(f"warning: {warning.message}", markup=False)
