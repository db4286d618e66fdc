"""The ``alliance-bayes`` command."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ._version import __version__

app = typer.Typer(help="Bayesian multilevel models of the therapeutic alliance.",
                  no_args_is_help=True, add_completion=False)
design_app = typer.Typer(help="Study designs.", no_args_is_help=True)
app.add_typer(design_app, name="design")
console = Console()


def _version(value: bool) -> None:
    if value:
        console.print(f"alliance-bayes {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Bayesian multilevel models of the therapeutic alliance."""


@design_app.command("show")
def design_show(
    design: str = typer.Argument(..., help="A preset (nissen_lie_2013, razzaque_2015) or a TOML file."),
    seed: int = typer.Option(1, help="Seed for one realisation of the design."),
) -> None:
    """Print a design's structure and one realisation's counts and dropout."""
    from .spec import Design

    spec = Design.from_toml(Path(design)) if design.endswith(".toml") else Design.preset(design)
    console.print(spec.summary())
    data = spec.to_data(random_seed=seed)
    console.print(f"\nOne realisation (seed {seed}):")
    console.print(repr(data))
    console.print(data.describe()["by_session"].to_string())
