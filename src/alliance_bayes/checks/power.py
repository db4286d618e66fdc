"""Bayesian power (assurance) of study designs: how often a rule on the posterior is met.

For each design, ``n_reps`` data sets are simulated at the true values and fitted; the
assurance is the share of fits whose posterior meets the rule (e.g. "95% interval excludes 0"
for ``growth_coef[patient, burdens]``), with its Monte Carlo standard error.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .._html import card, esc, facts, number, section, table
from ..simulate import Truth
from ..spec import Design, ModelSpec
from .jobs import QUANTILES, FitSettings
from .runner import Executor, run_study, study_options
from .sbc import records_frame
from .store import MANIFEST, Store, StoreMismatchError, inside, write_json_atomic

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*interval\s+excludes\s+(-?\d+(?:\.\d+)?)\s*$")


def rule_met(rule: str, row: Mapping[str, float]) -> bool:
    """Whether one fit's summary of the target meets ``rule``.

    Rules: ``"<p>% interval excludes <value>"`` for p in 50, 80, 90, 95, 99 (central intervals).

    Examples
    --------
    >>> rule_met("95% interval excludes 0", {"q0.025": 0.01, "q0.975": 0.2})
    True
    """
    match = _INTERVAL.match(rule)
    if not match:
        raise ValueError(f"unknown rule {rule!r}; use e.g. '95% interval excludes 0'.")
    prob, value = float(match.group(1)) / 100, float(match.group(2))
    low, high = f"q{(1 - prob) / 2:g}", f"q{1 - (1 - prob) / 2:g}"
    if low not in row or float(low[1:]) not in QUANTILES:
        raise ValueError(f"{match.group(1)}% intervals are not stored; use 50, 80, 90, 95 or 99.")
    return bool(row[low] > value or row[high] < value)


def run_power(
    spec: ModelSpec,
    designs: Sequence[Design] | Mapping[str, Design],
    truth: Truth | dict,
    n_reps: int = 100,
    *,
    target: str = "growth_coef[patient, burdens]",
    rule: str = "95% interval excludes 0",
    store: str | os.PathLike = "power_study",
    settings: FitSettings | None = None,
    executor: Executor = None,
    random_seed: int = 0,
    progress: bool = True,
    adopt: bool = False,
    **options: Any,
) -> PowerResult:
    """Assurance of each design (one sub-store per design, each resumable).

    The folder ``store`` gets a manifest of its own (kind ``"power"``: the target, the rule and
    the designs' sub-folders), so that a report of the folder needs nothing else. The result
    holds the first ``n_reps`` replications of each design; ``adopt`` is passed to each
    sub-store (see :meth:`Store.open`). ``settings`` (the sampler settings of every fit),
    ``executor`` (where the jobs run) and the shorthands of earlier versions (``draws=``,
    ``workers=``, ...) are those of :func:`~alliance_bayes.checks.sbc.run_sbc`.

    Examples
    --------
    >>> base = Design.nissen_lie_2013()
    >>> designs = {f"{n} therapists": Design(**{**base.__dict__, "n_therapists": n,
    ...            "patients_per_therapist": 4}) for n in (20, 40, 80)}
    >>> run_power(spec, designs, Truth.nissen_lie_2013(), n_reps=100,
    ...           settings=FitSettings(draws=300), executor=2).plot()  # doctest: +SKIP
    """
    settings, executor = study_options(settings, executor, **options)
    named = (
        dict(designs)
        if isinstance(designs, Mapping)
        else {
            d.name if d.name not in ("design", "") else f"design_{i}": d
            for i, d in enumerate(designs)
        }
    )
    rule_met(rule, dict.fromkeys([f"q{q:g}" for q in QUANTILES], 0.0))  # fail early on a typo
    top = Store(store)
    with top.lock():  # one power runner per folder; each design's store is locked too
        slugs = write_power_manifest(store, target=target, rule=rule, designs=list(named))
        for i, (name, design) in enumerate(named.items()):
            run_study(
                "power",
                spec,
                dataclasses.replace(design, name=name),  # the label names the design's results
                n_reps,
                store=inside(store, Path(store) / slugs[name]),
                truth=truth,
                settings=settings,
                random_seed=random_seed + i,
                executor=executor,
                progress=progress,
                loglik=False,
                adopt=adopt,
            )
    return PowerResult.from_store(store, target=target, rule=rule, n=n_reps)


def write_power_manifest(
    folder: str | os.PathLike, *, target: str, rule: str, designs: Sequence[str]
) -> dict[str, str]:
    """Write (or update) the manifest of a power study's folder; the designs' sub-folders.

    The target and the rule only choose what the report computes from the records, so a new
    run may change them; designs of earlier runs are kept.
    """
    existing = power_settings(folder)
    known = dict(existing.get("designs", {})) or _design_folders(folder)
    slugs = known | {name: _slug(name) for name in designs if name not in known}
    manifest = {"kind": "power", "target": target, "rule": rule, "designs": slugs}
    write_json_atomic(Path(folder) / MANIFEST, manifest, folder=folder)
    return slugs


def _design_folders(folder: str | os.PathLike) -> dict[str, str]:
    """The designs' sub-folders of a power folder written before it had a manifest."""
    folder = Path(folder)
    paths = [p for p in folder.iterdir() if (p / MANIFEST).exists()] if folder.is_dir() else []
    return {Store(p).manifest()["design"]["name"]: p.name for p in sorted(paths)}


def power_settings(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a power study's folder (``{}`` if it has none).

    Folders written before the manifest had a ``power.json`` with the target and the rule;
    it is still read.

    Raises
    ------
    StoreMismatchError
        The folder's manifest is not that of a power study.
    """
    folder = Path(folder)
    if (folder / MANIFEST).exists():
        manifest = Store(folder).manifest()
        if manifest.get("kind") != "power" or "designs" not in manifest:
            raise StoreMismatchError(
                f"{folder} holds a {manifest.get('kind')!r} study, not a power study's designs."
            )
        return manifest
    if (folder / "power.json").exists():
        legacy = json.loads((folder / "power.json").read_text())
        if not isinstance(legacy, dict):
            raise StoreMismatchError(f"{folder / 'power.json'} does not hold a JSON object.")
        return legacy
    return {}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "design"


@dataclass
class PowerResult:
    """Assurance per design: :meth:`table` and :meth:`plot` (the power curve)."""

    frames: dict[str, pd.DataFrame]
    manifests: dict[str, dict[str, Any]]
    target: str
    rule: str

    @classmethod
    def from_store(
        cls,
        folder: str | os.PathLike,
        *,
        target: str | None = None,
        rule: str | None = None,
        n: int | None = None,
    ) -> PowerResult:
        """The result of a power study's folder.

        ``target`` and ``rule`` default to those of the folder's manifest; ``n`` keeps the
        replications ``0 .. n - 1`` of each design (default: all of them).
        """
        settings = power_settings(folder)
        target, rule = target or settings.get("target"), rule or settings.get("rule")
        if target is None or rule is None:
            raise ValueError(f"{folder} has no power manifest: pass target= and rule=.")
        if "designs" in settings:
            paths = [Path(folder) / slug for slug in settings["designs"].values()]
        else:
            paths = list(Path(folder).iterdir())
        stores = [Store(p) for p in paths if (p / MANIFEST).exists()]
        manifests = {s.manifest()["design"]["name"]: s.manifest() for s in stores}
        frames = {s.manifest()["design"]["name"]: records_frame(s, n) for s in stores}
        order = sorted(manifests, key=lambda k: (manifests[k]["design"]["n_therapists"], k))
        return cls({k: frames[k] for k in order}, {k: manifests[k] for k in order}, target, rule)

    def table(self) -> pd.DataFrame:
        rows = []
        for name, frame in self.frames.items():
            ok = frame[(frame["status"] == "ok") & (frame["quantity"] == self.target)]
            if ok.empty:
                known = sorted(set(frame["quantity"].dropna()))
                raise KeyError(f"target {self.target!r} is not among the quantities {known}.")
            met = np.array([rule_met(self.rule, row) for row in ok.to_dict("records")])
            design = self.manifests[name]["design"]
            p = met.mean()
            rows.append(
                {
                    "design": name,
                    "n_therapists": design["n_therapists"],
                    "n_reps": len(met),
                    "failed": int((frame.drop_duplicates("job")["status"] != "ok").sum()),
                    "assurance": p,
                    "mc_se": np.sqrt(p * (1 - p) / len(met)),
                    "mean_estimate": ok["mean"].mean(),
                    "truth": ok["truth"].iloc[0],
                }
            )
        table = pd.DataFrame(rows)
        table.attrs["rule"] = f"{self.target}: {self.rule}"
        return table

    def _repr_html_(self) -> str:
        """Jupyter's view: the rule and the assurance (with its Monte Carlo SE) per design."""
        shown = self.table()
        return card(
            f"Power: {self.target}",
            facts([("rule", esc(self.rule)), ("designs", number(len(shown)))]),
            section("assurance per design", table(shown)),
        )

    def plot(self, x: str = "design", *, ax: Any = None) -> Figure:
        """Assurance with ±2 Monte Carlo SE per design (a power curve), on ``ax`` if given."""
        table = self.table()
        if ax is None:
            fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(table)), 3.2))
        else:
            fig = ax.figure
        positions = table[x] if x != "design" else np.arange(len(table))
        ax.errorbar(positions, table["assurance"], yerr=2 * table["mc_se"], fmt="o-", capsize=3)
        if x == "design":
            ax.set_xticks(positions, table["design"], rotation=20, ha="right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("assurance (power)")
        ax.set_xlabel(x)
        ax.set_title(f"{self.target}: {self.rule}", fontsize=9)
        fig.tight_layout()
        return fig
