"""A study's store on disk: a manifest and one JSON record per finished job.

Records are data (JSON), never pickle, so opening a store received from someone else cannot run
code. Every record is written atomically (a temporary file in the same folder, then a rename)
and carries a checksum of its content, so a partial or corrupt record is detected and redone.

What a store refuses, and why:

- A record is exactly ``records/job_NNNNNN.json`` holding a JSON object. Anything else in
  ``records/`` (``job_000001_copy.json``, ``job_000003 (1).json``, a list, ``null``) is ignored
  and reported with a :class:`StoreWarning`: a copy made by a file manager must not count twice.
- Every record carries the settings hash of its study (:func:`settings_hash`: a hash of the
  manifest's entries that define a job: kind, specs, design, truth, sampler settings, seed). A
  record with another hash belongs to another study: a report ignores it, a run refuses to start
  rather than overwrite it.
- A folder with records but no manifest is refused unless adopted (``adopt=True``, ``--adopt``):
  otherwise re-running with another seed would silently reuse the old records under a manifest
  that claims the new settings. Adopting keeps only records written under the same settings.
- One runner works a store at a time: :meth:`Store.lock` holds an exclusive ``flock`` on
  ``.lock`` (released by the kernel when its process dies, so a killed run never blocks the
  next one), and a second runner is told who holds it.
- Nothing is written through a symlink that leads out of the study folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import (
    StoreLockedError,
    StoreMismatchError,
    StoreWarning,
    UnsafePathError,
    show_some,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

MANIFEST = "manifest.json"
RECORDS = "records"
LOCK = ".lock"
# Manifest entries that may differ between runs of the same study (settings_hash is derived).
VOLATILE = ("versions", "n_jobs", "created", "settings_hash")
_RECORD_NAME = re.compile(r"job_(\d{6,})\.json")
_TEMPORARY = re.compile(r"\.job_\d{6,}\.json\..*\.tmp")
_FOREIGN = "written under other settings"
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_JSON_TYPES[type(None)] = "null"


def settings_hash(manifest: Mapping[str, Any]) -> str:
    """Hash of what defines a study's jobs: every manifest entry but the volatile ones.

    Examples
    --------
    >>> settings_hash({"kind": "sbc", "seed": 1, "n_jobs": 10}) == settings_hash(
    ...     {"kind": "sbc", "seed": 1, "n_jobs": 30})
    True
    """
    defining = {k: v for k, v in manifest.items() if k not in VOLATILE}
    return hashlib.sha256(_canonical(defining).encode()).hexdigest()


def _checksum(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(content).encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a record")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_jsonable)


def inside(folder: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path``, after checking that it does not lead out of ``folder`` through a symlink.

    Raises
    ------
    UnsafePathError
        If ``path`` (or a folder on the way to it) is a symlink that resolves outside
        ``folder``: writing there would overwrite a file the study does not own.

    Examples
    --------
    >>> inside("study", "study/sbc_test.csv")
    PosixPath('study/sbc_test.csv')
    """
    base = Path(folder).resolve()
    target = Path(path).resolve()
    if not target.is_relative_to(base):
        raise UnsafePathError(
            f"refusing to write {path}: it leads to {target}, outside the study folder {base} "
            "(a symlink). Remove the link, or use another folder."
        )
    return Path(path)


def write_atomic(path: Path, data: bytes, *, folder: str | os.PathLike | None = None) -> None:
    """Write ``data`` to ``path`` so that a reader sees either nothing or the whole file.

    With ``folder``, refuse a ``path`` that leads out of it (:func:`inside`). The rename replaces
    a symlink at ``path`` rather than writing through it, so even a link planted after the
    check cannot redirect the write.
    """
    if folder is not None:
        inside(folder, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(
    path: Path, content: Mapping[str, Any], *, folder: str | os.PathLike | None = None
) -> None:
    """Write ``content`` as JSON, atomically (:func:`write_atomic`)."""
    data = json.dumps(content, sort_keys=True, default=_jsonable).encode()
    write_atomic(path, data, folder=folder)


@dataclass
class Scan:
    """What a store's ``records/`` folder holds.

    ``records`` are the valid records of this study by job index; ``ignored`` maps every other
    file to why it was ignored; ``foreign`` names the files among them that are complete records
    of another study (another settings hash), which a run must not overwrite.
    """

    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    foreign: list[str] = field(default_factory=list)

    def describe(self, folder: Path) -> str:
        notes = [f"{name} ({why})" for name, why in self.ignored.items()]
        return f"{folder}: ignored {len(notes)} file(s) in {RECORDS}/: {show_some(notes)}"


class Store:
    """The folder of one study.

    Examples
    --------
    >>> store = Store("sbc_study")
    >>> store.open({"kind": "sbc", "seed": 1, "n_jobs": 100})
    >>> for job in (0, 1, 2):
    ...     store.write(job, {"ranks": {}})
    >>> store.done(100)
    {0, 1, 2}
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._lock_handle: int | None = None
        self._lock_depth = 0

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def record_path(self, index: int) -> Path:
        return self.folder / RECORDS / f"job_{index:06d}.json"

    # ------------------------------------------------------------------------ manifest
    def open(self, manifest: Mapping[str, Any], *, adopt: bool = False) -> None:
        """Create the store, or check that an existing one holds this very study.

        Parameters
        ----------
        manifest
            What defines the study (its hash is stored with it and in every record).
        adopt
            Take the records of a folder that has no manifest (it was lost or deleted) as this
            study's; only those written under the same settings are kept.

        Raises
        ------
        StoreMismatchError
            The manifest differs from the stored one; or the folder has records but no
            manifest and ``adopt`` is false; or, adopting, some records belong to another study.
        """
        with self.lock():
            if self.manifest_path.exists():
                self._reopen(manifest)
                return
            stamped = dict(manifest) | {"settings_hash": settings_hash(manifest)}
            self._check_orphans(stamped, adopt)
            write_json_atomic(self.manifest_path, stamped, folder=self.folder)

    def _reopen(self, manifest: Mapping[str, Any]) -> None:
        existing = self.manifest()
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
            write_json_atomic(
                self.manifest_path, {**existing, "n_jobs": manifest["n_jobs"]}, folder=self.folder
            )

    def _check_orphans(self, manifest: Mapping[str, Any], adopt: bool) -> None:
        """Refuse records left without a manifest, unless adopted and written under it."""
        names = self._record_names()
        if not names:
            return
        if not adopt:
            raise StoreMismatchError(
                f"the store {self.folder} has {len(names)} record(s) but no {MANIFEST}, so "
                "nothing says which study they belong to. Re-run with --adopt (adopt=True) to "
                "keep those written under the requested settings, or use another folder."
            )
        scan = self.scan(manifest=manifest, warn=False)
        if scan.foreign:
            raise StoreMismatchError(
                f"cannot adopt the records of {self.folder}: {len(scan.foreign)} were not written "
                f"under the requested settings ({show_some(scan.foreign)}). Re-run with the "
                "settings that made them, or use another folder."
            )

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            raise FileNotFoundError(f"{self.folder} is not a study store (no {MANIFEST}).")
        try:
            content = json.loads(self.manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise StoreMismatchError(f"{self.manifest_path} is not valid JSON: {error}") from None
        if not isinstance(content, dict):
            raise StoreMismatchError(f"{self.manifest_path} does not hold a JSON object.")
        return content

    def _hashes(self, manifest: Mapping[str, Any] | None = None) -> tuple[str, bool]:
        """This study's settings hash, and whether records without one are accepted.

        Stores written before records carried a hash have a manifest without one; their
        records are accepted as before (the manifest was checked when they were written).
        """
        manifest = self.manifest() if manifest is None else manifest
        return settings_hash(manifest), "settings_hash" not in manifest

    # ------------------------------------------------------------------------ records
    def write(self, index: int, record: Mapping[str, Any]) -> None:
        """Write the record of job ``index``, stamped with the study's settings hash."""
        content = dict(record) | {"index": index, "settings_hash": self._hashes()[0]}
        write_json_atomic(
            self.record_path(index), content | {"checksum": _checksum(content)}, folder=self.folder
        )

    def read(self, index: int) -> dict[str, Any] | None:
        """The record of job ``index``; ``None`` if it is missing, partial, corrupt or foreign."""
        record, _ = self._load(self.record_path(index), index, *self._hashes())
        return record

    def _load(
        self, path: Path, index: int, expected: str, legacy: bool
    ) -> tuple[dict[str, Any] | None, str | None]:
        """A record and ``None``, or ``None`` and why the file is not a record of this study."""
        try:
            inside(self.folder, path)
            content = json.loads(path.read_text())
        except FileNotFoundError:
            return None, "missing"
        except UnsafePathError:
            return None, "a symlink out of the study folder"
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return None, "not readable JSON (a partial write?): redone by a run"
        if not isinstance(content, dict):
            return None, f"holds a JSON {_JSON_TYPES.get(type(content), 'value')}, not an object"
        checksum = content.pop("checksum", None)
        if checksum != _checksum(content):
            return None, "its checksum does not match its content: redone by a run"
        if content.get("index") != index:
            return None, f"its index says {content.get('index')!r}"
        stamp = content.get("settings_hash")
        if stamp != expected and not (stamp is None and legacy):
            why = "it carries none" if stamp is None else f"{stamp:.12} is not {expected:.12}"
            return None, f"{_FOREIGN}: settings hash {why}"
        return content, None

    def _record_names(self) -> list[str]:
        folder = self.folder / RECORDS
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if _RECORD_NAME.fullmatch(p.name))

    def scan(
        self,
        n_jobs: int | None = None,
        *,
        manifest: Mapping[str, Any] | None = None,
        warn: bool = True,
    ) -> Scan:
        """Sort the files of ``records/`` into this study's records and ignored files.

        Parameters
        ----------
        n_jobs
            Keep only the records of jobs ``0 .. n_jobs - 1`` (the others are neither kept nor
            reported).
        manifest
            The study's manifest (default: the stored one).
        warn
            Issue a :class:`StoreWarning` naming the ignored files.
        """
        expected, legacy = self._hashes(manifest)
        scan = Scan()
        folder = self.folder / RECORDS
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            match = _RECORD_NAME.fullmatch(path.name)
            if match is None or path.name != self.record_path(int(match.group(1))).name:
                scan.ignored[path.name] = _not_a_record(path.name)
                continue
            index = int(match.group(1))
            if n_jobs is not None and index >= n_jobs:
                continue
            record, why = self._load(path, index, expected, legacy)
            if record is None:
                scan.ignored[path.name] = why
                scan.foreign += [path.name] if why.startswith(_FOREIGN) else []
            else:
                scan.records[index] = record
        if warn and scan.ignored:
            warnings.warn(scan.describe(self.folder), StoreWarning, stacklevel=3)
        return scan

    def done(self, n_jobs: int) -> set[int]:
        """Jobs below ``n_jobs`` whose record is complete and valid."""
        return set(self.scan(n_jobs, warn=False).records)

    def records(self, n_jobs: int | None = None) -> Iterator[dict[str, Any]]:
        """Every valid record (of jobs below ``n_jobs`` if given), in job order.

        Files that are not records of this study are skipped with a :class:`StoreWarning`.
        """
        scan = self.scan(n_jobs)
        yield from (scan.records[i] for i in sorted(scan.records))

    # ------------------------------------------------------------------------ lock
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's lock: one runner at a time (re-entrant within this object).

        Raises
        ------
        StoreLockedError
            Another process (or another :class:`Store` object) holds it; the message says
            which process, on which host, since when.
        """
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        handle = self._acquire()
        self._lock_handle, self._lock_depth = handle, 1
        try:
            yield
        finally:
            self._lock_handle, self._lock_depth = None, 0
            _release(handle)

    def _acquire(self) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = inside(self.folder, self.folder / LOCK)
        handle = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            _try_lock(handle)
        except OSError:
            os.lseek(handle, 0, os.SEEK_SET)
            holder = os.read(handle, 4096).decode(errors="replace").strip()
            os.close(handle)
            raise StoreLockedError(
                f"the store {self.folder} is in use by {_holder(holder)}; two runners would run "
                "the same jobs twice. Wait for it to finish, or stop it and re-run to resume."
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
        os.ftruncate(handle, 0)
        os.lseek(handle, 0, os.SEEK_SET)
        os.write(handle, json.dumps(holder).encode())
        return handle


def _not_a_record(name: str) -> str:
    if _TEMPORARY.fullmatch(name):
        return "the temporary file of an interrupted write"
    return "not a record name: records are job_NNNNNN.json"


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %z")


def _holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"process {holder['pid']} on {holder['host']} (since {holder['since']})"
    except (json.JSONDecodeError, KeyError, TypeError):
        return "another process (it has not said which yet)"


def _try_lock(handle: int) -> None:
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    import msvcrt  # pragma: no cover - Windows: lock one byte far beyond the holder's text

    os.lseek(handle, 1 << 20, os.SEEK_SET)  # pragma: no cover
    msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)  # pragma: no cover


def _release(handle: int) -> None:
    try:
        os.ftruncate(handle, 0)  # nobody holds it now
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
        else:  # pragma: no cover - Windows
            import msvcrt

            os.lseek(handle, 1 << 20, os.SEEK_SET)
            msvcrt.locking(handle, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(handle)
