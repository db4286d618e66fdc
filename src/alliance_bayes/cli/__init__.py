"""The ``alliance-bayes`` command (``alliance_bayes.cli:app``, or ``python -m alliance_bayes.cli``).

:mod:`.app` holds the typer app, its console and its error handler; each command group
registers itself on it: :mod:`.data` (design, simulate), :mod:`.models` (fit, summary, demo),
:mod:`.checks` (ppc, compare), :mod:`.effects` (effects), :mod:`.predict` (predict) and
:mod:`.studies` (sbc, recovery, power, report). What the commands read and how outputs are
checked is in :mod:`.files`.
"""

# imported in the order of ``alliance-bayes --help``; each registers its commands on ``app``
from . import data, models, checks, effects, predict, kfold, studies  # noqa: F401, I001
from .app import app
from .models import _report  # noqa: F401 - tests/test_summary.py imports it from here

__all__ = ["app"]
