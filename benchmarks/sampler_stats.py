"""What one nutpie run of the default single-rater Nissen-Lie model costs, step by step.

Run: python benchmarks/sampler_stats.py [--replicate 0] [--target-accept 0.8]

Simulates the competitors' data set (``competitors.simulate_study``), compiles the default model
(from the disk cache when warm) and samples it with nutpie directly (4 chains x 1000 draws after
1000 tuning steps, 2 cores), then reports the gradient evaluations per second, the mean tree
depth, the step sizes, divergences and the min bulk ESS over the population parameters per
second. Appends one JSON line to benchmarks/results/sampler_stats.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import arviz as az
import nutpie

sys.path.insert(0, str(Path(__file__).parent))
import competitors
from competitors import cpu_name

import alliance_bayes as ab
from alliance_bayes.fit import compiled_model

POPULATION = ["level", "growth", "level_coef", "growth_coef", "sigma", "therapist_sd", "patient_sd"]


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicate", type=int, default=0)
    parser.add_argument("--target-accept", type=float, default=0.8)
    args = parser.parse_args()
    settings = competitors.FULL
    data = competitors.simulate_study(settings, args.replicate)
    model = ab.growth_model(data, spec=competitors.spec_for(settings))
    start = time.perf_counter()
    compiled = compiled_model(model)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    trace = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        cores=2,
        seed=settings.seed,
        target_accept=args.target_accept,
        progress_bar=False,
    )
    sample_s = time.perf_counter() - start
    stats = trace.sample_stats
    ess = az.ess(trace.posterior[POPULATION], method="bulk")
    min_ess = min(float(ess[name].min()) for name in POPULATION)
    row = {
        "replicate": args.replicate,
        "target_accept": args.target_accept,
        "marginal": ab.models.is_marginal(model),
        "compile_s": round(compile_s, 2),
        "sample_s": round(sample_s, 2),
        "gradient_evaluations": int(stats["n_steps"].sum()),
        "gradients_per_s": round(float(stats["n_steps"].sum()) / sample_s),
        "mean_tree_depth": round(float(stats["depth"].mean()), 2),
        "step_size": [round(float(x), 3) for x in stats["step_size"].isel(draw=-1)],
        "divergences": int(stats["diverging"].sum()),
        "min_bulk_ess": round(min_ess, 1),
        "ess_per_s": round(min_ess / sample_s, 1),
        "machine": cpu_name(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(json.dumps(row))
    with (Path(__file__).parent / "results" / "sampler_stats.jsonl").open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    return row


if __name__ == "__main__":
    main()
