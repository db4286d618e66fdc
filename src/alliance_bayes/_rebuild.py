"""Rebuild a fit's data and model from the InferenceData alone.

A fit carries everything its model saw: the indices, coded time and standardised covariates in
``constant_data``, the outcome in ``observed_data``, and in ``attrs`` the spec, the resolved priors
and the data's scale, time coding and covariate means and SDs. From these, :func:`rebuild_data`
makes the :class:`AllianceData` of the observed rows and :func:`rebuild_model` the same model, so a
fit saved in one process can be checked (posterior predictive, R^2) in another.
"""

from __future__ import annotations

import json
from typing import Any

import arviz as az
import numpy as np
import pymc as pm

from .data import SINGLE_RATER, AllianceData, Covariates, infer_rater_roles
from .models import build_model, explicit_effects
from .priors import resolve_priors
from .spec import ModelSpec


def _labels(values: Any) -> np.ndarray:
    """Coordinate labels as plain Python objects (netCDF gives numpy strings)."""
    return np.asarray(np.asarray(values).tolist(), dtype=object)


def coord_labels(idata: az.InferenceData, dim: str) -> np.ndarray:
    """The labels of ``dim`` (e.g. ``therapist``) from whichever group of the fit carries them.

    ``constant_data`` holds a dimension only when some data variable has it (therapists, when
    there are therapist covariates); the posterior always has the random effects' dimensions.
    """
    for group in ("constant_data", "posterior", "prior", "observed_data"):
        if group in idata.groups() and dim in idata[group].coords:
            return _labels(idata[group][dim].to_numpy())
    raise ValueError(f"the fit has no coordinate {dim!r}.")


def _attrs(idata: az.InferenceData, key: str) -> Any:
    if key not in idata.attrs:
        raise ValueError(
            f"this InferenceData has no {key!r} in its attrs; it was not made by "
            "alliance_bayes.fit (pass the model explicitly)."
        )
    return json.loads(idata.attrs[key])


def _names(constant: Any, dim: str) -> list[str]:
    return [str(n) for n in constant[dim].to_numpy()] if dim in constant.coords else []


def _session(time: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """Undo the time coding (the inverse of :func:`alliance_bayes.data.code_time`)."""
    origin, scale = float(info.get("time_origin", 0.0)), float(info.get("time_scale", 1.0))
    coding = info.get("time_coding", "log")
    if coding == "log":
        session = origin * np.exp(time)
    elif coding == "linear":
        session = origin + time * scale
    else:
        return time.copy()
    # exp(log(s)) is s only up to rounding: give session numbers back as the user wrote them
    whole = np.round(session)
    return np.where(
        np.abs(session - whole) < 1e-9 * np.maximum(1.0, np.abs(session)), whole, session
    )


def _covariates(
    constant: Any, level: str, names: list[str], info: dict[str, Any], n_units: int
) -> Covariates:
    variable = f"{level}_covariates"
    if variable not in constant or not names:
        return Covariates.empty(n_units)
    values = np.array(constant[variable].to_numpy(), dtype=float)
    if level == "therapist" and "missing_therapist" in constant:
        # the model stores missing covariates as 0 and imputes them; they were NaN in the data
        rows = constant["missing_therapist"].to_numpy().astype(int)
        cols = constant["missing_covariate"].to_numpy().astype(int)
        values[rows, cols] = np.nan
    means = info.get(f"{level}_covariate_mean", {})
    sds = info.get(f"{level}_covariate_sd", {})
    mean = np.array([means.get(n, 0.0) for n in names], dtype=float)
    sd = np.array([sds.get(n, 1.0) for n in names], dtype=float)
    return Covariates(tuple(names), values, mean, sd, standardized=True)


def rebuild_data(idata: az.InferenceData) -> AllianceData:
    """The :class:`AllianceData` of a fit's observed rows, from the InferenceData alone.

    Examples
    --------
    >>> data = rebuild_data(idata)  # doctest: +SKIP
    >>> data.n_obs == idata.observed_data.sizes["obs"]  # doctest: +SKIP
    True
    """
    info = _attrs(idata, "data")
    spec = ModelSpec.from_dict(_attrs(idata, "spec"))
    constant = idata.constant_data
    obs = constant["obs"] if "obs" in constant.coords else idata.observed_data["obs"]
    n_obs = obs.size
    score = (
        np.asarray(idata.observed_data["alliance"].to_numpy(), dtype=float)
        if "observed_data" in idata.groups()
        else np.full(n_obs, np.nan)  # a planned design: no outcome yet
    )
    therapist_labels = coord_labels(idata, "therapist")
    rater_labels = tuple(info.get("rater_labels") or (SINGLE_RATER,))
    t_names = _names(constant, "therapist_covariate")
    if spec.kind == "regression":
        # one row per therapist and no patient level: each row is its own patient
        patient_therapist = constant["therapist_idx"].to_numpy().astype(int)
        patient_labels = therapist_labels[patient_therapist]
        obs_patient = np.arange(n_obs)
        obs_rater = np.zeros(n_obs, dtype=int)
        time = np.zeros(n_obs)
        p_names: list[str] = []
    else:
        patient_therapist = constant["therapist_of_patient"].to_numpy().astype(int)
        patient_labels = coord_labels(idata, "patient")
        obs_patient = constant["patient_idx"].to_numpy().astype(int)
        obs_rater = constant["rater_idx"].to_numpy().astype(int)
        time = np.asarray(constant["time"].to_numpy(), dtype=float)
        p_names = _names(constant, "patient_covariate")
    scale = info.get("scale")
    return AllianceData(
        therapist_labels=therapist_labels,
        patient_labels=patient_labels,
        rater_labels=rater_labels,
        patient_therapist=patient_therapist,
        obs_patient=obs_patient,
        obs_rater=obs_rater,
        session=_session(time, info) if spec.kind != "regression" else np.ones(n_obs),
        time=time,
        score=score,
        therapist_covariates=_covariates(
            constant, "therapist", t_names, info, len(therapist_labels)
        ),
        patient_covariates=_covariates(constant, "patient", p_names, info, len(patient_labels)),
        row_id=_labels(obs.to_numpy()),
        time_coding=info.get("time_coding", "log"),
        time_origin=float(info.get("time_origin", 0.0)),
        time_scale=float(info.get("time_scale", 1.0)),
        scale=None if scale is None else (float(scale[0]), float(scale[1])),
        columns=dict(info.get("columns", {})),
        # fits made before roles were stored: only the labels patient/therapist say their role
        rater_roles=dict(info.get("rater_roles") or infer_rater_roles(rater_labels)),
    )


def rebuild_spec(idata: az.InferenceData) -> ModelSpec:
    """The fit's spec, with the priors it was fitted with written out in full.

    The default priors depend on the data (the scale, the span of coded time); the resolved ones
    stored in the fit make the rebuilt model independent of rows that had no outcome.
    """
    spec = ModelSpec.from_dict(_attrs(idata, "spec"))
    if "priors" not in idata.attrs:
        return spec
    stored = _attrs(idata, "priors")
    resolved = resolve_priors(rebuild_data(idata), spec.priors, spec.kind)
    if any(resolved.get(name) != prior for name, prior in stored.items()):
        spec.priors = stored
    return spec


def rebuild_model(idata: az.InferenceData) -> pm.Model:
    """The fit's model on the fit's observed data, from the InferenceData alone.

    Examples
    --------
    >>> model = rebuild_model(idata)  # doctest: +SKIP
    >>> model["alliance"].eval().shape == idata.observed_data["alliance"].shape  # doctest: +SKIP
    True
    """
    return build_model(rebuild_data(idata), rebuild_spec(idata))


def predictive_model(idata: az.InferenceData) -> pm.Model:
    """The fit's model with every stored effect explicit in the graph, for predictive draws.

    A fit whose random effects were integrated out of the likelihood (``marginal=True``) stores
    ``therapist_effect`` and ``patient_effect`` drawn from their exact conditional afterwards;
    predicting new ratings of the same patients takes them from the same model with the effects
    explicit.
    """
    model = build_model(rebuild_data(idata), rebuild_spec(idata))
    return explicit_effects(model) if "patient_effect" in idata.posterior else model
