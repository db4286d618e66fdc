"""Study designs and model specs: plain dataclasses that round-trip to TOML."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w

from .data import TIME_CODINGS, AllianceData, _assemble
from .instruments import InstrumentKey

# Patients per therapist of the Nissen-Lie-like preset: 70 therapists, 227 patients, 1 to 8 each.
_NISSEN_LIE_PATIENTS = [
    2, 3, 5, 4, 4, 1, 2, 2, 3, 3, 5, 3, 3, 2, 3, 1, 3, 1, 4, 8, 5, 7, 6, 1, 3, 3, 2, 3, 3, 5,
    7, 3, 4, 3, 2, 3, 2, 3, 3, 2, 6, 2, 4, 2, 1, 2, 1, 5, 4, 3, 2, 2, 4, 6, 2, 3, 7, 2, 2, 1,
    1, 3, 6, 3, 4, 2, 2, 5, 5, 3,
]  # fmt: skip


@dataclass
class CovariateDesign:
    """Covariates of a planned study: names, means, SDs and their correlation matrix."""

    names: list[str] = field(default_factory=list)
    mean: list[float] | None = None
    sd: list[float] | None = None
    corr: list[list[float]] | None = None

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` rows of raw covariate values from a multivariate normal.

        Drawn through the Cholesky factor of the covariance, which is unique: NumPy's default
        (an SVD) may flip the signs of singular vectors from one CPU to another, so the same
        seed gave other covariates on another machine."""
        k = len(self.names)
        if k == 0:
            return np.zeros((n, 0))
        mean = np.asarray(self.mean if self.mean is not None else np.zeros(k), dtype=float)
        sd = np.asarray(self.sd if self.sd is not None else np.ones(k), dtype=float)
        corr = np.asarray(self.corr if self.corr is not None else np.eye(k), dtype=float)
        if corr.shape != (k, k) or mean.shape != (k,) or sd.shape != (k,):
            raise ValueError(f"covariates {self.names}: mean, sd and corr must match {k} names.")
        return rng.multivariate_normal(mean, corr * np.outer(sd, sd), size=n, method="cholesky")


@dataclass
class Design:
    """A planned study: how many therapists and patients, when alliance is rated and by whom.

    Parameters
    ----------
    n_therapists
        Number of therapists.
    patients_per_therapist
        An int (the same for all), a list (one count per therapist), or a distribution such as
        ``{"dist": "poisson", "mean": 3.2, "min": 1, "max": 8}`` (counts are ``min`` plus a
        Poisson draw of mean ``mean - min``, truncated at ``max``) or
        ``{"dist": "uniform", "min": 1, "max": 8}``.
    sessions
        The session schedule, e.g. ``[3, 12, 20, 40]`` (the default): every patient is planned
        at every session. With a ``schedule`` these are the possible sessions (derived from a
        weekly schedule when left out).
    raters
        ``["patient"]``, ``["therapist"]`` or ``["patient", "therapist"]``.
    retention
        Probability that a patient is still in treatment at each session (non-increasing;
        once gone, gone). ``None`` means no dropout.
    schedule
        ``None`` (the default): the fixed schedule above. Otherwise each patient gets sessions
        of their own, e.g. ``{"kind": "weekly", "weeks": 30, "attendance": 0.8,
        "dropout_hazard": 0.03}`` (possible sessions 1, 2, ..., 30, in weeks) or
        ``{"kind": "sessions", ...}`` (possible sessions: ``sessions``). The model: a patient is
        rated at the first possible session (the intake); before each later one they leave
        treatment with probability ``dropout_hazard`` (so the number of possible sessions in
        treatment is geometric, and once gone, gone), and while in treatment they attend it
        with probability ``attendance`` (independently). Only attended sessions are rows, so
        patients differ in their sessions and numbers of ratings; ``missing_rate`` still blanks
        ratings at random, and ``retention`` must be left out. ``attendance`` defaults to 1 and
        ``dropout_hazard`` to 0.
    missing_rate
        Probability that a remaining rating is missing at random.
    therapist_covariates, patient_covariates
        :class:`CovariateDesign` (names, means, SDs, correlation).
    time_coding, scale
        As in :meth:`AllianceData.from_frame`.
    score
        The observed score of the instrument actually used, so that simulated data look like
        it (see :func:`alliance_bayes.simulate`): ``None`` (the default) keeps the model's
        continuous outcome; ``{"kind": "sum", "items": 12, "item_low": 1, "item_high": 7}``
        gives whole-number sum scores within 12-84; ``{"kind": "items", "instrument":
        "wai_sr"}`` gives the sums and, from them, item responses (a preset of
        :class:`~alliance_bayes.InstrumentKey` by name, or ``items``/``item_low``/``item_high``
        and optionally ``reversed``). The outcome's scale is then the sum's scale: ``scale``
        left out becomes ``[items * item_low, items * item_high]``, and any other scale is
        refused.

    Examples
    --------
    >>> design = Design(n_therapists=10, patients_per_therapist=3, sessions=[1, 2, 4])
    >>> design.to_data(random_seed=1).n_patients
    30
    >>> Design(score={"kind": "items", "instrument": "wai_sr"}).scale
    [12.0, 60.0]
    """

    name: str = "design"
    n_therapists: int = 40
    patients_per_therapist: int | list[int] | dict[str, Any] = 4
    sessions: list[float] | None = None  # None: [3, 12, 20, 40], or those of a weekly schedule
    raters: list[str] = field(default_factory=lambda: ["patient"])
    retention: list[float] | None = None
    missing_rate: float = 0.0
    therapist_covariates: CovariateDesign = field(default_factory=CovariateDesign)
    patient_covariates: CovariateDesign = field(default_factory=CovariateDesign)
    time_coding: str = "log"
    scale: list[float] | None = None
    description: str = ""
    score: dict[str, Any] | None = None
    schedule: dict[str, Any] | None = None
    session_covariates: CovariateDesign = field(default_factory=CovariateDesign)

    def __post_init__(self) -> None:
        if isinstance(self.therapist_covariates, Mapping):
            self.therapist_covariates = CovariateDesign(**self.therapist_covariates)
        if isinstance(self.patient_covariates, Mapping):
            self.patient_covariates = CovariateDesign(**self.patient_covariates)
        if isinstance(self.session_covariates, Mapping):
            self.session_covariates = CovariateDesign(**self.session_covariates)
        if self.time_coding not in TIME_CODINGS:
            raise ValueError(f"time_coding must be one of {TIME_CODINGS}.")
        self._set_sessions()
        if self.retention is not None:
            r = np.asarray(self.retention, dtype=float)
            if len(r) != len(self.sessions) or np.any(np.diff(r) > 0) or np.any((r < 0) | (r > 1)):
                raise ValueError(
                    "retention needs one probability per session, in [0, 1] and non-increasing "
                    f"(once gone, gone); got {self.retention} for sessions {self.sessions}."
                )
        if not 0 <= self.missing_rate < 1:
            raise ValueError(f"missing_rate must be in [0, 1), got {self.missing_rate}.")
        if not 1 <= len(self.raters) <= 2:
            raise ValueError(f"a design has one or two raters, got {self.raters}.")
        self._check_schedule()
        self._check_score()

    def _set_sessions(self) -> None:
        """The fixed schedule's default, or the possible sessions of ``schedule``."""
        if self.schedule is None:
            if self.sessions is None:
                self.sessions = [3.0, 12.0, 20.0, 40.0]
            return
        self.schedule = _checked_schedule(self.schedule)
        if self.retention is not None:
            raise ValueError(
                "a design with a schedule has its dropout in schedule['dropout_hazard']; "
                f"leave retention out (got {self.retention})."
            )
        if self.schedule["kind"] == "weekly":
            weekly = [float(w) for w in range(1, self.schedule["weeks"] + 1)]
            if self.sessions is not None and [float(s) for s in self.sessions] != weekly:
                raise ValueError(
                    f"a weekly schedule of {self.schedule['weeks']} weeks has sessions 1, 2, "
                    f"..., {self.schedule['weeks']}; got sessions {self.sessions}: leave them "
                    "out, or use schedule kind 'sessions' for sessions of your own."
                )
            self.sessions = weekly
        elif self.sessions is None:
            raise ValueError("schedule kind 'sessions' needs the possible sessions in sessions.")

    def _check_schedule(self) -> None:
        """What from_frame would reject: to_data builds its frame past those checks."""
        if self.n_therapists < 1:
            raise ValueError(f"a design needs at least one therapist, got {self.n_therapists}.")
        if len(set(self.raters)) != len(self.raters):
            raise ValueError(f"raters must be distinct, got {self.raters}.")
        s = np.asarray(self.sessions, dtype=float)
        if s.size == 0 or not np.all(np.isfinite(s)) or np.any(np.diff(s) <= 0):
            raise ValueError(
                f"sessions must be finite and strictly increasing, got {self.sessions}."
            )
        if self.time_coding == "log" and s[0] <= 0:
            raise ValueError(
                f"log time coding needs sessions > 0, got {self.sessions}; "
                "use time_coding='linear' or 'as_is'."
            )

    def _check_score(self) -> None:
        """A known kind and instrument; the outcome's scale is the sum's scale."""
        if self.score is None:
            return
        low, high = score_key(self.score).score_range()
        self.score = _plain_score(self.score)
        if self.scale is None:
            self.scale = [float(low), float(high)]
        elif [float(x) for x in self.scale] != [float(low), float(high)]:
            raise ValueError(
                f"score {self.score} spans {low}-{high}, but scale is {self.scale}; the simulated "
                f"outcome is the sum score, so give scale=[{low}, {high}] (and a truth on that "
                "scale) or leave scale out."
            )

    # ------------------------------------------------------------------ presets
    @classmethod
    def nissen_lie_2013(cls) -> Design:
        """A study like Nissen-Lie et al. (2013, J Couns Psychol).

        70 therapists, 227 patients (1 to 8 per therapist), alliance (WAI, 1-7) rated by patient
        and therapist at sessions 3, 12, 20 and 40; retention 1, 1, .8, .45; 5 % of the remaining
        ratings missing at random. Therapist covariates Personal Burdens, Personal Satisfactions
        (DPCCQ) and mindfulness (FMI total), standardised, correlated -0.3, -0.2 and +0.3. The
        correlations, retention and counts are illustrative values chosen to resemble the
        study, not estimates from it.
        """
        return cls(
            name="nissen_lie_2013",
            n_therapists=70,
            patients_per_therapist=list(_NISSEN_LIE_PATIENTS),
            sessions=[3.0, 12.0, 20.0, 40.0],
            raters=["patient", "therapist"],
            retention=[1.0, 1.0, 0.8, 0.45],
            missing_rate=0.05,
            therapist_covariates=CovariateDesign(
                names=["burdens", "satisfactions", "mindfulness"],
                mean=[0.0, 0.0, 0.0],
                sd=[1.0, 1.0, 1.0],
                corr=[[1.0, -0.3, -0.2], [-0.3, 1.0, 0.3], [-0.2, 0.3, 1.0]],
            ),
            time_coding="log",
            scale=[1.0, 7.0],
            description="Nissen-Lie et al. 2013-like: 70 therapists, 227 patients, two raters "
            "(illustrative values).",
        )

    @classmethod
    def razzaque_2015(cls) -> Design:
        """A study like Razzaque et al. (2015, Mindfulness 6(2)).

        76 clinicians, one alliance score each (1-7), and four FMI subscales (presence,
        acceptance, openness, insight) correlated about .5. Illustrative values.
        """
        corr = np.full((4, 4), 0.5)
        np.fill_diagonal(corr, 1.0)
        return cls(
            name="razzaque_2015",
            n_therapists=76,
            patients_per_therapist=1,
            sessions=[1.0],
            raters=["therapist"],
            therapist_covariates=CovariateDesign(
                names=["presence", "acceptance", "openness", "insight"],
                mean=[0.0] * 4,
                sd=[1.0] * 4,
                corr=corr.tolist(),
            ),
            time_coding="as_is",
            scale=[1.0, 7.0],
            description="Razzaque et al. 2015-like: 76 clinicians, one alliance score each, "
            "four FMI subscales (illustrative values).",
        )

    @classmethod
    def preset(cls, name: str) -> Design:
        """A preset by name (``nissen_lie_2013`` or ``razzaque_2015``)."""
        presets = {"nissen_lie_2013": cls.nissen_lie_2013, "razzaque_2015": cls.razzaque_2015}
        if name not in presets:
            raise KeyError(f"unknown design preset {name!r}; presets: {sorted(presets)}.")
        return presets[name]()

    # ------------------------------------------------------------------ sizes
    def patient_counts(self, rng: np.random.Generator) -> np.ndarray:
        """Patients per therapist (drawn when given as a distribution)."""
        spec = self.patients_per_therapist
        n = self.n_therapists
        if isinstance(spec, int):
            counts = np.full(n, spec)
        elif isinstance(spec, Sequence):
            counts = np.asarray(spec, dtype=int)
            if len(counts) != n:
                raise ValueError(f"patients_per_therapist lists {len(counts)} counts for {n}.")
        else:
            low, high = int(spec.get("min", 1)), int(spec.get("max", 10**6))
            if spec.get("dist") == "poisson":
                counts = np.minimum(low + rng.poisson(float(spec["mean"]) - low, n), high)
            elif spec.get("dist") == "uniform":
                counts = rng.integers(low, high + 1, n)
            else:
                raise ValueError(f"unknown patients_per_therapist distribution: {spec}.")
        if np.any(counts < 1):
            raise ValueError("every therapist needs at least one patient.")
        return counts

    # ------------------------------------------------------------------ data
    def to_data(self, random_seed: int | np.random.SeedSequence = 0) -> AllianceData:
        """Structure, covariates and missingness of one realisation of this design (no outcome).

        Rows of dropped-out patients and ratings missing at random are kept and flagged in
        ``planned_missing``; :func:`alliance_bayes.simulate` draws every row and then blanks them.

        Examples
        --------
        >>> data = Design.nissen_lie_2013().to_data(random_seed=1)
        >>> data.n_therapists, data.n_patients
        (70, 227)
        """
        rng = np.random.default_rng(random_seed)
        counts = self.patient_counts(rng)
        n_patients = int(counts.sum())
        t_width, p_width = len(str(self.n_therapists)), len(str(n_patients))
        therapist_ids = np.array([f"T{i + 1:0{t_width}d}" for i in range(self.n_therapists)])
        patient_therapist = np.repeat(np.arange(self.n_therapists), counts)
        patient_ids = np.array([f"P{i + 1:0{p_width}d}" for i in range(n_patients)])
        t_cov = self.therapist_covariates.draw(self.n_therapists, rng)
        p_cov = self.patient_covariates.draw(n_patients, rng)

        sessions = np.asarray(self.sessions, dtype=float)
        patient, session_idx, rater = self._rows(rng, n_patients)
        missing = self._missingness(rng, n_patients, patient, session_idx)

        frame = pd.DataFrame(
            {
                "therapist": therapist_ids[patient_therapist[patient]],
                "patient": patient_ids[patient],
                "session": sessions[session_idx],
                "rater": np.asarray(self.raters, dtype=object)[rater],
            }
        )
        for k, name in enumerate(self.therapist_covariates.names):
            frame[name] = t_cov[patient_therapist[patient], k]
        for m, name in enumerate(self.patient_covariates.names):
            frame[name] = p_cov[patient, m]
        s_cov = self._session_values(rng, n_patients, patient)
        for m, name in enumerate(self.session_covariates.names):
            frame[name] = s_cov[:, m]
        data = _assemble(
            frame,
            scores=np.full(len(frame), np.nan),
            sessions=frame["session"].to_numpy(dtype=float),
            columns={
                "therapist": "therapist",
                "patient": "patient",
                "score": "alliance",
                "time": "session",
                "rater": "rater",
            },
            therapist_covariates=tuple(self.therapist_covariates.names),
            patient_covariates=tuple(self.patient_covariates.names),
            session_covariates=tuple(self.session_covariates.names),
            therapists=None,
            time_coding=self.time_coding,  # type: ignore[arg-type]
            time_scale=1.0,
            standardize=True,
            scale=None if self.scale is None else (self.scale[0], self.scale[1]),
        )
        return dataclasses.replace(data, planned_missing=missing)

    def _session_values(
        self, rng: np.random.Generator, n_patients: int, patient: np.ndarray
    ) -> np.ndarray:
        """Time-varying covariates per row: a patient's own level (a draw of
        ``session_covariates``) plus a session's departure from it (a draw of the same
        distribution about 0), so both the within and the between part vary. Draws nothing
        from ``rng`` when there are none (designs without them give the data they gave)."""
        spec = self.session_covariates
        if not spec.names:
            return np.zeros((len(patient), 0))
        between = spec.draw(n_patients, rng)
        around_zero = dataclasses.replace(spec, mean=[0.0] * len(spec.names))
        return between[patient] + around_zero.draw(len(patient), rng)

    def _rows(
        self, rng: np.random.Generator, n_patients: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Patient, session and rater index of every row: the fixed grid, or attended sessions.

        Rows are ordered by patient, session, rater. The fixed grid draws nothing from ``rng``,
        so designs without a schedule give the data they always gave."""
        n_s, n_r = len(self.sessions), len(self.raters)
        if self.schedule is None:
            patient = np.repeat(np.arange(n_patients), n_s * n_r)
            session_idx = np.tile(np.repeat(np.arange(n_s), n_r), n_patients)
            return patient, session_idx, np.tile(np.arange(n_r), n_patients * n_s)
        attended_patient, attended_session = np.nonzero(self.attendance(rng, n_patients))
        return (
            np.repeat(attended_patient, n_r),
            np.repeat(attended_session, n_r),
            np.tile(np.arange(n_r), attended_patient.size),
        )

    def attendance(self, rng: np.random.Generator, n_patients: int) -> np.ndarray:
        """Which possible sessions each patient attends under ``schedule``: (patients, sessions).

        The first is always attended; the number of possible sessions in treatment is
        geometric with ``dropout_hazard`` (once gone, gone); each later one in treatment is
        attended with probability ``attendance``.

        Examples
        --------
        >>> design = Design(schedule={"kind": "weekly", "weeks": 6, "dropout_hazard": 1.0})
        >>> design.attendance(np.random.default_rng(1), 2).astype(int)
        array([[1, 0, 0, 0, 0, 0],
               [1, 0, 0, 0, 0, 0]])
        """
        if self.schedule is None:
            raise ValueError("this design has a fixed schedule: every patient at every session.")
        n_s = len(self.sessions)
        hazard = float(self.schedule["dropout_hazard"])
        in_treatment = (
            rng.geometric(hazard, size=n_patients) if hazard > 0 else np.full(n_patients, n_s)
        )
        attends = rng.uniform(size=(n_patients, n_s)) < float(self.schedule["attendance"])
        attends[:, 0] = True
        return attends & (np.arange(n_s)[None, :] < in_treatment[:, None])

    def _missingness(
        self, rng: np.random.Generator, n_patients: int, patient: np.ndarray, session: np.ndarray
    ) -> np.ndarray:
        """Dropout (a patient present at session j iff u < retention[j]) plus MAR missingness."""
        missing = np.zeros(len(patient), dtype=bool)
        if self.retention is not None:
            u = rng.uniform(size=n_patients)
            missing |= u[patient] >= np.asarray(self.retention)[session]
        if self.missing_rate > 0:
            missing |= rng.uniform(size=len(patient)) < self.missing_rate
        return missing

    # ------------------------------------------------------------------ TOML
    def to_dict(self) -> dict[str, Any]:
        return _drop_none(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Design:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown design fields {sorted(unknown)}; known: {sorted(known)}.")
        return cls(**dict(values))

    def to_toml(self, path: str | Path | None = None) -> str:
        """The design as TOML text (also written to ``path`` when given)."""
        return _write_toml({"design": self.to_dict()}, path)

    @classmethod
    def from_toml(cls, source: str | Path) -> Design:
        """Read a design from a TOML file or text (the ``[design]`` table of a model spec too)."""
        table = _read_toml(source)
        return cls.from_dict(table.get("design", table))

    def summary(self) -> str:
        """A few lines describing the design's structure."""
        lines = [f"Design {self.name!r}" + (f": {self.description}" if self.description else "")]
        ppt = self.patients_per_therapist
        ppt_text = (
            f"{sum(ppt)} in all ({min(ppt)}-{max(ppt)} each)" if isinstance(ppt, list) else ppt
        )
        lines += [
            f"  therapists: {self.n_therapists}; patients per therapist: {ppt_text}",
            f"  sessions: {_sessions_text(self.sessions, short=self.schedule is not None)}"
            f" (time coding {self.time_coding})",
            f"  raters: {', '.join(self.raters)}"
            + (f"; scale {self.scale[0]:g}-{self.scale[1]:g}" if self.scale else ""),
        ]
        if self.score is not None:
            key = score_key(self.score)
            low, high = key.score_range()
            # a preset's name does not say its items and range; a range's name does
            items = (
                f"{key.items} items {key.low}-{key.high}; " if "instrument" in self.score else ""
            )
            lines.append(
                f"  observed score: {self.score['kind']} of {key.name} "
                f"({items}whole-number sums {low}-{high})"
            )
        if self.retention is not None:
            lines.append(f"  retention: {', '.join(f'{r:g}' for r in self.retention)}")
        if self.schedule is not None:
            lines += [
                f"  schedule: {self.schedule['kind']}, {len(self.sessions)} possible sessions; "
                f"attendance {self.schedule['attendance']:g}, dropout hazard "
                f"{self.schedule['dropout_hazard']:g} per session",
                f"    expected sessions per patient: {expected_sessions(self):.1f}",
            ]
        lines.append(f"  missing at random: {self.missing_rate:.0%}")
        for level, cov in (
            ("therapist", self.therapist_covariates),
            ("patient", self.patient_covariates),
        ):
            if cov.names:
                lines.append(f"  {level} covariates: {', '.join(cov.names)}")
                if cov.corr is not None and len(cov.names) > 1:
                    corr = pd.DataFrame(cov.corr, index=cov.names, columns=cov.names)
                    lines += ["    " + row for row in corr.round(2).to_string().splitlines()]
        return "\n".join(lines)


SCORE_KINDS = ("sum", "items")
_SCORE_RANGE = ("items", "item_low", "item_high")
_SCORE_FIELDS = ("kind", "instrument", *_SCORE_RANGE, "reversed")


def score_key(score: Mapping[str, Any]) -> InstrumentKey:
    """The instrument behind a design's ``score``: its items, response range, reversed items.

    Raises
    ------
    ValueError
        An unknown field or kind, an unknown instrument, both an instrument and an item range,
        an incomplete range, or a range that is not whole numbers ``item_low < item_high``.

    Examples
    --------
    >>> score_key({"kind": "sum", "items": 12, "item_low": 1, "item_high": 7}).score_range()
    (12, 84)
    >>> score_key({"kind": "items", "instrument": "wai_sr"}).name
    'WAI-SR'
    """
    if not isinstance(score, Mapping):
        raise ValueError(f"score must be a table such as {{'kind': 'sum', ...}}, got {score!r}.")
    unknown = sorted(set(score) - set(_SCORE_FIELDS))
    if unknown:
        raise ValueError(f"unknown score fields {unknown}; known: {list(_SCORE_FIELDS)}.")
    if score.get("kind") not in SCORE_KINDS:
        raise ValueError(f"score kind must be one of {SCORE_KINDS}, got {score.get('kind')!r}.")
    if "instrument" in score:
        both = [f for f in (*_SCORE_RANGE, "reversed") if f in score]
        if both:
            raise ValueError(
                f"score names instrument {score['instrument']!r} and {both} too: give one "
                "of the two."
            )
        return InstrumentKey.preset(score["instrument"])
    missing = [f for f in _SCORE_RANGE if f not in score]
    if missing:
        raise ValueError(f"score needs an instrument, or {list(_SCORE_RANGE)}; {missing} missing.")
    bad = [f for f in _SCORE_RANGE if isinstance(score[f], bool) or not isinstance(score[f], int)]
    if bad:
        raise ValueError(f"score {bad} must be whole numbers, got {[score[f] for f in bad]}.")
    items, low, high = (score[f] for f in _SCORE_RANGE)
    return InstrumentKey(
        name=f"{items} items {low}-{high}",
        items=items,
        low=low,
        high=high,
        reversed=tuple(score.get("reversed", ())),
    )


def _plain_score(score: Mapping[str, Any]) -> dict[str, Any]:
    """The score as TOML gives it back: a dict, ``reversed`` as a list."""
    plain = dict(score)
    if "reversed" in plain:
        plain["reversed"] = list(plain["reversed"])
    return plain


SCHEDULE_KINDS = ("weekly", "sessions")
_SCHEDULE_FIELDS = ("kind", "weeks", "attendance", "dropout_hazard")


def _checked_schedule(schedule: Mapping[str, Any]) -> dict[str, Any]:
    """A design's schedule with its defaults filled in, or a ValueError naming the problem.

    Examples
    --------
    >>> _checked_schedule({"kind": "weekly", "weeks": 30, "attendance": 0.8})
    {'kind': 'weekly', 'weeks': 30, 'attendance': 0.8, 'dropout_hazard': 0.0}
    """
    if not isinstance(schedule, Mapping):
        raise ValueError(
            f"schedule must be a table such as {{'kind': 'weekly', ...}}, got {schedule!r}."
        )
    unknown = sorted(set(schedule) - set(_SCHEDULE_FIELDS))
    if unknown:
        raise ValueError(f"unknown schedule fields {unknown}; known: {list(_SCHEDULE_FIELDS)}.")
    kind = schedule.get("kind")
    if kind not in SCHEDULE_KINDS:
        raise ValueError(f"schedule kind must be one of {SCHEDULE_KINDS}, got {kind!r}.")
    values = {"kind": kind} | {k: v for k, v in schedule.items() if k != "kind"}
    weeks = values.get("weeks")
    if kind == "weekly" and (isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1):
        raise ValueError(f"a weekly schedule needs weeks, a whole number >= 1, got {weeks!r}.")
    if kind == "sessions" and weeks is not None:
        raise ValueError(
            "schedule kind 'sessions' takes its possible sessions from sessions, not weeks."
        )
    values["attendance"] = float(values.get("attendance", 1.0))
    values["dropout_hazard"] = float(values.get("dropout_hazard", 0.0))
    if not 0 < values["attendance"] <= 1:
        raise ValueError(f"schedule attendance must be in (0, 1], got {values['attendance']}.")
    if not 0 <= values["dropout_hazard"] <= 1:
        raise ValueError(
            f"schedule dropout_hazard must be in [0, 1], got {values['dropout_hazard']}."
        )
    return values


def _sessions_text(sessions: Sequence[float], short: bool) -> str:
    """The sessions, or their first two and last when ``short`` and there are many."""
    if short and len(sessions) > 4:
        return f"{sessions[0]:g}, {sessions[1]:g}, ..., {sessions[-1]:g}"
    return ", ".join(f"{s:g}" for s in sessions)


def expected_sessions(design: Design) -> float:
    """Expected number of sessions per patient under the design's schedule (or fixed grid).

    ``1 + attendance * sum_{k=2..K} (1 - dropout_hazard) ** (k - 1)`` over the ``K`` possible
    sessions.

    Examples
    --------
    >>> design = Design(schedule={"kind": "weekly", "weeks": 3, "attendance": 0.5,
    ...                           "dropout_hazard": 0.5})
    >>> expected_sessions(design)  # 1 + 0.5 * (0.5 + 0.25)
    1.375
    """
    n_s = len(design.sessions)
    if design.schedule is None:
        return float(n_s)
    stay = (1.0 - design.schedule["dropout_hazard"]) ** np.arange(1, n_s)
    return float(1.0 + design.schedule["attendance"] * stay.sum())


def _drop_none(value: Any) -> Any:
    """TOML has no null: drop None entries recursively."""
    if isinstance(value, Mapping):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    return value


def _write_toml(table: Mapping[str, Any], path: str | Path | None) -> str:
    text = tomli_w.dumps(_drop_none(table))
    if path is not None:
        Path(path).write_text(text)
    return text


def _read_toml(source: str | Path) -> dict[str, Any]:
    """TOML from a path, or from text when ``source`` is not an existing file."""
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith(".toml")
    ):
        return tomllib.loads(Path(source).read_text())
    return tomllib.loads(str(source))


MODEL_KINDS = ("growth", "regression")
LIKELIHOODS = ("normal", "student_t", "censored")
TIME_SHAPES = ("linear", "quadratic", "piecewise")


@dataclass
class ModelSpec:
    """A named model: its structure, priors and (optionally) the design it is planned for.

    ``therapist_covariates`` / ``patient_covariates`` of ``None`` mean "every covariate of the
    data". ``priors`` override the defaults by name (see :mod:`alliance_bayes.priors`).
    ``columns`` maps the roles ``therapist``, ``patient``, ``score``, ``time``, ``rater`` to
    column names of a data file, for the command line. ``truth`` names the
    :meth:`Truth.preset <alliance_bayes.Truth.preset>` that ``alliance-bayes simulate``,
    ``recovery`` and ``power`` use when no ``--truth`` is given.

    The model's shape: ``therapist_slopes=False`` drops the therapist effects on growth (their
    SDs are exactly 0; for studies with few therapists), ``correlated=False`` makes the effects
    of each level independent (correlations exactly 0), and ``time_shape`` adds a fixed term to
    the mean trajectory beyond the linear one in coded time ``x``: ``"quadratic"`` (``x^2``) or
    ``"piecewise"`` (``max(x - knot, 0)``, ``knot`` a session number coded as the data's time).
    Its coefficient is ``session_coef`` (rater, session_term); the random effects stay on level
    and linear growth. Time itself is coded by the data (``time_coding`` of
    :meth:`AllianceData.from_frame`: log, linear or as is); a spec's ``time_coding`` says which
    coding the model is for: the command line codes the data so, and ``growth_model`` refuses
    data coded otherwise. ``session_covariates`` (``None``:
    every one of the data) are time-varying predictors, split for the user into a within-patient
    part (the value less the patient's mean: a session term, ``"<name> (within)"``) and a
    between-patient part (the patient's mean, centred: a patient covariate on level and growth,
    ``"<name> (between)"``), as multilevel methodologists recommend (Curran & Bauer 2011). Each
    round-trips through TOML:

    >>> shaped = ModelSpec(therapist_slopes=False, correlated=False, time_shape="piecewise",
    ...                    knot=8, time_coding="linear")
    >>> ModelSpec.from_toml(shaped.to_toml()) == shaped
    True

    Examples
    --------
    >>> spec = ModelSpec(name="m", therapist_covariates=["burdens"])
    >>> ModelSpec.from_toml(spec.to_toml()) == spec
    True
    """

    name: str = "model"
    kind: str = "growth"
    therapist_covariates: list[str] | None = None
    patient_covariates: list[str] | None = None
    likelihood: str = "normal"
    centered: bool = False
    marginal: bool | None = None
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    design: Design | None = None
    columns: dict[str, str] = field(default_factory=dict)
    description: str = ""
    truth: str | None = None
    therapist_slopes: bool = True
    correlated: bool = True
    time_shape: str = "linear"
    knot: float | None = None
    session_covariates: list[str] | None = None
    time_coding: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.design, Mapping):
            self.design = Design.from_dict(self.design)
        if self.truth is not None and not isinstance(self.truth, str):
            raise ValueError(
                f"truth must name a truth preset (a string), got {self.truth!r}; "
                "give the values in a TOML file of their own (alliance-bayes ... --truth FILE)."
            )
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {MODEL_KINDS}, got {self.kind!r}.")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}.")
        if self.time_coding is not None and self.time_coding not in TIME_CODINGS:
            raise ValueError(
                f"time_coding must be one of {TIME_CODINGS} (or absent), got {self.time_coding!r}."
            )
        if self.time_shape not in TIME_SHAPES:
            raise ValueError(f"time_shape must be one of {TIME_SHAPES}, got {self.time_shape!r}.")
        if (self.time_shape == "piecewise") != (self.knot is not None):
            raise ValueError(
                "time_shape='piecewise' needs knot= (the session at which the slope changes), "
                f"and knot is for it only; got time_shape={self.time_shape!r}, knot={self.knot!r}."
            )
        if self.centered and not self.full_effects():
            raise ValueError(
                "centered=True needs correlated effects with therapist slopes; use "
                "centered=False with therapist_slopes=False or correlated=False."
            )

    def full_effects(self) -> bool:
        """Whether the effects have the full model's shape: correlated, on level and growth at
        both levels (the default).

        Examples
        --------
        >>> ModelSpec().full_effects(), ModelSpec(therapist_slopes=False).full_effects()
        (True, False)
        """
        return self.therapist_slopes and self.correlated

    def integrates_effects(self) -> bool:
        """Whether the random effects are integrated out of the likelihood.

        ``marginal=None`` (the default) means: yes for a growth model with non-centred
        effects, one rater or two, whatever the likelihood (the censored and Student-t ones
        through latent values, ``models/_latent.py``), where it samples fastest
        (benchmarks/competitors.py, benchmarks/fit_speed.py, benchmarks/likelihoods.py); no
        otherwise.

        Examples
        --------
        >>> ModelSpec().integrates_effects(), ModelSpec(likelihood="censored").integrates_effects()
        (True, True)
        >>> ModelSpec(centered=True).integrates_effects()
        False
        """
        if self.marginal is not None:
            return self.marginal
        return self.kind == "growth" and not self.centered

    def structure(self) -> dict[str, Any]:
        """What determines the compiled model (no name, description, design or columns)."""
        keep = (
            "kind",
            "marginal",
            "therapist_covariates",
            "patient_covariates",
            "likelihood",
            "centered",
            "priors",
            "therapist_slopes",
            "correlated",
            "time_shape",
            "knot",
            "session_covariates",
            "time_coding",
        )
        return {k: v for k, v in self.to_dict().items() if k in keep}

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelSpec:
        values = dict(values)
        if "model" in values:  # a TOML file has [model], [priors], [design], [columns] tables
            values = {**values.pop("model"), **values}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(
                f"unknown model spec fields {sorted(unknown)}; known: {sorted(known)}."
            )
        return cls(**values)

    def to_toml(self, path: str | Path | None = None) -> str:
        """TOML with a ``[model]`` table and ``[priors]``, ``[design]``, ``[columns]`` tables."""
        values = self.to_dict()
        table: dict[str, Any] = {
            "model": {k: v for k, v in values.items() if k not in ("priors", "design", "columns")}
        }
        for key in ("priors", "design", "columns"):
            if values.get(key):
                table[key] = values[key]
        return _write_toml(table, path)

    @classmethod
    def from_toml(cls, source: str | Path) -> ModelSpec:
        """Read a spec from a TOML file or text."""
        return cls.from_dict(_read_toml(source))

    @classmethod
    def shipped(cls, name: str) -> ModelSpec:
        """A model spec shipped with the package (the files of ``models/``), by name.

        Examples
        --------
        >>> ModelSpec.shipped("nissen_lie_2013_dual_rater").therapist_covariates
        ['burdens', 'satisfactions']
        """
        folder = resources.files("alliance_bayes") / "_models"
        path = folder / f"{name.removesuffix('.toml')}.toml"
        if not path.is_file():
            names = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))
            raise KeyError(f"no shipped model spec {name!r}; shipped: {names}.")
        return cls.from_dict(tomllib.loads(path.read_text()))
