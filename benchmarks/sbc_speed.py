"""Wall time per SBC simulation: this runner against simuk 0.2, same model and sampler settings.

Run: python benchmarks/sbc_speed.py [--n-ours 20] [--n-simuk 2] [--workers 2]
     (needs `pip install simuk==0.2.0`; see the `bench` extra)

Model: the Nissen-Lie single-rater growth model (models/nissen_lie_2013_patient.toml: 70
therapists, 227 patients, sessions 3/12/20/40), 2 chains x 500 draws after 500 tuning steps.
simuk 0.2 calls pm.sample for every simulation (PyMC's NUTS by default, or nutpie through
pm.sample, both compiling the model again each time) on the model with the random effects
sampled, as it swaps each simulated outcome into the model by hand; this runner fits the
default model (effects integrated out), compiles once per worker and swaps data. Same statistical
model, same priors. Results are appended to benchmarks/results/sbc_speed.jsonl.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from competitors import cpu_name

import alliance_bayes as ab
from alliance_bayes.checks import run_sbc

SETTINGS = {"draws": 500, "tune": 500, "chains": 2}


def ours(spec, n: int, workers: int) -> dict:
    store = Path(tempfile.mkdtemp(prefix="sbc_speed_"))
    start = time.perf_counter()
    result = run_sbc(
        spec, n_sims=n, store=store, workers=workers, random_seed=1, progress=False, **SETTINGS
    )
    total = time.perf_counter() - start
    jobs = result.frame.drop_duplicates("job")
    per_job = jobs["seconds"]
    steady = float(per_job.sort_values().iloc[: max(1, n - workers)].mean())
    shutil.rmtree(store)
    return {
        "runner": "alliance_bayes",
        "model": "default (random effects integrated out)",
        "n": n,
        "workers": workers,
        "total_s": round(total, 1),
        "per_sim_s": round(total / n, 2),
        "steady_per_sim_s": round(steady, 2),
        "failed": int((jobs["status"] != "ok").sum()),
        "failure_reasons": sorted(set(jobs.loc[jobs["status"] != "ok", "reason"])),
        "projected_200_sims_min": round((total + (200 - n) * steady / workers) / 60, 1),
    }


def simuk_run(spec, n: int, sampler: str) -> dict:
    import pymc as pm  # noqa: F401 - simuk drives PyMC
    from simuk import SBC

    # simuk swaps each simulated outcome into the model by hand, which the integrated likelihood
    # (it reads the ratings through sums made at build time) does not allow: explicit effects
    explicit = dataclasses.replace(spec, marginal=False)
    model = ab.growth_model(spec.design.to_data(random_seed=1), spec=explicit)
    kwargs = dict(SETTINGS, cores=2) | ({"nuts_sampler": "nutpie"} if sampler == "nutpie" else {})
    sbc = SBC(model, num_simulations=n, sample_kwargs=kwargs, seed=1)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sbc.run_simulations()
    total = time.perf_counter() - start
    return {
        "runner": f"simuk 0.2 ({sampler})",
        "model": "random effects sampled (marginal=False)",
        "n": n,
        "total_s": round(total, 1),
        "per_sim_s": round(total / n, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-ours", type=int, default=20)
    parser.add_argument("--n-simuk", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--simuk-samplers", default="pymc,nutpie")
    args = parser.parse_args()
    spec = ab.ModelSpec.shipped("nissen_lie_2013_patient")
    rows = [ours(spec, args.n_ours, args.workers)]
    print(json.dumps(rows[-1]), flush=True)
    for sampler in [s for s in args.simuk_samplers.split(",") if s]:
        rows.append(simuk_run(spec, args.n_simuk, sampler))
        print(json.dumps(rows[-1]), flush=True)
    for row in rows[1:]:
        row["ratio_vs_alliance_bayes"] = round(row["per_sim_s"] / rows[0]["per_sim_s"], 1)
        print(f"{row['runner']}: {row['ratio_vs_alliance_bayes']}x slower per simulation")
    out = Path(__file__).parent / "results" / "sbc_speed.jsonl"
    with out.open("a") as handle:
        for row in rows:
            handle.write(
                json.dumps(
                    row | {"settings": SETTINGS, "machine": cpu_name(), "cpus": os.cpu_count()}
                )
                + "\n"
            )


if __name__ == "__main__":
    main()
