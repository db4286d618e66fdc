"""The key under which PyTensor's numba cache keeps this package's own compiled Ops."""

from __future__ import annotations

import hashlib
from pathlib import Path


def source_version(*paths: str | Path) -> int:
    """A hash of the source files that define an Op (the Op's own and those of the numba
    functions it calls), as the integer PyTensor's numba cache takes for a key, so an edited Op
    never meets stale compiled code in the disk cache.

    Examples
    --------
    >>> source_version(__file__) == source_version(__file__)
    True
    >>> source_version(__file__) < 16**15
    True
    """
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return int(digest.hexdigest()[:15], 16)
