"""Prior and posterior predictive draws of the alliance, added to the InferenceData.

Prior predictive draws come from ``pm.sample_prior_predictive`` on the model. Posterior
predictive draws are made from the fit alone: the model is rebuilt from the InferenceData
(:func:`alliance_bayes.result.rebuild_model`) and the outcome is drawn from the model's own graph
given the stored vocabulary draws (:func:`alliance_bayes._graph.compile_graph`), so the predictive
draws condition on the fitted therapist and patient effects instead of redrawing them.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from .._graph import compile_graph, stored_names
from .._quiet import pymc_sampling_quiet
from ..models._info import model_info
from ..result import FitAttrs, predictive_model, rebuild_model


def _replace_group(idata: az.InferenceData, name: str, dataset: xr.Dataset) -> None:
    if name in idata.groups():
        del idata[name]
    idata.add_groups({name: dataset})


def prior_predictive(
    model: pm.Model | az.InferenceData,
    draws: int = 500,
    random_seed: int | None = None,
    *,
    idata: az.InferenceData | None = None,
) -> az.InferenceData:
    """Draws of the parameters and of ``alliance`` from the priors.

    Parameters
    ----------
    model
        A model of this package, or a fit (its model is rebuilt from the InferenceData).
    draws
        Number of prior draws.
    random_seed
        Seed of the draws.
    idata
        Add the groups ``prior`` and ``prior_predictive`` to this InferenceData (e.g. the fit)
        instead of returning a new one; a fit passed as ``model`` is extended the same way.

    Returns
    -------
    az.InferenceData
        Groups ``prior`` (vocabulary names only), ``prior_predictive``, ``constant_data`` and,
        when the data hold an outcome, ``observed_data``.

    Examples
    --------
    >>> from alliance_bayes import Design, growth_model
    >>> model = growth_model(Design.nissen_lie_2013().to_data(random_seed=1))
    >>> idata = prior_predictive(model, draws=50, random_seed=1)
    >>> idata.prior_predictive["alliance"].shape
    (1, 50, 1816)
    """
    if isinstance(model, az.InferenceData):
        idata = model if idata is None else idata
        model = rebuild_model(model)
    with model, pymc_sampling_quiet():  # its "Sampling: [...]" names internal variables
        drawn = pm.sample_prior_predictive(
            draws=draws,
            random_seed=random_seed,
            var_names=[*stored_names(model), "alliance"],
        )
    if not model_info(model).data.has_outcome and "observed_data" in drawn.groups():
        del drawn["observed_data"]  # a planned design: the observed values are placeholders
    if idata is None:
        return FitAttrs.of_model(model).write(drawn)  # what fit records, so checks can rebuild
    for group in ("prior", "prior_predictive"):
        _replace_group(idata, group, drawn[group])
    return idata


def posterior_predictive(
    idata: az.InferenceData,
    random_seed: int | None = None,
    *,
    model: pm.Model | None = None,
) -> az.InferenceData:
    """Posterior predictive draws of ``alliance``, added to the fit as ``posterior_predictive``.

    One replicate data set per posterior draw, from the model's graph given that draw's stored
    parameters (fixed effects, ``sigma``, the fitted ``therapist_effect`` and ``patient_effect``,
    imputed covariates): new observations of the same patients of the same therapists.

    Parameters
    ----------
    idata
        A fit from :func:`alliance_bayes.fit` (or :func:`alliance_bayes.load`); it is extended in
        place and returned.
    random_seed
        Seed of the draws; the same seed gives the same draws.
    model
        The fit's model; by default it is rebuilt from the InferenceData's spec and data.

    Returns
    -------
    az.InferenceData
        ``idata`` with the group ``posterior_predictive`` (dims chain, draw, obs).

    Examples
    --------
    >>> idata = posterior_predictive(idata, random_seed=1)
    >>> idata.posterior_predictive["alliance"].dims
    ('chain', 'draw', 'obs')
    """
    model = predictive_model(idata) if model is None else model
    observed = idata.observed_data["alliance"]
    if len(model.coords["obs"]) != observed.sizes["obs"]:
        raise ValueError(
            f"the model has {len(model.coords['obs'])} observations, the fit "
            f"{observed.sizes['obs']}; pass the fit's own model (or none, to rebuild it)."
        )
    posterior = idata.posterior
    function = compile_graph(
        model, [model["alliance"]], [str(n) for n in posterior.data_vars], random_seed=random_seed
    )
    (values,) = function(posterior)
    dataset = xr.Dataset(
        {"alliance": (("chain", "draw", "obs"), values)},
        coords={"chain": posterior["chain"], "draw": posterior["draw"], "obs": observed["obs"]},
    )
    _replace_group(idata, "posterior_predictive", dataset)
    return idata


def prior_implied_alliance(
    model: pm.Model, draws: int = 500, random_seed: int | None = None
) -> pd.DataFrame:
    """What the priors imply on the alliance scale, per session and rater.

    One row per (session, rater): the 5 %, 50 % and 95 % quantiles of prior predictive
    alliance scores, and the share of them outside the instrument's declared scale.

    Examples
    --------
    >>> from alliance_bayes import Design, growth_model
    >>> model = growth_model(Design.nissen_lie_2013().to_data(random_seed=1))
    >>> table = prior_implied_alliance(model, draws=100, random_seed=1)
    >>> list(table.columns)
    ['session', 'rater', 'q05', 'q50', 'q95', 'outside_scale']
    """
    info = model_info(model)
    data = info.data
    rows = np.flatnonzero(data.observed) if data.has_outcome else np.arange(data.n_obs)
    draws_ = prior_predictive(model, draws, random_seed).prior_predictive["alliance"]
    values = draws_.to_numpy().reshape(-1, len(rows))
    session = data.session[rows]
    rater = np.asarray(data.rater_labels, dtype=object)[data.obs_rater[rows]]
    out = []
    for s in np.unique(session):
        for r in data.rater_labels:
            cell = values[:, (session == s) & (rater == r)].ravel()
            if cell.size == 0:
                continue
            q05, q50, q95 = np.quantile(cell, [0.05, 0.5, 0.95])
            outside = (
                float(np.mean((cell < data.scale[0]) | (cell > data.scale[1])))
                if data.scale
                else np.nan
            )
            out.append(
                {
                    "session": s,
                    "rater": r,
                    "q05": q05,
                    "q50": q50,
                    "q95": q95,
                    "outside_scale": outside,
                }
            )
    return pd.DataFrame(out)
