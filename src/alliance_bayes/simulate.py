"""Simulation from the model's own graph: fix parameters with ``pm.do``, draw with ``pm.draw``.

The simulator is the model. ``simulate`` never re-implements the likelihood; it intervenes on
the model's parameters (given by vocabulary name in a :class:`Truth`), draws the random effects and
the outcome, and then blanks the rows the design made missing (dropout and missing at random).
Given the design's ``score``, it then writes the outcome on the instrument's scale: whole-number
sum scores (:func:`sum_scores`), from which :func:`item_responses` writes item responses.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm

from . import _graph
from .data import AllianceData
from .errors import DataValidationError, show_some
from .instruments import InstrumentKey
from .models import explicit_effects
from .models._effects import shaped_truth, shaped_values
from .models._info import ModelInfo, model_info, structure_key
from .models.growth import effect_shapes
from .spec import _read_toml, _write_toml, score_key
from .vocabulary import parameters


@dataclass
class Truth:
    """True parameter values by vocabulary name, keyed by the model's own labels.

    Values are scalars (the same for every label), dicts keyed by labels (raters, covariates,
    components ``"<rater>:level"``), nested dicts for two dims (``{rater: {covariate: value}}``),
    and correlations as ``{"a ~ b": r}`` pairs (pairs not named are 0) or full matrices.

    Examples
    --------
    >>> truth = Truth.nissen_lie_2013()
    >>> truth.values["level"]
    {'patient': 5.3, 'therapist': 5.0}
    """

    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def nissen_lie_2013(cls) -> Truth:
        """Illustrative values resembling Nissen-Lie et al. (2013) on a 1-7 WAI scale.

        Patient-rated level 5.3, therapist-rated 5.0; growth +0.10 per ln-session for both;
        Burdens on patient-rated growth -0.03 per SD, Satisfactions on therapist-rated growth
        +0.03 per SD, mindfulness on therapist-rated level +0.10 per SD, other coefficients 0;
        residual SD 0.33; patient level SD 0.6 and growth SD 0.15; therapist level SD 0.14
        (patient-rated) and 0.33 (therapist-rated), therapist growth SD 0.05; level-growth
        correlations -0.3. The cross-rater correlations of level (0.4 between patients, 0.3
        between therapists) are illustrative too. None of these are estimates from the study.
        """
        covariates = ("burdens", "satisfactions", "mindfulness")
        zero = dict.fromkeys(covariates, 0.0)
        within = {f"{r}:level ~ {r}:growth": -0.3 for r in ("patient", "therapist")}
        return cls(
            {
                "level": {"patient": 5.3, "therapist": 5.0},
                "growth": {"patient": 0.10, "therapist": 0.10},
                "level_coef": {"patient": dict(zero), "therapist": zero | {"mindfulness": 0.10}},
                "growth_coef": {
                    "patient": zero | {"burdens": -0.03},
                    "therapist": zero | {"satisfactions": 0.03},
                },
                "sigma": {"patient": 0.33, "therapist": 0.33},
                "patient_sd": {
                    "patient:level": 0.6,
                    "patient:growth": 0.15,
                    "therapist:level": 0.6,
                    "therapist:growth": 0.15,
                },
                "therapist_sd": {
                    "patient:level": 0.14,
                    "patient:growth": 0.05,
                    "therapist:level": 0.33,
                    "therapist:growth": 0.05,
                },
                "patient_corr": within | {"patient:level ~ therapist:level": 0.4},
                "therapist_corr": within | {"patient:level ~ therapist:level": 0.3},
            }
        )

    @classmethod
    def razzaque_2015(cls) -> Truth:
        """Illustrative values for the therapist regression: mindfulness subscales explain about
        a third of the variance of clinicians' alliance (1-7 scale)."""
        return cls(
            {
                "intercept": 5.2,
                "coef": {"presence": 0.15, "acceptance": 0.10, "openness": 0.05, "insight": 0.10},
                "sigma": 0.45,
            }
        )

    @classmethod
    def preset(cls, name: str) -> Truth:
        """A preset by name (see :meth:`preset_names`)."""
        if name not in cls.preset_names():
            raise KeyError(f"unknown truth preset {name!r}; presets: {cls.preset_names()}.")
        return getattr(cls, name)()

    @staticmethod
    def preset_names() -> list[str]:
        """Names :meth:`preset` knows (each is a classmethod of the same name).

        Examples
        --------
        >>> Truth.preset_names()
        ['nissen_lie_2013', 'razzaque_2015']
        """
        return ["nissen_lie_2013", "razzaque_2015"]

    # ------------------------------------------------------------------ TOML
    def to_toml(self, path: str | Path | None = None) -> str:
        """The values as a ``[truth]`` TOML table (also written to ``path`` when given).

        Examples
        --------
        >>> truth = Truth.razzaque_2015()
        >>> Truth.from_toml(truth.to_toml()) == truth
        True
        """
        return _write_toml({"truth": _plain(self.values)}, path)

    @classmethod
    def from_toml(cls, source: str | Path) -> Truth:
        """Read a truth from a TOML file or text: a ``[truth]`` table, or the values at top level.

        Raises
        ------
        ValueError
            For a name outside the vocabulary or a value that is not a number (a string such as
            ``"0.3"`` is refused rather than converted).
        """
        table = _read_toml(source)
        return cls.from_dict(table.get("truth", table))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Truth:
        """A truth from plain values, checked: vocabulary names, numbers only."""
        _check_names(values, ValueError)
        for name, value in values.items():
            bad = [leaf for leaf in _leaves_of(value) if not _is_number(leaf)]
            if bad:
                raise ValueError(f"truth {name!r} must hold numbers only, got {bad[0]!r}.")
        return cls(dict(values))

    def arrays(self, model: pm.Model) -> dict[str, np.ndarray]:
        """The values as arrays in the order of ``model``'s coords (only what it needs)."""
        info = model_info(model)
        _check_names(self.values, KeyError)
        needed = parameter_dims(model)
        missing = sorted(set(needed) - set(self.values))
        if missing:
            raise KeyError(f"truth is missing {missing}, which this model needs.")
        _warn_unused(self, needed, info)
        return {
            name: _as_array(name, self.values[name], dims, model.coords)
            for name, dims in needed.items()
        }


def _check_names(values: Mapping[str, Any], error: type[Exception]) -> None:
    unknown = sorted(set(values) - set(parameters()))
    if unknown:
        raise error(f"unknown truth names {unknown}; the vocabulary is {list(parameters())}.")


def parameter_dims(model: pm.Model) -> dict[str, tuple[str, ...]]:
    """Vocabulary parameters of ``model`` that a truth must give, with their dims."""
    out = {}
    for name in parameters():
        if name in model.named_vars:
            out[name] = tuple(model.named_vars_to_dims.get(name, ()))
    return out


def _warn_unused(truth: Truth, needed: Mapping[str, Any], info: ModelInfo) -> None:
    """Warn about non-zero effects the model cannot express (e.g. a covariate it leaves out)."""
    ignored = []
    for name in ("level_coef", "growth_coef", "coef"):
        value = truth.values.get(name)
        if name not in needed and value is not None and np.any(np.asarray(_leaves(value)) != 0):
            ignored.append(name)
    if ignored:
        warnings.warn(
            f"truth gives {ignored}, which model {info.spec.name!r} does not have; "
            "they are ignored.",
            stacklevel=3,
        )


def _leaves_of(value: Any) -> list[Any]:
    """Every leaf of nested dicts and lists, unconverted (to check their types)."""
    if isinstance(value, Mapping):
        return [x for v in value.values() for x in _leaves_of(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in _leaves_of(v)]
    return [value]


def _is_number(value: Any) -> bool:
    # bool is an int to Python, but `sigma = true` in a TOML file is a mistake, not 1.0
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _plain(value: Any) -> Any:
    """Values TOML can hold: NumPy arrays and scalars as lists and Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _leaves(value: Any) -> list[float]:
    if isinstance(value, Mapping):
        return [x for v in value.values() for x in _leaves(v)]
    return list(np.ravel(value))


def _as_array(
    name: str, value: Any, dims: tuple[str, ...], coords: Mapping[str, Any]
) -> np.ndarray:
    labels = [list(coords[d]) for d in dims]
    if name.endswith("_corr"):
        return _corr_matrix(name, value, labels[0])
    array = np.asarray(_lookup(name, value, labels), dtype=float)
    shape = tuple(len(x) for x in labels)
    if array.shape != shape:
        described = ", ".join(f"{d} {list(x)}" for d, x in zip(dims, labels, strict=True))
        raise ValueError(
            f"truth {name!r} has shape {array.shape}; this model's is {shape} ({described})."
        )
    return array


def _lookup(name: str, value: Any, labels: list[list[Any]]) -> Any:
    if not labels:
        return value
    if not isinstance(value, Mapping):
        array = np.asarray(value, dtype=float)
        if array.ndim == 0:
            return np.full([len(x) for x in labels], float(array))
        return array
    first, rest = labels[0], labels[1:]
    absent = [label for label in first if str(label) not in value and label not in value]
    if absent:
        raise KeyError(f"truth {name!r} has no value for {absent}.")
    return [_lookup(name, value.get(label, value.get(str(label))), rest) for label in first]


def _corr_matrix(name: str, value: Any, components: list[str]) -> np.ndarray:
    n = len(components)
    if not isinstance(value, Mapping):
        matrix = np.asarray(value, dtype=float)
        if matrix.shape != (n, n):
            raise ValueError(f"truth {name!r} must be {n} x {n} for components {components}.")
        return matrix
    matrix = np.eye(n)
    for pair, r in value.items():
        a, b = (part.strip() for part in pair.split("~"))
        if a in components and b in components:
            i, j = components.index(a), components.index(b)
            matrix[i, j] = matrix[j, i] = float(r)
    if np.any(np.linalg.eigvalsh(matrix) <= 0):
        raise ValueError(f"truth {name!r} is not a positive-definite correlation matrix.")
    return matrix


def packed_cholesky(sd: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """Packed lower Cholesky factor of ``diag(sd) corr diag(sd)``, as LKJCholeskyCov holds it."""
    chol = np.diag(sd) @ np.linalg.cholesky(corr)
    return chol[np.tril_indices(len(sd))]


def interventions(model: pm.Model, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Vocabulary values as values of the graph's own random variables (for ``pm.do``)."""
    out = {}
    for name, value in values.items():
        if name.endswith("_sd") or name.endswith("_corr"):
            continue
        out[name] = value
    shapes = _shapes(model)
    for level in ("therapist", "patient"):
        if f"{level}_chol_cov" in model.named_vars:
            out[f"{level}_chol_cov"] = packed_cholesky(
                values[f"{level}_sd"], values[f"{level}_corr"]
            )
        elif f"{level}_sd_packed" in model.named_vars:  # a shaped block (ModelSpec options)
            out |= shaped_values(
                level, values[f"{level}_sd"], values[f"{level}_corr"], **shapes[level]
            )
    return out


def _shapes(model: pm.Model) -> dict[str, dict[str, Any]]:
    """The growth model's effect shapes by group (none for the therapist regression)."""
    if "component" not in model.coords:
        return {}
    return effect_shapes(model_info(model).spec, len(model.coords["component"]))


def _shaped(model: pm.Model, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """True values as the model's shape holds them: SD 0 for effects it does not have (no
    therapist slopes), correlation 0 where its effects are independent."""
    values = dict(values)
    for level, shape in _shapes(model).items():
        sd, corr = f"{level}_sd", f"{level}_corr"
        if sd in values and corr in values:
            values[sd], values[corr] = shaped_truth(values[sd], values[corr], **shape)
    return values


EFFECTS = ("therapist_effect", "patient_effect", "therapist_covariate_missing")


def _compiled(model: pm.Model, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> Any:
    """The model's graph from ``inputs`` to ``outputs``, compiled once per structure.

    Fixing ``inputs`` by graph replacement is what ``pm.do`` does; compiling it once with the
    data as arguments is what makes a study of many simulations cheap.
    """
    key = (structure_key(model), inputs, outputs)
    return _graph.CACHE.get(
        "draw",
        key,
        lambda: _graph.compile_graph(model, outputs, inputs, data_inputs=True, from_prior=True),
    )


def _draw(
    model: pm.Model, inputs: Mapping[str, np.ndarray], outputs: tuple[str, ...], seed: Any
) -> dict[str, np.ndarray]:
    """One forward draw of ``outputs`` given ``inputs``; the same seed gives the same draw."""
    drawn = _compiled(model, tuple(inputs), outputs).draw(inputs, model, seed)
    return dict(zip(outputs, drawn, strict=True))


def _seed(random_seed: Any) -> Any:
    """An int seed (or None) from an int, a Generator or a SeedSequence."""
    if isinstance(random_seed, np.random.Generator):
        return int(random_seed.integers(2**63))
    if isinstance(random_seed, np.random.SeedSequence):
        return int(random_seed.generate_state(1, np.uint64)[0])
    return random_seed


def draw_prior(model: pm.Model, random_seed: Any = None) -> dict[str, np.ndarray]:
    """One joint draw of the vocabulary parameters from the model's priors (for SBC).

    Examples
    --------
    >>> from alliance_bayes import Design, growth_model
    >>> model = growth_model(Design.nissen_lie_2013().to_data(random_seed=1))
    >>> draw_prior(model, random_seed=1)["therapist_sd"].shape
    (4,)
    """
    names = tuple(parameter_dims(model))
    return _draw(model, {}, names, _seed(random_seed))


def simulate(
    model: pm.Model,
    truth: Truth | Mapping[str, Any],
    *,
    random_seed: int | np.random.Generator | None = None,
    score: Mapping[str, Any] | None = None,
) -> AllianceData:
    """Draw an outcome from ``model`` at the true parameters, then apply the design's missingness.

    The parameters are fixed by graph replacement (as ``pm.do`` does) and the random effects and
    the outcome are drawn from the model's own graph. The compiled draw is cached per model
    structure, so simulating many data sets costs one compile.

    Parameters
    ----------
    model
        A model of this package, usually built on a design's data (``design.to_data``).
    truth
        :class:`Truth`, or a dict of the same form, keyed by vocabulary names.
    random_seed
        Seed of the draw; the same seed gives the same data.
    score
        The design's observed score (:attr:`Design.score <alliance_bayes.Design>`, e.g.
        ``design.score``): the continuous outcome is then mapped onto the instrument by
        :func:`sum_scores` (rounded to whole-number sums and clipped at the sum's range). With
        ``kind="items"`` the data hold the same sums; :func:`item_responses` writes them as
        items. ``None`` (the default) leaves the model's continuous outcome as drawn.

    Returns
    -------
    AllianceData
        The model's data with the simulated outcome; rows the design made missing are NaN.
        ``.truth`` holds the parameters and the drawn ``therapist_effect`` / ``patient_effect``.

    Raises
    ------
    ValueError
        ``score`` is given but the data's scale is not the sum's range (12-84 for 12 items
        1-7): the truth must be on the scale of the sum.

    Examples
    --------
    >>> from alliance_bayes import Design, growth_model
    >>> model = growth_model(Design.nissen_lie_2013().to_data(random_seed=1))
    >>> data = simulate(model, Truth.nissen_lie_2013(), random_seed=2)
    >>> round(float(data.truth["level"][0]), 1)
    5.3

    On the scale of a 12-item WAI-S sum (12-84), with a truth on that scale:

    >>> design = Design(n_therapists=4, patients_per_therapist=2, sessions=[1, 2, 4],
    ...                 score={"kind": "sum", "items": 12, "item_low": 1, "item_high": 7})
    >>> design.scale
    [12.0, 84.0]
    >>> truth = {"level": 60.0, "growth": 2.0, "sigma": 8.0, "patient_sd": [9.0, 1.0],
    ...          "therapist_sd": [3.0, 0.5], "patient_corr": {}, "therapist_corr": {}}
    >>> model = growth_model(design.to_data(random_seed=1))
    >>> sums = simulate(model, truth, random_seed=2, score=design.score).score
    >>> bool(np.all(sums == np.round(sums))), float(sums.min()) >= 12, float(sums.max()) <= 84
    (True, True, True)
    """
    truth = truth if isinstance(truth, Truth) else Truth(dict(truth))
    model = explicit_effects(model)  # the random effects are drawn and returned in the truth
    info = model_info(model)
    values = _shaped(model, truth.arrays(model))
    fixed = interventions(model, values)
    outputs = ("alliance", *(n for n in EFFECTS if n in model.named_vars))
    drawn = _draw(model, fixed, outputs, _seed(random_seed))
    data = info.data
    rows = np.flatnonzero(data.observed) if data.has_outcome else np.arange(data.n_obs)
    outcome = np.full(data.n_obs, np.nan)
    outcome[rows] = drawn.pop("alliance")
    if score is not None:
        outcome = sum_scores(outcome, score, data.scale)
    if data.planned_missing is not None:
        outcome[data.planned_missing] = np.nan
    return data.with_score(outcome, truth=values | drawn)


# ------------------------------------------------------------------ the instrument's scale
def sum_scores(
    outcome: np.ndarray,
    score: Mapping[str, Any],
    scale: tuple[float, float] | list[float] | None,
) -> np.ndarray:
    """The continuous outcome as the instrument's sum scores: rounded, then clipped at its range.

    This coarsens the model's outcome the way the instrument does: every whole number between
    ``items * item_low`` and ``items * item_high`` is an attainable sum, so each value is
    rounded to the nearest whole number (halves to even) and values beyond the range are set to
    its ends. The model itself stays continuous: data with many sums at an end of the range
    are better fitted with ``likelihood="censored"`` (``growth_model`` warns when 5 % or more
    sit at a bound). The outcome's ``scale`` must be the sum's range, so that the truth that
    drew it is on the sum's scale.

    Parameters
    ----------
    outcome
        Continuous values; NaN stays NaN.
    score
        A design's score (see :class:`~alliance_bayes.Design`).
    scale
        The scale of the data that drew ``outcome`` (``data.scale``).

    Examples
    --------
    >>> score = {"kind": "sum", "items": 12, "item_low": 1, "item_high": 7}
    >>> sum_scores(np.array([11.2, 47.5, 48.5, 50.49, 90.0, np.nan]), score, (12, 84))
    array([12., 48., 48., 50., 84., nan])
    """
    low, high = score_key(score).score_range()
    if scale is None or [float(x) for x in scale] != [float(low), float(high)]:
        raise ValueError(
            f"score {dict(score)} is a sum from {low} to {high}, but the data's scale is "
            f"{scale}: simulate on the sum's scale (Design(score=...) sets it; the truth must "
            "be on that scale too)."
        )
    return np.clip(np.rint(np.asarray(outcome, dtype=float)), low, high)


def item_responses(
    data: AllianceData,
    instrument: str | InstrumentKey | Mapping[str, Any],
    *,
    random_seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    prefix: str = "wai",
) -> pd.DataFrame:
    """Item responses whose sum is each rating's score: the simulated sums written as items.

    Each sum is spread over the items as evenly as possible: every item gets the same share of
    ``sum - items * low`` above ``low``, and the remainder is one more point on that many items
    drawn at random (seeded). Reversed items are written turned (``low + high - x``), so that
    :func:`~alliance_bayes.score_wai` with the same key gives back every sum exactly. The items
    are only a way of writing the sum: which items are high, the inter-item correlations and
    hence reliability (alpha is close to 1) are not modelled.

    The responses are a frame of their own rather than columns of the data: the model sees one
    outcome per rating, and :class:`~alliance_bayes.AllianceData` stays that one view. The
    frame has ``data.to_frame()``'s index, so ``data.to_frame().join(items)`` puts them beside
    the ratings.

    Parameters
    ----------
    data
        Data whose scores are whole-number sums within the instrument's range (as
        :func:`simulate` with a design's ``score`` gives); missing scores give missing items.
    instrument
        A preset name (``"wai_sr"``), an :class:`~alliance_bayes.InstrumentKey`, or a design's
        ``score``.
    random_seed
        Seed of which items get the remainder.
    prefix
        Columns are ``<prefix>1`` ... ``<prefix><items>`` (``wai`` and ``item`` are what
        ``score_wai`` finds by itself).

    Raises
    ------
    DataValidationError
        Scores that are not whole numbers within the instrument's range, naming up to five
        rows.

    Examples
    --------
    >>> import alliance_bayes as ab
    >>> from alliance_bayes import Design
    >>> design = Design(n_therapists=2, patients_per_therapist=1, sessions=[1, 2],
    ...                 score={"kind": "items", "instrument": "wai_sr"})
    >>> data = design.to_data(random_seed=1).with_score(np.array([12.0, 37.0, 60.0, np.nan]))
    >>> items = item_responses(data, "wai_sr", random_seed=1)
    >>> items.iloc[1].tolist()
    [3.0, 3.0, 3.0, 3.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    >>> ab.score_wai(items)["total"].tolist()
    [12.0, 37.0, 60.0, nan]
    """
    key = _instrument_key(instrument)
    low, high = key.score_range()
    sums = np.asarray(data.score, dtype=float)
    answered = np.isfinite(sums)
    bad = answered & ((sums != np.round(sums)) | (sums < low) | (sums > high))
    if bad.any():
        raise DataValidationError(
            f"Column {data.columns.get('score', 'alliance')!r}: {key.name} sums are whole "
            f"numbers from {low} to {high}; rows {show_some(data.row_id[bad].tolist())} "
            f"(values {show_some(np.unique(sums[bad]).tolist())}) are not."
        )
    responses = np.full((len(sums), key.items), np.nan)
    responses[answered] = _spread(
        sums[answered].astype(int), key, np.random.default_rng(random_seed)
    )
    if key.reversed:
        turned = [i - 1 for i in key.reversed]
        responses[:, turned] = key.low + key.high - responses[:, turned]
    columns = [f"{prefix}{j}" for j in range(1, key.items + 1)]
    return pd.DataFrame(responses, columns=columns)


def _instrument_key(instrument: str | InstrumentKey | Mapping[str, Any]) -> InstrumentKey:
    if isinstance(instrument, InstrumentKey):
        return instrument
    if isinstance(instrument, Mapping):
        return score_key(instrument)
    return InstrumentKey.preset(instrument)


def _spread(sums: np.ndarray, key: InstrumentKey, rng: np.random.Generator) -> np.ndarray:
    """(n, items) responses in [low, high] with these row sums, as even as possible."""
    share, remainder = np.divmod(sums - key.items * key.low, key.items)
    rank = rng.random((len(sums), key.items)).argsort(axis=1).argsort(axis=1)
    return key.low + share[:, None] + (rank < remainder[:, None])
