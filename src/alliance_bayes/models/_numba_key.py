"""The key under which PyTensor's numba cache keeps this package's own compiled Ops."""

from __future__ import annotations

import hashlib
from pathlib import Path


def source_version(path: str | Path) -> int:
    """A hash of the source file that defines an Op, as the integer PyTensor's numba cache
    takes for a key, so an edited Op never meets stale compiled code in the disk cache."""
    return int(hashlib.sha256(Path(path).read_bytes()).hexdigest()[:15], 16)
