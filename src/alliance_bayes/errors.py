"""Exceptions and warnings that users can act on."""

from __future__ import annotations

from collections.abc import Iterable

MAX_SHOWN = 5


class DataValidationError(ValueError):
    """A problem in the user's data, naming the column and up to five offending ids or rows."""


class ConvergenceWarning(UserWarning):
    """Sampling finished, but a diagnostic missed its threshold (names the parameters)."""


def show_some(values: Iterable[object], limit: int = MAX_SHOWN) -> str:
    """Format up to ``limit`` offending values, saying how many more there are.

    Examples
    --------
    >>> show_some([1, 2, 3, 4, 5, 6, 7])
    '1, 2, 3, 4, 5 (and 2 more)'
    """
    values = list(values)
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:limit])
    extra = len(values) - limit
    return f"{shown} (and {extra} more)" if extra > 0 else shown
