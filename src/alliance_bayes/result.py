"""The result contract: what a fit's ``az.InferenceData`` holds, written and read in one place.

A fit is an ``az.InferenceData`` with posterior, sample_stats, observed_data, constant_data,
log_likelihood and ``attrs``: the model spec, the resolved priors, the data's attrs (time coding,
scale, covariate means and SDs, rater labels and roles), the data hash, package versions, the
sampler, the convergence report and the timing, each a JSON string (netCDF keeps strings), and
the ``schema_version`` of that layout. :class:`FitAttrs` writes and reads them; every reader of a
fit goes through :func:`read_attrs`, which refuses what it cannot trust (a newer schema, unknown
prior names, impossible values) with a message naming the attr. Files written before the schema
had a version are version 0: the same keys, without ``schema_version``.

From the InferenceData alone, :func:`rebuild_data` makes the :class:`AllianceData` of the
observed rows and :func:`rebuild_model` the same model, so a fit saved in one process
(:func:`save`) can be loaded (:func:`load`), summarised and checked in another.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from .data import SINGLE_RATER, AllianceData, Covariates, infer_rater_roles
from .models import build_model, explicit_effects, model_info
from .priors import resolve_priors
from .spec import ModelSpec
from .vocabulary import parameters

# 1: ``schema_version`` itself; the keys and their JSON are those of version 0 (no version)
SCHEMA_VERSION = 1
TIME_CODINGS = ("log", "linear", "as_is")
ROLES = ("patient", "therapist")
_JSON_KEYS = ("priors", "versions", "diagnostics", "timing", "advi")
_TEXT_KEYS = ("data_hash", "sampler")


@dataclass(frozen=True)
class DataAttrs:
    """What a fit keeps of its data beyond the arrays: coding, scale, labels, roles, columns.

    Examples
    --------
    >>> DataAttrs.from_dict({"time_coding": "linear", "rater_labels": ["patient"]}).rater_roles
    {'patient': 'patient'}
    """

    scale: tuple[float, float] | None = None
    time_coding: str = "log"
    time_origin: float = 0.0
    time_scale: float = 1.0
    rater_labels: tuple[str, ...] = ()
    rater_roles: dict[str, str] = field(default_factory=dict)
    therapist_covariate_mean: dict[str, float] = field(default_factory=dict)
    therapist_covariate_sd: dict[str, float] = field(default_factory=dict)
    patient_covariate_mean: dict[str, float] = field(default_factory=dict)
    patient_covariate_sd: dict[str, float] = field(default_factory=dict)
    session_covariate_mean: dict[str, float] = field(default_factory=dict)
    session_covariate_sd: dict[str, float] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # column -> display name

    @classmethod
    def from_data(cls, data: AllianceData) -> DataAttrs:
        """The attrs of ``data`` (what :func:`rebuild_data` needs besides the arrays)."""
        t, p = data.therapist_covariates, data.patient_covariates
        s = data.session_covariates or Covariates.empty(0)
        return cls(
            scale=data.scale,
            time_coding=data.time_coding,
            time_origin=data.time_origin,
            time_scale=data.time_scale,
            rater_labels=tuple(data.rater_labels),
            rater_roles=dict(data.rater_roles),
            therapist_covariate_mean=dict(zip(t.names, t.mean.tolist(), strict=True)),
            therapist_covariate_sd=dict(zip(t.names, t.sd.tolist(), strict=True)),
            patient_covariate_mean=dict(zip(p.names, p.mean.tolist(), strict=True)),
            patient_covariate_sd=dict(zip(p.names, p.sd.tolist(), strict=True)),
            session_covariate_mean=dict(zip(s.names, s.mean.tolist(), strict=True)),
            session_covariate_sd=dict(zip(s.names, s.sd.tolist(), strict=True)),
            columns=dict(data.columns),
            labels=dict(data.labels),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict stored as ``attrs["data"]``."""
        out = dataclasses.asdict(self)
        out["rater_labels"] = list(self.rater_labels)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DataAttrs:
        """Read ``attrs["data"]``, refusing impossible values.

        Fits made before roles were stored know them only for the labels ``patient`` and
        ``therapist`` themselves.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        labels = tuple(str(r) for r in values.get("rater_labels") or ())
        scale = values.get("scale")
        attrs = cls(
            **values
            | {
                "scale": None if scale is None else (float(scale[0]), float(scale[1])),
                "time_origin": float(values.get("time_origin", 0.0)),
                "time_scale": float(values.get("time_scale", 1.0)),
                "rater_labels": labels,
                "rater_roles": dict(values.get("rater_roles") or infer_rater_roles(labels)),
                "labels": {str(k): str(v) for k, v in (values.get("labels") or {}).items()},
            }
        )
        attrs._check()
        return attrs

    def _check(self) -> None:
        problems = []
        if self.scale is not None and not self.scale[0] < self.scale[1]:
            problems.append(f"scale {list(self.scale)} is not (low, high) with low < high")
        if self.time_coding not in TIME_CODINGS:
            problems.append(f"time_coding {self.time_coding!r} is none of {list(TIME_CODINGS)}")
        if not (math.isfinite(self.time_scale) and self.time_scale > 0):
            problems.append(f"time_scale {self.time_scale} is not a positive number")
        if not math.isfinite(self.time_origin):
            problems.append(f"time_origin {self.time_origin} is not a number")
        if len(set(self.rater_labels)) < len(self.rater_labels):
            problems.append(f"rater_labels {list(self.rater_labels)} repeat a label")
        for rater, role in self.rater_roles.items():
            if role not in ROLES or rater not in self.rater_labels:
                problems.append(f"rater_roles gives {rater!r} the role {role!r}")
        for level in ("therapist", "patient"):
            sds = getattr(self, f"{level}_covariate_sd")
            problems += [
                f"{level} covariate {n!r} has SD {v}"
                for n, v in sds.items()
                if not isinstance(v, int | float) or v <= 0
            ]
        if problems:
            raise ValueError(f"the fit's attrs['data'] cannot be right: {'; '.join(problems)}.")


@dataclass(frozen=True)
class FitAttrs:
    """The ``attrs`` of a fit, typed; ``None`` for what a fit does not hold.

    A fit from :func:`alliance_bayes.fit` holds all but ``advi`` (ADVI only); prior predictive
    draws of a model hold ``spec``, ``priors`` and ``data``.

    Examples
    --------
    >>> attrs = read_attrs(idata)
    >>> attrs.spec.likelihood, attrs.data.time_coding
    ('normal', 'log')
    """

    spec: ModelSpec | None = None
    priors: dict[str, dict[str, Any]] | None = None
    data: DataAttrs | None = None
    data_hash: str | None = None
    versions: dict[str, str] | None = None
    sampler: str | None = None
    diagnostics: dict[str, Any] | None = None
    timing: dict[str, float] | None = None
    advi: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def of_model(cls, model: pm.Model) -> FitAttrs:
        """What a fit records about its model: spec, resolved priors and data attrs."""
        info = model_info(model)
        return cls(spec=info.spec, priors=info.priors, data=DataAttrs.from_data(info.data))

    def write(self, idata: az.InferenceData) -> az.InferenceData:
        """Put these attrs (those not ``None``) into ``idata.attrs``; returns ``idata``."""
        attrs: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        if self.spec is not None:
            attrs["spec"] = json.dumps(self.spec.to_dict())
        if self.data is not None:
            attrs["data"] = json.dumps(self.data.to_dict())
        for key in _JSON_KEYS:
            if getattr(self, key) is not None:
                attrs[key] = json.dumps(getattr(self, key))
        for key in _TEXT_KEYS:
            if getattr(self, key) is not None:
                attrs[key] = str(getattr(self, key))
        idata.attrs.update(attrs)
        return idata

    @classmethod
    def read(cls, idata: az.InferenceData) -> FitAttrs:
        """The attrs of ``idata``, checked (see :func:`read_attrs`)."""
        attrs = idata.attrs
        version = _schema_version(attrs.get("schema_version", 0))
        values: dict[str, Any] = {k: _json(attrs, k) for k in _JSON_KEYS if k in attrs}
        values |= {k: str(attrs[k]) for k in _TEXT_KEYS if k in attrs}
        if "spec" in attrs:
            values["spec"] = _spec(_json(attrs, "spec"))
        if "data" in attrs:
            values["data"] = DataAttrs.from_dict(_json(attrs, "data"))
        read = cls(**values, schema_version=version)
        read._check_priors()
        return read

    def require(self, key: str) -> Any:
        """The attr ``key``, or a clear error when the fit lacks it."""
        value = getattr(self, key)
        if value is None:
            raise ValueError(
                f"this InferenceData has no {key!r} in its attrs; it was not made by "
                "alliance_bayes.fit (pass the model explicitly)."
            )
        return value

    def _check_priors(self) -> None:
        kind = self.spec.kind if self.spec is not None else "growth"
        known = parameters("regression" if kind == "regression" else "growth")
        for where, priors in (("priors", self.priors), ("spec's priors", self._spec_priors())):
            unknown = sorted(set(priors or {}) - set(known))
            if unknown:
                raise ValueError(
                    f"the fit's {where} name unknown priors {unknown}; priors of a {kind} "
                    f"model: {sorted(known)}."
                )
            for name, prior in (priors or {}).items():
                if not isinstance(prior, dict):
                    raise ValueError(f"the fit's {where}: {name!r} is {prior!r}, not a dict.")

    def _spec_priors(self) -> dict[str, Any]:
        return dict(self.spec.priors or {}) if self.spec is not None else {}


def _schema_version(value: Any) -> int:
    try:
        version = int(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the fit's schema_version {value!r} is not a number.") from error
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"this fit was written with result schema version {version}, newer than the "
            f"{SCHEMA_VERSION} this alliance_bayes reads; upgrade alliance_bayes to read it."
        )
    if version < 0:
        raise ValueError(f"the fit's schema_version {version} is negative.")
    return version


def _json(attrs: dict[str, Any], key: str) -> Any:
    try:
        return json.loads(attrs[key])
    except (TypeError, ValueError) as error:
        raise ValueError(f"the fit's attrs[{key!r}] is not valid JSON: {error}.") from error


def _spec(values: Any) -> ModelSpec:
    if not isinstance(values, dict):
        raise ValueError(f"the fit's attrs['spec'] is {values!r}, not a model spec.")
    return ModelSpec.from_dict(values)


def read_attrs(idata: az.InferenceData) -> FitAttrs:
    """The checked attrs of a fit (or of prior predictive draws).

    Raises
    ------
    ValueError
        For a schema version newer than this package's, unknown prior names, impossible data
        attrs (a scale with low >= high, an unknown time coding, a non-positive time scale or
        covariate SD, an unknown role) or attrs that are not valid JSON.

    Examples
    --------
    >>> read_attrs(idata).data.rater_roles
    {'patient': 'patient', 'therapist': 'therapist'}
    """
    return FitAttrs.read(idata)


def write_data_groups(idata: az.InferenceData, model: pm.Model) -> None:
    """Add ``observed_data`` (the outcome) and ``constant_data`` (every other data variable).

    Examples
    --------
    >>> bare = az.InferenceData(posterior=idata.posterior)
    >>> write_data_groups(bare, model)
    >>> bare.groups()
    ['posterior', 'observed_data', 'constant_data']
    """
    observed = model.rvs_to_values[model["alliance"]].get_value()
    obs_coords = {"obs": list(model.coords["obs"])}
    idata.add_groups(
        observed_data=xr.Dataset({"alliance": ("obs", np.asarray(observed))}, coords=obs_coords),
    )
    constant = {}
    for var in model.data_vars:
        if var.name == "alliance_observed":
            continue
        dims = model.named_vars_to_dims.get(var.name) or tuple(
            f"{var.name}_dim_{i}" for i in range(var.ndim)
        )
        constant[var.name] = (dims, np.asarray(var.get_value()))
    coords = {
        d: list(v) for d, v in model.coords.items() if any(d in c[0] for c in constant.values())
    }
    idata.add_groups(constant_data=xr.Dataset(constant, coords=coords))


def save(idata: az.InferenceData, path: str | Path) -> Path:
    """Write a fit to netCDF; :func:`load` reads it back in any process.

    Examples
    --------
    >>> save(idata, "fit.nc")
    PosixPath('fit.nc')
    """
    path = Path(path)
    idata.to_netcdf(str(path), engine="h5netcdf")
    return path


def load(path: str | Path) -> az.InferenceData:
    """Read a fit written by :func:`save`, checking its attrs (see :func:`read_attrs`).

    Examples
    --------
    >>> path = save(idata, "fit.nc")
    >>> idata = load(path)
    """
    idata = az.from_netcdf(str(path), engine="h5netcdf")
    read_attrs(idata)
    return idata


def _labels(values: Any) -> np.ndarray:
    """Coordinate labels as plain Python objects (netCDF gives numpy strings)."""
    return np.asarray(np.asarray(values).tolist(), dtype=object)


def coord_labels(idata: az.InferenceData, dim: str) -> np.ndarray:
    """The labels of ``dim`` (e.g. ``therapist``) from whichever group of the fit carries them.

    ``constant_data`` holds a dimension only when some data variable has it (therapists, when
    there are therapist covariates); the posterior always has the random effects' dimensions.

    Examples
    --------
    >>> coord_labels(idata, "therapist")[:2]
    array(['T01', 'T02'], dtype=object)
    """
    for group in ("constant_data", "posterior", "prior", "observed_data"):
        if group in idata.groups() and dim in idata[group].coords:
            return _labels(idata[group][dim].to_numpy())
    raise ValueError(f"the fit has no coordinate {dim!r}.")


def _names(constant: Any, dim: str) -> list[str]:
    return [str(n) for n in constant[dim].to_numpy()] if dim in constant.coords else []


def _session(time: np.ndarray, info: DataAttrs) -> np.ndarray:
    """Undo the time coding (the inverse of :func:`alliance_bayes.data.code_time`)."""
    origin, scale = info.time_origin, info.time_scale
    if info.time_coding == "log":
        session = origin * np.exp(time)
    elif info.time_coding == "linear":
        session = origin + time * scale
    else:
        return time.copy()
    # exp(log(s)) is s only up to rounding: give session numbers back as the user wrote them
    whole = np.round(session)
    return np.where(
        np.abs(session - whole) < 1e-9 * np.maximum(1.0, np.abs(session)), whole, session
    )


def _covariates(
    constant: Any, level: str, names: list[str], info: DataAttrs, n_units: int
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
    means = getattr(info, f"{level}_covariate_mean")
    sds = getattr(info, f"{level}_covariate_sd")
    mean = np.array([means.get(n, 0.0) for n in names], dtype=float)
    sd = np.array([sds.get(n, 1.0) for n in names], dtype=float)
    return Covariates(tuple(names), values, mean, sd, standardized=True)


def _session_covariates(
    constant: Any, patient: Covariates, obs_patient: np.ndarray, info: DataAttrs
) -> tuple[Covariates, Covariates | None]:
    """Time-varying covariates back from the model's data: a row's value is its within part
    (``session_within``) plus its patient's between part (a patient covariate ``"<name>
    (between)"``, which is taken out of the patient covariates again)."""
    if "session_within" not in constant:
        return patient, None
    names = [str(n) for n in constant["session_covariate"].to_numpy()]
    within = np.asarray(constant["session_within"].to_numpy(), dtype=float)
    between = [patient.names.index(f"{name} (between)") for name in names]
    values = within + patient.values[obs_patient][:, between]
    keep = [k for k in range(len(patient.names)) if k not in between]
    kept = Covariates(
        tuple(patient.names[k] for k in keep),
        patient.values[:, keep],
        patient.mean[keep],
        patient.sd[keep],
        standardized=True,
    )
    mean = np.array([info.session_covariate_mean.get(n, 0.0) for n in names], dtype=float)
    sd = np.array([info.session_covariate_sd.get(n, 1.0) for n in names], dtype=float)
    return kept, Covariates(tuple(names), values, mean, sd, standardized=True)


def rebuild_data(idata: az.InferenceData) -> AllianceData:
    """The :class:`AllianceData` of a fit's observed rows, from the InferenceData alone.

    Examples
    --------
    >>> data = rebuild_data(idata)
    >>> data.n_obs == idata.observed_data.sizes["obs"]
    True
    """
    attrs = read_attrs(idata)
    info, spec = attrs.require("data"), attrs.require("spec")
    constant = idata.constant_data
    obs = constant["obs"] if "obs" in constant.coords else idata.observed_data["obs"]
    n_obs = obs.size
    score = (
        np.asarray(idata.observed_data["alliance"].to_numpy(), dtype=float)
        if "observed_data" in idata.groups()
        else np.full(n_obs, np.nan)  # a planned design: no outcome yet
    )
    therapist_labels = coord_labels(idata, "therapist")
    rater_labels = info.rater_labels or (SINGLE_RATER,)
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
    p_cov = _covariates(constant, "patient", p_names, info, len(patient_labels))
    p_cov, s_cov = _session_covariates(constant, p_cov, obs_patient, info)
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
        patient_covariates=p_cov,
        session_covariates=s_cov,
        row_id=_labels(obs.to_numpy()),
        time_coding=info.time_coding,
        time_origin=info.time_origin,
        time_scale=info.time_scale,
        scale=info.scale,
        columns=dict(info.columns),
        labels=dict(info.labels),
        # fits made before roles were stored: only the labels patient/therapist say their role
        rater_roles=dict(info.rater_roles or infer_rater_roles(rater_labels)),
    )


def rebuild_spec(idata: az.InferenceData, data: AllianceData | None = None) -> ModelSpec:
    """The fit's spec, with the priors it was fitted with written out in full.

    The default priors depend on the data (the scale, the span of coded time); the resolved ones
    stored in the fit make the rebuilt model independent of rows that had no outcome. ``data``:
    the fit's rebuilt data, when the caller has it already.

    Examples
    --------
    >>> rebuild_spec(idata).kind
    'growth'
    """
    attrs = read_attrs(idata)
    spec = dataclasses.replace(attrs.require("spec"))
    if attrs.priors is None:
        return spec
    data = rebuild_data(idata) if data is None else data
    resolved = resolve_priors(data, spec.priors, spec.kind)
    if any(resolved.get(name) != prior for name, prior in attrs.priors.items()):
        spec.priors = attrs.priors
    return spec


def rebuild_model(idata: az.InferenceData) -> pm.Model:
    """The fit's model on the fit's observed data, from the InferenceData alone.

    Examples
    --------
    >>> model = rebuild_model(idata)
    >>> model["alliance"].eval().shape == idata.observed_data["alliance"].shape
    True
    """
    data = rebuild_data(idata)
    return build_model(data, rebuild_spec(idata, data))


def predictive_model(idata: az.InferenceData) -> pm.Model:
    """The fit's model with every stored effect explicit in the graph, for predictive draws.

    A fit whose random effects were integrated out of the likelihood (``marginal=True``) stores
    ``therapist_effect`` and ``patient_effect`` drawn from their exact conditional afterwards;
    predicting new ratings of the same patients takes them from the same model with the effects
    explicit.

    Examples
    --------
    >>> predictive_model(idata)["patient_effect"].ndim
    2
    """
    model = rebuild_model(idata)
    return explicit_effects(model) if "patient_effect" in idata.posterior else model
