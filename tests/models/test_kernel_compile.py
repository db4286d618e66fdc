"""What the integrated-likelihood kernel compiles (issue 20, cold start): the effect draws reuse
the stages the log-density compiled, rather than compiling them again for other argument types."""

from __future__ import annotations

import numpy as np

from alliance_bayes.models import _marginal_numba
from alliance_bayes.models._marginal import design_patterns, rating_sums
from alliance_bayes.models._marginal_kernel import conditional_effect_draws, kernel


def test_effect_draws_reuse_the_stages_the_log_density_compiled():
    rng = np.random.default_rng(0)
    patient = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    time = np.array([0.0, 0.5, 1.0, 0.0, 1.0, 0.0, 0.5, 1.0])
    rater = np.zeros(len(patient), dtype=int)
    sums = rating_sums(rng.normal(5, 0.5, len(patient)), time, rater, patient, 3, 1)
    patterns = design_patterns(sums).astype(np.int64)
    therapist_of = np.array([0, 0, 1], dtype=np.int64)
    level, growth, sigma = np.full((3, 1), 5.0), np.zeros((3, 1)), np.array([0.4])
    cov_p = np.array([[0.3, -0.03], [-0.03, 0.1]])
    cov_t = np.array([[0.2, 0.02], [0.02, 0.05]])
    model_sums = sums.copy()
    model_sums.flags.writeable = False  # as nutpie hands the model's data to the log-density
    value = kernel(2)(
        model_sums,
        level,
        growth,
        sigma,
        np.linalg.cholesky(cov_p),
        therapist_of,
        patterns,
        np.asarray(2, dtype=np.int64),
        np.linalg.cholesky(cov_t),
    )[0]
    assert np.isfinite(value)
    _, _, integrals = _marginal_numba.stages(2)
    shared = (integrals.patterns, integrals.patients, integrals.therapists)
    compiled = [set(stage.signatures) for stage in shared]
    therapist_effect, patient_effect = conditional_effect_draws(
        level[None],
        growth[None],
        sigma[None],
        sums,  # writable, as fit passes them
        patterns,
        (therapist_of, 2, cov_t[None]),
        cov_p[None],
        rng,
    )
    assert therapist_effect.shape == (1, 2, 2) and patient_effect.shape == (1, 3, 2)
    assert [set(stage.signatures) for stage in shared] == compiled
