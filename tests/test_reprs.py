"""Rich Jupyter views (issue 23, item 6): the HTML holds the right numbers and escapes labels."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from alliance_bayes import AllianceData, fit_card
from alliance_bayes.checks.power import PowerResult
from alliance_bayes.checks.recovery import RecoveryResult
from alliance_bayes.checks.sbc import SBCResult

HOSTILE = "<script>alert(1)</script>"


def cell(html: str, label: str) -> str:
    """The value next to ``label`` in a facts table of the card."""
    match = re.search(rf"<th[^>]*>{re.escape(label)}</th><td[^>]*>(.*?)</td>", html)
    assert match, f"no row {label!r}"
    return match.group(1)


# --------------------------------------------------------------------------- AllianceData
@pytest.fixture
def hostile_data(long_frame, therapist_frame):
    frame = long_frame.copy()
    frame["therapist"] = frame["therapist"].replace({"T1": HOSTILE})
    frame["rater"] = frame["rater"].replace({"patient": "client & <b>"})
    frame.loc[frame.index[:3], "wai"] = np.nan
    questionnaire = therapist_frame.rename(columns={"mindfulness": "<i>mind</i>"})
    questionnaire["therapist"] = questionnaire["therapist"].replace({"T1": HOSTILE})
    return AllianceData.from_frame(
        frame,
        therapist="therapist",
        patient="patient",
        score="wai",
        time="session",
        rater="rater",
        rater_roles={"client & <b>": "patient", "therapist": "therapist"},
        therapist_covariates=["<i>mind</i>"],
        therapists=questionnaire,
        scale=(1, 7),
    )


def test_data_card_has_the_sizes_and_missingness(hostile_data):
    html = hostile_data._repr_html_()
    assert cell(html, "therapists") == "3"
    assert cell(html, "patients").startswith("6 (per therapist: min 2, median 2, max 2)")
    assert cell(html, "ratings") == "24 rows, 21 with an outcome"
    assert cell(html, "missing outcomes") == "3 (12%)"
    assert cell(html, "time") == "log; scale 1-7"
    # the by-session table: session 3 has 12 rows, 3 of them missing for the first rater
    assert "<td>client &amp; &lt;b&gt;</td>" in html


def test_data_card_escapes_every_user_label(hostile_data):
    html = hostile_data._repr_html_()
    assert "<script>" not in html and "<i>" not in html and "<b>" not in html
    assert "client &amp; &lt;b&gt; (patient)" in cell(html, "raters")
    assert cell(html, "therapist covariates") == "&lt;i&gt;mind&lt;/i&gt;"


# --------------------------------------------------------------------------- fits
@pytest.fixture(scope="module")
def card_fit(tiny_datasets):
    from alliance_bayes import growth_model
    from alliance_bayes.diagnostics import convergence_report
    from alliance_bayes.result import FitAttrs
    from conftest import fake_fit

    idata = fake_fit(growth_model(tiny_datasets[0]), draws=30)
    return FitAttrs(diagnostics=convergence_report(idata), sampler="nutpie").write(idata)


def test_fit_card_numbers_match_the_fit(card_fit):
    from alliance_bayes import summarize

    card = fit_card(card_fit)
    html = card._repr_html_()
    report = card_fit.attrs["diagnostics"]
    assert cell(html, "therapists") == "12" and cell(html, "patients") == "48"
    observed = int(np.isfinite(card_fit.observed_data["alliance"]).sum())
    assert cell(html, "ratings") == f"{observed:,}"
    assert cell(html, "draws") == "2 chains x 30 (nutpie)"
    import json

    report = json.loads(report)
    assert f"{report['max_r_hat']:.3f}" in cell(html, "max R-hat")
    assert f"{report['min_ess_bulk']:,.0f}" in cell(html, "min bulk ESS")
    expected = summarize(card_fit, var_names=["growth_coef"]).iloc[0]
    assert f'<td style="text-align:right">{expected["mean"]:.3f}</td>' in html
    assert f"{expected['lower']:.3f}" in html and f"{expected['upper']:.3f}" in html


@pytest.mark.parametrize(("max_r_hat", "colour"), [(1.005, "green"), (1.03, "amber"), (1.2, "red")])
def test_fit_card_traffic_light_follows_r_hat(card_fit, max_r_hat, colour):
    import json

    fit = card_fit.copy()
    report = json.loads(fit.attrs["diagnostics"]) | {"max_r_hat": max_r_hat}
    fit.attrs["diagnostics"] = json.dumps(report)
    lights = {what: c for what, c, _ in fit_card(fit).lights}
    assert lights["max R-hat"] == colour
    assert f'title="{colour}"' in fit_card(fit)._repr_html_()


def test_fit_card_divergences_light(card_fit):
    import json

    fit = card_fit.copy()
    report = json.loads(fit.attrs["diagnostics"]) | {"chains": 2, "draws": 1000}
    for divergences, colour in ((0, "green"), (1, "amber"), (19, "amber"), (20, "red")):
        fit.attrs["diagnostics"] = json.dumps(report | {"divergences": divergences})
        lights = {what: c for what, c, _ in fit_card(fit).lights}
        assert lights["divergences"] == colour


def test_fit_card_escapes_labels(card_fit):
    fit = card_fit.copy()
    fit.posterior = fit.posterior.assign_coords(therapist_covariate=[HOSTILE])
    html = fit_card(fit)._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_fit_card_prints_as_text(card_fit):
    text = str(fit_card(card_fit))
    assert text.startswith("Fit of ") and "[" in text and "growth_coef" in text


# --------------------------------------------------------------------------- study results
def sbc_frame(biased: bool) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 60
    ranks = rng.integers(0, 100, n)
    skewed = rng.integers(0, 10, n) if biased else rng.integers(0, 100, n)
    return pd.DataFrame(
        {
            "job": np.tile(np.arange(n), 2),
            "quantity": [HOSTILE] * n + ["sigma"] * n,
            "rank": np.concatenate([ranks, skewed]),
            "n_ranked": 99,
            "status": "ok",
        }
    )


def test_sbc_card_flags_in_red_and_escapes():
    result = SBCResult(sbc_frame(biased=True), {"spec": {"name": "<m>"}})
    html = result._repr_html_()
    test = result.test()
    assert cell(html, "simulations") == "60" and cell(html, "failed") == "0"
    assert 'title="red"' in cell(html, "calibration") and "1 of 2" in cell(html, "calibration")
    assert f"{test.loc[1, 'chi2']:.3f}" in html
    assert "<script>" not in html and "<m>" not in html and "SBC of &lt;m&gt;" in html


def test_sbc_card_calibrated_is_green():
    html = SBCResult(sbc_frame(biased=False), {"spec": {"name": "m"}})._repr_html_()
    assert 'title="green"' in cell(html, "calibration")


def test_recovery_card_has_bias_and_coverage():
    rng = np.random.default_rng(2)
    n = 20
    means = 0.5 + rng.normal(0, 0.1, n)
    frame = pd.DataFrame(
        {
            "job": np.arange(n),
            "quantity": HOSTILE,
            "truth": 0.5,
            "mean": means,
            "sd": 0.1,
            "q0.05": means - 0.16,
            "q0.95": means + 0.16,
            "q0.25": means - 0.07,
            "q0.75": means + 0.07,
            "q0.025": means - 0.2,
            "q0.975": means + 0.2,
            "status": "ok",
        }
    )
    manifest = {"spec": {"name": "spec"}, "design": {"name": "small"}}
    html = RecoveryResult(frame, manifest)._repr_html_()
    assert "Recovery of spec on small" in html
    assert f"{(means - 0.5).mean():.3f}" in html  # bias
    inside = ((means - 0.16 <= 0.5) & (0.5 <= means + 0.16)).mean()
    assert f"{inside:.3f}" in html  # 90 % coverage
    assert "<script>" not in html


def test_power_card_has_the_assurance():
    frames = {}
    manifests = {}
    for name, n_therapists, lower in (("n40", 40, [0.1, -0.1, 0.2, 0.3]), ("n80", 80, [0.1] * 4)):
        frames[name] = pd.DataFrame(
            {
                "job": range(4),
                "quantity": HOSTILE,
                "mean": 0.3,
                "truth": 0.3,
                "q0.025": lower,
                "q0.975": 0.5,
                "status": "ok",
            }
        )
        manifests[name] = {"design": {"name": name, "n_therapists": n_therapists}}
    result = PowerResult(frames, manifests, HOSTILE, "95% interval excludes 0")
    html = result._repr_html_()
    assert cell(html, "rule") == "95% interval excludes 0"
    assert "0.750" in html and "1.000" in html  # assurance: 3 of 4, 4 of 4
    assert "<script>" not in html and "Power: &lt;script&gt;" in html


def test_fit_card_names_the_covariates_of_the_fit(card_fit):
    assert dict(fit_card(card_fit).model)["covariates"] == "burdens (therapist)"
