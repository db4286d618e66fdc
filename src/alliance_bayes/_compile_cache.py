"""A disk cache of nutpie-compiled models, so that a new process does not compile again.

nutpie compiles a PyMC model in two steps: PyTensor builds and rewrites the graph and compiles the
log-density (with its gradient) and the "expand" function with numba, which PyTensor already
caches on disk; then numba compiles two C callbacks that unpack nutpie's data pointers and call
those functions. The callbacks refer to per-model objects, so numba never caches them, and
compiling them (LLVM optimises the whole linked graph) is most of the time of a compile.

Here the callbacks are generated as source whose only per-model content is literal (the number
of parameters, the byte offsets of the data pointers in nutpie's ``user_data`` record, the
dtypes and ranks of the data). Their compiled code (with the PyTensor functions linked in) and
what nutpie needs around it (parameter names, slices and shapes, the data layout) are written to
one file per model structure. A later process that builds a model of the same structure loads
that file and skips both PyTensor's graph work and numba: only PyMC's initial-point function is
built anew. The result is the same ``nutpie.compile_pymc.CompiledPyMCModel`` that
``nutpie.compile_pymc_model`` returns, and ``with_data`` works on it as usual.

The key of an entry is the model's :func:`structure_key`, the stored variable names, the
versions of nutpie, PyTensor, numba, PyMC and Python, the PyTensor options that change the code,
the CPU (numba compiles for the host) and a hash of this package's model-building sources
(``models/``, ``priors.py``, ``spec.py``, ``data.py`` and this module), so an edited model never
meets a stale entry. An entry that is corrupt, from another layout, or does not fit the model is
deleted and the model is compiled normally.

Trust
-----
An entry holds machine code and a pickle, so whoever can write one can run code in the next fit.
Three rules keep that to the user alone:

- The cache folder (``compiled/`` and the folder that holds it) is created 0700 and every entry
  0600, whatever the umask.
- A folder or entry that is writable by group or others, or owned by another user, is never read
  (the rule ssh applies to its keys): a :class:`UntrustedCacheWarning` names it and says how to
  fix it, and the model is compiled instead. The same rule holds for the key and its folder,
  and the key must not be readable by group or others either.
- Every entry carries an HMAC-SHA256 of its header, its file name (the key of the entry) and its
  content, under a per-user secret that lives outside the cache folder. The MAC is checked before
  anything is unpickled; an entry that fails it (corrupt, written under another key, forged, or
  renamed from another entry) is deleted with a warning and the model is compiled again.

On a system without POSIX owners and modes (Windows) the first two rules cannot be checked; the
MAC still is.

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
>>> import nutpie
>>> from alliance_bayes import Design, growth_model
>>> model = growth_model(Design(n_therapists=8, patients_per_therapist=3,
...                             sessions=[1, 2, 4], scale=[1, 7]).to_data(random_seed=1))
>>> compiled = compile_nutpie_model(model, var_names=None)  # doctest: +SKIP
>>> cache_stats()["hit"] + cache_stats()["miss"]  # doctest: +SKIP
1
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import pickle
import platform
import secrets
import stat
import sys
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pymc as pm

from .errors import UntrustedCacheWarning
from .models._info import shared_values, structure_key

FORMAT = 2
_SOURCE_FILES = ("models", "priors.py", "spec.py", "data.py", "_compile_cache.py")
_VERSIONED = ("nutpie", "pytensor", "numba", "pymc", "llvmlite", "numpy")
_MAGIC = b"alliance_bayes compiled model, HMAC-SHA256\n"
_MAC_BYTES = 32
_KEY_BYTES = 32
_STATS = {"hit": 0, "miss": 0, "invalid": 0, "uncached": 0, "untrusted": 0}

log = logging.getLogger(__name__)


class CacheEntryError(Exception):
    """A stored entry that cannot be used for this model (corrupt, stale or not matching)."""


class _Untrusted(Exception):
    """A file or folder of the cache that is not private to the user (the message says why)."""


def cache_stats() -> dict[str, int]:
    """Disk-cache lookups of this process: hits, misses (compiled and stored), invalid entries,
    lookups with the cache switched off, and folders, entries or keys refused as not private.

    Examples
    --------
    >>> sorted(cache_stats())
    ['hit', 'invalid', 'miss', 'uncached', 'untrusted']
    """
    return dict(_STATS)


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


def key_file() -> Path:
    """File of the secret that authenticates the cache entries (kept outside the cache folder).

    Examples
    --------
    >>> key_file().name
    'cache.key'
    """
    override = os.environ.get("ALLIANCE_BAYES_CACHE_KEY_FILE")
    if override:
        return Path(override)
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "alliance_bayes" / "cache.key"


def clear_disk_cache() -> int:
    """Delete every stored compiled model; returns how many entries were deleted.

    Examples
    --------
    >>> clear_disk_cache()  # doctest: +SKIP
    3
    """
    folder = cache_dir()
    if folder is None or not folder.is_dir():
        return 0
    entries = list(folder.glob("*.nbmodel"))
    for path in entries:
        path.unlink(missing_ok=True)
    return len(entries)


# --- keys -------------------------------------------------------------------------------------


@cache
def _source_hash() -> str:
    """SHA-256 of the sources that decide what a model's graph is."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _SOURCE_FILES:
        path = root / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


@cache
def _environment() -> dict[str, Any]:
    """Versions, code options and CPU that the compiled machine code depends on."""
    import pytensor
    from numba.core.registry import cpu_target

    return {
        "format": FORMAT,
        "python": sys.version,
        "machine": platform.machine(),
        "versions": {name: version(name) for name in _VERSIONED},
        "pytensor": {
            "floatX": pytensor.config.floatX,
            "fastmath": bool(pytensor.config.numba__fastmath),
        },
        "cpu": repr(cpu_target.target_context.codegen().magic_tuple()),
        "sources": _source_hash(),
    }


def entry_key(model: pm.Model, var_names: Sequence[str] | None) -> str:
    """The disk-cache key of a model: its structure, what is stored, and the environment."""
    content = {
        "structure": structure_key(model),
        "var_names": None if var_names is None else list(var_names),
        "check_bounds": bool(model.check_bounds),
        "environment": _environment(),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


# --- the C callbacks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _SharedInput:
    """One data array the compiled functions read, and where its pointer and shape are stored."""

    name: str
    dtype: str
    ndim: int
    data_word: int  # index of the data pointer in user_data, viewed as uint64 words
    shape_word: int  # index of the first shape entry


@dataclass(frozen=True)
class _Layout:
    """Everything the callbacks' source is generated from (and all that the cache must match)."""

    n_dim: int
    n_expanded: int
    n_words: int
    user_data_descr: str
    logp_inputs: tuple[_SharedInput, ...]
    expand_inputs: tuple[_SharedInput, ...]


def _word(offset: int) -> int:
    if offset % 8:
        raise CacheEntryError("user_data fields are not 8-byte aligned on this platform.")
    return offset // 8


def _shared_inputs(names: Sequence[str], shared_data: dict, record: np.dtype):
    """Where nutpie's ``make_user_data`` record keeps each array's data pointer and shape."""
    shared = record.fields["shared"]
    data, shape = shared[0].fields["data"], shared[0].fields["shape"]
    inputs = []
    for name in names:
        value = shared_data[name]
        inputs.append(
            _SharedInput(
                name=name,
                dtype=value.dtype.name,
                ndim=value.ndim,
                data_word=_word(shared[1] + data[1] + data[0].fields[name][1]),
                shape_word=_word(shared[1] + shape[1] + shape[0].fields[name][1]),
            )
        )
    return tuple(inputs)


def _layout(n_dim, n_expanded, user_data, logp_names, expand_names, shared_data) -> _Layout:
    record = user_data.dtype
    if record.itemsize % 8 or np.dtype(np.uintp).itemsize != 8:
        raise CacheEntryError("nutpie's user_data is not made of 64-bit words here.")
    return _Layout(
        n_dim=int(n_dim),
        n_expanded=int(n_expanded),
        n_words=record.itemsize // 8,
        user_data_descr=str(record.descr),
        logp_inputs=_shared_inputs(logp_names, shared_data, record),
        expand_inputs=_shared_inputs(expand_names, shared_data, record),
    )


def _unpack_lines(inputs: Sequence[_SharedInput]) -> list[str]:
    """Source lines that view each data array from its pointer and shape in user_data."""
    lines = ["words = numba.carray(user_data_, (N_WORDS,), np.uint64)"]
    for i, item in enumerate(inputs):
        shape = "".join(f"int(words[{item.shape_word + k}]), " for k in range(item.ndim))
        pointer = f"address_as_void_pointer(words[{item.data_word}])"
        lines.append(f"s{i} = readonly(numba.carray({pointer}, ({shape}), np.{item.dtype}))")
    return lines


def _arguments(inputs: Sequence[_SharedInput]) -> str:
    return "".join(f", s{i}" for i in range(len(inputs)))


def _logp_source(layout: _Layout) -> str:
    body = [
        *_unpack_lines(layout.logp_inputs),
        "x = numba.carray(x_, (N_DIM,))",
        "out = numba.carray(out_, (N_DIM,))",
        "logp = numba.carray(logp_, ())",
        f"logp_value, grad = inner(x{_arguments(layout.logp_inputs)})",
        "logp[()] = logp_value",
        "out[...] = grad",
        "if not np.all(np.isfinite(out)):",
        "    return 3",
        "if not np.isfinite(logp_value):",
        "    return 4",
    ]
    return _callback_source("logp_callback", "x_, out_, logp_", ["dim != N_DIM"], body, 1)


def _expand_source(layout: _Layout) -> str:
    body = [
        *_unpack_lines(layout.expand_inputs),
        "x = numba.carray(x_, (N_DIM,))",
        "out = numba.carray(out_, (N_EXPANDED,))",
        f"(values,) = inner(x{_arguments(layout.expand_inputs)})",
        "out[...] = values",
    ]
    checks = ["dim != N_DIM", "expanded != N_EXPANDED"]
    return _callback_source("expand_callback", "expanded, x_, out_", checks, body, -2)


def _callback_source(name: str, args: str, checks: list[str], body: list[str], error: int):
    """The common frame of nutpie's callbacks: size checks, 0 on success, a code on failure.

    The body is a function of its own: numba's SSA and liveness passes take minutes on a
    ``try`` block that holds every statement, and seconds on one that holds a single call.
    """
    lines = ["@numba.njit", f"def {name}_body({args}, user_data_):"]
    lines += [*(f"    {line}" for line in body), "    return 0", ""]
    lines += [f"def {name}(dim, {args}, user_data_):"]
    lines += [f"    if {check}:\n        return -1" for check in checks]
    lines += ["    try:", f"        return {name}_body({args}, user_data_)"]
    lines += ["    except Exception:", f"        return {error}"]
    return "\n".join(lines) + "\n"


@cache
def _readonly_intrinsic():
    """``readonly(array)``: the same array typed read-only.

    nutpie passes the data to the PyTensor functions as read-only arrays, and PyTensor's disk
    cache holds the functions compiled for those types; mutable arrays would compile them again.
    """
    from numba import types
    from numba.core.imputils import impl_ret_borrowed
    from numba.extending import intrinsic

    @intrinsic
    def readonly(typingctx, array):
        if not isinstance(array, types.Array):
            return None
        sig = array.copy(readonly=True)(array)

        def codegen(context, builder, signature, args):
            return impl_ret_borrowed(context, builder, signature.return_type, args[0])

        return sig, codegen

    return readonly


def _callback_globals(layout: _Layout, inner: Any) -> dict[str, Any]:
    import numba
    from nutpie.compile_pymc import address_as_void_pointer

    return {
        "__name__": __name__,  # numba rebuilds a loaded callback's environment from this module
        "numba": numba,
        "np": np,
        "address_as_void_pointer": address_as_void_pointer,
        "readonly": _readonly_intrinsic(),
        "inner": inner,
        "N_DIM": layout.n_dim,
        "N_EXPANDED": layout.n_expanded,
        "N_WORDS": layout.n_words,
    }


def _signatures():
    from numba import types

    double_ptr = types.CPointer(types.double)
    logp = types.int64(types.uint64, double_ptr, double_ptr, double_ptr, types.voidptr)
    expand = types.int64(types.uint64, types.uint64, double_ptr, double_ptr, types.voidptr)
    return logp, expand


class _OneResultCache:
    """A numba cache for one C callback: hands out a loaded result, or keeps a compiled one."""

    def __init__(self, loaded: Any = None):
        self.result = loaded

    def load_overload(self, sig, target_context):
        return self.result

    def save_overload(self, sig, cres):
        self.result = cres


def _callback(source: str, name: str, sig, inner: Any, layout: _Layout, loaded: Any = None):
    """A numba C callback from generated source: compiled, or from a loaded compile result."""
    import numba
    from numba.core.ccallback import CFunc

    namespace = _callback_globals(layout, inner)
    exec(compile(source, f"<alliance_bayes {name}>", "exec"), namespace)
    callback = CFunc(namespace[name], (sig.args, sig.return_type), locals={}, options={})
    callback._cache = _OneResultCache(loaded)  # numba's own hook: what enable_caching sets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.NumbaWarning)
        callback.compile()
    return callback


def _reduced(callback) -> tuple:
    """The picklable compile result of a callback compiled here (numba's own cache format)."""
    cres = callback._cache.result
    if cres.library.has_dynamic_globals or cres.lifted:
        raise CacheEntryError("the callback refers to process-specific addresses.")
    return cres._reduce()


def _rebuilt(payload: tuple):
    from numba.core.compiler import CompileResult
    from numba.core.registry import cpu_target

    context = cpu_target.target_context
    context.refresh()
    return CompileResult._rebuild(context, *payload)


# --- entries on disk ---------------------------------------------------------------------------


def _entry_path(folder: Path, key: str) -> Path:
    return folder / f"{key}.nbmodel"


def _write_entry(path: Path, content: dict[str, Any], secret: bytes) -> None:
    """Write atomically (temporary file + rename), so readers see a whole entry or none.

    The file is 0600 whatever the umask, and carries the MAC of its header, name and content.
    """
    from numba.core.serialize import dumps

    body = dumps(content)
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        _write_private(temporary, _MAGIC + _mac(secret, path.name, body) + body)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_entry(path: Path, secret: bytes) -> dict[str, Any]:
    """The content of an entry, unpickled only after its MAC has been verified.

    Raises
    ------
    _Untrusted
        The file is writable by group or others, or owned by another user (it is not read).
    CacheEntryError
        The entry is of another format, fails its MAC, or holds something else.
    """
    raw = _read_private(path, secret=False)
    start = len(_MAGIC)
    head, mac, body = raw[:start], raw[start : start + _MAC_BYTES], raw[start + _MAC_BYTES :]
    if head != _MAGIC:
        raise CacheEntryError(f"{path.name} is from another version of the cache.")
    if not hmac.compare_digest(mac, _mac(secret, path.name, body)):
        raise _Forged(
            f"{path.name} fails its authentication (corrupt, written under another key, or forged)."
        )
    try:
        content = pickle.loads(body)
    except Exception as error:
        raise CacheEntryError(f"{path.name} cannot be unpickled: {error}") from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CacheEntryError(f"{path.name} has another format.")
    return content


def _mac(secret: bytes, name: str, body: bytes) -> bytes:
    """HMAC-SHA256 of the header, the file name and the content.

    The name is the entry's key: covering it keeps a genuine entry from being served under the
    name of another model structure.
    """
    message = _MAGIC + name.encode() + b"\n" + body
    return hmac.new(secret, message, hashlib.sha256).digest()


class _Forged(CacheEntryError):
    """An entry whose MAC does not verify."""


# --- trust: private folders, files and key ------------------------------------------------------


def _not_private(info: os.stat_result, *, secret: bool) -> str | None:
    """Why someone other than the user could have written (or, for a secret, read) a file or
    folder; None when it is private. The rule ssh applies to its keys."""
    if not hasattr(os, "getuid"):  # no POSIX owners and modes: only the MAC protects
        return None
    if info.st_uid != os.getuid():
        return f"is owned by uid {info.st_uid}, not by you (uid {os.getuid()})"
    mode = stat.S_IMODE(info.st_mode)
    if secret and mode & 0o077:
        return f"is readable or writable by group or others (mode {mode:03o})"
    if mode & 0o022:
        return f"is writable by group or others (mode {mode:03o})"
    return None


def _fix(path: Path, reason: str, what: str) -> str:
    """What the user can do about a refused file or folder."""
    if "owned by" in reason:
        setting = "ALLIANCE_BAYES_CACHE_KEY_FILE" if "key" in what else "ALLIANCE_BAYES_CACHE_DIR"
        return f"Delete it if it is yours to delete, or set {setting} to a place of your own."
    if what == "key":  # others may have read it: a new key is safer than a private old one
        return f"Delete it (rm {path}; a new one is made on the next fit) or chmod 600 {path}."
    if what == "entry":  # the new compile is stored in its place, private
        return f"It is replaced by a new entry; check who else can write {path.parent}."
    return f"Make it private: chmod 700 {path}"


def _refuse(what: str, path: Path, reason: str, fix: str) -> None:
    _STATS["untrusted"] += 1
    warnings.warn(
        f"The compiled-model cache {what} {path} {reason}, so it is not used and the model is "
        f"compiled instead. {fix}",
        UntrustedCacheWarning,
        stacklevel=4,
    )


def _check_folder(path: Path, what: str) -> None:
    """Raise _Untrusted when a folder could hold someone else's writing."""
    reason = _not_private(path.stat(), secret=False)
    if reason:
        raise _Untrusted(what, path, reason, _fix(path, reason, what))


def _make_private_folder(path: Path) -> None:
    """Create a folder 0700 whatever the umask; an existing folder is left as it is."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:  # another process made it first: checked like any other
        return
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def _private_folder(folder: Path) -> None:
    """Create the cache folder (and the folder holding it) private, and check both.

    The holder counts because whoever can write it can replace ``compiled/`` itself.
    """
    for path, what in ((folder.parent, "folder"), (folder, "folder")):
        _make_private_folder(path)
        _check_folder(path, what)


def _write_private(path: Path, data: bytes) -> None:
    """Create a new file 0600 whatever the umask (never through an existing file or link)."""
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        if hasattr(os, "fchmod"):
            os.fchmod(descriptor, 0o600)
        handle.write(data)
        handle.flush()
        os.fsync(descriptor)


def _read_private(path: Path, *, secret: bool) -> bytes:
    """The bytes of a file, read only when the opened file itself is private to the user.

    The check is on the open descriptor, so the file cannot be swapped between check and read.
    """
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        what = "key" if secret else "entry"
        if not stat.S_ISREG(info.st_mode):
            raise _Untrusted(what, path, "is not a regular file", f"Delete it (rm {path}).")
        reason = _not_private(info, secret=secret)
        if reason:
            raise _Untrusted(what, path, reason, _fix(path, reason, what))
        return handle.read()


def _secret_key(cache: Path | None = None) -> bytes:
    """The user's secret for the entries' MACs, made on first use.

    Raises
    ------
    _Untrusted
        The key, or its folder, is not private to the user, is malformed, or lies inside the
        cache folder ``cache`` (whoever could write an entry could then read the key).
    """
    path = key_file()
    _make_private_folder(path.parent)
    _check_folder(path.parent, "key folder")
    if cache is not None and path.resolve().is_relative_to(cache.parent.resolve()):
        raise _Untrusted(
            "key",
            path,
            f"is inside the cache folder {cache.parent}",
            "Set ALLIANCE_BAYES_CACHE_KEY_FILE to a file outside it.",
        )
    if not path.exists():
        _create_key(path)
    text = _read_private(path, secret=True).strip()
    try:
        secret = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        secret = b""
    if len(secret) != _KEY_BYTES:
        raise _Untrusted(
            "key",
            path,
            f"does not hold a {_KEY_BYTES}-byte key in hex",
            f"Delete it (rm {path}); a new one is made on the next fit.",
        )
    return secret


def _create_key(path: Path) -> None:
    """Write a new random key, 0600; when processes race, the first one's key is everyone's.

    The key is written whole to a temporary file and then hard-linked to its name, which fails
    rather than replaces when the name exists: no process ever reads half a key.
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    _write_private(temporary, secrets.token_bytes(_KEY_BYTES).hex().encode() + b"\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: exclusive create instead
        try:
            _write_private(path, temporary.read_bytes())
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def _trusted_cache(folder: Path) -> bytes | None:
    """The key for ``folder``'s entries when the folder and the key are private; else None,
    after a warning that names what was refused and how to fix it."""
    try:
        _private_folder(folder)
        return _secret_key(folder)
    except _Untrusted as refused:
        _refuse(*refused.args)
    except OSError as error:  # e.g. a read-only home: the fit must not fail over its cache
        log.warning("compiled-model cache unavailable (%s); compiling.", error)
    return None


# --- compiled models ----------------------------------------------------------------------------


def _initial_point_function(model: pm.Model, names: Sequence[str], shapes: Sequence[tuple]):
    """nutpie's default initial points (support point with jitter) as a flat array."""
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper, _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    function = make_initial_point_fn(
        model=model,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    return _rv_dict_to_flat_array_wrapper(_wrap_with_lock(function), names=names, shapes=shapes)


def _frozen_data(values: dict[str, Any]) -> dict[str, np.ndarray]:
    data = {}
    for name, value in values.items():
        data[name] = np.array(value, order="C", copy=True)
        data[name].flags.writeable = False
    return data


def _assemble(model, layout, shape_info, shared_data, user_data, logp, expand, functions):
    """nutpie's compiled-model object from its parts (as ``compile_pymc_model`` builds it)."""
    from nutpie.compile_pymc import CompiledPyMCModel, _prepare_dims_and_coords

    n_free = len(model.free_RVs)
    names, _, shapes = shape_info
    dims, coords = _prepare_dims_and_coords(model, shape_info)
    return CompiledPyMCModel(
        _n_dim=layout.n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, shape in zip(names, shapes, strict=True)},
        compiled_logp_func=logp,
        compiled_expand_func=expand,
        initial_point_func=_initial_point_function(model, names[:n_free], shapes[:n_free]),
        shared_data=shared_data,
        user_data=user_data,
        n_expanded=layout.n_expanded,
        shape_info=shape_info,
        logp_func=functions[0],
        expand_func=functions[1],
    )


def _compile(model: pm.Model, var_names: Sequence[str] | None):
    """Compile as nutpie does, with callbacks whose compiled code can be stored."""
    from nutpie.compile_pymc import _make_functions, make_user_data

    n_dim, n_expanded, logp_pt, expand_pt, _, shape_info = _make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=lambda seed: {},  # unused: _assemble builds the real one
        var_names=var_names,
    )
    shared_vars = {}
    for variable in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if shared_vars.setdefault(variable.name, variable) is not variable:
            raise ValueError(f"Shared variables must have unique names: {variable.name}")
    shared_data = _frozen_data({name: v.get_value() for name, v in shared_vars.items()})
    user_data = make_user_data(shared_vars, shared_data)
    logp_names = [v.name for v in logp_pt.get_shared()]
    expand_names = [v.name for v in expand_pt.get_shared()]
    layout = _layout(n_dim, n_expanded, user_data, logp_names, expand_names, shared_data)
    logp_sig, expand_sig = _signatures()
    logp = _callback(_logp_source(layout), "logp_callback", logp_sig, logp_pt.vm.jit_fn, layout)
    expand = _callback(
        _expand_source(layout), "expand_callback", expand_sig, expand_pt.vm.jit_fn, layout
    )
    compiled = _assemble(
        model, layout, shape_info, shared_data, user_data, logp, expand, (logp_pt, expand_pt)
    )
    return compiled, layout, logp, expand


def _model_shared_data(model: pm.Model, layout: _Layout) -> dict[str, np.ndarray]:
    """The model's current data under the stored names, checked against the stored dtypes."""
    inputs = {item.name: item for item in (*layout.logp_inputs, *layout.expand_inputs)}
    try:
        data = _frozen_data(shared_values(model, inputs))
    except KeyError as error:
        raise CacheEntryError(f"the model has no shared variable {error}.") from error
    for name, item in inputs.items():
        if (data[name].dtype.name, data[name].ndim) != (item.dtype, item.ndim):
            raise CacheEntryError(f"{name} is {data[name].dtype}[{data[name].ndim}d] here.")
    return data


def _load(model: pm.Model, content: dict[str, Any]):
    """The compiled model from a stored entry, after checking that it fits this model."""
    from nutpie.compile_pymc import make_user_data

    layout, shape_info = content["layout"], content["shape_info"]
    shared_data = _model_shared_data(model, layout)
    variables = {
        name: model.dim_lengths[name] if name in model.dim_lengths else model[name]
        for name in shared_data
    }
    user_data = make_user_data(variables, shared_data)
    if str(user_data.dtype.descr) != layout.user_data_descr:
        raise CacheEntryError("the data layout differs from the stored one.")
    logp_sig, expand_sig = _signatures()
    logp = _callback(
        _logp_source(layout), "logp_callback", logp_sig, None, layout, _rebuilt(content["logp"])
    )
    expand = _callback(
        _expand_source(layout),
        "expand_callback",
        expand_sig,
        None,
        layout,
        _rebuilt(content["expand"]),
    )
    return _assemble(model, layout, shape_info, shared_data, user_data, logp, expand, (None, None))


def _check_sources(content: dict[str, Any]) -> None:
    layout = content["layout"]
    expected = (_logp_source(layout), _expand_source(layout))
    if tuple(content["sources"]) != expected:
        raise CacheEntryError("the stored callbacks were generated from other source.")


def _try_load(path: Path, model: pm.Model, secret: bytes):
    """A stored compiled model, or None when there is none or it cannot be used.

    An entry that is not private to the user is not read (a warning names it; a new entry
    replaces it). One that fails its MAC or cannot be used is deleted.
    """
    if not path.is_file():
        return None
    try:
        content = _read_entry(path, secret)
        _check_sources(content)
        compiled = _load(model, content)
    except _Untrusted as refused:
        _refuse(*refused.args)
        return None
    except Exception as error:  # any unusable entry: compile instead, never crash
        _STATS["invalid"] += 1
        message = f"compiled-model cache entry {path} unusable ({error}); deleted, compiling."
        if isinstance(error, _Forged):  # may be an attack: say so where the user sees it
            warnings.warn(message, UntrustedCacheWarning, stacklevel=3)
        else:
            log.warning(message)
        path.unlink(missing_ok=True)
        return None
    _STATS["hit"] += 1
    return compiled


def _store(path: Path, compiled, layout: _Layout, logp, expand, secret: bytes) -> None:
    content = {
        "format": FORMAT,
        "layout": layout,
        "shape_info": compiled.shape_info,
        "sources": (_logp_source(layout), _expand_source(layout)),
        "logp": _reduced(logp),
        "expand": _reduced(expand),
    }
    try:
        _write_entry(path, content, secret)
    except Exception as error:  # a cache that cannot be written must not fail the fit
        log.warning("could not store the compiled model in %s: %s", path, error)


def compile_nutpie_model(model: pm.Model, var_names: Sequence[str] | None = None):
    """A ``nutpie`` compiled model (numba backend), from the disk cache when possible.

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
    folder = cache_dir()
    if folder is None:
        _STATS["uncached"] += 1
        return _nutpie_compile(model, var_names)
    secret = _trusted_cache(folder)
    if secret is None:
        return _nutpie_compile(model, var_names)
    path = _entry_path(folder, entry_key(model, var_names))
    compiled = _try_load(path, model, secret)
    if compiled is not None:
        return compiled
    _STATS["miss"] += 1
    try:
        compiled, layout, logp, expand = _compile(model, var_names)
    except Exception as error:  # e.g. a nutpie whose internals moved: compile as nutpie does
        log.warning("cacheable compile failed (%s); compiling without the disk cache.", error)
        return _nutpie_compile(model, var_names)
    try:
        _store(path, compiled, layout, logp, expand, secret)
    except CacheEntryError as error:
        log.warning("compiled model not stored: %s", error)
    return compiled


def _nutpie_compile(model: pm.Model, var_names: Sequence[str] | None):
    import nutpie

    return nutpie.compile_pymc_model(model, backend="numba", var_names=var_names)
