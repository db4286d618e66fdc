"""The shared vocabulary in code: names, their dims, level and kind; scalar names; the ICC.

The table of ``docs/architecture.md`` ("One vocabulary") lives here, once. The model families
name their variables after it, the simulator's :class:`~alliance_bayes.simulate.Truth` accepts
its parameters, the summary and the calibration studies report its population-level scalars,
and every scalar is named one way, by :func:`scalar_name`: ``name[label, ...]``, the labels in
the order of the variable's dims. A correlation matrix is reported by its entries below the
diagonal only (the diagonal is 1, the entries above repeat those below), so the pair of
components ``a`` (earlier) and ``b`` (later) is ``therapist_corr[b, a]`` everywhere: summaries,
convergence reports, SBC, recovery and their plots. Study stores written before this
convention named the pair ``therapist_corr[a, b]``; :func:`renamed_pairs` maps those names
when a store is read.

Examples
--------
>>> term("growth_coef").dims
('rater', 'therapist_covariate')
>>> scalar_name("therapist_corr", ["patient:growth", "patient:level"])
'therapist_corr[patient:growth, patient:level]'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

SAMPLE_DIMS = ("chain", "draw")
# the dims of a correlation matrix: its rows and its columns
PAIR_DIMS = ("component", "component_")
# Offsets, Cholesky factors and transformed values exist in the graph but are not vocabulary
INTERNAL_SUFFIXES = ("_offset", "_chol_cov", "_packed", "__")
# the order in which tables report the kinds of population-level quantities
REPORT_ORDER = ("location", "coefficient", "derived", "residual", "shape", "scale", "correlation")
# kinds that have a prior, and so a true value in a simulation
PARAMETER_KINDS = ("location", "coefficient", "residual", "shape", "scale", "correlation")


@dataclass(frozen=True)
class Term:
    """One name of the vocabulary.

    ``level`` is where the quantity lives: ``population``, ``therapist``, ``patient`` or
    ``obs`` (a rating; for the therapist regression, a therapist's one score). ``kind`` says
    what it is: ``location``, ``coefficient`` (per SD of a covariate of ``level``), ``scale``
    and ``correlation`` (of the random effects), ``effect`` (the random effects themselves),
    ``residual``, ``shape`` (of the residual distribution), ``derived`` (a function of the
    others) or ``outcome``.
    """

    name: str
    dims: tuple[str, ...]
    level: str
    kind: str
    meaning: str


GROWTH: tuple[Term, ...] = (
    Term("level", ("rater",), "population", "location", "mean alliance at time 0"),
    Term("growth", ("rater",), "population", "location", "mean growth per unit of time"),
    Term(
        "level_coef",
        ("rater", "therapist_covariate"),
        "therapist",
        "coefficient",
        "therapist covariate effect on level",
    ),
    Term(
        "growth_coef",
        ("rater", "therapist_covariate"),
        "therapist",
        "coefficient",
        "therapist covariate effect on growth",
    ),
    Term(
        "patient_level_coef",
        ("rater", "patient_covariate"),
        "patient",
        "coefficient",
        "patient covariate effect on level",
    ),
    Term(
        "patient_growth_coef",
        ("rater", "patient_covariate"),
        "patient",
        "coefficient",
        "patient covariate effect on growth",
    ),
    Term("therapist_sd", ("component",), "therapist", "scale", "SDs of the therapist effects"),
    Term("patient_sd", ("component",), "patient", "scale", "SDs of the patient effects"),
    Term("therapist_corr", PAIR_DIMS, "therapist", "correlation", "therapist effects' corr."),
    Term("patient_corr", PAIR_DIMS, "patient", "correlation", "patient effects' correlations"),
    Term("therapist_effect", ("therapist", "component"), "therapist", "effect", "per therapist"),
    Term("patient_effect", ("patient", "component"), "patient", "effect", "per patient"),
    Term("sigma", ("rater",), "obs", "residual", "residual SD"),
    Term("nu", (), "obs", "shape", "Student-t degrees of freedom"),
    # after the others: the prior draw of a seeded SBC study follows this order
    Term(
        "session_coef",
        ("rater", "session_term"),
        "obs",
        "coefficient",
        "effect of a session term (time^2, time after the knot, a time-varying covariate's "
        "within-patient part) on the mean",
    ),
    Term("alliance", ("obs",), "obs", "outcome", "the observed (or simulated) outcome"),
)
"""The growth model's names (components are ``<rater>:level`` and ``<rater>:growth``)."""

REGRESSION: tuple[Term, ...] = (
    Term("intercept", (), "population", "location", "mean alliance of a therapist"),
    Term("coef", ("therapist_covariate",), "therapist", "coefficient", "per SD of a covariate"),
    Term(
        "coef_std",
        ("therapist_covariate",),
        "therapist",
        "derived",
        "per SD of a covariate, in SDs of the outcome",
    ),
    Term("r2", (), "population", "derived", "Bayesian R^2"),
    Term("sigma", (), "obs", "residual", "residual SD"),
    Term("alliance", ("obs",), "obs", "outcome", "each therapist's alliance score"),
)
"""The therapist regression's names."""

FAMILIES = {"growth": GROWTH, "regression": REGRESSION}


def terms(family: str | None = None) -> tuple[Term, ...]:
    """The terms of one model family, or of all (a name shared by both as the growth model's).

    Examples
    --------
    >>> [t.name for t in terms("regression")][:2]
    ['intercept', 'coef']
    """
    if family is not None:
        return FAMILIES[family]
    seen: dict[str, Term] = {}
    for table in FAMILIES.values():
        for entry in table:
            seen.setdefault(entry.name, entry)
    return tuple(seen.values())


def term(name: str) -> Term:
    """The term called ``name`` (a name of both families as the growth model's).

    Examples
    --------
    >>> term("patient_sd").level
    'patient'
    """
    found = {t.name: t for t in terms()}
    if name not in found:
        raise KeyError(f"{name!r} is not in the vocabulary: {sorted(found)}.")
    return found[name]


def parameters(family: str | None = None) -> tuple[str, ...]:
    """Names that have a prior and so a true value in a simulation, in the table's order.

    Examples
    --------
    >>> parameters("regression")
    ('intercept', 'coef', 'sigma')
    """
    return tuple(t.name for t in terms(family) if t.kind in PARAMETER_KINDS)


def reported(family: str | None = None, correlations: bool = True) -> tuple[str, ...]:
    """Population-level names in the order tables report them (no effects, no outcome).

    Examples
    --------
    >>> reported("growth", correlations=False)[-4:]
    ('sigma', 'nu', 'therapist_sd', 'patient_sd')
    """
    kinds = REPORT_ORDER if correlations else REPORT_ORDER[:-1]
    chosen = [t for t in terms(family) if t.kind in kinds]
    return tuple(t.name for t in sorted(chosen, key=lambda t: kinds.index(t.kind)))


def is_internal(name: str) -> bool:
    """Offsets, Cholesky factors and transformed values: in the graph, not in the results.

    Examples
    --------
    >>> is_internal("therapist_chol_cov"), is_internal("therapist_sd")
    (True, False)
    """
    return name.endswith(INTERNAL_SUFFIXES)


def scalar_name(name: str, labels: Sequence[Any] = ()) -> str:
    """The name of one scalar of a variable: ``name[label, ...]``, or ``name`` for a scalar.

    Examples
    --------
    >>> scalar_name("growth_coef", ["patient", "burdens"])
    'growth_coef[patient, burdens]'
    >>> scalar_name("r2")
    'r2'
    """
    return f"{name}[{labels_text(labels)}]" if len(labels) else name


def labels_text(labels: Sequence[Any]) -> str:
    """Labels as they appear inside the brackets of :func:`scalar_name`: ``a, b``."""
    return ", ".join(str(label) for label in labels)


def below_diagonal(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the entries below the diagonal of an ``n x n`` matrix, row by row:
    the entries of a correlation matrix that results report.

    Examples
    --------
    >>> [(int(i), int(j)) for i, j in zip(*below_diagonal(3))]
    [(1, 0), (2, 0), (2, 1)]
    """
    return np.tril_indices(n, -1)


def scalars(
    array: xr.DataArray, sample_dims: Sequence[str] = SAMPLE_DIMS
) -> Iterator[tuple[dict[str, Any], np.ndarray]]:
    """Each scalar of ``array``: its labels by dim, and its values over ``sample_dims``.

    Labels are the coordinate values themselves (for ``.sel``); the values keep the sample
    dims in the order given. A correlation matrix (dims ``component``, ``component_``) gives
    its entries below the diagonal only, row by row.

    Examples
    --------
    >>> a = xr.DataArray([[1.0, 2.0]], dims=("chain", "rater"), coords={"rater": ["p", "t"]})
    >>> [(str(labels["rater"]), values.tolist()) for labels, values in scalars(a, ["chain"])]
    [('p', [1.0]), ('t', [2.0])]
    """
    samples = [d for d in sample_dims if d in array.dims]
    extra = [d for d in array.dims if d not in samples]
    values = array.transpose(*extra, *samples).to_numpy()
    coords = [
        array[d].to_numpy() if d in array.coords else np.arange(array.sizes[d]) for d in extra
    ]
    pair = [extra.index(d) for d in PAIR_DIMS] if set(PAIR_DIMS) <= set(extra) else None
    for index in np.ndindex(*values.shape[: len(extra)]):
        if pair and index[pair[0]] <= index[pair[1]]:
            continue  # the diagonal is 1 and the upper triangle repeats the lower
        labels = {d: coords[k][i] for k, (d, i) in enumerate(zip(extra, index, strict=True))}
        yield labels, values[index]


def flatten(
    name: str, array: xr.DataArray, sample_dims: Sequence[str] = SAMPLE_DIMS
) -> dict[str, np.ndarray]:
    """Every scalar of ``array`` by its :func:`scalar_name`, with its values over ``sample_dims``.

    Examples
    --------
    >>> a = xr.DataArray([[1.0, 2.0]], dims=("chain", "rater"), coords={"rater": ["p", "t"]})
    >>> {k: v.tolist() for k, v in flatten("level", a, ["chain"]).items()}
    {'level[p]': [1.0], 'level[t]': [2.0]}
    """
    return {
        scalar_name(name, list(labels.values())): values
        for labels, values in scalars(array, sample_dims)
    }


def flatten_all(
    dataset: xr.Dataset | Iterable[tuple[str, xr.DataArray]],
    sample_dims: Sequence[str] = SAMPLE_DIMS,
) -> dict[str, np.ndarray]:
    """:func:`flatten` of every variable of ``dataset`` (or of ``(name, array)`` pairs)."""
    items = dataset.data_vars.items() if isinstance(dataset, xr.Dataset) else dataset
    out: dict[str, np.ndarray] = {}
    for name, array in items:
        out |= flatten(str(name), array, sample_dims)
    return out


def icc(posterior: xr.Dataset) -> xr.DataArray:
    """The therapist ICC of level per rater, draw by draw.

    ``therapist_sd[r:level]^2 / (therapist_sd[r:level]^2 + patient_sd[r:level]^2 + sigma[r]^2)``:
    the share of the variance of ratings at time 0 that lies between therapists.

    Examples
    --------
    >>> post = xr.Dataset({
    ...     "therapist_sd": ("component", [1.0, 0.1]), "patient_sd": ("component", [1.0, 0.1]),
    ...     "sigma": ("rater", [1.0])},
    ...     coords={"component": ["p:level", "p:growth"], "rater": ["p"]})
    >>> float(icc(post).sel(rater="p").round(3))
    0.333
    """
    raters = posterior["sigma"]["rater"].to_numpy()

    def at_level(sd: xr.DataArray) -> xr.DataArray:
        chosen = sd.sel(component=[f"{r}:level" for r in raters]) ** 2
        return chosen.rename(component="rater").assign_coords(rater=raters)

    between = at_level(posterior["therapist_sd"])
    total = between + at_level(posterior["patient_sd"]) + posterior["sigma"] ** 2
    return (between / total).rename("icc")


_PAIR = re.compile(
    r"^(?P<name>\w+_corr)\[(?P<a>.+:(?:level|growth)), (?P<b>.+:(?:level|growth))\]$"
)


def renamed_pairs(names: Iterable[str]) -> dict[str, str]:
    """Old names of correlation pairs in a study record -> today's (``{}`` for a new record).

    Records written before the vocabulary module named the pair of components ``a`` (earlier)
    and ``b`` (later) ``therapist_corr[a, b]`` (above the diagonal); today it is
    ``therapist_corr[b, a]``. Components are ``<rater>:level`` before ``<rater>:growth``, so a
    record is old exactly when it holds a pair ``[r:level, r:growth]`` of one rater (every
    correlation matrix has that pair for its first rater); then all its pairs are swapped.

    Examples
    --------
    >>> renamed_pairs(["patient_corr[p:level, p:growth]", "sigma[p]"])
    {'patient_corr[p:level, p:growth]': 'patient_corr[p:growth, p:level]'}
    >>> renamed_pairs(["patient_corr[p:growth, p:level]"])
    {}
    """
    pairs = {n: m for n in names if (m := _PAIR.match(n))}

    def upper(m: re.Match) -> bool:
        a, b = m["a"].rsplit(":", 1), m["b"].rsplit(":", 1)
        return a[0] == b[0] and (a[1], b[1]) == ("level", "growth")

    old = {m["name"] for m in pairs.values() if upper(m)}
    return {
        n: scalar_name(m["name"], [m["b"], m["a"]]) for n, m in pairs.items() if m["name"] in old
    }
