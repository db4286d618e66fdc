"""Predictions from a fit: the expected alliance or new ratings, for fitted or new groups.

:func:`predict` takes a fit (in memory or loaded from a file in a new process) and a frame of
therapists, patients, sessions, raters and covariates (no outcome needed), codes it with the
fit's own coding (time origin and scale, covariate means and SDs, rater labels: nothing is
re-estimated from the new frame), builds the fit's model on it and evaluates the model's own
``alliance_mean`` node at every posterior draw (:func:`alliance_bayes._graph.compile_graph`).
The therapist and patient effects are either the fitted ones (``groups="fitted"``) or drawn from
the fitted population, jointly over the components, so correlations across raters are kept
(``groups="new"``). ``kind="rating"`` adds the fit's likelihood: normal or Student-t noise with
``sigma[rater]``, censored ratings clipped to the instrument's scale.
:func:`prediction_table` summarises the draws per row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Literal

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from ._graph import alliance_mean, compile_graph, stored_names
from .data import SINGLE_RATER, AllianceData, Covariates, code_time
from .errors import DataValidationError, show_some
from .models import build_model, explicit_effects
from .result import DataAttrs, coord_labels, read_attrs, rebuild_data, rebuild_spec

KINDS = ("mean", "rating")
GROUPS = ("fitted", "new")
# values per block of draws: the mean, the noise and the effects of a block stay near 100 MB
BLOCK_VALUES = 4 * 10**6
_DEFAULT_COLUMNS = {"therapist": "therapist", "patient": "patient", "time": "session"}


def predict(
    idata: az.InferenceData,
    frame: pd.DataFrame | None = None,
    *,
    kind: Literal["mean", "rating"] = "mean",
    groups: Literal["fitted", "new"] = "fitted",
    random_seed: Any = None,
) -> xr.DataArray:
    """Posterior predictions of the alliance for the fitted rows or a new frame.

    Parameters
    ----------
    idata
        A fit of a growth model (from :func:`alliance_bayes.fit` or :func:`alliance_bayes.load`).
    frame
        One row per prediction, with the fit's column names (``attrs["data"]["columns"]``):
        therapist, patient, session (time) and, for a fit of several raters, rater; plus the
        fit's therapist and patient covariates in raw units (a therapist's must be the same on
        each of its rows). No outcome is needed. ``None``: the fitted rows.
    kind
        ``"mean"``: the expected alliance (the model's ``alliance_mean``); ``"rating"``: a new
        rating drawn from the fit's likelihood (censored ratings clipped to the scale).
    groups
        ``"fitted"``: the fitted therapists' and patients' effects (an id unknown to the fit is
        an error); ``"new"``: every therapist and patient of the frame is new, its effects drawn
        from the fitted population (MvNormal with the draw's SDs and correlations).
    random_seed
        Seed of the drawn effects and ratings; the same seed gives the same predictions.

    Returns
    -------
    xarray.DataArray
        ``alliance`` with dims ``(chain, draw, obs)``; ``obs`` is the frame's index (the fit's
        row ids for ``frame=None``) and every column of the frame is a coordinate on ``obs``.

    Raises
    ------
    DataValidationError
        A missing column, an unknown rater or (``groups="fitted"``) therapist or patient, a
        patient with two therapists, a missing or varying covariate, a session the time coding
        cannot take.
    ValueError
        A wrong ``kind`` or ``groups``, a therapist regression, a fit without the effects.

    Examples
    --------
    >>> pred = predict(idata)
    >>> pred.dims, pred.sizes["obs"] == idata.observed_data.sizes["obs"]
    (('chain', 'draw', 'obs'), True)
    >>> new = pd.DataFrame({"therapist": "new", "patient": "p1", "session": [3, 12, 20, 40],
    ...                     "rater": "patient", "burdens": 2.0})
    >>> pred = predict(idata, new, groups="new", kind="rating", random_seed=1)
    >>> pred.shape, pred["session"].values.tolist()
    ((2, 40, 4), [3, 12, 20, 40])
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, not {kind!r}.")
    if groups not in GROUPS:
        raise ValueError(f"groups must be one of {list(GROUPS)}, not {groups!r}.")
    attrs = read_attrs(idata)
    info, spec = attrs.require("data"), attrs.require("spec")
    if spec.kind == "regression":
        raise ValueError("predict covers growth models; a therapist regression has no sessions.")
    posterior = idata.posterior
    if frame is None:
        fitted = rebuild_data(idata)
        frame = fitted.to_frame().drop(columns=["time_coded"])
        frame.index = pd.Index(fitted.row_id, name="obs")
    # None: all of the data's
    used = (spec.therapist_covariates, spec.patient_covariates, spec.session_covariates)
    data = frame_data(frame, info, idata if groups == "fitted" else None, used=used)
    if attrs.priors is not None:  # the fit's priors: none is re-derived from the new rows
        spec = dataclasses.replace(spec, priors=attrs.priors)
    else:
        spec = rebuild_spec(idata)
    model = explicit_effects(build_model(data, dataclasses.replace(spec, marginal=False)))
    function = compile_graph(model, [alliance_mean(model)], stored_names(model))
    effects = _EffectSource(posterior, data, groups, np.random.default_rng(random_seed))
    values = _evaluate(function, posterior, effects, data, kind, spec.likelihood)
    return _as_array(values, posterior, frame)


def frame_data(
    frame: pd.DataFrame,
    info: DataAttrs,
    idata: az.InferenceData | None = None,
    used: tuple[Sequence[str] | None, Sequence[str] | None, Sequence[str] | None] = (
        None,
        None,
        None,
    ),
) -> AllianceData:
    """A prediction frame as :class:`AllianceData` with the fit's coding (no outcome).

    The time is coded with the fit's origin and scale, covariates are standardised with the
    fit's means and SDs, the raters are the fit's. With ``idata`` (fitted groups) every
    therapist and patient must be one of the fit's, with the fit's therapist. ``used`` names
    the therapist, patient and session (time-varying) covariates the model uses (``None``: all
    of the fit's data's); only those must be in the frame. A time-varying covariate's
    between-patient part is the mean of the patient's rows in the frame.

    Examples
    --------
    >>> new = pd.DataFrame({"therapist": "T01", "patient": "x", "session": [3, 12],
    ...                     "rater": "therapist", "burdens": 3.0})
    >>> d = frame_data(new, read_attrs(idata).data)
    >>> d.n_obs, d.rater_labels, d.obs_rater.tolist()
    (2, ('patient', 'therapist'), [1, 1])
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, not {type(frame).__name__}.")
    if len(frame) == 0:
        raise DataValidationError("the prediction frame has no rows.")
    names = _DEFAULT_COLUMNS | {"rater": "rater"} | dict(info.columns)
    raters = tuple(info.rater_labels) or (SINGLE_RATER,)
    needed = [names["therapist"], names["patient"], names["time"]]
    rater_column = names["rater"] if (len(raters) > 1 or names["rater"] in frame) else None
    t_names = _used(info.therapist_covariate_mean, used[0])
    p_names = _used(info.patient_covariate_mean, used[1])
    s_names = _used(info.session_covariate_mean, used[2])
    wanted = [*needed, rater_column, *t_names, *p_names, *s_names]
    missing = [c for c in wanted if c and c not in frame]
    if missing:
        raise DataValidationError(
            f"the prediction frame lacks the columns {missing} (the fit's names; it has "
            f"{list(frame.columns)})."
        )
    therapist_ids = frame[names["therapist"]].map(str).to_numpy()
    patient_ids = frame[names["patient"]].map(str).to_numpy()
    if rater_column is None:
        obs_rater = np.zeros(len(frame), dtype=int)
    else:
        given = frame[rater_column].map(str).to_numpy()
        unknown = sorted(set(given) - set(raters))
        if unknown:
            raise DataValidationError(
                f"column {rater_column!r}: raters {show_some(unknown)} are not the fit's "
                f"{list(raters)}."
            )
        obs_rater = np.array([raters.index(r) for r in given], dtype=int)
    t_labels, obs_t = _codes(therapist_ids)
    p_labels, obs_p = _codes(patient_ids)
    patient_therapist = np.full(len(p_labels), -1)
    patient_therapist[obs_p] = obs_t
    if np.any(patient_therapist[obs_p] != obs_t):
        pairs = zip(obs_p, obs_t, strict=True)
        two = sorted({p_labels[p] for p, t in pairs if patient_therapist[p] != t})
        raise DataValidationError(
            f"column {names['patient']!r}: patients {show_some(two)} have two therapists."
        )
    if idata is not None:
        t_labels, p_labels = _fitted_labels(idata, t_labels, p_labels, patient_therapist, names)
    sessions = pd.to_numeric(frame[names["time"]], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(sessions) | ((sessions <= 0) if info.time_coding == "log" else False)
    if bad.any():
        raise DataValidationError(
            f"column {names['time']!r}: rows {show_some(list(frame.index[bad]))} have no "
            f"{'positive ' if info.time_coding == 'log' else ''}session number."
        )
    time, _ = code_time(sessions, info.time_coding, info.time_scale, origin=info.time_origin)
    return AllianceData(
        therapist_labels=t_labels,
        patient_labels=p_labels,
        rater_labels=raters,
        patient_therapist=patient_therapist,
        obs_patient=obs_p,
        obs_rater=obs_rater,
        session=sessions,
        time=time,
        score=np.full(len(frame), np.nan),
        therapist_covariates=_covariates(frame, t_names, obs_t, len(t_labels), info, "therapist"),
        patient_covariates=_covariates(frame, p_names, obs_p, len(p_labels), info, "patient"),
        session_covariates=_session_values(frame, s_names, info),
        row_id=np.asarray(frame.index, dtype=object),
        time_coding=info.time_coding,
        time_origin=info.time_origin,
        time_scale=info.time_scale,
        scale=info.scale,
        columns=dict(info.columns),
        rater_roles=dict(info.rater_roles),
    )


def _used(names: Iterable[str], used: Sequence[str] | None) -> list[str]:
    """The data's covariates that the model uses (all of them when it names none)."""
    return [n for n in names if used is None or n in used]


def _codes(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels in order of first appearance, and each row's index among them."""
    labels, first, codes = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return np.asarray(labels[order], dtype=object), rank[codes.ravel()]


def _fitted_labels(
    idata: az.InferenceData,
    t_labels: np.ndarray,
    p_labels: np.ndarray,
    patient_therapist: np.ndarray,
    names: dict[str, str],
) -> tuple[np.ndarray, np.ndarray]:
    """The fit's own labels of the frame's therapists and patients; unknown ids are refused."""
    posterior = idata.posterior
    found = {}
    for group, labels in (("therapist", t_labels), ("patient", p_labels)):
        if f"{group}_effect" not in posterior:
            raise ValueError(f"the fit's posterior has no {group}_effect for fitted groups.")
        fit_labels = {str(x): x for x in np.asarray(posterior[group].values).tolist()}
        unknown = [str(x) for x in labels if str(x) not in fit_labels]
        if unknown:
            raise DataValidationError(
                f"column {names[group]!r}: {group}s {show_some(unknown)} are not in the fit; "
                "predict them as new ones with groups='new'."
            )
        found[group] = np.array([fit_labels[str(x)] for x in labels], dtype=object)
    if "therapist_of_patient" in idata.constant_data:
        fit_t = coord_labels(idata, "therapist").tolist()
        fit_p = [str(x) for x in coord_labels(idata, "patient").tolist()]
        of = idata.constant_data["therapist_of_patient"].to_numpy().astype(int)
        fit_of = {p: str(fit_t[t]) for p, t in zip(fit_p, of, strict=True)}
        moved = [
            str(p)
            for p, t in zip(p_labels, patient_therapist, strict=True)
            if fit_of.get(str(p), str(t_labels[t])) != str(t_labels[t])
        ]
        if moved:
            raise DataValidationError(
                f"column {names['patient']!r}: patients {show_some(moved)} have another "
                "therapist in the fit."
            )
    return found["therapist"], found["patient"]


def _covariates(
    frame: pd.DataFrame,
    names: list[str],
    rows_unit: np.ndarray,
    n_units: int,
    info: DataAttrs,
    level: str,
) -> Covariates:
    """The fit's covariates from the frame, standardised with the fit's means and SDs."""
    if not names:
        return Covariates.empty(n_units)
    mean = np.array([getattr(info, f"{level}_covariate_mean")[n] for n in names], dtype=float)
    sd = np.array([getattr(info, f"{level}_covariate_sd")[n] for n in names], dtype=float)
    values = np.full((n_units, len(names)), np.nan)
    for k, name in enumerate(names):
        raw = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(raw).all():
            rows = list(frame.index[~np.isfinite(raw)])
            raise DataValidationError(
                f"column {name!r}: rows {show_some(rows)} have no value; predictions need every "
                f"{level} covariate."
            )
        per_unit = pd.Series(raw).groupby(rows_unit)
        if (per_unit.nunique() > 1).any():
            raise DataValidationError(
                f"column {name!r}: a {level}'s covariate differs between its rows."
            )
        values[:, k] = per_unit.first().reindex(range(n_units)).to_numpy()
    return Covariates(tuple(names), (values - mean) / sd, mean, sd, standardized=True)


def _session_values(frame: pd.DataFrame, names: list[str], info: DataAttrs) -> Covariates | None:
    """The fit's time-varying covariates per row, standardised with the fit's means and SDs."""
    if not names:
        return None
    mean = np.array([info.session_covariate_mean[n] for n in names], dtype=float)
    sd = np.array([info.session_covariate_sd[n] for n in names], dtype=float)
    raw = np.column_stack(
        [pd.to_numeric(frame[n], errors="coerce").to_numpy(dtype=float) for n in names]
    )
    lacking = ~np.isfinite(raw).all(axis=1)
    if lacking.any():
        raise DataValidationError(
            f"columns {names}: rows {show_some(list(frame.index[lacking]))} have no value; "
            "predictions need every session covariate at every row."
        )
    return Covariates(tuple(names), (raw - mean) / sd, mean, sd, standardized=True)


class _EffectSource:
    """The therapist and patient effects of a block of draws: the fitted ones or new draws."""

    def __init__(
        self, posterior: xr.Dataset, data: AllianceData, groups: str, rng: np.random.Generator
    ):
        self.posterior, self.groups, self.rng = posterior, groups, rng
        self.labels = {"therapist": data.therapist_labels, "patient": data.patient_labels}
        if groups == "fitted":
            self.index = {}
            for group, labels in self.labels.items():
                fit = [str(x) for x in np.asarray(posterior[group].values).tolist()]
                position = {label: i for i, label in enumerate(fit)}
                self.index[group] = np.array([position[str(x)] for x in labels], dtype=int)

    def block(self, group: str, part: slice) -> np.ndarray:
        """``{group}_effect`` at the draws ``part``: (chain, draws, units, component)."""
        if self.groups == "fitted":
            values = self.posterior[f"{group}_effect"].isel(draw=part).to_numpy()
            return values[:, :, self.index[group], :]
        return population_draws(
            self.posterior.isel(draw=part), group, len(self.labels[group]), self.rng
        )


def population_draws(
    posterior: xr.Dataset, group: str, n_units: int, rng: np.random.Generator
) -> np.ndarray:
    """Effects of ``n_units`` new therapists or patients per (chain, draw), drawn jointly over
    the components from MvNormal(0, Sigma), Sigma from ``{group}_sd`` and ``{group}_corr``.

    Examples
    --------
    >>> new = population_draws(idata.posterior, "therapist", 3, np.random.default_rng(1))
    >>> new.shape  # chain, draw, therapist, component
    (2, 40, 3, 4)
    """
    sd = posterior[f"{group}_sd"].to_numpy()
    corr = posterior[f"{group}_corr"].to_numpy()
    cov = sd[..., :, None] * corr * sd[..., None, :]
    k = sd.shape[-1]
    # a tiny jitter keeps the Cholesky factor of a correlation at +-1 defined
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(k))
    z = rng.standard_normal((*sd.shape[:-1], n_units, k))
    return np.einsum("cdkj,cduj->cduk", chol, z)


def _evaluate(
    function: Any,
    posterior: xr.Dataset,
    effects: _EffectSource,
    data: AllianceData,
    kind: str,
    likelihood: str,
) -> np.ndarray:
    """The mean (and for ``rating`` the noise) at every draw, a block of draws per call."""
    n_chain, n_draw, n_obs = posterior.sizes["chain"], posterior.sizes["draw"], data.n_obs
    per_draw = n_chain * max(n_obs, (data.n_patients + data.n_therapists) * 2 * data.n_raters)
    block = max(1, min(n_draw, BLOCK_VALUES // per_draw))
    out = np.empty((n_chain, n_draw, n_obs))
    rater = data.obs_rater
    for start in range(0, n_draw, block):
        part = slice(start, min(start + block, n_draw))
        n = part.stop - part.start
        inputs = []
        for name in function.names:
            if name in ("therapist_effect", "patient_effect"):
                values = effects.block(name.split("_")[0], part)
            else:
                values = posterior[name].isel(draw=part).to_numpy()
            inputs.append(values.reshape(n_chain * n, *values.shape[2:]))
        (mean,) = function.function(*inputs)
        target = out[:, part]
        target[...] = np.asarray(mean).reshape(n_chain, n, n_obs)
        if kind == "rating":
            sigma = posterior["sigma"].isel(draw=part).to_numpy()[..., rater]
            if likelihood == "student_t":
                nu = posterior["nu"].isel(draw=part).to_numpy()[..., None]
                noise = effects.rng.standard_t(np.broadcast_to(nu, target.shape))
            else:
                noise = effects.rng.standard_normal(target.shape)
            target += sigma * noise
            if likelihood == "censored" and data.scale is not None:
                np.clip(target, *data.scale, out=target)
    return out


def _as_array(values: np.ndarray, posterior: xr.Dataset, frame: pd.DataFrame) -> xr.DataArray:
    coords: dict[Hashable, Any] = {
        "chain": posterior["chain"].values,
        "draw": posterior["draw"].values,
        "obs": np.asarray(frame.index),
    }
    for column in frame.columns:
        if str(column) not in ("chain", "draw", "obs", "alliance"):
            coords[str(column)] = ("obs", frame[column].to_numpy())
    return xr.DataArray(values, dims=("chain", "draw", "obs"), coords=coords, name="alliance")


def prediction_table(pred: xr.DataArray, prob: float = 0.95) -> pd.DataFrame:
    """One row per prediction: the frame's columns, ``mean``, ``sd``, ``lower``, ``upper``.

    ``lower`` and ``upper`` bound the central ``prob`` interval of the draws.

    Examples
    --------
    >>> table = prediction_table(predict(idata), prob=0.9)
    >>> list(table.columns[-4:])
    ['mean', 'sd', 'lower', 'upper']
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must be between 0 and 1, not {prob}.")
    draws = pred.transpose("chain", "draw", "obs").to_numpy()
    draws = draws.reshape(-1, draws.shape[-1])
    tail = (1 - prob) / 2
    table = pd.DataFrame(
        {
            name: np.asarray(coord.values)
            for name, coord in pred.coords.items()
            if coord.dims == ("obs",) and name != "obs"
        },
        index=pd.Index(np.asarray(pred["obs"].values), name="obs"),
    )
    table["mean"] = draws.mean(axis=0)
    table["sd"] = draws.std(axis=0, ddof=1) if draws.shape[0] > 1 else np.nan
    low, high = np.quantile(draws, [tail, 1 - tail], axis=0)
    table["lower"], table["upper"] = low, high
    return table
