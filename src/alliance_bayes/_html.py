"""Small HTML cards for Jupyter: a title, labelled facts, traffic lights and tables.

Every text that can come from a user (labels, covariate and spec names) goes through
:func:`html.escape` here, in one place; the numbers are formatted here too.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

Light = Literal["green", "amber", "red", "grey"]
COLOURS: dict[str, str] = {
    "green": "#2e7d32",
    "amber": "#ef8f00",
    "red": "#c62828",
    "grey": "#9e9e9e",
}
STYLE = (
    "font-family: system-ui, sans-serif; font-size: 13px; border: 1px solid #ccc; "
    "border-radius: 6px; padding: 8px 12px; display: inline-block; max-width: 100%"
)


def esc(value: object) -> str:
    """``value`` as text, escaped for HTML.

    Examples
    --------
    >>> esc("<b>T&1</b>")
    '&lt;b&gt;T&amp;1&lt;/b&gt;'
    """
    return html.escape(str(value), quote=True)


def number(value: float | int | None, digits: int = 3) -> str:
    """A number as a reader wants it: integers as such, NaN and None as an en dash.

    Examples
    --------
    >>> number(1.23456), number(12), number(float("nan")), number(1234.5, 0)
    ('1.235', '12', '–', '1,234')
    """
    if value is None:
        return "–"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    value = float(value)
    if not np.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}"


def light(colour: Light, text: str) -> str:
    """A coloured dot followed by ``text`` (already HTML); the colour is named for screen
    readers and for text-only front ends."""
    return (
        f'<span title="{colour}" style="color:{COLOURS[colour]}">&#9679;</span>'
        f'<span style="display:none">[{colour}]</span> {text}'
    )


def facts(rows: Iterable[tuple[str, str]]) -> str:
    """A two-column table of ``(label, HTML value)``; labels are escaped here."""
    body = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{esc(label)}</th>'
        f'<td style="text-align:left">{value}</td></tr>'
        for label, value in rows
    )
    return f"<table>{body}</table>"


def table(frame: pd.DataFrame, digits: int = 3, columns: Sequence[str] | None = None) -> str:
    """A data frame as a small HTML table: every cell escaped, numbers formatted (a float
    column of whole numbers, e.g. sessions, without decimals)."""
    frame = frame if columns is None else frame[list(columns)]
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    whole = [
        pd.api.types.is_float_dtype(frame[c]) and bool(np.all(frame[c].dropna() % 1 == 0))
        for c in frame.columns
    ]
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for value, integral in zip(record, whole, strict=True):
            if isinstance(value, bool | np.bool_):
                cells.append(f"<td>{'yes' if value else 'no'}</td>")
            elif isinstance(value, int | float | np.integer | np.floating):
                shown = number(value, 0 if integral else digits)
                cells.append(f'<td style="text-align:right">{shown}</td>')
            elif value is None or (isinstance(value, float) and np.isnan(value)):
                cells.append("<td></td>")
            else:
                cells.append(f"<td>{esc(value)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def card(title: str, *parts: str) -> str:
    """The card: an escaped title over the parts (HTML), in one bordered box."""
    box = f'<div style="{STYLE}"><div><strong>{esc(title)}</strong></div>{"".join(parts)}</div>'
    return f"<div>{box}</div>"


def section(title: str, content: str) -> str:
    """A small heading (escaped) over ``content`` (HTML)."""
    return f'<div style="margin-top:6px"><em>{esc(title)}</em>{content}</div>'
