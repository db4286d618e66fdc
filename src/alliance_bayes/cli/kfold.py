"""``alliance-bayes kfold fit.nc --by therapist --out DIR``: exact leave-one-group-out refits.

The refits are records of a store in ``DIR`` (one per fold): re-running the same command resumes
where a stopped run left off, and a run with other settings is refused. The table of the groups'
estimates, ``kfold_<by>.csv``, is written again from the records after every run.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console, fail
from .files import check_output_folder


@app.command("kfold")
def kfold_command(
    fit_file: Path = typer.Argument(..., exists=True, help="A fit written by `fit` (netCDF)."),
    out: Path = typer.Option(..., help="Folder of the refits' records (re-run to resume)."),
    by: str = typer.Option("therapist", help="Leave out one: therapist or patient."),
    folds: int = typer.Option(None, help="K folds of random groups (default: one per group)."),
    draws: int = typer.Option(500, help="Draws per chain of every refit."),
    tune: int = typer.Option(500, help="Tuning steps per chain of every refit."),
    chains: int = typer.Option(2, help="Chains of every refit."),
    workers: int = typer.Option(None, help="Local worker processes (default: cores)."),
    scheduler: str = typer.Option(
        None, help="Dask scheduler address, e.g. tcp://host:8786 (wins over --workers)."
    ),
    seed: int = typer.Option(0, help="Seed of the folds, the refits and new-group draws."),
) -> None:
    """Exact leave-one-therapist-out (or patient, or K-fold) cross-validation by refits."""
    if by not in ("therapist", "patient"):
        fail(f"--by must be therapist or patient, got {by!r}.")
    for name, value in (("draws", draws), ("tune", tune), ("chains", chains)):
        if value < 1:
            fail(f"--{name} must be at least 1, got {value}.")
    check_output_folder(out)
    from ..checks.jobs import FitSettings
    from ..checks.kfold import kfold
    from ..result import load

    idata = load(fit_file)
    result = kfold(
        idata,
        by,
        folds,
        settings=FitSettings(draws=draws, tune=tune, chains=chains),
        executor=scheduler or workers,
        store=out,
        random_seed=seed,
        progress=True,
    )
    table = result.loo_i.to_dataframe(name="elpd")
    table["pareto_k"] = result.pareto_k.values
    path = out / f"kfold_{by}.csv"
    table.to_csv(path)
    high = int((result.pareto_k.values > result.good_k).sum())
    console.print(
        f"elpd_kfold = {result['elpd_loo']:.1f} (se {result['se']:.1f}), p = "
        f"{result['p_loo']:.1f}, over {result.n_data_points} {by}s in {result['n_folds']} "
        f"refits; {high} with Pareto k > {result.good_k:.2f} (more draws would help them). "
        f"Wrote {path}",
        markup=False,
    )
