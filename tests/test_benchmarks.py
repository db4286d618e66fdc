"""The competitor benchmark's smoke configuration runs, so the full (manual) suite cannot rot."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "competitors.py"
SAMPLED = ("alliance_bayes", "pymc_nuts", "bambi")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("competitors")
    subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out)], check=True)
    report = json.loads((out / "competitors_smoke.json").read_text())
    return report, (out / "competitors_smoke.md").read_text()


@pytest.mark.slow
def test_every_competitor_reports_its_figures(smoke):
    report, _ = smoke
    rows = {row["competitor"]: row for row in report["rows"]}
    assert set(rows) == {*SAMPLED, "mixedlm"}
    for name in SAMPLED:
        row = rows[name]
        for key in ("compile_s", "sample_s", "min_bulk_ess", "ess_per_s", "max_r_hat"):
            assert math.isfinite(row[key]) and row[key] > 0, (name, key, row[key])
        assert row["divergences"] >= 0
        assert len(row["means"]) == 11  # every shared parameter found under its name
    assert rows["alliance_bayes"]["ours_over_this_ess_per_s"] == 1.0
    assert rows["mixedlm"]["converged"] in (True, False)
    assert report["machine"]["versions"]["bambi"].startswith("0.17")


@pytest.mark.slow
def test_markdown_table_names_machine_and_competitors(smoke):
    report, text = smoke
    assert report["machine"]["cpu"] in text
    for name in (*SAMPLED, "mixedlm"):
        assert f"| {name} |" in text
    assert "time\\|therapist_sigma" in text  # pipes in bambi's names do not break the table


@pytest.mark.slow
def test_competitors_agree_on_the_fixed_effects(smoke):
    """Same data, same model: posterior means of the fixed effects within 0.3 of MixedLM's."""
    report, _ = smoke
    rows = {row["competitor"]: row for row in report["rows"]}
    reference = rows["mixedlm"]["means"]
    for name in SAMPLED:
        for label in ("Intercept", "time", "burdens", "satisfactions"):
            assert abs(rows[name]["means"][label] - reference[label]) < 0.3, (name, label)
