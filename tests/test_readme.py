"""README's Python blocks run as written, in order, in one namespace (as a reader would paste
them into one notebook): a quick start that fails at its second line is the first thing a new
user meets."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    """The fenced ```python blocks of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_the_block_finder_finds_blocks():
    text = "a\n```python\nx = 1\n```\nb\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]


@pytest.mark.slow
def test_readme_python_blocks_run_as_written(tmp_path, monkeypatch):
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)  # the quick start saves fit.nc
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and Pareto-k notes are the examples' own
        for number, block in enumerate(blocks, start=1):
            code = compile(block, f"README.md python block {number}", "exec")
            exec(code, namespace)
    assert (tmp_path / "fit.nc").exists()
