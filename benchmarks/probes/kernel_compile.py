"""Seconds of numba's compile of the integrated-likelihood kernel and of the effect draws (k = 4,
the dual-rater Nissen-Lie model), and microseconds per kernel call (fastest of 30 batches of 60).

Run in a fresh process (numba compiles the kernel's closures in every process):
NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/probes/kernel_compile.py "what this tree is"
Prints one JSON line (with the 1-minute load average: the machine is shared).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))
from kernel_speed import kernel_call, model_for, per_call_us

from alliance_bayes.models import _marginal_numba


def draw_arguments(model, k: int, n_draws: int = 3) -> tuple:
    sums = model["rating_sums"].get_value()
    n_patients, n_raters = sums.shape[1], sums.shape[2]
    n_therapists = len(model.coords["therapist"])
    rng = np.random.default_rng(0)

    def per_draw(matrix):
        return np.broadcast_to(matrix, (n_draws, k, k)).copy()

    return (
        sums,
        rng.normal(5, 0.5, (n_draws, n_patients, n_raters)),
        rng.normal(0, 0.1, (n_draws, n_patients, n_raters)),
        np.full((n_draws, n_raters), 0.35),
        per_draw(np.linalg.cholesky(np.eye(k) * 0.3 + 0.05)),
        model["therapist_of_patient"].get_value().astype(np.int64),
        model["design_pattern"].get_value().astype(np.int64),
        per_draw(np.linalg.cholesky(np.eye(k) * 0.05 + 0.01)),
        rng.standard_normal((n_draws, n_therapists, k)),
        rng.standard_normal((n_draws, n_patients, k)),
    )


def main() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model_for("dual")
    call = kernel_call(model)
    start = time.perf_counter()
    call()
    kernel_compile = time.perf_counter() - start
    kernel_us, _ = per_call_us(call, 30, 60)
    draw = _marginal_numba.compiled(4)[1]
    arguments = draw_arguments(model, 4)
    start = time.perf_counter()
    draw(*arguments)
    draw_compile = time.perf_counter() - start
    row = {
        "note": sys.argv[1] if len(sys.argv) > 1 else "",
        "kernel_compile_s": round(kernel_compile, 1),
        "draw_compile_s": round(draw_compile, 1),
        "kernel_us_min": round(kernel_us, 1),
        "load": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(row))


if __name__ == "__main__":
    main()
