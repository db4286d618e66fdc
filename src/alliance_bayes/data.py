"""AllianceData: the one validated, immutable view of an alliance data set.

Long-format data (one row per rating: therapist, patient, session, rater, score) and an optional
therapist-level frame (questionnaires) become integer indices, coded time, standardised covariates
and coordinates carrying the user's own labels. All validation happens here, once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import _validation as check
from ._bins import MAX_SESSIONS, session_bins
from ._html import card, esc, facts, number, section, table
from .errors import DataValidationError, DataWarning, show_some

TimeCoding = Literal["log", "linear", "as_is"]
TIME_CODINGS = ("log", "linear", "as_is")
SINGLE_RATER = "rating"


@dataclass(frozen=True)
class Covariates:
    """Covariates at one level: standardised values (NaN = missing) and the raw means and SDs."""

    names: tuple[str, ...]
    values: np.ndarray  # (n_units, n_covariates), standardised if ``standardized``
    mean: np.ndarray
    sd: np.ndarray
    standardized: bool

    @classmethod
    def empty(cls, n_units: int) -> Covariates:
        return cls((), np.zeros((n_units, 0)), np.zeros(0), np.ones(0), True)

    @classmethod
    def from_raw(
        cls,
        names: Sequence[str],
        raw: np.ndarray,
        standardize: bool,
        basis: np.ndarray | None = None,
    ) -> Covariates:
        """Covariates from raw values, standardised with the mean and SD of the units in
        ``basis`` (a boolean mask; default all)."""
        raw = np.asarray(raw, dtype=float).reshape(raw.shape[0], len(names))
        of = raw if basis is None else raw[np.asarray(basis, dtype=bool)]
        mean = np.nanmean(of, axis=0) if of.size else np.zeros(len(names))
        sd = np.nanstd(of, axis=0, ddof=1) if of.size else np.ones(len(names))
        if not standardize:
            return cls(tuple(names), raw, np.zeros(len(names)), np.ones(len(names)), False)
        return cls(tuple(names), (raw - mean) / sd, mean, sd, True)

    @property
    def raw(self) -> np.ndarray:
        """The values on the user's own scale."""
        return self.values * self.sd + self.mean

    @property
    def missing(self) -> np.ndarray:
        return ~np.isfinite(self.values)


@dataclass(frozen=True, eq=False)
class AllianceData:
    """Validated alliance data: sessions within patients within therapists, one or two raters.

    Build it with :meth:`from_frame` (real data) or :meth:`Design.to_data` (a planned study).
    Rows whose outcome is missing are kept (and reported by :meth:`describe`); the model leaves
    them out of the likelihood.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"t": [1, 1, 2, 2], "p": [1, 1, 2, 2], "s": [1, 2, 1, 2],
    ...                       "wai": [5.0, 5.5, 4.0, 4.2]})
    >>> data = AllianceData.from_frame(frame, therapist="t", patient="p", score="wai", time="s")
    >>> data.n_patients, data.n_obs
    (2, 4)
    """

    therapist_labels: np.ndarray
    patient_labels: np.ndarray
    rater_labels: tuple[str, ...]
    patient_therapist: np.ndarray  # (n_patients,) therapist index of each patient
    obs_patient: np.ndarray  # (n_rows,)
    obs_rater: np.ndarray  # (n_rows,)
    session: np.ndarray  # (n_rows,) the time column as given
    time: np.ndarray  # (n_rows,) coded time
    score: np.ndarray  # (n_rows,) NaN where missing or not yet simulated
    therapist_covariates: Covariates
    patient_covariates: Covariates
    row_id: np.ndarray  # (n_rows,) index labels of the user's frame
    time_coding: TimeCoding = "log"
    time_origin: float = 0.0
    time_scale: float = 1.0
    scale: tuple[float, float] | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    therapists_without_questionnaire: tuple = ()
    therapists_without_patients: tuple = ()  # in the therapist frame only: left out
    rater_roles: Mapping[str, str] = field(default_factory=dict)  # label -> patient/therapist
    planned_missing: np.ndarray | None = None  # design-made missingness, applied when simulating
    truth: Mapping[str, Any] | None = None  # true parameter values of simulated data
    # time-varying (session-level) covariates, one value per row; None: none
    session_covariates: Covariates | None = None
    # display names of the score, time and covariate columns (SPSS column labels, labels=)
    labels: Mapping[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        therapist: str,
        patient: str,
        score: str,
        time: str,
        rater: str | None = None,
        therapist_covariates: Sequence[str] = (),
        patient_covariates: Sequence[str] = (),
        therapists: pd.DataFrame | None = None,
        time_coding: TimeCoding = "log",
        session_covariates: Sequence[str] = (),
        standardize: bool = True,
        scale: tuple[float, float] | None = None,
        time_scale: float = 1.0,
        rater_roles: Mapping[str, str] | None = None,
        normalise_ids: bool = False,
        time_unit: Literal["days", "weeks"] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> AllianceData:
        """Validate a long-format frame (and an optional therapist frame) into AllianceData.

        Parameters
        ----------
        frame
            One row per rating.
        therapist, patient, score, time, rater
            Column names. ``rater`` is optional (one rater); with it, at most two labels.
        therapist_covariates, patient_covariates
            Covariate columns. Therapist covariates may come from ``frame`` or ``therapists``;
            missing values are kept and imputed by the model.
        therapists
            One row per therapist (e.g. DPCCQ and FMI scores), joined on the therapist id column.
        session_covariates
            Time-varying covariates, one value per rating (e.g. a symptom score at each
            session). The growth model splits each into its within-patient part (the value less
            the patient's mean) and its between-patient part (the patient's mean), reported
            separately. Values must be present wherever the score is.
        time_coding
            ``"log"`` (ln session - ln first session), ``"linear"`` ((session - first) /
            ``time_scale``) or ``"as_is"``.
        standardize
            Standardise covariates (mean 0, SD 1 over therapists or patients); the means and SDs
            are kept for back-transformation.
        scale
            ``(low, high)``: the instrument's range, e.g. ``(1, 7)`` for WAI item means.
            Without it the default priors take their scale from the observed scores, which
            must then vary.
        time_scale
            Units of ``time`` per unit of model time for ``"linear"`` coding; positive.
        rater_roles
            Which rater label is the ``"patient"`` and which the ``"therapist"``, e.g.
            ``{"client": "patient", "clinician": "therapist"}``. Inferred only when the labels
            are exactly ``patient`` and ``therapist``; required for two raters with other
            labels, so that rater contrasts always subtract the therapist from the patient.
        normalise_ids
            Strip surrounding whitespace from ids and rater labels and casefold rater labels
            (where a number and a text are then the same id, e.g. ``7`` and ``"7"``, the
            column is read as text), with a :class:`DataWarning` naming every change.
            Without it such near-duplicate labels are an error.
        time_unit
            ``"days"`` or ``"weeks"``: converts a ``time`` column of durations (timedelta64).
            A column of dates is refused (say which date is time 0 by subtracting it).
        labels
            Display names of the score, time and covariate columns for tables and figures,
            e.g. ``{"burd": "Personal Burdens"}``. Column labels that :func:`read_table` kept
            from an SPSS file (``frame.attrs["column_labels"]``, also of ``therapists``) are
            used without it; these win over them. Kept as ``data.labels``.

        Raises
        ------
        DataValidationError
            Naming the column and up to five offending ids or rows. Among others: scores or
            covariates that are infinite, ids that differ only by whitespace, case (raters) or
            type, repeated (patient, time, rater) rows after conversion to numbers, two
            raters without roles, a constant outcome (or overflowing scores) without ``scale``.

        Warns
        -----
        DataWarning
            Therapists of the therapist frame without patients (they are left out), a rater
            without any observed rating, a single session (unless ``time_coding="as_is"``), a
            single therapist, and what ``normalise_ids=True`` changed.

        Examples
        --------
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"therapist": ["a", "a", "b"], "patient": [1, 2, 3],
        ...                       "session": [3, 12, 3], "wai": [5.1, 6.0, 4.4]})
        >>> data = AllianceData.from_frame(frame, therapist="therapist", patient="patient",
        ...                                score="wai", time="session", scale=(1, 7))
        >>> list(data.therapist_labels)
        ['a', 'b']
        """
        if time_coding not in TIME_CODINGS:
            raise ValueError(f"time_coding must be one of {TIME_CODINGS}, got {time_coding!r}.")
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}.")
        file_labels = _file_labels(frame, therapists)  # before any step that may drop attrs
        id_columns = [therapist, patient] + ([rater] if rater else [])
        check.require_columns(frame, [*id_columns, score, time], "data frame")
        check.require_rows(frame, "data frame")
        check.require_time_scale(time_scale, time)
        for column in id_columns:
            check.require_ids(frame, column, "data frame")
        if therapists is not None:
            check.require_columns(therapists, [therapist], "therapist frame")
            check.require_ids(therapists, therapist, "therapist frame")
        frame, therapists = _checked_ids(
            frame, therapists, therapist, patient, rater, normalise_ids
        )

        scores = check.numeric_column(frame, score, "data frame")
        check.require_some_outcome(scores, score)
        check.require_in_scale(scores, scale, score, frame.index)
        check.require_usable_spread(scores, scale, score, frame.index)
        sessions = check.session_column(frame, time, patient, time_unit)
        check.require_finite(sessions, time, frame.index)
        if time_coding == "log":
            check.require_positive_sessions(sessions, time, frame.index)

        ids = _index_ids(frame, therapist, patient, rater)
        check.require_one_therapist_per_patient(
            ids.obs_patient, ids.obs_therapist, ids.patient_labels, therapist
        )
        keys = {patient: ids.obs_patient, time: sessions} | (
            {rater: ids.obs_rater} if rater else {}
        )
        check.require_unique_observations(keys, frame.index, time)

        data = _assemble(
            frame,
            scores=scores,
            sessions=sessions,
            columns={"therapist": therapist, "patient": patient, "score": score, "time": time}
            | ({"rater": rater} if rater else {}),
            therapist_covariates=tuple(therapist_covariates),
            patient_covariates=tuple(patient_covariates),
            session_covariates=tuple(session_covariates),
            therapists=therapists,
            time_coding=time_coding,
            time_scale=time_scale,
            standardize=standardize,
            scale=scale,
            rater_roles=rater_roles,
            require_roles=True,
            ids=ids,
        )
        data = dataclasses.replace(data, labels=_display_labels(data, file_labels, labels))
        _warn_thin(data)
        return data

    @classmethod
    def from_wide(
        cls,
        frame: pd.DataFrame,
        *,
        therapist: str,
        patient: str,
        columns: str | Mapping[Hashable, Any],
        rater: str | None = None,
        score: str = "alliance",
        time: str = "session",
        dropna: bool = True,
        **options: Any,
    ) -> AllianceData:
        """Validate a wide frame: one row per patient (or patient and rater), a column per session.

        The frame is reshaped by :func:`alliance_bayes.io.wide_to_long` and handed to
        :meth:`from_frame`: the result equals ``from_frame`` on the same data in long form.

        Parameters
        ----------
        frame
            One row per patient, or per patient and rater (then name the rater's column in
            ``rater``).
        therapist, patient
            Id columns.
        columns
            The score columns: a pattern with ``{session}`` (a number) and optionally
            ``{rater}``, e.g. ``"wai_{rater}_s{session}"``, or a mapping from column to session
            or to ``(rater, session)``. Columns that fit neither are patient-level columns
            (e.g. covariates for ``patient_covariates``).
        rater
            The wide frame's rater column, for one row per patient and rater. With a ``{rater}``
            pattern the raters come from the column names (the long column is ``"rater"``).
        score, time
            Names of the long frame's score and session columns (as in ``data.columns``).
        dropna
            Leave out empty cells (no rating at that session); ``False`` keeps them as missing
            outcomes.
        **options
            Passed on to :meth:`from_frame` (``rater_roles``, ``scale``, ``therapists``,
            ``therapist_covariates``, ``patient_covariates``, ``time_coding``, ...).

        Raises
        ------
        DataValidationError
            What :func:`~alliance_bayes.io.wide_to_long` refuses (no column fits the pattern,
            a session that is not a number, two columns of one session, repeated rows), and what
            :meth:`from_frame` refuses; rows are named ``"<wide row>:<column>"``.

        Examples
        --------
        >>> import pandas as pd
        >>> wide = pd.DataFrame({"t": ["a", "a", "b"], "p": [1, 2, 3],
        ...                      "wai_client_s1": [5.0, 4.0, 6.0], "wai_client_s3": [5.5, 4.5, 6.1],
        ...                      "wai_clinician_s1": [4.0, 4.0, 5.0],
        ...                      "wai_clinician_s3": [4.5, None, 5.5]})
        >>> data = AllianceData.from_wide(
        ...     wide, therapist="t", patient="p", columns="wai_{rater}_s{session}", scale=(1, 7),
        ...     rater_roles={"client": "patient", "clinician": "therapist"})
        >>> data.n_obs, data.rater_labels
        (11, ('client', 'clinician'))
        """
        from .errors import DataValidationError
        from .io import names_raters, wide_to_long

        if rater is not None and names_raters(columns):
            raise DataValidationError(
                f"rater={rater!r} names the wide frame's rater column, but columns={columns!r} "
                "take the rater from the column names too: use one of the two."
            )
        ids = [therapist, patient, *([rater] if rater else [])]
        long = wide_to_long(
            frame, columns, id_columns=ids, score=score, time=time, rater="rater", dropna=dropna
        )
        long.attrs["column_labels"] = _file_labels(frame, None)  # the wide file's, for covariates
        if names_raters(columns):
            rater = "rater"
        return cls.from_frame(
            long,
            therapist=therapist,
            patient=patient,
            score=score,
            time=time,
            rater=rater,
            **options,
        )

    # ------------------------------------------------------------------ sizes and coords
    @property
    def n_therapists(self) -> int:
        return len(self.therapist_labels)

    @property
    def n_patients(self) -> int:
        return len(self.patient_labels)

    @property
    def n_raters(self) -> int:
        return len(self.rater_labels)

    @property
    def n_obs(self) -> int:
        """Number of rows, with or without an outcome."""
        return len(self.score)

    @property
    def has_outcome(self) -> bool:
        return bool(np.isfinite(self.score).any())

    @property
    def observed(self) -> np.ndarray:
        """Boolean mask of rows whose outcome enters the likelihood."""
        return np.isfinite(self.score)

    @property
    def components(self) -> list[str]:
        """Random-effect components, ``<rater>:level`` and ``<rater>:growth`` per rater."""
        return [f"{r}:{kind}" for r in self.rater_labels for kind in ("level", "growth")]

    @property
    def coords(self) -> dict[str, list]:
        """Coordinates in the shared vocabulary, with the user's own labels."""
        return {
            "therapist": list(self.therapist_labels),
            "patient": list(self.patient_labels),
            "rater": list(self.rater_labels),
            "component": self.components,
            "component_": self.components,
            "therapist_covariate": list(self.therapist_covariates.names),
            "patient_covariate": list(self.patient_covariates.names),
        }

    @property
    def obs_therapist(self) -> np.ndarray:
        return self.patient_therapist[self.obs_patient]

    # ------------------------------------------------------------------ derived data sets
    def with_score(self, score: np.ndarray, truth: Mapping[str, Any] | None = None) -> AllianceData:
        """The same structure with a new outcome vector (e.g. a simulated one)."""
        score = np.asarray(score, dtype=float)
        if score.shape != self.score.shape:
            raise ValueError(f"score must have shape {self.score.shape}, got {score.shape}.")
        return dataclasses.replace(self, score=score, truth=truth)

    def to_frame(self) -> pd.DataFrame:
        """Long-format frame with the user's labels, raw covariates and coded time.

        Examples
        --------
        >>> from alliance_bayes import Design
        >>> Design.razzaque_2015().to_data(random_seed=1).to_frame().shape[0]
        76
        """
        names = {
            "therapist": "therapist",
            "patient": "patient",
            "score": "alliance",
            "time": "session",
            "rater": "rater",
        } | dict(self.columns)
        frame = pd.DataFrame(
            {
                names["therapist"]: self.therapist_labels[self.obs_therapist],
                names["patient"]: self.patient_labels[self.obs_patient],
                names["rater"]: np.asarray(self.rater_labels, dtype=object)[self.obs_rater],
                names["time"]: self.session,
                "time_coded": self.time,
                names["score"]: self.score,
            }
        )
        for k, name in enumerate(self.therapist_covariates.names):
            frame[name] = self.therapist_covariates.raw[self.obs_therapist, k]
        for m, name in enumerate(self.patient_covariates.names):
            frame[name] = self.patient_covariates.raw[self.obs_patient, m]
        if self.session_covariates is not None:
            for m, name in enumerate(self.session_covariates.names):
                frame[name] = self.session_covariates.raw[:, m]
        return frame

    def fingerprint(self) -> str:
        """A short hash of everything the model sees (structure, outcome, covariates)."""
        digest = hashlib.sha256()
        for array in (
            self.patient_therapist,
            self.obs_patient,
            self.obs_rater,
            self.time,
            self.score,
            self.therapist_covariates.values,
            self.patient_covariates.values,
            *(() if self.session_covariates is None else (self.session_covariates.values,)),
        ):
            digest.update(np.ascontiguousarray(array).tobytes())
        for labels in (self.therapist_labels, self.patient_labels, self.rater_labels):
            digest.update(repr(list(labels)).encode())
        return digest.hexdigest()[:16]

    # ------------------------------------------------------------------ reporting
    def describe(self) -> dict[str, Any]:
        """Counts per level, cluster sizes and missingness, as a dict of small tables.

        ``by_session`` counts rows and observed ratings per session and rater. With at most
        eight distinct sessions (a fixed schedule) it has one row per session and rater, and
        ``retention`` is the observed ratings over the largest number of rows of a session.
        With more (irregular schedules, continuous time) sessions are grouped into at most
        eight bins (:func:`alliance_bayes._bins.session_bins`: quantiles of the sessions, about
        equal numbers of ratings each), the index is the bin (``"4-7"``), ``patients`` counts
        the patients with an observed rating in the bin and ``retention`` is that over the
        patients with one in the first bin (per rater); ``time_bins`` then states the binning
        (it is ``None`` for a fixed schedule).

        Examples
        --------
        >>> from alliance_bayes import Design
        >>> d = Design.nissen_lie_2013().to_data(random_seed=1).describe()
        >>> d["counts"]["therapists"], d["counts"]["patients"]
        (70, 227)
        >>> weekly = {"kind": "weekly", "weeks": 30, "attendance": 0.8, "dropout_hazard": 0.03}
        >>> d = Design(n_therapists=20, schedule=weekly).to_data(random_seed=1).describe()
        >>> d["by_session"].round(2)  # doctest: +NORMALIZE_WHITESPACE
                          rows  observed  missing  patients  retention
        sessions rater
        1-3      patient   199       199        0        80       1.00
        4-6      patient   168       168        0        73       0.91
        7-9      patient   153       153        0        67       0.84
        10-13    patient   181       181        0        61       0.76
        14-16    patient   129       129        0        53       0.66
        17-20    patient   160       160        0        53       0.66
        21-25    patient   184       184        0        46       0.57
        26-30    patient   141       141        0        39       0.49
        """
        patients_per_therapist = np.bincount(self.patient_therapist, minlength=self.n_therapists)
        obs = self.observed if self.has_outcome else ~self._planned_missing
        per_patient = np.bincount(self.obs_patient[obs], minlength=self.n_patients)
        by_session, time_bins = self._by_session(obs)
        return {
            "counts": {
                "therapists": self.n_therapists,
                "patients": self.n_patients,
                "raters": self.n_raters,
                "rows": self.n_obs,
                "observed": int(obs.sum()),
            },
            "patients_per_therapist": _min_median_max(patients_per_therapist),
            "observations_per_patient": _min_median_max(per_patient),
            "by_session": by_session,
            "time_bins": time_bins,
            "missing_outcomes": int((~obs).sum()),
            "missing_therapist_covariates": dict(
                zip(
                    self.therapist_covariates.names,
                    self.therapist_covariates.missing.sum(axis=0).tolist(),
                    strict=True,
                )
            ),
            "therapists_without_questionnaire": list(self.therapists_without_questionnaire),
            "therapists_without_patients": list(self.therapists_without_patients),
            "rater_roles": dict(self.rater_roles),
        }

    def _by_session(self, obs: np.ndarray) -> tuple[pd.DataFrame, str | None]:
        """Rows, observed ratings and retention per session (or time bin) and rater."""
        rater = np.asarray(self.rater_labels, dtype=object)[self.obs_rater]
        bins = session_bins(self.session, MAX_SESSIONS)
        if not bins.binned:
            table = (
                pd.DataFrame(
                    {
                        "session": self.session,
                        "rater": rater,
                        "rows": 1,
                        "observed": obs.astype(int),
                    }
                )
                .groupby(["session", "rater"], sort=True)[["rows", "observed"]]
                .sum()
            )
            table["missing"] = table["rows"] - table["observed"]
            table["retention"] = table["observed"] / table["rows"].max()
            return table, None
        sessions = pd.Categorical.from_codes(bins.codes, categories=list(bins.labels), ordered=True)
        frame = pd.DataFrame(
            {
                "sessions": sessions,
                "rater": rater,
                "rows": 1,
                "observed": obs.astype(int),
                "patient": np.where(obs, self.obs_patient, -1),
            }
        )
        groups = frame.groupby(["sessions", "rater"], sort=True, observed=True)
        table = groups[["rows", "observed"]].sum()
        table["missing"] = table["rows"] - table["observed"]
        table["patients"] = groups["patient"].agg(lambda p: np.unique(p[p >= 0]).size)
        first = table["patients"].groupby(level="rater").transform("first")
        table["retention"] = table["patients"] / first.where(first > 0)
        rule = (
            f"{bins.describe()}; retention: patients with an observed rating in the bin / "
            "patients with one in the first bin, per rater"
        )
        return table, rule

    @property
    def _planned_missing(self) -> np.ndarray:
        if self.planned_missing is None:
            return np.zeros(self.n_obs, dtype=bool)
        return self.planned_missing

    def __repr__(self) -> str:
        d = self.describe()
        c = d["counts"]
        ppt = d["patients_per_therapist"]
        lines = [
            f"AllianceData: {c['therapists']} therapists, {c['patients']} patients, "
            f"{c['rows']} rows ({c['observed']} with an outcome"
            + ("" if self.has_outcome else ", outcome not simulated yet")
            + ")",
            f"  raters: {', '.join(self._rater_names())}; time coding: {self.time_coding}"
            + (f"; scale: {self.scale[0]}-{self.scale[1]}" if self.scale else ""),
            f"  patients per therapist: min {ppt['min']}, median {ppt['median']}, max {ppt['max']}",
        ]
        if self.therapist_covariates.names:
            missing = d["missing_therapist_covariates"]
            lines.append(
                "  therapist covariates: "
                + ", ".join(
                    f"{n} ({missing[n]} missing)" if missing[n] else n
                    for n in self.therapist_covariates.names
                )
            )
        if self.patient_covariates.names:
            lines.append("  patient covariates: " + ", ".join(self.patient_covariates.names))
        if self.session_covariates is not None and self.session_covariates.names:
            lines.append("  session covariates: " + ", ".join(self.session_covariates.names))
        if d["therapists_without_patients"]:
            lines.append(
                f"  left out (in the therapist frame, no patients): "
                f"{show_some(d['therapists_without_patients'])}"
            )
        if d["therapists_without_questionnaire"]:
            lines.append(
                f"  therapists without a questionnaire row: "
                f"{show_some(d['therapists_without_questionnaire'])}"
            )
        return "\n".join(lines)

    def _rater_names(self) -> list[str]:
        """Labels with their role where it differs, e.g. ``client (patient)``."""
        roles = self.rater_roles
        return [
            f"{label} ({roles[label]})" if roles.get(label, label) != label else label
            for label in self.rater_labels
        ]

    def _repr_html_(self) -> str:
        """Jupyter's view: sizes, raters, time and scale, covariates, missingness, sessions.

        Every label is escaped (:mod:`alliance_bayes._html`).
        """
        d = self.describe()
        c, ppt = d["counts"], d["patients_per_therapist"]
        missing = c["rows"] - c["observed"]
        rows = [
            ("therapists", number(c["therapists"])),
            (
                "patients",
                f"{number(c['patients'])} (per therapist: min {ppt['min']}, "
                f"median {ppt['median']:g}, max {ppt['max']})",
            ),
            (
                "ratings",
                f"{number(c['rows'])} rows, {number(c['observed'])} "
                + ("with an outcome" if self.has_outcome else "planned (not simulated yet)"),
            ),
            ("missing outcomes", f"{number(missing)} ({missing / max(c['rows'], 1):.0%})"),
            ("raters", esc(", ".join(self._rater_names()))),
            (
                "time",
                esc(self.time_coding)
                + (f"; scale {self.scale[0]:g}-{self.scale[1]:g}" if self.scale else ""),
            ),
        ]
        for level, covariates, gaps in (
            ("therapist", self.therapist_covariates, d["missing_therapist_covariates"]),
            ("patient", self.patient_covariates, {}),
        ):
            if covariates.names:
                named = [
                    f"{esc(n)} ({gaps[n]} missing)" if gaps.get(n) else esc(n)
                    for n in covariates.names
                ]
                rows.append((f"{level} covariates", ", ".join(named)))
        for key, label in (
            ("therapists_without_patients", "left out (no patients)"),
            ("therapists_without_questionnaire", "therapists without a questionnaire row"),
        ):
            if d[key]:
                rows.append((label, esc(show_some(d[key]))))
        sessions = d["by_session"].reset_index()
        return card(
            "AllianceData",
            facts(rows),
            section("by session" if d["time_bins"] is None else d["time_bins"], table(sessions)),
        )


def _min_median_max(counts: np.ndarray) -> dict[str, float]:
    if counts.size == 0:
        return {"min": 0, "median": 0, "max": 0}
    return {"min": int(counts.min()), "median": float(np.median(counts)), "max": int(counts.max())}


def code_time(
    sessions: np.ndarray, coding: TimeCoding, time_scale: float = 1.0, origin: float | None = None
) -> tuple[np.ndarray, float]:
    """Code session numbers as model time; returns the coded time and the origin (first session).

    Examples
    --------
    >>> t, origin = code_time(np.array([3.0, 12.0]), "log")
    >>> origin, round(float(t[1]), 4)
    (3.0, 1.3863)
    """
    sessions = np.asarray(sessions, dtype=float)
    if coding == "as_is":
        return sessions.copy(), 0.0
    first = float(np.min(sessions)) if origin is None else float(origin)
    if coding == "log":
        return np.log(sessions) - np.log(first), first
    return (sessions - first) / time_scale, first


def _labels(values: Sequence[Hashable]) -> np.ndarray:
    """Unique labels in sorted order; mixed types (e.g. 7 and "T8") by type name, then text.

    The order never depends on the order of the rows, so shuffling a frame keeps the coords.
    """
    unique = pd.unique(np.asarray(values, dtype=object)) if len(values) else []
    try:
        return np.asarray(sorted(unique), dtype=object)
    except TypeError:
        return np.asarray(sorted(unique, key=lambda v: (type(v).__name__, str(v))), dtype=object)


def _codes(values: pd.Series, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's position in the sorted labels, and the labels; hashes each row only once."""
    codes, uniques = pd.factorize(values)
    uniques = list(uniques)
    labels = _labels(uniques) if labels is None else labels
    return pd.Index(labels).get_indexer(uniques)[codes], labels


@dataclass(frozen=True)
class _Ids:
    """Sorted labels of therapists, patients and raters, and each row's index into them."""

    therapist_labels: np.ndarray
    patient_labels: np.ndarray
    rater_labels: tuple[str, ...]
    obs_therapist: np.ndarray
    obs_patient: np.ndarray
    obs_rater: np.ndarray


def _index_ids(frame: pd.DataFrame, therapist: str, patient: str, rater: str | None) -> _Ids:
    obs_therapist, therapist_labels = _codes(frame[therapist])
    obs_patient, patient_labels = _codes(frame[patient])
    if rater:
        codes, uniques = pd.factorize(frame[rater])
        # near-duplicate labels are refused before, so their texts are distinct
        texts = np.asarray([str(r) for r in uniques], dtype=object)
        check.require_few_raters(list(texts), rater)
        rater_labels = tuple(sorted(texts))
        obs_rater = pd.Index(rater_labels).get_indexer(texts)[codes]
    else:
        rater_labels = (SINGLE_RATER,)
        obs_rater = np.zeros(len(frame), dtype=int)
    return _Ids(
        therapist_labels,
        patient_labels,
        rater_labels,
        obs_therapist.astype(int),
        obs_patient.astype(int),
        np.asarray(obs_rater, dtype=int),
    )


def infer_rater_roles(labels: Sequence[str]) -> dict[str, str]:
    """Roles of raters labelled exactly ``patient`` / ``therapist``; other labels get none.

    Examples
    --------
    >>> infer_rater_roles(("patient", "therapist"))
    {'patient': 'patient', 'therapist': 'therapist'}
    >>> infer_rater_roles(("client", "clinician"))
    {}
    """
    return {label: label for label in labels if label in check.ROLES}


def _checked_ids(
    frame: pd.DataFrame,
    therapists: pd.DataFrame | None,
    therapist: str,
    patient: str,
    rater: str | None,
    normalise: bool,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Refuse ids that differ only by whitespace, type (or case, raters); or normalise them.

    The therapist frame's ids are compared with the data frame's, so that ``1`` in one and
    ``"1"`` in the other cannot silently join to nothing. The user's frames are never changed:
    normalised ids go into shallow copies.
    """
    changes = []
    for column, casefold, what in (
        (therapist, False, "therapist ids"),
        (patient, False, "patient ids"),
        (rater, True, "rater labels"),
    ):
        if not column:
            continue
        in_frame = list(pd.unique(frame[column]))
        in_therapists = (
            list(pd.unique(therapists[column]))
            if therapists is not None and column == therapist
            else []
        )
        values = list(pd.unique(np.asarray(in_frame + in_therapists, dtype=object)))
        if not normalise:
            groups = check.near_duplicates(values, casefold)
            only_there = frozenset(in_therapists) - frozenset(in_frame)
            check.refuse_near_duplicates(groups, column, what, casefold, only_there)
            continue
        mapping = check.normalised_labels(values, casefold)
        changed = {k: v for k, v in mapping.items() if k != v or type(k) is not type(v)}
        if not changed:
            continue
        frame = frame.copy(deep=False)
        frame[column] = _relabel(frame[column], mapping)
        if in_therapists:
            therapists = therapists.copy(deep=False)
            therapists[column] = _relabel(therapists[column], mapping)
        shown = [f"{check.show_label(k)} -> {v!r}" for k, v in changed.items()]
        changes.append(f"column {column!r}: {check.show_texts(shown)}")
    if therapists is not None:
        check.require_shared_therapists(
            list(pd.unique(frame[therapist])), list(pd.unique(therapists[therapist])), therapist
        )
    if changes:
        warnings.warn(
            "normalise_ids=True changed these ids and rater labels: " + "; ".join(changes) + ".",
            DataWarning,
            stacklevel=3,
        )
    return frame, therapists


def _relabel(values: pd.Series, mapping: Mapping[Hashable, Hashable]) -> pd.Series:
    codes, uniques = pd.factorize(values)
    new = np.asarray([mapping[u] for u in uniques] + [None], dtype=object)
    return pd.Series(new[codes], index=values.index, name=values.name)


def _warn_thin(data: AllianceData) -> None:
    """Warn about what the data cannot tell (the model would still run)."""
    told = []
    if data.therapists_without_patients:
        told.append(
            "therapists in the therapist frame without patients in the data frame are left "
            f"out ({len(data.therapists_without_patients)}): "
            f"{show_some(data.therapists_without_patients)}"
        )
    for r, label in enumerate(data.rater_labels):
        if data.n_raters > 1 and not data.observed[data.obs_rater == r].any():
            told.append(
                f"rater {label!r} has no observed rating: its level, growth and effects are "
                "informed by the priors only"
            )
    if data.time_coding != "as_is" and np.unique(data.session).size == 1:
        told.append(
            f"every rating is at the same session ({data.session[0]:g}): growth cannot be "
            "estimated from the data"
        )
    if data.n_therapists == 1:
        told.append(
            f"there is a single therapist ({data.therapist_labels[0]!r}): therapist effects "
            "and therapist covariate effects cannot be estimated from the data"
        )
    for message in told:
        warnings.warn(message + ".", DataWarning, stacklevel=3)


def _assemble(
    frame: pd.DataFrame,
    *,
    scores: np.ndarray,
    sessions: np.ndarray,
    columns: dict[str, str],
    therapist_covariates: tuple[str, ...],
    patient_covariates: tuple[str, ...],
    therapists: pd.DataFrame | None,
    time_coding: TimeCoding,
    time_scale: float,
    standardize: bool,
    scale: tuple[float, float] | None,
    rater_roles: Mapping[str, str] | None = None,
    require_roles: bool = False,
    ids: _Ids | None = None,
    session_covariates: tuple[str, ...] = (),
) -> AllianceData:
    """Integer indices, coded time and covariates from an already-checked frame.

    ``rater_roles`` are checked (and, with ``require_roles``, demanded for two raters whose
    labels are not ``patient`` / ``therapist``); without them roles are inferred where they can
    be, as for a planned :class:`Design`.
    """
    therapist, patient, rater = columns["therapist"], columns["patient"], columns.get("rater")
    ids = ids or _index_ids(frame, therapist, patient, rater)
    if require_roles or rater_roles is not None:
        roles = check.rater_roles(ids.rater_labels, rater_roles, rater)
    else:
        roles = infer_rater_roles(ids.rater_labels)
    therapist_labels, patient_labels = ids.therapist_labels, ids.patient_labels
    patient_therapist = np.empty(len(patient_labels), dtype=int)
    patient_therapist[ids.obs_patient] = ids.obs_therapist  # one therapist per patient

    t_cov, without_patients = _therapist_covariates(
        frame, therapists, therapist, therapist_covariates, ids
    )
    p_cov = _patient_covariates(frame, patient_covariates, ids)
    for k, name in enumerate(therapist_covariates):
        check.require_variance(t_cov[:, k], name)
    for m, name in enumerate(patient_covariates):
        check.require_variance(p_cov[:, m], name)
        check.require_complete(p_cov[:, m], patient_labels, name, "patient")

    coded, origin = code_time(sessions, time_coding, time_scale)
    without = ()
    if therapists is not None:
        listed = set(pd.unique(therapists[therapist]))
        without = tuple(t for t in therapist_labels if t not in listed)
    return AllianceData(
        therapist_labels=therapist_labels,
        patient_labels=patient_labels,
        rater_labels=ids.rater_labels,
        patient_therapist=patient_therapist,
        obs_patient=ids.obs_patient,
        obs_rater=ids.obs_rater,
        session=sessions,
        time=coded,
        score=scores,
        therapist_covariates=Covariates.from_raw(therapist_covariates, t_cov, standardize),
        patient_covariates=Covariates.from_raw(patient_covariates, p_cov, standardize),
        row_id=frame.index.to_numpy(),
        time_coding=time_coding,
        time_origin=origin,
        time_scale=time_scale,
        scale=None if scale is None else (float(scale[0]), float(scale[1])),
        columns=columns,
        therapists_without_questionnaire=without,
        therapists_without_patients=without_patients,
        rater_roles=roles,
        session_covariates=_session_covariates(frame, session_covariates, scores, standardize),
    )


def _file_labels(frame: pd.DataFrame, therapists: pd.DataFrame | None) -> dict[str, str]:
    """The column labels a reader kept in ``attrs["column_labels"]`` (an SPSS file's), of the
    ratings and then the therapist frame; unlabelled columns (``None``, ``""``) left out."""
    found: dict[str, str] = {}
    for source in (frame, therapists):
        stored = getattr(source, "attrs", {}).get("column_labels") or {}
        found |= {str(k): str(v).strip() for k, v in stored.items() if v and str(v).strip()}
    return found


def _display_labels(
    data: AllianceData, file_labels: Mapping[str, str], given: Mapping[str, str] | None
) -> dict[str, str]:
    """The display names of the columns ``data`` uses: the file's labels, then ``given``."""
    used = [data.columns["score"], data.columns["time"]]
    used += [*data.therapist_covariates.names, *data.patient_covariates.names]
    used += [*(data.session_covariates.names if data.session_covariates else ())]
    given = dict(given or {})
    unknown = [k for k in given if k not in used]
    if unknown:
        raise DataValidationError(
            f"labels: {show_some(unknown)} not among the score, time and covariate columns of "
            f"these data ({show_some(used, 12)}); rater labels go to report_table(labels=...)."
        )
    empty = [k for k, v in given.items() if not isinstance(v, str) or not v.strip()]
    if empty:
        raise DataValidationError(f"labels: {show_some(empty)} need a non-empty text label.")
    return {k: v for k, v in file_labels.items() if k in used} | given


def _therapist_covariates(
    frame: pd.DataFrame,
    therapists: pd.DataFrame | None,
    therapist: str,
    names: tuple[str, ...],
    ids: _Ids,
) -> tuple[np.ndarray, tuple]:
    """(n_therapists, K) raw covariates from either frame, NaN where missing; and the ids of the
    therapist frame that have no patients (they are left out, and reported)."""
    labels = ids.therapist_labels
    out = np.full((len(labels), len(names)), np.nan)
    without_patients: tuple = ()
    if therapists is not None:
        wide_codes, wide_labels = _codes(therapists[therapist])
        positions = pd.Index(labels).get_indexer(wide_labels)
        without_patients = tuple(wide_labels[positions < 0])
    for k, name in enumerate(names):
        in_long, in_wide = check.locate_covariate(name, frame, therapists)
        merged = np.full(len(labels), np.nan)
        if in_wide:
            values = check.numeric_column(therapists, name, "therapist frame")
            per_id = check.constant_within(values, wide_codes, wide_labels, name, "therapist")
            known = positions >= 0
            merged[positions[known]] = per_id[known]
        if in_long:
            values = check.numeric_column(frame, name, "data frame")
            long = check.constant_within(values, ids.obs_therapist, labels, name, "therapist")
            if in_wide:
                check.require_agreement(long, merged, labels, name)
            merged = np.where(np.isnan(merged), long, merged)
        out[:, k] = merged
    return out, without_patients


def _session_covariates(
    frame: pd.DataFrame, names: tuple[str, ...], scores: np.ndarray, standardize: bool
) -> Covariates | None:
    """(n_rows, M) time-varying covariates, standardised over the rows with a score; a value
    is required wherever the score is (the model has no imputation for them)."""
    if not names:
        return None
    out = np.full((len(frame), len(names)), np.nan)
    scored = np.isfinite(scores)
    basis = scored if scored.any() else np.ones_like(scored)  # a planned design: every row
    for m, name in enumerate(names):
        check.require_columns(frame, [name], "data frame")
        values = check.numeric_column(frame, name, "data frame")
        lacking = scored & ~np.isfinite(values)
        if lacking.any():
            raise DataValidationError(
                f"column {name!r} (a session covariate) is missing at rows "
                f"{show_some(list(frame.index[lacking]))}, which have a score: give a value "
                "there or leave the score out."
            )
        check.require_variance(values[basis], name)
        out[:, m] = values
    return Covariates.from_raw(names, out, standardize, basis=basis)


def _patient_covariates(frame: pd.DataFrame, names: tuple[str, ...], ids: _Ids) -> np.ndarray:
    out = np.full((len(ids.patient_labels), len(names)), np.nan)
    for m, name in enumerate(names):
        check.require_columns(frame, [name], "data frame")
        values = check.numeric_column(frame, name, "data frame")
        out[:, m] = check.constant_within(
            values, ids.obs_patient, ids.patient_labels, name, "patient"
        )
    return out
