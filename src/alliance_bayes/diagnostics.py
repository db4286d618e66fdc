"""Convergence diagnostics: divergences, R-hat, bulk and tail ESS, E-BFMI.

Thresholds follow Vehtari et al. (2021) and the Stan/ArviZ defaults: R-hat > 1.01, bulk or tail
ESS < 400, E-BFMI < 0.3, and any divergence. Problems become a :class:`ConvergenceWarning` that
names the parameters, and the report is stored in the fit's attrs.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from .errors import ConvergenceWarning, show_some
from .result import read_attrs
from .vocabulary import PAIR_DIMS, below_diagonal, flatten_all, labels_text

THRESHOLDS = {"r_hat": 1.01, "ess_bulk": 400, "ess_tail": 400, "e_bfmi": 0.3}


def _below_diagonal(posterior: xr.Dataset) -> xr.Dataset:
    """Correlation matrices with only their entries below the diagonal (the others are a copy
    or constant), on one dimension labelled ``"<component>, <component_>"``: each R-hat or ESS of
    a full 4 x 4 matrix cost a few milliseconds, and masking them with NaN made ArviZ log a
    warning. The pairs are named as everywhere (:mod:`alliance_bayes.vocabulary`)."""
    out = posterior.copy()
    for name, array in posterior.data_vars.items():
        if set(PAIR_DIMS) <= set(array.dims):
            array = array.transpose(..., *PAIR_DIMS)
            rows, cols = below_diagonal(array.sizes["component"])
            first, second = (array[d].to_numpy() for d in PAIR_DIMS)
            labels = [labels_text(pair) for pair in zip(first[rows], second[cols], strict=True)]
            out[name] = xr.DataArray(
                array.to_numpy()[..., rows, cols],
                dims=(*array.dims[:-2], "__pair__"),
                coords={"__pair__": labels},
            )
    return out


def convergence_report(idata: az.InferenceData, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Divergences, worst R-hat and ESS, E-BFMI, and the parameters that miss each threshold.

    ``skip`` names posterior variables left out of R-hat and ESS (listed under ``"skipped"``):
    ``fit`` skips ``therapist_effect`` and ``patient_effect`` when they were drawn after sampling
    from their exact conditional, as functions of the sampled draws plus independent noise
    (ArviZ took 31 s for the 4,400 effects of a 10k-rating study here).

    Examples
    --------
    >>> report = convergence_report(idata)
    >>> report["chains"], report["draws"], report["divergences"]
    (2, 40, 0)
    """
    posterior = _below_diagonal(
        idata.posterior[[n for n in idata.posterior.data_vars if n not in skip]]
    )
    n_chains = posterior.sizes["chain"]
    stats = idata.sample_stats if "sample_stats" in idata.groups() else xr.Dataset()
    divergent = stats["diverging"] if "diverging" in stats else None
    report: dict[str, Any] = {
        "chains": int(n_chains),
        "draws": int(posterior.sizes["draw"]),
        "divergences": int(divergent.sum()) if divergent is not None else 0,
        "thresholds": dict(THRESHOLDS),
        "skipped": sorted(n for n in skip if n in idata.posterior),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r_hat = flatten_all(az.rhat(posterior)) if n_chains > 1 else {}
        ess_bulk = flatten_all(az.ess(posterior, method="bulk"))
        ess_tail = flatten_all(az.ess(posterior, method="tail"))
        energy_ok = "energy" in stats
        e_bfmi = az.bfmi(idata).tolist() if energy_ok else []
    finite = lambda d: {k: float(v) for k, v in d.items() if np.isfinite(v)}  # noqa: E731
    r_hat, ess_bulk, ess_tail = finite(r_hat), finite(ess_bulk), finite(ess_tail)
    report |= {
        "max_r_hat": max(r_hat.values(), default=float("nan")),
        "min_ess_bulk": min(ess_bulk.values(), default=float("nan")),
        "min_ess_tail": min(ess_tail.values(), default=float("nan")),
        "e_bfmi": e_bfmi,
        "high_r_hat": sorted(k for k, v in r_hat.items() if v > THRESHOLDS["r_hat"]),
        "low_ess_bulk": sorted(k for k, v in ess_bulk.items() if v < THRESHOLDS["ess_bulk"]),
        "low_ess_tail": sorted(k for k, v in ess_tail.items() if v < THRESHOLDS["ess_tail"]),
        "low_e_bfmi_chains": [i for i, v in enumerate(e_bfmi) if v < THRESHOLDS["e_bfmi"]],
    }
    report["ok"] = not (
        report["divergences"]
        or report["high_r_hat"]
        or report["low_ess_bulk"]
        or report["low_ess_tail"]
        or report["low_e_bfmi_chains"]
    )
    return report


def problems(report: dict[str, Any]) -> list[str]:
    """The report's problems as sentences."""
    out = []
    if report["divergences"]:
        out.append(f"{report['divergences']} divergent transitions")
    for key, label, limit in (
        ("high_r_hat", "R-hat >", "r_hat"),
        ("low_ess_bulk", "bulk ESS <", "ess_bulk"),
        ("low_ess_tail", "tail ESS <", "ess_tail"),
    ):
        if report[key]:
            out.append(
                f"{label} {THRESHOLDS[limit]} for {len(report[key])} parameters: "
                f"{show_some(report[key])}"
            )
    if report["low_e_bfmi_chains"]:
        out.append(f"E-BFMI < {THRESHOLDS['e_bfmi']} in chains {report['low_e_bfmi_chains']}")
    return out


def remedies(report: dict[str, Any]) -> list[str]:
    """What to try first for the report's problems, as sentences."""
    out = []
    if report["divergences"]:
        out.append("more tuning steps (`fit(..., tune=1000)` or more) often remove divergences")
    if report["high_r_hat"] or report["low_ess_bulk"] or report["low_ess_tail"]:
        out.append("more draws (`fit(..., draws=2000)`) raise the ESS")
    return out


def warn_if_unconverged(report: dict[str, Any]) -> None:
    found = problems(report)
    if found:
        advice = remedies(report)
        message = "Sampling diagnostics: " + "; ".join(found) + "."
        if advice:
            message += " Try: " + "; ".join(advice) + "."
        warnings.warn(message, ConvergenceWarning, stacklevel=3)


def stored_report(idata: az.InferenceData) -> dict[str, Any]:
    """The convergence report stored with a fit.

    Examples
    --------
    >>> stored_report(idata)["divergences"]
    0
    """
    return read_attrs(idata).require("diagnostics")
