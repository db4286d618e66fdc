"""Fitting: nutpie by default (compile once, swap data for every refit), PyMC's NUTS as an option.

The compiled model is cached by the model's structure (spec, resolved priors and parameter
shapes), so a refit on new data of the same shape swaps the data into the compiled model instead
of compiling again. ``fit`` returns an ``az.InferenceData`` that is the whole result: posterior in
the shared vocabulary, sample_stats, observed_data, constant_data, log_likelihood, and attrs with
the model spec, the data hash, package versions and the convergence report.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr
from pytensor.graph.replace import graph_replace
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.type import RandomGeneratorType

from ._approx import ADVI_STEPS, fit_advi, warn_if_unsettled
from ._lru import LRUCache, clear_all
from ._version import __version__
from .checks._conditional import ConditionalFunction, batched_function
from .diagnostics import convergence_report, warn_if_unconverged
from .models import explicit_effects, is_marginal
from .models._info import model_info, shared_values, structure_key
from .models._marginal import check_rating_sums
from .models._marginal_kernel import register_jax_dispatch

INTERNAL_SUFFIXES = ("_offset", "_chol_cov", "_packed")
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


@dataclass
class _Compiled:
    nutpie_model: Any
    loglik: _Loglik


# compiled models kept in this process, the most recently used first (about 10 MB each)
COMPILED_MODELS_KEPT = 16
_CACHE: LRUCache = LRUCache(COMPILED_MODELS_KEPT)
# the patients' lines given the stored draws (for the effect draws), compiled once per structure
# with the data as inputs, as the model: each refit would otherwise compile them anew (0.1-0.25 s)
_LINES: LRUCache = LRUCache(COMPILED_MODELS_KEPT)
_COUNTS = {"compile": 0, "reuse": 0}


def compile_counts() -> dict[str, int]:
    """How many models were compiled and how many fits reused a compiled one (this process).

    Examples
    --------
    >>> sorted(compile_counts())
    ['compile', 'reuse']
    """
    return dict(_COUNTS)


def clear_compile_cache() -> None:
    """Forget every compiled model and function of this process (fits, log-likelihoods, effect
    draws and the simulator's draws alike); the disk cache stays."""
    clear_all()


def _is_internal(name: str) -> bool:
    """Offsets, Cholesky factors and transformed values are internal, not vocabulary."""
    return name.endswith(INTERNAL_SUFFIXES) or name.endswith("__")


def _stored_names(model: pm.Model) -> list[str]:
    names = [v.name for v in model.free_RVs + model.deterministics]
    return [n for n in names if not _is_internal(n)]


def compiled_model(model: pm.Model, backend: str = "numba") -> _Compiled:
    """The nutpie-compiled model for ``model``'s structure, with ``model``'s data swapped in."""
    import nutpie

    from ._compile_cache import compile_nutpie_model

    key = f"{backend}:{structure_key(model)}"
    cached = _CACHE.get(key)
    if cached is None:
        _COUNTS["compile"] += 1
        if backend == "numba":  # from the disk cache when another process compiled it
            compiled = compile_nutpie_model(model, var_names=_stored_names(model))
        else:
            register_jax_dispatch()
            compiled = nutpie.compile_pymc_model(
                model, backend=backend, var_names=_stored_names(model)
            )
        cached = _Compiled(compiled, log_likelihood_function(model))
        _CACHE[key] = cached
        return cached
    _COUNTS["reuse"] += 1
    nutpie_model = cached.nutpie_model.with_data(
        **shared_values(model, cached.nutpie_model.shared_data)
    )
    return _Compiled(nutpie_model, cached.loglik)


@dataclass(frozen=True)
class _Loglik:
    """Pointwise log-likelihood as a function of stored parameters and of the model's data,
    evaluated a block of draws per call."""

    blocks: ConditionalFunction

    def at(self, model: pm.Model, values: dict[str, np.ndarray]) -> np.ndarray:
        """Pointwise log-likelihood at one set of parameter values (e.g. the truth)."""
        return np.asarray(self.blocks.at(values, model)[0])

    def __call__(self, model: pm.Model, posterior: xr.Dataset) -> np.ndarray:
        return self.blocks(posterior, model)[0]


def log_likelihood_function(model: pm.Model) -> _Loglik:
    """Compile the pointwise log-likelihood once, with data as inputs so any same-shape model can
    use it. For a model with the effects integrated out it is the one of its explicit twin (given
    the effects, which ``fit`` draws back): the integrated density has no pointwise terms."""
    model = explicit_effects(model)
    # The parameters become inputs before the logp is derived: deriving it first and looking
    # for them afterwards misses all of them for the censored likelihood, whose logp derivation
    # clones the graph (the clones would be drawn at random instead of taking the draws).
    graph = set(ancestors([model["alliance"]]))
    parameters = [n for n in _stored_names(model) if model[n] in graph]
    inputs = [model[n].type(name=n) for n in parameters]
    given = dict(zip([model[n] for n in parameters], inputs, strict=True))
    logp = pm.logp(
        graph_replace(model["alliance"], given, strict=False), model["alliance_observed"]
    )
    if any(isinstance(v.type, RandomGeneratorType) for v in ancestors([logp])):
        raise RuntimeError("the log-likelihood depends on random draws beyond the parameters.")
    # a block of draws per call: 4,000 draws of the dual-rater Nissen-Lie model took 0.4 s at
    # one call per draw
    return _Loglik(batched_function([logp], inputs, data_inputs=True))


def default_tune(model: pm.Model, sampler: str = "nutpie") -> int:
    """Tuning steps per chain that `fit` uses when not told: ``TUNE_INTEGRATED`` (400) for
    nutpie on a model with its effects integrated out, ``TUNE_OTHERWISE`` (1,000) otherwise.

    Examples
    --------
    >>> default_tune(growth_model(data))  # doctest: +SKIP
    400
    """
    return TUNE_INTEGRATED if sampler == "nutpie" and is_marginal(model) else TUNE_OTHERWISE


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
) -> az.InferenceData:
    """Sample the posterior of a model of this package.

    Parameters
    ----------
    model
        From :func:`growth_model` or :func:`therapist_regression`.
    draws, tune, chains
        Posterior draws and tuning steps per chain, and the number of chains. ``tune`` defaults
        to 400 for nutpie on a model with its effects integrated out (nutpie's own default,
        enough there), and to 1,000 otherwise (PyMC's default; see :func:`default_tune`).
    sampler
        ``"nutpie"`` (default; the compiled model is cached and reused for data of the same
        shape), ``"pymc"`` (PyMC's own NUTS) or ``"advi"``: an approximation by mean-field
        ADVI, for studies too large to sample; it understates posterior SDs (most for the
        SDs of the random effects) and its draws carry no convergence diagnostics.
        ``attrs["advi"]`` says whether the loss had settled.
    random_seed
        Seed of the sampler.
    progressbar
        Show a progress bar.
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

    Returns
    -------
    az.InferenceData
        posterior (vocabulary names, the user's labels as coords), sample_stats,
        observed_data, constant_data, log_likelihood and attrs (``spec``, ``data_hash``,
        ``timing`` (seconds of sampling, which includes a first compile, of the conditional
        random effects, the log-likelihood and the diagnostics),
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
        )
    approximation = idata.attrs.get("advi")
    idata = _with_model_coords(idata, model)
    _add_data_groups(idata, model)
    if marginal and random_effects:
        with _timed(timing, "random_effects_s"):
            _add_conditional_effects(idata, model, random_seed)
    if log_likelihood:  # with the effects explicit, as if they had been sampled
        with _timed(timing, "log_likelihood_s"):
            _add_log_likelihood(idata, model, loglik)
    with _timed(timing, "diagnostics_s"):
        skip = ["therapist_effect", "patient_effect"] if marginal else []
        report = convergence_report(idata, skip=skip)
    idata.attrs.update(
        {
            "spec": json.dumps(info.spec.to_dict()),
            "priors": json.dumps(info.priors),
            "data_hash": info.data.fingerprint(),
            "data": json.dumps(_data_attrs(info.data)),
            "versions": json.dumps(
                {"alliance_bayes": __version__} | {p: version(p) for p in _PACKAGES}
            ),
            "sampler": sampler,
            "diagnostics": json.dumps(report),
            "timing": json.dumps({k: round(v, 2) for k, v in timing.items()}),
        }
    )
    if approximation is None:
        warn_if_unconverged(report)
    else:  # independent draws: R-hat and ESS say nothing about the approximation
        idata.attrs["advi"] = json.dumps(approximation)
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
) -> tuple[az.InferenceData, _Loglik | None]:
    """Posterior draws by ``sampler``, and the pointwise log-likelihood function if wanted."""
    if sampler == "nutpie":
        compiled = compiled_model(model)
        idata = _sample_nutpie(
            compiled.nutpie_model, draws, tune, chains, cores, random_seed, progressbar, low_rank
        )
        return idata, compiled.loglik
    if sampler == "pymc":
        with model:
            idata = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                random_seed=random_seed,
                progressbar=progressbar,
                var_names=_stored_names(model),
                compute_convergence_checks=False,
            )
    elif sampler == "advi":
        idata = fit_advi(
            model,
            draws=draws,
            chains=chains,
            steps=advi_steps,
            var_names=_stored_names(model),
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
    keep = [n for n in posterior.data_vars if not _is_internal(str(n))]
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


def _add_data_groups(idata: az.InferenceData, model: pm.Model) -> None:
    observed = model.rvs_to_values[model["alliance"]].get_value()
    obs_coords = {"obs": list(model.coords["obs"])}
    idata.add_groups(
        observed_data=xr.Dataset({"alliance": ("obs", np.asarray(observed))}, coords=obs_coords),
    )
    constant = {}
    for var in model.data_vars:
        if var.name == "alliance_observed":
            continue
        dims = model.named_vars_to_dims.get(var.name) or tuple(
            f"{var.name}_dim_{i}" for i in range(var.ndim)
        )
        constant[var.name] = (dims, np.asarray(var.get_value()))
    coords = {
        d: list(v) for d, v in model.coords.items() if any(d in c[0] for c in constant.values())
    }
    idata.add_groups(constant_data=xr.Dataset(constant, coords=coords))


def _add_conditional_effects(
    idata: az.InferenceData, model: pm.Model, random_seed: int | None
) -> None:
    """``therapist_effect`` and ``patient_effect`` drawn from their exact conditional given the
    ratings at every posterior draw (marginal models: ``a_t | y, rest``, then
    ``b_p | a_t, y, rest``).

    Blocks of draws are processed in turn, so memory stays bounded on large studies.
    """
    posterior = idata.posterior
    lines_of = _lines_function(model)
    rng = np.random.default_rng(random_seed)
    # about 2 * 10**6 values (16 MB) per (chain, draw, patient or therapist, component) array
    sizes = {group: len(model.coords[group]) for group in ("therapist", "patient")}
    k = posterior.sizes["component"]
    per_draw = posterior.sizes["chain"] * (sizes["patient"] + sizes["therapist"]) * k
    block = max(1, min(posterior.sizes["draw"], 2 * 10**6 // per_draw))
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    effects = {group: np.empty((*shape, size, k)) for group, size in sizes.items()}
    for start in range(0, posterior.sizes["draw"], block):
        part = slice(start, start + block)
        drawn = _conditional_effects_block(posterior.isel(draw=part), model, lines_of, rng)
        for group, values in zip(("therapist", "patient"), drawn, strict=True):
            effects[group][:, part] = values
    for group, values in effects.items():  # with the user's labels, as sampled effects have
        posterior[f"{group}_effect"] = xr.DataArray(
            values,
            dims=("chain", "draw", group, "component"),
            coords={group: list(model.coords[group]), "component": posterior["component"].values},
        )


def _lines_function(model: pm.Model) -> Any:
    """Each patient's line per rater as a function of the stored draws and of the data."""
    from .checks._conditional import conditional_function, named_node
    from .models._marginal import LINE_NAMES

    key = structure_key(model)
    if key not in _LINES:
        lines = [named_node(model, name) for name in LINE_NAMES]
        _LINES[key] = conditional_function(model, lines, _stored_names(model), data_inputs=True)
    return _LINES[key]


def _conditional_effects_block(
    posterior: xr.Dataset, model: pm.Model, lines_of: Any, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    from .models._marginal_kernel import conditional_effect_draws

    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    flat = lambda name: posterior[name].to_numpy().reshape(n_chain * n_draw, -1)  # noqa: E731

    def covariance(group: str) -> np.ndarray:
        sd = flat(f"{group}_sd")
        corr = flat(f"{group}_corr").reshape(-1, sd.shape[1], sd.shape[1])
        return sd[:, :, None] * corr * sd[:, None, :]

    level, growth = (x.reshape(n_chain * n_draw, *x.shape[2:]) for x in lines_of(posterior, model))
    therapist_of = model["therapist_of_patient"].get_value()
    drawn = conditional_effect_draws(
        level,
        growth,
        flat("sigma"),
        model["rating_sums"].get_value(),
        model["design_pattern"].get_value(),
        (therapist_of, len(model.coords["therapist"]), covariance("therapist")),
        covariance("patient"),
        rng,
    )
    return tuple(x.reshape(n_chain, n_draw, *x.shape[1:]) for x in drawn)


def _add_log_likelihood(idata: az.InferenceData, model: pm.Model, loglik: _Loglik) -> None:
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


def _data_attrs(data: Any) -> dict[str, Any]:
    return {
        "scale": data.scale,
        "time_coding": data.time_coding,
        "time_origin": data.time_origin,
        "time_scale": data.time_scale,
        "rater_labels": list(data.rater_labels),
        "rater_roles": dict(data.rater_roles),
        "therapist_covariate_mean": dict(
            zip(
                data.therapist_covariates.names,
                data.therapist_covariates.mean.tolist(),
                strict=True,
            )
        ),
        "therapist_covariate_sd": dict(
            zip(data.therapist_covariates.names, data.therapist_covariates.sd.tolist(), strict=True)
        ),
        "patient_covariate_mean": dict(
            zip(data.patient_covariates.names, data.patient_covariates.mean.tolist(), strict=True)
        ),
        "patient_covariate_sd": dict(
            zip(data.patient_covariates.names, data.patient_covariates.sd.tolist(), strict=True)
        ),
        "columns": dict(data.columns),
    }


def save(idata: az.InferenceData, path: str | Path) -> Path:
    """Write a fit to netCDF; :func:`load` reads it back in any process.

    Examples
    --------
    >>> save(idata, "fit.nc")  # doctest: +SKIP
    """
    path = Path(path)
    idata.to_netcdf(str(path), engine="h5netcdf")
    return path


def load(path: str | Path) -> az.InferenceData:
    """Read a fit written by :func:`save`.

    Examples
    --------
    >>> idata = load("fit.nc")  # doctest: +SKIP
    """
    return az.from_netcdf(str(path), engine="h5netcdf")
