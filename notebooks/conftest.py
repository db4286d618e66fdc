"""The notebooks, run by nbmake, also fail on any warning or log line outside the allow-list.

nbmake executes each notebook once (CI's ``pytest --nbmake``); this hook keeps the executed
notebook and checks its stderr outputs with ``tests/test_quiet.py``'s rules, so the quiet check
costs no second run. The kernel is its own process: pytest's ``filterwarnings`` of pyproject.toml
do not reach it, so nothing is hidden from this check.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest


def _rules() -> Any:
    path = Path(__file__).parents[1] / "tests" / "test_quiet.py"
    spec = importlib.util.spec_from_file_location("alliance_bayes_quiet_rules", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    if not getattr(item, "nbmake", False):
        return (yield)
    import nbmake.pytest_items as items

    original, results = items.NotebookRun, []

    class Recorded(original):
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            result = super().execute(*args, **kwargs)
            results.append(result)
            return result

    items.NotebookRun = Recorded
    try:
        outcome = yield
    finally:
        items.NotebookRun = original
    if results and results[0].error is None:
        found = _rules().unexpected_in_notebook(results[0].nb)
        if found:
            raise AssertionError(
                f"{item.name} printed warnings or log lines outside tests/test_quiet.py's "
                "allow-list:\n" + "\n".join(found)
            )
    return outcome
