"""``alliance-bayes sbc|recovery|power <spec> --n N --out DIR`` and ``alliance-bayes report DIR``.

Re-running the same command resumes the study in ``DIR``. The options every study shares (where
the jobs run, the sampler settings, the seed, ``--adopt``) are declared once, in
:data:`STUDY_OPTIONS`, and reach each command as one :class:`StudyRun`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from .app import app, console, fail
from .files import TRUTH_HELP, check_output_folder, read_spec, read_truth

_ADOPT = (
    "Take the records of a store whose manifest was lost as this study's (only those written "
    "under the same settings are kept)."
)
_SPEC = "Model spec (TOML path or shipped name) with a [design]."
_OUT = "Store folder (re-run to resume)."

# name: (type, option); the defaults are those of run_sbc, run_recovery and run_power
STUDY_OPTIONS: dict[str, tuple[Any, Any]] = {
    "workers": (int | None, typer.Option(None, help="Local worker processes (default: cores).")),
    "scheduler": (
        str | None,
        typer.Option(
            None, help="Dask scheduler address, e.g. tcp://host:8786 (wins over --workers)."
        ),
    ),
    "draws": (int, typer.Option(500, help="Draws per chain of every fit.")),
    "tune": (int, typer.Option(500, help="Tuning steps per chain of every fit.")),
    "chains": (int, typer.Option(2, help="Chains of every fit.")),
    "seed": (int, typer.Option(0, help="Seed of the study; simulation s derives its own from it.")),
    "adopt": (bool, typer.Option(False, "--adopt", help=_ADOPT)),
}


@dataclass(frozen=True)
class StudyRun:
    """The values of :data:`STUDY_OPTIONS` given to one study command."""

    workers: int | None
    scheduler: str | None
    draws: int
    tune: int
    chains: int
    seed: int
    adopt: bool

    def keywords(self) -> dict[str, Any]:
        """The keywords of ``run_sbc``, ``run_recovery`` and ``run_power`` they stand for.

        Examples
        --------
        >>> StudyRun(None, "tcp://host:8786", 100, 100, 2, 0, False).keywords()["executor"]
        'tcp://host:8786'
        """
        from ..checks.jobs import FitSettings  # the library loads when a study runs, not before

        return {
            "settings": FitSettings(draws=self.draws, tune=self.tune, chains=self.chains),
            "executor": self.scheduler or self.workers,
            "random_seed": self.seed,
            "adopt": self.adopt,
        }


def study_command(command: Callable[..., None]) -> Callable[..., None]:
    """Register ``command`` on the app with :data:`STUDY_OPTIONS` after its own options.

    The command declares a keyword-only ``study: StudyRun`` instead of the shared options;
    typer sees the command's own parameters followed by the shared ones.
    """
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "study"]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
        for name, (kind, option) in STUDY_OPTIONS.items()
    ]

    @functools.wraps(command)
    def run(**values: Any) -> None:
        study = StudyRun(**{name: values.pop(name) for name in STUDY_OPTIONS})
        return command(**values, study=study)

    run.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in [*own, *shared]}
    return app.command(command.__name__)(run)


def _counts(text: str) -> list[int]:
    """``--therapists 20,40,70`` as distinct whole numbers of at least one."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1 or len(set(counts)) < len(counts):
        fail(f"--therapists {text!r}: give distinct whole numbers, e.g. --therapists 20,40,70.")
    return counts


def _study_truth(truth: str | None, model_spec):
    """The truth of a recovery or power study, checked against the model before any job runs."""
    from ..models import build_model

    if model_spec.design is None:
        fail(f"model spec {model_spec.name!r} has no [design] table to simulate from.")
    true_values, _ = read_truth(truth, model_spec)
    # names and labels a wrong truth lacks would otherwise fail every job, one by one
    true_values.arrays(build_model(model_spec.design.to_data(random_seed=0), model_spec))
    return true_values


@study_command
def sbc(
    spec: str = typer.Argument(..., help=_SPEC),
    n: int = typer.Option(100, "--n", help="Number of simulations."),
    out: Path = typer.Option(..., help=_OUT),
    *,
    study: StudyRun,
) -> None:
    """Simulation-based calibration of a model spec on its design."""
    from ..checks.sbc import run_sbc

    model_spec = read_spec(spec)
    check_output_folder(out)
    result = run_sbc(model_spec, n_sims=n, store=out, **study.keywords())
    console.print(result.summary(), markup=False)
    _report(out, n)


@study_command
def recovery(
    spec: str = typer.Argument(..., help=_SPEC),
    n: int = typer.Option(50, "--n", help="Number of replications."),
    out: Path = typer.Option(..., help=_OUT),
    truth: str = typer.Option(None, help=TRUTH_HELP),
    *,
    study: StudyRun,
) -> None:
    """Parameter recovery at fixed true values."""
    from ..checks.recovery import run_recovery

    model_spec = read_spec(spec)
    check_output_folder(out)
    true_values = _study_truth(truth, model_spec)
    run_recovery(model_spec, truth=true_values, n_reps=n, store=out, **study.keywords())
    _report(out, n)


@study_command
def power(
    spec: str = typer.Argument(..., help=_SPEC),
    n: int = typer.Option(100, "--n", help="Replications per design."),
    out: Path = typer.Option(..., help=_OUT),
    therapists: str = typer.Option("20,40,70", help="Numbers of therapists to compare."),
    target: str = typer.Option("growth_coef[patient, burdens]"),
    rule: str = typer.Option("95% interval excludes 0"),
    truth: str = typer.Option(None, help=TRUTH_HELP),
    *,
    study: StudyRun,
) -> None:
    """Assurance of the spec's design with different numbers of therapists."""
    import dataclasses

    from ..checks.power import run_power

    model_spec = read_spec(spec)
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
        store=out,
        **study.keywords(),
    )
    console.print(result.table().to_string(index=False), markup=False)
    _report(out, n)


@app.command()
def report(
    folder: Path = typer.Argument(..., exists=True, help="A study's store folder."),
    n: int = typer.Option(
        None, "--n", min=1, help="Report the first N simulations (per design) only."
    ),
) -> None:
    """Write the tables (CSV, markdown) and figures (PNG) of a stored study into its folder."""
    _report(folder, n)


def _report(folder: Path, n: int | None = None) -> None:
    """Write a study's report (:func:`~alliance_bayes.checks.report.write_report`) and say so."""
    from ..checks.report import write_report

    written = write_report(folder, n)
    if written.summary is not None:
        console.print(written.summary, markup=False)
    for name, figures in written.outputs.items():
        console.print(f"wrote {written.folder / name}.csv, .md and {', '.join(figures)} figures")
