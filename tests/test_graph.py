"""The compiled-graph layer: one bounded cache of compiled functions, one switch to clear it."""

from __future__ import annotations

import importlib

import pytest

from alliance_bayes import _graph
from alliance_bayes._graph import CACHE_LIMITS, GraphCache

# the modules (the package re-exports the functions fit and simulate under these names)
fit_module = importlib.import_module("alliance_bayes.fit")
simulate_module = importlib.import_module("alliance_bayes.simulate")


def test_the_least_recently_used_entry_goes_first():
    cache = GraphCache({"lines": 2})
    cache.get("lines", "a", lambda: 1)
    cache.get("lines", "b", lambda: 2)
    assert cache.get("lines", "a", lambda: 0) == 1  # a read counts as a use
    cache.get("lines", "c", lambda: 3)
    assert cache.keys("lines") == ["a", "c"]
    assert cache.get("lines", "b", lambda: None) is None  # "b" was dropped: built again
    assert cache.counts["lines"] == {"compile": 4, "reuse": 1}


def test_every_kind_of_compiled_function_is_bounded():
    assert set(CACHE_LIMITS) == {"sampler", "loglik", "lines", "draw"}
    assert all(1 <= n <= 32 for n in CACHE_LIMITS.values())
    assert _graph.CACHE.limits == CACHE_LIMITS
    with pytest.raises(ValueError, match="at least 1"):
        GraphCache({"lines": 0})


def test_no_module_keeps_a_cache_of_its_own():
    for module in (fit_module, simulate_module):
        assert not [k for k, v in vars(module).items() if isinstance(v, GraphCache)]
        assert not {"_CACHE", "_LINES", "_COUNTS", "_COMPILED"} & set(vars(module))


def test_clear_compile_cache_clears_the_simulators_cache_too(monkeypatch):
    # a fresh cache, so the session's compiled models survive
    cache = GraphCache()
    monkeypatch.setattr(_graph, "CACHE", cache)
    cache.get("sampler", "model", object)
    cache.get("draw", "draw", object)
    fit_module.clear_compile_cache()
    assert cache.keys("sampler") == [] and cache.keys("draw") == []
    assert cache.counts["sampler"]["compile"] == 1  # the counts say what this process did
