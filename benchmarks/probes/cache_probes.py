"""The on-disk compile cache against planted entries and loose permissions (issue 18, section 1).

Run: python benchmarks/probes/cache_probes.py
Prints one line per probe. P2-P7 plant an entry for the probe model whose pickle payload calls
``os.system("touch <marker>")``, then ask ``compile_nutpie_model`` for that model; each line says
whether the planted code ran, what the cache did (compiling is stubbed out: "fell back to
compiling" means the entry was not used), whether the entry is still on disk, and the cache's
warnings and log messages. P1 prints the modes of a cache made from scratch under umask 000.

Works on the current code and on commits before the authenticated cache (fb006b6): there, the
forged entries carry the old valid SHA-256 checksum and the key probes are skipped. Everything is
written under one temporary folder, removed at the end; nothing is compiled or sampled.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
import os
import pickle
import shlex
import stat
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

STUB_NOISE = "cacheable compile failed"  # logged because the compilers are stubbed out

# setup(root, folder, entry, marker) plants what a probe needs; it may return a function that
# undoes a change to the process (e.g. a patched os.getuid).
Setup = Callable[[Path, Path, Path, Path], Callable[[], None] | None]


class Planted:
    """Unpickling this object runs ``touch <marker>``: the code an attacker would plant."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


class CompileCalled(Exception):
    """Raised by the stubbed compilers: the cache did not serve the model."""


def refuse_to_compile(*args, **kwargs):
    raise CompileCalled("compile called")


class Probe:
    """The cache module under test, the probe model, its entry's name, and what was logged."""

    def __init__(self, base: Path):
        import alliance_bayes as ab
        from alliance_bayes import _compile_cache as cc

        self.base = base
        self.cc: ModuleType = cc
        self.new = "secret" in inspect.signature(cc._try_load).parameters
        cc._compile = refuse_to_compile
        cc._nutpie_compile = refuse_to_compile
        design = ab.Design(
            n_therapists=8, patients_per_therapist=3, sessions=[1, 2, 4], scale=[1, 7]
        )
        self.model = ab.growth_model(design.to_data(random_seed=1))
        self.key = cc.entry_key(self.model, None)
        self.logged: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: self.logged.append(record.getMessage())
        logging.getLogger(cc.__name__).addHandler(handler)  # also keeps them off stderr

    def short(self, message: str) -> str:
        """A message without this run's temporary folder and entry name, cut to 160 characters."""
        text = message.replace(str(self.base), "<tmp>").replace(self.key, "<key>")
        return text[:160]

    def forged_old(self, marker: Path) -> bytes:
        """An entry in the pre-HMAC format: header, SHA-256 of the body, body."""
        body = pickle.dumps({"format": 1, "x": Planted(marker)})
        return b"alliance_bayes compiled model\n" + hashlib.sha256(body).digest() + body

    def forged_wrong_mac(self, marker: Path, name: str) -> bytes:
        """An entry in the current format; new code: MAC under another key, old: valid SHA-256."""
        cc = self.cc
        body = pickle.dumps({"format": cc.FORMAT, "x": Planted(marker)})
        if self.new:
            message = cc._MAGIC + name.encode() + b"\n" + body
            mac = hmac.new(b"w" * 32, message, hashlib.sha256).digest()
        else:
            mac = hashlib.sha256(body).digest()
        return cc._MAGIC + mac + body

    def run(self, label: str, name: str, setup: Setup) -> None:
        """A private cache under ``name``, changed by ``setup``; one line on what the cache did."""
        root = self.base / name
        os.environ["ALLIANCE_BAYES_CACHE_DIR"] = str(root)
        folder = root / "compiled"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)
        os.chmod(folder, 0o700)
        entry = folder / f"{self.key}.nbmodel"
        marker = root.parent / f"{root.name}.marker"
        restore = setup(root, folder, entry, marker)
        self.logged.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self.cc.compile_nutpie_model(self.model, None)
                outcome = "returned"
            except CompileCalled:
                outcome = "fell back to compiling"
            except Exception as error:  # a probe reports every failure, whatever its type
                outcome = f"raised {type(error).__name__}: {self.short(str(error))}"
            finally:
                if restore:
                    restore()
        told = [self.short(str(w.message)) for w in caught if "cache" in str(w.message)]
        logged = [self.short(m) for m in self.logged if not m.startswith(STUB_NOISE)]
        print(
            f"{label}: planted code ran={marker.exists()}; {outcome}; "
            f"entry kept={entry.exists()}; warnings={told}; logged={logged}"
        )

    def key_file(self) -> Path:
        return Path(os.environ["ALLIANCE_BAYES_CACHE_KEY_FILE"])


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def forged_probes(p: Probe) -> None:
    def world_writable_folder(root, folder, entry, marker):
        os.chmod(folder, 0o777)
        entry.write_bytes(p.forged_old(marker))

    def old_checksum(root, folder, entry, marker):
        entry.write_bytes(p.forged_old(marker))

    def wrong_mac(root, folder, entry, marker):
        entry.write_bytes(p.forged_wrong_mac(marker, entry.name))

    def other_owner(root, folder, entry, marker):
        entry.write_bytes(p.forged_wrong_mac(marker, entry.name))
        real = os.getuid
        os.getuid = lambda: real() + 4242
        return lambda: setattr(os, "getuid", real)

    def open_entry(root, folder, entry, marker):
        entry.write_bytes(p.forged_wrong_mac(marker, entry.name))
        os.chmod(entry, 0o666)

    def world_writable_root(root, folder, entry, marker):
        os.chmod(root, 0o777)
        entry.write_bytes(p.forged_wrong_mac(marker, entry.name))

    def open_key(root, folder, entry, marker):
        p.cc._secret_key()  # make the key, then open it up
        os.chmod(p.key_file(), 0o644)
        return lambda: os.chmod(p.key_file(), 0o600)

    p.run("P2 world-writable folder, old-style forged entry", "p2", world_writable_folder)
    p.run("P3a private folder, old-style checksum entry", "p3a", old_checksum)
    p.run("P3b private folder, current magic, wrong MAC (old: valid sha)", "p3b", wrong_mac)
    p.run("P4 folder owned by another uid, forged entry", "p4", other_owner)
    p.run("P5 private folder, group/other-writable entry", "p5", open_entry)
    p.run("P6 world-writable cache root (parent of compiled/)", "p6", world_writable_root)
    if p.new:
        p.run("P7 key file 0644", "p7", open_key)
    else:
        print("P7 key file 0644: skipped (this code has no key)")


def fresh_cache_modes(p: Probe) -> None:
    """P1: the modes of a new cache folder, entry and key written under umask 000."""
    cc = p.cc
    root = p.base / "p1"
    os.environ["ALLIANCE_BAYES_CACHE_DIR"] = str(root)
    os.environ["ALLIANCE_BAYES_CACHE_KEY_FILE"] = str(p.base / "p1-config" / "cache.key")
    entry = root / "compiled" / "k.nbmodel"
    old_umask = os.umask(0)
    try:
        if p.new:
            cc._private_folder(entry.parent)
            cc._write_entry(entry, {"format": cc.FORMAT}, cc._secret_key())
        else:
            cc._write_entry(entry, {"format": cc.FORMAT})
    finally:
        os.umask(old_umask)
    modes = {path.name: mode(path) for path in (root, entry.parent, entry)}
    if p.new:
        modes |= {"key": mode(p.key_file()), "key folder": mode(p.key_file().parent)}
    print("P1 umask 000, fresh cache: modes", modes)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cacheprobe-") as folder:
        base = Path(folder)
        os.environ["ALLIANCE_BAYES_CACHE_KEY_FILE"] = str(base / "config" / "cache.key")
        os.environ.pop("ALLIANCE_BAYES_CACHE", None)
        p = Probe(base)  # imports alliance_bayes once the key file is set
        print("module:", p.cc.__file__)
        forged_probes(p)
        fresh_cache_modes(p)


if __name__ == "__main__":
    main()
