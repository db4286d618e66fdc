"""The bounded in-process caches and the one switch that clears them."""

from __future__ import annotations

import importlib

from alliance_bayes import _lru
from alliance_bayes._lru import LRUCache

# the modules (the package re-exports the functions fit and simulate under these names)
fit_module = importlib.import_module("alliance_bayes.fit")
simulate_module = importlib.import_module("alliance_bayes.simulate")


def test_the_least_recently_used_entry_goes_first():
    cache = LRUCache(maxsize=2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # a read counts as a use
    cache["c"] = 3
    assert list(cache) == ["a", "c"]
    assert cache.get("b") is None


def test_every_compiled_cache_is_bounded():
    for cache in (fit_module._CACHE, fit_module._LINES, simulate_module._COMPILED):
        assert isinstance(cache, LRUCache)
        assert cache.maxsize <= 32


def test_clear_compile_cache_clears_the_simulators_cache_too(monkeypatch):
    # fresh caches in a registry of their own, so the session's compiled models survive
    monkeypatch.setattr(_lru, "_REGISTRY", [])
    fits, draws = LRUCache(4), LRUCache(4)
    monkeypatch.setattr(fit_module, "_CACHE", fits)
    monkeypatch.setattr(simulate_module, "_COMPILED", draws)
    fits["model"], draws["draw"] = object(), object()
    fit_module.clear_compile_cache()
    assert len(fits) == 0 and len(draws) == 0
