"""simulate(model, truth): the model's own graph at fixed parameters, checked in distribution
against a short independent numpy generator, plus the errors, missingness and determinism of
simulate and the shipped truths. No sampling: each model is drawn from with pm.draw only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from scipy import stats

from alliance_bayes import CovariateDesign, Design, Truth, growth_model, simulate
from alliance_bayes.data import AllianceData
from alliance_bayes.models import therapist_regression
from alliance_bayes.simulate import packed_cholesky

# ------------------------------------------------------------------------------ the generator

RATERS = ("patient", "therapist")
COMPONENTS = ["patient:level", "patient:growth", "therapist:level", "therapist:growth"]
TRUTH: dict[str, Any] = {
    "level": {"patient": 5.3, "therapist": 5.0},
    "growth": {"patient": 0.10, "therapist": 0.20},
    "level_coef": {"patient": {"burdens": 0.10}, "therapist": {"burdens": -0.20}},
    "growth_coef": {"patient": {"burdens": -0.05}, "therapist": {"burdens": 0.03}},
    "sigma": {"patient": 0.33, "therapist": 0.40},
    "patient_sd": dict(zip(COMPONENTS, [0.6, 0.15, 0.5, 0.2], strict=True)),
    "therapist_sd": dict(zip(COMPONENTS, [0.3, 0.1, 0.4, 0.05], strict=True)),
    "patient_corr": {
        "patient:level ~ patient:growth": -0.3,
        "therapist:level ~ therapist:growth": -0.3,
        "patient:level ~ therapist:level": 0.4,
    },
    "therapist_corr": {
        "patient:level ~ patient:growth": -0.3,
        "therapist:level ~ therapist:growth": -0.2,
        "patient:level ~ therapist:level": 0.3,
    },
}


def corr_from_pairs(pairs: dict[str, float]) -> np.ndarray:
    corr = np.eye(len(COMPONENTS))
    for pair, r in pairs.items():
        i, j = (COMPONENTS.index(part.strip()) for part in pair.split("~"))
        corr[i, j] = corr[j, i] = r
    return corr


def numpy_generator(
    data: AllianceData, truth: dict[str, Any], rng: np.random.Generator, bug: str | None = None
) -> np.ndarray:
    """The dual-rater growth model written out independently of PyMC; one outcome per row.

    ``bug`` plants a mistake: ``"sd_as_variance"`` (patient SDs squared) or ``"sigma_doubled"``.
    """
    covariate = data.therapist_covariates.names[0]
    level = np.array([truth["level"][r] for r in RATERS])
    growth = np.array([truth["growth"][r] for r in RATERS])
    level_coef = np.array([truth["level_coef"][r][covariate] for r in RATERS])
    growth_coef = np.array([truth["growth_coef"][r][covariate] for r in RATERS])
    sigma = np.array([truth["sigma"][r] for r in RATERS]) * (2 if bug == "sigma_doubled" else 1)
    sd_t = np.array([truth["therapist_sd"][c] for c in COMPONENTS])
    sd_p = np.array([truth["patient_sd"][c] for c in COMPONENTS])
    sd_p = sd_p**2 if bug == "sd_as_variance" else sd_p
    cov_t = np.diag(sd_t) @ corr_from_pairs(truth["therapist_corr"]) @ np.diag(sd_t)
    cov_p = np.diag(sd_p) @ corr_from_pairs(truth["patient_corr"]) @ np.diag(sd_p)
    a = rng.multivariate_normal(np.zeros(4), cov_t, size=data.n_therapists)
    b = rng.multivariate_normal(np.zeros(4), cov_p, size=data.n_patients)
    p, r, x = data.obs_patient, data.obs_rater, data.time
    t = data.patient_therapist[p]
    z = data.therapist_covariates.values[t, 0]
    mu = level[r] + growth[r] * x + z * (level_coef[r] + growth_coef[r] * x)
    mu += a[t, 2 * r] + a[t, 2 * r + 1] * x + b[p, 2 * r] + b[p, 2 * r + 1] * x
    return mu + sigma[r] * rng.standard_normal(len(x))


# ------------------------------------------------------------------------------ statistics


def statistics(data: AllianceData, y: np.ndarray) -> dict[str, np.ndarray]:
    """Summaries with one independent value per therapist (so that KS's iid assumption holds).

    Patient-level summaries use each therapist's first patient only: patients of one therapist
    share its effects, so pooling them would make the KS p-values too small.
    """
    sessions = np.unique(data.session)
    cube = np.full((data.n_patients, len(sessions), data.n_raters), np.nan)
    cube[data.obs_patient, np.searchsorted(sessions, data.session), data.obs_rater] = y
    first = np.unique(data.patient_therapist, return_index=True)[1]
    one = cube[first]
    out = {}
    for j, session in enumerate(sessions):
        for r, rater in enumerate(data.rater_labels):
            out[f"y[session {session:g}, {rater}]"] = one[:, j, r]
    for r, rater in enumerate(data.rater_labels):
        out[f"last - first [{rater}]"] = one[:, -1, r] - one[:, 0, r]
    out["patient + therapist rating, first session"] = one[:, 0, 0] + one[:, 0, 1]
    n_per_therapist = np.bincount(data.patient_therapist, minlength=data.n_therapists)
    for r, rater in enumerate(data.rater_labels):
        per_patient = cube[:, :, r].mean(axis=1)
        total = np.bincount(data.patient_therapist, weights=per_patient)
        out[f"therapist mean [{rater}]"] = total / n_per_therapist
    return out


def ks_pvalues(sample: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(stats.ks_2samp(sample[k], reference[k]).pvalue) for k in sample}


# One draw of a large design; the numpy reference is REFERENCE_REPLICATES draws of the same design
# (same covariate values), pooled. 13 KS tests, each at ALPHA: family-wise false-alarm rate
# <= 13 * 0.001 = 1.3 % (Bonferroni), and the seeds are fixed, so the outcome is reproducible.
# 1000 therapists x 2 patients (16 000 rows) rather than 150 x 4: with one independent patient
# per therapist, 150 values per statistic did not detect an SD used as a variance (0 of 20
# seeds in a trial run), 1000 do (20 of 20); pm.draw on 16 000 rows is fast.
ALPHA = 0.001
REFERENCE_REPLICATES = 10
N_STATISTICS = 13


@pytest.fixture(scope="module")
def big_design_data() -> AllianceData:
    design = Design(
        n_therapists=1000,
        patients_per_therapist=2,
        sessions=[1, 2, 4, 8],
        raters=list(RATERS),
        therapist_covariates=CovariateDesign(names=["burdens"]),
        scale=[1, 7],
    )
    return design.to_data(random_seed=20240601)


@pytest.fixture(scope="module")
def simulated(big_design_data) -> AllianceData:
    return simulate(growth_model(big_design_data), TRUTH, random_seed=7)


def reference(data: AllianceData, bug: str | None, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    draws = [
        statistics(data, numpy_generator(data, TRUTH, rng, bug))
        for _ in range(REFERENCE_REPLICATES)
    ]
    return {k: np.concatenate([d[k] for d in draws]) for k in draws[0]}


def test_simulated_data_are_complete_without_dropout(simulated, big_design_data):
    assert big_design_data.planned_missing is not None
    assert not big_design_data.planned_missing.any()
    assert np.isfinite(simulated.score).all()
    assert simulated.n_obs == 1000 * 2 * 4 * 2


def test_simulate_agrees_with_numpy_generator_in_distribution(simulated):
    """Declared false-alarm rate: each of the 13 KS tests at alpha = 0.001, family-wise <= 1.3 %."""
    sample = statistics(simulated, simulated.score)
    assert len(sample) == N_STATISTICS
    pvalues = ks_pvalues(sample, reference(simulated, bug=None, seed=101))
    flagged = {k: p for k, p in pvalues.items() if p < ALPHA}
    assert not flagged, f"simulate and the numpy generator differ: {flagged}"


@pytest.mark.parametrize("bug", ["sd_as_variance", "sigma_doubled"])
def test_the_comparison_flags_a_planted_bug(simulated, bug):
    """The same comparison, at the same threshold, against a generator with a planted bug."""
    sample = statistics(simulated, simulated.score)
    pvalues = ks_pvalues(sample, reference(simulated, bug=bug, seed=202))
    assert min(pvalues.values()) < ALPHA, f"planted bug {bug!r} not flagged: {pvalues}"


def test_true_effects_are_the_ones_that_made_the_outcome(simulated):
    """Given the returned true effects, the residuals are iid Normal(0, sigma[r]).

    One KS test per rater at alpha = 0.001 (family-wise <= 0.2 %). Effects drawn separately
    from the outcome would leave residuals with SD > 0.6.
    """
    data, truth = simulated, simulated.truth
    p, r, x = data.obs_patient, data.obs_rater, data.time
    t = data.patient_therapist[p]
    z = data.therapist_covariates.values[t, 0]
    a, b = truth["therapist_effect"], truth["patient_effect"]
    mu = truth["level"][r] + truth["growth"][r] * x
    mu += z * (truth["level_coef"][r, 0] + truth["growth_coef"][r, 0] * x)
    mu += a[t, 2 * r] + a[t, 2 * r + 1] * x + b[p, 2 * r] + b[p, 2 * r + 1] * x
    for k, rater in enumerate(RATERS):
        standardised = (data.score - mu)[r == k] / TRUTH["sigma"][rater]
        assert stats.kstest(standardised, "norm").pvalue > ALPHA


def test_truth_arrays_follow_the_model_coords(simulated):
    truth = simulated.truth
    np.testing.assert_array_equal(truth["level"], [5.3, 5.0])
    np.testing.assert_array_equal(truth["level_coef"], [[0.10], [-0.20]])
    np.testing.assert_array_equal(truth["patient_sd"], [0.6, 0.15, 0.5, 0.2])
    np.testing.assert_array_equal(truth["therapist_corr"], corr_from_pairs(TRUTH["therapist_corr"]))
    assert truth["therapist_effect"].shape == (1000, 4)
    assert truth["patient_effect"].shape == (2000, 4)


def test_packed_cholesky_is_the_factor_of_the_covariance():
    sd = np.array([0.6, 0.15, 0.5, 0.2])
    corr = corr_from_pairs(TRUTH["patient_corr"])
    packed = packed_cholesky(sd, corr)
    assert packed.shape == (10,)
    lower = np.zeros((4, 4))
    lower[np.tril_indices(4)] = packed  # row-major, as pm.expand_packed_triangular reads it
    np.testing.assert_allclose(lower @ lower.T, np.diag(sd) @ corr @ np.diag(sd), atol=1e-12)


# ------------------------------------------------------------------------------ simulate's contract


@pytest.fixture(scope="module")
def nissen_lie_model():
    return growth_model(Design.nissen_lie_2013().to_data(random_seed=1))


@pytest.fixture(scope="module")
def nissen_lie_data(nissen_lie_model) -> AllianceData:
    return simulate(nissen_lie_model, Truth.nissen_lie_2013(), random_seed=3)


def test_unknown_truth_key_raises_key_error_naming_it(nissen_lie_model):
    values = Truth.nissen_lie_2013().values | {"levle": 5.0}
    with pytest.raises(KeyError, match="levle"):
        simulate(nissen_lie_model, values, random_seed=1)


def test_missing_truth_key_raises_key_error_naming_it(nissen_lie_model):
    values = dict(Truth.nissen_lie_2013().values)
    del values["patient_sd"]
    with pytest.raises(KeyError, match="patient_sd"):
        simulate(nissen_lie_model, Truth(values), random_seed=1)


def test_missing_truth_label_raises_key_error_naming_it(nissen_lie_model):
    values = dict(Truth.nissen_lie_2013().values)
    values["level"] = {"patient": 5.3}
    with pytest.raises(KeyError, match="therapist"):
        simulate(nissen_lie_model, values, random_seed=1)


def test_design_missingness_is_nan_after_simulate(nissen_lie_data):
    planned = nissen_lie_data.planned_missing
    assert planned is not None and planned.sum() > 0
    assert np.isnan(nissen_lie_data.score).sum() == planned.sum()
    np.testing.assert_array_equal(np.isnan(nissen_lie_data.score), planned)


def test_same_seed_gives_identical_data(nissen_lie_model, nissen_lie_data):
    again = simulate(nissen_lie_model, Truth.nissen_lie_2013(), random_seed=3)
    np.testing.assert_array_equal(again.score, nissen_lie_data.score)
    np.testing.assert_array_equal(
        again.truth["patient_effect"], nissen_lie_data.truth["patient_effect"]
    )
    other = simulate(nissen_lie_model, Truth.nissen_lie_2013(), random_seed=4)
    assert not np.allclose(other.score, nissen_lie_data.score, equal_nan=True)


def test_nissen_lie_truth_is_attached_with_the_right_shapes(nissen_lie_data):
    truth = nissen_lie_data.truth
    assert truth["therapist_effect"].shape == (70, 4)
    assert truth["patient_effect"].shape == (227, 4)
    np.testing.assert_allclose(truth["level"], [5.3, 5.0])
    np.testing.assert_allclose(truth["growth"], [0.10, 0.10])
    # rows: rater (patient, therapist); columns: burdens, satisfactions, mindfulness
    np.testing.assert_allclose(truth["growth_coef"], [[-0.03, 0, 0], [0, 0.03, 0]])
    np.testing.assert_allclose(truth["level_coef"], [[0, 0, 0], [0, 0, 0.10]])
    np.testing.assert_allclose(truth["therapist_sd"], [0.14, 0.05, 0.33, 0.05])


def test_simulated_data_refit_shape(nissen_lie_data):
    """The simulated data build a model whose likelihood holds exactly the observed rows."""
    model = growth_model(nissen_lie_data)
    observed = int(np.isfinite(nissen_lie_data.score).sum())
    assert len(model.coords["obs"]) == observed
    assert np.isfinite(model["alliance_observed"].get_value()).all()


def test_simulate_keeps_the_datas_own_missing_outcomes_and_imputes_covariates():
    """On data with an outcome, rows without one stay missing; latent covariates are drawn."""
    data = Design(
        n_therapists=4,
        patients_per_therapist=2,
        sessions=[1, 4],
        raters=["patient"],
        therapist_covariates=CovariateDesign(names=["burdens"]),
        scale=[1, 7],
    ).to_data(random_seed=2)
    covariates = data.therapist_covariates.values.copy()
    covariates[1, 0] = np.nan
    score = np.linspace(3, 6, data.n_obs)
    score[[0, 5]] = np.nan
    data = dataclasses.replace(
        data,
        score=score,
        planned_missing=None,
        therapist_covariates=dataclasses.replace(data.therapist_covariates, values=covariates),
    )
    truth = {
        "level": 5.0,
        "growth": 0.1,
        "level_coef": 0.1,
        "growth_coef": 0.0,
        "sigma": 0.3,
        "patient_sd": {"patient:level": 0.5, "patient:growth": 0.1},
        "therapist_sd": {"patient:level": 0.2, "patient:growth": 0.05},
        "patient_corr": {},
        "therapist_corr": {},
    }
    out = simulate(growth_model(data), truth, random_seed=1)
    np.testing.assert_array_equal(np.isnan(out.score), np.isnan(score))
    assert out.truth["therapist_covariate_missing"].shape == (1,)
    assert np.isfinite(out.truth["therapist_covariate_missing"]).all()


def test_regression_simulates_with_the_razzaque_truth():
    data = Design.razzaque_2015().to_data(random_seed=1)
    out = simulate(therapist_regression(data), Truth.razzaque_2015(), random_seed=5)
    assert out.n_obs == 76 and np.isfinite(out.score).all()
    np.testing.assert_allclose(out.truth["coef"], [0.15, 0.10, 0.05, 0.10])
    assert float(out.truth["intercept"]) == 5.2
    # residuals around the true regression line have SD close to sigma = 0.45
    z = out.therapist_covariates.values[out.obs_therapist]
    residual = out.score - 5.2 - z @ out.truth["coef"]
    assert stats.kstest(residual / 0.45, "norm").pvalue > ALPHA


# ------------------------------------------------------------------------------ truth in TOML
@pytest.mark.parametrize(
    "truth",
    [Truth.nissen_lie_2013(), Truth.razzaque_2015(), Truth(TRUTH)],
    ids=["nissen_lie_2013", "razzaque_2015", "test_truth"],
)
def test_truth_round_trips_through_toml_text_and_file(truth, tmp_path):
    assert Truth.from_toml(truth.to_toml()) == truth
    path = tmp_path / "truth.toml"
    truth.to_toml(path)
    assert Truth.from_toml(path) == truth


def test_truth_toml_holds_numpy_values_as_plain_numbers():
    truth = Truth({"sigma": np.float64(0.5), "therapist_corr": np.eye(2)})
    again = Truth.from_toml(truth.to_toml())
    assert again.values == {"sigma": 0.5, "therapist_corr": [[1.0, 0.0], [0.0, 1.0]]}


def test_truth_toml_without_a_truth_table_is_read_at_top_level():
    assert Truth.from_toml("intercept = 5.2\nsigma = 0.45\n").values == {
        "intercept": 5.2,
        "sigma": 0.45,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[truth]\nsigmaa = 0.3\n", r"unknown truth names \['sigmaa'\]"),
        ('[truth]\nsigma = "0.3"\n', r"truth 'sigma' must hold numbers only, got '0.3'"),
        ("[truth.level]\npatient = true\n", r"truth 'level' must hold numbers only, got True"),
    ],
)
def test_truth_toml_refuses_unknown_names_and_values_that_are_not_numbers(text, message):
    with pytest.raises(ValueError, match=message):
        Truth.from_toml(text)


def test_truth_preset_names_are_the_presets():
    for name in Truth.preset_names():
        assert Truth.preset(name) == getattr(Truth, name)()
    with pytest.raises(KeyError, match="presets: \\['nissen_lie_2013', 'razzaque_2015'\\]"):
        Truth.preset("nissen_lie_2031")
