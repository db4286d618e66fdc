"""Conditional effects of a covariate: expected trajectories and differences, in sessions.

For a typical therapist and patient (random effects at 0, the other covariates at their mean,
i.e. 0 on the standardised scale) the expected alliance of rater ``r`` at coded time ``x`` with
the covariate at ``z`` SD from its mean is

    level[r] + growth[r] * x + z * (level_coef[r, k] + growth_coef[r, k] * x)

plus, for a quadratic or piecewise time shape, its term ``session_coef[r] * u(x)``

(``patient_level_coef`` / ``patient_growth_coef`` for a patient covariate). Sessions are coded
as the fit coded them (``log``: ln(session) - ln(first session); ``linear``: (session - first) /
scale; ``as_is``: unchanged). With a censored likelihood this is the expected uncensored score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .data import code_time
from .models._session_terms import session_term_labels
from .result import DataAttrs, _session, read_attrs
from .summary import _patient_and_therapist, stored_rater_roles

Units = Literal["sd", "raw"]


@dataclass(frozen=True)
class CovariateInfo:
    """Where a covariate's coefficients are, and its mean and SD in raw units (``None`` if
    the fit does not store them)."""

    name: str
    level: str  # "therapist" or "patient"
    mean: float | None
    sd: float | None

    @property
    def prefix(self) -> str:
        return "" if self.level == "therapist" else "patient_"

    def to_sd(self, value: float, units: Units) -> float:
        """``value`` in SD units from its mean."""
        if units == "sd":
            return float(value)
        if self.mean is None or self.sd is None:
            raise ValueError(
                f"the fit does not store the mean and SD of {self.name!r}; give values in "
                "SD units (units='sd')."
            )
        return (float(value) - self.mean) / self.sd

    def to_raw(self, z: float) -> float | None:
        """``z`` SD from the mean in the covariate's raw units (``None`` if unknown)."""
        if self.mean is None or self.sd is None:
            return None
        return self.mean + z * self.sd


def covariate_info(idata: az.InferenceData, covariate: str) -> CovariateInfo:
    """The covariate ``covariate`` of a fit, refusing one the fit does not have.

    Examples
    --------
    >>> covariate_info(idata, "burdens").level
    'therapist'
    >>> covariate_info(idata, "age")
    Traceback (most recent call last):
    ValueError: the fit has no covariate 'age'; its covariates: ['burdens'].
    """
    posterior = idata.posterior
    info = _data_attrs(idata)
    known: list[str] = []
    for level in ("therapist", "patient"):
        dim = f"{level}_covariate"
        names = [str(n) for n in posterior[dim].to_numpy()] if dim in posterior.coords else []
        if covariate in names:
            means = getattr(info, f"{level}_covariate_mean")
            sds = getattr(info, f"{level}_covariate_sd")
            return CovariateInfo(covariate, level, means.get(covariate), sds.get(covariate))
        known += names
    raise ValueError(
        f"the fit has no covariate {covariate!r}; its covariates: {known}."
        if known
        else f"the fit has no covariate {covariate!r}; it has no covariates at all."
    )


def observed_sessions(idata: az.InferenceData) -> dict[str, np.ndarray]:
    """The sorted session numbers each rater has ratings at (from the fit's data).

    Examples
    --------
    >>> observed_sessions(idata)["patient"]
    array([1., 2., 4., 8.])
    """
    info = _data_attrs(idata)
    constant = idata.constant_data
    session = _session(np.asarray(constant["time"].to_numpy(), dtype=float), info)
    rater_idx = constant["rater_idx"].to_numpy().astype(int)
    raters = _raters(idata)
    return {r: np.unique(session[rater_idx == i]) for i, r in enumerate(raters)}


def session_time(idata: az.InferenceData, sessions: Sequence[float] | np.ndarray) -> np.ndarray:
    """Session numbers coded as the fit's model time.

    Examples
    --------
    >>> session_time(idata, [1, 8]).round(4)  # log-coded time, first session 1
    array([0.    , 2.0794])
    """
    info = _data_attrs(idata)
    sessions = np.asarray(sessions, dtype=float)
    if info.time_coding == "log" and np.any(sessions <= 0):
        raise ValueError(f"sessions must be positive with log-coded time, got {sessions.tolist()}.")
    coded, _ = code_time(sessions, info.time_coding, info.time_scale, origin=info.time_origin)
    return coded


def default_sessions(idata: az.InferenceData) -> tuple[float, float, float]:
    """The first and the last observed session and one in between (the middle in model time,
    rounded to a whole session when sessions are whole numbers).

    Examples
    --------
    >>> default_sessions(idata)
    (1.0, 3.0, 8.0)
    """
    observed = np.unique(np.concatenate(list(observed_sessions(idata).values())))
    first, last = float(observed[0]), float(observed[-1])
    middle = float(
        _session(np.array([session_time(idata, [first, last]).mean()]), _data_attrs(idata))[0]
    )
    if np.allclose(observed, np.round(observed)):
        middle = float(np.round(middle))
    return first, middle, last


def conditional_trajectories(
    idata: az.InferenceData,
    covariate: str,
    values: Sequence[float] = (-1, 0, 1),
    sessions: Sequence[float] | None = None,
    units: Units = "sd",
    n_points: int = 50,
    prob: float = 0.95,
) -> pd.DataFrame:
    """Expected alliance trajectories per rater at chosen values of a covariate.

    For a typical therapist and patient (random effects at 0, other covariates at their mean):
    see the module's docstring for the formula.

    Parameters
    ----------
    idata
        A fit of the growth model (from :func:`alliance_bayes.fit`).
    covariate
        A therapist (or patient) covariate of the fit.
    values
        Covariate values: SD from the mean (``units="sd"``) or raw scores (``units="raw"``).
    sessions
        Session numbers to evaluate at; default ``n_points`` sessions over each rater's observed
        range (log-spaced when time is log-coded).
    units
        ``"sd"`` or ``"raw"``: the units of ``values``.
    n_points
        Number of sessions per rater when ``sessions`` is not given.
    prob
        Mass of the equal-tailed credible interval.

    Returns
    -------
    pandas.DataFrame
        One row per rater, covariate value and session: ``rater``, ``covariate``, ``value`` (as
        given), ``z`` (SD from the mean), ``raw`` (raw units, NaN if unknown), ``session``,
        ``time`` (model time), ``mean``, ``lower``, ``upper``. ``attrs`` holds ``prob``,
        ``score`` (the outcome's name) and ``time_coding``.

    Examples
    --------
    >>> table = conditional_trajectories(idata, "burdens", n_points=3)
    >>> table[["rater", "z", "session"]].head(3).round(2)
         rater    z  session
    0  patient -1.0     1.00
    1  patient -1.0     2.83
    2  patient -1.0     8.00
    >>> len(table)
    18
    """
    if units not in ("sd", "raw"):
        raise ValueError(f"units must be 'sd' or 'raw', got {units!r}.")
    if not 0 < prob < 1:
        raise ValueError(f"prob must be between 0 and 1, got {prob}.")
    cov = covariate_info(idata, covariate)
    info = _data_attrs(idata)
    observed = observed_sessions(idata)
    rows = []
    for rater in _raters(idata):
        if sessions is not None:
            grid = np.asarray(sessions, dtype=float)
        else:
            grid = _grid(observed[rater], info, n_points)
        x = session_time(idata, grid)
        level, growth, level_coef, growth_coef = _line_draws(idata, cov, rater)
        shape = _time_shape_draws(idata, rater, x)
        for value in values:
            z = cov.to_sd(value, units)
            raw = cov.to_raw(z)
            draws = (level + z * level_coef)[:, None] + (growth + z * growth_coef)[:, None] * x
            draws = draws + shape
            low, high = _quantiles(draws, prob)
            for j, session in enumerate(grid):
                rows.append(
                    {
                        "rater": rater,
                        "covariate": covariate,
                        "value": float(value),
                        "z": z,
                        "raw": np.nan if raw is None else raw,
                        "session": float(session),
                        "time": float(x[j]),
                        "mean": float(draws[:, j].mean()),
                        "lower": float(low[j]),
                        "upper": float(high[j]),
                    }
                )
    table = pd.DataFrame(rows)
    table.attrs.update(
        prob=prob, score=info.columns.get("score", "alliance"), time_coding=info.time_coding
    )
    return table


def conditional_effect_table(
    idata: az.InferenceData,
    covariate: str,
    sessions: Sequence[float] | None = None,
    prob: float = 0.95,
) -> pd.DataFrame:
    """Expected difference in alliance per SD (and per raw unit) of a covariate, at sessions.

    The difference per SD at session ``s`` is ``level_coef + growth_coef * x(s)`` (``x``: the
    session in model time); per raw unit it is that divided by the covariate's SD. Rows per
    rater, then the rater contrast (patient-rated minus therapist-rated, by the roles stored in
    the fit; not for a single-rater fit or one without roles).

    Parameters
    ----------
    idata
        A fit of the growth model.
    covariate
        A therapist (or patient) covariate of the fit.
    sessions
        Session numbers; default the first and last observed session and one in between.
    prob
        Mass of the equal-tailed credible interval.

    Returns
    -------
    pandas.DataFrame
        ``rater`` (a rater label or the contrast ``patient - therapist``), ``session``, ``time``,
        ``per`` (``"SD"`` or ``"unit"``: one raw unit), ``mean``, ``sd``, ``lower``, ``upper``,
        ``p_gt_0`` and ``p_direction`` (the posterior probability of the mean's sign).

    Examples
    --------
    >>> table = conditional_effect_table(idata, "burdens", sessions=[1, 8])
    >>> table[["rater", "session", "per"]].head(4)
         rater  session   per
    0  patient      1.0    SD
    1  patient      8.0    SD
    2  patient      1.0  unit
    3  patient      8.0  unit
    >>> sorted(set(table["rater"]))
    ['patient', 'patient - therapist', 'therapist']
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must be between 0 and 1, got {prob}.")
    cov = covariate_info(idata, covariate)
    grid = np.asarray(default_sessions(idata) if sessions is None else sessions, dtype=float)
    x = session_time(idata, grid)
    per_sd = {}
    for rater in _raters(idata):
        _, _, level_coef, growth_coef = _line_draws(idata, cov, rater)
        per_sd[rater] = level_coef[:, None] + growth_coef[:, None] * x
    contrast = _contrast(idata)
    if contrast is not None:
        patient, therapist = contrast
        per_sd[f"{patient} - {therapist}"] = per_sd[patient] - per_sd[therapist]
    rows = []
    for label, draws in per_sd.items():
        scales = [("SD", 1.0)] + ([("unit", 1.0 / cov.sd)] if cov.sd else [])
        for per, factor in scales:
            for j, session in enumerate(grid):
                rows.append(
                    {"rater": label, "session": float(session), "time": float(x[j]), "per": per}
                    | _describe(draws[:, j] * factor, prob)
                )
    table = pd.DataFrame(rows)
    table.attrs.update(prob=prob, covariate=covariate, covariate_sd=cov.sd)
    return table


# ---------------------------------------------------------------------------- helpers
def _data_attrs(idata: az.InferenceData) -> DataAttrs:
    return read_attrs(idata).data or DataAttrs()


def _raters(idata: az.InferenceData) -> list[str]:
    return [str(r) for r in idata.posterior["level"]["rater"].to_numpy()]


def _contrast(idata: az.InferenceData) -> tuple[str, str] | None:
    """(patient label, therapist label), or ``None`` without two raters of known roles."""
    raters = _raters(idata)
    if len(raters) != 2:
        return None
    try:
        return _patient_and_therapist(raters, stored_rater_roles(idata), None)
    except ValueError:
        return None


def _flat(array: xr.DataArray) -> np.ndarray:
    return array.stack(__sample__=("chain", "draw")).transpose("__sample__").to_numpy()


def _time_shape_draws(idata: az.InferenceData, rater: str, x: np.ndarray) -> np.ndarray | float:
    """Draws of the time shape's own term at model times ``x`` (a quadratic or piecewise
    model's ``session_coef``; 0 for linear time). A time-varying covariate's within part is 0
    at a typical session (the patient's own mean)."""
    spec = read_attrs(idata).spec
    if spec is None or spec.time_shape == "linear":
        return 0.0
    (term,) = session_term_labels(spec)  # the term's label, as the model named it
    if spec.time_shape == "quadratic":
        u = x**2
    else:
        u = np.maximum(x - session_time(idata, [spec.knot])[0], 0.0)
    coef = _flat(idata.posterior["session_coef"].sel(rater=rater, session_term=term))
    return coef[:, None] * u[None, :]


def _line_draws(
    idata: az.InferenceData, cov: CovariateInfo, rater: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draws of level, growth and the covariate's two coefficients for one rater."""
    posterior = idata.posterior
    select = {f"{cov.level}_covariate": cov.name}
    return (
        _flat(posterior["level"].sel(rater=rater)),
        _flat(posterior["growth"].sel(rater=rater)),
        _flat(posterior[f"{cov.prefix}level_coef"].sel(rater=rater, **select)),
        _flat(posterior[f"{cov.prefix}growth_coef"].sel(rater=rater, **select)),
    )


def _grid(observed: np.ndarray, info: DataAttrs, n_points: int) -> np.ndarray:
    if n_points < 2:
        raise ValueError(f"n_points must be 2 or more, got {n_points}.")
    first, last = float(observed[0]), float(observed[-1])
    if info.time_coding == "log":
        return np.round(np.geomspace(first, last, n_points), 10)
    return np.linspace(first, last, n_points)


def _quantiles(draws: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - prob) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], axis=0)
    return low, high


def _describe(values: np.ndarray, prob: float) -> dict[str, float]:
    low, high = _quantiles(values, prob)
    p_gt_0 = float((values > 0).mean())
    mean = float(values.mean())
    return {
        "mean": mean,
        "sd": float(values.std(ddof=1)),
        "lower": float(low),
        "upper": float(high),
        "p_gt_0": p_gt_0,
        "p_direction": p_gt_0 if mean >= 0 else float((values < 0).mean()),
    }
