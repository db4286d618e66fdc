"""Exceptions and warnings that users can act on."""

from __future__ import annotations

from collections.abc import Iterable

MAX_SHOWN = 5


class DataValidationError(ValueError):
    """A problem in the user's data, naming the column and up to five offending ids or rows."""


class ConvergenceWarning(UserWarning):
    """Sampling finished, but a diagnostic missed its threshold (names the parameters)."""


class DataWarning(UserWarning):
    """The data were accepted, but something in them limits what can be estimated."""


class UntrustedCacheWarning(UserWarning):
    """A cache folder, entry or key that someone else could have written: it is not used."""


class StoreMismatchError(ValueError):
    """The store holds a different study than the one requested."""


class StoreLockedError(OSError):
    """Another runner is working the store (an OSError: the store is busy, like a locked file)."""


class UnsafePathError(ValueError):
    """A path in the study folder leads out of it (through a symlink)."""


class StoreWarning(UserWarning):
    """Files in a store that are not records of its study were ignored."""


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
