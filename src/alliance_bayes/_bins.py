"""Time bins: one way of grouping sessions, shared by describe(), the statistics and the plots.

A schedule with at most :data:`MAX_SESSIONS` distinct sessions is reported session by session,
as it always was. With more (irregular schedules: sessions 1-30 that differ per patient,
continuous time in days), sessions are grouped into at most :data:`MAX_SESSIONS` bins at the
quantiles of the rows' sessions, so that every bin holds about as many ratings as the others.
A bin is a closed range of the session values it holds (``"4-7"``): bins never overlap, every
bin holds at least one session, and tied quantiles merge bins rather than leave one empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Most distinct sessions shown one by one, and most bins when there are more.
MAX_SESSIONS = 8


@dataclass(frozen=True)
class SessionBins:
    """Which bin every row's session falls in, and the bins' labels and ranges.

    Attributes
    ----------
    codes
        The bin of each row (0, 1, ...; bins ordered by session).
    labels
        One per bin: the session itself (a float) when sessions are not grouped, else a text
        range such as ``"4-7"`` (or ``"9"`` for a bin of one session).
    lower, upper
        The smallest and largest session in each bin.
    centre
        The mean session of the rows in each bin (where a plot puts the bin).
    binned
        Whether sessions were grouped (more than ``max_bins`` distinct sessions).
    """

    codes: np.ndarray
    labels: tuple
    lower: np.ndarray
    upper: np.ndarray
    centre: np.ndarray
    binned: bool

    @property
    def n_bins(self) -> int:
        return len(self.labels)

    def describe(self) -> str:
        """The binning in words, for tables and figures.

        Examples
        --------
        >>> session_bins(np.arange(1.0, 31.0)).describe()
        'sessions in 8 bins at the quantiles of the ratings (about equal numbers of ratings each)'
        """
        if not self.binned:
            return "one bin per session"
        return (
            f"sessions in {self.n_bins} bins at the quantiles of the ratings "
            "(about equal numbers of ratings each)"
        )


def session_bins(
    sessions: Sequence[float] | np.ndarray, max_bins: int = MAX_SESSIONS
) -> SessionBins:
    """Group sessions into at most ``max_bins`` bins (one per session when there are few).

    Parameters
    ----------
    sessions
        The session (time) value of every row; finite numbers.
    max_bins
        With at most this many distinct sessions each is its own bin (labelled by the session
        itself); with more, the upper ends of the bins are the ``k / max_bins`` quantiles of
        ``sessions`` (observed values, ``inverted_cdf``), ties merged.

    Examples
    --------
    >>> bins = session_bins([3, 12, 3, 20])
    >>> bins.binned, bins.labels, bins.codes.tolist()
    (False, (3.0, 12.0, 20.0), [0, 1, 0, 2])
    >>> bins = session_bins(np.repeat(np.arange(1.0, 31.0), 2), max_bins=3)
    >>> bins.labels, bins.lower.tolist(), bins.upper.tolist()
    (('1-10', '11-20', '21-30'), [1.0, 11.0, 21.0], [10.0, 20.0, 30.0])
    """
    values = np.asarray(sessions, dtype=float)
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise ValueError("sessions must be a one-dimensional array of finite numbers.")
    if max_bins < 1:
        raise ValueError(f"max_bins must be at least 1, got {max_bins}.")
    distinct = np.unique(values)
    if distinct.size <= max_bins:
        codes = np.searchsorted(distinct, values)
        return SessionBins(codes, tuple(distinct.tolist()), distinct, distinct, distinct, False)
    probabilities = np.arange(1, max_bins) / max_bins
    uppers = np.unique(np.quantile(values, probabilities, method="inverted_cdf"))
    uppers = uppers[uppers < distinct[-1]]
    codes = np.searchsorted(uppers, values, side="left")
    n_bins = uppers.size + 1
    lower = np.array([values[codes == k].min() for k in range(n_bins)])
    upper = np.array([values[codes == k].max() for k in range(n_bins)])
    centre = np.bincount(codes, weights=values, minlength=n_bins) / np.bincount(codes)
    labels = tuple(_range_label(lo, hi) for lo, hi in zip(lower, upper, strict=True))
    return SessionBins(codes, labels, lower, upper, centre, True)


def _range_label(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"
