"""Test statistics of alliance data and their prior or posterior predictive p-values.

A statistic is a function of one rater's ratings as a frame with the columns ``therapist``,
``patient``, ``rater``, ``session``, ``time`` (coded) and ``alliance``; it returns a number or a
mapping of labels to numbers (e.g. one per session). The default statistics also have a version
vectorised over predictive draws, so that thousands of replicate data sets take a fraction of a
second; a user's statistic is evaluated on one frame per draw.

The p-value of a statistic ``T`` is the mid-p ``P(T(y_rep) > T(y)) + P(T(y_rep) = T(y)) / 2``
over the predictive draws: values near 0 mean the data are more extreme upwards than the model
predicts, near 1 downwards. Ties (a minimum at the scale's floor, a ceiling proportion of zero)
count half, so a statistic that cannot vary gives 0.5 rather than 1.

Per-session statistics (``mean``, ``sd``) are per time bin when a rater has more than
:data:`~alliance_bayes._bins.MAX_SESSIONS` (8) distinct sessions: sessions are then grouped into
at most eight bins at the quantiles of that rater's sessions
(:func:`~alliance_bayes._bins.session_bins`, the binning of ``AllianceData.describe``), labelled
by their range (``"mean (sessions 4-7)"``), so irregular schedules give a few rows, not one per
distinct session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from scipy import sparse

from .._bins import session_bins
from ..result import rebuild_data

Value = float | Mapping[Any, float]
FRAME_COLUMNS = ("therapist", "patient", "rater", "session", "time", "alliance")


@dataclass(frozen=True)
class Layout:
    """One rater's rows: local patient and therapist codes, sessions, coded time, scale."""

    patient: np.ndarray
    therapist: np.ndarray
    patient_therapist: np.ndarray
    session: np.ndarray
    time: np.ndarray
    scale: tuple[float, float] | None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, scale: tuple[float, float] | None) -> Layout:
        patient_labels, patient = np.unique(frame["patient"].astype(str), return_inverse=True)
        _, therapist = np.unique(frame["therapist"].astype(str), return_inverse=True)
        patient_therapist = np.zeros(len(patient_labels), dtype=int)
        patient_therapist[patient] = therapist
        return cls(
            patient=patient,
            therapist=therapist,
            patient_therapist=patient_therapist,
            session=frame["session"].to_numpy(dtype=float),
            time=frame["time"].to_numpy(dtype=float),
            scale=scale,
        )


@dataclass(frozen=True)
class Statistic:
    """A test statistic: a function of a frame, optionally vectorised over draws.

    Parameters
    ----------
    name
        Its name in tables and figures.
    of_frame
        ``frame -> float`` or ``frame -> {label: float}`` for one rater's ratings.
    of_draws
        Optional ``(draws, layout) -> {label: array}``: the same values for every row of a
        ``(n_draws, n_rows)`` array at once (label ``None`` for a single value).
    description
        One line for documentation.

    Examples
    --------
    >>> median = Statistic("median", lambda frame: float(frame["alliance"].median()))
    >>> median.of_frame(pd.DataFrame({"alliance": [1.0, 2.0, 6.0]}))
    2.0
    """

    name: str
    of_frame: Callable[[pd.DataFrame], Value]
    of_draws: Callable[[np.ndarray, Layout], Mapping[Any, np.ndarray]] | None = None
    description: str = ""

    def evaluate(self, values: np.ndarray, frame: pd.DataFrame, layout: Layout) -> dict:
        """``{label: array of n_draws values}`` for ``values`` of shape (n_draws, n_rows)."""
        if self.of_draws is not None:
            return {k: np.asarray(v, dtype=float) for k, v in self.of_draws(values, layout).items()}
        results = [_as_mapping(self.of_frame(frame.assign(alliance=row))) for row in values]
        labels = list(results[0]) if results else []
        return {k: np.array([r.get(k, np.nan) for r in results], dtype=float) for k in labels}


def _as_mapping(value: Value) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, pd.Series):
        return value.to_dict()
    return {None: float(value)}


# ----------------------------------------------------------------------------- helpers
def _averaging(codes: np.ndarray, n_groups: int | None = None) -> sparse.csr_matrix:
    """(n_rows, n_groups) matrix whose product with values gives group means."""
    n_groups = int(codes.max()) + 1 if n_groups is None else n_groups
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    weights = 1.0 / counts[codes]
    return sparse.csr_matrix(
        (weights, (np.arange(codes.size), codes)), shape=(codes.size, n_groups)
    )


def _group_means(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return np.asarray(values @ _averaging(codes))


def _sd(values: np.ndarray) -> np.ndarray:
    if values.shape[-1] < 2:
        return np.full(values.shape[0], np.nan)
    return values.std(axis=-1, ddof=1)


def _ceiling_tolerance(scale: tuple[float, float]) -> float:
    return 1e-9 * (scale[1] - scale[0])


# ----------------------------------------------------------------------------- per session
def _by_bin_frame(frame: pd.DataFrame, how: str) -> dict:
    """``how`` ("mean" or "std") of the ratings per session, or per time bin (many sessions)."""
    bins = session_bins(frame["session"].to_numpy(dtype=float))
    grouped = frame["alliance"].groupby(bins.codes)
    values = grouped.mean() if how == "mean" else grouped.std(ddof=1)
    return {bins.labels[k]: float(v) for k, v in values.items()}


def _by_bin(values: np.ndarray, layout: Layout, function: Callable) -> dict:
    bins = session_bins(layout.session)
    return {label: function(values[:, bins.codes == k]) for k, label in enumerate(bins.labels)}


def _mean_by_session_frame(frame: pd.DataFrame) -> dict:
    return _by_bin_frame(frame, "mean")


def _mean_by_session(values: np.ndarray, layout: Layout) -> dict:
    return _by_bin(values, layout, lambda v: v.mean(axis=1))


def _sd_by_session_frame(frame: pd.DataFrame) -> dict:
    return _by_bin_frame(frame, "std")


def _sd_by_session(values: np.ndarray, layout: Layout) -> dict:
    return _by_bin(values, layout, _sd)


# ----------------------------------------------------------------------------- range
def _ceiling_frame(frame: pd.DataFrame, scale: tuple[float, float] | None) -> float:
    if scale is None:
        return np.nan
    return float((frame["alliance"] >= scale[1] - _ceiling_tolerance(scale)).mean())


def _ceiling(values: np.ndarray, layout: Layout) -> dict:
    if layout.scale is None:
        return {None: np.full(values.shape[0], np.nan)}
    return {None: (values >= layout.scale[1] - _ceiling_tolerance(layout.scale)).mean(axis=1)}


# ----------------------------------------------------------------------------- therapists
def _therapist_means_sd_frame(frame: pd.DataFrame) -> float:
    return float(frame.groupby("therapist")["alliance"].mean().std(ddof=1))


def _therapist_means_sd(values: np.ndarray, layout: Layout) -> dict:
    return {None: _sd(_group_means(values, layout.therapist))}


def _icc_frame(frame: pd.DataFrame) -> float:
    """One-way ANOVA ICC(1) of patient-mean alliance between therapists (unbalanced n0)."""
    patients = frame.groupby(["therapist", "patient"])["alliance"].mean().reset_index()
    groups = patients.groupby("therapist")["alliance"]
    n_t = groups.size().to_numpy(dtype=float)
    n, k = n_t.sum(), len(n_t)
    if k < 2 or n <= k:
        return np.nan
    grand = patients["alliance"].mean()
    msb = float((n_t * (groups.mean().to_numpy() - grand) ** 2).sum()) / (k - 1)
    msw = float(((patients["alliance"] - groups.transform("mean")) ** 2).sum()) / (n - k)
    n0 = (n - (n_t**2).sum() / n) / (k - 1)
    return (msb - msw) / (msb + (n0 - 1) * msw)


def _icc(values: np.ndarray, layout: Layout) -> dict:
    patient_means = _group_means(values, layout.patient)
    groups = layout.patient_therapist
    n_t = np.bincount(groups).astype(float)
    n_t = n_t[n_t > 0]
    n, k = n_t.sum(), n_t.size
    if k < 2 or n <= k:
        return {None: np.full(values.shape[0], np.nan)}
    _, groups = np.unique(groups, return_inverse=True)
    therapist_means = _group_means(patient_means, groups)
    grand = patient_means.mean(axis=1, keepdims=True)
    msb = ((therapist_means - grand) ** 2 @ n_t) / (k - 1)
    msw = ((patient_means - therapist_means[:, groups]) ** 2).sum(axis=1) / (n - k)
    n0 = (n - (n_t**2).sum() / n) / (k - 1)
    return {None: (msb - msw) / (msb + (n0 - 1) * msw)}


# ----------------------------------------------------------------------------- within patients
def _slopes_frame(frame: pd.DataFrame) -> pd.Series:
    def slope(group: pd.DataFrame) -> float:
        x = group["time"] - group["time"].mean()
        return float((x * group["alliance"]).sum() / (x**2).sum())

    usable = frame.groupby("patient")["time"].transform("nunique") >= 2
    return frame[usable].groupby("patient")[["time", "alliance"]].apply(slope)


def _slope_variance_frame(frame: pd.DataFrame) -> float:
    return float(_slopes_frame(frame).var(ddof=1))


def _slope_weights(layout: Layout, min_rows: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(n_rows, n_patients) weights giving each patient's OLS slope; which patients are usable."""
    p, x = layout.patient, layout.time
    n_p = int(p.max()) + 1
    centred = x - np.bincount(p, weights=x, minlength=n_p)[p] / np.bincount(p, minlength=n_p)[p]
    sxx = np.bincount(p, weights=centred**2, minlength=n_p)
    rows = np.bincount(p, minlength=n_p)
    usable = (sxx > 1e-12 * max(1.0, float(np.max(sxx, initial=0.0)))) & (rows >= min_rows)
    weights = np.where(usable[p], centred / np.where(sxx > 0, sxx, 1.0)[p], 0.0)
    matrix = sparse.csr_matrix((weights, (np.arange(p.size), p)), shape=(p.size, n_p))
    return matrix, usable


def _slope_variance(values: np.ndarray, layout: Layout) -> dict:
    weights, usable = _slope_weights(layout, min_rows=2)
    slopes = np.asarray(values @ weights)[:, usable]
    return {None: _sd(slopes) ** 2}


def _lag_pairs(layout: Layout, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of successive ratings (by session) of the same patient."""
    rows = np.flatnonzero(keep[layout.patient])
    order = rows[np.lexsort((layout.time[rows], layout.patient[rows]))]
    same = layout.patient[order[1:]] == layout.patient[order[:-1]]
    return order[:-1][same], order[1:][same]


def _lag1_frame(frame: pd.DataFrame) -> float:
    frame = frame.sort_values(["patient", "time"])
    usable = (frame.groupby("patient")["time"].transform("nunique") >= 2) & (
        frame.groupby("patient")["time"].transform("size") >= 3
    )
    frame = frame[usable]
    if frame.empty:
        return np.nan

    def residuals(group: pd.DataFrame) -> pd.Series:
        x = group["time"] - group["time"].mean()
        slope = (x * group["alliance"]).sum() / (x**2).sum()
        return group["alliance"] - group["alliance"].mean() - slope * x

    resid = frame.groupby("patient", group_keys=False)[["time", "alliance"]].apply(residuals)
    resid = resid.reindex(frame.index)
    lagged = resid.groupby(frame["patient"]).shift(1)
    return float((resid * lagged).sum() / (resid**2).sum())


def _lag1(values: np.ndarray, layout: Layout) -> dict:
    """Lag-1 autocorrelation of within-patient OLS residuals, pooled over patients (>= 3 rows)."""
    weights, usable = _slope_weights(layout, min_rows=3)
    if not usable.any():
        return {None: np.full(values.shape[0], np.nan)}
    p, x = layout.patient, layout.time
    counts = np.bincount(p)
    x_mean = np.bincount(p, weights=x) / counts
    slopes = np.asarray(values @ weights)
    means = _group_means(values, p)
    resid = values - means[:, p] - slopes[:, p] * (x - x_mean[p])
    first, second = _lag_pairs(layout, usable)
    kept = usable[p]
    num = (resid[:, first] * resid[:, second]).sum(axis=1)
    return {None: num / (resid[:, kept] ** 2).sum(axis=1)}


# ----------------------------------------------------------------------------- defaults
def default_statistics(scale: tuple[float, float] | None = None) -> dict[str, Statistic]:
    """The default test statistics, by name.

    ``mean`` and ``sd`` per session (per time bin with more than eight distinct sessions, see
    the module notes); ``ceiling`` (share of scores at or above the top of the
    scale); ``min`` and ``max``; ``therapist_means_sd`` (SD of the therapists' mean ratings);
    ``therapist_icc`` (one-way ANOVA ICC(1) of patient-mean alliance between therapists);
    ``slope_variance`` (variance of per-patient least-squares slopes on coded time); and
    ``residual_lag1`` (lag-1 autocorrelation of within-patient least-squares residuals, patients
    with three or more ratings).

    Parameters
    ----------
    scale
        The instrument's range, for the frame version of ``ceiling`` (the vectorised version
        takes it from the data).

    Examples
    --------
    >>> sorted(default_statistics())[:3]
    ['ceiling', 'max', 'mean']
    """
    stats = [
        Statistic("mean", _mean_by_session_frame, _mean_by_session, "mean per session"),
        Statistic("sd", _sd_by_session_frame, _sd_by_session, "SD per session"),
        Statistic(
            "ceiling",
            lambda frame: _ceiling_frame(frame, scale),
            _ceiling,
            "share of scores at the top of the scale",
        ),
        Statistic(
            "min",
            lambda frame: float(frame["alliance"].min()),
            lambda v, _: {None: v.min(axis=1)},
            "lowest score",
        ),
        Statistic(
            "max",
            lambda frame: float(frame["alliance"].max()),
            lambda v, _: {None: v.max(axis=1)},
            "highest score",
        ),
        Statistic(
            "therapist_means_sd",
            _therapist_means_sd_frame,
            _therapist_means_sd,
            "SD of the therapists' mean ratings",
        ),
        Statistic("therapist_icc", _icc_frame, _icc, "ICC(1) of patient means by therapist"),
        Statistic(
            "slope_variance",
            _slope_variance_frame,
            _slope_variance,
            "variance of per-patient least-squares slopes",
        ),
        Statistic("residual_lag1", _lag1_frame, _lag1, "lag-1 within-patient residual autocorr."),
    ]
    return {s.name: s for s in stats}


def _as_statistics(statistics: Any, scale: tuple[float, float] | None) -> dict[str, Statistic]:
    defaults = default_statistics(scale)
    if statistics is None:
        return defaults
    if isinstance(statistics, Statistic | str) or callable(statistics):
        statistics = [statistics]
    if isinstance(statistics, Mapping):
        items = list(statistics.items())
    else:
        items = []
        for s in statistics:
            if isinstance(s, str):  # a default statistic by name
                if s not in defaults:
                    raise KeyError(f"no default statistic {s!r}; they are {sorted(defaults)}.")
                s = defaults[s]
            items.append((getattr(s, "name", None) or getattr(s, "__name__", "statistic"), s))
    out = {}
    for name, stat in items:
        out[name] = stat if isinstance(stat, Statistic) else Statistic(name, stat)
        if out[name].name != name:
            out[name] = Statistic(
                name, out[name].of_frame, out[name].of_draws, out[name].description
            )
    return out


# ----------------------------------------------------------------------------- draws and table
GROUPS = {"posterior": "posterior_predictive", "prior": "prior_predictive"}


def predictive_frame(idata: az.InferenceData) -> tuple[pd.DataFrame, tuple[float, float] | None]:
    """The fit's rows as a frame (vocabulary column names, observed ``alliance``) and its scale.

    Examples
    --------
    >>> frame, scale = predictive_frame(idata)
    >>> list(frame.columns)
    ['therapist', 'patient', 'rater', 'session', 'time', 'alliance']
    """
    data = rebuild_data(idata)
    return rating_frame(data).set_axis(pd.Index(data.row_id, name="obs")), data.scale


def rating_frame(data: Any) -> pd.DataFrame:
    """One row per rating of ``data`` (an :class:`~alliance_bayes.AllianceData`) with the columns
    that the statistics read: therapist, patient, rater, session, time and alliance.

    Examples
    --------
    >>> list(rating_frame(data).columns)
    ['therapist', 'patient', 'rater', 'session', 'time', 'alliance']
    """
    return pd.DataFrame(
        {
            "therapist": data.therapist_labels[data.obs_therapist],
            "patient": data.patient_labels[data.obs_patient],
            "rater": np.asarray(data.rater_labels, dtype=object)[data.obs_rater],
            "session": data.session,
            "time": data.time,
            "alliance": data.score,
        }
    )


def predictive_draws(
    idata: az.InferenceData, group: str = "posterior", random_seed: Any = None
) -> np.ndarray:
    """Predictive draws of ``alliance`` as (n_draws, n_obs), made first when missing."""
    if group not in GROUPS:
        raise ValueError(f"group must be 'posterior' or 'prior', got {group!r}.")
    name = GROUPS[group]
    if name not in idata.groups():
        from .ppc import posterior_predictive, prior_predictive

        if group == "posterior":
            posterior_predictive(idata, random_seed=random_seed)
        else:
            prior_predictive(idata, random_seed=random_seed)
    draws = idata[name]["alliance"]
    return draws.stack(__sample__=("chain", "draw")).transpose("__sample__", "obs").to_numpy()


def _label(name: str, label: Any) -> str:
    if label is None:
        return name
    if isinstance(label, float | np.floating) and float(label).is_integer():
        label = int(label)
    if name in ("mean", "sd"):
        return (
            f"{name} (sessions {label})" if isinstance(label, str) else f"{name} (session {label})"
        )
    return f"{name} ({label})"


@dataclass(frozen=True)
class StatisticDraws:
    """One statistic of one rater: observed value and predictive draws.

    ``binned`` says that ``label`` is a time bin of several sessions (see the module notes).
    """

    statistic: str
    name: str
    label: Any
    rater: str
    observed: float
    draws: np.ndarray
    binned: bool = False

    @property
    def p_value(self) -> float:
        draws = self.draws[np.isfinite(self.draws)]
        if not np.isfinite(self.observed) or draws.size == 0:
            return np.nan
        return float(np.mean(draws > self.observed) + 0.5 * np.mean(draws == self.observed))


def statistic_draws(
    idata: az.InferenceData,
    statistics: Any = None,
    group: str = "posterior",
    random_seed: Any = None,
) -> list[StatisticDraws]:
    """Observed values and predictive draws of each statistic, per rater (see ppc_statistics)."""
    frame, scale = predictive_frame(idata)
    stats = _as_statistics(statistics, scale)
    values = predictive_draws(idata, group, random_seed)
    has_observed = bool(np.isfinite(frame["alliance"].to_numpy()).any())
    out = []
    for stat in stats.values():
        for rater in pd.unique(frame["rater"]):
            rows = (frame["rater"] == rater).to_numpy()
            sub = frame[rows].reset_index(drop=True)
            layout = Layout.from_frame(sub, scale)
            bins = session_bins(layout.session)
            predicted = stat.evaluate(values[:, rows], sub, layout)
            if has_observed:
                observed = stat.evaluate(sub["alliance"].to_numpy()[None, :], sub, layout)
            else:
                observed = {k: np.array([np.nan]) for k in predicted}
            for label, draws in predicted.items():
                value = float(observed.get(label, [np.nan])[0])
                if np.isnan(value) and not np.isfinite(draws).any():
                    continue  # not defined on this design (e.g. slopes with one rating each)
                out.append(
                    StatisticDraws(
                        statistic=_label(stat.name, label),
                        name=stat.name,
                        label=label,
                        rater=str(rater),
                        observed=value,
                        draws=draws,
                        binned=bins.binned and isinstance(label, str) and label in bins.labels,
                    )
                )
    return out


def ppc_statistics(
    idata: az.InferenceData,
    statistics: Any = None,
    group: str = "posterior",
    *,
    prob: float = 0.9,
    random_seed: int | None = None,
) -> pd.DataFrame:
    """Observed statistics against their predictive distribution, per rater.

    Parameters
    ----------
    idata
        A fit. Predictive draws are taken from ``posterior_predictive`` (or ``prior_predictive``)
        and made first when the group is missing.
    statistics
        ``None`` for :func:`default_statistics`; otherwise a :class:`Statistic`, a function of a
        frame, a default statistic's name, or a list or dict of them (a dict's keys name them).
        The frame holds one rater's
        rows with columns ``therapist``, ``patient``, ``rater``, ``session``, ``time`` (coded)
        and ``alliance``; a function returns a number or a dict ``{label: number}``.
    group
        ``"posterior"`` or ``"prior"``.
    prob
        Mass of the predictive interval.
    random_seed
        Seed of the predictive draws, when they have to be made.

    Returns
    -------
    pandas.DataFrame
        One row per statistic (and label) and rater: ``statistic``, ``rater``, ``observed``,
        ``mean``, ``lower``, ``upper`` (the predictive interval) and ``p_value`` (mid-p, see the
        module notes).

    Examples
    --------
    >>> table = ppc_statistics(idata, random_seed=1)
    >>> list(table.columns)
    ['statistic', 'rater', 'observed', 'mean', 'lower', 'upper', 'p_value']
    >>> table.query("statistic == 'ceiling'")[["statistic", "rater", "observed"]]
       statistic      rater  observed
    16   ceiling    patient       0.0
    17   ceiling  therapist       0.0
    >>> median = ppc_statistics(idata, {"median": lambda f: f["alliance"].median()})
    >>> median[["statistic", "rater"]]
      statistic      rater
    0    median    patient
    1    median  therapist
    """
    tail = (1 - prob) / 2
    rows = []
    for item in statistic_draws(idata, statistics, group, random_seed):
        draws = item.draws[np.isfinite(item.draws)]
        low, high = np.quantile(draws, [tail, 1 - tail]) if draws.size else (np.nan, np.nan)
        rows.append(
            {
                "statistic": item.statistic,
                "rater": item.rater,
                "observed": item.observed,
                "mean": float(draws.mean()) if draws.size else np.nan,
                "lower": float(low),
                "upper": float(high),
                "p_value": item.p_value,
            }
        )
    table = pd.DataFrame(rows)
    table.attrs["interval"] = f"{prob:.0%} predictive"
    table.attrs["group"] = group
    return table
