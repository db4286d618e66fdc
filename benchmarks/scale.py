"""Time and peak memory of one fit as the study grows: 1k, 10k and 100k observations.

Run: python benchmarks/scale.py [--sizes 1000,10000,100000] [--draws 1000] [--chains 4]
                                [--log-likelihood] [--sampler nutpie|advi]
     python benchmarks/scale.py --accuracy 10000   # ADVI against NUTS, from scale.jsonl

Each size is fitted in a fresh process (so its peak resident memory is its own): the
single-rater Nissen-Lie model (therapist covariates Burdens and Satisfactions) on a study of
n/50 therapists with 10 patients each rated at 5 sessions (3, 8, 12, 20, 40; no dropout), so
1k, 10k and 100k observations have 20, 200 and 2,000 therapists. Data are simulated from
``Truth.nissen_lie_2013()``. Reported per size: build, compile and fit seconds, peak resident
memory (ru_maxrss of the process), min bulk ESS and max R-hat of the population parameters,
divergences, and the largest absolute error of the fixed-effect posterior means against the
truth in posterior SDs, and every population parameter's posterior means and SDs. Lines are
appended to benchmarks/results/scale.jsonl. ``--accuracy N`` compares the newest ADVI and NUTS
lines of size N there (same data, as the seeds are fixed): the error of the ADVI means in NUTS
posterior SDs and the ratio of the SDs, per parameter, written to advi_accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from competitors import cpu_name

SESSIONS = [3.0, 8.0, 12.0, 20.0, 40.0]
PATIENTS = 10
RESULTS = Path(__file__).parent / "results" / "scale.jsonl"
POPULATION = ["level", "growth", "level_coef", "growth_coef", "sigma", "therapist_sd", "patient_sd"]


def design(n_obs: int):
    import alliance_bayes as ab

    spec = ab.ModelSpec.shipped("nissen_lie_2013_patient")
    spec.design.n_therapists = max(2, n_obs // (PATIENTS * len(SESSIONS)))
    spec.design.patients_per_therapist = PATIENTS
    spec.design.sessions = SESSIONS
    spec.design.retention = None
    spec.design.missing_rate = 0.0
    return spec


def one_size(n_obs: int, args) -> dict:
    import arviz as az

    import alliance_bayes as ab
    from alliance_bayes.fit import compiled_model

    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    spec = design(n_obs)
    planned = ab.growth_model(spec.design.to_data(random_seed=1), spec=spec)
    data = ab.simulate(planned, ab.Truth.nissen_lie_2013(), random_seed=2)
    model = ab.growth_model(data, spec=spec)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    if args.sampler == "nutpie":  # ADVI compiles its own (PyTensor) functions inside fit
        compiled_model(model)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    idata = ab.fit(
        model,
        draws=args.draws,
        chains=args.chains,
        random_seed=3,
        progressbar=False,
        log_likelihood=args.log_likelihood,
        sampler=args.sampler,
    )
    fit_s = time.perf_counter() - start
    posterior = idata.posterior[POPULATION]
    report = ab.diagnostics.stored_report(idata)
    ess = az.ess(posterior, method="bulk")
    errors = _errors_in_sds(posterior, data.truth)
    return {
        "n_obs": int(np.isfinite(data.score).sum()),
        "n_therapists": data.n_therapists,
        "n_patients": data.n_patients,
        "sampler": args.sampler,
        "chains": args.chains,
        "draws": args.draws,
        "log_likelihood": args.log_likelihood,
        "build_s": round(build_s, 1),
        "compile_s": round(compile_s, 1),
        "fit_s": round(fit_s, 1),
        "total_s": round(build_s + compile_s + fit_s, 1),
        "fit_timing": json.loads(idata.attrs["timing"]),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "min_bulk_ess": round(float(min(np.nanmin(ess[k].values) for k in POPULATION)), 1),
        "max_r_hat": round(report.get("max_r_hat", float("nan")), 3),
        "divergences": report.get("divergences", 0),
        "max_error_in_posterior_sds": round(max(errors.values()), 2),
        "error_in_posterior_sds": {k: round(v, 2) for k, v in errors.items()},
        "posterior": _moments(posterior),
    }


def _moments(posterior) -> dict[str, dict[str, list[float]]]:
    """Posterior mean and SD of every element of the population parameters, flattened."""
    out = {}
    for name in POPULATION:
        draws = posterior[name].stack(s=("chain", "draw")).transpose(..., "s").to_numpy()
        draws = draws.reshape(-1, draws.shape[-1])
        out[name] = {"mean": draws.mean(-1).tolist(), "sd": draws.std(-1).tolist()}
    return out


def accuracy(n_obs: int) -> dict:
    """ADVI against NUTS on the same study: mean error in NUTS SDs and SD ratio, per parameter."""
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines()]
    newest = {
        row.get("sampler", "nutpie"): row
        for row in rows
        if row["n_obs"] == n_obs and "posterior" in row
    }
    nuts, advi = newest["nutpie"]["posterior"], newest["advi"]["posterior"]
    per_parameter = {}
    for name in POPULATION:
        mean_n, sd_n = np.array(nuts[name]["mean"]), np.array(nuts[name]["sd"])
        mean_a, sd_a = np.array(advi[name]["mean"]), np.array(advi[name]["sd"])
        per_parameter[name] = {
            "max_mean_error_in_nuts_sds": round(float(np.max(np.abs(mean_a - mean_n) / sd_n)), 2),
            "sd_ratio_min": round(float(np.min(sd_a / sd_n)), 2),
            "sd_ratio_max": round(float(np.max(sd_a / sd_n)), 2),
        }
    return {
        "n_obs": n_obs,
        "fit_s": {"nutpie": newest["nutpie"]["fit_s"], "advi": newest["advi"]["fit_s"]},
        "per_parameter": per_parameter,
    }


def _errors_in_sds(posterior, truth) -> dict[str, float]:
    """|posterior mean - truth| / posterior SD, worst element per population parameter."""
    out = {}
    for name in POPULATION:
        draws = posterior[name].stack(s=("chain", "draw")).transpose(..., "s").to_numpy()
        true = np.broadcast_to(np.asarray(truth[name], dtype=float), draws.shape[:-1])
        out[name] = float(np.max(np.abs(draws.mean(-1) - true) / draws.std(-1)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--log-likelihood", action="store_true")
    parser.add_argument("--sampler", default="nutpie", choices=["nutpie", "advi"])
    parser.add_argument("--accuracy", type=int, metavar="N_OBS")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_size(args.child, args)), flush=True)
        return
    if args.accuracy:
        result = accuracy(args.accuracy)
        (RESULTS.parent / "advi_accuracy.json").write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result, indent=1))
        return
    out = RESULTS
    for size in (int(s) for s in args.sizes.split(",")):
        command = [sys.executable, __file__, "--child", str(size), *sys.argv[1:]]
        result = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode != 0 or not lines:
            print(f"{size}: failed\n{result.stderr[-3000:]}", flush=True)
            continue
        row = json.loads(lines[-1]) | {"machine": cpu_name()}
        print(json.dumps(row), flush=True)
        with out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
