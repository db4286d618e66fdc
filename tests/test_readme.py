"""The Python blocks of README.md and of the documentation pages (``docs/``) run as written, in
order, in one namespace per page (as a reader would paste one page into one notebook): a quick
start that fails at its second line is the first thing a new user meets.

A block that must not run in the suite says so, with a reason, on the line just above its fence:
``<!-- not-run: a study of 200 simulations takes about 4 min -->``. Nothing else skips a block.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

BLOCK = re.compile(
    r"^(?:<!-- not-run:(?P<reason>[^\n]*?)-->\n)?```python\n(?P<code>.*?)^```",
    flags=re.DOTALL | re.MULTILINE,
)
MARKER = re.compile(r"^<!-- not-run:", flags=re.MULTILINE)  # a marker starts its line


@dataclass(frozen=True)
class Block:
    code: str
    line: int  # of the opening fence, 1-based
    not_run: str | None  # the reason, for a block marked not-run


def markdown_blocks(text: str) -> list[Block]:
    """The fenced ```python blocks of a Markdown text, in order, with their not-run reasons.

    A ``<!-- not-run: ... -->`` marker must stand on the line just above a python fence and give
    a reason; a marker anywhere else, or without a reason, is refused (it would skip nothing, or
    skip without saying why).
    """
    blocks = []
    used = set()
    for match in BLOCK.finditer(text):
        reason = match.group("reason")
        if reason is not None:
            used.add(match.start())
            if not reason.strip():
                line = text.count("\n", 0, match.start()) + 1
                raise ValueError(f"line {line}: a not-run marker needs a reason")
        fence = match.start("code") - len("```python\n")
        line = text.count("\n", 0, fence) + 1
        blocks.append(Block(match.group("code"), line, reason.strip() if reason else None))
    for marker in MARKER.finditer(text):
        if marker.start() not in used:
            line = text.count("\n", 0, marker.start()) + 1
            raise ValueError(f"line {line}: a not-run marker must stand just above a python block")
    return blocks


def python_blocks(text: str) -> list[str]:
    """The fenced ```python blocks of a Markdown text, in order (marked or not)."""
    return [block.code for block in markdown_blocks(text)]


def doc_pages() -> list[Path]:
    """README.md and every Markdown page of the site (the notebooks' README included)."""
    pages = {README.resolve()} | {page.resolve() for page in DOCS.rglob("*.md")}
    return sorted(pages)


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_block_finder_finds_blocks():
    text = "a\n```python\nx = 1\n```\nb\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]


def test_a_not_run_block_carries_its_reason_and_line():
    text = "a\n<!-- not-run: takes an hour -->\n```python\nslow()\n```\n```python\nfast()\n```\n"
    blocks = markdown_blocks(text)
    assert [(b.code, b.line, b.not_run) for b in blocks] == [
        ("slow()\n", 3, "takes an hour"),
        ("fast()\n", 6, None),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "<!-- not-run: -->\n```python\nx = 1\n```\n",  # no reason
        "<!-- not-run: slow -->\n\n```python\nx = 1\n```\n",  # not just above the block
        "<!-- not-run: slow -->\n```bash\nls\n```\n",  # not a python block
    ],
)
def test_a_misplaced_or_unexplained_marker_is_refused(text):
    with pytest.raises(ValueError, match="not-run marker"):
        markdown_blocks(text)


def test_a_marker_quoted_in_prose_is_not_a_marker():
    text = "Skip a block with a `<!-- not-run: reason -->` marker.\n```python\nx = 1\n```\n"
    assert [b.not_run for b in markdown_blocks(text)] == [None]


def test_every_page_is_found_and_its_markers_are_well_formed():
    pages = doc_pages()
    assert README.resolve() in pages
    assert (DOCS / "getting-started.md").resolve() in pages
    for page in pages:
        markdown_blocks(page.read_text())  # raises on a marker without a reason


@pytest.fixture
def studies_in_this_process(monkeypatch):
    """A study, K-fold or power run that leaves ``executor=`` at its default runs in this
    process instead of one new process per core. Records do not depend on the number of workers
    (each job's seeds come from the study seed and its index), the local pool and Dask are tested
    in ``tests/checks/test_studies.py`` (K-fold on Dask in ``tests/test_kfold.py``), and each new
    worker process imports the package and compiles the model again: README's two 3-fold
    K-folds took 46 s with two workers each, 17 s in this process (2 shared cores)."""
    from alliance_bayes.checks import runner

    monkeypatch.setattr(runner, "default_workers", lambda: 1)


def run_page(page: Path) -> dict:
    """Run a page's blocks in order in one namespace; the namespace afterwards."""
    namespace: dict = {"__name__": "__main__"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and Pareto-k notes are the examples' own
        for number, block in enumerate(markdown_blocks(page.read_text()), start=1):
            if block.not_run:
                continue
            name = f"{page_id(page)} python block {number} (line {block.line})"
            exec(compile(block.code, name, "exec"), namespace)
    return namespace


@pytest.mark.slow
def test_readme_python_blocks_run_as_written(tmp_path, monkeypatch, studies_in_this_process):
    assert len(python_blocks(README.read_text())) >= 3
    monkeypatch.chdir(tmp_path)  # the quick start saves fit.nc
    run_page(README)
    assert (tmp_path / "fit.nc").exists()


DOC_PAGES = [page for page in doc_pages() if page != README.resolve()]


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in DOC_PAGES if BLOCK.search(p.read_text())], ids=page_id)
def test_docs_python_blocks_run_as_written(page, tmp_path, monkeypatch, studies_in_this_process):
    monkeypatch.chdir(tmp_path)  # pages write figures, fits and study folders here
    try:
        run_page(page)
    finally:
        plt.close("all")
