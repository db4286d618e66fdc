"""Bounded in-process caches of compiled functions, and one switch that clears them all.

A compiled model holds its numba code, its PyTensor functions and its data (about 10 MB for the
dual-rater model), so a process that meets many model structures (an SBC study of a design
whose parameter shapes change, a notebook trying specs) must not keep every one: each cache keeps
its ``maxsize`` most recently used entries and drops the oldest.

Examples
--------
>>> cache = LRUCache(maxsize=2)
>>> cache["a"], cache["b"] = 1, 2
>>> cache.get("a")  # "a" is now the most recently used
1
>>> cache["c"] = 3  # drops "b", the least recently used
>>> sorted(cache)
['a', 'c']
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

_REGISTRY: list[LRUCache] = []


class LRUCache(OrderedDict):
    """A dict that keeps its ``maxsize`` most recently used entries (read or written)."""

    def __init__(self, maxsize: int):
        super().__init__()
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}.")
        self.maxsize = int(maxsize)
        _REGISTRY.append(self)

    def __getitem__(self, key: Any) -> Any:
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self else default

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


def clear_all() -> None:
    """Empty every cache made by :class:`LRUCache` in this process."""
    for cache in _REGISTRY:
        cache.clear()
