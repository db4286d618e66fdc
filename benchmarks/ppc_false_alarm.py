"""False-alarm rate of the default posterior predictive statistics on data from the model.

Run: python benchmarks/ppc_false_alarm.py [--n 40] [--seed 2000]
Simulates ``n`` data sets from the tiny test design at the tests' TINY_TRUTH (as
tests/conftest.py does, one compiled model for all), fits each with the tests' FIT_SETTINGS, and
records every default statistic's p-value. A false alarm is a data set on which any of the 30
p-values leaves (0.01, 0.99): the event tests/checks/test_ppc.py asserts does not happen on the
seed-101 data set. Results (rate, its 95 % Clopper-Pearson interval, and the rate per statistic)
go to benchmarks/results/ppc_false_alarm.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import alliance_bayes as ab

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from conftest import FIT_SETTINGS, TINY_TRUTH, tiny_design  # noqa: E402

LOW, HIGH = 0.01, 0.99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2000)
    args = parser.parse_args()
    planned = ab.growth_model(tiny_design().to_data(random_seed=1))
    tables = []
    start = time.perf_counter()
    for s in range(args.n):
        seed = args.seed + s
        data = ab.simulate(planned, TINY_TRUTH, random_seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = ab.fit(ab.growth_model(data), random_seed=seed, **FIT_SETTINGS)
        table = ab.ppc_statistics(idata, random_seed=seed)
        table["dataset"] = s
        tables.append(table)
        outside = table[~table["p_value"].between(LOW, HIGH)]
        print(f"{s:3d}: {len(outside)} outside", ", ".join(outside["statistic"]), flush=True)
    seconds = time.perf_counter() - start
    every = pd.concat(tables, ignore_index=True)
    every["alarm"] = ~every["p_value"].between(LOW, HIGH)
    per_set = every.groupby("dataset")["alarm"].any()
    alarms = int(per_set.sum())
    interval = stats.binomtest(alarms, args.n).proportion_ci(0.95, method="exact")
    per_statistic = every.groupby(["statistic", "rater"], sort=False)["alarm"].mean()
    result = {
        "benchmark": "ppc_false_alarm",
        "n_datasets": args.n,
        "seed": args.seed,
        "fit_settings": FIT_SETTINGS,
        "bounds": [LOW, HIGH],
        "statistics_per_dataset": int(len(every) / args.n),
        "datasets_with_an_alarm": alarms,
        "false_alarm_rate": alarms / args.n,
        "rate_95ci": [interval.low, interval.high],
        "alarms_per_statistic": {
            f"{k[0]} [{k[1]}]": float(v) for k, v in per_statistic.items() if v > 0
        },
        "p_value_quantiles": dict(
            zip(
                ["q01", "q10", "q50", "q90", "q99"],
                np.quantile(every["p_value"].dropna(), [0.01, 0.1, 0.5, 0.9, 0.99]).tolist(),
                strict=True,
            )
        ),
        "seconds": round(seconds, 1),
        "versions": {"alliance_bayes": ab.__version__},
    }
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / "ppc_false_alarm.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
