"""Prior (and later posterior) predictive checks."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from ..models._info import model_info


def prior_predictive(
    model: pm.Model, draws: int = 500, random_seed: int | None = None
) -> az.InferenceData:
    """Draws of the parameters and of ``alliance`` from the priors (groups ``prior`` and
    ``prior_predictive``).

    Examples
    --------
    >>> from alliance_bayes import Design, growth_model
    >>> model = growth_model(Design.nissen_lie_2013().to_data(random_seed=1))
    >>> idata = prior_predictive(model, draws=50, random_seed=1)
    >>> idata.prior_predictive["alliance"].shape
    (1, 50, 1816)
    """
    with model:
        return pm.sample_prior_predictive(draws=draws, random_seed=random_seed)


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
