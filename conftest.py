"""Settings for the whole test run, notebooks included (nbmake kernels inherit the environment).

The doctests of ``src/`` (collected with ``--doctest-modules``) find the names their examples use
(``data``, ``model``, ``idata``, ...) in ``doctest_namespace``, and run in a temporary folder
with a temporary compile cache, so that an example that writes files leaves nothing behind.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent
# the notebooks as this run's nbmake executed them, for the docs build (git-ignored)
EXECUTED_NOTEBOOKS = ROOT / "build" / "notebooks"
DOCS_TESTS = ROOT / "tests" / "test_docs.py"

# Notebooks read these to run with small draws in CI; a user's own setting wins.
os.environ.setdefault("ALLIANCE_BAYES_DRAWS", "200")
os.environ.setdefault("ALLIANCE_BAYES_TUNE", "300")
os.environ.setdefault("ALLIANCE_BAYES_SIMS", "20")
os.environ.setdefault("ALLIANCE_BAYES_WORKERS", "1")

# Property-based tests explore the same examples on every run, so CI cannot flake.
try:
    from hypothesis import settings

    settings.register_profile("deterministic", derandomize=True, deadline=None)
    settings.load_profile("deterministic")
except ImportError:  # hypothesis comes with the test extra
    pass


# ---------------------------------------------------------------------------- doctests
@functools.cache
def _test_helpers() -> Any:
    """``tests/conftest.py`` under a name of its own: its tiny design, truth and ``fake_fit``."""
    path = Path(__file__).parent / "tests" / "conftest.py"
    spec = importlib.util.spec_from_file_location("alliance_bayes_test_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data() -> Any:
    """Two raters, 12 therapists with a covariate (``burdens``), 4 patients each, 4 sessions."""
    from alliance_bayes import growth_model, simulate

    helpers = _test_helpers()
    planned = growth_model(helpers.tiny_design().to_data(random_seed=1))
    return simulate(planned, helpers.TINY_TRUTH, random_seed=101)


def _fake_fit(**options: Any) -> Callable[[Callable[[str], Any]], Any]:
    """A fit-shaped InferenceData of ``growth_model(data, **options)``, prior draws as posterior.

    ``tests/conftest.py``'s ``fake_fit``, with the convergence report stored as ``fit`` does.
    """

    def make(get: Callable[[str], Any]) -> Any:
        from alliance_bayes import growth_model
        from alliance_bayes.diagnostics import convergence_report
        from alliance_bayes.result import FitAttrs

        model = get("model") if not options else growth_model(get("data"), **options)
        idata = _test_helpers().fake_fit(model)
        return FitAttrs(diagnostics=convergence_report(idata)).write(idata)

    return make


def _model(get: Callable[[str], Any]) -> Any:
    from alliance_bayes import growth_model

    return growth_model(get("data"))


# name in the doctests -> how to make it; made once per session, on first use
DOCTEST_OBJECTS: dict[str, Callable[[Callable[[str], Any]], Any]] = {
    "data": lambda get: _data(),
    "model": _model,
    "idata": _fake_fit(),
    "fit_plain": _fake_fit(therapist_covariates=[]),
    "fit_censored": _fake_fit(likelihood="censored"),
}


@functools.cache
def _doctest_object(name: str) -> Any:
    return DOCTEST_OBJECTS[name](_doctest_object)


@pytest.fixture(autouse=True)
def _doctest_setup(request: pytest.FixtureRequest) -> None:
    """For a doctest: the objects its examples name, a temporary folder and compile cache."""
    from _pytest.doctest import DoctestItem

    if not isinstance(request.node, DoctestItem):
        return
    import arviz as az

    namespace = request.getfixturevalue("doctest_namespace")
    source = "".join(example.source for example in request.node.dtest.examples)
    for name in DOCTEST_OBJECTS:
        if re.search(rf"\b{name}\b", source):
            value = _doctest_object(name)
            # functions that add groups to a fit do it in place: each doctest gets a copy
            namespace[name] = value.copy() if isinstance(value, az.InferenceData) else value
    tmp_path = request.getfixturevalue("tmp_path")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The doctests' fits are prior draws: PSIS-LOO warns about them (rightly), but not in CI.

    The docs build renders the notebooks as this run executed them (below): its tests run
    last, after nbmake's; the executed copies of an earlier run are removed first.
    """
    from _pytest.doctest import DoctestItem

    for item in items:
        if isinstance(item, DoctestItem):
            item.add_marker(pytest.mark.filterwarnings("ignore::alliance_bayes.ParetoKWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::RuntimeWarning:arviz.stats"))
    docs = [item for item in items if item.path == DOCS_TESTS]
    if docs:
        items[:] = [item for item in items if item.path != DOCS_TESTS] + docs
    if any(getattr(item, "nbmake", False) for item in items):
        shutil.rmtree(EXECUTED_NOTEBOOKS, ignore_errors=True)


# ---------------------------------------------------------------------------- quiet notebooks
# Each notebook that nbmake ran without error is also saved, executed, to EXECUTED_NOTEBOOKS
# (git-ignored), which tests/test_docs.py's site build renders
# (scripts/mkdocs_executed_notebooks.py): the site shows this run's outputs, no notebook runs twice.
# The notebooks, run by nbmake, also fail on any warning or log line outside the allow-list:
# nbmake executes each notebook once (CI's ``pytest --nbmake``); this hook keeps the executed
# notebook and checks its stderr outputs with ``tests/test_quiet.py``'s rules, so the check
# costs no second run. The kernel is its own process: pytest's ``filterwarnings`` do not reach
# it, so nothing is hidden from this check. (Here, not in notebooks/conftest.py: a second module
# named conftest shadowed tests/conftest.py for the tests that import from it.)
def _quiet_rules() -> Any:
    path = Path(__file__).parent / "tests" / "test_quiet.py"
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
        import nbformat

        EXECUTED_NOTEBOOKS.mkdir(parents=True, exist_ok=True)
        nbformat.write(results[0].nb, EXECUTED_NOTEBOOKS / Path(item.filename).name)
        found = _quiet_rules().unexpected_in_notebook(results[0].nb)
        if found:
            raise AssertionError(
                f"{item.name} printed warnings or log lines outside tests/test_quiet.py's "
                "allow-list:\n" + "\n".join(found)
            )
    return outcome
