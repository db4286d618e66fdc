"""One simulate -> fit job of a calibration study, and the record it leaves.

A job is plain data (so it travels to a process pool or a Dask worker) and :func:`run_job` is a
top-level function. Job ``s`` of a study derives all its seeds from the study seed and ``s``
(``np.random.SeedSequence(seed, spawn_key=(s,))``), so results do not depend on job order or on
the number of workers. Each worker process compiles each model structure once (the cache of
:mod:`alliance_bayes._graph`) and swaps data for later jobs.
"""

from __future__ import annotations

import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from .._graph import log_likelihood_function
from ..fit import fit
from ..models import build_model
from ..simulate import draw_prior, simulate
from ..spec import Design, ModelSpec
from ..vocabulary import flatten, flatten_all, icc, reported

QUANTILES = (0.005, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 0.995)


@dataclass(frozen=True)
class FitSettings:
    """Sampler settings of every fit in a study."""

    draws: int = 500
    tune: int = 500
    chains: int = 2
    thin: int | None = None  # None: thin towards independence by the smallest bulk ESS
    cores: int = 1
    posterior_scale: float = 1.0  # < 1 narrows the posterior: only to show SBC catches it

    def identity(self) -> dict[str, Any]:
        """What makes results differ (not ``cores``)."""
        return {k: v for k, v in self.__dict__.items() if k != "cores"}


@dataclass(frozen=True)
class Job:
    index: int
    study_seed: int
    spec: dict[str, Any]  # simulating model
    fit_spec: dict[str, Any]  # fitted model (differs only to plant a bug)
    design: dict[str, Any]
    truth: dict[str, Any] | None  # None: draw the parameters from the prior (SBC)
    settings: FitSettings = field(default_factory=FitSettings)
    loglik: bool = True  # rank the log-likelihood at the true parameters too


def job_seeds(study_seed: int, index: int) -> list[np.random.SeedSequence]:
    """Seeds of the design realisation, the prior draw, the outcome draw and the sampler."""
    return np.random.SeedSequence(study_seed, spawn_key=(index,)).spawn(4)


def run_job(job: Job) -> dict[str, Any]:
    """Simulate, fit and summarise one job; failures become records with a reason."""
    return recorded(_run, job)


def recorded(run: Callable[[Any], dict[str, Any]], job: Any) -> dict[str, Any]:
    """``run(job)``'s record with the seconds it took; a failure becomes a record with its
    reason and traceback, so a study (or a K-fold) goes on."""
    start = time.perf_counter()
    try:
        record = run(job)
    except Exception as error:  # a failed job is recorded and the study goes on
        record = {
            "status": "failed",
            "reason": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc(limit=5),
        }
    record["seconds"] = time.perf_counter() - start
    return record


def _run(job: Job) -> dict[str, Any]:
    design_seed, prior_seed, outcome_seed, fit_seed = job_seeds(job.study_seed, job.index)
    design = Design.from_dict(job.design)
    planned = design.to_data(random_seed=design_seed)
    simulator = build_model(planned, ModelSpec.from_dict(job.spec))
    truth = job.truth if job.truth is not None else draw_prior(simulator, prior_seed)
    # on the instrument's scale when the design says so (integer sums, as the study will have)
    rng = np.random.default_rng(outcome_seed)
    data = simulate(simulator, truth, random_seed=rng, score=design.score)
    model = build_model(data, ModelSpec.from_dict(job.fit_spec))
    settings = job.settings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = fit(
            model,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=settings.cores,
            random_seed=int(fit_seed.generate_state(1)[0]),
            progressbar=False,
            log_likelihood=job.loglik,
        )
    draws = quantity_draws(idata.posterior)
    true_values = flatten_truth(data.truth, idata.posterior)
    if job.loglik:
        draws["loglik"] = idata.log_likelihood["alliance"].sum("obs").to_numpy()
        values = {k: np.asarray(v) for k, v in data.truth.items()}
        true_values["loglik"] = float(log_likelihood_function(model).at(model, values).sum())
    report = _diagnostics(idata)
    thin = settings.thin or _thin_to_independence(draws)
    quantities = {
        name: _summarise(d, true_values[name], thin, settings.posterior_scale)
        for name, d in draws.items()
        if name in true_values and not np.all(d == true_values[name])
    }  # a quantity that is its true value at every draw is fixed by the model's shape
    status = "failed" if report["divergences"] else "ok"
    return {
        "status": status,
        "reason": f"{report['divergences']} divergent transitions" if report["divergences"] else "",
        "quantities": quantities,
        "thin": thin,
        "diagnostics": report,
        "warnings": sorted({str(w.message)[:300] for w in caught}),
        "n_obs": int(data.observed.sum()),
    }


def quantity_draws(posterior: xr.Dataset) -> dict[str, np.ndarray]:
    """(chain, draw) arrays of every population-level scalar, named ``name[label, ...]``.

    Names and order are the vocabulary's (:func:`alliance_bayes.vocabulary.flatten`:
    correlations below their diagonal); the therapist ICC of level per rater (``icc[rater]``)
    is added when the model has therapist and patient SDs.
    """
    out = flatten_all((n, posterior[n]) for n in reported() if n in posterior)
    if "therapist_sd" in posterior and "patient_sd" in posterior:
        out |= flatten("icc", icc(posterior))
    return out


def flatten_truth(truth: dict[str, Any], posterior: xr.Dataset) -> dict[str, float]:
    """True values under the same names as :func:`quantity_draws` (labels from ``posterior``)."""
    fake = xr.Dataset(
        {
            name: (
                posterior[name].dims,
                np.broadcast_to(
                    np.asarray(truth[name], dtype=float), (1, 1, *posterior[name].shape[2:])
                ),
            )
            for name in reported()
            if name in posterior and name in truth
        },
        coords={k: v for k, v in posterior.coords.items() if k not in ("chain", "draw")},
    )
    return {k: float(v.ravel()[0]) for k, v in quantity_draws(fake).items()}


def _thin_to_independence(draws: dict[str, np.ndarray]) -> int:
    """Keep about one draw per effective draw of the worst-mixing quantity."""
    ess = [float(az.ess(d)) for d in draws.values()]
    worst = np.nanmin(ess) if np.isfinite(ess).any() else 1.0
    size = next(iter(draws.values())).size
    return max(1, int(np.ceil(size / max(worst, 1.0))))


def _summarise(draws: np.ndarray, truth: float, thin: int, scale: float) -> dict[str, Any]:
    flat = draws.reshape(draws.shape[0], -1)  # (chain, draw)
    if scale != 1.0:
        centre = flat.mean()
        flat = centre + scale * (flat - centre)
    thinned = flat[:, ::thin].ravel()
    values = flat.ravel()
    return {
        "truth": truth,
        "rank": int((thinned < truth).sum()),
        "n_ranked": int(thinned.size),
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)),
        "quantiles": dict(
            zip([str(q) for q in QUANTILES], np.quantile(values, QUANTILES).tolist(), strict=True)
        ),
    }


def _diagnostics(idata: Any) -> dict[str, Any]:
    from ..diagnostics import stored_report

    report = stored_report(idata)
    return {k: report[k] for k in ("divergences", "max_r_hat", "min_ess_bulk", "min_ess_tail")}
