"""Fitting: nutpie by default (compile once, swap data for every refit), PyMC's NUTS as an option.

The compiled model is cached by the model's structure (spec, resolved priors and parameter
shapes), so a refit on new data of the same shape swaps the data into the compiled model instead
of compiling again. ``fit`` returns an ``az.InferenceData`` that is the whole result: posterior in
the shared vocabulary, sample_stats, observed_data, constant_data, log_likelihood, and attrs with
the model spec, the data hash, package versions and the convergence report.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from . import _graph
from ._approx import ADVI_STEPS, fit_advi, warn_if_unsettled
from ._effect_draws import add_conditional_effects
from ._graph import (  # compile_counts, clear_compile_cache: re-exported
    LogLikelihood,
    clear_compile_cache,  # noqa: F401
    compile_counts,  # noqa: F401
    log_likelihood_function,
    stored_names,
)
from ._progress import progress_mode, status, third_party_bar
from ._version import __version__
from .diagnostics import convergence_report, warn_if_unconverged
from .models import is_marginal
from .models._info import model_info, shared_values, structure_key
from .models._latent import CENSORED_SIDE_NAME
from .models._marginal import check_rating_sums
from .models._marginal_kernel import register_jax_dispatch
from .result import (  # load, save: re-exported (the CLI and older code import them here)
    DataAttrs,
    FitAttrs,
    load,  # noqa: F401
    save,  # noqa: F401
    write_data_groups,
)
from .vocabulary import is_internal

if TYPE_CHECKING:  # the store's module reaches into nutpie: imported when a model compiles
    from ._compile_cache import CompiledModelStore

# The pointwise log-likelihood is added by default up to this many values (chains x draws x
# observations; 10**8 float64 values are 800 MB): 4 x 1000 draws of 25,000 ratings.
LOG_LIKELIHOOD_AUTO_LIMIT = 10**8
# tuning steps per chain when `fit` is not told (benchmarks/tuning.py): nutpie's own default of
# 400 for nutpie on a model with its effects integrated out (on 6 dual-rater data sets 400 steps
# gave the ESS, R-hat and means of 1,000 in 22 % less time, and SBC studies flagged nothing);
# PyMC's 1,000 otherwise (the dual-rater model with sampled effects mixed worse with 400)
TUNE_INTEGRATED = 400
TUNE_OTHERWISE = 1000
_PACKAGES = ("pymc", "pytensor", "nutpie", "arviz", "numpy", "xarray")
# what a first compile of a growth model takes (the demo's dual-rater model: 14 s on a free
# core, up to 2 min on a loaded machine)
COMPILE_ESTIMATE = "about a minute"


def compiled_model(
    model: pm.Model, backend: str = "numba", store: CompiledModelStore | None = None
) -> Any:
    """The nutpie-compiled model for ``model``'s structure, with ``model``'s data swapped in.

    Compiled once per structure (the ``"sampler"`` entries of :data:`alliance_bayes._graph.CACHE`,
    counted by :func:`compile_counts`); a refit of the same structure swaps its data in. A new
    structure is taken from ``store`` (numba backend; default: the disk cache of
    :func:`~alliance_bayes._compile_cache.default_store`, none under ``ALLIANCE_BAYES_CACHE=0``).

    Examples
    --------
    >>> nutpie_model = compiled_model(growth_model(data))  # doctest: +SKIP
    """
    key = f"{backend}:{structure_key(model)}"
    kept = key in _graph.CACHE.keys("sampler")
    compiled = _graph.CACHE.get("sampler", key, lambda: _compile_nutpie(model, backend, store))
    return compiled.with_data(**shared_values(model, compiled.shared_data)) if kept else compiled


def _compile_nutpie(model: pm.Model, backend: str, store: CompiledModelStore | None) -> Any:
    import nutpie

    from ._compile_cache import default_store

    if backend == "numba":  # from the disk cache when another process compiled it
        store = store or default_store()
        return store.get_or_compile(model, var_names=stored_names(model))
    register_jax_dispatch()
    return nutpie.compile_pymc_model(model, backend=backend, var_names=stored_names(model))


def _compile_message(model: pm.Model, store: CompiledModelStore | None, shown: bool) -> str:
    """What getting the compiled model will take, from the state of the caches (for progress)."""
    if not shown or progress_mode() == "off":  # the disk check imports nutpie: only when shown
        return ""
    if f"numba:{structure_key(model)}" in _graph.CACHE.keys("sampler"):
        return ""  # in this process already: the data are swapped in at once
    from ._cache_entry import entry_key, entry_path
    from ._compile_cache import DiskStore, default_store

    store = store or default_store()
    key = entry_key(model, stored_names(model))
    if isinstance(store, DiskStore) and entry_path(store.folder, key).is_file():
        return "loading the compiled model from the disk cache"
    return f"compiling the model with nutpie ({COMPILE_ESTIMATE}, once per model structure)"


def default_tune(model: pm.Model, sampler: str = "nutpie") -> int:
    """Tuning steps per chain that `fit` uses when not told: ``TUNE_INTEGRATED`` (400) for
    nutpie on a model with its effects integrated out, the Student-t one included,
    ``TUNE_OTHERWISE`` (1,000) otherwise and for the censored model.

    The evidence (``benchmarks/likelihoods.py``'s data sets, two simulations each, three
    sampler seeds, 4 x 1000 draws; ``benchmarks/README.md``): Student-t refits sampled 12.2-14.1
    s after 400 steps against 18.0-21.2 s after 1,000, at the same mixing (min bulk ESS
    562-760 against 554-765, max R-hat <= 1.009 against <= 1.014). The censored model gained
    under a second and its worst R-hat was 1.013 after 400 steps (1.009 after 1,000), as in an
    earlier single pair (1.011 and 1.004), so it keeps 1,000.

    Examples
    --------
    >>> default_tune(model)  # the effects are integrated out
    400
    """
    integrated = is_marginal(model) and CENSORED_SIDE_NAME not in model.named_vars
    return TUNE_INTEGRATED if sampler == "nutpie" and integrated else TUNE_OTHERWISE


def fit(
    model: pm.Model,
    *,
    draws: int = 1000,
    tune: int | None = None,
    chains: int = 4,
    sampler: str = "nutpie",
    random_seed: int | None = None,
    progressbar: bool = True,
    cores: int | None = None,
    log_likelihood: bool | None = None,
    low_rank: bool = False,
    random_effects: bool = True,
    advi_steps: int = ADVI_STEPS,
    store: CompiledModelStore | None = None,
) -> az.InferenceData:
    """Sample the posterior of a model of this package.

    Parameters
    ----------
    model
        From :func:`growth_model` or :func:`therapist_regression`.
    draws, tune, chains
        Posterior draws and tuning steps per chain, and the number of chains. ``tune`` defaults
        to 400 for nutpie on a model with its effects integrated out (nutpie's own default,
        enough there; the Student-t one too), and to 1,000 otherwise and for the censored
        model (PyMC's default; see :func:`default_tune`).
    sampler
        ``"nutpie"`` (default; the compiled model is cached and reused for data of the same
        shape), ``"pymc"`` (PyMC's own NUTS) or ``"advi"``: an approximation by mean-field
        ADVI, for studies too large to sample; it understates posterior SDs (most for the
        SDs of the random effects) and its draws carry no convergence diagnostics.
        ``attrs["advi"]`` says whether the loss had settled.
    random_seed
        Seed of the sampler.
    progressbar
        Show progress: what getting the compiled model takes (compiling, or loading it from
        the disk cache), then the sampler's bar. Shown in a terminal and in Jupyter, never in
        CI (``CI=true``) or when the output is not a terminal (:mod:`alliance_bayes._progress`).
    cores
        Chains run in parallel on this many cores (default: all).
    log_likelihood
        Add the pointwise log-likelihood (needed for LOO). Default (``None``): add it unless it
        would hold more than ``LOG_LIKELIHOOD_AUTO_LIMIT`` values (a warning says so).
    random_effects
        For a model with the random effects integrated out (the default for the normal
        likelihood): draw them from their exact conditional given each posterior draw, so
        the posterior keeps ``therapist_effect`` and ``patient_effect`` and the pointwise
        log-likelihood is the one of the model with explicit effects.
    low_rank
        nutpie only: adapt a low-rank modified mass matrix (helps with correlated posteriors).
    advi_steps
        ``sampler="advi"`` only: optimisation steps.
    store
        nutpie only: where a model of a structure not compiled in this process comes from and
        goes to (a :class:`~alliance_bayes._compile_cache.CompiledModelStore`). Default: the
        disk cache (``DiskStore``), or ``NoCacheStore`` under ``ALLIANCE_BAYES_CACHE=0``.

    Returns
    -------
    az.InferenceData
        posterior (vocabulary names, the user's labels as coords), sample_stats,
        observed_data, constant_data, log_likelihood and attrs (``spec``, ``data_hash``,
        ``timing`` (seconds of sampling, which includes a first compile, of that compile alone
        (nutpie: ``compile_s``), of the conditional random effects, the log-likelihood and the
        diagnostics),
        ``versions``, ``diagnostics``). Diagnostics that miss their thresholds raise a
        :class:`ConvergenceWarning`.

    Examples
    --------
    >>> from alliance_bayes import Design, Truth, growth_model, simulate
    >>> design = Design(n_therapists=8, patients_per_therapist=3, sessions=[1, 2, 4], scale=[1, 7])
    >>> model = growth_model(design.to_data(random_seed=1))
    >>> data = simulate(model, {"level": 5, "growth": 0.1, "sigma": 0.3, "therapist_sd": 0.1,
    ...                         "patient_sd": 0.3, "therapist_corr": {}, "patient_corr": {}},
    ...                 random_seed=2)
    >>> idata = fit(growth_model(data), draws=200, tune=200, progressbar=False)  # doctest: +SKIP
    """
    info = model_info(model)
    cores = cores or min(chains, os.cpu_count() or 1)
    tune = default_tune(model, sampler) if tune is None else tune
    marginal = is_marginal(model)
    if marginal:
        check_rating_sums(model)
    if marginal and not random_effects:
        if log_likelihood:
            raise ValueError("the pointwise log-likelihood needs random_effects=True.")
        log_likelihood = False
    if log_likelihood is None:
        log_likelihood = _log_likelihood_fits(chains * draws * len(model.coords["obs"]))
    timing: dict[str, float] = {}
    with _timed(timing, "sampling_s"):
        idata, loglik = _draw(
            model,
            sampler,
            draws,
            tune,
            chains,
            cores,
            random_seed,
            progressbar,
            low_rank=low_rank,
            advi_steps=advi_steps,
            log_likelihood=log_likelihood,
            store=store,
            timing=timing,
        )
    approximation = idata.attrs.get("advi")
    idata = _with_model_coords(idata, model)
    write_data_groups(idata, model)
    if marginal and random_effects:
        with _timed(timing, "random_effects_s"):
            add_conditional_effects(idata.posterior, model, random_seed)
    if log_likelihood:  # with the effects explicit, as if they had been sampled
        with _timed(timing, "log_likelihood_s"):
            _add_log_likelihood(idata, model, loglik)
    with _timed(timing, "diagnostics_s"):
        skip = ["therapist_effect", "patient_effect"] if marginal else []
        report = convergence_report(idata, skip=skip)
    FitAttrs(
        spec=info.spec,
        priors=info.priors,
        data=DataAttrs.from_data(info.data),
        data_hash=info.data.fingerprint(),
        versions={"alliance_bayes": __version__} | {p: version(p) for p in _PACKAGES},
        sampler=sampler,
        diagnostics=report,
        timing={k: round(v, 2) for k, v in timing.items()},
        advi=approximation,
    ).write(idata)
    if approximation is None:
        warn_if_unconverged(report)
    else:  # independent draws: R-hat and ESS say nothing about the approximation
        warn_if_unsettled(approximation)
    return idata


@contextmanager
def _timed(timing: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timing[key] = time.perf_counter() - start


def _draw(
    model: pm.Model,
    sampler: str,
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    random_seed: int | None,
    progressbar: bool,
    *,
    low_rank: bool,
    advi_steps: int,
    log_likelihood: bool,
    store: CompiledModelStore | None = None,
    timing: dict[str, float] | None = None,
) -> tuple[az.InferenceData, LogLikelihood | None]:
    """Posterior draws by ``sampler``, and the pointwise log-likelihood function if wanted."""
    asked, progressbar = progressbar, third_party_bar(progressbar, sampler != "nutpie")
    if sampler == "nutpie":
        with (
            _timed({} if timing is None else timing, "compile_s"),
            status(_compile_message(model, store, asked), enabled=asked),
        ):
            compiled = compiled_model(model, store=store)
        idata = _sample_nutpie(
            compiled, draws, tune, chains, cores, random_seed, progressbar, low_rank
        )
    elif sampler == "pymc":
        with model:
            idata = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                random_seed=random_seed,
                progressbar=progressbar,
                var_names=stored_names(model),
                compute_convergence_checks=False,
            )
    elif sampler == "advi":
        idata = fit_advi(
            model,
            draws=draws,
            chains=chains,
            steps=advi_steps,
            var_names=stored_names(model),
            random_seed=random_seed,
            progressbar=progressbar,
        )
    else:
        raise ValueError(f"sampler must be 'nutpie', 'pymc' or 'advi', got {sampler!r}.")
    return idata, log_likelihood_function(model) if log_likelihood else None


def _log_likelihood_fits(n_values: int) -> bool:
    if n_values <= LOG_LIKELIHOOD_AUTO_LIMIT:
        return True
    warnings.warn(
        f"the pointwise log-likelihood would hold {n_values:,} values "
        f"({n_values * 8 / 2**30:.1f} GB), so it is left out; pass log_likelihood=True to add "
        "it anyway (LOO needs it) or fit fewer draws.",
        UserWarning,
        stacklevel=3,
    )
    return False


def _sample_nutpie(
    compiled: Any,
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    seed: int | None,
    progressbar: bool,
    low_rank: bool,
) -> az.InferenceData:
    import nutpie

    seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) if seed is None else int(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            seed=seed,
            progress_bar=progressbar,
            save_warmup=False,
            low_rank_modified_mass_matrix=low_rank,
        )


def _with_model_coords(idata: az.InferenceData, model: pm.Model) -> az.InferenceData:
    """Posterior coords from this model (a reused compiled model carries the first one's labels)."""
    posterior = idata.posterior
    keep = [n for n in posterior.data_vars if not is_internal(str(n))]
    posterior = posterior[keep]
    for name in keep:
        dims = model.named_vars_to_dims.get(name)
        if dims:
            posterior[name] = posterior[name].rename(
                dict(zip(posterior[name].dims[2:], dims, strict=True))
            )
    coords = {d: list(model.coords[d]) for d in posterior.dims if d in model.coords}
    posterior = posterior.assign_coords(coords)
    unused = [d for d in posterior.dims if d not in posterior[keep].dims]
    groups = {"posterior": posterior.drop_dims(unused)} if unused else {"posterior": posterior}
    if "sample_stats" in idata.groups():  # an approximation (ADVI) has none
        groups["sample_stats"] = idata.sample_stats
    return az.InferenceData(**groups)


def _add_log_likelihood(idata: az.InferenceData, model: pm.Model, loglik: LogLikelihood) -> None:
    posterior = idata.posterior
    idata.add_groups(
        log_likelihood=xr.Dataset(
            {"alliance": (("chain", "draw", "obs"), loglik(model, posterior))},
            coords={
                "chain": posterior.chain,
                "draw": posterior.draw,
                "obs": list(model.coords["obs"]),
            },
        )
    )
