"""``alliance-bayes design show`` and ``simulate``: study designs and the data they make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from .app import app, console, fail
from .files import (
    TRUTH_HELP,
    check_outputs,
    read_spec,
    read_toml_file,
    read_truth,
    table_format,
    write_table,
)

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


WIDE_PATTERN = "alliance_{rater}_s{session}"


@app.command()
def simulate(
    spec: str = typer.Argument(
        ..., help="Model spec (TOML path or shipped name) with a \\[design]."
    ),
    seed: int = typer.Option(..., help="Seed; the same seed gives the same file, byte for byte."),
    out: Path = typer.Option(
        ...,
        help="The data file to write, by its suffix: .csv, .xlsx (Excel) or .sav (SPSS); its "
        "JSON (seed, spec, truth) goes beside it.",
    ),
    truth: str = typer.Option(None, help=TRUTH_HELP),
    likelihood: str = typer.Option(
        None,
        help="Simulate with this likelihood instead of the spec's "
        "(e.g. censored, to keep scores on the scale).",
    ),
    layout: str = typer.Option(
        "long",
        "--format",
        help="long: one row per rating; wide: one row per patient, a column per rater and "
        "session (see --pattern), as `fit --wide PATTERN` reads it.",
    ),
    pattern: str = typer.Option(
        None,
        help=f"The score columns of --format wide (default {WIDE_PATTERN!r}; without {{rater}}: "
        "one row per patient and rater).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
) -> None:
    """Simulate a data set from a model spec and its design."""
    from .. import datasets

    pattern = _wide_pattern(layout, pattern)
    model_spec = read_spec(spec)
    if likelihood:
        model_spec.likelihood = likelihood
    true_values, truth_name = read_truth(truth, model_spec)
    kind = table_format(out)
    check_outputs(
        {f"the data ({kind})": out, "its metadata (JSON)": out.with_suffix(".json")},
        force=force,
        inputs=[Path(spec), Path(truth) if truth else None],
    )
    with console.status(f"Simulating {model_spec.name} (seed {seed})"):
        frame, meta = datasets.make(model_spec, true_values, seed)
    meta["made_by"] = (
        f"alliance-bayes simulate {Path(spec).stem} --seed {seed} --truth {truth_name}"
        + (f" --likelihood {likelihood}" if likelihood else "")
        + (f" --format wide --pattern '{pattern}'" if pattern else "")
    )
    if pattern:
        frame = _to_wide(frame, meta, pattern)
    if kind == "CSV":  # the shipped data sets' writer: the same bytes as before
        datasets.write(frame, meta, out)
    else:
        write_table(frame, out, datasets.FLOAT_FORMAT)
        out.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    rows = f"{len(frame)} rows" + (", wide" if pattern else "")
    console.print(f"wrote {out} ({rows}) and {out.with_suffix('.json')}")


def _wide_pattern(layout: str, pattern: str | None) -> str | None:
    """The pattern of the wide layout (``None`` for long), checked before any work."""
    from ..io import pattern_placeholders

    if layout not in ("long", "wide"):
        fail(f"--format {layout!r}: choose long or wide.")
    if layout == "long":
        if pattern is not None:
            fail("--pattern names the columns of --format wide; add --format wide.")
        return None
    pattern = pattern or WIDE_PATTERN
    pattern_placeholders(pattern)  # {session} once, {rater} at most once
    return pattern


def _to_wide(frame: Any, meta: dict[str, Any], pattern: str) -> Any:
    """The simulated long frame in the wide layout; ``meta["columns"]`` says how to read it."""
    from ..io import long_to_wide, pattern_placeholders

    columns = dict(meta["columns"])
    by_rater = "rater" in pattern_placeholders(pattern)
    ids = [columns["therapist"], columns["patient"], *([] if by_rater else [columns["rater"]])]
    wide = long_to_wide(
        frame,
        pattern,
        id_columns=ids,
        score=columns["score"],
        time=columns["time"],
        rater=columns["rater"] if by_rater else None,
    )
    meta["columns"] = {
        "therapist": columns["therapist"],
        "patient": columns["patient"],
        **({} if by_rater else {"rater": columns["rater"]}),
        "wide": pattern,
    }
    return wide
