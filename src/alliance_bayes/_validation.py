"""The checks behind :meth:`AllianceData.from_frame`, one function per problem.

Each function raises :class:`DataValidationError` naming the column and up to five offending ids
or rows, so that a researcher can find the problem in their own spreadsheet. Checks that look at
every row avoid Python loops and text conversion (a million rows take well under a second);
checks on labels look at the unique labels only.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import MAX_SHOWN, DataValidationError, show_some

MAX_RATERS = 2
ROLES = ("patient", "therapist")
TIME_UNITS = {"days": pd.Timedelta(days=1), "weeks": pd.Timedelta(weeks=1)}


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """A hint naming the closest known name, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def rows(row_ids: pd.Index, bad: np.ndarray) -> str:
    """``rows 3, 7`` by the frame's own index labels; by position when the index repeats labels.

    A label that names several rows would not let the user find the offending one.

    Examples
    --------
    >>> rows(pd.Index([10, 11, 12]), np.array([True, False, True]))
    'rows 10, 12'
    >>> rows(pd.Index([0, 0, 0]), np.array([False, True, False]))
    'rows at positions 1 (counted from 0; the index of the frame repeats labels)'
    """
    bad = np.asarray(bad, dtype=bool)
    if row_ids.is_unique:
        return f"rows {show_some(row_ids[bad])}"
    return (
        f"rows at positions {show_some(np.flatnonzero(bad))} "
        "(counted from 0; the index of the frame repeats labels)"
    )


def require_columns(frame: pd.DataFrame, columns: Sequence[str], frame_name: str) -> None:
    """Every named column exists exactly once; otherwise suggest the closest existing name."""
    for column in columns:
        if column in frame.columns:
            require_single_column(frame, column, frame_name)
            continue
        known = [str(c) for c in frame.columns]
        raise DataValidationError(
            f"column {column!r} is not in the {frame_name} (columns: {show_some(known, 12)})."
            + did_you_mean(str(column), known)
        )


def require_single_column(frame: pd.DataFrame, column: str, frame_name: str) -> None:
    """Two columns with one name would leave it open which one is meant."""
    count = int((frame.columns == column).sum())
    if count > 1:
        raise DataValidationError(
            f"column {column!r} appears {count} times in the {frame_name}; rename or drop the "
            "extra copies so that it is clear which one holds the values."
        )


def require_rows(frame: pd.DataFrame, frame_name: str) -> None:
    if len(frame) == 0:
        raise DataValidationError(f"the {frame_name} is empty: it has no rows.")


def require_ids(frame: pd.DataFrame, column: str, frame_name: str) -> None:
    """Ids are neither missing nor empty strings."""
    values = frame[column]
    blank = [u for u in pd.unique(values) if isinstance(u, str) and not u.strip()]
    bad = values.isna().to_numpy()
    if blank:
        bad = bad | values.isin(blank).to_numpy()
    if bad.any():
        raise DataValidationError(
            f"column {column!r} of the {frame_name} has missing or empty ids "
            f"in {int(bad.sum())} rows: {rows(frame.index, bad)}."
        )


def _id_key(value: Hashable, casefold: bool) -> str:
    text = str(value).strip()
    return text.casefold() if casefold else text


def near_duplicates(values: Sequence[Hashable], casefold: bool = False) -> list[list[Hashable]]:
    """Groups of distinct labels that are the same text up to whitespace, type (or case).

    Examples
    --------
    >>> near_duplicates(["T1", "T1 ", 7, "7", "T2"])
    [['T1', 'T1 '], [7, '7']]
    >>> near_duplicates(["patient", "Patient"], casefold=True)
    [['patient', 'Patient']]
    """
    groups: dict[str, list[Hashable]] = {}
    for value in values:
        groups.setdefault(_id_key(value, casefold), []).append(value)
    return [group for group in groups.values() if len(group) > 1]


def show_texts(texts: Sequence[str], sep: str = ", ", limit: int = MAX_SHOWN) -> str:
    """Up to ``limit`` ready-made texts, saying how many more there are (cf. ``show_some``)."""
    extra = len(texts) - limit
    shown = sep.join(texts[:limit])
    return f"{shown} (and {extra} more)" if extra > 0 else shown


def _show_groups(groups: list[list[Hashable]], elsewhere: frozenset = frozenset()) -> str:
    def show(value: Hashable) -> str:
        return show_label(value) + (" in the therapist frame" if value in elsewhere else "")

    return show_texts([" / ".join(show(v) for v in group) for group in groups], "; ")


def show_label(value: Hashable) -> str:
    """A label as the user would recognise it: text quoted, numbers marked as numbers."""
    if isinstance(value, str):
        return repr(value)
    kind = "number" if isinstance(value, int | float | np.number) else type(value).__name__
    return f"{value} ({kind})"


def normalised_labels(values: Sequence[Hashable], casefold: bool) -> dict[Hashable, Hashable]:
    """How ``normalise_ids=True`` rewrites each label.

    Text loses its surrounding whitespace (and case, for rater labels). When a number and a text
    are then still the same id (``7`` and ``"7"``), every label becomes text.

    Examples
    --------
    >>> normalised_labels(["T1 ", "T2"], casefold=False)
    {'T1 ': 'T1', 'T2': 'T2'}
    >>> normalised_labels([7, "7 "], casefold=False)
    {7: '7', '7 ': '7'}
    """
    mapping = {v: _id_key(v, casefold) if isinstance(v, str) else v for v in values}
    if near_duplicates(list(set(mapping.values())), casefold):
        mapping = {v: _id_key(v, casefold) for v in values}
    return mapping


def refuse_near_duplicates(
    groups: list[list[Hashable]],
    column: str,
    what: str,
    casefold: bool,
    elsewhere: frozenset = frozenset(),
) -> None:
    """Refuse labels that differ only by whitespace, type (or case); ``elsewhere`` are the
    labels found only in the therapist frame, marked so in the message."""
    if not groups:
        return
    differ = (
        "case, surrounding whitespace or type" if casefold else "surrounding whitespace or type"
    )
    raise DataValidationError(
        f"column {column!r} has {what} that differ only by {differ}, so they would count as "
        f"different {what}: {_show_groups(groups, elsewhere)}. Correct them in the data, or pass "
        "normalise_ids=True to strip surrounding whitespace"
        + (" and case" if casefold else "")
        + " (and to read numbers as text where a number and a text are the same id)."
    )


def require_shared_therapists(
    data_ids: Sequence[Hashable], frame_ids: Sequence[Hashable], column: str
) -> None:
    """The therapist frame must share ids with the data; otherwise every join finds nothing."""
    if set(data_ids) & set(frame_ids):
        return
    raise DataValidationError(
        f"column {column!r}: none of the {len(frame_ids)} therapist ids of the therapist frame "
        f"({show_texts([show_label(v) for v in frame_ids])}) is a therapist of the data frame "
        f"({show_texts([show_label(v) for v in data_ids])}); the questionnaires would join to "
        "nothing."
    )


def require_one_therapist_per_patient(
    patient_codes: np.ndarray, therapist_codes: np.ndarray, patient_labels: np.ndarray, column: str
) -> None:
    """Each patient (by code) is listed under one therapist code only."""
    pairs = pd.DataFrame({"p": patient_codes, "t": therapist_codes}).drop_duplicates()
    repeated = pairs["p"].duplicated().to_numpy()
    if repeated.any():
        bad = patient_labels[np.unique(pairs["p"].to_numpy()[repeated])]
        raise DataValidationError(
            f"column {column!r}: {len(bad)} patients are listed under more than one therapist "
            f"(patients {show_some(bad)}); each patient must belong to exactly one therapist."
        )


def numeric_column(frame: pd.DataFrame, column: str, frame_name: str) -> np.ndarray:
    """The column as finite floats or NaN; text that is not a number, inf and dates are errors.

    Blank text counts as missing. Only entries that fail the numeric conversion are looked at
    as text, so that a numeric column of a million rows is never converted to strings.
    """
    raw = frame[column]
    _refuse_dates(raw, column, frame_name)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
    else:
        converted = pd.to_numeric(raw, errors="coerce")
        failed = (converted.isna() & raw.notna()).to_numpy()
        if failed.any():
            text = raw[failed].astype(str).str.strip()
            bad = np.zeros(len(raw), dtype=bool)
            bad[np.flatnonzero(failed)[(text != "").to_numpy()]] = True
            if bad.any():
                examples = show_some(raw[bad].astype(str).unique())
                raise DataValidationError(
                    f"column {column!r} of the {frame_name} holds values that are not numbers "
                    f"({examples}) in {rows(frame.index, bad)}."
                )
        values = converted.to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        raise DataValidationError(
            f"column {column!r} of the {frame_name} holds non-finite values "
            f"({show_some(np.unique(values[infinite]))}) in {rows(frame.index, infinite)}; "
            "a missing value must be left empty (NaN), not infinite."
        )
    return values


def _refuse_dates(raw: pd.Series, column: str, frame_name: str) -> None:
    if pd.api.types.is_datetime64_any_dtype(raw.dtype) or pd.api.types.is_timedelta64_dtype(
        raw.dtype
    ):
        raise DataValidationError(
            f"column {column!r} of the {frame_name} holds dates or durations ({raw.dtype}), "
            "not numbers."
        )


def session_column(
    frame: pd.DataFrame, column: str, patient: str, time_unit: str | None
) -> np.ndarray:
    """Session numbers as floats; durations are converted only with an explicit ``time_unit``.

    Dates are refused: which date is time 0 (the patient's first session, the study's start) is
    the user's decision, not ours.
    """
    raw = frame[column]
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {tuple(TIME_UNITS)}, got {time_unit!r}.")
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        raise DataValidationError(
            f"column {column!r} holds dates ({raw.dtype}); the model needs the time since a start. "
            f"Subtract each patient's first date, e.g. frame[{column!r}] - "
            f"frame.groupby({patient!r})[{column!r}].transform('min'), and pass "
            "time_unit='days' or 'weeks'."
        )
    if pd.api.types.is_timedelta64_dtype(raw.dtype):
        if time_unit is None:
            raise DataValidationError(
                f"column {column!r} holds durations ({raw.dtype}); pass time_unit='days' or "
                "'weeks' to say in which unit the model's time is counted."
            )
        return (raw / TIME_UNITS[time_unit]).to_numpy(dtype=float, na_value=np.nan)
    if time_unit is not None:
        raise ValueError(
            f"time_unit is for a time column of durations (timedelta64); column {column!r} "
            f"holds {raw.dtype} values, which are used as they are."
        )
    return numeric_column(frame, column, "data frame")


def require_time_scale(time_scale: float, column: str) -> None:
    """A linear time scale must be a positive finite number of sessions (or days) per unit."""
    if not (isinstance(time_scale, numbers.Real) and math.isfinite(time_scale) and time_scale > 0):
        raise DataValidationError(
            f"time_scale must be a positive finite number (the units of {column!r} per unit of "
            f"model time), got {time_scale!r}; zero or a negative value would make time "
            "infinite or reverse it."
        )


def require_in_scale(
    values: np.ndarray, scale: tuple[float, float] | None, column: str, row_ids: pd.Index
) -> None:
    if scale is None:
        return
    low, high = scale
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"scale must be two finite numbers (low, high), got {scale}.")
    if not low < high:
        raise ValueError(f"scale must be (low, high) with low < high, got {scale}.")
    bad = np.isfinite(values) & ((values < low) | (values > high))
    if bad.any():
        raise DataValidationError(
            f"column {column!r} has {int(bad.sum())} scores outside the declared scale "
            f"[{low}, {high}]: {rows(row_ids, bad)} "
            f"(values {show_some(values[bad])})."
        )


def require_usable_spread(
    values: np.ndarray, scale: tuple[float, float] | None, column: str, row_ids: pd.Index
) -> None:
    """Without a declared scale the default priors come from the scores' mean and SD.

    A constant outcome gives a zero prior scale and huge scores an infinite one; both are
    refused here rather than failing inside the sampler.
    """
    if scale is not None:
        return
    observed = values[np.isfinite(values)]
    if observed.size < 2:
        raise DataValidationError(
            f"column {column!r} has only one observed score; the default priors take their "
            "scale from the spread of the scores: declare the instrument's scale=(low, high)."
        )
    with np.errstate(over="ignore", invalid="ignore"):
        mean, sd = observed.mean(), observed.std(ddof=1)
    if not (np.isfinite(mean) and np.isfinite(sd)):
        big = np.abs(values) >= np.abs(observed).max() / 2
        raise DataValidationError(
            f"column {column!r}: scores as large as {show_some(np.unique(values[big]))} "
            f"({rows(row_ids, big)}) make the mean or SD of the scores overflow; rescale the "
            "scores, or declare the instrument's scale=(low, high)."
        )
    if sd <= 1e-12 * max(1.0, abs(mean)):
        raise DataValidationError(
            f"column {column!r}: all {observed.size} observed scores equal {observed[0]}; "
            "the default priors take their scale from the spread of the scores, which is "
            "zero. Declare the instrument's scale=(low, high), or check the column."
        )


def require_finite(values: np.ndarray, column: str, row_ids: pd.Index) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataValidationError(
            f"column {column!r} has missing or non-finite times in {rows(row_ids, bad)}."
        )


def require_positive_sessions(values: np.ndarray, column: str, row_ids: pd.Index) -> None:
    bad = values <= 0
    if bad.any():
        raise DataValidationError(
            f"column {column!r} has session numbers <= 0 ({rows(row_ids, bad)}, "
            f"values {show_some(values[bad])}), which log time coding cannot take; "
            "use time_coding='linear' or 'as_is'."
        )


def require_unique_observations(
    keys: Mapping[str, np.ndarray], row_ids: pd.Index, time: str
) -> None:
    """One rating per (patient, time, rater), compared after conversion to numbers.

    ``keys`` maps column names to integer codes (ids) or floats (time), so ``'3'`` and
    ``'3.0'`` are the same session.
    """
    duplicated = pd.DataFrame(dict(keys)).duplicated(keep=False).to_numpy()
    if duplicated.any():
        names = list(keys)
        raise DataValidationError(
            f"columns {names}: {int(duplicated.sum())} rows repeat the same "
            f"({', '.join(names)}) combination, with {time!r} compared as numbers: "
            f"{rows(row_ids, duplicated)}."
        )


def require_few_raters(labels: Sequence[object], column: str) -> None:
    if len(labels) > MAX_RATERS:
        raise DataValidationError(
            f"column {column!r} has {len(labels)} rater labels ({show_some(labels)}); "
            f"at most {MAX_RATERS} (e.g. patient and therapist) are supported."
        )


def rater_roles(
    labels: Sequence[str], given: Mapping[str, str] | None, column: str | None
) -> dict[str, str]:
    """Each rater label's role (``patient`` or ``therapist``), given or inferred.

    Roles are inferred only for the labels ``patient`` and ``therapist`` themselves; two other
    labels need ``rater_roles``, so that a rater contrast can never silently flip sign. One rater
    needs no role.

    Examples
    --------
    >>> rater_roles(["patient", "therapist"], None, "rater")
    {'patient': 'patient', 'therapist': 'therapist'}
    >>> rater_roles(["client", "clinician"], {"client": "patient", "clinician": "therapist"}, "r")
    {'client': 'patient', 'clinician': 'therapist'}
    """
    where = f"column {column!r}" if column else "the data (no rater column)"
    if given is None:
        if set(labels) <= set(ROLES):
            return {label: label for label in labels}
        if len(labels) == 1:
            return {}
        example = f"{{{labels[0]!r}: 'patient', {labels[1]!r}: 'therapist'}}"
        option = f"--rater-roles {labels[0]}=patient,{labels[1]}=therapist"
        raise DataValidationError(
            f"{where} has two raters, {show_some(labels)}, and nothing says which one is the "
            f"patient and which the therapist; pass rater_roles={example} (or the other way "
            f"round; on the command line {option}). Roles are inferred only for the labels "
            "'patient' and 'therapist'."
        )
    given = dict(given)
    unknown = [key for key in given if key not in labels]
    if unknown:
        raise DataValidationError(
            f"rater_roles names {show_some(unknown)}, which {where} does not hold; its rater "
            f"labels are {show_some(labels)}." + did_you_mean(str(unknown[0]), list(labels))
        )
    wrong = {k: v for k, v in given.items() if v not in ROLES}
    if wrong:
        raise DataValidationError(
            f"rater_roles gives roles {show_some(wrong.values())}; a role is 'patient' or "
            "'therapist'."
        )
    if len(set(given.values())) < len(given):
        raise DataValidationError(f"rater_roles gives two raters the same role: {given}.")
    clash = [k for k, v in given.items() if k in ROLES and k != v]
    if clash:
        raise DataValidationError(
            f"rater_roles gives the rater labelled {clash[0]!r} the role {given[clash[0]]!r}; "
            "a label that names a role must have that role."
        )
    missing = [label for label in labels if label not in given]
    if missing and len(labels) > 1:
        raise DataValidationError(
            f"rater_roles has no role for {show_some(missing)}; with two raters give both."
        )
    return {label: given[label] for label in labels if label in given}


def constant_within(
    values: np.ndarray, codes: np.ndarray, labels: np.ndarray, column: str, group_name: str
) -> np.ndarray:
    """One value per group (NaN where every entry is missing); varying values are an error.

    ``codes`` gives each row's group as an index into ``labels``.
    """
    grouped = pd.Series(values).groupby(codes, sort=True)
    low, high = grouped.min(), grouped.max()
    varies = (high > low).to_numpy()
    if varies.any():
        bad = labels[low.index.to_numpy()[varies]]
        raise DataValidationError(
            f"column {column!r} varies within {len(bad)} {group_name}s "
            f"({group_name}s {show_some(bad)}); it must be constant within each {group_name}."
        )
    out = np.full(len(labels), np.nan)
    out[low.index.to_numpy()] = low.to_numpy()
    return out


def require_agreement(
    from_long: np.ndarray, from_wide: np.ndarray, labels: np.ndarray, column: str
) -> None:
    """A therapist covariate found in both frames must agree where both have a value."""
    both = np.isfinite(from_long) & np.isfinite(from_wide)
    bad = both.copy()
    bad[both] = ~np.isclose(from_long[both], from_wide[both])
    if bad.any():
        raise DataValidationError(
            f"column {column!r} disagrees between the data frame and the therapist frame "
            f"for therapists {show_some(labels[bad])}."
        )


def require_variance(values: np.ndarray, column: str) -> None:
    """At least two distinct values, further apart than rounding error."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise DataValidationError(
            f"covariate {column!r} has no observed value for any unit that has ratings; "
            "check that it is filled in and that the ids of both frames match."
        )
    spread = np.ptp(finite)
    if finite.size < 2 or spread <= 1e-9 * max(1.0, float(np.abs(finite).max())):
        raise DataValidationError(
            f"covariate {column!r} has zero variance (all observed values equal "
            f"{finite[0]}); it cannot be standardised or estimated."
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
    if in_long:
        require_single_column(frame, name, "data frame")
    if in_wide:
        require_single_column(therapists, name, "therapist frame")
    if not (in_long or in_wide):
        known = [str(c) for c in frame.columns]
        if therapists is not None:
            known += [str(c) for c in therapists.columns]
        where = "the data frame or the therapist frame" if therapists is not None else "the data"
        raise DataValidationError(
            f"covariate {name!r} is found in neither {where}." + did_you_mean(name, known)
        )
    return in_long, in_wide
