"""One alliance score per therapist from long data, for the therapist regression.

:func:`therapist_scores` turns growth-model data (therapists, patients, raters, sessions) into the
one-row-per-therapist :class:`AllianceData` that :func:`therapist_regression` takes, keeping the
therapist covariates (on their own scale, standardised again over the therapists kept) and the
instrument's scale. What is aggregated is said by a small rule,
``"<statistic> [of <rater>-rated] [at session <k>]"`` (e.g. ``"mean of patient-rated at session
3"``), by the same three parts as keywords, or by a function of one therapist's ratings.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from . import _validation as check
from .data import AllianceData, Covariates
from .errors import DataValidationError, DataWarning, show_some

STATISTICS: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda values: float(np.mean(values)),
    "median": lambda values: float(np.median(values)),
}
Aggregate = str | Callable[[pd.DataFrame], float]
_RULE = re.compile(
    r"^\s*(?P<statistic>\w+)"
    r"(?:\s+of\s+(?P<rater>\S+?)(?:-rated|\s+ratings?)?)?"
    r"(?:\s+at\s+session\s+(?P<session>[0-9]+(?:\.[0-9]+)?))?\s*$",
    re.IGNORECASE,
)
RULE_HELP = (
    "'<statistic> [of <rater>-rated] [at session <k>]' with a statistic in "
    f"{sorted(STATISTICS)}, e.g. 'mean of patient-rated at session 3'"
)


def parse_rule(rule: str) -> dict[str, Any]:
    """The statistic, rater and session of a rule such as ``"mean of patient-rated at session 3"``.

    The rater is a rater label or a role (``patient``, ``therapist``); it and the session may be
    left out (then every rater's ratings, or every session, are taken).

    Examples
    --------
    >>> parse_rule("mean of patient-rated at session 3")
    {'statistic': 'mean', 'rater': 'patient', 'session': 3.0}
    >>> parse_rule("Median of client ratings")
    {'statistic': 'median', 'rater': 'client', 'session': None}
    >>> parse_rule("average at session 3")
    Traceback (most recent call last):
    alliance_bayes.errors.DataValidationError: aggregate='average at session 3': unknown \
statistic 'average'; write '<statistic> [of <rater>-rated] [at session <k>]' with a statistic \
in ['mean', 'median'], e.g. 'mean of patient-rated at session 3'.
    """
    match = _RULE.match(rule)
    if match is None:
        raise DataValidationError(f"aggregate={rule!r} is not a rule; write {RULE_HELP}.")
    statistic = match["statistic"].lower()
    if statistic not in STATISTICS:
        raise DataValidationError(
            f"aggregate={rule!r}: unknown statistic {statistic!r}; write {RULE_HELP}."
        )
    session = None if match["session"] is None else float(match["session"])
    return {"statistic": statistic, "rater": match["rater"], "session": session}


def therapist_scores(
    data: AllianceData,
    statistic: Aggregate = "mean",
    *,
    rater: str | None = None,
    session: float | None = None,
) -> AllianceData:
    """One alliance score per therapist, as the data of :func:`therapist_regression`.

    Parameters
    ----------
    data
        Long data with an outcome (e.g. from :meth:`AllianceData.from_frame`).
    statistic
        ``"mean"`` or ``"median"`` of the therapist's selected ratings (every rating of every
        patient of the therapist counts once, so a patient with more sessions weighs more; at
        one session each patient has one rating), a whole rule (see :func:`parse_rule`; then
        ``rater`` and ``session`` must not be given), or a function of one therapist's ratings
        (a frame with the columns ``therapist``, ``patient``, ``rater``, ``session``, ``time``
        and ``alliance``, observed ratings only) returning a number.
    rater
        The rater label or role whose ratings count; required for a named statistic when the
        data have two raters.
    session
        Only ratings at this session count.

    Returns
    -------
    AllianceData
        One row per therapist with a score, rated by ``rater`` (or ``"rating"``), with the
        therapist covariates of ``data`` (standardised again over these therapists) and its
        scale. Therapists without any selected rating are left out with a
        :class:`DataWarning` naming them.

    Raises
    ------
    DataValidationError
        No outcome, an unknown rater or session, two raters and no ``rater`` for a named
        statistic, a function that returns something other than a number, or no therapist left.

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "therapist": ["A", "A", "A", "B", "B"], "patient": ["p1", "p1", "p2", "p3", "p3"],
    ...     "session": [3, 12, 3, 3, 12], "wai": [5.0, 6.0, 4.0, 3.0, 4.5],
    ...     "mindfulness": [1.0, 1.0, 1.0, 3.0, 3.0]})
    >>> long = AllianceData.from_frame(frame, therapist="therapist", patient="patient",
    ...                                score="wai", time="session",
    ...                                therapist_covariates=["mindfulness"], scale=(1, 7))
    >>> scores = therapist_scores(long, "mean at session 3")
    >>> scores.to_frame()[["therapist", "wai", "mindfulness"]]
      therapist  wai  mindfulness
    0         A  4.5          1.0
    1         B  3.0          3.0
    >>> therapist_scores(long, lambda f: f["alliance"].max()).score
    array([6. , 4.5])
    """
    if isinstance(statistic, str) and statistic not in STATISTICS:  # a whole rule
        if rater is not None or session is not None:
            raise DataValidationError(
                f"aggregate={statistic!r} with rater= or session=: give those only with a "
                f"bare statistic {sorted(STATISTICS)}, or write them into the rule."
            )
        return therapist_scores(data, **parse_rule(statistic))
    if not data.has_outcome:
        raise DataValidationError(
            f"column {_column(data, 'score')!r} holds no alliance score to aggregate per therapist."
        )
    label = _rater_label(data, rater, named=isinstance(statistic, str))
    ratings = _selected(data, label, session)
    scores = _per_therapist(ratings, statistic)
    return _one_row_per_therapist(data, scores, label, session)


def _column(data: AllianceData, role: str) -> str:
    return data.columns.get(role, {"score": "alliance", "time": "session"}.get(role, role))


def _rater_label(data: AllianceData, rater: str | None, *, named: bool) -> str | None:
    """The rater label that ``rater`` (a label or a role) names; ``None`` for every rater."""
    labels = list(data.rater_labels)
    if rater is None:
        if named and len(labels) > 1:
            raise DataValidationError(
                f"column {_column(data, 'rater')!r}: the data have two raters "
                f"({show_some(labels)});"
                " say whose ratings make the therapist's score, e.g. "
                f"'mean of {labels[0]}-rated'."
            )
        return labels[0] if len(labels) == 1 else None
    if rater in labels:
        return rater
    by_role = [label for label, role in data.rater_roles.items() if role == rater]
    if by_role:
        return by_role[0]
    raise DataValidationError(
        f"column {_column(data, 'rater')!r}: no rater {rater!r}; the raters are "
        f"{show_some(labels)}"
        + (f" (roles {dict(data.rater_roles)})" if data.rater_roles else "")
        + "."
    )


def _selected(data: AllianceData, label: str | None, session: float | None) -> pd.DataFrame:
    """The observed ratings of ``label`` (every rater if ``None``) at ``session`` (or all)."""
    raters = np.asarray(data.rater_labels, dtype=object)[data.obs_rater]
    frame = pd.DataFrame(
        {
            "therapist": data.therapist_labels[data.obs_therapist],
            "patient": data.patient_labels[data.obs_patient],
            "rater": raters,
            "session": data.session,
            "time": data.time,
            "alliance": data.score,
        }
    )
    keep = data.observed & (True if label is None else raters == label)
    if session is not None:
        at_session = keep & np.isclose(data.session.astype(float), session)
        if not at_session.any():
            present = np.unique(data.session[keep])
            raise DataValidationError(
                f"column {_column(data, 'time')!r}: no observed rating"
                + (f" by {label!r}" if label is not None else "")
                + f" at session {session:g}; sessions with ratings: {show_some(present)}."
            )
        keep = at_session
    return frame[keep]


def _per_therapist(ratings: pd.DataFrame, statistic: Aggregate) -> pd.Series:
    """The statistic of each therapist's ratings (a float per therapist label)."""
    values = {}
    for therapist, group in ratings.groupby("therapist", sort=False):
        group = group.reset_index(drop=True)
        if callable(statistic):
            values[therapist] = _number(statistic(group), therapist)
        else:
            values[therapist] = STATISTICS[statistic](group["alliance"].to_numpy())
    return pd.Series(values, dtype=float)


def _number(value: Any, therapist: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataValidationError(
            f"aggregate: the function returned {value!r} for therapist {therapist!r}; it must "
            "return one number per therapist."
        ) from None
    if np.isinf(number):
        raise DataValidationError(
            f"aggregate: the function returned {number} for therapist {therapist!r}; it must "
            "return a finite number (NaN leaves the therapist out)."
        )
    return number


def _one_row_per_therapist(
    data: AllianceData, scores: pd.Series, label: str | None, session: float | None
) -> AllianceData:
    position = {t: i for i, t in enumerate(data.therapist_labels)}
    kept = [t for t in data.therapist_labels if np.isfinite(scores.get(t, np.nan))]
    left_out = [t for t in data.therapist_labels if t not in set(kept)]
    if not kept:
        raise DataValidationError(
            f"column {_column(data, 'therapist')!r}: no therapist has a score by this rule."
        )
    if left_out:
        warnings.warn(
            f"therapists {show_some(left_out)} have no rating by this rule and are left out "
            f"of the therapist regression ({len(kept)} of {data.n_therapists} kept).",
            DataWarning,
            stacklevel=3,
        )
    index = np.array([position[t] for t in kept])
    n = len(kept)
    labels = data.therapist_labels[index]
    rater_label = label if label is not None else "rating"
    covariates = data.therapist_covariates
    for k, name in enumerate(covariates.names):
        try:
            check.require_variance(covariates.raw[index, k], name)
        except DataValidationError as error:
            raise DataValidationError(
                f"{str(error).rstrip('.')} among the {n} therapists with a score by this rule."
            ) from None
    return dataclasses.replace(
        data,
        therapist_labels=labels,
        patient_labels=labels.copy(),
        rater_labels=(rater_label,),
        patient_therapist=np.arange(n),
        obs_patient=np.arange(n),
        obs_rater=np.zeros(n, dtype=int),
        session=np.full(n, np.nan if session is None else session),
        time=np.zeros(n),
        score=scores[kept].to_numpy(dtype=float),
        therapist_covariates=Covariates.from_raw(
            covariates.names, covariates.raw[index], covariates.standardized
        ),
        patient_covariates=Covariates.empty(n),
        row_id=labels.copy(),
        therapists_without_questionnaire=(),
        therapists_without_patients=(),
        rater_roles={k: v for k, v in data.rater_roles.items() if k == rater_label},
        planned_missing=None,
        truth=None,
    )
