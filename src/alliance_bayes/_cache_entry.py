"""The entries of the compiled-model cache: their key, their file format and their MAC.

An entry is one file per model structure, ``<key>.nbmodel``: a header, an HMAC-SHA256 of the
header, the file name and the content under the user's secret (:mod:`._cache_trust`), then the
content pickled by numba's serialiser. The MAC is checked before anything is unpickled; an
entry that fails it (corrupt, written under another key, forged, or renamed from another
entry) raises :class:`Forged`.

The key of an entry is the model's :func:`structure_key`, the stored variable names, the
versions of nutpie, PyTensor, numba, PyMC and Python, the PyTensor options that change the code,
the CPU (numba compiles for the host) and a hash of this package's model-building sources
(``models/``, ``priors.py``, ``spec.py``, ``data.py`` and the cache's own modules), so an edited
model never meets a stale entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import uuid
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pymc as pm

from . import _nutpie_seam
from ._cache_trust import read_private, write_private
from ._nutpie_seam import CacheEntryError
from .models._info import structure_key

FORMAT = 2
_SOURCE_FILES = (
    "models",
    "priors.py",
    "spec.py",
    "data.py",
    "_compile_cache.py",
    "_cache_entry.py",
    "_nutpie_seam.py",
)
MAGIC = b"alliance_bayes compiled model, HMAC-SHA256\n"
MAC_BYTES = 32


class Forged(CacheEntryError):
    """An entry whose MAC does not verify."""


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


def entry_key(model: pm.Model, var_names: Sequence[str] | None) -> str:
    """The disk-cache key of a model: its structure, what is stored, and the environment.

    Examples
    --------
    >>> from alliance_bayes import Design, growth_model
    >>> model = growth_model(Design(n_therapists=4, patients_per_therapist=2,
    ...                             sessions=[1, 2, 4], scale=[1, 7]).to_data(random_seed=1))
    >>> entry_key(model, ["level"]) == entry_key(model, ["level"]) != entry_key(model, None)
    True
    """
    content = {
        "structure": structure_key(model),
        "var_names": None if var_names is None else list(var_names),
        "check_bounds": bool(model.check_bounds),
        "environment": {**_nutpie_seam.environment(), "format": FORMAT, "sources": _source_hash()},
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def entry_path(folder: Path, key: str) -> Path:
    """The file of the entry of key ``key`` in ``folder``."""
    return folder / f"{key}.nbmodel"


def write_entry(path: Path, content: dict[str, Any], secret: bytes) -> None:
    """Write atomically (temporary file + rename), so readers see a whole entry or none.

    The file is 0600 whatever the umask, and carries the MAC of its header, name and content.
    """
    body = _nutpie_seam.dumps(content)
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write_private(temporary, MAGIC + mac(secret, path.name, body) + body)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_entry(path: Path, secret: bytes) -> dict[str, Any]:
    """The content of an entry, unpickled only after its MAC has been verified.

    Raises
    ------
    Untrusted
        The file is writable by group or others, or owned by another user (it is not read).
    CacheEntryError
        The entry is of another format, fails its MAC, or holds something else.
    """
    raw = read_private(path, secret=False)
    start = len(MAGIC)
    head, tag, body = raw[:start], raw[start : start + MAC_BYTES], raw[start + MAC_BYTES :]
    if head != MAGIC:
        raise CacheEntryError(f"{path.name} is from another version of the cache.")
    if not hmac.compare_digest(tag, mac(secret, path.name, body)):
        raise Forged(
            f"{path.name} fails its authentication (corrupt, written under another key, or forged)."
        )
    try:
        content = pickle.loads(body)
    except Exception as error:
        raise CacheEntryError(f"{path.name} cannot be unpickled: {error}") from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CacheEntryError(f"{path.name} has another format.")
    return content


def mac(secret: bytes, name: str, body: bytes) -> bytes:
    """HMAC-SHA256 of the header, the file name and the content.

    The name is the entry's key: covering it keeps a genuine entry from being served under the
    name of another model structure.
    """
    message = MAGIC + name.encode() + b"\n" + body
    return hmac.new(secret, message, hashlib.sha256).digest()
