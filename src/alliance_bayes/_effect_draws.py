"""Therapist and patient effects drawn back, given the posterior of an integrated model.

A model whose effects are integrated out of the likelihood (:mod:`alliance_bayes.models._marginal`)
samples the population parameters only. Given each posterior draw, the effects are drawn from
their exact conditionals (``a_t | y, rest``, then ``b_p | a_t, y, rest``), so results speak the
same vocabulary as a model with sampled effects. Each patient's line per rater is a function of
the stored draws and of the data (:mod:`alliance_bayes._graph`), compiled once per structure.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import xarray as xr

from . import _graph
from ._graph import GraphFunction, compile_graph, named_node, stored_names
from .models._info import model_info, structure_key
from .models._latent import LATENT_DIM, LATENT_NAME, LATENT_SUMS_NAME
from .models._marginal import LINE_NAMES
from .models._marginal_kernel import conditional_effect_draws

# about 2 * 10**6 values (16 MB) per (chain, draw, patient or therapist, component) array
BLOCK_VALUES = 2 * 10**6


def add_conditional_effects(
    posterior: xr.Dataset, model: pm.Model, random_seed: int | None
) -> None:
    """Add ``therapist_effect`` and ``patient_effect`` to ``posterior``, drawn from their exact
    conditional given the ratings at every draw.

    Blocks of draws are processed in turn, so memory stays bounded on large studies.

    Examples
    --------
    >>> add_conditional_effects(idata.posterior, model, random_seed=1)
    >>> idata.posterior["patient_effect"].dims
    ('chain', 'draw', 'patient', 'component')
    """
    lines_of = lines_function(model)
    rng = np.random.default_rng(random_seed)
    sizes = {group: len(model.coords[group]) for group in ("therapist", "patient")}
    k = posterior.sizes["component"]
    per_draw = posterior.sizes["chain"] * (sizes["patient"] + sizes["therapist"]) * k
    block = max(1, min(posterior.sizes["draw"], BLOCK_VALUES // per_draw))
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    effects = {group: np.empty((*shape, size, k)) for group, size in sizes.items()}
    for start in range(0, posterior.sizes["draw"], block):
        part = slice(start, start + block)
        drawn = _effects_block(posterior.isel(draw=part), model, lines_of, rng)
        for group, values in zip(("therapist", "patient"), drawn, strict=True):
            effects[group][:, part] = values
    for group, values in effects.items():  # with the user's labels, as sampled effects have
        posterior[f"{group}_effect"] = xr.DataArray(
            values,
            dims=("chain", "draw", group, "component"),
            coords={group: list(model.coords[group]), "component": posterior["component"].values},
        )
    if LATENT_NAME in posterior:
        keep_held_slots(posterior, model)


def keep_held_slots(posterior: xr.Dataset, model: pm.Model) -> None:
    """Keep only the latent slots that hold a rating, labelled by the rating (``obs``).

    The empty slots are independent standard normals that only keep the number of parameters
    fixed; once the effects are drawn nothing reads them, and they would weigh on the
    diagnostics (ArviZ took 8 s over 512 slots of 4 x 1000 draws) and on the saved file.
    """
    if model_info(model).spec.likelihood == "censored":
        held = model["censored_side"].get_value() != 0
        rows = model["censored_rating"].get_value()[held]
    else:
        rows = np.arange(len(model.coords["obs"]))
        held = rows
    values = posterior[LATENT_NAME].isel({LATENT_DIM: held})
    del posterior[LATENT_NAME]
    del posterior[LATENT_DIM]
    labels = np.asarray(model.coords["obs"], dtype=object)[rows]
    posterior[LATENT_NAME] = values.assign_coords({LATENT_DIM: list(labels)})


def lines_function(model: pm.Model) -> GraphFunction:
    """Each patient's line per rater as a function of the stored draws and of the data.

    Compiled once per structure, with the data as inputs as the sampler's model has them: each
    refit would otherwise compile it anew (0.1-0.25 s).

    Examples
    --------
    >>> level, growth = lines_function(model)(idata.posterior, model)
    """
    return _graph.CACHE.get(
        "lines",
        structure_key(model),
        lambda: compile_graph(
            model,
            [named_node(model, name) for name in _line_names(model)],
            stored_names(model),
            data_inputs=True,
            # the latent sums scatter into cells, which PyTensor cannot vectorise: a draw a call
            batched=LATENT_NAME not in model.named_vars,
        ),
    )


def varying_sums(model: pm.Model) -> bool:
    """Whether the integrated likelihood's rating sums change with the parameters: given latent
    values (censored, Student-t) or less fixed session terms (``session_coef``)."""
    return LATENT_NAME in model.named_vars or "session_coef" in model.named_vars


def _line_names(model: pm.Model) -> tuple[str, ...]:
    """The lines, and the rating sums where they change with the parameters (the effects'
    conditional then depends on them, draw by draw)."""
    return LINE_NAMES + ((LATENT_SUMS_NAME,) if varying_sums(model) else ())


def _effects_block(
    posterior: xr.Dataset, model: pm.Model, lines_of: GraphFunction, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    flat = lambda name: posterior[name].to_numpy().reshape(n_chain * n_draw, -1)  # noqa: E731

    def covariance(group: str) -> np.ndarray:
        sd = flat(f"{group}_sd")
        corr = flat(f"{group}_corr").reshape(-1, sd.shape[1], sd.shape[1])
        return sd[:, :, None] * corr * sd[:, None, :]

    level, growth, *latent_sums = (
        x.reshape(n_chain * n_draw, *x.shape[2:]) for x in lines_of(posterior, model)
    )
    therapist = (
        model["therapist_of_patient"].get_value(),
        len(model.coords["therapist"]),
        covariance("therapist"),
    )
    sigma, patient_cov, patterns = flat("sigma"), covariance("patient"), _patterns(model)
    if not latent_sums:  # the same sums at every draw
        sums = model["rating_sums"].get_value()
        drawn = conditional_effect_draws(
            level, growth, sigma, sums, patterns, therapist, patient_cov, rng
        )
    else:  # the sums move with the latent values: one draw at a time
        parts = [
            conditional_effect_draws(
                level[d : d + 1],
                growth[d : d + 1],
                sigma[d : d + 1],
                latent_sums[0][d],
                patterns,
                (*therapist[:2], therapist[2][d : d + 1]),
                patient_cov[d : d + 1],
                rng,
            )
            for d in range(n_chain * n_draw)
        ]
        drawn = tuple(np.concatenate(group) for group in zip(*parts, strict=True))
    return tuple(x.reshape(n_chain, n_draw, *x.shape[1:]) for x in drawn)


def _patterns(model: pm.Model) -> np.ndarray:
    """Which patients share their k x k algebra: by design pattern, but with Student-t weights
    every patient has its own."""
    if model_info(model).spec.likelihood == "student_t":
        return np.arange(len(model.coords["patient"]))
    return model["design_pattern"].get_value()
