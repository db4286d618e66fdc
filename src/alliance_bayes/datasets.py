"""Shipped simulated data sets, and how to make them again byte for byte.

Each data set is a CSV (one row per rating) with a JSON file beside it holding the seed, the
model spec, the design, the truth and the package versions it was made with. The files live in
``data/simulated/`` of the repository and are installed with the package (``alliance_bayes/_data``),
so :func:`load` works from a wheel as well as from a checkout.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._version import __version__
from .data import AllianceData
from .models import build_model
from .simulate import Truth, item_responses, simulate
from .spec import ModelSpec

NAMES = ("nissen_lie_2013", "razzaque_2015")
FLOAT_FORMAT = "%.6g"


def _folder() -> Any:
    return resources.files("alliance_bayes") / "_data"


def available() -> list[str]:
    """Names of the shipped data sets.

    Examples
    --------
    >>> available()
    ['nissen_lie_2013', 'razzaque_2015']
    """
    return sorted(p.name[: -len(".csv")] for p in _folder().iterdir() if p.name.endswith(".csv"))


def metadata(name: str) -> dict[str, Any]:
    """Seed, spec, design, truth and versions of a shipped data set."""
    _require(name)
    return json.loads((_folder() / f"{name}.json").read_text())


def load_frame(name: str) -> pd.DataFrame:
    """The shipped data set as the long-format frame a user would have."""
    _require(name)
    with (_folder() / f"{name}.csv").open() as handle:
        return pd.read_csv(handle)


def load(name: str) -> AllianceData:
    """A shipped data set as :class:`AllianceData`, with its columns, covariates and scale.

    Examples
    --------
    >>> data = load("nissen_lie_2013")
    >>> data.n_therapists, data.n_patients
    (70, 227)
    """
    meta = metadata(name)
    spec = ModelSpec.from_dict(meta["spec"])
    design = spec.design
    columns = dict(meta["columns"])
    return AllianceData.from_frame(
        load_frame(name),
        therapist=columns["therapist"],
        patient=columns["patient"],
        score=columns["score"],
        time=columns["time"],
        rater=columns.get("rater"),
        therapist_covariates=design.therapist_covariates.names if design else (),
        time_coding=design.time_coding if design else "log",
        scale=tuple(design.scale) if design and design.scale else None,
    )


def make(spec: ModelSpec, truth: Truth, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate a data set from ``spec`` (with its design) and ``truth``; same seed, same bytes.

    The design's realisation and the outcome draw use two child seeds of ``seed``
    (``np.random.SeedSequence(seed).spawn(2)``). Rows the design made missing are left out.
    A design with a ``score`` gives whole-number sum scores; with ``kind = "items"`` the item
    responses (``wai1`` ...) follow the ratings' columns, spread over the items with a third
    child seed.

    Examples
    --------
    >>> spec = ModelSpec.shipped("razzaque_2015_regression")
    >>> frame, meta = make(spec, Truth.razzaque_2015(), seed=2015)
    >>> frame.shape  # one row per clinician
    (76, 9)
    """
    if spec.design is None:
        raise ValueError(f"model spec {spec.name!r} has no [design] table to simulate from.")
    design_seed, outcome_seed, items_seed = np.random.SeedSequence(seed).spawn(3)
    planned = spec.design.to_data(random_seed=design_seed)
    score = spec.design.score
    data = simulate(
        build_model(planned, spec),
        truth,
        random_seed=np.random.default_rng(outcome_seed),
        score=score,
    )
    frame = data.to_frame().drop(columns="time_coded")
    if score is not None and score["kind"] == "items":
        frame = frame.join(item_responses(data, score, random_seed=items_seed))
    frame = frame[np.isfinite(frame["alliance"])].reset_index(drop=True)
    meta = {
        "seed": seed,
        "spec": spec.to_dict(),
        "truth": truth.values,
        "columns": dict(data.columns),
        "versions": {"alliance_bayes": __version__},
        "made_by": f"alliance-bayes simulate <spec> --seed {seed} --truth <preset>",
    }
    return frame, meta


def write(frame: pd.DataFrame, meta: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write the CSV and its JSON beside it (``data.csv`` and ``data.json``)."""
    out = Path(out)
    frame.to_csv(out, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    meta_path = out.with_suffix(".json")
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out, meta_path


def _require(name: str) -> None:
    if name not in available():
        raise KeyError(f"no shipped data set {name!r}; available: {available()}.")
