"""Exact leave-one-group-out cross-validation by refits, and PSIS-LOO that falls back to it.

:func:`kfold` refits the model with the ratings of one therapist (or patient), or of a fold of
them, left out, and scores each left-out group's ratings *jointly*, as a new group's
(:mod:`alliance_bayes.cv`: exact for the normal likelihood, importance sampling of the new
effects for the censored and Student-t ones). A refit keeps every therapist and patient in the
data and only marks the left-out ratings missing (the model leaves missing ratings out of its
likelihood), so its structure is the fit's: the compiled model is reused with the data
swapped, for every likelihood, and the coding of time and covariates is the fit's own. The
refits are jobs of the study runner (:mod:`.runner`): local processes or Dask, one JSON record
per fold in a folder, resumable; a fold derives its seeds from ``random_seed`` and its groups
(:func:`fold_seeds`).

Each group's estimate is ``log mean_s exp(lpd_s)`` over the refit's draws ``s``; its Pareto k
(:func:`alliance_bayes.cv.draws_khat`) says whether that average is dominated by a few draws.

:func:`loo` is PSIS-LOO by group on the integrated log-likelihood (normal fits), and with
``reloo=True`` refits exactly the groups whose Pareto k is too high.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from .._version import __version__
from ..compare import ParetoKWarning, fit_data_hash, likelihood_footing
from ..compare import loo as psis_loo
from ..cv import (
    GROUPINGS,
    MC_DRAWS,
    draws_khat,
    elpd_data,
    fixed_mean_function,
    held_out_log_density,
    log_mean_exp,
)
from ..data import AllianceData
from ..errors import show_some
from ..fit import fit
from ..models import build_model
from ..result import read_attrs, rebuild_data, rebuild_spec
from ..spec import ModelSpec
from .jobs import FitSettings
from .runner import Executor, run_jobs, study_options
from .store import Store


@dataclass(frozen=True)
class FoldJob:
    """One refit: the fit's data with the ratings of ``groups`` left out."""

    index: int
    study_seed: int
    data: AllianceData
    spec: dict[str, Any]
    by: str
    groups: tuple[int, ...]  # indices of the left-out therapists or patients
    settings: FitSettings
    mc_draws: int = MC_DRAWS


def fold_seeds(random_seed: int, groups: Sequence[int]) -> tuple[int, np.random.SeedSequence]:
    """The sampler's seed of the refit without ``groups`` (indices) and of its Monte Carlo
    draws: derived from ``random_seed`` and the groups, so a group left out alone gets the same
    refit in :func:`kfold` and in :func:`loo` with ``reloo=True``, whatever the other folds.

    Examples
    --------
    >>> fold_seeds(1, [0])[0] == fold_seeds(1, [0])[0] != fold_seeds(1, [1])[0]
    True
    """
    key = tuple(sorted(int(g) for g in groups))
    fit_seed, mc_seed = np.random.SeedSequence(random_seed, spawn_key=key).spawn(2)
    return int(fit_seed.generate_state(1)[0]), mc_seed


def left_out_rows(data: AllianceData, by: str, groups: Sequence[int]) -> np.ndarray:
    """Boolean mask of the rated rows of the therapists or patients ``groups``.

    Examples
    --------
    >>> from alliance_bayes.result import rebuild_data
    >>> int(left_out_rows(rebuild_data(idata), "therapist", [0]).sum())
    32
    """
    codes = data.obs_therapist if by == "therapist" else data.obs_patient
    return np.isin(codes, np.asarray(groups, dtype=int)) & data.observed


def fold_data(data: AllianceData, by: str, groups: Sequence[int]) -> AllianceData:
    """``data`` with the ratings of ``groups`` marked missing: the data of a refit.

    Every therapist and patient stays (a group without ratings adds nothing to the likelihood),
    so the model's structure, and its compiled code, is the fit's.

    Examples
    --------
    >>> from alliance_bayes.result import rebuild_data
    >>> data = rebuild_data(idata)
    >>> int(fold_data(data, "therapist", [0, 1]).observed.sum()) == data.n_obs - 64
    True
    """
    score = data.score.copy()
    score[left_out_rows(data, by, groups)] = np.nan
    return data.with_score(score)


def run_fold(job: FoldJob) -> dict[str, Any]:
    """Refit without the fold's groups and score each of them; a failure becomes a record.

    The record holds ``groups`` (indices), ``lpd`` (per group, the log-density at each of the
    refit's draws), the refit's ``diagnostics`` and ``warnings``, and ``seconds``.

    Examples
    --------
    >>> from alliance_bayes.result import rebuild_data, rebuild_spec
    >>> job = FoldJob(0, 1, rebuild_data(idata), rebuild_spec(idata).to_dict(), "therapist",
    ...               (0,), FitSettings(draws=100, tune=100))
    >>> run_fold(job)["status"]  # doctest: +SKIP
    'ok'
    """
    start = time.perf_counter()
    try:
        record = _run_fold(job)
    except Exception as error:  # a failed fold is recorded and the others go on
        record = {
            "status": "failed",
            "reason": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc(limit=5),
        }
    record["seconds"] = time.perf_counter() - start
    return record


def _run_fold(job: FoldJob) -> dict[str, Any]:
    spec = ModelSpec.from_dict(job.spec)
    fit_seed, mc_seed = fold_seeds(job.study_seed, job.groups)
    settings = job.settings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        refit = fit(
            build_model(fold_data(job.data, job.by, job.groups), spec),
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=settings.cores,
            random_seed=fit_seed,
            progressbar=False,
            log_likelihood=False,
        )
    found: dict[str, np.ndarray] = {}
    lpd = score_groups(
        refit.posterior,
        job.data,
        spec,
        job.by,
        job.groups,
        mc_draws=job.mc_draws,
        random_seed=mc_seed,
        diagnostics=found,
    )
    report = read_attrs(refit).diagnostics or {}
    extra = {}
    if "importance_ess" in found:  # median over draws, per group
        extra["importance_ess"] = np.median(found["importance_ess"], axis=0).tolist()
    return (
        extra
        | {
            "status": "ok",
            "groups": [int(g) for g in job.groups],
            "lpd": lpd.T.tolist(),  # one list of draws per group
            "diagnostics": {
                k: report.get(k)
                for k in ("divergences", "max_r_hat", "min_ess_bulk")
                if k in report
            },
            "warnings": sorted({str(w.message)[:300] for w in caught}),
        }
    )


def score_groups(
    posterior: Any,
    data: AllianceData,
    spec: ModelSpec,
    by: str,
    groups: Sequence[int],
    *,
    mc_draws: int = MC_DRAWS,
    random_seed: Any = None,
    diagnostics: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """(draws, len(groups)): the log-density of each group's ratings (in ``data``) as a new
    group's, at the draws of ``posterior`` (:func:`alliance_bayes.cv.held_out_log_density`;
    ``diagnostics`` receives its importance-sampling diagnostics, columns as the output's).

    Examples
    --------
    >>> from alliance_bayes.result import rebuild_data, rebuild_spec
    >>> score_groups(idata.posterior, rebuild_data(idata), rebuild_spec(idata), "therapist",
    ...              [0, 3]).shape
    (80, 2)
    """
    full = build_model(data, spec)
    (fixed,) = fixed_mean_function(full)(posterior)
    rows = np.flatnonzero(left_out_rows(data, by, groups))
    codes = (data.obs_therapist if by == "therapist" else data.obs_patient)[rows]
    missing = sorted(set(map(int, groups)) - set(codes.tolist()))
    if missing:
        raise ValueError(f"{by}s {missing} have no ratings to score.")
    # the full model's rows are the rated ones: positions among them
    position = np.cumsum(data.observed) - 1
    lpd = held_out_log_density(
        posterior,
        fixed,
        position[rows],
        codes,
        _rated(data),
        by=by,
        likelihood=spec.likelihood,
        mc_draws=mc_draws,
        rng=np.random.default_rng(random_seed),
        diagnostics=diagnostics,
    )
    order = np.argsort(np.argsort(np.asarray(groups)))  # columns come sorted by group index
    if diagnostics is not None:
        for key, value in diagnostics.items():
            diagnostics[key] = value[:, order]
    return lpd[:, order]


def _rated(data: AllianceData) -> AllianceData:
    """The rows with a rating, as the model sees them."""
    keep = data.observed
    return dataclasses.replace(
        data,
        obs_patient=data.obs_patient[keep],
        obs_rater=data.obs_rater[keep],
        session=data.session[keep],
        time=data.time[keep],
        score=data.score[keep],
        row_id=data.row_id[keep],
        planned_missing=None,
    )


def _fold_groups(
    labels: np.ndarray, rated: np.ndarray, folds: int | Sequence[Sequence[Any]] | None, seed: int
) -> list[list[int]]:
    """The groups (indices) of each fold: one per group, K random folds, or given labels."""
    if folds is None:
        return [[int(g)] for g in rated]
    if isinstance(folds, int | np.integer) and not isinstance(folds, bool):
        if not 2 <= folds <= len(rated):
            raise ValueError(f"folds={folds}: give 2 to {len(rated)} folds (the rated groups).")
        shuffled = np.random.default_rng(seed).permutation(rated)
        return [sorted(int(g) for g in part) for part in np.array_split(shuffled, int(folds))]
    position = {str(label): i for i, label in enumerate(labels.tolist())}
    out = []
    for fold in folds:
        fold = [fold] if isinstance(fold, str) or not isinstance(fold, Sequence) else fold
        unknown = [g for g in fold if str(g) not in position]
        if unknown:
            raise ValueError(f"folds: {show_some(unknown)} are not groups of this fit.")
        out.append(sorted(position[str(g)] for g in fold))
    return out


def kfold(
    idata: az.InferenceData,
    by: str = "therapist",
    folds: int | Sequence[Sequence[Any]] | None = None,
    *,
    settings: FitSettings | None = None,
    executor: Executor = None,
    store: str | os.PathLike | None = None,
    random_seed: int = 0,
    mc_draws: int = MC_DRAWS,
    progress: bool = False,
    name: str = "model",
) -> az.ELPDData:
    """Exact leave-one-group-out (or K-fold) cross-validation by refits.

    Each fold's groups are left out of a refit (same model, priors and coding; the compiled
    model reused), and each left-out group's ratings are scored jointly, with the group's
    effects drawn from the fitted population: the expected log predictive density of a new
    therapist's (or patient's) ratings.

    Parameters
    ----------
    idata
        A fit of a growth model (from :func:`alliance_bayes.fit` or :func:`alliance_bayes.load`).
    by
        ``"therapist"`` (a new therapist with new patients) or ``"patient"`` (a new patient of
        a fitted therapist).
    folds
        ``None``: one refit per group; ``K``: K folds of randomly assigned groups (by
        ``random_seed``); or a list of folds, each a list of group labels.
    settings
        Sampler settings of every refit (:class:`FitSettings`; default ``FitSettings()``).
    executor
        Where the refits run (``None``: one process per core, ``1``: this process, a Dask
        scheduler's address or a ``distributed.Client``), as for the studies.
    store
        Folder of the records (one per fold): a stopped run resumes there. ``None``: a
        temporary folder, removed afterwards.
    random_seed
        Seed of the folds' assignment, the refits and the Monte Carlo draws.
    mc_draws
        New-group effects per posterior draw for the censored and Student-t likelihoods.
    progress
        Show a progress bar.
    name
        The model's name in warnings.

    Returns
    -------
    arviz.ELPDData
        As :func:`arviz.loo` returns (``elpd_loo``, ``se``, ``p_loo``, ``loo_i``, ``pareto_k``
        per group), with ``method="kfold"``, ``by``, ``likelihood``, ``footing`` and
        ``data_hash``; :func:`alliance_bayes.compare` ranks such results. ``pareto_k`` is the
        Pareto k of each group's average over the refit's draws. Censored and Student-t fits
        add ``importance_ess`` per group: the median over draws of the effective share of the
        importance weights (near ``1 / mc_draws``: raise ``mc_draws``).

    Raises
    ------
    ValueError
        An unknown ``by``, a therapist regression, folds that name unknown groups.
    RuntimeError
        Folds whose refit failed (their records name the reason; delete them to redo them).

    Examples
    --------
    >>> result = kfold(idata, by="therapist", folds=4, store="cv")  # doctest: +SKIP
    >>> result["elpd_loo"], result["pareto_k"]  # doctest: +SKIP
    """
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {list(GROUPINGS)}, got {by!r}.")
    settings, executor = study_options(settings, executor)
    attrs = read_attrs(idata)
    if attrs.require("spec").kind == "regression":
        raise ValueError("kfold leaves out therapists or patients of a growth model.")
    data = rebuild_data(idata)
    spec = rebuild_spec(idata, data)
    labels = data.therapist_labels if by == "therapist" else data.patient_labels
    codes = data.obs_therapist if by == "therapist" else data.obs_patient
    rated = np.unique(codes[data.observed])
    groups = _fold_groups(labels, rated, folds, random_seed)
    manifest = {
        "kind": "kfold",
        "by": by,
        "folds": [[str(labels[g]) for g in fold] for fold in groups],
        "spec": spec.to_dict(),
        "data_hash": data.fingerprint(),
        "settings": settings.identity(),
        "seed": int(random_seed),
        "mc_draws": int(mc_draws),
        "n_jobs": len(groups),
        "versions": {"alliance_bayes": __version__},
    }
    jobs = [
        FoldJob(f, int(random_seed), data, manifest["spec"], by, tuple(fold), settings, mc_draws)
        for f, fold in enumerate(groups)
    ]
    with tempfile.TemporaryDirectory(prefix="kfold_") as scratch:
        folder = Store(store if store is not None else scratch)
        with folder.lock():
            folder.open(manifest)
            run_jobs(
                jobs,
                folder,
                executor=executor,
                progress=progress,
                label="kfold",
                job_function=run_fold,
            )
        records = [folder.read(f) for f in range(len(groups))]
    failed = [f for f, r in enumerate(records) if r is None or r.get("status") != "ok"]
    if failed:
        reasons = [records[f].get("reason", "") if records[f] else "no record" for f in failed]
        raise RuntimeError(
            f"{name}: {len(failed)} of {len(groups)} refits failed (folds {show_some(failed)}: "
            f"{show_some(reasons)}). Delete their records in the store to redo them."
        )
    lpd_of = {
        g: np.asarray(values)
        for record in records
        for g, values in zip(record["groups"], record["lpd"], strict=True)
    }
    order = sorted(lpd_of)
    lpd = np.stack([lpd_of[g] for g in order], axis=1)  # (draws, groups)
    ess_of = {
        g: value
        for record in records
        for g, value in zip(record["groups"], record.get("importance_ess", []), strict=False)
    }
    extra = {}
    if ess_of:
        extra["importance_ess"] = xr.DataArray(
            [ess_of[g] for g in order], dims=(by,), coords={by: [labels[g] for g in order]}
        )
    full = score_groups(
        idata.posterior, data, spec, by, order, mc_draws=mc_draws, random_seed=random_seed
    )
    likelihood, footing = likelihood_footing(idata)
    return elpd_data(
        log_mean_exp(lpd, axis=0),
        draws_khat(lpd),
        [labels[g] for g in order],
        by=by,
        n_samples=lpd.shape[0],
        lppd=log_mean_exp(full, axis=0),
        method="kfold",
        likelihood=likelihood,
        footing=footing,
        data_hash=fit_data_hash(idata),
        n_folds=len(groups),
        **extra,
    )


def loo(
    idata: az.InferenceData,
    by: str = "obs",
    *,
    name: str = "model",
    integrated: bool | None = None,
    reloo: bool = False,
    settings: FitSettings | None = None,
    executor: Executor = None,
    store: str | os.PathLike | None = None,
    random_seed: int = 0,
) -> az.ELPDData:
    """PSIS-LOO leaving out one rating, patient or therapist; refits where PSIS fails.

    By patient or therapist, a normal fit's groups are scored by their integrated
    log-likelihood (the group's effects integrated out, :func:`alliance_bayes.cv`), a smooth
    function of the population parameters on which PSIS works; other likelihoods use the
    pointwise log-likelihood summed by group (see :func:`alliance_bayes.compare.loo`).

    Parameters
    ----------
    idata
        A fit with a ``log_likelihood`` group.
    by
        ``"obs"``, ``"patient"`` or ``"therapist"``.
    name
        The model's name in warnings.
    integrated
        ``None`` (default): integrated log-likelihoods for normal fits by patient or therapist;
        ``False``: the group sums of the pointwise log-likelihood (see
        :func:`alliance_bayes.compare.loo`).
    reloo
        Refit exactly the groups whose Pareto k exceeds the threshold (:func:`kfold`, one
        refit per group) and use their exact estimates; their ``pareto_k`` becomes that of the
        refit's estimate. Not for ``by="obs"``.
    settings, executor, store, random_seed
        Of the refits, as for :func:`kfold`.

    Returns
    -------
    arviz.ELPDData
        With ``method`` (``"psis"`` or ``"psis+kfold"``), ``by``, ``likelihood``, ``footing``,
        ``integrated``, ``share_high_k`` (groups above the threshold before any refit) and
        ``refitted`` (their labels).

    Warns
    -----
    ParetoKWarning
        Unless ``reloo``: naming up to five groups whose Pareto k exceeds the threshold.

    Examples
    --------
    >>> result = loo(idata, by="therapist")
    >>> result["integrated"], result["pareto_k"].dims
    (True, ('therapist',))
    """
    if reloo and by == "obs":
        raise ValueError("reloo refits whole groups: use by='patient' or by='therapist'.")
    with warnings.catch_warnings():
        if reloo:
            warnings.simplefilter("ignore", ParetoKWarning)
        result = psis_loo(idata, by, name=name, integrated=integrated)
    k = np.asarray(result.pareto_k)
    bad = k > result.good_k
    result["share_high_k"] = float(bad.mean())
    result["method"] = "psis"
    result["refitted"] = []
    if not (reloo and bad.any()):
        return result
    labels = result.pareto_k[by].to_numpy().tolist()
    refitted = [labels[i] for i in np.flatnonzero(bad)]
    exact = kfold(
        idata,
        by,
        [[label] for label in refitted],
        settings=settings,
        executor=executor,
        store=store,
        random_seed=random_seed,
        name=name,
    )
    loo_i = result.loo_i.copy()
    pareto_k = result.pareto_k.copy()
    before = float(loo_i.sum())
    for label in refitted:
        loo_i.loc[{by: label}] = float(exact.loo_i.loc[{by: label}])
        pareto_k.loc[{by: label}] = float(exact.pareto_k.loc[{by: label}])
    values = loo_i.to_numpy()
    result["loo_i"], result["pareto_k"] = loo_i, pareto_k
    result["elpd_loo"] = float(values.sum())
    result["se"] = float((values.size * np.var(values)) ** 0.5)
    result["p_loo"] = float(result["p_loo"] + before - values.sum())  # p = sum(lppd_i - elpd_i)
    result["method"] = "psis+kfold"
    result["refitted"] = refitted
    result["warning"] = bool((np.asarray(pareto_k) > result.good_k).any())
    return result
