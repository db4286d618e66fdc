"""nutpie's numba backend (our default) against nutpie with JAX and against numpyro's NUTS.

Run: python benchmarks/backends.py [--replicates 1] [--draws 1000]
Needs: pip install jax numpyro (not in any extra: the default needs neither)

Same data, model, settings and figures as benchmarks/competitors.py (single-rater Nissen-Lie
model, 4 chains x 1000 draws after 1000 tuning steps, min bulk ESS over the shared
parameters); the backends run alternating within each replicate. Results go to
benchmarks/results/backends.json and backends.md.
"""

from __future__ import annotations

import os

# numpyro runs chains in parallel only on as many XLA host devices; set before jax loads.
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={os.cpu_count()}")

import argparse
import json
import time
from pathlib import Path

from competitors import (
    FULL,
    Settings,
    _divergences,
    _ours_draws,
    alternate,
    figures,
    machine,
    package_version,
    pm_sample_timing,
    spec_for,
)

import alliance_bayes as ab
from alliance_bayes._graph import stored_names
from alliance_bayes.models._marginal_kernel import register_jax_dispatch


def nutpie_backend(data, settings: Settings, backend: str) -> dict:
    import nutpie

    model = ab.growth_model(data, spec=spec_for(settings))
    gradient = {"gradient_backend": "jax"} if backend == "jax" else {}
    if backend != "numba":  # imports jax: not part of any backend's compile time
        register_jax_dispatch()
    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(
        model, backend=backend, var_names=stored_names(model), **gradient
    )
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    idata = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        cores=min(settings.chains, os.cpu_count() or 1),
        seed=settings.seed,
        progress_bar=False,
    )
    sample_s = time.perf_counter() - start
    return figures(_ours_draws(idata.posterior), _divergences(idata), compile_s, sample_s)


def numpyro(data, settings: Settings) -> dict:
    import pymc as pm

    model = ab.growth_model(data, spec=spec_for(settings))
    register_jax_dispatch()
    start = time.perf_counter()
    with model:
        idata = pm.sample(
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            nuts_sampler="numpyro",
            random_seed=settings.seed,
            progressbar=False,
            var_names=stored_names(model),
            compute_convergence_checks=False,
        )
    timing = pm_sample_timing(idata, time.perf_counter() - start)
    return figures(_ours_draws(idata.posterior), _divergences(idata), *timing)


BACKENDS = {
    "nutpie_numba": lambda data, s: nutpie_backend(data, s, "numba"),
    "nutpie_jax": lambda data, s: nutpie_backend(data, s, "jax"),
    "numpyro": numpyro,
}


def markdown(rows: list[dict], info: dict, settings: Settings) -> str:
    keys = ["backend", "replicate", "compile_s", "sample_s", "min_bulk_ess", "ess_per_s"]
    keys += ["ess_per_s_with_compile", "divergences", "max_r_hat"]
    lines = [
        "# nutpie backends and numpyro",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; versions: "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
        + f"; jax {package_version('jax')}, numpyro {package_version('numpyro')}.",
        f"Settings: {settings.chains} chains x {settings.draws} draws after {settings.tune} "
        f"tuning steps, {rows[0]['n_obs']} observations.",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
    ]
    lines += ["| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1)
    parser.add_argument("--draws", type=int, default=FULL.draws)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    settings = Settings(**(FULL.__dict__ | {"replicates": args.replicates, "draws": args.draws}))
    rows = alternate(settings, BACKENDS, args.backends.split(","), "backend")
    info = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "backends.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    (args.out / "backends.md").write_text(markdown(rows, info, settings))


if __name__ == "__main__":
    main()
