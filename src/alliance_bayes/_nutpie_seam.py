"""The seam between this package and nutpie's (and numba's) internals: a compiled model whose
machine code can be stored, and every private name that takes.

nutpie compiles a PyMC model in two steps: PyTensor builds and rewrites the graph and compiles the
log-density (with its gradient) and the "expand" function with numba, which PyTensor already
caches on disk; then numba compiles two C callbacks that unpack nutpie's data pointers and call
those functions. The callbacks refer to per-model objects, so numba never caches them, and
compiling them (LLVM optimises the whole linked graph) is most of the time of a compile.

Here the callbacks are generated as source whose only per-model content is literal (the number
of parameters, the byte offsets of the data pointers in nutpie's ``user_data`` record, the
dtypes and ranks of the data). :func:`compile_cacheable` compiles them and returns what an entry
needs (:func:`entry_content`); :func:`load` rebuilds the compiled model from an entry for a model
of the same structure, skipping both PyTensor's graph work and numba: only PyMC's initial-point
function is built anew. The result is the same ``nutpie.compile_pymc.CompiledPyMCModel`` that
``nutpie.compile_pymc_model`` returns, and ``with_data`` works on it as usual.

Private names
-------------
That takes names that nutpie, numba and PyTensor do not promise to keep. :data:`PRIVATE` lists
every one of them; the code reaches them through :func:`private` (or, for attributes of objects
it is handed, as listed there), ``pyproject.toml`` pins nutpie to the series they were checked
on (0.16), and ``tests/test_nutpie_contract.py`` fails when an installed release lacks one or
changed its kind or parameters. At run time :func:`problems` names what is missing, and the
store warns with those names and the versions, then compiles with plain nutpie (slower in every
new process, but correct).
"""

from __future__ import annotations

import importlib
import inspect
import platform
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from importlib.metadata import version
from typing import Any

import numpy as np
import pymc as pm

from .models._info import shared_values

SUPPORTED_NUTPIE = "0.16"  # the series PRIVATE was checked on; pyproject.toml pins it


class CacheEntryError(Exception):
    """A stored entry or a compiled model that the cache cannot use or hold (corrupt, stale,
    not matching the model, or tied to this process)."""


class SeamError(AttributeError):
    """A private name of :data:`PRIVATE` that the installed packages lack or changed."""


@dataclass(frozen=True)
class Private:
    """One private name this package reaches into, and what it must still be.

    ``path`` is ``module:attribute.chain``. ``kind`` is ``function``, ``class``, ``method``,
    ``property`` or ``object``. ``parameters`` must be accepted: by a function or method (its
    signature), by a class (its dataclass or named-tuple fields, else its ``__init__``).
    ``mentions``: names its source must use (for protocols reached through an object, such as
    the cache a numba ``CFunc`` consults).
    """

    path: str
    kind: str
    parameters: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    used_for: str = ""


_COMPILE_PYMC = "nutpie.compile_pymc"
PRIVATE: tuple[Private, ...] = (
    Private(
        f"{_COMPILE_PYMC}:_make_functions",
        "function",
        ("model", "mode", "compute_grad", "join_expanded", "pymc_initial_point_fn", "var_names"),
        used_for="PyTensor's logp and expand functions, and the shape info",
    ),
    Private(
        f"{_COMPILE_PYMC}:make_user_data",
        "function",
        ("shared_vars", "shared_data"),
        used_for="the user_data record (its 'shared' -> 'data'/'shape' fields are read)",
    ),
    Private(
        f"{_COMPILE_PYMC}:address_as_void_pointer", "object", used_for="the callbacks' pointers"
    ),
    Private(
        f"{_COMPILE_PYMC}:_rv_dict_to_flat_array_wrapper",
        "function",
        ("fn", "names", "shapes"),
        used_for="the initial-point function",
    ),
    Private(f"{_COMPILE_PYMC}:_wrap_with_lock", "function", ("func",)),
    Private(f"{_COMPILE_PYMC}:_prepare_dims_and_coords", "function", ("model", "shape_info")),
    Private(
        f"{_COMPILE_PYMC}:CompiledPyMCModel",
        "class",
        (
            "_n_dim",
            "dims",
            "_coords",
            "_shapes",
            "compiled_logp_func",
            "compiled_expand_func",
            "initial_point_func",
            "shared_data",
            "user_data",
            "n_expanded",
            "shape_info",
            "logp_func",
            "expand_func",
        ),
        used_for="the compiled model, assembled from its parts",
    ),
    Private(f"{_COMPILE_PYMC}:CompiledPyMCModel.with_data", "method"),
    Private("numba.core.ccallback:CFunc", "class", ("pyfunc", "sig", "locals", "options")),
    Private(
        "numba.core.ccallback:CFunc.compile",
        "method",
        mentions=("_cache", "load_overload", "save_overload"),
        used_for="a callback's compile result handed out or kept (CFunc._cache)",
    ),
    Private("numba.core.compiler:CompileResult", "class", ("library", "lifted")),
    Private("numba.core.compiler:CompileResult._reduce", "method"),
    Private(
        "numba.core.compiler:CompileResult._rebuild",
        "method",
        ("target_context", "libdata", "fndesc", "env", "signature"),
    ),
    Private("numba.core.codegen:CodeLibrary.has_dynamic_globals", "property"),
    Private("numba.core.registry:cpu_target", "object", used_for="the CPU and its context"),
    Private("numba.core.base:BaseContext.refresh", "method"),
    Private("numba.core.codegen:JITCPUCodegen.magic_tuple", "method"),
    Private(
        "numba.core.imputils:impl_ret_borrowed", "function", ("ctx", "builder", "retty", "ret")
    ),
    Private("numba.core.serialize:dumps", "function", ("obj",)),
    Private(
        "pytensor.link.basic:JITLinker.make_all",
        "method",
        mentions=("jit_fn",),
        used_for="the numba function behind a PyTensor function (function.vm.jit_fn)",
    ),
    Private("pytensor.compile.function.types:Function.get_shared", "method"),
    Private("pytensor:config.numba__fastmath", "object"),
)
_BY_PATH = {item.path: item for item in PRIVATE}


def _resolve(path: str) -> Any:
    module, _, chain = path.partition(":")
    value: Any = importlib.import_module(module)
    for name in chain.split("."):
        value = (
            inspect.getattr_static(value, name) if isinstance(value, type) else getattr(value, name)
        )
    return value


def _accepted(value: Any) -> set[str]:
    """The names a function takes, or the fields a class is built from."""
    if isinstance(value, type):
        if is_dataclass(value):
            return {field.name for field in fields(value)}
        if hasattr(value, "_fields"):
            return set(value._fields)
        value = value.__init__
    if isinstance(value, classmethod | staticmethod):
        value = value.__func__
    return set(inspect.signature(value).parameters)


def _kind_of(value: Any) -> str:
    if isinstance(value, type):
        return "class"
    if isinstance(value, property):
        return "property"
    if isinstance(value, classmethod | staticmethod) or inspect.isfunction(value):
        return "function"
    return "object"


def check(item: Private) -> str | None:
    """What is wrong with one private name on the installed packages; None when it is as
    listed.

    Examples
    --------
    >>> check(PRIVATE[0]) is None
    True
    """
    try:
        value = _resolve(item.path)
    except (ImportError, AttributeError) as error:
        return f"{item.path} is missing ({error})"
    kind = _kind_of(value)
    expected = "function" if item.kind == "method" else item.kind
    if expected != "object" and kind != expected:
        return f"{item.path} is a {kind} here, not a {item.kind}"
    missing = sorted(set(item.parameters) - _accepted(value)) if item.parameters else []
    if missing:
        return f"{item.path} no longer takes {', '.join(missing)}"
    function = value.__func__ if isinstance(value, classmethod | staticmethod) else value
    source = inspect.getsource(function) if item.mentions else ""
    unused = [name for name in item.mentions if name not in source]
    if unused:
        return f"{item.path} no longer uses {', '.join(unused)}"
    return None


@cache
def problems() -> tuple[str, ...]:
    """Every private name of :data:`PRIVATE` that the installed packages lack or changed.

    Examples
    --------
    >>> problems()
    ()
    """
    return tuple(problem for problem in map(check, PRIVATE) if problem is not None)


def versions() -> str:
    """The installed nutpie, numba and PyTensor, as the seam's messages name them.

    Examples
    --------
    >>> versions().startswith("nutpie ")
    True
    """
    return ", ".join(f"{name} {version(name)}" for name in ("nutpie", "numba", "pytensor"))


def private(path: str) -> Any:
    """The object at ``path`` (an entry of :data:`PRIVATE`), or a :class:`SeamError` that names
    it and the installed versions.

    Examples
    --------
    >>> private("nutpie.compile_pymc:make_user_data").__name__
    'make_user_data'
    """
    if path not in _BY_PATH:  # every private name is listed, so the contract test sees it
        raise ValueError(f"{path} is not listed in PRIVATE.")
    module, _, chain = path.partition(":")
    value: Any = None
    try:
        value = importlib.import_module(module)
        for name in chain.split("."):
            value = getattr(value, name)
    except (ImportError, AttributeError) as error:
        raise SeamError(
            f"{path} is missing in {versions()} (alliance_bayes supports nutpie "
            f"{SUPPORTED_NUTPIE}.x): {error}"
        ) from error
    return value


@cache
def environment() -> dict[str, Any]:
    """Versions, code options and CPU that the compiled machine code depends on.

    Examples
    --------
    >>> sorted(environment())
    ['cpu', 'machine', 'pytensor', 'python', 'versions']
    """
    import pytensor

    fastmath = bool(private("pytensor:config.numba__fastmath"))
    cpu_target = private("numba.core.registry:cpu_target")
    return {
        "python": sys.version,
        "machine": platform.machine(),
        "versions": {name: version(name) for name in _VERSIONED},
        "pytensor": {"floatX": pytensor.config.floatX, "fastmath": fastmath},
        "cpu": repr(cpu_target.target_context.codegen().magic_tuple()),
    }


def dumps(content: dict[str, Any]) -> bytes:
    """``content`` pickled by numba's serialiser (which reduces compile results)."""
    return private("numba.core.serialize:dumps")(content)


_VERSIONED = ("nutpie", "pytensor", "numba", "pymc", "llvmlite", "numpy")


# --- the C callbacks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedInput:
    """One data array the compiled functions read, and where its pointer and shape are stored."""

    name: str
    dtype: str
    ndim: int
    data_word: int  # index of the data pointer in user_data, viewed as uint64 words
    shape_word: int  # index of the first shape entry


@dataclass(frozen=True)
class Layout:
    """Everything the callbacks' source is generated from (and all that the cache must match)."""

    n_dim: int
    n_expanded: int
    n_words: int
    user_data_descr: str
    logp_inputs: tuple[SharedInput, ...]
    expand_inputs: tuple[SharedInput, ...]


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
            SharedInput(
                name=name,
                dtype=value.dtype.name,
                ndim=value.ndim,
                data_word=_word(shared[1] + data[1] + data[0].fields[name][1]),
                shape_word=_word(shared[1] + shape[1] + shape[0].fields[name][1]),
            )
        )
    return tuple(inputs)


def _layout(n_dim, n_expanded, user_data, logp_names, expand_names, shared_data) -> Layout:
    record = user_data.dtype
    if record.itemsize % 8 or np.dtype(np.uintp).itemsize != 8:
        raise CacheEntryError("nutpie's user_data is not made of 64-bit words here.")
    return Layout(
        n_dim=int(n_dim),
        n_expanded=int(n_expanded),
        n_words=record.itemsize // 8,
        user_data_descr=str(record.descr),
        logp_inputs=_shared_inputs(logp_names, shared_data, record),
        expand_inputs=_shared_inputs(expand_names, shared_data, record),
    )


def _unpack_lines(inputs: Sequence[SharedInput]) -> list[str]:
    """Source lines that view each data array from its pointer and shape in user_data."""
    lines = ["words = numba.carray(user_data_, (N_WORDS,), np.uint64)"]
    for i, item in enumerate(inputs):
        shape = "".join(f"int(words[{item.shape_word + k}]), " for k in range(item.ndim))
        pointer = f"address_as_void_pointer(words[{item.data_word}])"
        lines.append(f"s{i} = readonly(numba.carray({pointer}, ({shape}), np.{item.dtype}))")
    return lines


def _arguments(inputs: Sequence[SharedInput]) -> str:
    return "".join(f", s{i}" for i in range(len(inputs)))


def logp_source(layout: Layout) -> str:
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


def expand_source(layout: Layout) -> str:
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
    from numba.extending import intrinsic

    impl_ret_borrowed = private("numba.core.imputils:impl_ret_borrowed")

    @intrinsic
    def readonly(typingctx, array):
        if not isinstance(array, types.Array):
            return None
        sig = array.copy(readonly=True)(array)

        def codegen(context, builder, signature, args):
            return impl_ret_borrowed(context, builder, signature.return_type, args[0])

        return sig, codegen

    return readonly


def _callback_globals(layout: Layout, inner: Any) -> dict[str, Any]:
    import numba

    return {
        "__name__": __name__,  # numba rebuilds a loaded callback's environment from this module
        "numba": numba,
        "np": np,
        "address_as_void_pointer": private(f"{_COMPILE_PYMC}:address_as_void_pointer"),
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


def _callback(source: str, name: str, sig, inner: Any, layout: Layout, loaded: Any = None):
    """A numba C callback from generated source: compiled, or from a loaded compile result."""
    import numba

    CFunc = private("numba.core.ccallback:CFunc")
    namespace = _callback_globals(layout, inner)
    exec(compile(source, f"<alliance_bayes {name}>", "exec"), namespace)
    callback = CFunc(namespace[name], (sig.args, sig.return_type), locals={}, options={})
    callback._cache = _OneResultCache(loaded)  # numba's own hook: what enable_caching sets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.NumbaWarning)
        callback.compile()
    return callback


def reduced(callback) -> tuple:
    """The picklable compile result of a callback compiled here (numba's own cache format)."""
    cres = callback._cache.result
    if cres.library.has_dynamic_globals or cres.lifted:
        raise CacheEntryError("the callback refers to process-specific addresses.")
    return cres._reduce()


def _rebuilt(payload: tuple):
    context = private("numba.core.registry:cpu_target").target_context
    context.refresh()
    return private("numba.core.compiler:CompileResult._rebuild")(context, *payload)


# --- compiled models ------------------------------------------------------------------------------


def _initial_point_function(model: pm.Model, names: Sequence[str], shapes: Sequence[tuple]):
    """nutpie's default initial points (support point with jitter) as a flat array."""
    from pymc.initial_point import make_initial_point_fn

    wrap_with_lock = private(f"{_COMPILE_PYMC}:_wrap_with_lock")
    flat_array = private(f"{_COMPILE_PYMC}:_rv_dict_to_flat_array_wrapper")

    function = make_initial_point_fn(
        model=model,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    return flat_array(wrap_with_lock(function), names=names, shapes=shapes)


def _frozen_data(values: dict[str, Any]) -> dict[str, np.ndarray]:
    data = {}
    for name, value in values.items():
        data[name] = np.array(value, order="C", copy=True)
        data[name].flags.writeable = False
    return data


def _assemble(model, layout, shape_info, shared_data, user_data, logp, expand, functions):
    """nutpie's compiled-model object from its parts (as ``compile_pymc_model`` builds it)."""
    n_free = len(model.free_RVs)
    names, _, shapes = shape_info
    dims, coords = private(f"{_COMPILE_PYMC}:_prepare_dims_and_coords")(model, shape_info)
    return private(f"{_COMPILE_PYMC}:CompiledPyMCModel")(
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


def compile_cacheable(model: pm.Model, var_names: Sequence[str] | None):
    """Compile as nutpie does, with callbacks whose compiled code can be stored."""
    make_user_data = private(f"{_COMPILE_PYMC}:make_user_data")
    functions = private(f"{_COMPILE_PYMC}:_make_functions")(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=lambda seed: {},  # unused: _assemble builds the real one
        var_names=var_names,
    )
    n_dim, n_expanded, logp_pt, expand_pt, _, shape_info = functions
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
    logp = _callback(logp_source(layout), "logp_callback", logp_sig, logp_pt.vm.jit_fn, layout)
    expand = _callback(
        expand_source(layout), "expand_callback", expand_sig, expand_pt.vm.jit_fn, layout
    )
    compiled = _assemble(
        model, layout, shape_info, shared_data, user_data, logp, expand, (logp_pt, expand_pt)
    )
    return compiled, layout, logp, expand


def _model_shared_data(model: pm.Model, layout: Layout) -> dict[str, np.ndarray]:
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


def load(model: pm.Model, content: dict[str, Any]):
    """The compiled model from a stored entry's content, after checking that the entry's
    callbacks were generated by this code and that it fits this model."""
    _check_sources(content)
    layout, shape_info = content["layout"], content["shape_info"]
    shared_data = _model_shared_data(model, layout)
    variables = {
        name: model.dim_lengths[name] if name in model.dim_lengths else model[name]
        for name in shared_data
    }
    user_data = private(f"{_COMPILE_PYMC}:make_user_data")(variables, shared_data)
    if str(user_data.dtype.descr) != layout.user_data_descr:
        raise CacheEntryError("the data layout differs from the stored one.")
    logp_sig, expand_sig = _signatures()
    logp = _callback(
        logp_source(layout), "logp_callback", logp_sig, None, layout, _rebuilt(content["logp"])
    )
    expand = _callback(
        expand_source(layout),
        "expand_callback",
        expand_sig,
        None,
        layout,
        _rebuilt(content["expand"]),
    )
    return _assemble(model, layout, shape_info, shared_data, user_data, logp, expand, (None, None))


def _check_sources(content: dict[str, Any]) -> None:
    layout = content["layout"]
    expected = (logp_source(layout), expand_source(layout))
    if tuple(content["sources"]) != expected:
        raise CacheEntryError("the stored callbacks were generated from other source.")


def entry_content(compiled, layout: Layout, logp, expand) -> dict[str, Any]:
    """What an entry holds of a model compiled by :func:`compile_cacheable` (but the format
    number, which the entry adds)."""
    return {
        "layout": layout,
        "shape_info": compiled.shape_info,
        "sources": (logp_source(layout), expand_source(layout)),
        "logp": reduced(logp),
        "expand": reduced(expand),
    }


def nutpie_compile(model: pm.Model, var_names: Sequence[str] | None):
    """Compile as nutpie does (no private name used; nothing to store)."""
    import nutpie

    return nutpie.compile_pymc_model(model, backend="numba", var_names=var_names)
