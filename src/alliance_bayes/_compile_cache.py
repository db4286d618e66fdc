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
meets a stale entry. Every entry carries a SHA-256 of its content; an entry that is corrupt,
from another layout, or does not fit the model is deleted and the model is compiled normally.

Location and switches
---------------------
- ``ALLIANCE_BAYES_CACHE_DIR``: the folder (default ``$XDG_CACHE_HOME/alliance_bayes``, i.e.
  ``~/.cache/alliance_bayes``); entries live in its ``compiled/`` subfolder.
- ``ALLIANCE_BAYES_CACHE=0``: no disk cache (compile in every process, as nutpie does).
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
import json
import logging
import os
import pickle
import platform
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

from .models._info import shared_values, structure_key

FORMAT = 1
_SOURCE_FILES = ("models", "priors.py", "spec.py", "data.py", "_compile_cache.py")
_VERSIONED = ("nutpie", "pytensor", "numba", "pymc", "llvmlite", "numpy")
_MAGIC = b"alliance_bayes compiled model\n"
_STATS = {"hit": 0, "miss": 0, "invalid": 0, "uncached": 0}

log = logging.getLogger(__name__)


class CacheEntryError(Exception):
    """A stored entry that cannot be used for this model (corrupt, stale or not matching)."""


def cache_stats() -> dict[str, int]:
    """Disk-cache lookups of this process: hits, misses (compiled and stored), invalid entries.

    Examples
    --------
    >>> sorted(cache_stats())
    ['hit', 'invalid', 'miss', 'uncached']
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


def _write_entry(path: Path, content: dict[str, Any]) -> None:
    """Write atomically (temporary file + rename), so readers see a whole entry or none."""
    from numba.core.serialize import dumps

    body = dumps(content)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_bytes(_MAGIC + hashlib.sha256(body).digest() + body)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_entry(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    start = len(_MAGIC)
    head, digest, body = raw[:start], raw[start : start + 32], raw[start + 32 :]
    if head != _MAGIC or hashlib.sha256(body).digest() != digest:
        raise CacheEntryError(f"{path.name} is corrupt (checksum mismatch).")
    try:
        content = pickle.loads(body)
    except Exception as error:
        raise CacheEntryError(f"{path.name} cannot be unpickled: {error}") from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CacheEntryError(f"{path.name} has another format.")
    return content


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


def _try_load(path: Path, model: pm.Model):
    """A stored compiled model, or None when there is none or it cannot be used (then deleted)."""
    if not path.is_file():
        return None
    try:
        content = _read_entry(path)
        _check_sources(content)
        compiled = _load(model, content)
    except Exception as error:  # any unusable entry: compile instead, never crash
        _STATS["invalid"] += 1
        log.warning("compiled-model cache entry %s unusable (%s); compiling.", path.name, error)
        path.unlink(missing_ok=True)
        return None
    _STATS["hit"] += 1
    return compiled


def _store(path: Path, compiled, layout: _Layout, logp, expand) -> None:
    content = {
        "format": FORMAT,
        "layout": layout,
        "shape_info": compiled.shape_info,
        "sources": (_logp_source(layout), _expand_source(layout)),
        "logp": _reduced(logp),
        "expand": _reduced(expand),
    }
    try:
        _write_entry(path, content)
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
    path = _entry_path(folder, entry_key(model, var_names))
    compiled = _try_load(path, model)
    if compiled is not None:
        return compiled
    _STATS["miss"] += 1
    try:
        compiled, layout, logp, expand = _compile(model, var_names)
    except Exception as error:  # e.g. a nutpie whose internals moved: compile as nutpie does
        log.warning("cacheable compile failed (%s); compiling without the disk cache.", error)
        return _nutpie_compile(model, var_names)
    try:
        _store(path, compiled, layout, logp, expand)
    except CacheEntryError as error:
        log.warning("compiled model not stored: %s", error)
    return compiled


def _nutpie_compile(model: pm.Model, var_names: Sequence[str] | None):
    import nutpie

    return nutpie.compile_pymc_model(model, backend="numba", var_names=var_names)
