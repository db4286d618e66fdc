"""``alliance-bayes sbc|recovery|power <spec> --n N --out DIR`` and ``alliance-bayes report DIR``.

Re-running the same command resumes the study in ``DIR``. What every study shares (the spec,
the store folder, where the jobs run, the sampler settings, the seed, ``--adopt``) is declared
once, in :data:`STUDY_OPTIONS`, and reaches each command as one :class:`StudyRun`.
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
_SPEC = "Model spec (TOML path or shipped name) with a \\[design]."
_OUT = "Store folder (re-run to resume)."

# name: (type, argument or option); the defaults are those of run_sbc, run_recovery, run_power
STUDY_OPTIONS: dict[str, tuple[Any, Any]] = {
    "spec": (str, typer.Argument(..., help=_SPEC)),
    "out": (Path, typer.Option(..., help=_OUT)),
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

    spec: str
    out: Path
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
        >>> study = StudyRun("spec", Path("out"), None, "tcp://host:8786", 100, 100, 2, 0, False)
        >>> study.keywords()["executor"]
        'tcp://host:8786'
        """
        from ..checks.jobs import FitSettings  # the library loads when a study runs, not before

        return {
            "store": self.out,
            "settings": FitSettings(draws=self.draws, tune=self.tune, chains=self.chains),
            "executor": self.scheduler or self.workers,
            "random_seed": self.seed,
            "adopt": self.adopt,
        }


def study_command(command: Callable[..., None]) -> Callable[..., None]:
    """Register ``command`` on the app with the argument and options of :data:`STUDY_OPTIONS`.

    The command declares its own options and a keyword-only ``study: StudyRun``; typer sees the
    spec argument, the command's own options, then the shared options.
    """
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "study"]
    spec, *shared = [_parameter(name, *typed) for name, typed in STUDY_OPTIONS.items()]
    parameters = [spec, *own, *shared]

    @functools.wraps(command)
    def run(**values: Any) -> None:
        study = StudyRun(**{name: values.pop(name) for name in STUDY_OPTIONS})
        return command(**values, study=study)

    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return app.command(command.__name__)(run)


def _parameter(name: str, kind: Any, option: Any) -> inspect.Parameter:
    """A parameter that typer reads as ``option``: the spec comes first, the rest by name."""
    how = (
        inspect.Parameter.POSITIONAL_OR_KEYWORD
        if name == "spec"
        else inspect.Parameter.KEYWORD_ONLY
    )
    return inspect.Parameter(name, how, default=option, annotation=kind)


def _counts(text: str) -> list[int]:
    """``--therapists 20,40,70`` as distinct whole numbers of at least one."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1 or len(set(counts)) < len(counts):
        fail(f"--therapists {text!r}: give distinct whole numbers, e.g. --therapists 20,40,70.")
    return counts


def _inputs(study: StudyRun, truth: str | None = None, *, fixed: bool = True):
    """The spec of a study and, if ``fixed``, its truth; all checked before any job runs.

    ``fixed``: recovery and power simulate at fixed true values, SBC draws them from the prior.
    """
    from ..models import build_model

    model_spec = read_spec(study.spec)
    check_output_folder(study.out)
    if not fixed:
        return model_spec, None
    if model_spec.design is None:
        fail(f"model spec {model_spec.name!r} has no [design] table to simulate from.")
    true_values, _ = read_truth(truth, model_spec)
    # names and labels a wrong truth lacks would otherwise fail every job, one by one
    true_values.arrays(build_model(model_spec.design.to_data(random_seed=0), model_spec))
    return model_spec, true_values


def _therapist_designs(base, counts: list[int]) -> dict:
    """The spec's design with each number of therapists (patients per therapist: the mean)."""
    import dataclasses

    per = base.patients_per_therapist
    per = per if not isinstance(per, list) else round(sum(per) / len(per))
    return {
        f"{count}_therapists": dataclasses.replace(
            base, n_therapists=count, patients_per_therapist=per, name=f"{count}_therapists"
        )
        for count in counts
    }


@study_command
def sbc(
    n: int = typer.Option(100, "--n", help="Number of simulations."), *, study: StudyRun
) -> None:
    """Simulation-based calibration of a model spec on its design."""
    from ..checks.sbc import run_sbc

    model_spec, _ = _inputs(study, fixed=False)
    console.print(run_sbc(model_spec, n_sims=n, **study.keywords()).summary(), markup=False)
    _report(study.out, n)


@study_command
def recovery(
    n: int = typer.Option(50, "--n", help="Number of replications."),
    truth: str = typer.Option(None, help=TRUTH_HELP),
    *,
    study: StudyRun,
) -> None:
    """Parameter recovery at fixed true values."""
    from ..checks.recovery import run_recovery

    model_spec, true_values = _inputs(study, truth)
    run_recovery(model_spec, truth=true_values, n_reps=n, **study.keywords())
    _report(study.out, n)


@study_command
def power(
    n: int = typer.Option(100, "--n", help="Replications per design."),
    therapists: str = typer.Option("20,40,70", help="Numbers of therapists to compare."),
    target: str = typer.Option("growth_coef[patient, burdens]"),
    rule: str = typer.Option("95% interval excludes 0"),
    truth: str = typer.Option(None, help=TRUTH_HELP),
    *,
    study: StudyRun,
) -> None:
    """Assurance of the spec's design with different numbers of therapists."""
    from ..checks.power import run_power

    model_spec, true_values = _inputs(study, truth)
    designs = _therapist_designs(model_spec.design, _counts(therapists))
    result = run_power(
        model_spec, designs, true_values, n_reps=n, target=target, rule=rule, **study.keywords()
    )
    console.print(result.table().to_string(index=False), markup=False)
    _report(study.out, n)


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
