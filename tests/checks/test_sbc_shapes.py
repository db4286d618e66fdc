"""SBC of the model shapes of ModelSpec on the integrated path (issue 22): two tiny dual-rater
studies cover every option, no therapist slopes with piecewise time, and independent effects
with quadratic time and a time-varying covariate (its within and between parts). Quantities the
shape fixes (an SD of 0, a correlation of 0) are not ranked."""

from __future__ import annotations

import pytest

import alliance_bayes as ab
from alliance_bayes.checks.sbc import run_sbc

SMALL = {"draws": 100, "tune": 200, "chains": 2, "progress": False, "workers": 1}
N_SIMS = 30
SHAPED = {
    "no_slopes_piecewise": {"therapist_slopes": False, "time_shape": "piecewise", "knot": 2.0},
    "independent_quadratic": {"correlated": False, "time_shape": "quadratic"},
}
SYMPTOMS = ab.CovariateDesign(names=["symptoms"])


def tiny_design(**options) -> ab.Design:
    return ab.Design(
        n_therapists=8,
        patients_per_therapist=3,
        sessions=[1.0, 2.0, 4.0, 6.0],
        raters=["patient", "therapist"],
        scale=[1.0, 7.0],
        **options,
    )


@pytest.mark.slow
@pytest.mark.parametrize("shape", list(SHAPED))
def test_sbc_of_each_model_shape_passes(tmp_path, shape):
    spec = ab.ModelSpec(name=shape, **SHAPED[shape])
    varying = SHAPED[shape].get("time_shape") == "quadratic"
    design = tiny_design(session_covariates=SYMPTOMS) if varying else tiny_design()
    result = run_sbc(spec, design, N_SIMS, store=tmp_path, random_seed=7, **SMALL)
    table = result.test()
    quantities = set(table["quantity"])
    assert len(result.frame.drop_duplicates("job")) == N_SIMS
    assert any(q.startswith("session_coef[") for q in quantities), quantities
    if "therapist_slopes" in SHAPED[shape]:  # the growth SDs are 0 by the model: not ranked
        assert "therapist_sd[patient:growth]" not in quantities
        assert "therapist_sd[patient:level]" in quantities
    else:
        assert not any("corr" in q for q in quantities), quantities
        assert "session_coef[patient, symptoms (within)]" in quantities, quantities
        assert "patient_level_coef[patient, symptoms (between)]" in quantities, quantities
    assert not table["flagged"].any(), table
