"""Instrument scoring: item responses to total and subscale scores, and their reliability.

An :class:`InstrumentKey` says how an instrument is scored (how many items, the response range,
the items of each subscale, the reversed items); :func:`score_wai` turns one row of item
responses per rating occasion into scores with the same index, ready to be joined back to the
occasions and handed to :meth:`AllianceData.from_frame`; :func:`reliability` reports Cronbach's
alpha and McDonald's omega with bootstrap intervals per group (per session and rater, say).

Presets and what they rest on
-----------------------------
``WAI_SR`` (Working Alliance Inventory, Short Revised; Hatcher & Gillaspy 2006, Psychotherapy
Research 16(1), 12-25): 12 items answered 1-5 (Seldom, Sometimes, Fairly often, Very often,
Always); Task = items 1, 2, 10, 12; Bond = 3, 5, 7, 9; Goal = 4, 6, 8, 11; no reversed item.
The subscale key and the response range were checked against two published scoring
descriptions of the WAI-SR (not against the article itself, which could not be consulted):
Rivet's template, https://docs.getrivet.ca/clinical-templates/specialized/wai-sr (citing
Hatcher & Gillaspy 2006), and Blueprint's measure page,
https://ebchelp.blueprint.ai/en/articles/5208475-working-alliance-inventory-short-wai (the
same key). Both add up the 12 items as answered, which is where "no reversed item" comes from.

``WAI_S`` (Working Alliance Inventory, Short Form; Tracey & Kokotovic 1989, "Factor structure of
the Working Alliance Inventory", Psychological Assessment 1(3), 207-210): 12 items of the
36-item WAI answered 1-7 (Never ... Always), four per subscale, totals 12-84
(https://hiboop.com/assessments/wai/). Which item belongs to which subscale, and which items
are reversed, could not be verified from a source that can be cited here (forms in use are
said to differ, client and therapist versions among them). The preset therefore has no
subscales and no reversed items, marks both as unverified, and warns when used; state them for
your form with :meth:`InstrumentKey.replace` (for example
``InstrumentKey.preset("wai_s").replace(reversed=(...), subscales={...})``).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._validation import rows
from .errors import DataValidationError, DataWarning, show_some

TOTAL = "total"
_KEY_FIELDS = ("items", "low", "high", "subscales", "reversed")
_ITEM_COLUMN = re.compile(r"^(wai|item)[_\-. ]?0*(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class InstrumentKey:
    """How an instrument is scored.

    Parameters
    ----------
    name : str
        The instrument's name, used in messages.
    items : int
        The number of items, numbered 1 to ``items`` in the instrument's order.
    low, high : int
        The lowest and highest response (the response scale).
    subscales : mapping of str to tuple of int
        The item numbers of each subscale; every subscale is scored like the total. Empty for
        an instrument scored by its total only.
    reversed : tuple of int
        Items scored ``low + high - x`` (negatively worded items).
    reference : str
        Where the key comes from.
    unverified : tuple of str
        The fields among ``items``, ``low``, ``high``, ``subscales``, ``reversed`` that could not
        be verified against a published description; :func:`score_wai` warns when a key with
        unverified fields is used. :meth:`replace` clears the fields it sets.

    Examples
    --------
    >>> key = InstrumentKey.preset("wai_sr")
    >>> key.items, key.low, key.high, key.subscales["bond"]
    (12, 1, 5, (3, 5, 7, 9))
    >>> toy = InstrumentKey("toy", items=3, low=1, high=7, reversed=(2,))
    >>> toy.score_range()
    (3, 21)
    """

    name: str
    items: int
    low: int
    high: int
    subscales: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    reversed: tuple[int, ...] = ()
    reference: str = ""
    unverified: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        subscales = {str(k): tuple(int(i) for i in v) for k, v in dict(self.subscales).items()}
        object.__setattr__(self, "subscales", MappingProxyType(subscales))
        object.__setattr__(self, "reversed", tuple(int(i) for i in self.reversed))
        object.__setattr__(self, "unverified", tuple(self.unverified))
        _check_key(self)

    def __hash__(self) -> int:
        subscales = tuple(self.subscales.items())
        return hash((self.name, self.items, self.low, self.high, subscales, self.reversed))

    @classmethod
    def preset(cls, name: str) -> InstrumentKey:
        """The preset key called ``name`` (``"wai_sr"`` or ``"wai_s"``; case and ``-`` ignored).

        Examples
        --------
        >>> InstrumentKey.preset("WAI-SR").name
        'WAI-SR'
        """
        wanted = str(name).lower().replace("-", "_")
        if wanted not in PRESETS:
            raise ValueError(
                f"Unknown instrument {name!r}; presets are {show_some(sorted(PRESETS))}, or pass "
                "an InstrumentKey for another version."
            )
        return PRESETS[wanted]

    def replace(self, **changes: Any) -> InstrumentKey:
        """A copy with ``changes``; the fields set here are the user's own, so no longer unverified.

        Examples
        --------
        >>> key = InstrumentKey.preset("wai_s").replace(reversed=())
        >>> key.unverified
        ('subscales',)
        """
        if "unverified" not in changes:
            changes["unverified"] = tuple(f for f in self.unverified if f not in changes)
        return dataclasses.replace(self, **changes)

    def score_range(self, scale: Literal["sum", "mean"] = "sum") -> tuple[float, float]:
        """The lowest and highest total score (``scale="mean"``: the response range)."""
        if scale == "mean":
            return (self.low, self.high)
        return (self.low * self.items, self.high * self.items)

    def scale_items(self, scale: str) -> tuple[int, ...]:
        """The item numbers of ``"total"`` or of a subscale."""
        if scale == TOTAL:
            return tuple(range(1, self.items + 1))
        if scale not in self.subscales:
            raise ValueError(
                f"{self.name} has no scale {scale!r}; its scales are "
                f"{show_some([TOTAL, *self.subscales])}."
            )
        return self.subscales[scale]


def _check_key(key: InstrumentKey) -> None:
    """A key that can score anything: integer range, item numbers within 1..items."""
    if not isinstance(key.items, int) or key.items < 1:
        raise ValueError(f"{key.name}: items must be a positive whole number, not {key.items!r}.")
    if not (isinstance(key.low, int) and isinstance(key.high, int) and key.low < key.high):
        raise ValueError(
            f"{key.name}: the response range must be whole numbers low < high, "
            f"not {key.low!r}-{key.high!r}."
        )
    named = {"reversed": key.reversed, **{f"subscale {k!r}": v for k, v in key.subscales.items()}}
    for what, numbers in named.items():
        outside = [i for i in numbers if not 1 <= i <= key.items]
        if outside:
            raise ValueError(
                f"{key.name}: {what} names items {show_some(outside)}, outside 1-{key.items}."
            )
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"{key.name}: {what} names an item twice: {numbers}.")
    if TOTAL in key.subscales or any(not k for k in key.subscales):
        raise ValueError(f"{key.name}: a subscale cannot be called {TOTAL!r} or ''.")
    if any(not key.subscales[k] for k in key.subscales):
        raise ValueError(f"{key.name}: every subscale needs at least one item.")
    unknown = [f for f in key.unverified if f not in _KEY_FIELDS]
    if unknown:
        raise ValueError(
            f"{key.name}: unverified names {show_some(unknown)}; use {show_some(_KEY_FIELDS)}."
        )


WAI_SR = InstrumentKey(
    name="WAI-SR",
    items=12,
    low=1,
    high=5,
    subscales={"task": (1, 2, 10, 12), "bond": (3, 5, 7, 9), "goal": (4, 6, 8, 11)},
    reversed=(),
    reference=(
        "Hatcher, R. L., & Gillaspy, J. A. (2006). Development and validation of a revised short "
        "version of the Working Alliance Inventory. Psychotherapy Research, 16(1), 12-25."
    ),
)

WAI_S = InstrumentKey(
    name="WAI-S",
    items=12,
    low=1,
    high=7,
    subscales={},
    reversed=(),
    reference=(
        "Tracey, T. J., & Kokotovic, A. M. (1989). Factor structure of the Working Alliance "
        "Inventory. Psychological Assessment, 1(3), 207-210."
    ),
    unverified=("subscales", "reversed"),
)

PRESETS: Mapping[str, InstrumentKey] = MappingProxyType({"wai_sr": WAI_SR, "wai_s": WAI_S})


# ------------------------------------------------------------------------------- the items
def _resolve_key(version: str | InstrumentKey) -> InstrumentKey:
    return version if isinstance(version, InstrumentKey) else InstrumentKey.preset(version)


def _warn_unverified(key: InstrumentKey) -> None:
    if key.unverified:
        warnings.warn(
            f"{key.name}: the {' and '.join(key.unverified)} of this key could not be verified "
            "against a published description and differ between forms; the scores assume "
            f"{_describe(key)}. State your form's key with "
            f"InstrumentKey.preset(...).replace({', '.join(f'{f}=...' for f in key.unverified)}).",
            DataWarning,
            stacklevel=3,
        )


def _describe(key: InstrumentKey) -> str:
    subscales = ", ".join(f"{k} {v}" for k, v in key.subscales.items()) or "no subscales"
    return f"{subscales} and reversed items {key.reversed or 'none'}"


def _default_columns(frame: pd.DataFrame, key: InstrumentKey) -> list[Hashable]:
    """Columns named ``wai1``..``wai12`` or ``item1``..``item12`` (``wai_1``, ``WAI01`` too)."""
    families: dict[str, dict[int, Hashable]] = {}
    for column in frame.columns:
        match = _ITEM_COLUMN.match(str(column))
        if match:
            number = int(match.group(2))
            family = families.setdefault(match.group(1).lower(), {})
            if number in family:
                raise DataValidationError(
                    f"Columns {family[number]!r} and {column!r} both look like item {number}; "
                    "pass items=[...] to say which columns hold the items."
                )
            family[number] = column
    if not families:
        raise DataValidationError(
            f"No item columns found for {key.name}: name them wai1..wai{key.items} or "
            f"item1..item{key.items}, or pass items=[...] (columns in the instrument's order) "
            "or items={item number: column}."
        )
    if len(families) > 1:
        raise DataValidationError(
            f"Both wai.. and item.. columns found ({show_some(sorted(families))}); pass items=[...]"
            " to say which columns hold the items."
        )
    family = next(iter(families.values()))
    return _columns_by_number(family, key, found_by_name=True)


def _columns_by_number(
    by_number: Mapping[Any, Hashable], key: InstrumentKey, found_by_name: bool = False
) -> list[Hashable]:
    numbers = set(by_number)
    wanted = set(range(1, key.items + 1))
    missing, extra = sorted(wanted - numbers), sorted(numbers - wanted, key=str)
    if missing or extra:
        source = "item columns" if found_by_name else "items={number: column}"
        problems = []
        if missing:
            problems.append(f"items {show_some(missing)} are missing")
        if extra:
            problems.append(f"{show_some(extra)} are not item numbers of {key.name}")
        raise DataValidationError(
            f"{key.name} has items 1-{key.items}, but in the {source} {' and '.join(problems)}."
        )
    return [by_number[i] for i in range(1, key.items + 1)]


def _item_columns(
    frame: pd.DataFrame,
    key: InstrumentKey,
    items: Sequence[Hashable] | Mapping[int, Hashable] | None,
) -> list[Hashable]:
    """The columns holding items 1..k, in the instrument's order; each exists exactly once."""
    if items is None:
        columns = _default_columns(frame, key)
    elif isinstance(items, Mapping):
        columns = _columns_by_number(items, key)
    elif isinstance(items, str):
        raise TypeError("items must be a list of column names or {item number: column}.")
    else:
        columns = list(items)
        if len(columns) != key.items:
            raise DataValidationError(
                f"{key.name} has {key.items} items, but items= names {len(columns)} columns."
            )
    repeated = sorted({str(c) for c in columns if columns.count(c) > 1})
    if repeated:
        raise DataValidationError(f"items= names column(s) {show_some(repeated)} more than once.")
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DataValidationError(f"Item column(s) {show_some(absent)} are not in the frame.")
    doubled = [c for c in columns if np.sum(frame.columns == c) > 1]
    if doubled:
        raise DataValidationError(f"The frame has several columns called {show_some(doubled)}.")
    return columns


def _numeric_column(frame: pd.DataFrame, column: Hashable) -> np.ndarray:
    """One item column as floats (NaN for missing); text, categories and booleans are refused."""
    values = frame[column]
    if isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(values):
        raise DataValidationError(
            f"Column {column!r} holds {values.dtype} values, not numeric responses; score the "
            "numeric codes (read an SPSS file without applying its value labels)."
        )
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    converted = pd.to_numeric(values, errors="coerce")
    is_text = values.map(lambda v: isinstance(v, str | bytes | bool)).to_numpy(dtype=bool)
    bad = is_text | (converted.isna().to_numpy() & values.notna().to_numpy())
    if bad.any():
        raise DataValidationError(
            f"Column {column!r} holds values that are not numbers in "
            f"{rows(frame.index, bad)} (e.g. {values[bad].iloc[0]!r}); responses must be numbers."
        )
    return converted.to_numpy(dtype="float64", na_value=np.nan)


def item_matrix(
    frame: pd.DataFrame,
    key: InstrumentKey,
    items: Sequence[Hashable] | Mapping[int, Hashable] | None = None,
) -> np.ndarray:
    """Responses as an (occasions, items) array, reversed items turned, NaN where missing.

    Every response must be a whole number within the key's range; the message names each
    offending column and its rows.

    Examples
    --------
    >>> key = InstrumentKey("toy", items=2, low=1, high=5, reversed=(2,))
    >>> item_matrix(pd.DataFrame({"item1": [1, 5], "item2": [1, None]}), key)
    array([[ 1.,  5.],
           [ 5., nan]])
    """
    columns = _item_columns(frame, key, items)
    matrix = np.empty((len(frame), key.items))
    for j, column in enumerate(columns):
        matrix[:, j] = _numeric_column(frame, column)
    problems = []
    for j, column in enumerate(columns):
        x = matrix[:, j]
        answered = ~np.isnan(x)
        bad = answered & ((x < key.low) | (x > key.high) | (x != np.round(x)))
        if bad.any():
            values = show_some(np.unique(x[bad]).tolist())
            problems.append(f"column {column!r}: {rows(frame.index, bad)} (values {values})")
    if problems:
        raise DataValidationError(
            f"{key.name} responses must be whole numbers from {key.low} to {key.high}; not so in "
            + "; ".join(problems[:5])
            + (f" (and {len(problems) - 5} more columns)." if len(problems) > 5 else ".")
        )
    if key.reversed:
        turned = [i - 1 for i in key.reversed]
        matrix[:, turned] = key.low + key.high - matrix[:, turned]
    return matrix


# ---------------------------------------------------------------------------------- scores
def _allowed_missing(max_missing: int | Mapping[str, int], scales: Sequence[str]) -> dict:
    if isinstance(max_missing, Mapping):
        unknown = [s for s in max_missing if s not in scales]
        if unknown:
            raise ValueError(
                f"max_missing names {show_some(unknown)}; the scales are {show_some(scales)}."
            )
        allowed = {s: max_missing.get(s, 0) for s in scales}
    else:
        allowed = dict.fromkeys(scales, max_missing)
    for scale, n in allowed.items():
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"max_missing for {scale!r} must be a whole number >= 0, not {n!r}.")
    return allowed


def _scale_score(
    matrix: np.ndarray, numbers: Sequence[int], max_missing: int, scale: str
) -> np.ndarray:
    """Mean of the answered items (times the number of items for a sum); NaN past max_missing."""
    block = matrix[:, [i - 1 for i in numbers]]
    answered = (~np.isnan(block)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(block, axis=1) / answered
    ok = (len(numbers) - answered <= max_missing) & (answered > 0)
    score = np.where(ok, mean, np.nan)
    return score * len(numbers) if scale == "sum" else score


def score_wai(
    frame: pd.DataFrame,
    version: str | InstrumentKey = "wai_sr",
    items: Sequence[Hashable] | Mapping[int, Hashable] | None = None,
    max_missing: int | Mapping[str, int] = 0,
    scale: Literal["sum", "mean"] = "sum",
) -> pd.DataFrame:
    """Total and subscale scores, one row per rating occasion (row of ``frame``).

    Parameters
    ----------
    frame : DataFrame
        One row per rating occasion (patient, session, rater), one column per item.
    version : {"wai_sr", "wai_s"} or InstrumentKey
        The instrument: a preset (see the module's notes on what each rests on) or your own key.
    items : list of column names, or mapping of item number to column, optional
        The item columns in the instrument's order, or ``{1: "q_a", 2: "q_b", ...}``. By
        default the columns named ``wai1``..``wai12`` or ``item1``..``item12`` (also ``wai_1``,
        ``WAI01``).
    max_missing : int or mapping of scale to int
        How many missing items a score may be prorated over: up to this many missing, the score
        is the mean of the answered items (times the number of items for a sum); more missing,
        the score is missing. An int applies to the total and to each subscale; a mapping
        (``{"total": 2, "bond": 1}``) sets each scale, 0 for those it leaves out. The default 0
        scores only complete scales.
    scale : {"sum", "mean"}
        Sum scores (the WAI-SR total spans 12-60) or item means (1-5).

    Returns
    -------
    DataFrame
        ``total`` and one column per subscale, with ``frame``'s index, so it joins back to the
        occasions (``frame.join(score_wai(frame))``).

    Raises
    ------
    DataValidationError
        Item columns that are missing or named twice, responses that are not numbers, not
        whole numbers or outside the key's range (naming each column and its rows).

    Warns
    -----
    DataWarning
        The key has details that could not be verified (the WAI-S preset's subscales and
        reversed items); the warning says how to state them.

    Examples
    --------
    >>> responses = pd.DataFrame(
    ...     [[5, 5, 4, 4, 5, 4, 5, 4, 5, 4, 4, 5], [3, 3, 3, 2, 3, 3, None, 2, 3, 3, 2, 3]],
    ...     columns=[f"wai{i}" for i in range(1, 13)], index=["p1:s3", "p2:s3"])
    >>> score_wai(responses)
           total  task  bond  goal
    p1:s3   54.0  19.0  19.0  16.0
    p2:s3    NaN  12.0   NaN   9.0
    >>> score_wai(responses, max_missing=1).round(2).loc["p2:s3", ["total", "bond"]].tolist()
    [32.73, 12.0]
    """
    key = _resolve_key(version)
    if scale not in ("sum", "mean"):
        raise ValueError(f"scale must be 'sum' or 'mean', not {scale!r}.")
    scales = [TOTAL, *key.subscales]
    allowed = _allowed_missing(max_missing, scales)
    matrix = item_matrix(frame, key, items)
    _warn_unverified(key)
    scores = {s: _scale_score(matrix, key.scale_items(s), allowed[s], scale) for s in scales}
    return pd.DataFrame(scores, index=frame.index)


# ----------------------------------------------------------------------------- reliability
def cronbach_alpha(cov: np.ndarray) -> np.ndarray:
    """Cronbach's alpha from item covariance matrices (``(..., k, k)``).

    ``k / (k - 1) * (1 - sum of item variances / variance of the sum)``; NaN where the sum does
    not vary or ``k < 2``.

    Examples
    --------
    >>> round(float(cronbach_alpha(np.array([[1.0, 0.5], [0.5, 1.0]]))), 6)   # 2 * (1 - 2 / 3)
    0.666667
    """
    cov = np.asarray(cov, dtype=float)
    k = cov.shape[-1]
    total = cov.sum(axis=(-2, -1))
    items = np.trace(cov, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = k / (k - 1) * (1 - items / total) if k > 1 else np.full(total.shape, np.nan)
    return np.where(total > 0, alpha, np.nan)


def one_factor(
    cov: np.ndarray, max_iter: int = 500, tol: float = 1e-9
) -> tuple[np.ndarray, np.ndarray]:
    """Loadings and unique variances of a one-factor model by iterated principal-axis factoring.

    Starts from the squared multiple correlations (as covariances), then repeats: take the
    first eigenpair of the covariance matrix with the communalities on its diagonal, loadings
    ``sqrt(eigenvalue) * eigenvector``, communalities the squared loadings (kept within
    ``[0, item variance]``, so a Heywood case stops at a zero unique variance). Its fixed point is
    the unweighted least squares (minres) fit. Works on a stack of matrices ``(..., k, k)``;
    loadings are signed so that their sum is positive.

    Examples
    --------
    >>> loadings = np.array([0.9, 0.8, 0.7, 0.6])
    >>> cov = np.outer(loadings, loadings) + np.diag(1 - loadings**2)
    >>> lam, psi = one_factor(cov)
    >>> np.round(lam, 6).tolist(), np.round(psi, 6).tolist()
    ([0.9, 0.8, 0.7, 0.6], [0.19, 0.36, 0.51, 0.64])
    """
    cov = np.asarray(cov, dtype=float)
    variances = np.diagonal(cov, axis1=-2, axis2=-1)
    precision_diag = np.diagonal(np.linalg.pinv(cov, hermitian=True), axis1=-2, axis2=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        communality = np.where(precision_diag > 0, variances - 1 / precision_diag, variances / 2)
    communality = np.clip(np.nan_to_num(communality), 0, variances)
    loadings = np.zeros_like(variances)
    for _ in range(max_iter):
        reduced = cov.copy()
        index = np.arange(cov.shape[-1])
        reduced[..., index, index] = communality
        values, vectors = np.linalg.eigh(reduced)
        loadings = vectors[..., -1] * np.sqrt(np.clip(values[..., -1], 0, None))[..., None]
        updated = np.clip(loadings**2, 0, variances)
        change = np.max(np.abs(updated - communality)) if updated.size else 0.0
        communality = updated
        if change < tol:
            break
    sign = np.where(loadings.sum(axis=-1, keepdims=True) < 0, -1.0, 1.0)
    return loadings * sign, variances - communality


def mcdonald_omega(cov: np.ndarray) -> np.ndarray:
    """McDonald's omega (total) of the sum score from item covariance matrices (``(..., k, k)``).

    ``(sum of loadings)^2 / ((sum of loadings)^2 + sum of unique variances)`` of the one-factor
    model fitted by :func:`one_factor`; NaN where the items do not vary.

    Examples
    --------
    >>> loadings = np.array([0.9, 0.8, 0.7, 0.6])
    >>> cov = np.outer(loadings, loadings) + np.diag(1 - loadings**2)
    >>> round(float(mcdonald_omega(cov)), 6)   # 3.0**2 / (3.0**2 + 1.7)
    0.841121
    """
    loadings, unique = one_factor(cov)
    common = loadings.sum(axis=-1) ** 2
    denominator = common + unique.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, common / denominator, np.nan)


def _covariances(x: np.ndarray) -> np.ndarray:
    """Sample covariance matrices of a stack of (..., n, k) data sets."""
    centred = x - x.mean(axis=-2, keepdims=True)
    return np.einsum("...ni,...nj->...ij", centred, centred) / (x.shape[-2] - 1)


def _group_reliability(
    x: np.ndarray, n_boot: int, ci: float, rng: np.random.Generator
) -> dict[str, float]:
    """Alpha and omega of complete rows ``x`` (n, k) with percentile bootstrap intervals."""
    n, k = x.shape
    out = {"n": n, "items": k}
    if n < 3 or k < 2:
        return out | dict.fromkeys(_ESTIMATES, np.nan)
    cov = _covariances(x)
    out |= {"alpha": float(cronbach_alpha(cov)), "omega": float(mcdonald_omega(cov))}
    if n_boot > 0:
        resampled = x[rng.integers(0, n, size=(n_boot, n))]
        boot = _covariances(resampled)
        tails = [(1 - ci) / 2, (1 + ci) / 2]
        for name, draws in (("alpha", cronbach_alpha(boot)), ("omega", mcdonald_omega(boot))):
            finite = draws[np.isfinite(draws)]
            low, high = np.quantile(finite, tails) if finite.size else (np.nan, np.nan)
            out |= {f"{name}_low": float(low), f"{name}_high": float(high)}
    else:
        out |= {f"{e}_{s}": np.nan for e in ("alpha", "omega") for s in ("low", "high")}
    return out


def _as_list(by: Sequence[Hashable] | Hashable | None) -> list[Hashable]:
    if by is None:
        return []
    if isinstance(by, str) or not isinstance(by, Sequence):
        return [by]
    return list(by)


_ESTIMATES = ("alpha", "alpha_low", "alpha_high", "omega", "omega_low", "omega_high")


def reliability(
    frame: pd.DataFrame,
    by: Sequence[Hashable] | Hashable | None = None,
    version: str | InstrumentKey = "wai_sr",
    items: Sequence[Hashable] | Mapping[int, Hashable] | None = None,
    scales: Sequence[str] = (TOTAL,),
    ci: float = 0.95,
    n_boot: int = 1000,
    random_seed: int | None = None,
) -> pd.DataFrame:
    """Cronbach's alpha and McDonald's omega per group (per session and rater, say).

    Parameters
    ----------
    frame : DataFrame
        Item responses, one row per rating occasion (as for :func:`score_wai`), with the
        grouping columns.
    by : column name or list of column names, optional
        Groups to report separately (``["session", "rater"]``); by default one group.
    version, items
        The instrument and its item columns, as for :func:`score_wai` (reversed items are
        turned before anything is computed).
    scales : sequence of str
        ``"total"`` and/or subscale names; each is reported on its own row.
    ci : float
        The probability of the intervals.
    n_boot : int
        Bootstrap resamples (0: no intervals).
    random_seed : int, optional
        Seeds the bootstrap. Each group and scale draws from its own ``SeedSequence`` (the
        seed, the group's position, the scale's position in the key), so a scale's interval
        does not depend on which other scales are asked for.

    Returns
    -------
    DataFrame
        One row per group and scale: the ``by`` columns, ``scale``, ``n`` (occasions with every
        item of the scale answered: rows with a missing item are left out of that scale),
        ``items``, ``alpha``, ``alpha_low``, ``alpha_high``, ``omega``, ``omega_low``,
        ``omega_high``. NaN where a group has fewer than 3 complete rows.

    Notes
    -----
    Alpha is ``k / (k - 1) * (1 - sum of item variances / variance of the sum)``. Omega (total)
    is ``(sum loadings)^2 / ((sum loadings)^2 + sum unique variances)`` of a one-factor model fitted
    to the item covariances by iterated principal-axis factoring (the minres fit; see
    :func:`one_factor`), so it describes the raw sum score like alpha does and equals alpha for
    tau-equivalent items. Intervals are percentile bootstrap intervals over occasions (rows
    resampled with replacement within each group); for repeated ratings of the same patient,
    rows are treated as independent.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> trait = rng.normal(size=(200, 1))
    >>> responses = pd.DataFrame(np.clip(np.round(3 + trait + rng.normal(size=(200, 12))), 1, 5),
    ...                          columns=[f"wai{i}" for i in range(1, 13)])
    >>> responses["rater"] = np.repeat(["patient", "therapist"], 100)
    >>> table = reliability(responses, by="rater", n_boot=200, random_seed=2)
    >>> table[["rater", "scale", "n", "alpha", "alpha_low", "alpha_high", "omega"]].round(2)
           rater  scale    n  alpha  alpha_low  alpha_high  omega
    0    patient  total  100   0.89       0.84        0.92   0.89
    1  therapist  total  100   0.91       0.88        0.93   0.91
    """
    key = _resolve_key(version)
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1, not {ci!r}.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(f"n_boot must be a whole number >= 0, not {n_boot!r}.")
    by = _as_list(by)
    absent = [b for b in by if b not in frame.columns]
    if absent:
        raise DataValidationError(f"Grouping column(s) {show_some(absent)} are not in the frame.")
    numbers = {s: key.scale_items(s) for s in scales}
    matrix = item_matrix(frame, key, items)
    _warn_unverified(key)
    positions = (
        frame.groupby(by, dropna=False, sort=True).indices if by else {(): np.arange(len(frame))}
    )
    order = [TOTAL, *key.subscales]
    records = []
    for g, (group, where) in enumerate(positions.items()):
        labels = group if isinstance(group, tuple) else (group,)
        for scale in scales:
            seed = np.random.SeedSequence(random_seed, spawn_key=(g, order.index(scale)))
            rng = np.random.default_rng(seed)
            x = matrix[np.asarray(where)][:, [i - 1 for i in numbers[scale]]]
            x = x[~np.isnan(x).any(axis=1)]
            estimate = _group_reliability(x, n_boot, ci, rng)
            records.append(dict(zip(by, labels, strict=True)) | {"scale": scale} | estimate)
    columns = [*by, "scale", "n", "items", *_ESTIMATES]
    return pd.DataFrame.from_records(records, columns=columns)
