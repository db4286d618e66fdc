"""A disk cache of nutpie-compiled models, so that a new process does not compile again.

``fit`` asks a :class:`CompiledModelStore` for a model's compiled form: :func:`default_store`
gives the :class:`DiskStore` (or, with ``ALLIANCE_BAYES_CACHE=0``, the :class:`NoCacheStore`,
which compiles in every process as nutpie does). The store is the whole interface; its parts
live beside it, one idea each:

- :mod:`._nutpie_seam`: a nutpie compile whose machine code can be stored and loaded again, and
  the one list of nutpie's, numba's and PyTensor's private names that this takes (checked by
  ``tests/test_nutpie_contract.py``; a missing one gives a warning that names it, and plain
  nutpie compiles the model).
- :mod:`._cache_entry`: an entry's key (the model's structure, the stored names, the versions,
  the CPU and this package's model-building sources), its file format and its MAC.
- :mod:`._cache_trust`: private folders and files (0700/0600), ssh's rule for what is never
  read, and the per-user secret key kept outside the cache folder.

An entry that is corrupt, from another layout, or does not fit the model is deleted and the
model is compiled normally; one that fails its MAC (possibly planted) is deleted with an
:class:`~alliance_bayes.errors.UntrustedCacheWarning`; a folder, entry or key that is not
private to the user is never read (a warning says why and how to fix it).

Location and switches
---------------------
- ``ALLIANCE_BAYES_CACHE_DIR``: the folder (default ``$XDG_CACHE_HOME/alliance_bayes``, i.e.
  ``~/.cache/alliance_bayes``); entries live in its ``compiled/`` subfolder.
- ``ALLIANCE_BAYES_CACHE=0``: no disk cache (compile in every process, as nutpie does).
- ``ALLIANCE_BAYES_CACHE_KEY_FILE``: the secret key (default
  ``$XDG_CONFIG_HOME/alliance_bayes/cache.key``, i.e. ``~/.config/alliance_bayes/cache.key``),
  made 0600 on first use. Deleting it only costs one compile per model structure: the entries
  written under the old key are then deleted and compiled again. The processes that share a
  cache folder (a study's workers) must share the key, as they do by default.
- To clear it, delete the folder (``rm -rf ~/.cache/alliance_bayes/compiled``) or call
  :func:`clear_disk_cache`.

Examples
--------
>>> from alliance_bayes import Design, growth_model
>>> model = growth_model(Design(n_therapists=8, patients_per_therapist=3,
...                             sessions=[1, 2, 4], scale=[1, 7]).to_data(random_seed=1))
>>> compiled = default_store().get_or_compile(model, var_names=None)  # doctest: +SKIP
>>> cache_stats()["hit"] + cache_stats()["miss"]  # doctest: +SKIP
1
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import pymc as pm

from . import _nutpie_seam
from ._cache_entry import FORMAT, Forged, entry_key, entry_path, read_entry, write_entry
from ._cache_trust import Untrusted, key_file, trusted_key, warn_refused
from ._nutpie_seam import CacheEntryError
from .errors import UntrustedCacheWarning

__all__ = [
    "CacheEntryError",
    "CompiledModelStore",
    "DiskStore",
    "NoCacheStore",
    "cache_dir",
    "cache_stats",
    "clear_disk_cache",
    "compile_nutpie_model",
    "default_store",
    "key_file",
]

# lookups of this process: hits, misses (compiled and stored), invalid entries, lookups with the
# cache switched off, and folders, entries or keys refused as not private
_STATS = {"hit": 0, "miss": 0, "invalid": 0, "uncached": 0, "untrusted": 0}

log = logging.getLogger(__name__)


class CompiledModelStore(Protocol):
    """Where ``fit`` gets a model's nutpie compiled form (numba backend)."""

    def get_or_compile(self, model: pm.Model, var_names: Sequence[str] | None = None) -> Any:
        """A ``nutpie.compile_pymc.CompiledPyMCModel`` carrying ``model``'s data."""

    def clear(self) -> int:
        """Forget what is stored; returns how many compiled models were forgotten."""

    def stats(self) -> dict[str, int]:
        """Counts of lookups: ``hit``, ``miss``, ``invalid``, ``uncached``, ``untrusted``."""


class NoCacheStore:
    """Compile in every process, as nutpie does (``ALLIANCE_BAYES_CACHE=0``).

    Parameters
    ----------
    counts
        The counters it adds to; by default this process's (:func:`cache_stats`).

    Examples
    --------
    >>> store = NoCacheStore(counts={"uncached": 0})
    >>> store.clear(), store.stats()
    (0, {'uncached': 0})
    """

    def __init__(self, counts: dict[str, int] | None = None):
        self._counts = _STATS if counts is None else counts

    def get_or_compile(self, model: pm.Model, var_names: Sequence[str] | None = None) -> Any:
        """nutpie's own compile of ``model``."""
        self._counts["uncached"] += 1
        return _nutpie_seam.nutpie_compile(model, var_names)

    def clear(self) -> int:
        """Nothing is stored: 0."""
        return 0

    def stats(self) -> dict[str, int]:
        """The counters (a copy)."""
        return dict(self._counts)


class DiskStore:
    """Compiled models kept on disk in ``folder``, one authenticated entry per model structure.

    Parameters
    ----------
    folder
        The entries' folder (:func:`cache_dir`); it and the folder holding it are made private.
    counts
        The counters it adds to; by default this process's (:func:`cache_stats`).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     store = DiskStore(Path(root) / "compiled", counts=dict.fromkeys(_STATS, 0))
    ...     store.clear(), store.stats()["hit"]
    (0, 0)
    """

    def __init__(self, folder: Path, counts: dict[str, int] | None = None):
        self.folder = Path(folder)
        self._counts = _STATS if counts is None else counts

    def get_or_compile(self, model: pm.Model, var_names: Sequence[str] | None = None) -> Any:
        """The compiled model from its entry when there is a usable one; else compiled, and
        stored for the next process. A cache that cannot be trusted or used is passed by:
        the model is compiled as nutpie does."""
        secret = self._secret()
        if secret is None:
            return _nutpie_seam.nutpie_compile(model, var_names)
        path = entry_path(self.folder, entry_key(model, var_names))
        compiled = self._load_entry(path, model, secret)
        if compiled is not None:
            return compiled
        self._counts["miss"] += 1
        return self._compile_and_store(path, model, var_names, secret)

    def clear(self) -> int:
        """Delete every stored compiled model; returns how many entries were deleted."""
        if not self.folder.is_dir():
            return 0
        entries = list(self.folder.glob("*.nbmodel"))
        for path in entries:
            path.unlink(missing_ok=True)
        return len(entries)

    def stats(self) -> dict[str, int]:
        """The counters (a copy)."""
        return dict(self._counts)

    def _secret(self) -> bytes | None:
        """The key for the entries when the folder and the key are private; else None, after
        a warning that names what was refused and how to fix it."""
        try:
            return trusted_key(self.folder)
        except Untrusted as refused:
            self._refuse(refused)
        except OSError as error:  # e.g. a read-only home: the fit must not fail over its cache
            log.warning("compiled-model cache unavailable (%s); compiling.", error)
        return None

    def _refuse(self, refused: Untrusted) -> None:
        self._counts["untrusted"] += 1
        warn_refused(refused, stacklevel=4)

    def _load_entry(self, path: Path, model: pm.Model, secret: bytes) -> Any:
        """A stored compiled model, or None when there is none or it cannot be used.

        An entry that is not private to the user is not read (a warning names it; a new entry
        replaces it). One that fails its MAC or cannot be used is deleted.
        """
        if not path.is_file():
            return None
        try:
            compiled = _nutpie_seam.load(model, read_entry(path, secret))
        except Untrusted as refused:
            self._refuse(refused)
            return None
        except Exception as error:  # any unusable entry: compile instead, never crash
            self._counts["invalid"] += 1
            message = f"compiled-model cache entry {path} unusable ({error}); deleted, compiling."
            if isinstance(error, Forged):  # may be an attack: say so where the user sees it
                warnings.warn(message, UntrustedCacheWarning, stacklevel=3)
            else:
                log.warning(message)
            path.unlink(missing_ok=True)
            return None
        self._counts["hit"] += 1
        return compiled

    def _compile_and_store(
        self, path: Path, model: pm.Model, var_names: Sequence[str] | None, secret: bytes
    ) -> Any:
        """Compile with storable callbacks and store the entry; plain nutpie when this nutpie
        lacks a private name the cacheable compile needs (a warning names it)."""
        missing = _nutpie_seam.problems()
        if missing:
            _warn_seam("; ".join(missing))
            return _nutpie_seam.nutpie_compile(model, var_names)
        try:
            compiled, layout, logp, expand = _nutpie_seam.compile_cacheable(model, var_names)
        except _nutpie_seam.SeamError as error:
            _warn_seam(str(error))
            return _nutpie_seam.nutpie_compile(model, var_names)
        except Exception as error:  # e.g. a model the callbacks cannot hold: compile as nutpie
            log.warning(
                "cacheable compile failed with %s (%s: %s); compiling without the disk cache.",
                _nutpie_seam.versions(),
                type(error).__name__,
                error,
            )
            return _nutpie_seam.nutpie_compile(model, var_names)
        try:
            content = _nutpie_seam.entry_content(compiled, layout, logp, expand)
            write_entry(path, {"format": FORMAT, **content}, secret)
        except CacheEntryError as error:  # expected (e.g. the censored likelihood's code holds
            # addresses of this process): the model compiles again in a new process
            log.debug("compiled model not stored: %s", error)
        except Exception as error:  # a cache that cannot be written must not fail the fit
            log.warning("could not store the compiled model in %s: %s", path, error)
        return compiled


def _warn_seam(problems: str) -> None:
    warnings.warn(
        f"The compiled-model disk cache cannot use the installed {_nutpie_seam.versions()} "
        f"(alliance_bayes supports nutpie {_nutpie_seam.SUPPORTED_NUTPIE}.x): {problems}. "
        "The model is compiled by nutpie without the cache (a full compile in every process).",
        RuntimeWarning,
        stacklevel=4,
    )


def cache_dir() -> Path | None:
    """Folder of the compiled-model entries, or None when the disk cache is switched off.

    Examples
    --------
    >>> cache_dir() is None or cache_dir().name == "compiled"
    True
    """
    if os.environ.get("ALLIANCE_BAYES_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    root = os.environ.get("ALLIANCE_BAYES_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(xdg) / "alliance_bayes"
    return Path(root) / "compiled"


def default_store() -> CompiledModelStore:
    """The store the environment asks for now: on disk in :func:`cache_dir`, or none with
    ``ALLIANCE_BAYES_CACHE=0``. Both count into :func:`cache_stats`.

    Examples
    --------
    >>> isinstance(default_store(), DiskStore | NoCacheStore)
    True
    """
    folder = cache_dir()
    return NoCacheStore() if folder is None else DiskStore(folder)


def cache_stats() -> dict[str, int]:
    """Disk-cache lookups of this process: hits, misses (compiled and stored), invalid entries,
    lookups with the cache switched off, and folders, entries or keys refused as not private.

    Examples
    --------
    >>> sorted(cache_stats())
    ['hit', 'invalid', 'miss', 'uncached', 'untrusted']
    """
    return dict(_STATS)


def clear_disk_cache() -> int:
    """Delete every stored compiled model; returns how many entries were deleted.

    Examples
    --------
    >>> deleted = clear_disk_cache()
    >>> clear_disk_cache()  # nothing is left
    0
    """
    folder = cache_dir()
    return 0 if folder is None else DiskStore(folder).clear()


def compile_nutpie_model(model: pm.Model, var_names: Sequence[str] | None = None) -> Any:
    """A ``nutpie`` compiled model (numba backend) from the :func:`default_store`.

    Parameters
    ----------
    model
        A model of this package (its :func:`structure_key` keys the cache).
    var_names
        Variables to store in the trace (as for ``nutpie.compile_pymc_model``).

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        Carrying ``model``'s data; ``with_data`` swaps in the data of a same-structure model.

    Examples
    --------
    >>> compiled = compile_nutpie_model(model, var_names=["level"])  # doctest: +SKIP
    """
    return default_store().get_or_compile(model, var_names)
