"""A griffe extension for the API pages (``mkdocs.yml``): Sphinx roles in the docstrings,
``:class:`AllianceData``` or ``:func:`~alliance_bayes.fit.fit```, become plain code spans
(```AllianceData```, ```fit```), which numpydoc readers and the site show alike. Without it the
pages print the role (":class: AllianceData")."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")


def plain_roles(text: str) -> str:
    """The text with every Sphinx cross-reference role written as a code span.

    >>> plain_roles("See :func:`~alliance_bayes.fit.fit` and :class:`AllianceData`.")
    'See `fit` and `AllianceData`.'
    """

    def code(match: re.Match[str]) -> str:
        target = match.group(2)
        return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"

    return ROLE.sub(code, text)


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)
