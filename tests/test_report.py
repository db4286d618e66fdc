"""report_table: labels, units, the interval column, the direction rule and every export format.

The fits are ``fake_fit``s (prior draws as the posterior, no sampling) of the small long frame
of ``conftest.py``: 3 therapists, 6 patients, sessions 3 and 12.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import alliance_bayes as ab
from alliance_bayes.diagnostics import convergence_report
from alliance_bayes.report import report_table
from alliance_bayes.result import FitAttrs
from alliance_bayes.summary import summarize
from conftest import build, fake_fit, make_long_frame

CELL = re.compile(r"^(-?\d+\.\d\d) \[(-?\d+\.\d\d), (-?\d+\.\d\d)\]$")


def _fit(data, **options):
    idata = fake_fit(ab.growth_model(data, **options), draws=50)
    return FitAttrs(diagnostics=convergence_report(idata)).write(idata)


@pytest.fixture(scope="module")
def two_raters():
    return _fit(build(make_long_frame(), therapist_covariates=["burdens"], scale=(1, 7)))


@pytest.fixture(scope="module")
def one_rater():
    frame = make_long_frame(with_rater=False)
    return _fit(build(frame, therapist_covariates=["burdens"], time_coding="linear"))


def _label(table, name):
    return table.rows.set_index("name").loc[name, "label"]


def test_two_rater_labels_say_rater_covariate_and_time_unit(two_raters):
    table = report_table(two_raters, labels={"burdens": "Personal Burdens"})
    assert _label(table, "growth_coef[patient, burdens]") == (
        "Growth × Personal Burdens, patient-rated"
    )
    assert _label(table, "level_coef[therapist, burdens]") == (
        "Level × Personal Burdens, therapist-rated"
    )
    assert _label(table, "growth[patient]") == "Growth per ln(session), patient-rated"
    assert _label(table, "level[patient]") == "Level at session 3, patient-rated"
    assert _label(table, "therapist_sd[therapist:growth]") == (
        "Therapist SD of growth, therapist-rated"
    )
    assert _label(table, "icc[patient]") == "ICC of level at session 3 (therapists), patient-rated"
    notes = " ".join(table.notes)
    assert "per ln(session) (time = ln(session) − ln(3))" in notes
    assert "Personal Burdens: SD = " in notes
    panels = [title for title, _ in table.panels()]
    assert panels == [
        "Fixed effects",
        "Rater contrast (patient-rated minus therapist-rated)",
        "Variance components",
    ]
    contrast = table.rows[table.rows["panel"] == panels[1]]
    assert list(contrast["label"]) == ["Level × Personal Burdens", "Growth × Personal Burdens"]


def test_covariate_names_default_to_the_column_capitalised(two_raters):
    assert _label(report_table(two_raters), "growth_coef[patient, burdens]") == (
        "Growth × Burdens, patient-rated"
    )


def test_one_rater_has_no_rater_words_and_linear_time_is_per_session(one_rater):
    table = report_table(one_rater)
    assert _label(table, "growth[rating]") == "Growth per session"
    assert _label(table, "growth_coef[rating, burdens]") == "Growth × Burdens"
    assert _label(table, "sigma[rating]") == "Residual SD"
    assert [title for title, _ in table.panels()] == ["Fixed effects", "Variance components"]
    assert "growth terms are per session (time = (session − 3))" in " ".join(table.notes)


@pytest.mark.parametrize(
    ("options", "unit"),
    [
        ({"time_coding": "linear", "time_scale": 10.0}, "Growth per 10 sessions"),
        ({"time_coding": "as_is"}, "Growth per unit of session"),
    ],
)
def test_time_unit_follows_the_coding(options, unit):
    idata = _fit(build(make_long_frame(with_rater=False), **options))
    assert _label(report_table(idata), "growth[rating]") == unit


def test_rater_labels_other_than_the_roles_are_named():
    frame = make_long_frame()
    frame["rater"] = frame["rater"].map({"patient": "client", "therapist": "clinician"})
    roles = {"client": "patient", "clinician": "therapist"}
    table = report_table(_fit(build(frame, therapist_covariates=["burdens"], rater_roles=roles)))
    assert _label(table, "growth_coef[client, burdens]") == (
        "Growth × Burdens, patient-rated (client)"
    )
    assert "Rater contrast (patient-rated (client) minus therapist-rated (clinician))" in set(
        table.rows["panel"]
    )


def test_estimate_column_is_mean_and_interval_of_the_draws(two_raters):
    table = report_table(two_raters, prob=0.9)
    assert table.columns[1] == "Estimate [90% CrI]"
    row = table.rows.set_index("name").loc["growth_coef[patient, burdens]"]
    draws = two_raters.posterior["growth_coef"].sel(rater="patient", therapist_covariate="burdens")
    values = draws.to_numpy().ravel()
    low, high = np.quantile(values, [0.05, 0.95])
    expected = [f"{v:.2f}".replace("-0.00", "0.00") for v in (values.mean(), low, high)]
    assert CELL.match(row["estimate"]).groups() == tuple(expected)
    assert all(CELL.match(e) for e in table.rows.query("panel == 'Fixed effects'")["estimate"])


def test_correlations_and_iccs_drop_the_leading_zero(two_raters):
    rows = report_table(two_raters).rows
    icc = rows[rows["name"].str.startswith("icc")]["estimate"]
    assert all(re.match(r"^\.\d\d \[\.\d\d, (\.\d\d|1\.00)\]$", e) for e in icc)


def test_direction_only_for_growth_coefficients_and_contrasts(two_raters):
    rows = report_table(two_raters).rows
    given = rows[rows["direction"] != ""]["name"]
    assert all(re.match(r"^(growth\[|level_coef|growth_coef)", n) for n in given)
    assert len(given) == 2 + 4 + 2  # growth per rater, 2 coefficients x 2 raters, 2 contrasts
    assert rows[rows["name"].str.contains("_sd|sigma|icc|corr|^level\\[")]["direction"].eq("").all()
    row = rows.set_index("name").loc["growth_coef[patient, burdens]"]
    draws = two_raters.posterior["growth_coef"].sel(rater="patient").to_numpy().ravel()
    assert row["p_direction"] == pytest.approx(max((draws > 0).mean(), (draws < 0).mean()))


def test_summarize_gives_p_gt_0_only_where_the_sign_is_a_finding(two_raters):
    table = summarize(two_raters).set_index("parameter")
    assert table.loc[["therapist_sd", "patient_sd", "sigma", "level"], "p_gt_0"].isna().all()
    assert table.loc[["growth", "growth_coef", "level_coef"], "p_gt_0"].notna().all()


def test_notes_give_model_sizes_and_diagnostics(two_raters):
    notes = " ".join(report_table(two_raters).notes)
    assert "Model: normal likelihood." in notes
    assert "N = 3 therapists, 6 patients, 24 ratings." in notes
    report = convergence_report(two_raters)
    assert f"2 chains × 50 draws; max R-hat = {report['max_r_hat']:.3f}" in notes
    assert f"min bulk ESS = {report['min_ess_bulk']:.0f}" in notes


def test_markdown_has_caption_header_panels_and_note(two_raters):
    table = report_table(two_raters, caption="Alliance and Personal Burdens")
    lines = table.to_markdown().splitlines()
    assert lines[0] == "**Table.** *Alliance and Personal Burdens*"
    body = [line for line in lines if line.startswith("| ") and "---" not in line]
    assert len(body) == 1 + len(table.rows) + len(table.panels())
    assert all(line.count("|") == 4 for line in body)
    assert lines[-1].startswith("*Note.* Model:")
    assert table._repr_markdown_() == table.to_markdown()


def test_latex_is_a_booktabs_table(two_raters):
    text = report_table(two_raters).to_latex()
    for command in (r"\toprule", r"\midrule", r"\bottomrule", r"\caption{", r"\begin{tabular}"):
        assert command in text
    rows = [line for line in text.splitlines() if line.startswith(r"\quad ")]
    assert len(rows) == len(report_table(two_raters).rows)
    assert all(line.count(" & ") == 2 and line.endswith(r"\\") for line in rows)
    assert r"Growth $\times$ Burdens, patient-rated" in text
    assert "95\\% CrI" in text and "_" not in text.replace(r"\_", "")


class _Cells(HTMLParser):
    """The text of each tag of interest, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.found: list[tuple[str, str]] = []
        self.starts: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            return
        self.stack.append(tag)
        self.starts[tag] = self.starts.get(tag, 0) + 1
        self.found.append((tag, ""))

    def handle_endtag(self, tag):
        if tag != "br":
            assert self.stack.pop() == tag, f"</{tag}> closes another tag"

    def handle_data(self, data):
        for k in range(len(self.found) - 1, -1, -1):
            if self.found[k][0] == self.stack[-1]:
                self.found[k] = (self.found[k][0], self.found[k][1] + data)
                break


def test_html_parses_with_caption_rows_and_note(two_raters):
    table = report_table(two_raters)
    parser = _Cells()
    parser.feed(table.to_html())
    assert parser.stack == []
    assert parser.starts["caption"] == 1 and parser.starts["table"] == 1
    texts = [text for tag, text in parser.found]
    assert "Multilevel growth model of wai: posterior estimates" in texts  # the score column
    assert parser.starts["tr"] == 1 + len(table.rows) + len(table.panels()) + 1  # + the note
    assert "Growth × Burdens, patient-rated" in texts
    assert any(t.startswith(" Model: normal likelihood.") for t in texts)
    assert table._repr_html_() == table.to_html()


def test_docx_opens_and_holds_the_table(two_raters, tmp_path):
    docx = pytest.importorskip("docx")
    table = report_table(two_raters)
    path = table.to_docx(tmp_path / "table.docx")
    document = docx.Document(str(path))
    (word,) = document.tables
    assert len(word.rows) == 1 + len(table.rows) + len(table.panels())
    assert [c.text for c in word.rows[0].cells] == list(table.columns)
    texts = [row.cells[0].text for row in word.rows]
    assert "Growth × Burdens, patient-rated" in texts
    row = word.rows[texts.index("Growth × Burdens, patient-rated")]
    expected = table.rows.set_index("label").loc["Growth × Burdens, patient-rated"]
    assert row.cells[1].text == expected["estimate"].replace("-", "\u2212")
    assert document.paragraphs[1].text == table.caption
    assert document.paragraphs[-1].text.startswith("Note. Model:")


def test_without_python_docx_the_error_says_what_to_install(two_raters, monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "docx" or name.startswith("docx."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(ImportError, match=r"alliance_bayes\[report\]"):
        report_table(two_raters).to_docx(tmp_path / "t.docx")


def test_report_table_is_exported():
    assert ab.report_table is report_table


def test_notes_name_r_only_when_correlations_are_shown(two_raters):
    with_r = " ".join(report_table(two_raters).notes)
    without = report_table(two_raters, correlations=False)
    assert "r: correlation of the random effects" in with_r
    assert "r: correlation" not in " ".join(without.notes)
    assert not without.rows["name"].str.contains("_corr").any()


def test_counts_in_the_notes_have_thousands_separators():
    rows = [
        {"therapist": f"T{t}", "patient": f"T{t}P{p}", "session": s, "wai": 4.0 + 0.01 * s}
        for t in range(10)
        for p in range(26)
        for s in (1, 2, 4, 8)
    ]
    idata = _fit(build(pd.DataFrame(rows)))
    assert "N = 10 therapists, 260 patients, 1,040 ratings." in report_table(idata).notes


def test_the_therapist_regression_has_its_own_rows_and_notes():
    data = ab.Design.razzaque_2015().to_data(random_seed=1)
    simulated = ab.simulate(ab.therapist_regression(data), ab.Truth.razzaque_2015(), random_seed=2)
    table = report_table(fake_fit(ab.therapist_regression(simulated), draws=20))
    assert table.caption == "Therapist-level regression of alliance: posterior estimates"
    names = dict(zip(table.rows["name"], table.rows["label"], strict=True))
    assert names["intercept"] == "Intercept"
    assert names["coef[presence]"] == "Presence"
    assert names["coef_std[presence]"] == "Presence (standardised)"
    assert names["r2"] == "Bayesian R²" and names["sigma"] == "Residual SD"
    given = table.rows[table.rows["direction"] != ""]["name"]
    assert all(n.startswith(("coef[", "coef_std[")) for n in given)
    assert "N = 76 therapists (one score each)." in table.notes


@pytest.mark.parametrize(
    ("likelihood", "words", "extra"),
    [
        ("censored", "Model: normal likelihood censored at 1 and 7.", None),
        ("student_t", "Model: Student-t likelihood.", "Student-t degrees of freedom"),
    ],
)
def test_the_likelihood_is_named_in_words(likelihood, words, extra):
    data = build(make_long_frame(), therapist_covariates=["burdens"], scale=(1, 7))
    table = report_table(_fit(data, likelihood=likelihood))
    assert words in table.notes
    if extra:
        assert extra in set(table.rows["label"])
        assert table.rows.set_index("label").loc[extra, "direction"] == ""


# ---------------------------------------------------------------------------- SPSS column labels
SPSS_LABELS = {"burdens": "Personal Burdens", "wai": "Working alliance (WAI-SR)"}


@pytest.fixture(scope="module")
def labelled_fit(tmp_path_factory):
    """A fit of ratings read from a ``.sav`` whose columns carry SPSS labels; no ``labels=``."""
    import pyreadstat

    path = tmp_path_factory.mktemp("sav") / "ratings.sav"
    pyreadstat.write_sav(make_long_frame(), path, column_labels=SPSS_LABELS)
    frame = ab.read_table(path, ids=["therapist", "patient"])
    return _fit(build(frame, therapist_covariates=["burdens"], scale=(1, 7)))


def test_spss_column_labels_name_the_covariates_and_the_score_with_no_argument(labelled_fit):
    table = report_table(labelled_fit)
    assert _label(table, "growth_coef[patient, burdens]") == (
        "Growth × Personal Burdens, patient-rated"
    )
    assert _label(table, "level_coef[therapist, burdens]") == (
        "Level × Personal Burdens, therapist-rated"
    )
    assert "Working alliance (WAI-SR)" in table.caption
    assert "Personal Burdens: SD = " in " ".join(table.notes)


def test_explicit_labels_win_over_the_spss_column_labels(labelled_fit):
    table = report_table(labelled_fit, labels={"burdens": "DPCCQ Burdens"})
    assert _label(table, "growth_coef[patient, burdens]") == "Growth × DPCCQ Burdens, patient-rated"


def test_figures_take_their_axis_labels_from_the_spss_column_labels(labelled_fit):
    import matplotlib.pyplot as plt

    from alliance_bayes.plots import plot_coefficients, plot_conditional_effects
    from alliance_bayes.plots.style import score_label

    assert score_label(labelled_fit) == "Working alliance (WAI-SR) (1–7)"
    fig = plot_coefficients(labelled_fit)
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert "Growth × Personal Burdens, patient-rated" in ticks
    fig2 = plot_conditional_effects(labelled_fit, "burdens", n_points=5)
    assert fig2.axes[0].get_ylabel() == "Working alliance (WAI-SR) (1–7)"
    legend = [t.get_text() for t in fig2.legends[0].get_texts()]
    assert any("Personal Burdens" in text for text in legend), legend
    plt.close(fig)
    plt.close(fig2)


def test_the_labels_travel_with_the_fit_through_save_and_load(labelled_fit, tmp_path):
    loaded = ab.load(ab.save(labelled_fit, tmp_path / "fit.nc"))
    assert _label(report_table(loaded), "growth_coef[patient, burdens]") == (
        "Growth × Personal Burdens, patient-rated"
    )
    from alliance_bayes.result import rebuild_data

    assert rebuild_data(loaded).labels == SPSS_LABELS
