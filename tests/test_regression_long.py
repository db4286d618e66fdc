"""The therapist regression from long data: one score per therapist by a rule or a function."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import alliance_bayes as ab
from alliance_bayes.aggregate import parse_rule, therapist_scores
from alliance_bayes.errors import DataValidationError, DataWarning
from alliance_bayes.models import therapist_regression
from alliance_bayes.models._info import structure_key
from conftest import TINY_TRUTH, tiny_design


def long_frame() -> pd.DataFrame:
    """Three therapists, two clients each (T3's second client has no session 3), two raters."""
    rows = [
        # therapist, client, session, rater, wai
        ("T1", "c1", 3, "client", 5.0),
        ("T1", "c1", 12, "client", 6.0),
        ("T1", "c1", 3, "clinician", 4.0),
        ("T1", "c2", 3, "client", 4.0),
        ("T1", "c2", 12, "client", 5.5),
        ("T2", "c3", 3, "client", 3.0),
        ("T2", "c3", 3, "clinician", 3.5),
        ("T2", "c4", 3, "client", 6.0),
        ("T2", "c4", 12, "client", 6.5),
        ("T3", "c5", 12, "client", 2.0),
        ("T3", "c5", 12, "clinician", 2.5),
        ("T3", "c6", 12, "client", 7.0),
    ]
    frame = pd.DataFrame(rows, columns=["therapist", "client", "session", "rater", "wai"])
    fmi = {"T1": 10.0, "T2": 20.0, "T3": 60.0}
    burdens = {"T1": 1.0, "T2": 3.0, "T3": np.nan}
    frame["fmi"] = frame["therapist"].map(fmi)
    frame["burdens"] = frame["therapist"].map(burdens)
    return frame


def long_data(**options) -> ab.AllianceData:
    return ab.AllianceData.from_frame(
        long_frame(),
        therapist="therapist",
        patient="client",
        score="wai",
        time="session",
        rater="rater",
        rater_roles={"client": "patient", "clinician": "therapist"},
        therapist_covariates=["fmi", "burdens"],
        scale=(1, 7),
        **options,
    )


@pytest.fixture(scope="module")
def data() -> ab.AllianceData:
    return long_data()


# ---------------------------------------------------------------------------- the rule
@pytest.mark.parametrize(
    ("rule", "parsed"),
    [
        ("mean", ("mean", None, None)),
        ("mean of patient-rated at session 3", ("mean", "patient", 3.0)),
        ("  MEDIAN of clinician-rated ", ("median", "clinician", None)),
        ("mean of client ratings at session 12.5", ("mean", "client", 12.5)),
        ("median at session 20", ("median", None, 20.0)),
    ],
)
def test_rules_parse(rule, parsed):
    assert tuple(parse_rule(rule).values()) == parsed


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("average of patient-rated", "unknown statistic 'average'"),
        ("mean of patient-rated at session three", "is not a rule"),
        ("mean for patients", "is not a rule"),
        ("", "is not a rule"),
    ],
)
def test_bad_rules_are_refused_with_the_grammar(data, rule, message):
    with pytest.raises(DataValidationError, match=message) as error:
        therapist_scores(data, rule)
    assert "'<statistic> [of <rater>-rated] [at session <k>]'" in str(error.value)


# ---------------------------------------------------------------------------- exact scores
def test_mean_of_patient_rated_at_a_session_by_role(data):
    """'patient' is the role of the label 'client'; T3 has no session 3 and is left out."""
    with pytest.warns(DataWarning, match=r"therapists 'T3' have no rating by this rule.*2 of 3"):
        scores = therapist_scores(data, "mean of patient-rated at session 3")
    assert list(scores.therapist_labels) == ["T1", "T2"]
    np.testing.assert_array_equal(scores.score, [4.5, 4.5])  # (5 + 4) / 2, (3 + 6) / 2
    assert scores.rater_labels == ("client",)
    assert dict(scores.rater_roles) == {"client": "patient"}
    np.testing.assert_array_equal(scores.session, [3.0, 3.0])


def test_statistics_over_every_session_and_by_label(data):
    means = therapist_scores(data, "mean of client-rated")
    np.testing.assert_allclose(means.score, [20.5 / 4, 15.5 / 3, 4.5])
    medians = therapist_scores(data, "median", rater="client")
    np.testing.assert_array_equal(medians.score, [5.25, 6.0, 4.5])
    clinician = therapist_scores(data, "mean", rater="therapist", session=3)  # a role
    assert clinician.rater_labels == ("clinician",)


def test_keywords_equal_the_rule(data):
    with pytest.warns(DataWarning):
        by_rule = therapist_scores(data, "median of therapist-rated at session 3")
        by_keywords = therapist_scores(data, "median", rater="clinician", session=3)
    assert by_rule.fingerprint() == by_keywords.fingerprint()


def test_a_function_sees_one_therapists_observed_ratings(data):
    seen = []

    def last_client_rating(ratings: pd.DataFrame) -> float:
        seen.append(ratings)
        client = ratings[ratings["rater"] == "client"]
        return client.sort_values("session")["alliance"].iloc[-1]

    scores = therapist_scores(data, last_client_rating)
    assert [frame["therapist"].iloc[0] for frame in seen] == ["T1", "T2", "T3"]
    assert list(seen[0].columns) == ["therapist", "patient", "rater", "session", "time", "alliance"]
    assert len(seen[0]) == 5 and seen[0].index.tolist() == list(range(5))
    np.testing.assert_array_equal(scores.score, [5.5, 6.5, 7.0])
    assert scores.rater_labels == ("rating",)


def test_a_function_returning_nan_leaves_the_therapist_out(data):
    with pytest.warns(DataWarning, match="'T3'"):
        scores = therapist_scores(data, lambda f: np.nan if f["therapist"].iloc[0] == "T3" else 1)
    assert list(scores.therapist_labels) == ["T1", "T2"]


def test_covariates_are_kept_on_their_scale_and_standardised_again(data):
    with pytest.warns(DataWarning):
        scores = therapist_scores(data, "mean of client-rated at session 3")
    covariates = scores.therapist_covariates
    assert covariates.names == ("fmi", "burdens")
    np.testing.assert_allclose(covariates.raw, [[10.0, 1.0], [20.0, 3.0]])
    np.testing.assert_allclose(covariates.mean[0], 15.0)  # over the two kept therapists
    np.testing.assert_allclose(covariates.values[:, 0], [-1 / np.sqrt(2), 1 / np.sqrt(2)])
    assert scores.scale == (1, 7)
    assert scores.patient_covariates.names == ()
    frame = scores.to_frame()
    assert list(frame["therapist"]) == ["T1", "T2"] and list(frame["client"]) == ["T1", "T2"]
    everyone = therapist_scores(data, "mean of client-rated").therapist_covariates
    np.testing.assert_array_equal(everyone.raw[:, 1], [1.0, 3.0, np.nan])  # imputed by the model


# ---------------------------------------------------------------------------- bad inputs
def test_two_raters_need_a_rater_for_a_named_statistic(data):
    with pytest.raises(
        DataValidationError,
        match=r"column 'rater': the data have two raters \('client', 'clinician'\); say whose.*"
        "'mean of client-rated'",
    ):
        therapist_scores(data, "mean at session 3")


def test_an_unknown_rater_is_refused_naming_raters_and_roles(data):
    with pytest.raises(
        DataValidationError,
        match=r"column 'rater': no rater 'patients'; the raters are 'client', 'clinician' "
        r"\(roles \{'client': 'patient', 'clinician': 'therapist'\}\)",
    ):
        therapist_scores(data, "mean of patients-rated")


def test_a_session_without_ratings_is_refused_naming_the_sessions(data):
    with pytest.raises(
        DataValidationError,
        match=r"column 'session': no observed rating by 'clinician' at session 20; sessions "
        r"with ratings: 3.0, 12.0",
    ):
        therapist_scores(data, "mean of clinician-rated at session 20")


def test_a_function_must_return_a_number(data):
    with pytest.raises(
        DataValidationError, match=r"returned 'high' for therapist 'T1'; it must return one number"
    ):
        therapist_scores(data, lambda f: "high")
    with pytest.raises(DataValidationError, match="returned inf for therapist 'T1'"):
        therapist_scores(data, lambda f: np.inf)


def test_a_rule_with_keywords_is_refused(data):
    with pytest.raises(DataValidationError, match="with rater= or session="):
        therapist_scores(data, "mean of client-rated", session=3)


def test_data_without_an_outcome_are_refused():
    planned = ab.Design(n_therapists=3, patients_per_therapist=2, sessions=[1, 2]).to_data(
        random_seed=1
    )
    with pytest.raises(DataValidationError, match="column 'alliance' holds no alliance score"):
        therapist_scores(planned, "mean at session 1")


def test_no_therapist_left_is_refused(data):
    with pytest.raises(DataValidationError, match="no therapist has a score"):
        therapist_scores(data, lambda f: np.nan)


# ---------------------------------------------------------------------------- the regression
def test_long_data_without_aggregate_are_refused_with_a_hint(data):
    with pytest.raises(
        DataValidationError,
        match=r"column 'therapist': the therapist regression needs exactly one alliance score "
        r"per therapist; therapists 'T1', 'T2', 'T3' have 5, 4, 3 \(pass aggregate=, e\.g\. "
        r"aggregate='mean of client-rated at session 3', or a function",
    ):
        therapist_regression(data)


def test_regression_from_long_data_equals_the_hand_aggregated_one(data):
    """The aggregated data and the hand-made one-row-per-therapist frame give one model."""
    model = therapist_regression(data, aggregate="mean of client-rated", covariates=["fmi"])
    by_hand = ab.AllianceData.from_frame(
        pd.DataFrame(
            {
                "therapist": ["T1", "T2", "T3"],
                "client": ["T1", "T2", "T3"],
                "session": 1.0,
                "wai": [20.5 / 4, 15.5 / 3, 4.5],
                "fmi": [10.0, 20.0, 60.0],
            }
        ),
        therapist="therapist",
        patient="client",
        score="wai",
        time="session",
        therapist_covariates=["fmi"],
        scale=(1, 7),
    )
    reference = therapist_regression(by_hand, covariates=["fmi"])
    point = {"intercept": 4.2, "coef": np.array([0.3]), "sigma_log__": np.log(0.8)}
    assert model.compile_logp()(point) == pytest.approx(reference.compile_logp()(point))
    assert list(model.coords["obs"]) == ["T1", "T2", "T3"]
    assert structure_key(model) == structure_key(reference)


def test_patient_and_therapist_rated_regressions_share_one_compiled_structure(data):
    """The scale of the long data is kept, so the default priors (which are compiled into the
    model) do not move with the scores, and a second aggregation compiles nothing new."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        patient = therapist_regression(data, aggregate="mean of patient-rated at session 12")
        therapist = therapist_regression(data, aggregate="mean of therapist-rated")
    assert structure_key(patient) == structure_key(therapist)
    assert not np.array_equal(
        patient["alliance_observed"].get_value(), therapist["alliance_observed"].get_value()
    )


def test_a_covariate_left_without_spread_by_the_rule_is_refused(data):
    with pytest.raises(
        DataValidationError,
        match=r"covariate 'fmi' has zero variance \(all observed values equal 60.0\); it cannot "
        r"be standardised or estimated among the 1 therapists with a score by this rule\.",
    ):
        with pytest.warns(DataWarning):
            therapist_scores(data, "mean of clinician-rated at session 12")


@pytest.mark.slow
def test_a_regression_from_long_data_fits():
    """Fit end to end (tiny: 40 therapists, 2 chains of 100 draws)."""
    design = dataclasses.replace(tiny_design(), n_therapists=40)
    long = ab.simulate(ab.growth_model(design.to_data(random_seed=1)), TINY_TRUTH, random_seed=2)
    model = therapist_regression(long, aggregate="mean of patient-rated at session 8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = ab.fit(model, draws=100, tune=100, chains=2, random_seed=3, progressbar=False)
    assert idata.posterior["coef"].shape == (2, 100, 1)
    assert set(idata.posterior.data_vars) >= {"intercept", "coef", "sigma", "r2", "coef_std"}
    assert idata.observed_data["alliance"].size == 40
    assert list(idata.posterior["coef"].coords["therapist_covariate"].values) == ["burdens"]
