"""Trust in the compiled-model cache: private folders and files, and the secret key.

An entry of the cache holds machine code and a pickle, so whoever can write one can run code
in the next fit. This module keeps the cache the user's own (the entries' format and their MAC
are in :mod:`._cache_entry`):

- The cache folder (``compiled/`` and the folder that holds it) is created 0700 and every entry
  0600, whatever the umask.
- A folder or entry that is writable by group or others, or owned by another user, is never read
  (the rule ssh applies to its keys): :class:`Untrusted` names it and says how to fix it, and
  the store turns that into an :class:`~alliance_bayes.errors.UntrustedCacheWarning` and a
  compile. The same rule holds for the key and its folder, and the key must not be readable by
  group or others either.
- The per-user secret that authenticates the entries lives outside the cache folder
  (``ALLIANCE_BAYES_CACHE_KEY_FILE``, default ``$XDG_CONFIG_HOME/alliance_bayes/cache.key``),
  made 0600 on first use.

On a system without POSIX owners and modes (Windows) the first two rules cannot be checked; the
MAC still is.
"""

from __future__ import annotations

import os
import secrets
import stat
import uuid
import warnings
from pathlib import Path

from .errors import UntrustedCacheWarning

KEY_BYTES = 32


class Untrusted(Exception):
    """A file or folder of the cache that is not private to the user.

    Its arguments are what it is (``"folder"``, ``"entry"``, ``"key"``, ``"key folder"``), its
    path, why it is refused and what the user can do about it.
    """


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


def not_private(info: os.stat_result, *, secret: bool) -> str | None:
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


def warn_refused(refused: Untrusted, stacklevel: int = 2) -> None:
    """Say what was refused, why, and how to fix it (the model is compiled instead)."""
    what, path, reason, fix = refused.args
    warnings.warn(
        f"The compiled-model cache {what} {path} {reason}, so it is not used and the model is "
        f"compiled instead. {fix}",
        UntrustedCacheWarning,
        stacklevel=stacklevel + 1,
    )


def check_folder(path: Path, what: str) -> None:
    """Raise Untrusted when a folder could hold someone else's writing."""
    reason = not_private(path.stat(), secret=False)
    if reason:
        raise Untrusted(what, path, reason, _fix(path, reason, what))


def make_private_folder(path: Path) -> None:
    """Create a folder 0700 whatever the umask; an existing folder is left as it is."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:  # another process made it first: checked like any other
        return
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def private_folder(folder: Path) -> None:
    """Create the cache folder (and the folder holding it) private, and check both.

    The holder counts because whoever can write it can replace ``compiled/`` itself.
    """
    for path, what in ((folder.parent, "folder"), (folder, "folder")):
        make_private_folder(path)
        check_folder(path, what)


def write_private(path: Path, data: bytes) -> None:
    """Create a new file 0600 whatever the umask (never through an existing file or link)."""
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        if hasattr(os, "fchmod"):
            os.fchmod(descriptor, 0o600)
        handle.write(data)
        handle.flush()
        os.fsync(descriptor)


def read_private(path: Path, *, secret: bool) -> bytes:
    """The bytes of a file, read only when the opened file itself is private to the user.

    The check is on the open descriptor, so the file cannot be swapped between check and read.
    """
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        what = "key" if secret else "entry"
        if not stat.S_ISREG(info.st_mode):
            raise Untrusted(what, path, "is not a regular file", f"Delete it (rm {path}).")
        reason = not_private(info, secret=secret)
        if reason:
            raise Untrusted(what, path, reason, _fix(path, reason, what))
        return handle.read()


def secret_key(cache: Path | None = None) -> bytes:
    """The user's secret for the entries' MACs, made on first use.

    Raises
    ------
    Untrusted
        The key, or its folder, is not private to the user, is malformed, or lies inside the
        cache folder ``cache`` (whoever could write an entry could then read the key).
    """
    path = key_file()
    make_private_folder(path.parent)
    check_folder(path.parent, "key folder")
    if cache is not None and path.resolve().is_relative_to(cache.parent.resolve()):
        raise Untrusted(
            "key",
            path,
            f"is inside the cache folder {cache.parent}",
            "Set ALLIANCE_BAYES_CACHE_KEY_FILE to a file outside it.",
        )
    if not path.exists():
        create_key(path)
    text = read_private(path, secret=True).strip()
    try:
        secret = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        secret = b""
    if len(secret) != KEY_BYTES:
        raise Untrusted(
            "key",
            path,
            f"does not hold a {KEY_BYTES}-byte key in hex",
            f"Delete it (rm {path}); a new one is made on the next fit.",
        )
    return secret


def create_key(path: Path) -> None:
    """Write a new random key, 0600; when processes race, the first one's key is everyone's.

    The key is written whole to a temporary file and then hard-linked to its name, which fails
    rather than replaces when the name exists: no process ever reads half a key.
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    write_private(temporary, secrets.token_bytes(KEY_BYTES).hex().encode() + b"\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: exclusive create instead
        try:
            write_private(path, temporary.read_bytes())
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def trusted_key(folder: Path) -> bytes:
    """The key for ``folder``'s entries, after making the folder private (if new) and checking
    that the folder and the key are private.

    Raises
    ------
    Untrusted
        The folder, the folder that holds it, the key or its folder is not private to the user.
    OSError
        The folder or the key cannot be made (e.g. a read-only home).
    """
    private_folder(folder)
    return secret_key(folder)
