"""Parameter recovery: simulate at fixed true values many times, fit, and compare.

Per quantity: bias and RMSE of the posterior mean, coverage of the central 50, 90 and 95 %
intervals with their Monte Carlo standard errors, the mean posterior SD, and the posterior
contraction ``1 - posterior variance / prior variance``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .._html import card, facts, number, section, table
from ..models import build_model
from ..simulate import Truth, draw_prior
from ..spec import Design, ModelSpec
from .jobs import FitSettings, quantity_draws
from .runner import Executor, run_study, study_options
from .sbc import _design, _grid, records_frame
from .store import Store

INTERVALS = {0.5: ("0.25", "0.75"), 0.9: ("0.05", "0.95"), 0.95: ("0.025", "0.975")}


def run_recovery(
    spec: ModelSpec,
    design: Design | None = None,
    truth: Truth | dict | None = None,
    n_reps: int = 50,
    *,
    store: str | os.PathLike = "recovery_study",
    settings: FitSettings | None = None,
    executor: Executor = None,
    random_seed: int = 0,
    progress: bool = True,
    adopt: bool = False,
    **options: Any,
) -> RecoveryResult:
    """Run (or resume) a recovery study at fixed true values.

    The result holds the first ``n_reps`` replications, even if the store holds more;
    ``adopt`` takes the records of a store whose manifest was lost (see :meth:`Store.open`).
    ``settings`` (the sampler settings of every fit), ``executor`` (where the jobs run) and
    the shorthands of earlier versions (``draws=``, ``workers=``, ...) are those of
    :func:`~alliance_bayes.checks.sbc.run_sbc`.

    Examples
    --------
    >>> result = run_recovery(ModelSpec.shipped("nissen_lie_2013_patient"),
    ...                       truth=Truth.nissen_lie_2013(), n_reps=50,
    ...                       settings=FitSettings(draws=300), executor=2)  # doctest: +SKIP
    >>> result.table()  # doctest: +SKIP
    """
    settings, executor = study_options(settings, executor, **options)
    design = _design(spec, design)
    if truth is None:
        raise ValueError("recovery needs true values: pass truth=Truth(...) or a preset.")
    folder = run_study(
        "recovery",
        spec,
        design,
        n_reps,
        store=store,
        truth=truth,
        settings=settings,
        random_seed=random_seed,
        executor=executor,
        progress=progress,
        loglik=False,
        adopt=adopt,
    )
    return RecoveryResult.from_store(folder.folder, n=n_reps)


def prior_sd(spec: ModelSpec, design: Design, n_draws: int = 2000, seed: int = 0) -> pd.Series:
    """Prior SD of every quantity, from ``n_draws`` joint prior draws (for contraction)."""
    import xarray as xr

    model = build_model(design.to_data(random_seed=seed), spec)
    rng = np.random.default_rng(seed)
    draws = [draw_prior(model, rng) for _ in range(n_draws)]
    coords = {d: list(v) for d, v in model.coords.items()}
    posterior = xr.Dataset(
        {
            name: (
                ("chain", "draw", *model.named_vars_to_dims.get(name, ())),
                np.stack([d[name] for d in draws])[None],
            )
            for name in draws[0]
        },
        coords={d: coords[d] for name in draws[0] for d in model.named_vars_to_dims.get(name, ())},
    )
    return pd.Series({k: float(v.std()) for k, v in quantity_draws(posterior).items()})


@dataclass
class RecoveryResult:
    """Records of a recovery study: :meth:`table` and :meth:`plot`."""

    frame: pd.DataFrame
    manifest: dict[str, Any]

    @classmethod
    def from_store(cls, folder: str | os.PathLike, n: int | None = None) -> RecoveryResult:
        """The result of the replications ``0 .. n - 1`` of a store (default: all of them)."""
        store = Store(folder)
        return cls(records_frame(store, n), store.manifest())

    def table(self, prior: pd.Series | None = None) -> pd.DataFrame:
        """Bias, RMSE, coverage (with Monte Carlo SE), mean posterior SD and contraction."""
        ok = self.frame[self.frame["status"] == "ok"]
        if prior is None:
            prior = prior_sd(
                ModelSpec.from_dict(self.manifest["spec"]),
                Design.from_dict(self.manifest["design"]),
            )
        rows = []
        for quantity, group in ok.groupby("quantity", sort=False):
            n = len(group)
            error = group["mean"] - group["truth"]
            row = {
                "quantity": quantity,
                "truth": group["truth"].iloc[0],
                "n_reps": n,
                "bias": error.mean(),
                "bias_se": error.std(ddof=1) / np.sqrt(n),
                "rmse": float(np.sqrt((error**2).mean())),
                "mean_sd": group["sd"].mean(),
            }
            for prob, (low, high) in INTERVALS.items():
                inside = (
                    (group[f"q{low}"] <= group["truth"]) & (group["truth"] <= group[f"q{high}"])
                ).mean()
                row[f"coverage_{prob:.0%}"] = inside
                row[f"coverage_{prob:.0%}_se"] = np.sqrt(inside * (1 - inside) / n)
            sd = prior.get(quantity, np.nan)
            row["contraction"] = 1 - (group["sd"] ** 2).mean() / sd**2 if sd else np.nan
            rows.append(row)
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        """Jupyter's view: replications, failures, and bias, RMSE and 90 % coverage per
        quantity (contraction, which needs prior draws, is in :meth:`table`)."""
        jobs = self.frame.drop_duplicates("job")
        failed = int((jobs["status"] != "ok").sum())
        spec = self.manifest.get("spec", {}).get("name", "model")
        design = self.manifest.get("design", {}).get("name", "design")
        rows = [("replications", number(len(jobs))), ("failed", number(failed))]
        title = f"Recovery of {spec} on {design}"
        if (self.frame["status"] == "ok").sum() == 0:
            return card(title, facts(rows))
        shown = self.table(prior=pd.Series(dtype=float))
        columns = ["quantity", "truth", "n_reps", "bias", "bias_se", "rmse", "coverage_90%"]
        return card(title, facts(rows), section("per quantity", table(shown, columns=columns)))

    def plot(self, quantities: list[str] | None = None, *, ax: Any = None) -> Figure:
        """Estimated (posterior mean and 90 % interval) against the true value, per quantity
        (``ax``: one Axes per quantity to draw on, instead of a new figure)."""
        ok = self.frame[self.frame["status"] == "ok"]
        names = quantities or list(dict.fromkeys(ok["quantity"]))
        fig, axes = _grid(len(names), ax)
        for panel, name in zip(axes, names, strict=False):
            group = ok[ok["quantity"] == name].reset_index(drop=True)
            x = np.arange(len(group))
            panel.errorbar(
                x,
                group["mean"],
                yerr=[group["mean"] - group["q0.05"], group["q0.95"] - group["mean"]],
                fmt="o",
                ms=3,
                color="C0",
                alpha=0.7,
            )
            panel.axhline(group["truth"].iloc[0], color="C3", lw=1.5, label="true value")
            panel.set_title(name, fontsize=8)
            panel.set_xlabel("replication")
            panel.xaxis.set_major_locator(MaxNLocator(integer=True))  # replications are whole
        axes[0].legend(fontsize=7)
        if ax is None:
            fig.supylabel("posterior mean and 90 % interval")
            fig.tight_layout()
        return fig
