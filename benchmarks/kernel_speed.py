"""Microseconds per evaluation of the integrated log-density kernel, and of the whole model's
log-density and gradient (the function nutpie calls), for the Nissen-Lie models.

Run: python benchmarks/kernel_speed.py [--batches 60] [--calls 60]
Times ``batches`` batches of ``calls`` evaluations each and reports the fastest and the median
batch: this VM's neighbours slow single batches by up to 1.5x, the minimum is the steadiest
figure. Appends to benchmarks/results/kernel_speed.jsonl.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
from competitors import cpu_name

import alliance_bayes as ab
from alliance_bayes.models._marginal_kernel import kernel

MODELS = {"dual": "nissen_lie_2013_dual_rater.toml", "single": "nissen_lie_2013_patient.toml"}


def per_call_us(function, batches: int, calls: int) -> tuple[float, float]:
    """Fastest and median batch, in microseconds per call."""
    function()
    times = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return min(times), float(np.median(times))


def model_for(name: str):
    spec = ab.ModelSpec.from_toml(Path(__file__).parents[1] / "models" / MODELS[name])
    planned = ab.growth_model(spec.design.to_data(random_seed=1), spec=spec)  # its raters
    data = ab.simulate(planned, ab.Truth.nissen_lie_2013(), random_seed=11)
    return ab.growth_model(data, spec=spec)


def kernel_call(model):
    """The kernel alone, at plausible values of its inputs."""
    sums = model["rating_sums"].get_value()
    patterns = model["design_pattern"].get_value().astype(np.int64)
    therapist_of = model["therapist_of_patient"].get_value().astype(np.int64)
    n_patients, n_raters = sums.shape[1], sums.shape[2]
    k, n_therapists = 2 * n_raters, len(model.coords["therapist"])
    rng = np.random.default_rng(0)
    level, growth = (
        rng.normal(5, 0.5, (n_patients, n_raters)),
        rng.normal(0, 0.1, (n_patients, n_raters)),
    )
    sigma = np.full(n_raters, 0.35)
    chol_p = np.linalg.cholesky(np.eye(k) * 0.3 + 0.05)
    chol_t = np.linalg.cholesky(np.eye(k) * 0.05 + 0.01)
    compiled = kernel(k)
    count = np.asarray(n_therapists, dtype=np.int64)  # 0-d, as PyTensor passes it
    args = (sums, level, growth, sigma, chol_p, therapist_of, patterns, count, chol_t)
    return lambda: compiled(*args)


def model_call(model):
    """The model's log-density and gradient, compiled in NUMBA mode as nutpie compiles it."""
    function = model.logp_dlogp_function(mode="NUMBA", ravel_inputs=True)
    function.set_extra_values({})
    function._pytensor_function.trust_input = True
    point = np.concatenate([np.ravel(v) for v in model.initial_point().values()])
    nodes = len(function._pytensor_function.maker.fgraph.apply_nodes)
    return (lambda: function(point)), nodes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    ).stdout.strip()
    rows = []
    for name in MODELS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = model_for(name)
            call, nodes = model_call(model)
        kernel_min, kernel_median = per_call_us(kernel_call(model), args.batches, args.calls)
        model_min, model_median = per_call_us(call, args.batches, args.calls)
        row = {
            "model": name,
            "kernel_us_min": round(kernel_min, 1),
            "kernel_us_median": round(kernel_median, 1),
            "model_logp_dlogp_us_min": round(model_min, 1),
            "model_logp_dlogp_us_median": round(model_median, 1),
            "graph_nodes": nodes,
            "commit": commit,
            "machine": cpu_name(),
        }
        rows.append(row)
        print(json.dumps(row))
    with (Path(__file__).parent / "results" / "kernel_speed.jsonl").open("a") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
