"""``alliance-bayes sbc|recovery|power <spec> --n N --out DIR`` and ``alliance-bayes report DIR``.

Re-running the same command resumes the study in ``DIR``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .cli import TRUTH_HELP, _fail, _spec, _truth, app, check_output_folder, console

_ADOPT = (
    "Take the records of a store whose manifest was lost as this study's (only those written "
    "under the same settings are kept)."
)


def _where(workers: int | None, scheduler: str | None) -> dict:
    return {"workers": workers, "scheduler": scheduler}


def _counts(text: str) -> list[int]:
    """``--therapists 20,40,70`` as distinct whole numbers of at least one."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1 or len(set(counts)) < len(counts):
        _fail(f"--therapists {text!r}: give distinct whole numbers, e.g. --therapists 20,40,70.")
    return counts


def _study_truth(truth: str | None, model_spec):
    """The truth of a recovery or power study, checked against the model before any job runs."""
    from .models import build_model

    if model_spec.design is None:
        _fail(f"model spec {model_spec.name!r} has no [design] table to simulate from.")
    true_values, _ = _truth(truth, model_spec)
    # names and labels a wrong truth lacks would otherwise fail every job, one by one
    true_values.arrays(build_model(model_spec.design.to_data(random_seed=0), model_spec))
    return true_values


@app.command()
def sbc(
    spec: str = typer.Argument(..., help="Model spec (TOML path or shipped name) with a [design]."),
    n: int = typer.Option(100, "--n", help="Number of simulations."),
    out: Path = typer.Option(..., help="Store folder (re-run to resume)."),
    workers: int = typer.Option(None, help="Local worker processes (default: cores)."),
    scheduler: str = typer.Option(None, help="Dask scheduler address, e.g. tcp://host:8786."),
    draws: int = typer.Option(500),
    tune: int = typer.Option(500),
    chains: int = typer.Option(2),
    seed: int = typer.Option(0),
    adopt: bool = typer.Option(False, "--adopt", help=_ADOPT),
) -> None:
    """Simulation-based calibration of a model spec on its design."""
    from .checks.sbc import run_sbc

    model_spec = _spec(spec)
    check_output_folder(out)
    result = run_sbc(
        model_spec,
        n_sims=n,
        draws=draws,
        tune=tune,
        chains=chains,
        store=out,
        random_seed=seed,
        adopt=adopt,
        **_where(workers, scheduler),
    )
    console.print(result.summary(), markup=False)
    _write_report(out, n)


@app.command()
def recovery(
    spec: str = typer.Argument(..., help="Model spec (TOML path or shipped name) with a [design]."),
    n: int = typer.Option(50, "--n", help="Number of replications."),
    out: Path = typer.Option(..., help="Store folder (re-run to resume)."),
    truth: str = typer.Option(None, help=TRUTH_HELP),
    workers: int = typer.Option(None),
    scheduler: str = typer.Option(None),
    draws: int = typer.Option(500),
    tune: int = typer.Option(500),
    chains: int = typer.Option(2),
    seed: int = typer.Option(0),
    adopt: bool = typer.Option(False, "--adopt", help=_ADOPT),
) -> None:
    """Parameter recovery at fixed true values."""
    from .checks.recovery import run_recovery

    model_spec = _spec(spec)
    check_output_folder(out)
    true_values = _study_truth(truth, model_spec)
    run_recovery(
        model_spec,
        truth=true_values,
        n_reps=n,
        draws=draws,
        tune=tune,
        chains=chains,
        store=out,
        random_seed=seed,
        adopt=adopt,
        **_where(workers, scheduler),
    )
    _write_report(out, n)


@app.command()
def power(
    spec: str = typer.Argument(..., help="Model spec (TOML path or shipped name) with a [design]."),
    n: int = typer.Option(100, "--n", help="Replications per design."),
    out: Path = typer.Option(..., help="Store folder (re-run to resume)."),
    therapists: str = typer.Option("20,40,70", help="Numbers of therapists to compare."),
    target: str = typer.Option("growth_coef[patient, burdens]"),
    rule: str = typer.Option("95% interval excludes 0"),
    truth: str = typer.Option(None, help=TRUTH_HELP),
    workers: int = typer.Option(None),
    scheduler: str = typer.Option(None),
    draws: int = typer.Option(500),
    tune: int = typer.Option(500),
    chains: int = typer.Option(2),
    seed: int = typer.Option(0),
    adopt: bool = typer.Option(False, "--adopt", help=_ADOPT),
) -> None:
    """Assurance of the spec's design with different numbers of therapists."""
    import dataclasses

    from .checks.power import run_power

    model_spec = _spec(spec)
    check_output_folder(out)
    true_values = _study_truth(truth, model_spec)
    base = model_spec.design
    designs = {}
    for count in _counts(therapists):
        per = base.patients_per_therapist
        per = per if not isinstance(per, list) else round(sum(per) / len(per))
        designs[f"{count}_therapists"] = dataclasses.replace(
            base, n_therapists=count, patients_per_therapist=per, name=f"{count}_therapists"
        )
    result = run_power(
        model_spec,
        designs,
        true_values,
        n_reps=n,
        target=target,
        rule=rule,
        draws=draws,
        tune=tune,
        chains=chains,
        store=out,
        random_seed=seed,
        adopt=adopt,
        **_where(workers, scheduler),
    )
    console.print(result.table().to_string(index=False), markup=False)
    _write_report(out, n)


@app.command()
def report(
    folder: Path = typer.Argument(..., exists=True, help="A study's store folder."),
    n: int = typer.Option(
        None, "--n", min=1, help="Report the first N simulations (per design) only."
    ),
) -> None:
    """Write the tables (CSV, markdown) and figures (PNG) of a stored study into its folder."""
    _write_report(folder, n)


def _write_report(folder: Path, n: int | None = None) -> None:
    """Write a study's tables and figures into its folder; never through a symlink out of it."""
    import matplotlib

    matplotlib.use("Agg")
    from .checks.power import PowerResult
    from .checks.recovery import RecoveryResult
    from .checks.sbc import SBCResult
    from .checks.store import Store
    from .summary import format_table

    folder = Path(folder)
    manifest = Store(folder).manifest() if (folder / "manifest.json").exists() else {}
    if "designs" in manifest or (folder / "power.json").exists():
        result = PowerResult.from_store(folder, n=n)
        outputs = {"power": (result.table(), {"power_curve": result.plot()})}
    else:
        kind = manifest.get("kind") or Store(folder).manifest()["kind"]
        if kind == "sbc":
            result = SBCResult.from_store(folder, n=n)
            figures = {"sbc_ecdf": result.plot_ecdf(), "sbc_ranks": result.plot_ranks()}
            outputs = {"sbc_test": (result.test(), figures)}
            console.print(result.summary(), markup=False)
        else:
            result = RecoveryResult.from_store(folder, n=n)
            outputs = {"recovery": (result.table(), {"recovery": result.plot()})}
    for name, (table, figures) in outputs.items():
        files = {
            f"{name}.csv": table.to_csv(index=False).encode(),
            f"{name}.md": (format_table(table) + "\n").encode(),
        } | {f"{figure_name}.png": _png(figure) for figure_name, figure in figures.items()}
        _write_files(folder, files)
        console.print(f"wrote {folder / name}.csv, .md and {', '.join(figures)} figures")


def _png(figure) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    return buffer.getvalue()


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write report files atomically, after checking that none leads out of ``folder``."""
    from .checks.store import inside, write_atomic

    for name in files:  # all checked before any is written: no half-written report
        inside(folder, folder / name)
    for name, data in files.items():
        write_atomic(folder / name, data, folder=folder)
