"""A study's store on disk: a manifest and one JSON record per finished job.

Records are data (JSON), never pickle, so opening a store received from someone else cannot run
code. Every record is written atomically (a temporary file in the same folder, then a rename)
and carries a checksum of its content, so a partial or corrupt record is detected and redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
RECORDS = "records"
# Manifest entries that may differ between runs of the same study.
VOLATILE = ("versions", "n_jobs", "created")


class StoreMismatchError(ValueError):
    """The store holds a different study than the one requested."""


def _checksum(content: Mapping[str, Any]) -> str:
    text = json.dumps(content, sort_keys=True, default=_jsonable)
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a record")


def write_json_atomic(path: Path, content: Mapping[str, Any]) -> None:
    """Write ``content`` to ``path`` so that a reader sees either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(content, stream, sort_keys=True, default=_jsonable)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Store:
    """The folder of one study.

    Examples
    --------
    >>> store = Store("sbc_study")  # doctest: +SKIP
    >>> store.open({"kind": "sbc", "seed": 1, "n_jobs": 100})  # doctest: +SKIP
    >>> store.done()  # doctest: +SKIP
    {0, 1, 2}
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def record_path(self, index: int) -> Path:
        return self.folder / RECORDS / f"job_{index:06d}.json"

    def open(self, manifest: Mapping[str, Any]) -> None:
        """Create the store, or check that an existing one holds this very study."""
        if self.manifest_path.exists():
            existing = json.loads(self.manifest_path.read_text())
            mismatched = sorted(
                key
                for key in set(existing) | set(manifest)
                if key not in VOLATILE
                and _canonical(existing.get(key)) != _canonical(manifest.get(key))
            )
            if mismatched:
                raise StoreMismatchError(
                    f"the store {self.folder} holds a different study: {mismatched} differ from "
                    "the requested one. Use another --out folder, or delete this one."
                )
            if manifest.get("n_jobs", 0) > existing.get("n_jobs", 0):
                write_json_atomic(self.manifest_path, {**existing, "n_jobs": manifest["n_jobs"]})
            return
        write_json_atomic(self.manifest_path, dict(manifest))

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            raise FileNotFoundError(f"{self.folder} is not a study store (no {MANIFEST}).")
        return json.loads(self.manifest_path.read_text())

    def write(self, index: int, record: Mapping[str, Any]) -> None:
        content = dict(record) | {"index": index}
        write_json_atomic(self.record_path(index), content | {"checksum": _checksum(content)})

    def read(self, index: int) -> dict[str, Any] | None:
        """The record of job ``index``; ``None`` if it is missing, partial or corrupt."""
        path = self.record_path(index)
        try:
            content = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        checksum = content.pop("checksum", None)
        if checksum != _checksum(content) or content.get("index") != index:
            return None
        return content

    def done(self, n_jobs: int) -> set[int]:
        """Jobs below ``n_jobs`` whose record is complete and valid."""
        return {i for i in range(n_jobs) if self.read(i) is not None}

    def records(self) -> Iterator[dict[str, Any]]:
        """Every valid record, in job order."""
        folder = self.folder / RECORDS
        for path in sorted(folder.glob("job_*.json")) if folder.exists() else []:
            record = self.read(int(path.stem.split("_")[1]))
            if record is not None:
                yield record


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_jsonable)
