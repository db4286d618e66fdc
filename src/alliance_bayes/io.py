"""Study files in: CSV, Excel and SPSS tables, and the wide layout (one column per session).

:func:`read_table` reads a file by its suffix into a frame for :meth:`AllianceData.from_frame`
or :meth:`AllianceData.from_wide`; :func:`wide_to_long` turns one row per patient (or per patient
and rater) with one column per session into one row per rating, and :func:`long_to_wide` back.
Excel and SPSS files need the optional packages of the ``io`` extra
(``pip install "alliance_bayes[io]"``).

Nothing here guesses: repeated column names (which pandas would silently rename ``x.1``), a
column that fits the pattern but whose session is not a number, two columns holding the same
session, a workbook with several sheets and no ``sheet=`` are refused with a
:class:`DataValidationError` naming the columns, rows or sheets.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from . import _validation as check
from .errors import DataValidationError, show_some

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
SPSS_SUFFIXES = (".sav", ".zsav")
SUFFIXES = (".csv", *EXCEL_SUFFIXES, *SPSS_SUFFIXES)
PLACEHOLDERS = ("rater", "session")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
WIDE = "wide frame"
LONG = "long frame"


# ---------------------------------------------------------------------------- reading files
def read_table(
    path: str | Path,
    *,
    sheet: str | None = None,
    ids: Iterable[str | None] = (),
    use_labels: Iterable[str] = (),
) -> pd.DataFrame:
    """A study's table from a CSV, Excel (``.xlsx``) or SPSS (``.sav``, ``.zsav``) file.

    Parameters
    ----------
    path
        The file; its suffix says how to read it.
    sheet
        The worksheet of an Excel workbook. A workbook with one sheet needs none; with several,
        naming one is required (which one holds the ratings is not guessed).
    ids
        Id columns (therapist, patient, rater), read as text in every format, so that ``01``
        and ``1`` stay two therapists: a CSV's text as written, a number in Excel or SPSS as
        its digits (``7.0`` is ``"7"``). Names that are not columns (or ``None``) are ignored.
    use_labels
        SPSS columns whose codes are replaced by their value labels (e.g. a rater column coded
        1/2 with the labels ``client``/``clinician``); every code must have a label.

    Returns
    -------
    pandas.DataFrame
        For SPSS files, the values that the file declares missing (discrete codes and ranges)
        are NaN, and ``frame.attrs`` keeps what the file said: ``"value_labels"`` (column ->
        {code: label}), ``"column_labels"`` (column -> label), ``"missing_ranges"`` (column ->
        the declared codes, as ``{"lo": ..., "hi": ...}``) and ``"user_missing"`` (column ->
        {row: the code that was set to NaN}).

    Raises
    ------
    DataValidationError
        An unsupported suffix (naming the supported ones), an empty or undecodable file, a
        repeated column name, a workbook with several sheets and no ``sheet=``, an unknown sheet,
        ``use_labels`` naming a column without labels or with unlabelled codes.
    FileNotFoundError
        No such file.
    ImportError
        ``openpyxl`` (Excel) or ``pyreadstat`` (SPSS) is missing: ``pip install
        "alliance_bayes[io]"``.

    Examples
    --------
    >>> import pandas as pd
    >>> pd.DataFrame({"therapist": ["01", "1"], "wai": [5.0, 6.0]}).to_csv("r.csv", index=False)
    >>> read_table("r.csv", ids=["therapist"])["therapist"].tolist()
    ['01', '1']
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataValidationError(_unsupported(path))
    if sheet is not None and suffix not in EXCEL_SUFFIXES:
        raise DataValidationError(f"sheet={sheet!r}: {path} is not an Excel workbook.")
    use_labels = list(use_labels)
    if use_labels and suffix not in SPSS_SUFFIXES:
        raise DataValidationError(
            f"use_labels={use_labels}: only SPSS files (.sav, .zsav) carry value labels; "
            f"{path} is not one."
        )
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist or is not a file.")
    ids = [c for c in ids if c is not None]
    if suffix == ".csv":
        return read_csv(path, ids)
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(path, sheet, ids)
    return _read_spss(path, ids, use_labels)


def _unsupported(path: Path) -> str:
    hint = " (an old Excel workbook: save it as .xlsx)" if path.suffix.lower() == ".xls" else ""
    return (
        f"cannot read {path}{hint}: the supported files are {', '.join(SUFFIXES)} "
        "(CSV, Excel workbooks, SPSS data)."
    )


def optional_module(name: str, what: str) -> ModuleType:
    """Import an optional dependency of the ``io`` extra, or say how to install it.

    Examples
    --------
    >>> optional_module("no_such_reader", "such files")
    Traceback (most recent call last):
    ImportError: reading such files needs the optional package 'no_such_reader': pip install "alliance_bayes[io]"
    """  # noqa: E501
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f'reading {what} needs the optional package {name!r}: pip install "alliance_bayes[io]"'
        ) from error


def read_csv(path: Path, ids: Iterable[str] = ()) -> pd.DataFrame:
    """A CSV, its id columns read as text: ``01`` and ``1`` stay two therapists.

    A UTF-8 byte order mark (as spreadsheets write it) is dropped rather than glued to the first
    column's name; a repeated column name is refused (pandas would rename the copy ``x.1``).

    Examples
    --------
    >>> _ = Path("ids.csv").write_text("therapist,wai\\n01,5\\n1,6\\n")
    >>> read_csv(Path("ids.csv"), ids=["therapist"])["therapist"].tolist()
    ['01', '1']
    """
    try:
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, encoding="utf-8-sig")
        _refuse_repeated_names(header.iloc[0].tolist(), str(path))
        return pd.read_csv(path, dtype=dict.fromkeys(ids, str), encoding="utf-8-sig")
    except pd.errors.EmptyDataError as error:
        raise DataValidationError(f"{path} is empty: no header row of column names.") from error
    except UnicodeDecodeError as error:
        raise DataValidationError(
            f"{path} is not UTF-8 text (byte {error.object[error.start]:#04x} at position "
            f"{error.start}); save it as a UTF-8 CSV."
        ) from error
    except pd.errors.ParserError as error:
        raise DataValidationError(f"{path} is not a readable CSV: {error}") from error


def _refuse_repeated_names(names: Sequence[Hashable], where: str) -> None:
    counts = pd.Series([n for n in names if not _missing(n)], dtype=object).value_counts()
    repeated = counts[counts > 1]
    if len(repeated):
        shown = check.show_texts([f"{name!r} ({n} times)" for name, n in repeated.items()])
        raise DataValidationError(
            f"{where} repeats column names: {shown}; rename or drop the "
            "copies (pandas would silently rename them 'x.1')."
        )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _read_excel(path: Path, sheet: str | None, ids: Sequence[str]) -> pd.DataFrame:
    optional_module("openpyxl", "Excel workbooks")
    try:
        workbook = pd.ExcelFile(path, engine="openpyxl")
    except Exception as error:  # openpyxl and zipfile raise several unrelated kinds
        raise DataValidationError(f"{path} is not a readable Excel workbook: {error}") from error
    with workbook:
        name = _sheet_name(workbook.sheet_names, sheet, path)
        where = f"sheet {name!r} of {path}"
        header = pd.read_excel(workbook, sheet_name=name, header=None, nrows=1)
        if header.empty:
            raise DataValidationError(f"{where} is empty: no header row of column names.")
        _refuse_repeated_names(header.iloc[0].tolist(), where)
        frame = pd.read_excel(workbook, sheet_name=name, dtype=dict.fromkeys(ids, str))
    return frame


def _sheet_name(names: Sequence[str], sheet: str | None, path: Path) -> str:
    shown = show_some(list(names), 12)
    if sheet is None:
        if len(names) == 1:
            return names[0]
        raise DataValidationError(
            f"{path} has {len(names)} sheets ({shown}): say which one to read, e.g. "
            f"sheet={names[0]!r} (command line: --sheet {names[0]})."
        )
    if sheet not in names:
        raise DataValidationError(
            f"{path} has no sheet {sheet!r} (sheets: {shown})."
            + check.did_you_mean(sheet, list(names))
        )
    return sheet


def _read_spss(path: Path, ids: Sequence[str], use_labels: Sequence[str]) -> pd.DataFrame:
    pyreadstat = optional_module("pyreadstat", "SPSS files")
    try:
        frame, meta = pyreadstat.read_sav(path, user_missing=True)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as error:
        raise DataValidationError(f"{path} is not a readable SPSS file: {error}") from error
    ranges = dict(meta.missing_ranges or {})
    frame, codes = declared_missing(frame, ranges)
    labels = dict(meta.variable_value_labels or {})
    for column in use_labels:
        frame[column] = _labelled(frame, column, labels, path)
    for column in ids:
        if column in frame.columns:
            frame[column] = ids_as_text(frame[column])
    frame.attrs.update(
        value_labels=labels,
        column_labels=dict(zip(meta.column_names, meta.column_labels, strict=True)),
        missing_ranges=ranges,
        user_missing=codes,
    )
    return frame


def declared_missing(
    frame: pd.DataFrame, ranges: Mapping[str, Sequence[Mapping[str, Any]]]
) -> tuple[pd.DataFrame, dict[str, dict[Hashable, Any]]]:
    """``frame`` with the declared missing codes set to NaN, and the codes that were replaced.

    ``ranges`` maps a column to its declared codes as pyreadstat reports them (``{"lo": ...,
    "hi": ...}``, equal ends for a discrete code).

    Examples
    --------
    >>> frame = pd.DataFrame({"wai": [5.0, 99.0, -9.0, 4.0]})
    >>> codes = {"wai": [{"lo": 99, "hi": 99}, {"lo": -9, "hi": -1}]}
    >>> clean, codes = declared_missing(frame, codes)
    >>> clean["wai"].tolist(), codes
    ([5.0, nan, nan, 4.0], {'wai': {1: 99.0, 2: -9.0}})
    """
    frame = frame.copy()
    codes: dict[str, dict[Hashable, Any]] = {}
    for column, declared in ranges.items():
        values = frame[column]
        hit = np.zeros(len(frame), dtype=bool)
        for code in declared:
            hit |= ((values >= code["lo"]) & (values <= code["hi"])).fillna(False).to_numpy()
        if hit.any():
            codes[column] = dict(zip(frame.index[hit], values[hit].tolist(), strict=True))
            frame[column] = values.mask(hit)
    return frame, codes


def ids_as_text(values: pd.Series) -> pd.Series:
    """Ids as text: numbers as their digits (``7.0`` is ``"7"``), text as it is, missing kept.

    Examples
    --------
    >>> ids_as_text(pd.Series([7.0, 1.5, None, "01"], dtype=object)).tolist()
    ['7', '1.5', nan, '01']
    """

    def text(value: Any) -> Any:
        if _missing(value) or isinstance(value, str):
            return value
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        return str(value)

    return values.astype(object).map(text).astype(object)


def _labelled(
    frame: pd.DataFrame, column: str, labels: Mapping[str, Mapping[Any, str]], path: Path
) -> pd.Series:
    check.require_columns(frame, [column], f"SPSS file {path}")
    if column not in labels:
        raise DataValidationError(
            f"use_labels: column {column!r} of {path} has no value labels "
            f"(labelled columns: {show_some(sorted(labels), 12) or 'none'})."
        )
    values = frame[column]
    unlabelled = sorted(set(values.dropna()) - set(labels[column]))
    if unlabelled:
        raise DataValidationError(
            f"use_labels: column {column!r} of {path} has codes without a value label: "
            f"{show_some(unlabelled)}; label them in SPSS or leave the column out of use_labels."
        )
    return values.map(labels[column]).astype(object)


# ---------------------------------------------------------------------------- wide <-> long
@dataclass(frozen=True)
class _SessionColumn:
    """One column of the wide frame: the session (and rater) whose scores it holds."""

    name: Hashable
    rater: str | None
    session: int | float


def wide_to_long(
    frame: pd.DataFrame,
    columns: str | Mapping[Hashable, Any],
    *,
    id_columns: Sequence[str],
    score: str = "alliance",
    time: str = "session",
    rater: str = "rater",
    dropna: bool = True,
) -> pd.DataFrame:
    """One row per patient (or per patient and rater), one column per session -> one per rating.

    Parameters
    ----------
    frame
        The wide frame.
    columns
        Which columns hold the scores: a pattern with a ``{session}`` (a number) and optionally
        a ``{rater}`` placeholder, e.g. ``"wai_{rater}_s{session}"``, or a mapping from column to
        session (``{"wai_pre": 1, "wai_post": 12}``) or to ``(rater, session)``. Columns that do
        not fit the pattern are kept as patient-level columns (covariates), repeated on every
        rating.
    id_columns
        The columns that identify a row (therapist and patient; and the rater's column when
        there is one row per patient and rater).
    score, time, rater
        Names of the long frame's score, session and (with ``{rater}``) rater columns.
    dropna
        Leave out empty cells (no rating at that session); ``False`` keeps them as rows with a
        missing score.

    Returns
    -------
    pandas.DataFrame
        The id columns, the patient-level columns, the rater, the session and the score, in
        the order of the wide rows, then of the raters and sessions. Each row's index label is
        ``"<wide row>:<column>"`` (the wide row's index label, or its position when the index
        repeats labels), so that a problem found later names the cell of the wide sheet.

    Raises
    ------
    DataValidationError
        A pattern without ``{session}`` or with another placeholder, no column fitting it, a
        column that fits but whose session is not a number, two columns of the same session
        (and rater; ``s3`` and ``s03`` are one session, ``Client`` and ``client`` one rater), a
        mapped column that does not exist, a repeated column name or id row, a long column name
        that is already a column of the frame.

    Examples
    --------
    >>> wide = pd.DataFrame({"t": ["a", "b"], "p": [1, 2], "age": [30, 41],
    ...                      "wai_s1": [5.0, 4.0], "wai_s3": [5.5, None]})
    >>> wide_to_long(wide, "wai_s{session}", id_columns=["t", "p"])
              t  p  age  session  alliance
    0:wai_s1  a  1   30        1       5.0
    0:wai_s3  a  1   30        3       5.5
    1:wai_s1  b  2   41        1       4.0
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}.")
    _refuse_repeated_names(list(frame.columns), f"the {WIDE}")
    check.require_columns(frame, list(id_columns), WIDE)
    candidates = [c for c in frame.columns if c not in set(id_columns)]
    found = _session_columns(candidates, columns)
    _refuse_same_session(found)
    has_rater = any(c.rater is not None for c in found)
    matched = {c.name for c in found}
    kept = [c for c in candidates if c not in matched]
    _refuse_taken_names(
        [score, time, *([rater] if has_rater else [])], [*id_columns, *kept], columns
    )
    _refuse_repeated_rows(frame, id_columns)
    keep = [*id_columns, *kept]
    return _stack(frame, found, keep, score, time, rater if has_rater else None, dropna)


def names_raters(columns: str | Mapping[Hashable, Any]) -> bool:
    """Whether the score columns carry the rater: a ``{rater}`` pattern, or (rater, session).

    Examples
    --------
    >>> names_raters("wai_{rater}_s{session}"), names_raters({"wai_pre": 1})
    (True, False)
    """
    if isinstance(columns, str):
        return "rater" in pattern_placeholders(columns)
    if isinstance(columns, Mapping):
        return any(isinstance(v, tuple | list) for v in columns.values())
    return False


def _session_columns(
    names: Sequence[Hashable], columns: str | Mapping[Hashable, Any]
) -> list[_SessionColumn]:
    if isinstance(columns, str):
        found = _match_pattern(names, columns)
    elif isinstance(columns, Mapping):
        found = _from_mapping(names, columns)
    else:
        raise TypeError(
            "columns must be a pattern such as 'wai_{rater}_s{session}' or a mapping from "
            f"column to session, got {type(columns).__name__}."
        )
    return sorted(found, key=lambda c: (c.rater or "", c.session))


def pattern_placeholders(pattern: str) -> list[str]:
    """The placeholders of a wide pattern: ``{session}`` once, ``{rater}`` at most once.

    Examples
    --------
    >>> pattern_placeholders("wai_{rater}_s{session}")
    ['rater', 'session']
    >>> pattern_placeholders("wai_{visit}")
    Traceback (most recent call last):
    alliance_bayes.errors.DataValidationError: the pattern 'wai_{visit}' has the placeholders ['visit']: it needs {session} once and may have {rater} once (e.g. 'wai_{rater}_s{session}'); nothing else.
    """  # noqa: E501
    names = _PLACEHOLDER.findall(pattern)
    if (
        set(names) - set(PLACEHOLDERS)
        or names.count("session") != 1
        or names.count("rater") > 1
        or "{}" in pattern
    ):
        raise DataValidationError(
            f"the pattern {pattern!r} has the placeholders {names}: it needs {{session}} once "
            "and may have {rater} once (e.g. 'wai_{rater}_s{session}'); nothing else."
        )
    return names


def _pattern_regex(pattern: str, session: str) -> re.Pattern:
    parts = _PLACEHOLDER.split(pattern)  # literal, placeholder, literal, ...
    groups = {"rater": "(?P<rater>.+?)", "session": f"(?P<session>{session})"}
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else groups[p] for i, p in enumerate(parts)),
        re.DOTALL,
    )


def _match_pattern(names: Sequence[Hashable], pattern: str) -> list[_SessionColumn]:
    pattern_placeholders(pattern)
    strict, loose = _pattern_regex(pattern, _NUMBER), _pattern_regex(pattern, ".+?")
    found, unparsable = [], []
    for name in names:
        match = strict.fullmatch(str(name))
        if match:
            groups = match.groupdict()
            found.append(_SessionColumn(name, groups.get("rater"), _number(groups["session"])))
        elif loose.fullmatch(str(name)):
            unparsable.append(name)
    if unparsable:
        raise DataValidationError(
            f"columns {show_some(unparsable)} fit the pattern {pattern!r} but their session is "
            "not a number; rename them, or map each column to its session "
            "(columns={'wai_pre': 1, ...})."
        )
    if not found:
        raise DataValidationError(
            f"no column of the {WIDE} fits the pattern {pattern!r} (columns: "
            f"{show_some([str(n) for n in names], 12)})."
        )
    return found


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if "." not in text and value.is_integer() else value


def _from_mapping(
    names: Sequence[Hashable], mapping: Mapping[Hashable, Any]
) -> list[_SessionColumn]:
    if not mapping:
        raise DataValidationError("columns={}: map at least one column to its session.")
    absent = [name for name in mapping if name not in set(names)]
    if absent:
        raise DataValidationError(
            f"columns {show_some(absent)} of the mapping are not score columns of the {WIDE} "
            f"(columns: {show_some([str(n) for n in names], 12)})."
        )
    found = [_SessionColumn(name, *_mapped(name, value)) for name, value in mapping.items()]
    with_rater = [c.name for c in found if c.rater is not None]
    if 0 < len(with_rater) < len(found):
        raise DataValidationError(
            f"columns={{...}} maps {show_some(with_rater)} to (rater, session) but others to a "
            "session only: give every column a rater, or none."
        )
    return found


def _mapped(name: Hashable, value: Any) -> tuple[str | None, int | float]:
    rater, session = value if isinstance(value, tuple | list) and len(value) == 2 else (None, value)
    number = _session_value(session)
    if number is None or (rater is not None and not isinstance(rater, str)):
        raise DataValidationError(
            f"columns={{{name!r}: {value!r}}}: map each column to a session (a number) or to "
            "(rater, session), e.g. {'wai_c_1': ('client', 1)}."
        )
    return rater, number


def _session_value(value: Any) -> int | float | None:
    if isinstance(value, str) and re.fullmatch(_NUMBER, value.strip()):
        return _number(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return None
    if not math.isfinite(value):
        return None
    return (
        int(value) if float(value).is_integer() and isinstance(value, int | np.integer) else value
    )


def _refuse_same_session(found: Sequence[_SessionColumn]) -> None:
    seen: dict[tuple, list[Hashable]] = {}
    for column in found:
        rater = None if column.rater is None else column.rater.strip().casefold()
        seen.setdefault((rater, float(column.session)), []).append(column.name)
    clashes = [names for names in seen.values() if len(names) > 1]
    if clashes:
        shown = "; ".join(" and ".join(repr(n) for n in names) for names in clashes[:5])
        raise DataValidationError(
            f"columns hold the same session{' and rater' if found[0].rater else ''} twice: "
            f"{shown}; keep one of each, or map the columns explicitly."
        )


def _refuse_taken_names(
    names: Sequence[str], existing: Sequence[Hashable], columns: str | Mapping
) -> None:
    taken = [name for name in names if name in set(existing)]
    if taken:
        raise DataValidationError(
            f"the long frame's columns {show_some(taken)} are already columns of the {WIDE} "
            f"that do not hold scores of {columns!r}; choose other names (score=, time=) or "
            "rename those columns."
        )


def _refuse_repeated_rows(frame: pd.DataFrame, id_columns: Sequence[str]) -> None:
    repeated = frame.duplicated(list(id_columns), keep=False).to_numpy()
    if repeated.any():
        keys = frame.loc[repeated, list(id_columns)].drop_duplicates()
        shown = show_some([tuple(row) if len(row) > 1 else row[0] for row in keys.to_numpy()])
        raise DataValidationError(
            f"the {WIDE} has several rows for the same {', '.join(map(str, id_columns))}: "
            f"{shown} ({check.rows(frame.index, repeated)}); the wide layout needs one row each."
        )


def _stack(
    frame: pd.DataFrame,
    found: Sequence[_SessionColumn],
    keep: Sequence[Hashable],
    score: str,
    time: str,
    rater: str | None,
    dropna: bool,
) -> pd.DataFrame:
    n, k = len(frame), len(found)
    rows = np.repeat(np.arange(n), k)
    long = frame[list(keep)].iloc[rows].reset_index(drop=True)
    if rater is not None:
        long[rater] = np.tile(np.array([c.rater for c in found], dtype=object), n)
    long[time] = _session_array([c.session for c in found], n)
    long[score] = frame[[c.name for c in found]].to_numpy().reshape(-1)
    labels = frame.index if frame.index.is_unique else pd.RangeIndex(n)
    long.index = pd.Index([f"{labels[r]}:{c.name}" for r in range(n) for c in found], dtype=object)
    return long[long[score].notna().to_numpy()] if dropna else long


def _session_array(sessions: Sequence[int | float], n: int) -> np.ndarray:
    values = np.tile(np.asarray(sessions), n)
    return values.astype(np.int64) if all(isinstance(s, int) for s in sessions) else values


def long_to_wide(
    frame: pd.DataFrame,
    columns: str,
    *,
    id_columns: Sequence[str],
    score: str,
    time: str,
    rater: str | None = None,
) -> pd.DataFrame:
    """One row per rating -> one row per ``id_columns``, one column per session (and rater).

    The inverse of :func:`wide_to_long`: ``wide_to_long(long_to_wide(long, ...), ...)`` gives
    ``long`` back (rows of empty cells left out; whole-number sessions come back as integers).
    Other columns of ``long`` must be constant within each wide row and are kept.

    Parameters
    ----------
    frame
        The long frame.
    columns
        The pattern of the score columns, e.g. ``"wai_{rater}_s{session}"`` (``{rater}`` with
        ``rater=``; without it, put the rater's column into ``id_columns`` for one row per
        patient and rater). Whole-number sessions are written without decimals (``s3``).
    id_columns, score, time, rater
        Columns of the long frame.

    Examples
    --------
    >>> long = pd.DataFrame({"p": [1, 1, 2], "s": [1, 3, 1], "wai": [5.0, 5.5, 4.0]})
    >>> long_to_wide(long, "wai_s{session}", id_columns=["p"], score="wai", time="s")
       p  wai_s1  wai_s3
    0  1     5.0     5.5
    1  2     4.0     NaN
    """
    names = pattern_placeholders(columns)
    if ("rater" in names) != (rater is not None):
        raise DataValidationError(
            f"the pattern {columns!r} and rater={rater!r}: a {{rater}} placeholder needs the "
            "rater's column (rater=...), and rater= needs a {rater} placeholder."
        )
    keys = [*id_columns, *([rater] if rater else [])]
    check.require_columns(frame, [*keys, score, time], LONG)
    for column in keys:
        check.require_ids(frame, column, LONG)
    sessions = check.numeric_column(frame, time, LONG)
    check.require_finite(sessions, time, frame.index)
    check.require_unique_observations(
        {c: frame[c].to_numpy() for c in keys} | {time: sessions}, frame.index, time
    )
    other = [c for c in frame.columns if c not in {*keys, score, time}]
    rows = _patient_level(frame, list(id_columns), other)
    cells = frame.assign(**{time: sessions})
    by = [*([rater] if rater else []), time]
    table = cells.pivot_table(
        index=list(id_columns), columns=by, values=score, aggfunc="first", sort=False, dropna=False
    )
    table = table.sort_index(axis=1)
    table.columns = [_column_name(columns, key, rater is not None) for key in table.columns]
    _refuse_taken_names(list(table.columns), [*id_columns, *other], columns)
    wide = rows.join(table, on=list(id_columns))
    return wide.reset_index(drop=True)


def _patient_level(frame: pd.DataFrame, id_columns: list[str], other: list[Hashable]) -> Any:
    groups = frame.groupby(id_columns, sort=False, dropna=False)
    varying = [c for c in other if (groups[c].nunique(dropna=False) > 1).any()]
    if varying:
        raise DataValidationError(
            f"columns {show_some(varying)} vary within a row of the wide layout (the same "
            f"{', '.join(id_columns)}); drop them or put them into id_columns."
        )
    return frame[[*id_columns, *other]].drop_duplicates(id_columns)


def _column_name(pattern: str, key: Any, with_rater: bool) -> str:
    rater, session = key if with_rater else (None, key)
    text = str(int(session)) if float(session).is_integer() else repr(float(session))
    return pattern.format(session=text, **({"rater": rater} if with_rater else {}))
