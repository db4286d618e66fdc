"""The checks behind :meth:`AllianceData.from_frame`, one function per problem.

Each function raises :class:`DataValidationError` naming the column and up to five offending ids
or rows, so that a researcher can find the problem in their own spreadsheet.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .errors import DataValidationError, show_some

MAX_RATERS = 2


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """A hint naming the closest known name, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def require_columns(frame: pd.DataFrame, columns: Sequence[str], frame_name: str) -> None:
    """Every named column exists; otherwise suggest the closest existing name."""
    for column in columns:
        if column in frame.columns:
            continue
        known = [str(c) for c in frame.columns]
        raise DataValidationError(
            f"column {column!r} is not in the {frame_name} (columns: {show_some(known, 12)})."
            + did_you_mean(str(column), known)
        )


def require_rows(frame: pd.DataFrame, frame_name: str) -> None:
    if len(frame) == 0:
        raise DataValidationError(f"the {frame_name} is empty: it has no rows.")


def require_ids(frame: pd.DataFrame, column: str, frame_name: str) -> None:
    """Ids are neither missing nor empty strings."""
    values = frame[column]
    bad = values.isna() | (values.astype(str).str.strip() == "")
    if bad.any():
        rows = frame.index[bad.to_numpy()]
        raise DataValidationError(
            f"column {column!r} of the {frame_name} has missing or empty ids "
            f"in {int(bad.sum())} rows: rows {show_some(rows)}."
        )


def require_one_therapist_per_patient(frame: pd.DataFrame, patient: str, therapist: str) -> None:
    n_therapists = frame.groupby(patient, sort=False)[therapist].nunique()
    bad = n_therapists.index[n_therapists.to_numpy() > 1]
    if len(bad):
        raise DataValidationError(
            f"column {therapist!r}: {len(bad)} patients are listed under more than one therapist "
            f"(patients {show_some(bad)}); each patient must belong to exactly one therapist."
        )


def numeric_column(frame: pd.DataFrame, column: str, frame_name: str) -> np.ndarray:
    """The column as floats; entries that are present but not numbers are an error."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        rows = frame.index[bad.to_numpy()]
        examples = show_some(raw[bad].astype(str).unique())
        raise DataValidationError(
            f"column {column!r} of the {frame_name} holds values that are not numbers "
            f"({examples}) in rows {show_some(rows)}."
        )
    return values.to_numpy(dtype=float)


def require_in_scale(
    values: np.ndarray, scale: tuple[float, float] | None, column: str, row_ids: pd.Index
) -> None:
    if scale is None:
        return
    low, high = scale
    if not low < high:
        raise ValueError(f"scale must be (low, high) with low < high, got {scale}.")
    bad = np.isfinite(values) & ((values < low) | (values > high))
    if bad.any():
        raise DataValidationError(
            f"column {column!r} has {int(bad.sum())} scores outside the declared scale "
            f"[{low}, {high}]: rows {show_some(row_ids[bad])} "
            f"(values {show_some(values[bad])})."
        )


def require_finite(values: np.ndarray, column: str, row_ids: pd.Index) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataValidationError(
            f"column {column!r} has missing or non-finite times in rows {show_some(row_ids[bad])}."
        )


def require_positive_sessions(values: np.ndarray, column: str, row_ids: pd.Index) -> None:
    bad = values <= 0
    if bad.any():
        raise DataValidationError(
            f"column {column!r} has session numbers <= 0 (rows {show_some(row_ids[bad])}, "
            f"values {show_some(values[bad])}), which log time coding cannot take; "
            "use time_coding='linear' or 'as_is'."
        )


def require_unique_observations(
    frame: pd.DataFrame, patient: str, time: str, rater: str | None
) -> None:
    keys = [patient, time] + ([rater] if rater else [])
    duplicated = frame.duplicated(keys, keep=False)
    if duplicated.any():
        rows = frame.index[duplicated.to_numpy()]
        raise DataValidationError(
            f"columns {keys}: {int(duplicated.sum())} rows repeat the same "
            f"({', '.join(keys)}) combination: rows {show_some(rows)}."
        )


def require_few_raters(labels: Sequence[object], column: str) -> None:
    if len(labels) > MAX_RATERS:
        raise DataValidationError(
            f"column {column!r} has {len(labels)} rater labels ({show_some(labels)}); "
            f"at most {MAX_RATERS} (e.g. patient and therapist) are supported."
        )


def constant_within(
    values: pd.Series, groups: pd.Series, column: str, group_name: str
) -> pd.Series:
    """One value per group (missing where every entry is missing); varying values are an error."""
    frame = pd.DataFrame({"value": values.to_numpy(), "group": groups.to_numpy()})
    n_distinct = frame.groupby("group", sort=False)["value"].nunique()
    bad = n_distinct.index[n_distinct.to_numpy() > 1]
    if len(bad):
        raise DataValidationError(
            f"column {column!r} varies within {len(bad)} {group_name}s "
            f"({group_name}s {show_some(bad)}); it must be constant within each {group_name}."
        )
    return frame.groupby("group", sort=False)["value"].first()


def require_agreement(from_long: pd.Series, from_wide: pd.Series, column: str) -> None:
    """A therapist covariate found in both frames must agree where both have a value."""
    joined = pd.concat([from_long.rename("long"), from_wide.rename("wide")], axis=1, join="inner")
    both = joined.dropna()
    bad = both.index[~np.isclose(both["long"], both["wide"])]
    if len(bad):
        raise DataValidationError(
            f"column {column!r} disagrees between the data frame and the therapist frame "
            f"for therapists {show_some(bad)}."
        )


def require_variance(values: np.ndarray, column: str) -> None:
    """At least two distinct values, further apart than rounding error."""
    finite = values[np.isfinite(values)]
    spread = np.ptp(finite) if finite.size else 0.0
    if finite.size < 2 or spread <= 1e-9 * max(1.0, float(np.abs(finite).max())):
        raise DataValidationError(
            f"covariate {column!r} has zero variance (all observed values equal "
            f"{finite[0] if finite.size else 'nothing'}); it cannot be standardised or estimated."
        )


def require_some_outcome(values: np.ndarray, column: str) -> None:
    if not np.isfinite(values).any():
        raise DataValidationError(f"column {column!r}: every outcome is missing.")


def require_complete(values: np.ndarray, labels: np.ndarray, column: str, level: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataValidationError(
            f"{level} covariate {column!r} is missing for {level}s {show_some(labels[bad])}; "
            f"only therapist covariates are imputed by the model."
        )


def locate_covariate(
    name: str, frame: pd.DataFrame, therapists: pd.DataFrame | None
) -> tuple[bool, bool]:
    """Whether the covariate is in the long and in the therapist frame; neither is an error."""
    in_long = name in frame.columns
    in_wide = therapists is not None and name in therapists.columns
    if not (in_long or in_wide):
        known = [str(c) for c in frame.columns]
        if therapists is not None:
            known += [str(c) for c in therapists.columns]
        where = "the data frame or the therapist frame" if therapists is not None else "the data"
        raise DataValidationError(
            f"covariate {name!r} is found in neither {where}." + did_you_mean(name, known)
        )
    return in_long, in_wide
