"""``alliance-bayes design show`` and ``simulate``: study designs and the data they make."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console
from .files import TRUTH_HELP, check_outputs, read_spec, read_toml_file, read_truth

design_app = typer.Typer(help="Study designs.", no_args_is_help=True)
app.add_typer(design_app, name="design")


@design_app.command("show")
def design_show(
    design: str = typer.Argument(
        ..., help="A preset (nissen_lie_2013, razzaque_2015) or a TOML file."
    ),
    seed: int = typer.Option(1, help="Seed for one realisation of the design."),
) -> None:
    """Print a design's structure and one realisation's counts and dropout."""
    from ..spec import Design

    if design.endswith(".toml"):
        spec = read_toml_file(Path(design), Design.from_toml, "design")
    else:
        spec = Design.preset(design)
    console.print(spec.summary())
    data = spec.to_data(random_seed=seed)
    console.print(f"\nOne realisation (seed {seed}):")
    console.print(repr(data), markup=False)
    console.print(data.describe()["by_session"].to_string())


@app.command()
def simulate(
    spec: str = typer.Argument(..., help="Model spec (TOML path or shipped name) with a [design]."),
    seed: int = typer.Option(..., help="Seed; the same seed gives the same file, byte for byte."),
    out: Path = typer.Option(
        ..., help="CSV to write; its JSON (seed, spec, truth) goes beside it."
    ),
    truth: str = typer.Option(None, help=TRUTH_HELP),
    likelihood: str = typer.Option(
        None,
        help="Simulate with this likelihood instead of the spec's "
        "(e.g. censored, to keep scores on the scale).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
) -> None:
    """Simulate a data set from a model spec and its design."""
    from .. import datasets

    model_spec = read_spec(spec)
    if likelihood:
        model_spec.likelihood = likelihood
    true_values, truth_name = read_truth(truth, model_spec)
    check_outputs(
        {"the data (CSV)": out, "its metadata (JSON)": out.with_suffix(".json")},
        force=force,
        inputs=[Path(spec), Path(truth) if truth else None],
    )
    with console.status(f"Simulating {model_spec.name} (seed {seed})"):
        frame, meta = datasets.make(model_spec, true_values, seed)
    meta["made_by"] = (
        f"alliance-bayes simulate {Path(spec).stem} --seed {seed} --truth {truth_name}"
        + (f" --likelihood {likelihood}" if likelihood else "")
    )
    csv_path, json_path = datasets.write(frame, meta, out)
    console.print(f"wrote {csv_path} ({len(frame)} rows) and {json_path}")
