"""alliance_bayes against PyMC's NUTS, bambi and statsmodels MixedLM on the same data and model.

Run:   python benchmarks/competitors.py                  (full: 4 chains x 1000 draws, manual)
       python benchmarks/competitors.py --smoke --out DIR (tiny; CI runs it so it cannot rot)
Needs: pip install -e ".[test]" (bambi 0.17 and statsmodels are in the test extra)

Model: the single-rater Nissen-Lie growth model (models/nissen_lie_2013_patient.toml),
``y ~ time * (burdens + satisfactions) + (time | therapist) + (time | patient)``, simulated
from ``Truth.nissen_lie_2013()``. Every replicate simulates one data set and runs every
competitor on it, in an order that rotates from replicate to replicate (alternating, so drifts
of the machine's speed are shared). Competitors:

- ``alliance_bayes``: ``ab.fit`` with default settings (nutpie; the therapist and patient
  effects integrated out of the normal likelihood); compile timed separately. Each replicate
  drops the in-process compiled model first, so its compile time is what a new process pays
  (cold the first time, from the on-disk cache afterwards if there is one).
- ``alliance_bayes_conditional``: the same with the random effects sampled (``marginal=False``).
- ``pymc_nuts``: the PyMC model with the effects sampled, by ``pm.sample`` (PyMC's own NUTS).
- ``bambi``: bambi 0.17 with the formula above, its default priors and sampler (PyMC NUTS).
  bambi's group effects are uncorrelated, so the correlations are not shared parameters.
- ``mixedlm``: statsmodels MixedLM (REML) with a therapist random intercept and slope and
  patient intercept and slope variance components: the frequentist floor (no ESS).

Figures per fit: compile s, sampling s, min bulk ESS over the shared parameters (fixed effects,
residual SD, therapist and patient SDs of level and growth), ESS/s while sampling and including
compile, divergences, max R-hat over the shared parameters, and ratios against alliance_bayes.
JSON and a markdown table (with the machine and package versions) go to ``--out``
(default benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

import alliance_bayes as ab
from alliance_bayes.fit import clear_compile_cache, compiled_model

COVARIATES = ("burdens", "satisfactions")
RATER = "patient"
# Shared parameters: our vocabulary name and selection -> bambi's name.
SHARED = {
    ("level", ()): "Intercept",
    ("growth", ()): "time",
    ("level_coef", ("burdens",)): "burdens",
    ("level_coef", ("satisfactions",)): "satisfactions",
    ("growth_coef", ("burdens",)): "time:burdens",
    ("growth_coef", ("satisfactions",)): "time:satisfactions",
    ("sigma", ()): "sigma",
    ("therapist_sd", ("level",)): "1|therapist_sigma",
    ("therapist_sd", ("growth",)): "time|therapist_sigma",
    ("patient_sd", ("level",)): "1|patient_sigma",
    ("patient_sd", ("growth",)): "time|patient_sigma",
}
PACKAGES = (
    "alliance_bayes",
    "pymc",
    "pytensor",
    "nutpie",
    "numba",
    "arviz",
    "bambi",
    "statsmodels",
)


@dataclass(frozen=True)
class Settings:
    draws: int
    tune: int
    chains: int
    replicates: int
    n_therapists: int | None  # None: the spec's design (70 therapists, 227 patients)
    seed: int
    likelihood: str = "normal"  # the brms comparison's model (normal, censored, student_t)


FULL = Settings(draws=1000, tune=1000, chains=4, replicates=1, n_therapists=None, seed=2013)
SMOKE = Settings(draws=40, tune=40, chains=2, replicates=1, n_therapists=8, seed=7)


# ---------------------------------------------------------------------------- data
def spec_for(settings: Settings, marginal: bool | None = None) -> ab.ModelSpec:
    spec = ab.ModelSpec.shipped("nissen_lie_2013_patient")
    spec.marginal = marginal
    if settings.n_therapists is not None:
        spec.design.n_therapists = settings.n_therapists
        spec.design.patients_per_therapist = 3
    return spec


def simulate_study(settings: Settings, replicate: int) -> ab.AllianceData:
    spec = spec_for(settings)
    planned = ab.growth_model(spec.design.to_data(random_seed=settings.seed), spec=spec)
    return ab.simulate(planned, ab.Truth.nissen_lie_2013(), random_seed=settings.seed + replicate)


def flat_frame(data: ab.AllianceData) -> pd.DataFrame:
    """One row per observed rating: coded time, standardised covariates, group labels."""
    therapist = data.obs_therapist
    frame = pd.DataFrame(
        {
            "y": data.score,
            "time": data.time,
            "therapist": pd.Categorical(therapist.astype(str)),
            "patient": pd.Categorical(data.obs_patient.astype(str)),
        }
    )
    names = list(data.therapist_covariates.names)
    for name in COVARIATES:
        frame[name] = data.therapist_covariates.values[therapist, names.index(name)]
    return frame[np.isfinite(frame["y"])].reset_index(drop=True)


# ---------------------------------------------------------------------------- figures
def _ours_draws(posterior) -> dict[str, np.ndarray]:
    """(chain, draw) arrays of the shared parameters, keyed by bambi's names."""
    out = {}
    for (name, selection), label in SHARED.items():
        array = posterior[name]
        if "rater" in array.dims:
            array = array.sel(rater=RATER)
        if selection:
            (dim,) = [d for d in array.dims if d not in ("chain", "draw")]
            key = selection[0] if dim == "therapist_covariate" else f"{RATER}:{selection[0]}"
            array = array.sel({dim: key})
        out[label] = array.to_numpy()
    return out


def _bambi_draws(posterior) -> dict[str, np.ndarray]:
    missing = [label for label in SHARED.values() if label not in posterior]
    if missing:
        raise KeyError(f"bambi's posterior lacks {missing}; its names are {list(posterior)}.")
    return {label: posterior[label].to_numpy() for label in SHARED.values()}


def figures(draws: dict[str, np.ndarray], divergences: int, compile_s: float, sample_s: float):
    dataset = az.convert_to_dataset({k: v for k, v in draws.items()})
    ess = az.ess(dataset, method="bulk")
    ess_values = {k: float(ess[k]) for k in draws}
    rhat = az.rhat(dataset) if next(iter(draws.values())).shape[0] > 1 else None
    min_ess = min(ess_values.values())
    return {
        "compile_s": round(compile_s, 2),
        "sample_s": round(sample_s, 2),
        "min_bulk_ess": round(min_ess, 1),
        "min_ess_parameter": min(ess_values, key=ess_values.get),
        "ess_per_s": round(min_ess / sample_s, 3),
        "ess_per_s_with_compile": round(min_ess / (compile_s + sample_s), 3),
        "divergences": int(divergences),
        "max_r_hat": round(float(max(rhat[k] for k in draws)), 4) if rhat is not None else None,
        "means": {k: round(float(v.mean()), 4) for k, v in draws.items()},
    }


def pm_sample_timing(idata, total_s: float) -> tuple[float, float]:
    """(compile s, sampling s) of a ``pm.sample`` result that took ``total_s`` in all."""
    sample_s = float(idata.posterior.attrs.get("sampling_time", total_s))
    return total_s - sample_s, sample_s


def _divergences(idata) -> int:
    stats = idata.sample_stats
    return int(stats["diverging"].sum()) if "diverging" in stats else 0


# ---------------------------------------------------------------------------- competitors


def compile_then_fit(model, settings: Settings):
    """The model compiled (timed alone), then ``ab.fit`` at ``settings``: (idata, compile s,
    sampling s)."""
    start = time.perf_counter()
    compiled_model(model)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    idata = ab.fit(
        model,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        random_seed=settings.seed,
        progressbar=False,
        log_likelihood=False,
        random_effects=False,
    )
    return idata, compile_s, time.perf_counter() - start


def run_alliance_bayes(data, settings: Settings, marginal: bool | None = None) -> dict:
    model = ab.growth_model(data, spec=spec_for(settings, marginal=marginal))
    clear_compile_cache()
    idata, compile_s, sample_s = compile_then_fit(model, settings)
    return figures(_ours_draws(idata.posterior), _divergences(idata), compile_s, sample_s)


def run_pymc_nuts(data, settings: Settings) -> dict:
    model = ab.growth_model(data, spec=spec_for(settings, marginal=False))  # as bambi's
    start = time.perf_counter()
    idata = ab.fit(
        model,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        sampler="pymc",
        random_seed=settings.seed,
        progressbar=False,
        log_likelihood=False,
    )
    timing = pm_sample_timing(idata, time.perf_counter() - start)
    return figures(_ours_draws(idata.posterior), _divergences(idata), *timing)


def run_bambi(data, settings: Settings) -> dict:
    import bambi as bmb

    frame = flat_frame(data)
    start = time.perf_counter()
    model = bmb.Model(
        "y ~ time * (burdens + satisfactions) + (time | therapist) + (time | patient)", frame
    )
    idata = model.fit(
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        random_seed=settings.seed,
        cores=min(settings.chains, os.cpu_count() or 1),
        progressbar=False,
    )
    timing = pm_sample_timing(idata, time.perf_counter() - start)
    return figures(_bambi_draws(idata.posterior), _divergences(idata), *timing)


def run_mixedlm(data, settings: Settings) -> dict:
    import statsmodels.formula.api as smf

    frame = flat_frame(data)
    start = time.perf_counter()
    model = smf.mixedlm(
        "y ~ time * (burdens + satisfactions)",
        frame,
        groups="therapist",
        re_formula="~time",
        vc_formula={"patient": "0 + C(patient)", "patient_time": "0 + C(patient):time"},
    )
    result = model.fit(reml=True)
    seconds = time.perf_counter() - start
    means = {k: float(result.fe_params[k]) for k in SHARED.values() if k in result.fe_params}
    means["sigma"] = np.sqrt(result.scale)
    therapist_var = np.diag(np.asarray(result.cov_re))
    means["1|therapist_sigma"], means["time|therapist_sigma"] = np.sqrt(therapist_var)
    patient_var = dict(zip(result.model.exog_vc.names, result.vcomp, strict=True))
    means["1|patient_sigma"] = np.sqrt(patient_var["patient"])
    means["time|patient_sigma"] = np.sqrt(patient_var["patient_time"])
    means = {k: round(float(v), 4) for k, v in means.items()}
    return {
        "compile_s": 0.0,
        "sample_s": round(seconds, 2),
        "converged": bool(result.converged),
        "means": means,
    }


COMPETITORS = {
    "alliance_bayes": run_alliance_bayes,
    "alliance_bayes_conditional": lambda data, s: run_alliance_bayes(data, s, marginal=False),
    "pymc_nuts": run_pymc_nuts,
    "bambi": run_bambi,
    "mixedlm": run_mixedlm,
}


# ---------------------------------------------------------------------------- report
def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo), else the platform's machine type: the machine
    behind this workplace changes between sessions, so every result line records it."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        if names:
            return names[0]
    return platform.processor() or platform.machine()


def machine() -> dict:
    cpu = cpu_name()
    memory = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = round(total_kb / 2**20, 1)
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory,
        "versions": {p: package_version(p) for p in PACKAGES},
    }


def package_version(package: str) -> str | None:
    try:
        return version(package)
    except Exception:  # an absent competitor is reported, not fatal
        return None


def with_ratios(rows: list[dict]) -> list[dict]:
    """ESS/s of every fit relative to alliance_bayes in the same replicate (ours / theirs)."""
    for row in rows:
        ours = next(
            r
            for r in rows
            if r["replicate"] == row["replicate"] and r["competitor"] == "alliance_bayes"
        )
        for key in ("ess_per_s", "ess_per_s_with_compile"):
            if key in row and key in ours and row[key]:
                row[f"ours_over_this_{key}"] = round(ours[key] / row[key], 2)
    return rows


# the columns of both reports from the min bulk ESS on: (row key, title)
EFFICIENCY_COLUMNS = [
    ("min_bulk_ess", "min bulk ESS"),
    ("ess_per_s", "ESS/s"),
    ("ess_per_s_with_compile", "ESS/s incl. compile"),
    ("divergences", "divergences"),
    ("max_r_hat", "max R-hat"),
    ("ours_over_this_ess_per_s", "ours / this, ESS/s"),
    ("ours_over_this_ess_per_s_with_compile", "ours / this, incl. compile"),
]


def machine_lines(info: dict, versions: dict) -> list[str]:
    """The machine and the package versions, for a report's head."""
    return [
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; "
        f"{info['platform']}; Python {info['python']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + ".",
    ]


def table_lines(rows: list[dict], columns: list[tuple[str, str]]) -> list[str]:
    """A Markdown table of ``rows`` by ``columns`` (key, title); a missing value is blank."""
    lines = [
        "| " + " | ".join(title for _, title in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = ["" if row.get(key) is None else str(row.get(key)) for key, _ in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(rows: list[dict], info: dict, settings: Settings) -> str:
    columns = [
        ("competitor", "competitor"),
        ("replicate", "rep"),
        ("compile_s", "compile s"),
        ("sample_s", "sampling s"),
        *EFFICIENCY_COLUMNS,
    ]
    lines = [
        "# Competitor benchmark",
        "",
        *machine_lines(info, info["versions"]),
        f"Settings: {settings.chains} chains x {settings.draws} draws after {settings.tune} "
        f"tuning steps, {settings.replicates} replicate(s), {rows[0]['n_obs']} observations, "
        f"{rows[0]['n_therapists']} therapists.",
        "Min bulk ESS over the shared parameters (fixed effects, sigma, therapist and patient "
        "SDs of level and growth).",
        "",
        *table_lines(rows, columns),
    ]
    lines += ["", "Posterior means (MixedLM: REML estimates) of the shared parameters:", ""]
    labels = list(SHARED.values())
    lines.append("| competitor | " + " | ".join(x.replace("|", "\\|") for x in labels) + " |")
    lines.append("|" + "---|" * (len(labels) + 1))
    for row in rows:
        lines.append(
            "| "
            + row["competitor"]
            + " | "
            + " | ".join(str(row["means"].get(label, "")) for label in labels)
            + " |"
        )
    return "\n".join(lines) + "\n"


def alternate(settings: Settings, runners: dict, names: list[str], label: str) -> list[dict]:
    """One row per runner and replicate, every runner on the replicate's data, in an order that
    rotates from replicate to replicate (so drifts of the machine's speed are shared)."""
    rows = []
    for replicate in range(settings.replicates):
        data = simulate_study(settings, replicate)
        shift = replicate % len(names)
        for name in names[shift:] + names[:shift]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row = runners[name](data, settings)
            row = {
                label: name,
                "replicate": replicate,
                "n_obs": int(np.isfinite(data.score).sum()),
                "n_therapists": data.n_therapists,
            } | row
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def run(settings: Settings, competitors: list[str], out: Path, tag: str) -> list[dict]:
    rows = alternate(settings, COMPETITORS, competitors, "competitor")
    rows = with_ratios(rows)
    info = machine()
    out.mkdir(parents=True, exist_ok=True)
    (out / f"competitors{tag}.json").write_text(
        json.dumps({"machine": info, "settings": settings.__dict__, "rows": rows}, indent=1) + "\n"
    )
    (out / f"competitors{tag}.md").write_text(markdown(rows, info, settings))
    return rows


# ---------------------------------------------------------------------------- brms (manual)
BRMS_SCRIPT = Path(__file__).with_name("brms_fit.R")
BRMS_LIKELIHOODS = ("normal", "censored", "student_t")
BRMS_SMOKE = Settings(draws=60, tune=60, chains=2, replicates=1, n_therapists=6, seed=7)
# the simulated data sets of the censored and Student-t comparisons: Truth.nissen_lie_2013()
# with a higher patient-rated level (a sixth of patient ratings at the ceiling of 7), resp.
# Student-t residuals with few degrees of freedom (outlying sessions)
CEILING_PATIENT_LEVEL = 6.05
OUTLIER_NU = 3.0


@dataclass(frozen=True)
class Shared:
    """One parameter both fits have: our scalar name, its selection, brms's column."""

    name: str  # our scalar name, e.g. "therapist_sd[patient:level]"
    variable: str  # our variable, e.g. "therapist_sd"
    selection: tuple[tuple[str, str], ...]  # (dim, label) pairs
    brms: str  # brms's draw column, e.g. "sd_therapist__raterpatient"
    log_scale: bool = False  # brms's draws are the log of ours (sigma ~ 0 + rater)


def brms_study(settings: Settings) -> ab.AllianceData:
    """The data of one brms comparison: the shipped Nissen-Lie data for the normal model at full
    size, else simulated from ``Design.nissen_lie_2013()`` (smaller with ``n_therapists``) by the
    package's simulator with ``settings.likelihood``'s model (see CEILING_PATIENT_LEVEL,
    OUTLIER_NU)."""
    if settings.likelihood == "normal" and settings.n_therapists is None:
        return ab.datasets.load("nissen_lie_2013")
    design = ab.Design.nissen_lie_2013()
    if settings.n_therapists is not None:
        design.n_therapists = settings.n_therapists
        design.patients_per_therapist = 3
    values = dict(ab.Truth.nissen_lie_2013().values)
    if settings.likelihood == "censored":
        values["level"] = values["level"] | {"patient": CEILING_PATIENT_LEVEL}
    if settings.likelihood == "student_t":
        values["nu"] = OUTLIER_NU
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a planned design has no outcome yet to check
        model = ab.growth_model(
            design.to_data(random_seed=settings.seed), likelihood=settings.likelihood
        )
    return ab.simulate(model, ab.Truth(values), random_seed=settings.seed + 1)


def brms_frame(data: ab.AllianceData) -> pd.DataFrame:
    """One row per observed rating as brms reads it: the outcome ``y``, ``cens`` (``left`` /
    ``right`` at the scale's bounds, else ``none``), the rater's label, the coded time
    ``data.time``, therapist and patient ids and the standardised therapist covariates, the
    very inputs of alliance_bayes's model."""
    covariates = data.therapist_covariates
    if not np.all(np.isfinite(covariates.values)):
        therapists, columns = np.nonzero(~np.isfinite(covariates.values))
        raise ValueError(
            f"therapist covariates {sorted({covariates.names[k] for k in columns})} are missing "
            f"for therapists {sorted({data.coords['therapist'][t] for t in therapists})}: brms "
            "would drop their ratings, alliance_bayes imputes them; the fits would differ."
        )
    rows = np.flatnonzero(np.isfinite(data.score))
    y = data.score[rows]
    cens = np.full(len(rows), "none", dtype=object)
    if data.scale is not None:
        cens[y <= data.scale[0]] = "left"
        cens[y >= data.scale[1]] = "right"
    therapist = data.obs_therapist[rows]
    frame = pd.DataFrame(
        {
            "y": y,
            "cens": cens,
            "rater": np.asarray(data.coords["rater"], dtype=object)[data.obs_rater[rows]],
            "time": data.time[rows],
            "therapist": [f"t{t}" for t in therapist],
            "patient": [f"p{p}" for p in data.obs_patient[rows]],
        }
    )
    for k, name in enumerate(covariates.names):
        frame[name] = covariates.values[therapist, k]
    return frame


def brms_shared(data: ab.AllianceData, likelihood: str) -> list[Shared]:
    """The shared parameters of the dual-rater growth model, ours <-> brms's names.

    brms's fixed effects of ``0 + rater + rater:time + rater:(z) + rater:time:(z)`` are
    ``b_rater<r>``, ``b_rater<r>:time``, ``b_rater<r>:<z>``, ``b_rater<r>:time:<z>``; the group
    terms of ``(0 + rater + rater:time | g)`` are ``rater<r>`` (our ``<r>:level``) and
    ``rater<r>:time`` (``<r>:growth``), in that order, for ``sd_<g>__<term>`` and
    ``cor_<g>__<earlier term>__<later term>``; ``sigma ~ 0 + rater`` is ``b_sigma_rater<r>`` on
    the log scale.
    """
    raters = list(data.coords["rater"])
    covariates = list(data.therapist_covariates.names)
    shared: list[Shared] = []

    def add(variable: str, selection: dict[str, str], brms: str, log_scale: bool = False):
        name = ab.vocabulary.scalar_name(variable, list(selection.values()))
        shared.append(Shared(name, variable, tuple(selection.items()), brms, log_scale))

    for r in raters:
        add("level", {"rater": r}, f"b_rater{r}")
        add("growth", {"rater": r}, f"b_rater{r}:time")
    for r in raters:
        for k in covariates:
            add("level_coef", {"rater": r, "therapist_covariate": k}, f"b_rater{r}:{k}")
            add("growth_coef", {"rater": r, "therapist_covariate": k}, f"b_rater{r}:time:{k}")
    for r in raters:
        add("sigma", {"rater": r}, f"b_sigma_rater{r}", log_scale=True)
    if likelihood == "student_t":
        add("nu", {}, "nu")
    ours = [f"{r}:{part}" for r in raters for part in ("level", "growth")]
    term = {f"{r}:level": f"rater{r}" for r in raters}
    term |= {f"{r}:growth": f"rater{r}:time" for r in raters}
    order = [f"rater{r}" for r in raters] + [f"rater{r}:time" for r in raters]
    for group in ("therapist", "patient"):
        for c in ours:
            add(f"{group}_sd", {"component": c}, f"sd_{group}__{term[c]}")
        for i, later in enumerate(ours):
            for earlier in ours[:i]:
                first, second = sorted((term[later], term[earlier]), key=order.index)
                add(
                    f"{group}_corr",
                    {"component": later, "component_": earlier},
                    f"cor_{group}__{first}__{second}",
                )
    return shared


def brms_draws(table: pd.DataFrame, shared: list[Shared]) -> dict[str, np.ndarray]:
    """(chain, draw) arrays of brms's draws (``draws.csv``), keyed by our scalar names, sigma
    exponentiated."""
    missing = [s.brms for s in shared if s.brms not in table]
    if missing:
        raise KeyError(f"brms's draws lack {missing}; its columns are {list(table.columns)}.")
    table = table.sort_values([".chain", ".iteration"])
    chains = table[".chain"].nunique()
    out = {}
    for s in shared:
        values = table[s.brms].to_numpy(dtype=float).reshape(chains, -1)
        out[s.name] = np.exp(values) if s.log_scale else values
    return out


def ours_draws(posterior, shared: list[Shared]) -> dict[str, np.ndarray]:
    """(chain, draw) arrays of our posterior's shared parameters, keyed by their scalar names."""
    return {s.name: posterior[s.variable].sel(dict(s.selection)).to_numpy() for s in shared}


def agreement(ours: dict[str, np.ndarray], brms: dict[str, np.ndarray]) -> dict[str, float]:
    """Per shared parameter: (our posterior mean - brms's) / brms's posterior SD."""
    return {
        name: float((ours[name].mean() - brms[name].mean()) / brms[name].std(ddof=1))
        for name in brms
    }


def run_brms(data: ab.AllianceData, settings: Settings) -> tuple[dict, dict[str, np.ndarray]]:
    """brms (rstan, ``cores=2``) on ``data``: compile (``chains=0``) and sampling timed apart."""
    import subprocess
    import tempfile

    shared = brms_shared(data, settings.likelihood)
    with tempfile.TemporaryDirectory(prefix="brms_") as folder:
        folder = Path(folder)
        brms_frame(data).to_csv(folder / "data.csv", index=False)
        config = {
            "data": str(folder / "data.csv"),
            "out": str(folder),
            "likelihood": settings.likelihood,
            "raters": list(data.coords["rater"]),
            "covariates": list(data.therapist_covariates.names),
            "chains": settings.chains,
            "iter": settings.tune + settings.draws,
            "warmup": settings.tune,
            "cores": min(2, settings.chains),
            "seed": settings.seed,
        }
        (folder / "config.json").write_text(json.dumps(config))
        load = os.getloadavg()[0]
        subprocess.run(["Rscript", str(BRMS_SCRIPT), str(folder / "config.json")], check=True)
        stats = json.loads((folder / "stats.json").read_text())
        draws = brms_draws(pd.read_csv(folder / "draws.csv"), shared)
    row = figures(draws, stats["divergences"], stats["compile_s"], stats["sample_s"])
    row |= {
        "load_average_1min": round(load, 2),
        "posterior_min_bulk_ess": round(float(stats["min_bulk_ess"]), 1),
        "posterior_min_ess_parameter": stats["min_ess_parameter"],
        "warmup_s_per_chain": stats["warmup_s_per_chain"],
        "sample_s_per_chain": stats["sample_s_per_chain"],
        "formula": stats["formula"],
        "versions": stats["versions"],
    }
    return row, draws


def run_alliance_bayes_dual(
    data: ab.AllianceData, settings: Settings
) -> tuple[dict, dict[str, np.ndarray]]:
    """``ab.fit`` at its defaults on the dual-rater model of ``settings.likelihood``; compile
    timed apart (the in-process compiled model dropped first)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the normal model's ceiling warning
        model = ab.growth_model(data, likelihood=settings.likelihood)
    clear_compile_cache()
    load = os.getloadavg()[0]
    idata, compile_s, sample_s = compile_then_fit(model, settings)
    draws = ours_draws(idata.posterior, brms_shared(data, settings.likelihood))
    row = figures(draws, _divergences(idata), compile_s, sample_s)
    return row | {"load_average_1min": round(load, 2)}, draws


def brms_comparison(settings: Settings) -> list[dict]:
    """brms and alliance_bayes on one data set (``settings.likelihood``): two rows, brms's with
    the ratios (ours / brms) and the posterior-mean differences in brms's posterior SDs."""
    data = brms_study(settings)
    at_bounds = {
        rater: [round(share, 3) for share in shares]
        for rater, shares in ab.models.growth.bound_shares(data).items()
    }
    common = {
        "likelihood": settings.likelihood,
        "n_obs": int(np.isfinite(data.score).sum()),
        "n_therapists": data.n_therapists,
        "n_patients": data.n_patients,
        "share_at_bounds": at_bounds,
    }
    ours, our_draws = run_alliance_bayes_dual(data, settings)
    ours = {"competitor": "alliance_bayes"} | common | ours
    print(json.dumps(ours), flush=True)
    theirs, their_draws = run_brms(data, settings)
    differences = agreement(our_draws, their_draws)
    worst = max(differences, key=lambda name: abs(differences[name]))
    theirs = {"competitor": "brms"} | common | theirs
    # the issue's target: fixed effects (with sigma) and random-effect SDs, not correlations or nu
    targeted = {k: v for k, v in differences.items() if "_corr[" not in k and k != "nu"}
    worst_targeted = max(targeted, key=lambda name: abs(targeted[name]))
    theirs |= {
        "max_abs_mean_difference_in_sd": round(abs(differences[worst]), 3),
        "max_difference_parameter": worst,
        "max_abs_mean_difference_fixed_and_sd": round(abs(targeted[worst_targeted]), 3),
        "max_difference_fixed_and_sd_parameter": worst_targeted,
        "mean_difference_in_sd": {k: round(v, 3) for k, v in differences.items()},
    }
    for key in ("ess_per_s", "ess_per_s_with_compile"):
        theirs[f"ours_over_this_{key}"] = round(ours[key] / theirs[key], 2)
    ours |= {"ours_over_this_ess_per_s": 1.0, "ours_over_this_ess_per_s_with_compile": 1.0}
    print(json.dumps({k: v for k, v in theirs.items() if k != "mean_difference_in_sd"}), flush=True)
    return [ours, theirs]


def brms_markdown(rows: list[dict], info: dict, settings: Settings) -> str:
    columns = [
        ("likelihood", "likelihood"),
        ("competitor", "competitor"),
        ("n_obs", "ratings"),
        ("compile_s", "compile s"),
        ("sample_s", "sampling s"),
        ("load_average_1min", "load avg"),
        *EFFICIENCY_COLUMNS,
        ("max_abs_mean_difference_fixed_and_sd", "max \\|mean diff\\| / brms SD, fixed + SDs"),
        ("max_difference_fixed_and_sd_parameter", "at"),
        ("max_abs_mean_difference_in_sd", "max \\|mean diff\\| / brms SD, all"),
        ("max_difference_parameter", "at"),
    ]
    brms_versions = next((r["versions"] for r in rows if "versions" in r), {})
    lines = [
        "# brms against alliance_bayes (dual-rater growth model)",
        "",
        *machine_lines(info, info["versions"] | brms_versions),
        f"Settings: {settings.chains} chains x {settings.draws} draws after {settings.tune} "
        "warmup, defaults otherwise (brms: rstan, cores = 2, its default priors; alliance_bayes: "
        "`ab.fit` defaults, compile timed apart after dropping the in-process compiled model).",
        "Min bulk ESS (arviz) and max R-hat over the shared parameters: fixed effects, sigma "
        "(brms: exp of b_sigma_*), nu, therapist and patient SDs and correlations. "
        "Mean diff: (alliance_bayes's posterior mean - brms's) / brms's posterior SD.",
        "",
        *table_lines(rows, columns),
    ]
    for row in rows:
        if "mean_difference_in_sd" not in row:
            continue
        lines += [
            "",
            f"{row['likelihood']}: {row['n_obs']} ratings, {row['n_therapists']} therapists, "
            f"{row['n_patients']} patients; share of ratings at the bounds (low, high) per "
            f"rater: {row['share_at_bounds']}. brms formula: `{row['formula']}`.",
            "",
            "| parameter | (ours - brms) / brms SD | ours | brms |",
            "|---|---|---|---|",
        ]
        ours = next(
            r
            for r in rows
            if r["competitor"] == "alliance_bayes" and r["likelihood"] == row["likelihood"]
        )
        for name, value in row["mean_difference_in_sd"].items():
            lines.append(f"| {name} | {value} | {ours['means'][name]} | {row['means'][name]} |")
    return "\n".join(lines) + "\n"


def run_brms_comparisons(
    settings: Settings, likelihoods: list[str], out: Path, tag: str
) -> list[dict]:
    """Every likelihood in turn; the results are written after each (a later fit may fail)."""
    rows = []
    info = machine()
    out.mkdir(parents=True, exist_ok=True)
    for likelihood in likelihoods:
        rows += brms_comparison(Settings(**(settings.__dict__ | {"likelihood": likelihood})))
        report = {"machine": info, "settings": settings.__dict__, "rows": rows}
        (out / f"brms{tag}.json").write_text(json.dumps(report, indent=1) + "\n")
        (out / f"brms{tag}.md").write_text(brms_markdown(rows, info, settings))
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny settings (CI)")
    parser.add_argument("--replicates", type=int)
    parser.add_argument("--draws", type=int)
    parser.add_argument(
        "--competitors", help="comma-separated (default: all; --smoke: no conditional variant)"
    )
    parser.add_argument(
        "--brms",
        help="comma-separated likelihoods (normal,censored,student_t): compare brms and "
        "alliance_bayes on the dual-rater model instead (needs R with brms; manual)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if args.brms:
        likelihoods = args.brms.split(",")
        unknown = sorted(set(likelihoods) - set(BRMS_LIKELIHOODS))
        if unknown:
            parser.error(f"--brms takes likelihoods among {list(BRMS_LIKELIHOODS)}; got {unknown}.")
        settings = BRMS_SMOKE if args.smoke else FULL
        if args.draws:
            settings = Settings(**(settings.__dict__ | {"draws": args.draws}))
        return run_brms_comparisons(settings, likelihoods, args.out, "_smoke" if args.smoke else "")
    settings = SMOKE if args.smoke else FULL
    changes = {k: v for k, v in {"replicates": args.replicates, "draws": args.draws}.items() if v}
    settings = Settings(**(settings.__dict__ | changes))
    default = [c for c in COMPETITORS if not (args.smoke and c.endswith("conditional"))]
    names = args.competitors.split(",") if args.competitors else default
    unknown = sorted(set(names) - set(COMPETITORS))
    if unknown or "alliance_bayes" not in names:
        parser.error(
            f"competitors must include alliance_bayes and be among {list(COMPETITORS)}; "
            f"got {unknown}."
        )
    return run(settings, names, args.out, "_smoke" if args.smoke else "")


if __name__ == "__main__":
    main()
