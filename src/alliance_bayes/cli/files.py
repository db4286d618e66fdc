"""What the commands read and how their outputs are checked, before any work is done.

Model specs and truths (a shipped name or a TOML file), users' tables (CSV, Excel, SPSS), the
``--scale`` and ``--rater-roles`` options; outputs that would lose a file or cannot be written are
refused.
"""

from __future__ import annotations

import importlib
import math
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .app import CliError, fail

T = TypeVar("T")

TRUTH_HELP = (
    "A truth preset or a TOML file with a \\[truth] table (default: the spec's truth; see "
    "Truth.to_toml)."
)


# ---------------------------------------------------------------------------- reading inputs
def read_toml_file(path: Path, reader: Callable[[Path], T], what: str) -> T:
    """``reader(path)``, with the file named in the message when its TOML or contents are bad.

    Examples
    --------
    >>> from alliance_bayes.spec import Design
    >>> _ = Design(n_therapists=20).to_toml("design.toml")
    >>> read_toml_file(Path("design.toml"), Design.from_toml, "design").n_therapists
    20
    """
    try:
        return reader(path)
    except tomllib.TOMLDecodeError as error:
        raise CliError(f"{path} is not valid TOML: {error}.") from error
    except (ValueError, TypeError) as error:
        raise CliError(f"{path} is not a valid {what}: {error}") from error


def read_spec(source: str):
    """A model spec from a TOML path or the name of a shipped spec.

    Examples
    --------
    >>> read_spec("razzaque_2015_regression").name
    'razzaque_2015_regression'
    """
    from ..spec import ModelSpec

    path = Path(source)
    if path.is_file():
        return read_toml_file(path, ModelSpec.from_toml, "model spec")
    try:
        return ModelSpec.shipped(source)
    except KeyError as error:
        fail(f"no model spec {source!r}: not a file, and {error.args[0]}")


def read_truth(source: str | None, model_spec: Any) -> tuple[Any, str]:
    """The truth to simulate from, and how to name it in ``made_by``.

    ``--truth`` (a preset, else a TOML file), else the spec's ``truth``, else the preset named
    like the spec's design (how shipped specs worked before they named their truth).

    Examples
    --------
    >>> read_truth("razzaque_2015", read_spec("razzaque_2015_regression"))[1]
    'razzaque_2015'
    """
    from ..simulate import Truth

    presets = Truth.preset_names()
    if source is not None and source not in presets:
        if not Path(source).is_file():
            fail(f"--truth {source!r} is neither a truth preset {presets} nor an existing file.")
        return read_toml_file(Path(source), Truth.from_toml, "truth"), source
    name = source or model_spec.truth
    if name is None and model_spec.design is not None and model_spec.design.name in presets:
        name = model_spec.design.name
    if name is None:
        fail(
            f"model spec {model_spec.name!r} names no truth to simulate from: pass --truth "
            f"FILE.toml (a [truth] table, see Truth.to_toml) or a preset {presets}, or set "
            'truth = "<preset>" in its [model] table.'
        )
    if name not in presets:
        fail(
            f"model spec {model_spec.name!r} names the truth {name!r}, which is not a preset "
            f"{presets}; pass --truth FILE.toml."
        )
    return Truth.preset(name), name


def read_table(path: Path, ids: Iterable[str | None] = (), sheet: str | None = None) -> Any:
    """A user's CSV, Excel workbook or SPSS file, its id columns read as text.

    :func:`alliance_bayes.io.read_table` reads it (``01`` and ``1`` stay two therapists; SPSS's
    declared missing codes are missing); a missing optional package becomes one ``error:`` line.

    Examples
    --------
    >>> _ = Path("ratings.csv").write_text("therapist,patient,wai\\n01,1,5.5\\n1,2,6\\n")
    >>> read_table(Path("ratings.csv"), ids=["therapist", "patient"])
      therapist patient  wai
    0        01       1  5.5
    1         1       2  6.0
    >>> read_table(Path("ratings.csv"), sheet="ratings")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    alliance_bayes.errors.DataValidationError: sheet='ratings': ... is not an Excel workbook.
    """
    from ..io import read_table as read

    try:
        return read(path, ids=ids, sheet=sheet)
    except ImportError as error:
        raise CliError(str(error)) from error


def parse_scale(text: str | None, default: Iterable[float] | None) -> tuple[float, float] | None:
    """``--scale low,high`` as two finite numbers with low < high (else the design's scale).

    Examples
    --------
    >>> parse_scale("1,7", None), parse_scale(None, [1, 5])
    ((1.0, 7.0), (1, 5))
    """
    if not text:
        return tuple(default) if default else None  # type: ignore[return-value]
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        fail(f"--scale {text!r}: give the instrument's range as two numbers, e.g. --scale 1,7.")
    if values[0] >= values[1]:
        fail(f"--scale {text!r}: the low end must be below the high end, e.g. --scale 1,7.")
    return values[0], values[1]


def parse_rater_roles(text: str | None) -> dict[str, str] | None:
    """``--rater-roles client=patient,clinician=therapist`` as ``{label: role}``.

    Examples
    --------
    >>> parse_rater_roles("client=patient, clinician=therapist")
    {'client': 'patient', 'clinician': 'therapist'}
    """
    if not text:
        return None
    pairs = [part.split("=") for part in text.split(",")]
    if any(len(pair) != 2 or not all(p.strip() for p in pair) for pair in pairs):
        fail(
            f"--rater-roles {text!r}: give each rater label its role as label=role, e.g. "
            "--rater-roles client=patient,clinician=therapist."
        )
    return {label.strip(): role.strip() for label, role in pairs}


# ---------------------------------------------------------------------------- outputs
# what ``--out``'s suffix writes: (the kind of file, the optional package it needs); any other
# suffix writes CSV (as ``simulate`` always did), except the ones that name what it cannot write
TABLE_FORMATS = {".xlsx": ("Excel", "openpyxl"), ".sav": ("SPSS", "pyreadstat")}
UNWRITTEN = (".xls", ".xlsm", ".zsav", ".por", ".dta", ".parquet")


def table_format(path: Path) -> str:
    """The kind of table ``path``'s suffix asks for (``CSV`` unless ``.xlsx`` or ``.sav``).

    Checked before any work: a suffix of a format that is not written, or a missing optional
    package of the ``io`` extra, is one ``error:`` line.

    Examples
    --------
    >>> table_format(Path("sim.XLSX")), table_format(Path("sim.sav")), table_format(Path("sim.csv"))
    ('Excel', 'SPSS', 'CSV')
    >>> table_format(Path("sim.zsav"))
    Traceback (most recent call last):
    alliance_bayes.cli.app.CliError: --out sim.zsav: .zsav files are not written; write .csv, \
.xlsx (Excel) or .sav (SPSS).
    """
    suffix = path.suffix.lower()
    if suffix in UNWRITTEN:
        fail(
            f"--out {path}: {suffix} files are not written; write .csv, .xlsx (Excel) or "
            ".sav (SPSS)."
        )
    kind, package = TABLE_FORMATS.get(suffix, ("CSV", None))
    if package is not None:
        try:
            importlib.import_module(package)
        except ImportError:
            fail(
                f"writing {kind} files needs the optional package {package!r}: "
                'pip install "alliance_bayes[io]"'
            )
    return kind


def write_table(frame: Any, path: Path, float_format: str) -> None:
    """Write ``frame`` as CSV, Excel or SPSS by ``path``'s suffix (see :func:`table_format`).

    Floats are written as ``float_format`` gives them in every format, so the three files of
    one data set hold the same numbers. Ids stay text; missing values are empty cells (SPSS:
    system missing).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"therapist": ["01", "02"], "alliance": [5.123456789, None]})
    >>> write_table(frame, Path("sim.csv"), "%.6g")
    >>> print(Path("sim.csv").read_text())
    therapist,alliance
    01,5.12346
    02,
    <BLANKLINE>
    """
    kind = table_format(path)
    if kind == "CSV":
        frame.to_csv(path, index=False, float_format=float_format, lineterminator="\n")
        return
    frame = frame.copy()
    for column in frame.select_dtypes("floating").columns:
        frame[column] = [float(float_format % v) for v in frame[column]]
    if kind == "Excel":
        frame.to_excel(path, index=False, sheet_name="data")
    else:
        import pyreadstat

        pyreadstat.write_sav(frame, str(path))


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)  # hard links


def _check_writable_folder(folder: Path, what: str) -> None:
    """``folder`` (or, if it does not exist yet, the folder it would be made in) is writable."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        fail(f"{what}: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        fail(f"{what}: the folder {existing} is not writable.")


def check_outputs(
    files: Mapping[str, Path], *, force: bool, inputs: Iterable[Path | None] = ()
) -> None:
    """Refuse, before any work, outputs that would lose a file or that cannot be written.

    Parameters
    ----------
    files
        ``{description: path}`` of every file the command will write.
    force
        Allow overwriting existing files (never the command's inputs).
    inputs
        Files the command reads; they are never overwritten.

    Examples
    --------
    >>> check_outputs({"the fit": Path("no_such_folder/fit.nc")}, force=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    alliance_bayes.cli.app.CliError: cannot write no_such_folder/fit.nc: the folder ... not exist.
    """
    sources = [Path(p) for p in inputs if p is not None and Path(p).is_file()]
    seen: dict[str, Path] = {}
    for what, path in files.items():
        for other_what, other in seen.items():
            if _same_file(path, other):
                fail(
                    f"{other_what} and {what} would both be written to {path}; "
                    "choose another --out."
                )
        seen[what] = path
        if any(_same_file(path, source) for source in sources):
            fail(
                f"{path} is an input of this command; it is never overwritten "
                "(choose another --out)."
            )
        if path.is_dir():
            fail(f"{path} is a folder; --out needs a file name.")
        if path.exists() and not force:
            fail(f"{path} exists; pass --force to overwrite it.")
        if not path.parent.is_dir():
            fail(f"cannot write {path}: the folder {path.parent} does not exist.")
        _check_writable_folder(path.parent, f"cannot write {path}")


def check_output_folder(folder: Path, names: Iterable[str] = (), *, force: bool = False) -> None:
    """Refuse, before any work, a folder that cannot be written or holds files it would replace.

    Examples
    --------
    >>> check_output_folder(Path("study"), ["sbc_test.csv"])
    """
    if folder.exists() and not folder.is_dir():
        fail(f"{folder} is a file; --out needs a folder.")
    _check_writable_folder(folder, f"cannot write into {folder}")
    present = [name for name in names if (folder / name).exists()]
    if present and not force:
        fail(
            f"{folder} already holds {', '.join(present)}; pass --force to overwrite them, or "
            "choose another --out."
        )
