"""Tables for a paper: readable labels, estimates with credible intervals, a caption and notes.

:func:`report_table` turns a fit into the table a psychotherapy journal prints: one row per
parameter with a label a reader understands ("Growth × Burdens, patient-rated"), the estimate
and its credible interval in one column ("-0.03 [-0.06, 0.00]"), the posterior probability of
direction only where a sign is a finding (:func:`alliance_bayes.summary.is_directional`), the
variance components (SDs, correlations, ICC) as a second panel, the rater contrast (patient- minus
therapist-rated) when there are two raters, and notes that say the model, the time unit, the
sample sizes and the convergence diagnostics. The numbers come from :mod:`alliance_bayes.summary`
(``summarize``, ``variance_components``, ``rater_contrast``); only the words are added here.

A :class:`ReportTable` renders as Markdown, LaTeX (booktabs), HTML and Word (``python-docx``,
the ``report`` extra), and as HTML in Jupyter.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from .data import SINGLE_RATER
from .diagnostics import convergence_report
from .result import DataAttrs, read_attrs
from .summary import (
    DIM_COLUMNS,
    is_directional,
    rater_contrast,
    stored_rater_roles,
    summarize,
    variance_components,
)
from .vocabulary import scalar_name, scalars, terms

FIXED_KINDS = ("location", "coefficient")
HEADER = ("Parameter", "Estimate [{prob} CrI]", "Pr(direction)")
LIKELIHOOD_WORDS = {"normal": "normal", "student_t": "Student-t", "censored": "censored normal"}
MINUS = "\u2212"  # the minus sign of print (HTML, Word); Markdown keeps the ASCII hyphen


@dataclass(frozen=True)
class ReportTable:
    """A table for a paper: panels of rows, a caption and notes, in several formats.

    ``rows`` has one row per parameter with the columns ``panel``, ``label``, ``estimate``
    (the text ``"mean [lower, upper]"``), ``direction`` (the probability of direction as text,
    empty where a sign is no finding) and the numbers behind them: ``name`` (the vocabulary's
    scalar name), ``mean``, ``lower``, ``upper`` and ``p_direction``.

    Examples
    --------
    >>> table = report_table(idata, labels={"burdens": "Personal Burdens"})
    >>> table.rows.loc[7, ["label", "estimate"]].tolist()
    ['Growth × Personal Burdens, therapist-rated', '0.00 [-0.33, 0.31]']
    >>> print(table.to_markdown().splitlines()[2])
    | Parameter | Estimate [95% CrI] | Pr(direction) |
    """

    caption: str
    rows: pd.DataFrame
    notes: tuple[str, ...]
    prob: float = 0.95
    header: tuple[str, str, str] = field(default=HEADER)

    @property
    def columns(self) -> tuple[str, str, str]:
        """The three column headers, the interval's mass filled in."""
        return (self.header[0], self.header[1].format(prob=f"{self.prob:.0%}"), self.header[2])

    def panels(self) -> list[tuple[str, pd.DataFrame]]:
        """``(panel title, its rows)`` in the order of the table."""
        return [(str(p), rows) for p, rows in self.rows.groupby("panel", sort=False)]

    def to_frame(self) -> pd.DataFrame:
        """The printed table as text: panel, parameter, estimate and probability of direction."""
        shown = self.rows[["panel", "label", "estimate", "direction"]]
        return shown.set_axis(["Panel", *self.columns], axis=1)

    def to_markdown(self) -> str:
        """Markdown: the caption in bold, panel titles as italic rows, the notes below."""
        lines = [f"**Table.** *{self.caption}*", ""]
        lines += ["| " + " | ".join(self.columns) + " |", "|:---|---:|---:|"]
        for title, rows in self.panels():
            lines.append(f"| *{_md(title)}* | | |")
            lines += [
                f"| {_md(r.label)} | {r.estimate} | {r.direction} |" for r in rows.itertuples()
            ]
        lines += ["", "*Note.* " + " ".join(self.notes)]
        return "\n".join(lines)

    def to_latex(self) -> str:
        """A LaTeX ``table`` with a booktabs ``tabular`` (``\\usepackage{booktabs}``)."""
        lines = [
            r"\begin{table}[htbp]",
            r"\centering",
            rf"\caption{{{_tex(self.caption)}}}",
            r"\begin{tabular}{lrr}",
            r"\toprule",
            " & ".join(_tex(c) for c in self.columns) + r" \\",
            r"\midrule",
        ]
        for k, (title, rows) in enumerate(self.panels()):
            if k:
                lines.append(r"\addlinespace")
            lines.append(rf"\multicolumn{{3}}{{l}}{{\textit{{{_tex(title)}}}}} \\")
            lines += [
                rf"\quad {_tex(r.label)} & {_tex_number(r.estimate)} & "
                rf"{_tex_number(r.direction)} \\"
                for r in rows.itertuples()
            ]
        lines += [
            r"\bottomrule",
            r"\end{tabular}",
            r"\par\smallskip",
            r"\begin{minipage}{\linewidth}\footnotesize",
            r"\textit{Note.} " + _tex(" ".join(self.notes)),
            r"\end{minipage}",
            r"\end{table}",
        ]
        return "\n".join(lines)

    def to_html(self) -> str:
        """An HTML ``<table>`` with its ``<caption>``, panel rows and the notes in ``<tfoot>``."""
        rule = "border-top:1px solid currentColor;"
        cell = "padding:2px 10px;"
        right = cell + "text-align:right;white-space:nowrap;"
        head = "".join(
            f'<th style="{rule}border-bottom:1px solid currentColor;{cell}'
            f'text-align:{"left" if i == 0 else "right"}">{html.escape(c)}</th>'
            for i, c in enumerate(self.columns)
        )
        body = []
        for title, rows in self.panels():
            body.append(
                f'<tr><th colspan="3" style="{cell}text-align:left;font-style:italic;'
                f'font-weight:normal">{html.escape(title)}</th></tr>'
            )
            body += [
                f'<tr><td style="{cell}padding-left:1.5em;text-align:left">'
                f"{html.escape(r.label)}</td>"
                f'<td style="{right}">{html.escape(_print_minus(r.estimate))}</td>'
                f'<td style="{right}">{html.escape(r.direction)}</td></tr>'
                for r in rows.itertuples()
            ]
        note = html.escape(" ".join(self.notes))
        return (
            '<table class="alliance-bayes-report" style="border-collapse:collapse">'
            '<caption style="caption-side:top;text-align:left;padding-bottom:4px">'
            f"<strong>Table</strong><br><em>{html.escape(self.caption)}</em></caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            f'<tfoot><tr><td colspan="3" style="{rule}{cell}text-align:left;font-size:90%">'
            f"<em>Note.</em> {note}</td></tr></tfoot></table>"
        )

    def to_docx(self, path: str | os.PathLike) -> Path:
        """Write the table to a Word file (needs ``python-docx``: ``pip install
        "alliance_bayes[report]"``); returns the path.

        Examples
        --------
        >>> report_table(idata).to_docx("table.docx")
        PosixPath('table.docx')
        """
        try:
            import docx
            from docx.enum.text import WD_ALIGN_PARAGRAPH
            from docx.shared import Pt
        except ImportError as error:
            raise ImportError(
                'to_docx needs python-docx: pip install "alliance_bayes[report]"'
            ) from error
        document = docx.Document()
        document.add_paragraph().add_run("Table").bold = True
        document.add_paragraph().add_run(self.caption).italic = True
        n_rows = 1 + len(self.rows) + len(self.panels())
        table = document.add_table(rows=n_rows, cols=3)
        header = table.rows[0].cells
        for i, text in enumerate(self.columns):
            header[i].text = text
            _border(header[i], "top", "bottom")
        k = 1
        for title, rows in self.panels():
            merged = table.rows[k].cells[0].merge(table.rows[k].cells[2])
            merged.text = ""
            merged.paragraphs[0].add_run(title).italic = True
            k += 1
            for r in rows.itertuples():
                cells = table.rows[k].cells
                cells[0].text = r.label
                cells[0].paragraphs[0].paragraph_format.left_indent = Pt(10)
                for cell, text in ((cells[1], _print_minus(r.estimate)), (cells[2], r.direction)):
                    cell.text = text
                    cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
                k += 1
        for cell in table.rows[-1].cells:
            _border(cell, "bottom")
        note = document.add_paragraph()
        note.add_run("Note.").italic = True
        note.add_run(" " + " ".join(self.notes))
        path = Path(path)
        document.save(path)
        return path

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()


def report_table(
    idata: az.InferenceData,
    *,
    labels: Mapping[str, str] | None = None,
    prob: float = 0.95,
    digits: int = 2,
    caption: str | None = None,
    correlations: bool = True,
    rater_roles: dict[str, str] | None = None,
) -> ReportTable:
    """The table of a fit for a paper: fixed effects, rater contrast and variance components.

    Panel "Fixed effects" gives the levels, the mean growth and the covariate effects per rater
    ("Growth × Burdens, patient-rated"); with two raters of known roles, panel "Rater contrast"
    gives each covariate effect for the patient rater minus the therapist rater (the question
    of Nissen-Lie et al., 2013); panel "Variance components" gives the SDs of the therapist and
    patient effects, their correlations, the residual SDs and the therapist ICC of level. A
    growth model's growth terms are per unit of coded time, which the labels and notes state:
    per ln(session) for log time, per session (or per ``time_scale`` sessions) for linear time,
    per unit of the time column for time used as is.

    Parameters
    ----------
    idata
        A fit (:func:`alliance_bayes.fit` or :func:`alliance_bayes.load`).
    labels
        Display names: covariates (``{"burdens": "Personal Burdens"}``), the score column
        (``{"wai": "Working alliance (WAI-S)"}``) or rater labels (``{"client": "client-rated"}``).
        These win over the data's own labels (SPSS column labels that
        :func:`~alliance_bayes.read_table` kept, or ``labels=`` of
        :meth:`~alliance_bayes.AllianceData.from_frame`, stored with the fit); without either,
        covariates are their column name, capitalised when it is all lower case.
    prob
        Mass of the equal-tailed credible intervals.
    digits
        Decimal places of estimates and intervals.
    caption
        The table's title (default: names the model and the score).
    correlations
        Whether panel "Variance components" lists the correlations of the effects.
    rater_roles
        Which rater label is the patient and which the therapist, for a fit that does not store
        it (see :func:`alliance_bayes.rater_contrast`).

    Returns
    -------
    ReportTable
        ``.to_markdown()``, ``.to_latex()``, ``.to_html()``, ``.to_docx(path)``; HTML in Jupyter.

    Examples
    --------
    >>> table = report_table(idata, labels={"burdens": "Personal Burdens"})
    >>> [title for title, _ in table.panels()]
    ['Fixed effects', 'Rater contrast (patient-rated minus therapist-rated)', 'Variance components']
    >>> table.rows.query("name == 'growth[patient]'")[["label", "direction"]].iloc[0].tolist()
    ['Growth per ln(session), patient-rated', '.51']
    >>> table.rows.query("name == 'sigma[patient]'")["direction"].iloc[0]
    ''
    """
    attrs = read_attrs(idata)
    words = _Words(idata, attrs.data or DataAttrs(), dict(labels or {}), rater_roles)
    number = lambda v, zero=True: _number(v, digits, zero)  # noqa: E731
    rows = []
    fixed = [t.name for t in terms() if t.kind in FIXED_KINDS or t.name == "coef_std"]
    for row in summarize(idata, var_names=fixed, prob=prob).itertuples():
        directional = is_directional(row.parameter)
        term = getattr(row, "session_term", None)
        name = _scalar(row.parameter, row.rater, row.covariate, term)
        rows.append(_row("Fixed effects", words.fixed(row), row, number, directional, name))
    contrast = words.contrast_panel()
    if contrast is not None:
        for name in ("level_coef", "growth_coef", "patient_level_coef", "patient_growth_coef"):
            if name in idata.posterior and idata.posterior[name].size:
                for row in rater_contrast(idata, name, prob, words.roles_given).itertuples():
                    label = words.coefficient(name, row.covariate)
                    patient, therapist = words.by_role("patient"), words.by_role("therapist")
                    scalar = (
                        f"{_scalar(name, patient, row.covariate)} - "
                        f"{_scalar(name, therapist, row.covariate)}"
                    )
                    rows.append(_row(contrast, label, row, number, True, scalar))
    rows += _variance_rows(idata, words, prob, number, correlations)
    table = pd.DataFrame(rows)
    return ReportTable(
        caption=caption or words.caption(attrs),
        rows=table,
        notes=tuple(
            words.notes(
                attrs,
                prob,
                contrast="Rater contrast" in " ".join(table["panel"]),
                correlations=table["name"].str.contains("_corr").any(),
            )
        ),
        prob=prob,
    )


def rater_label(
    idata: az.InferenceData, rater: str, labels: Mapping[str, str] | None = None
) -> str:
    """A rater in words: ``patient-rated``, ``patient-rated (client)``, the label itself when
    its role is unknown, or ``""`` for the one unnamed rater of single-rater data.

    Examples
    --------
    >>> rater_label(idata, "therapist"), rater_label(idata, "therapist", {"therapist": "T-rated"})
    ('therapist-rated', 'T-rated')
    """
    return _words(idata, labels).rater(str(rater))


def coefficient_labels(
    idata: az.InferenceData, labels: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The labels of :func:`report_table`'s fixed effects, by the vocabulary's scalar names.

    Examples
    --------
    >>> coefficient_labels(idata)["growth_coef[patient, burdens]"]
    'Growth × Burdens, patient-rated'
    """
    words = _words(idata, labels)
    fixed = [t.name for t in terms() if t.kind in FIXED_KINDS or t.name == "coef_std"]
    names = [n for n in fixed if n in idata.posterior]
    out = {}
    for name in names:
        for labels_, _ in scalars(idata.posterior[name]):
            values = {DIM_COLUMNS.get(d, d): str(v) for d, v in labels_.items()}
            row = SimpleNamespace(
                parameter=name, rater=values.get("rater"), covariate=values.get("covariate")
            )
            out[scalar_name(name, list(values.values()))] = words.fixed(row)
    return out


def time_unit(idata: az.InferenceData) -> str:
    """The unit of a growth term: ``per ln(session)``, ``per session``, ``per 10 sessions`` or
    ``per unit of <time column>``.

    Examples
    --------
    >>> time_unit(idata)
    'per ln(session)'
    """
    return _words(idata, None).time_unit()


def _words(idata: az.InferenceData, labels: Mapping[str, str] | None) -> _Words:
    return _Words(idata, read_attrs(idata).data or DataAttrs(), dict(labels or {}), None)


def _row(
    panel: str, label: str, row: Any, number: Any, directional: bool, name: str
) -> dict[str, Any]:
    low, mean, high = float(row.lower), float(row.mean), float(row.upper)
    p_gt_0 = float(row.p_gt_0) if directional else np.nan
    p_dir = (p_gt_0 if mean >= 0 else 1 - p_gt_0) if directional else np.nan
    return {
        "panel": panel,
        "label": label,
        "estimate": f"{number(mean)} [{number(low)}, {number(high)}]",
        "direction": _probability(p_dir) if directional else "",
        "name": name,
        "mean": mean,
        "lower": low,
        "upper": high,
        "p_direction": p_dir,
    }


def _variance_rows(
    idata: az.InferenceData, words: _Words, prob: float, number: Any, correlations: bool
) -> list[dict[str, Any]]:
    """SDs, correlations (no leading zero), residual SDs and ICC; the therapist regression's
    residual SD and R^2; a Student-t model's degrees of freedom."""
    posterior = idata.posterior
    panel = "Variance components" if "therapist_sd" in posterior else "Residual SD and R²"
    rows = []
    if "therapist_sd" in posterior:
        table = variance_components(idata, prob)
        order = {("sd", "therapist"): 0, ("sd", "patient"): 1, ("corr", "therapist"): 2}
        order |= {("corr", "patient"): 3, ("sd", "residual"): 4, ("icc", "therapist"): 5}
        table = table.assign(
            _order=[order[k] for k in zip(table["kind"], table["level"], strict=True)]
        )
        table = table.sort_values("_order", kind="stable")
        for row in table.itertuples():
            if row.kind == "corr" and not correlations:
                continue
            zero = row.kind == "sd"  # correlations and ICCs cannot exceed 1: no leading zero
            vocab = {"corr": f"{row.level}_corr", "icc": "icc", "sd": f"{row.level}_sd"}
            name = "sigma" if row.level == "residual" else vocab[row.kind]
            formats = lambda v, z=zero: number(v, z)  # noqa: E731
            rows.append(
                _row(panel, words.variance(row), row, formats, False, f"{name}[{row.term}]")
            )
    names = [n for n in ("nu", "r2") if n in posterior]
    names += ["sigma"] if "therapist_sd" not in posterior and "sigma" in posterior else []
    if names:
        for row in summarize(idata, var_names=names, prob=prob).itertuples():
            label = {"nu": "Student-t degrees of freedom", "r2": "Bayesian R²"}
            text = label.get(row.parameter, "Residual SD")
            zero = row.parameter != "r2"
            formats = lambda v, z=zero: number(v, z)  # noqa: E731
            scalar = _scalar(row.parameter, getattr(row, "rater", None))
            rows.append(_row(panel, text, row, formats, False, scalar))
    return rows


def _scalar(name: str, *labels: Any) -> str:
    """The vocabulary's scalar name, from a summary row's label columns (``None``/NaN skipped)."""
    return scalar_name(name, [str(v) for v in labels if v is not None and str(v) != "nan"])


class _Words:
    """The words of a table: rater, covariate, time and score names of one fit."""

    def __init__(
        self,
        idata: az.InferenceData,
        data: DataAttrs,
        labels: dict[str, str],
        rater_roles: dict[str, str] | None,
    ) -> None:
        self.idata, self.data, self.roles_given = idata, data, rater_roles
        self.labels = dict(data.labels) | labels  # the data's (SPSS column labels), then given
        # a prior predictive InferenceData (a planned design) has its draws in "prior"
        posterior = idata.posterior if "posterior" in idata.groups() else idata.prior
        self.raters = (
            [str(r) for r in posterior["rater"].to_numpy()] if "rater" in posterior else []
        )
        self.roles = stored_rater_roles(idata) | (rater_roles or {})

    # ---------------------------------------------------------------- names
    def rater(self, rater: str) -> str:
        """``patient-rated``, ``patient-rated (client)``, the label itself, or ``""`` for one
        unnamed rater."""
        if rater in self.labels:
            return self.labels[rater]
        if rater == SINGLE_RATER and len(self.raters) == 1:
            return ""
        role = self.roles.get(rater)
        if role is None:
            return rater
        return f"{role}-rated" + ("" if rater == role else f" ({rater})")

    def covariate(self, name: str) -> str:
        if name.endswith(" (between)"):  # a time-varying covariate's patient means
            return f"{self.covariate(name.removesuffix(' (between)'))} (between patients)"
        if name in self.labels:
            return self.labels[name]
        text = name.replace("_", " ")
        return text[:1].upper() + text[1:] if text == text.lower() else text

    def score(self) -> str:
        column = self.data.columns.get("score", "alliance")
        return self.labels.get(column, "alliance" if column == "alliance" else column)

    def time_column(self) -> str:
        return self.data.columns.get("time", "session")

    def time_unit(self) -> str:
        """``per ln(session)``, ``per session``, ``per 10 sessions`` or ``per unit of week``."""
        coding, scale = self.data.time_coding, self.data.time_scale
        if coding == "log":
            return "per ln(session)"
        if coding == "linear":
            return "per session" if scale == 1 else f"per {scale:g} sessions"
        return f"per unit of {self.time_column()}"

    def origin(self) -> str:
        """Where ``level`` is: ``session 3``, or ``week = 0`` for time used as is."""
        if self.data.time_coding == "as_is":
            return f"{self.time_column()} = 0"
        return f"session {self.data.time_origin:g}"

    # ---------------------------------------------------------------- labels
    def _with_rater(self, text: str, rater: Any) -> str:
        who = self.rater(str(rater)) if rater is not None and str(rater) != "nan" else ""
        return f"{text}, {who}" if who else text

    def coefficient(self, name: str, covariate: str) -> str:
        part = "Growth" if "growth" in name else "Level"
        return f"{part} × {self.covariate(str(covariate))}"

    def session_term(self, term: str) -> str:
        """A session term of the time shape or a time-varying covariate's within part."""
        if term == "time^2":
            return f"Quadratic growth {self.time_unit()}²"
        if term.startswith("time after session "):
            session = term.removeprefix("time after session ")
            return f"Change of growth after session {session} {self.time_unit()}"
        covariate = term.removesuffix(" (within)")
        return f"{self.covariate(covariate)} (within patients)"

    def fixed(self, row: Any) -> str:
        name = row.parameter
        if name == "level":
            text = f"Level at {self.origin()}"
        elif name == "growth":
            text = f"Growth {self.time_unit()}"
        elif name == "intercept":
            text = "Intercept"
        elif name == "coef":
            text = self.covariate(str(row.covariate))
        elif name == "coef_std":
            text = f"{self.covariate(str(row.covariate))} (standardised)"
        elif name == "session_coef":
            text = self.session_term(str(row.session_term))
        else:
            text = self.coefficient(name, row.covariate)
        return self._with_rater(text, getattr(row, "rater", None))

    def variance(self, row: Any) -> str:
        if row.kind == "icc":
            return self._with_rater(f"ICC of level at {self.origin()} (therapists)", row.term)
        if row.level == "residual":
            return self._with_rater("Residual SD", row.term)
        level = row.level.capitalize()
        if row.kind == "sd":
            rater, part = row.term.rsplit(":", 1)
            return self._with_rater(f"{level} SD of {part}", rater)
        (rater_b, part_b), (rater_a, part_a) = (c.rsplit(":", 1) for c in row.term.split(", "))
        if rater_a == rater_b:
            return self._with_rater(f"{level} r of {part_a} and {part_b}", rater_a)
        first = self._with_rater(part_a, rater_a).replace(", ", " ")
        second = self._with_rater(part_b, rater_b).replace(", ", " ")
        return f"{level} r of {first} and {second}"

    def by_role(self, role: str) -> str:
        return next(r for r in self.raters if self.roles.get(r) == role)

    def contrast_panel(self) -> str | None:
        """The title of the rater contrast's panel, or ``None`` without two raters of known
        roles."""
        if len(self.raters) != 2 or set(self.roles.get(r) for r in self.raters) != {
            "patient",
            "therapist",
        }:
            return None
        by_role = {self.roles[r]: r for r in self.raters}
        first, second = self.rater(by_role["patient"]), self.rater(by_role["therapist"])
        return f"Rater contrast ({first} minus {second})"

    # ---------------------------------------------------------------- caption and notes
    def caption(self, attrs: Any) -> str:
        if "therapist_sd" not in self.idata.posterior:
            return f"Therapist-level regression of {self.score()}: posterior estimates"
        return f"Multilevel growth model of {self.score()}: posterior estimates"

    def notes(self, attrs: Any, prob: float, *, contrast: bool, correlations: bool) -> list[str]:
        spec = attrs.spec
        likelihood = "likelihood unknown"
        if spec is not None:
            likelihood = LIKELIHOOD_WORDS.get(spec.likelihood, spec.likelihood) + " likelihood"
        if spec is not None and spec.likelihood == "censored" and self.data.scale is not None:
            low, high = self.data.scale
            likelihood = f"normal likelihood censored at {low:g} and {high:g}"
        named = spec is not None and spec.name and spec.name != "model"  # "model": no name given
        name = f"{spec.name}, " if named else ""
        notes = [f"Model: {name}{likelihood}."]
        notes.append(self._sizes())
        notes.append(
            f"Estimates are posterior means with {prob:.0%} equal-tailed credible intervals "
            "(CrI); Pr(direction) is the posterior probability that an effect has the sign of "
            "its estimate, given for growth, covariate effects and rater contrasts only."
        )
        if "therapist_sd" in self.idata.posterior:
            notes.append(self._time_note())
        covariates = self._covariate_sds()
        if covariates:
            notes.append(f"Covariate effects are per SD of the covariate ({covariates}).")
        if "coef_std" in self.idata.posterior:
            notes.append("Standardised: per SD of the covariate, in SDs of the outcome.")
        if contrast:
            notes.append(
                "A rater contrast is the covariate's effect on patient-rated minus its effect "
                "on therapist-rated alliance."
            )
        if "therapist_sd" in self.idata.posterior:
            notes.append(
                "ICC: the therapists' share of the variance of ratings at "
                f"{self.origin()}"
                + ("; r: correlation of the random effects." if correlations else ".")
            )
        notes.append(self._diagnostics(attrs))
        return notes

    def _sizes(self) -> str:
        posterior, parts = self.idata.posterior, []
        for dim, word in (("therapist", "therapists"), ("patient", "patients")):
            if dim in posterior.coords:
                parts.append(f"{posterior.sizes[dim]} {word}")
        if "observed_data" in self.idata.groups():
            observed = np.asarray(self.idata.observed_data["alliance"].to_numpy(), dtype=float)
            count = int(np.isfinite(observed).sum())
            growth = "therapist_sd" in posterior
            what = "ratings" if growth else "therapists (one score each)"
            parts.append(f"{count:,} {what}")
        return f"N = {', '.join(parts)}." if parts else ""

    def _time_note(self) -> str:
        coding, origin = self.data.time_coding, self.data.time_origin
        column = self.time_column()
        if coding == "log":
            coded = f"time = ln({column}) {MINUS} ln({origin:g})"
        elif coding == "linear":
            scale = self.data.time_scale
            coded = f"time = ({column} {MINUS} {origin:g})" + (
                "" if scale == 1 else f" / {scale:g}"
            )
        else:
            coded = f"time = {column}, as recorded"
        return (
            f"Level is the expected {self.score()} at {self.origin()}; growth terms are "
            f"{self.time_unit()} ({coded})."
        )

    def _covariate_sds(self) -> str:
        sds = {**self.data.therapist_covariate_sd, **self.data.patient_covariate_sd}
        posterior = self.idata.posterior
        used = [
            str(c)
            for dim in ("therapist_covariate", "patient_covariate")
            if dim in posterior.coords
            for c in posterior[dim].to_numpy()
        ]
        return "; ".join(
            f"{self.covariate(c)}: SD = {sds[c]:.2f}" if c in sds else self.covariate(c)
            for c in used
        )

    def _diagnostics(self, attrs: Any) -> str:
        report = attrs.diagnostics or convergence_report(self.idata)
        chains, draws = report.get("chains"), report.get("draws")
        sampler = f" ({attrs.sampler})" if attrs.sampler else ""
        text = f"Posterior: {chains} chains × {draws} draws{sampler}"
        r_hat, ess = report.get("max_r_hat"), report.get("min_ess_bulk")
        if r_hat is not None and np.isfinite(r_hat):
            text += f"; max R-hat = {r_hat:.3f}"
        if ess is not None and np.isfinite(ess):
            text += f", min bulk ESS = {ess:.0f}"
        divergences = report.get("divergences") or 0
        if divergences:
            text += f", {divergences} divergent transitions"
        if report.get("ok") is False:
            limits = report.get("thresholds", {})
            text += (
                f" (short of the thresholds R-hat ≤ {limits.get('r_hat', 1.01)}, "
                f"ESS ≥ {limits.get('ess_bulk', 400)}: check convergence before reporting)"
            )
        return text + "."


# ------------------------------------------------------------------------------ formatting
def _number(value: float, digits: int, leading_zero: bool = True) -> str:
    """``-0.03``; ``.45`` without the leading zero (APA, for values that cannot exceed 1).

    Examples
    --------
    >>> _number(-0.0312, 2), _number(-0.001, 2), _number(0.452, 2, leading_zero=False)
    ('-0.03', '0.00', '.45')
    """
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    if not leading_zero:
        text = text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text
    return text


def _probability(value: float) -> str:
    """A probability to two places without the leading zero; ``>.99`` rather than ``1.00``.

    Examples
    --------
    >>> _probability(0.9731), _probability(0.9999), _probability(0.5)
    ('.97', '>.99', '.50')
    """
    if not np.isfinite(value):
        return ""
    if round(value, 2) >= 1:
        return ">.99"
    return f"{value:.2f}".lstrip("0")


def _print_minus(text: str) -> str:
    """Numbers with the typographic minus (a cell of numbers only, never a label)."""
    return text.replace("-", MINUS)


def _md(text: str) -> str:
    return text.replace("|", r"\|")


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "×": r"$\times$",
    MINUS: r"$-$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "²": r"$^2$",
}


def _tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def _tex_number(text: str) -> str:
    """A cell of numbers: the minus in math mode, ``>`` as a math symbol."""
    return _tex(text).replace("-", "$-$").replace(">", "$>$")


def _border(cell: Any, *edges: str) -> None:
    """A single rule on the ``edges`` of a Word table cell (the horizontal rules of APA)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    properties = cell._tc.get_or_add_tcPr()
    borders = properties.find(qn("w:tcBorders"))
    if borders is None:
        borders = OxmlElement("w:tcBorders")
        properties.append(borders)
    for edge in edges:
        element = OxmlElement(f"w:{edge}")
        for key, value in (("val", "single"), ("sz", "8"), ("space", "0"), ("color", "000000")):
            element.set(qn(f"w:{key}"), value)
        borders.append(element)
