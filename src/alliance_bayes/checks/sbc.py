"""Simulation-based calibration (Talts et al. 2018; Modrak et al. 2023).

Each simulation draws parameters from the prior, simulates data from the model, fits it, and
ranks the true value of every population-level scalar of the vocabulary among the posterior
draws (thinned towards independence). The log-likelihood of the data at the true parameters is
ranked too: a data-dependent test quantity that catches errors the parameters alone miss. If the
sampler is faithful to the model, every rank is uniform.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from .._html import card, facts, light, number, section, table
from ..spec import Design, ModelSpec
from ..vocabulary import renamed_pairs
from .jobs import FitSettings
from .runner import Executor, run_study, study_options
from .store import Store

ALPHA = 0.01  # family-wise false-alarm rate of SBCResult.test (Bonferroni over quantities)
# where the ECDF of the fractional ranks is drawn (ArviZ's PIT grid): fixed, not the ranks
# themselves, so the simultaneous bands are calibrated and ArviZ has no behaviour change to warn of
ECDF_POINTS = np.linspace(0.01, 1, 100)


def run_sbc(
    spec: ModelSpec,
    design: Design | None = None,
    n_sims: int = 100,
    *,
    store: str | os.PathLike = "sbc_study",
    settings: FitSettings | None = None,
    executor: Executor = None,
    random_seed: int = 0,
    fit_spec: ModelSpec | None = None,
    progress: bool = True,
    adopt: bool = False,
    **options: Any,
) -> SBCResult:
    """Run (or resume) an SBC study and return its result.

    Parameters
    ----------
    spec
        The model; its ``design`` is used when ``design`` is not given.
    n_sims
        Number of simulations.
    store
        Folder of the study's records; re-running with the same folder resumes.
    settings
        Sampler settings of every fit (:class:`FitSettings`); ``thin=None`` thins by the
        smallest bulk ESS, and ``posterior_scale < 1`` shrinks posterior draws around their
        mean before ranking (it plants a too-narrow posterior, to show that SBC catches it).
    executor
        Where the jobs run: ``None`` (one process per core), a number of local processes, a
        Dask scheduler's address or a ``distributed.Client``.
    fit_spec
        Fit a different model than the one simulating (to show that SBC catches a bug).
    adopt
        Take the records of a store whose manifest was lost as this study's (only those
        written under the same settings; see :meth:`Store.open`).
    **options
        Shorthands of earlier versions: ``draws=``, ``tune=``, ``chains=``, ``thin=``,
        ``cores=``, ``posterior_scale=`` replace those fields of ``settings``; ``workers=``,
        ``client=``, ``scheduler=`` give the executor (see :func:`study_options`).

    Returns
    -------
    SBCResult
        Of the first ``n_sims`` simulations, even if the store holds more.

    Examples
    --------
    >>> result = run_sbc(ModelSpec.shipped("razzaque_2015_regression"), n_sims=100,
    ...                  settings=FitSettings(draws=300), executor=2,
    ...                  store="sbc_razzaque")  # doctest: +SKIP
    >>> result.test()  # doctest: +SKIP
    """
    settings, executor = study_options(settings, executor, **options)
    design = _design(spec, design)
    folder = run_study(
        "sbc",
        spec,
        design,
        n_sims,
        store=store,
        fit_spec=fit_spec,
        settings=settings,
        random_seed=random_seed,
        executor=executor,
        progress=progress,
        adopt=adopt,
    )
    return SBCResult.from_store(folder.folder, n=n_sims)


def _design(spec: ModelSpec, design: Design | None) -> Design:
    design = design or spec.design
    if design is None:
        raise ValueError(f"spec {spec.name!r} has no [design]; pass design=Design(...).")
    return design


@dataclass
class SBCResult:
    """Ranks of an SBC study, with a uniformity test and plots.

    Examples
    --------
    >>> result = SBCResult.from_store("sbc_study")  # doctest: +SKIP
    >>> result.test().query("flagged")  # doctest: +SKIP
    """

    frame: pd.DataFrame  # one row per (simulation, quantity)
    manifest: dict[str, Any]

    @classmethod
    def from_store(cls, folder: str | os.PathLike, n: int | None = None) -> SBCResult:
        """The result of the simulations ``0 .. n - 1`` of a store (default: all of them)."""
        store = Store(folder)
        return cls(records_frame(store, n), store.manifest())

    def to_frame(self) -> pd.DataFrame:
        """One row per simulation and quantity: rank, number of ranked draws, truth, status."""
        return self.frame.copy()

    @property
    def ok(self) -> pd.DataFrame:
        return self.frame[self.frame["status"] == "ok"]

    def uniform_draws(self, random_seed: int = 0) -> pd.DataFrame:
        """Randomised PIT values ``(rank + U) / (L + 1)``: exactly uniform under calibration,
        whatever the number ``L`` of ranked draws of each simulation."""
        ok = self.ok
        rng = np.random.default_rng(random_seed)
        u = (ok["rank"] + rng.uniform(size=len(ok))) / (ok["n_ranked"] + 1)
        return ok.assign(u=u.to_numpy()).pivot(index="job", columns="quantity", values="u")

    def test(self, bins: int | None = None, alpha: float = ALPHA) -> pd.DataFrame:
        """Chi-square test of uniform ranks per quantity, Bonferroni-corrected.

        With ``m`` quantities each is tested at ``alpha / m``, so the chance that a calibrated
        model flags any quantity is at most ``alpha`` (default 1 %). ``attrs`` states ``m``.
        """
        u = self.uniform_draws()
        m = u.shape[1]
        rows = []
        for quantity in u.columns:
            values = u[quantity].dropna().to_numpy()
            k = bins or max(4, min(20, len(values) // 5))
            counts = np.histogram(values, bins=k, range=(0, 1))[0]
            statistic, p = stats.chisquare(counts)
            rows.append(
                {
                    "quantity": quantity,
                    "n_sims": len(values),
                    "bins": k,
                    "chi2": statistic,
                    "p_value": p,
                    "p_adjusted": min(1.0, p * m),
                    "flagged": p * m < alpha,
                }
            )
        table = pd.DataFrame(rows)
        table.attrs["n_quantities"] = m
        table.attrs["alpha"] = alpha
        table.attrs["note"] = (
            f"{m} quantities, each tested at {alpha}/{m} (Bonferroni): "
            f"family-wise false-alarm rate <= {alpha:.0%}"
        )
        return table

    @property
    def calibrated(self) -> bool:
        return not self.test()["flagged"].any()

    def summary(self) -> str:
        frame = self.frame.drop_duplicates("job")
        failed = frame[frame["status"] != "ok"]
        table = self.test()
        flagged = table[table["flagged"]]["quantity"].tolist()
        lines = [
            f"SBC of {self.manifest['spec'].get('name', 'model')}: {len(frame)} simulations, "
            f"{len(failed)} failed ({', '.join(sorted(set(failed['reason'])))})"
            if len(failed)
            else f"SBC of {self.manifest['spec'].get('name', 'model')}: {len(frame)} simulations, "
            "none failed",
            table.attrs["note"],
            "flagged: " + (", ".join(flagged) if flagged else "none"),
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Jupyter's view: simulations, failures and the uniformity test, flagged in red."""
        jobs = self.frame.drop_duplicates("job")
        failed = int((jobs["status"] != "ok").sum())
        name = self.manifest.get("spec", {}).get("name", "model")
        rows = [("simulations", number(len(jobs))), ("failed", number(failed))]
        if self.ok.empty:
            return card(f"SBC of {name}", facts(rows))
        test = self.test()
        flagged = test["flagged"].sum()
        verdict = (
            light("red", f"{flagged} of {len(test)} quantities flagged")
            if flagged
            else light("green", "no quantity flagged")
        )
        rows.append(("calibration", verdict))
        shown = test[["quantity", "n_sims", "chi2", "p_adjusted", "flagged"]]
        return card(
            f"SBC of {name}",
            facts(rows),
            section(test.attrs["note"], table(shown)),
        )

    def plot_ecdf(self, quantities: list[str] | None = None, *, ax: Any = None) -> Figure:
        """ECDF difference of the ranks with simultaneous 99 % bands (ArviZ), per quantity
        (``ax``: one Axes per quantity to draw on, instead of a new figure)."""
        u = self.uniform_draws()
        names = quantities or list(u.columns)
        fig, axes = _grid(len(names), ax)
        for panel, name in zip(axes, names, strict=False):
            az.plot_ecdf(
                u[name].dropna().to_numpy(),
                cdf=stats.uniform(0, 1).cdf,
                eval_points=ECDF_POINTS,  # independent of the ranks: calibrated bands
                difference=True,
                confidence_bands=True,
                ci_prob=0.99,
                ax=panel,
                random_state=0,
            )
            panel.set_title(name, fontsize=8)
        if ax is None:
            fig.supxlabel("fractional rank")
            fig.supylabel("ECDF difference")
            fig.tight_layout()
        return fig

    def plot_ranks(
        self, quantities: list[str] | None = None, bins: int = 10, *, ax: Any = None
    ) -> Figure:
        """Histograms of the fractional ranks, with the expected count per bin (``ax``: one
        Axes per quantity to draw on, instead of a new figure)."""
        u = self.uniform_draws()
        names = quantities or list(u.columns)
        fig, axes = _grid(len(names), ax)
        for panel, name in zip(axes, names, strict=False):
            values = u[name].dropna().to_numpy()
            panel.hist(values, bins=bins, range=(0, 1), color="C0", alpha=0.7)
            panel.axhline(len(values) / bins, color="0.3", ls="--", lw=1)
            panel.set_title(name, fontsize=8)
        if ax is None:
            fig.supxlabel("fractional rank")
            fig.tight_layout()
        return fig


def _grid(n: int, ax: Any = None) -> tuple[Figure, list[Any]]:
    """A new grid of ``n`` panels, or the caller's ``ax`` (one Axes per panel)."""
    if ax is not None:
        from ..plots.style import panel_axes  # a peer layer: imported when asked for

        return panel_axes(ax, n, "one per quantity", (6.0, 4.0))
    cols = min(4, max(1, n))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def records_frame(store: Store, n: int | None = None) -> pd.DataFrame:
    """One row per (job, quantity) of a store's records (failed jobs keep a row with a reason).

    Only jobs ``0 .. n - 1`` if ``n`` is given; files that are not records of the store's study
    are skipped with a :class:`~alliance_bayes.checks.store.StoreWarning`. Quantities are named
    as the vocabulary names them; a correlation pair of an older record, named above the
    diagonal, is renamed (:func:`alliance_bayes.vocabulary.renamed_pairs`).
    """
    if n is not None and n < 1:
        raise ValueError(f"n must be at least 1, not {n}.")
    rows = []
    for record in store.records(n):
        base = {
            "job": record["index"],
            "status": record.get("status"),
            "reason": record.get("reason", ""),
            "seconds": record.get("seconds"),
        }
        quantities = record.get("quantities") or {}
        # records written before issue 19 named correlation pairs above the diagonal
        renamed = renamed_pairs(quantities)
        quantities = {renamed.get(k, k): q for k, q in quantities.items()}
        if not quantities:
            rows.append(base | {"quantity": None})
        for name, q in quantities.items():
            row = base | {
                "quantity": name,
                "rank": q["rank"],
                "n_ranked": q["n_ranked"],
                "truth": q["truth"],
                "mean": q["mean"],
                "sd": q["sd"],
            }
            row |= {f"q{k}": v for k, v in q["quantiles"].items()}
            rows.append(row)
    return pd.DataFrame(rows)
