"""The nutpie seam's contract: every private nutpie, numba and PyTensor name the compile cache
uses exists on the installed versions with the kind and parameters it is used with, and a
release that drops or changes one fails here, by name, instead of silently making every new
process compile from scratch. At run time such a release gives a warning that names the missing
name and the versions, and the model is compiled by nutpie as usual.

Fast: the one numba compile is of a two-line callback (about a second).
"""

from __future__ import annotations

import pickle
import tomllib
import warnings
from importlib.metadata import version
from pathlib import Path

import nutpie.compile_pymc
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import alliance_bayes as ab
from alliance_bayes import _compile_cache as cc
from alliance_bayes import _nutpie_seam as seam

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("item", seam.PRIVATE, ids=[item.path for item in seam.PRIVATE])
def test_private_name_exists_as_used(item):
    assert seam.check(item) is None


def test_the_installed_versions_have_no_seam_problem():
    assert seam.problems() == ()


def test_nutpie_is_pinned_to_the_series_the_names_were_checked_on():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (pin,) = [Requirement(d) for d in project["dependencies"] if d.startswith("nutpie")]
    series = Version(seam.SUPPORTED_NUTPIE)
    next_series = f"{series.major}.{series.minor + 1}"
    assert {(s.operator, s.version) for s in pin.specifier} == {
        (">=", seam.SUPPORTED_NUTPIE),
        ("<", next_series),
    }
    assert Version(version("nutpie")) in pin.specifier


def test_every_private_nutpie_import_goes_through_the_list():
    """No module of the package imports a private nutpie or numba name around ``PRIVATE``."""
    sources = (ROOT / "src" / "alliance_bayes").rglob("*.py")
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in sources
        for line in path.read_text().splitlines()
        if line.lstrip().startswith(("from nutpie.", "from numba.core", "import numba.core"))
    ]
    assert offenders == []


# --- the check can fail ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (seam.Private("nutpie.compile_pymc:_gone", "function"), "is missing"),
        (seam.Private("nutpie.not_a_module:anything", "object"), "is missing"),
        (
            seam.Private("nutpie.compile_pymc:_make_functions", "function", ("model", "backend")),
            "no longer takes backend",
        ),
        (
            seam.Private("nutpie.compile_pymc:CompiledPyMCModel", "class", ("_n_dims",)),
            "no longer takes _n_dims",
        ),
        (seam.Private("nutpie.compile_pymc:make_user_data", "class"), "is a function here"),
        (
            seam.Private("numba.core.ccallback:CFunc.compile", "method", mentions=("_store",)),
            "no longer uses _store",
        ),
    ],
    ids=["name", "module", "parameter", "field", "kind", "protocol"],
)
def test_a_changed_release_is_named(item, problem):
    message = seam.check(item)
    assert message is not None and item.path in message and problem in message


def test_a_missing_name_raises_naming_it_and_the_versions(monkeypatch):
    monkeypatch.delattr(nutpie.compile_pymc, "_make_functions")
    with pytest.raises(seam.SeamError) as raised:
        seam.private("nutpie.compile_pymc:_make_functions")
    message = str(raised.value)
    assert "nutpie.compile_pymc:_make_functions is missing" in message
    assert f"nutpie {version('nutpie')}" in message
    assert seam.check(seam.PRIVATE[0]).startswith("nutpie.compile_pymc:_make_functions is missing")


def test_an_unlisted_private_name_is_refused():
    with pytest.raises(ValueError, match="not listed in PRIVATE"):
        seam.private("nutpie.compile_pymc:_some_other_helper")


# --- at run time: a warning that names it, and nutpie compiles ---------------------------------


@pytest.fixture
def plain_compiles(tmp_path, monkeypatch):
    """A private cache of the test's own, and nutpie's own compile replaced by a recorder."""
    monkeypatch.delenv("ALLIANCE_BAYES_CACHE", raising=False)
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_KEY_FILE", str(tmp_path / "config" / "cache.key"))
    calls = []
    monkeypatch.setattr(seam, "nutpie_compile", lambda model, names: calls.append(names) or "plain")
    return calls


def tiny_model():
    design = ab.Design(n_therapists=4, patients_per_therapist=2, sessions=[1, 2, 4], scale=[1, 7])
    return ab.growth_model(design.to_data(random_seed=1))


def compile_with_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cc.default_store().get_or_compile(tiny_model(), ["level"])
    return result, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def test_a_release_without_a_name_warns_naming_it_and_compiles_plainly(plain_compiles, monkeypatch):
    """Found before compiling: the cached check of ``PRIVATE`` is redone here."""
    monkeypatch.delattr(nutpie.compile_pymc, "_prepare_dims_and_coords")
    seam.problems.cache_clear()
    try:
        result, messages = compile_with_warnings()
    finally:
        seam.problems.cache_clear()
    assert result == "plain" and plain_compiles == [["level"]]
    (message,) = messages
    assert "nutpie.compile_pymc:_prepare_dims_and_coords is missing" in message
    assert f"nutpie {version('nutpie')}" in message and "0.16.x" in message


def test_a_name_lost_after_the_check_warns_naming_it_and_compiles_plainly(
    plain_compiles, monkeypatch
):
    """Found while compiling (the check ran before the name went): the same warning."""
    assert seam.problems() == ()
    monkeypatch.delattr(nutpie.compile_pymc, "make_user_data")
    result, messages = compile_with_warnings()
    assert result == "plain" and plain_compiles == [["level"]]
    (message,) = messages
    assert "nutpie.compile_pymc:make_user_data is missing" in message
    assert f"nutpie {version('nutpie')}" in message


# --- numba's side, by behaviour ------------------------------------------------------------------


def test_a_callback_round_trips_through_its_stored_compile_result():
    """What an entry relies on: a ``CFunc`` hands its compile result to the cache object it is
    given, the result reduces to a pickle, and a new ``CFunc`` given the rebuilt result uses it
    instead of compiling, with the same machine code."""
    from numba import types

    cfunc = seam.private("numba.core.ccallback:CFunc")
    sig = types.int64(types.int64)

    def twice(x):
        return 2 * x

    first = cfunc(twice, (sig.args, sig.return_type), locals={}, options={})
    first._cache = seam._OneResultCache()
    first.compile()
    stored = pickle.loads(seam.dumps({"payload": seam.reduced(first)}))["payload"]
    second = cfunc(twice, (sig.args, sig.return_type), locals={}, options={})
    second._cache = seam._OneResultCache(seam._rebuilt(stored))
    second.compile()
    assert (first._cache_hits, second._cache_hits) == (0, 1)
    assert second.ctypes(21) == 42
