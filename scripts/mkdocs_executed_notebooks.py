"""MkDocs hook: render the notebooks as a test run executed them, not as committed.

``tests/test_docs.py`` sets ``ALLIANCE_BAYES_DOCS_NOTEBOOKS`` to the folder where the notebook
tests of the same pytest run saved their executed copies (``build/notebooks/``, git-ignored; the
root ``conftest.py`` writes them as nbmake runs each notebook). A page ``notebooks/<name>.ipynb``
is then rendered from ``<folder>/<name>.ipynb`` with its outputs, so CI executes each notebook
once and the site shows that run. Without the variable, or for a notebook without a copy (it was
not run, or it failed), the committed notebook is rendered (no outputs). mkdocs-jupyter's own
``execute`` stays off: it would run every notebook a second time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mkdocs.plugins

VARIABLE = "ALLIANCE_BAYES_DOCS_NOTEBOOKS"
log = logging.getLogger(f"mkdocs.hooks.{Path(__file__).stem}")


def executed_copy(src_uri: str, folder: Path) -> Path | None:
    """The executed copy of the docs page ``src_uri`` (``notebooks/01_x.ipynb``), if any."""
    if not (src_uri.startswith("notebooks/") and src_uri.endswith(".ipynb")):
        return None
    copy = folder / Path(src_uri).name
    return copy if copy.is_file() else None


# after mkdocs-jupyter has wrapped the notebooks' files (its on_files, priority 0): its wrapper
# computes abs_src_path itself, so the copy's path is set on the wrapper (and on the file within)
@mkdocs.plugins.event_priority(-100)
def on_files(files, config):
    folder = os.environ.get(VARIABLE)
    if not folder:
        return files
    used = []
    for file in files:
        if (copy := executed_copy(file.src_uri, Path(folder))) is not None:
            for target in (file, getattr(file, "file", None)):
                if target is not None:
                    target.abs_src_path = str(copy.resolve())
            used.append(copy.name)
    log.info("notebooks rendered as executed in %s: %s", folder, ", ".join(used) or "none")
    return files
