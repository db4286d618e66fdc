"""An approximate posterior by mean-field ADVI (PyMC's), for studies too large to sample.

The approximation is a product of independent normals on the unconstrained parameters, fitted by
stochastic gradient steps. Its draws are independent, so they are laid out as ``chains`` blocks of
``draws`` to keep the shape of a sampled posterior; R-hat and ESS mean nothing for them.
Mean-field ADVI is known to understate posterior SDs, most for the variance parameters: the scale
benchmark (benchmarks/scale.py --sampler advi, then --accuracy 10000) reports its error against
NUTS on 10k ratings.
"""

from __future__ import annotations

import warnings
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from .errors import ConvergenceWarning

ADVI_STEPS = 30_000
LEARNING_RATE = 0.01  # Adam's; PyMC's default (adagrad, 0.001) had not settled in 8000 steps
SETTLED = 0.01  # largest relative change of the mean loss over the second half of the steps


def fit_advi(
    model: pm.Model,
    *,
    draws: int,
    chains: int,
    steps: int,
    var_names: list[str],
    random_seed: int | None,
    progressbar: bool,
) -> az.InferenceData:
    """Fit mean-field ADVI for ``steps`` steps and draw ``chains x draws`` from it.

    There is no ``sample_stats`` group; ``attrs["advi"]`` holds the steps and the mean
    loss (negative ELBO) over the first and last tenth of the last half of the steps, whose
    relative change says whether the optimisation had settled.
    """
    seeds = np.random.SeedSequence(random_seed).generate_state(2)
    with model:
        approximation = pm.fit(
            n=steps,
            method="advi",
            obj_optimizer=pm.adam(learning_rate=LEARNING_RATE),
            random_seed=int(seeds[0]),
            progressbar=progressbar,
        )
    sampled = approximation.sample(
        draws * chains, random_seed=int(seeds[1]), return_inferencedata=True
    ).posterior
    posterior = xr.Dataset(
        {name: _as_chains(sampled[name], chains, draws) for name in var_names},
        coords={"chain": np.arange(chains), "draw": np.arange(draws)},
    )
    idata = az.InferenceData(posterior=posterior)
    idata.attrs["advi"] = loss_summary(np.asarray(approximation.hist), steps)
    return idata


def _as_chains(draws: xr.DataArray, chains: int, n_draws: int) -> xr.DataArray:
    values = draws.to_numpy().reshape(chains, n_draws, *draws.shape[2:])
    return xr.DataArray(values, dims=("chain", "draw", *draws.dims[2:]))


def loss_summary(history: np.ndarray, steps: int) -> dict[str, Any]:
    """Steps run and the mean loss early and late in the second half of the optimisation."""
    late = history[len(history) // 2 :]
    tenth = max(1, len(late) // 10)
    first, last = float(np.mean(late[:tenth])), float(np.mean(late[-tenth:]))
    return {
        "steps": int(steps),
        "loss_second_half_start": first,
        "loss_end": last,
        "relative_change": abs(first - last) / max(abs(last), 1e-12),
    }


def warn_if_unsettled(summary: dict[str, Any]) -> None:
    """Warn when the loss still moved over the second half of the optimisation."""
    if summary["relative_change"] > SETTLED:
        warnings.warn(
            f"ADVI: the loss changed by {summary['relative_change']:.1%} over the second half of "
            f"its {summary['steps']} steps, so the approximation has not settled; "
            "raise advi_steps.",
            ConvergenceWarning,
            stacklevel=3,
        )
