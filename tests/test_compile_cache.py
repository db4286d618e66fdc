"""The disk cache of compiled models: same log density as nutpie, found by a new process,
corrupt entries replaced by a compile, and a fit through it; folders, entries and key private to
the user, and no planted entry ever unpickled.

The compile tests share one cold compile and one reference compile of nutpie (each ~40 s). The
trust tests need no compile: ``no_compile`` stands in for the compiler.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import pickle
import shlex
import stat
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import nutpie
import pytest

import alliance_bayes as ab
from alliance_bayes import _cache_entry as entry
from alliance_bayes import _cache_trust as trust
from alliance_bayes import _compile_cache as cc
from alliance_bayes import _graph
from alliance_bayes import _nutpie_seam as seam
from alliance_bayes._graph import compile_counts, stored_names
from alliance_bayes.fit import fit
from alliance_bayes.models._info import shared_values

DESIGN = ab.Design(n_therapists=8, patients_per_therapist=3, sessions=[1, 2, 4], scale=[1, 7])
TRUTH = {
    "level": 5,
    "growth": 0.1,
    "sigma": 0.3,
    "therapist_sd": 0.1,
    "patient_sd": 0.3,
    "therapist_corr": {},
    "patient_corr": {},
}
MODEL_SCRIPT = """
from alliance_bayes import Design, growth_model
DESIGN = Design(n_therapists=8, patients_per_therapist=3, sessions=[1, 2, 4], scale=[1, 7])
model = growth_model(DESIGN.to_data(random_seed=1))
"""
STORED = stored_names(ab.growth_model(DESIGN.to_data(random_seed=1)))  # as fit stores them


SECRET = b"k" * 32  # a key for tests that call the entry functions directly
OLD_MAGIC = b"alliance_bayes compiled model\n"  # entries before the MAC: a SHA-256 in the file


def tiny_model():
    return ab.growth_model(DESIGN.to_data(random_seed=1))


class Planted:
    """What an attacker plants: unpickling it runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def planted_body(marker: Path) -> bytes:
    return pickle.dumps({"format": entry.FORMAT, "layout": Planted(marker)})


def old_style_entry(marker: Path) -> bytes:
    """A forged entry as the old reader accepted it: header, SHA-256 of the body, body."""
    body = planted_body(marker)
    return OLD_MAGIC + hashlib.sha256(body).digest() + body


def sealed_entry(body: bytes, name: str, secret: bytes) -> bytes:
    """An entry in the current layout, its MAC made with ``secret`` for file name ``name``."""
    return entry.MAGIC + entry.mac(secret, name, body) + body


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def logp_and_grad(compiled, x: np.ndarray) -> tuple[int, float, np.ndarray]:
    """Call a compiled model's C log-density callback as nutpie's sampler does."""
    x = np.ascontiguousarray(x, dtype=float)
    grad, logp = np.zeros(compiled.n_dim), np.zeros(())
    as_double = ctypes.POINTER(ctypes.c_double)
    status = compiled.compiled_logp_func.ctypes(
        compiled.n_dim,
        x.ctypes.data_as(as_double),
        grad.ctypes.data_as(as_double),
        logp.ctypes.data_as(as_double),
        compiled.user_data.ctypes.data,
    )
    return status, float(logp), grad


def expanded(compiled, x: np.ndarray) -> tuple[int, np.ndarray]:
    """Call a compiled model's C expand callback (parameters to stored values)."""
    x = np.ascontiguousarray(x, dtype=float)
    out = np.zeros(compiled.n_expanded)
    as_double = ctypes.POINTER(ctypes.c_double)
    status = compiled.compiled_expand_func.ctypes(
        compiled.n_dim,
        compiled.n_expanded,
        x.ctypes.data_as(as_double),
        out.ctypes.data_as(as_double),
        compiled.user_data.ctypes.data,
    )
    return status, out


def assert_same_density(compiled, reference, n_points: int = 5, seed: int = 0) -> None:
    """Same log density, gradient and stored values as nutpie at random points."""
    rng = np.random.default_rng(seed)
    for _ in range(n_points):
        x = rng.normal(size=reference.n_dim)
        status, logp, grad = logp_and_grad(compiled, x)
        expected_status, expected_logp, expected_grad = logp_and_grad(reference, x)
        assert status == expected_status == 0
        np.testing.assert_allclose(logp, expected_logp, rtol=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-12)
        status, values = expanded(compiled, x)
        expected_status, expected_values = expanded(reference, x)
        assert status == expected_status == 0
        np.testing.assert_allclose(values, expected_values, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def cache_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("compile_cache")
    key = tmp_path_factory.mktemp("config") / "cache.key"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALLIANCE_BAYES_CACHE_DIR", str(root))
        patch.setenv("ALLIANCE_BAYES_CACHE_KEY_FILE", str(key))
        patch.delenv("ALLIANCE_BAYES_CACHE", raising=False)
        yield root / "compiled"


@pytest.fixture(scope="module")
def cold(cache_folder):
    """The first compile: a miss, stored; and what ``compile_cacheable`` returned (for the spy
    below)."""
    results = []
    original = seam.compile_cacheable

    def recording(*args):
        results.append(original(*args))
        return results[-1]

    before = cc.cache_stats()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(seam, "compile_cacheable", recording)
        compiled = cc.compile_nutpie_model(tiny_model(), STORED)
    after = cc.cache_stats()
    assert (after["miss"] - before["miss"], after["hit"] - before["hit"]) == (1, 0)
    return compiled, results[0]


@pytest.fixture(scope="module")
def reference():
    return nutpie.compile_pymc_model(tiny_model(), backend="numba", var_names=STORED)


# --- fast: no compile -------------------------------------------------------------------------


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ALLIANCE_BAYES_CACHE", raising=False)
    monkeypatch.delenv("ALLIANCE_BAYES_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cc.cache_dir() == tmp_path / "alliance_bayes" / "compiled"
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_DIR", str(tmp_path / "mine"))
    assert cc.cache_dir() == tmp_path / "mine" / "compiled"
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE", "0")
    assert cc.cache_dir() is None


def test_entry_key_depends_on_structure_and_stored_names():
    model = tiny_model()
    key = entry.entry_key(model, ["level"])
    assert key == entry.entry_key(tiny_model(), ["level"])
    assert key != entry.entry_key(model, ["level", "growth"])
    # the number of therapists is data in the integrated model (198fcb7); the likelihood is not
    other = ab.growth_model(DESIGN.to_data(random_seed=1), likelihood="student_t")
    assert key != entry.entry_key(other, ["level"])


@pytest.mark.filterwarnings("ignore::alliance_bayes._compile_cache.UntrustedCacheWarning")
@pytest.mark.parametrize("content", [b"", b"not a cache entry", entry.MAGIC + b"\0" * 40])
def test_garbage_entry_is_rejected_and_deleted(tmp_path, content):
    path = tmp_path / "entry.nbmodel"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    before = cc.cache_stats()["invalid"]
    assert cc.DiskStore(tmp_path)._load_entry(path, tiny_model(), SECRET) is None
    assert cc.cache_stats()["invalid"] == before + 1
    assert not path.exists()


def test_callback_source_is_literal_about_the_layout():
    item = seam.SharedInput("time", "float64", 1, data_word=3, shape_word=7)
    layout = seam.Layout(4, 6, 9, "descr", (item,), ())
    source = seam.logp_source(layout)
    view = "numba.carray(address_as_void_pointer(words[3]), (int(words[7]), ), np.float64)"
    assert f"s0 = readonly({view})" in source
    assert "inner(x, s0)" in source
    assert "inner(x)" in seam.expand_source(layout)


# --- fast: trust (no compile) ----------------------------------------------------------------


class _StubCompiled:
    shape_info = ((), (), ())


_STUB_LAYOUT = seam.Layout(4, 6, 9, "descr", (), ())


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A cache folder and key of the test's own; returns the entries' folder (not yet made)."""
    monkeypatch.delenv("ALLIANCE_BAYES_CACHE", raising=False)
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_KEY_FILE", str(tmp_path / "config" / "cache.key"))
    return tmp_path / "cache" / "compiled"


@pytest.fixture
def no_compile(monkeypatch):
    """``compile_nutpie_model`` without compiling: records "cacheable" (compiled and stored
    in the cache) or "plain" (nutpie without the cache) for each compile it asks for."""
    calls = []
    stub = _StubCompiled()

    def cacheable(model, var_names):
        calls.append("cacheable")
        return stub, _STUB_LAYOUT, None, None

    def plain(model, var_names):
        calls.append("plain")
        return "plain nutpie compile"

    monkeypatch.setattr(seam, "compile_cacheable", cacheable)
    monkeypatch.setattr(seam, "reduced", lambda callback: ("stub",))
    monkeypatch.setattr(seam, "nutpie_compile", plain)
    return calls


def entry_of(folder: Path, model) -> Path:
    return entry.entry_path(folder, entry.entry_key(model, STORED))


def make_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    os.chmod(folder.parent, 0o700)
    os.chmod(folder, 0o700)


def compile_recording_warnings(model):
    """``compile_nutpie_model`` and every warning it gave (the marker is checked first)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cc.compile_nutpie_model(model, STORED)
    return result, caught


def untrusted_messages(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, cc.UntrustedCacheWarning)]


def test_new_cache_folder_entries_and_key_are_private_whatever_the_umask(private_cache, no_compile):
    model = tiny_model()
    umask = os.umask(0)
    try:
        cc.compile_nutpie_model(model, STORED)
    finally:
        os.umask(umask)
    assert no_compile == ["cacheable"]
    modes = {
        "cache": mode(private_cache.parent),
        "compiled": mode(private_cache),
        "entry": mode(entry_of(private_cache, model)),
    }
    assert modes == {"cache": 0o700, "compiled": 0o700, "entry": 0o600}
    key = trust.key_file()
    assert (mode(key.parent), mode(key)) == (0o700, 0o600)


@pytest.mark.parametrize(
    ("where", "folder_mode"),
    [("compiled", 0o777), ("compiled", 0o770), ("cache", 0o777), ("cache", 0o757)],
)
def test_forged_entry_in_a_folder_others_can_write_is_never_read(
    private_cache, no_compile, tmp_path, where, folder_mode
):
    model = tiny_model()
    make_folder(private_cache)
    path = entry_of(private_cache, model)
    marker = tmp_path / "planted-code-ran"
    path.write_bytes(old_style_entry(marker))
    refused = private_cache if where == "compiled" else private_cache.parent
    os.chmod(refused, folder_mode)
    before = cc.cache_stats()
    result, caught = compile_recording_warnings(model)
    assert not marker.exists()
    assert result == "plain nutpie compile" and no_compile == ["plain"]
    assert cc.cache_stats()["untrusted"] == before.get("untrusted", 0) + 1
    (message,) = untrusted_messages(caught)
    assert f"{refused} is writable by group or others (mode {folder_mode:03o})" in message
    assert f"chmod 700 {refused}" in message
    assert path.exists()  # not read, not written: someone else's folder is left alone


def test_folder_owned_by_another_user_is_never_read(
    private_cache, no_compile, tmp_path, monkeypatch
):
    model = tiny_model()
    make_folder(private_cache)
    marker = tmp_path / "planted-code-ran"
    entry_of(private_cache, model).write_bytes(old_style_entry(marker))
    me = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: me + 1)
    result, caught = compile_recording_warnings(model)
    assert not marker.exists()
    assert result == "plain nutpie compile" and no_compile == ["plain"]
    (message,) = untrusted_messages(caught)
    assert f"{private_cache.parent} is owned by uid {me}, not by you (uid {me + 1})" in message
    assert "ALLIANCE_BAYES_CACHE_DIR" in message


def test_entry_others_can_write_is_not_read_even_with_a_valid_mac(
    private_cache, no_compile, tmp_path
):
    """The permission rule holds on its own: a writable entry is not opened for unpickling."""
    model = tiny_model()
    make_folder(private_cache)
    path = entry_of(private_cache, model)
    marker = tmp_path / "planted-code-ran"
    path.write_bytes(sealed_entry(planted_body(marker), path.name, trust.secret_key()))
    os.chmod(path, 0o666)
    with pytest.warns(cc.UntrustedCacheWarning, match="writable by group or others") as caught:
        cc.compile_nutpie_model(model, STORED)
    assert not marker.exists()
    assert str(path) in str(caught[0].message)
    assert no_compile == ["cacheable"]  # compiled, and a private entry stored in its place
    assert mode(path) == 0o600
    assert entry.read_entry(path, trust.secret_key())["format"] == entry.FORMAT


def wrong_mac(path: Path, marker: Path) -> bytes:
    return sealed_entry(planted_body(marker), path.name, b"another user's key" + b"\0" * 14)


def mac_of_another_entry(path: Path, marker: Path) -> bytes:
    """A genuine entry (the user's key) written for another model structure, renamed here."""
    return sealed_entry(planted_body(marker), "0" * 64 + ".nbmodel", trust.secret_key())


def corrupted(path: Path, marker: Path) -> bytes:
    raw = bytearray(sealed_entry(planted_body(marker), path.name, trust.secret_key()))
    raw[-5] ^= 0xFF
    return bytes(raw)


@pytest.mark.parametrize(
    ("forge", "problem"),
    [
        (lambda path, marker: old_style_entry(marker), "another version"),
        (wrong_mac, "fails its authentication"),
        (mac_of_another_entry, "fails its authentication"),
        (corrupted, "fails its authentication"),
    ],
    ids=["old-style checksum", "wrong key", "renamed entry", "flipped byte"],
)
def test_forged_entry_in_a_private_cache_does_not_run_and_is_replaced(
    private_cache, no_compile, tmp_path, forge, problem, caplog
):
    model = tiny_model()
    make_folder(private_cache)
    path = entry_of(private_cache, model)
    marker = tmp_path / "planted-code-ran"
    path.write_bytes(forge(path, marker))
    os.chmod(path, 0o600)
    before = cc.cache_stats()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cc.compile_nutpie_model(model, STORED)
    after = cc.cache_stats()
    assert not marker.exists()
    assert {k: after[k] - before[k] for k in ("invalid", "miss", "hit")} == {
        "invalid": 1,
        "miss": 1,
        "hit": 0,
    }
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert any(problem in m and str(path) in m for m in messages)
    if problem == "fails its authentication":  # possibly an attack: a warning, not a log line
        assert any(issubclass(w.category, cc.UntrustedCacheWarning) for w in caught)
    assert no_compile == ["cacheable"]
    assert entry.read_entry(path, trust.secret_key())["format"] == entry.FORMAT  # the new entry


def test_entries_round_trip_and_are_bound_to_key_and_name(tmp_path):
    path = tmp_path / "a.nbmodel"
    content = {"format": entry.FORMAT, "layout": "anything"}
    entry.write_entry(path, content, SECRET)
    assert entry.read_entry(path, SECRET) == content
    with pytest.raises(cc.CacheEntryError, match="authentication"):
        entry.read_entry(path, b"x" * 32)
    moved = path.rename(tmp_path / "b.nbmodel")
    with pytest.raises(cc.CacheEntryError, match="authentication"):
        entry.read_entry(moved, SECRET)


def test_key_is_made_once_and_never_replaced(private_cache):
    first = trust.secret_key()
    assert len(first) == 32 and first != SECRET
    assert trust.secret_key() == first
    trust.create_key(trust.key_file())  # a second process racing to make it: the first key stays
    assert trust.secret_key() == first
    assert [p.name for p in trust.key_file().parent.iterdir()] == ["cache.key"]


KEY_OPEN = "is readable or writable by group or others"


@pytest.mark.parametrize(
    ("damage", "named", "problem"),
    [
        (lambda key: os.chmod(key, 0o644), "key", f"{KEY_OPEN} (mode 644)"),
        (lambda key: os.chmod(key, 0o640), "key", f"{KEY_OPEN} (mode 640)"),
        (lambda key: os.chmod(key.parent, 0o777), "folder", "is writable by group or others"),
        (lambda key: key.write_text("not a key\n"), "key", "does not hold a 32-byte key"),
    ],
    ids=["key 644", "key 640", "key folder 777", "malformed key"],
)
def test_key_that_is_not_private_is_not_used(private_cache, no_compile, damage, named, problem):
    key = trust.key_file()
    trust.secret_key()
    damage(key)
    with pytest.warns(cc.UntrustedCacheWarning, match="cache key") as caught:
        result = cc.compile_nutpie_model(tiny_model(), STORED)
    assert result == "plain nutpie compile" and no_compile == ["plain"]
    message = str(caught[0].message)
    assert f"{key if named == 'key' else key.parent} {problem}" in message
    assert not list(private_cache.glob("*.nbmodel"))


def test_key_inside_the_cache_folder_is_refused(private_cache, no_compile, monkeypatch):
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_KEY_FILE", str(private_cache / "cache.key"))
    with pytest.warns(cc.UntrustedCacheWarning, match="inside the cache folder"):
        result = cc.compile_nutpie_model(tiny_model(), STORED)
    assert result == "plain nutpie compile"


def test_key_file_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ALLIANCE_BAYES_CACHE_KEY_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert trust.key_file() == tmp_path / "alliance_bayes" / "cache.key"
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_KEY_FILE", str(tmp_path / "k"))
    assert trust.key_file() == tmp_path / "k"


# --- slow: real compiles --------------------------------------------------------------------


@pytest.mark.slow
def test_cached_model_has_nutpie_log_density_and_gradient(cold, reference):
    compiled, _ = cold
    assert (compiled.n_dim, compiled.n_expanded) == (reference.n_dim, reference.n_expanded)
    assert compiled.shape_info[0] == reference.shape_info[0]
    assert_same_density(compiled, reference)


@pytest.mark.slow
def test_cached_model_has_nutpie_log_density_after_with_data(cold, reference):
    compiled, _ = cold
    data = ab.simulate(tiny_model(), TRUTH, random_seed=3)
    new = shared_values(ab.growth_model(data), compiled.shared_data)
    # the marginal model takes the ratings as their sums per patient (rating_sums)
    assert any(not np.array_equal(v, compiled.shared_data[k]) for k, v in new.items())
    assert_same_density(compiled.with_data(**new), reference.with_data(**new), seed=1)


@pytest.mark.slow
def test_a_new_process_loads_the_entry(cold, cache_folder):
    compiled, _ = cold
    x = np.random.default_rng(7).normal(size=compiled.n_dim)
    script = MODEL_SCRIPT + textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_compile_cache import logp_and_grad
        from alliance_bayes import _compile_cache as cc
        compiled = cc.compile_nutpie_model(model, {STORED!r})
        status, logp, grad = logp_and_grad(compiled, np.array({x.tolist()!r}))
        print(json.dumps({{"stats": cc.cache_stats(), "logp": logp, "grad": grad.tolist()}}))
        """
    )
    env = os.environ | {"ALLIANCE_BAYES_CACHE_DIR": str(cache_folder.parent)}
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["stats"] == {"hit": 1, "miss": 0, "invalid": 0, "uncached": 0, "untrusted": 0}
    _, logp, grad = logp_and_grad(compiled, x)
    # the same machine code; sums over patients may round differently in the last bit
    # (arrays aligned differently in memory take other vectorised paths)
    assert result["logp"] == pytest.approx(logp, rel=1e-13)
    np.testing.assert_allclose(result["grad"], grad, rtol=1e-13, atol=1e-13)


@pytest.mark.slow
def test_corrupt_entry_falls_back_to_compiling(cold, reference, cache_folder, monkeypatch):
    """A flipped byte: the entry is rejected and deleted, the model compiled and stored again.

    The compile itself is replaced by the fixture's result to spare a third ~40 s compile; the
    fixture ran the real ``compile_cacheable``.
    """
    _, compile_result = cold
    (path,) = cache_folder.glob("*.nbmodel")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    calls = []
    monkeypatch.setattr(
        seam, "compile_cacheable", lambda *args: calls.append(args) or compile_result
    )
    before = cc.cache_stats()
    with pytest.warns(cc.UntrustedCacheWarning, match="fails its authentication"):
        compiled = cc.compile_nutpie_model(tiny_model(), STORED)
    after = cc.cache_stats()
    assert len(calls) == 1
    assert {k: after[k] - before[k] for k in after} == {
        "hit": 0,
        "miss": 1,
        "invalid": 1,
        "uncached": 0,
        "untrusted": 0,
    }
    assert_same_density(compiled, reference)
    content = entry.read_entry(path, trust.secret_key())  # stored again, whole
    assert content["format"] == entry.FORMAT


@pytest.mark.slow
def test_fit_goes_through_the_disk_cache(cold, monkeypatch):
    # an empty in-process cache for this test only: other tests' compiled models stay cached
    monkeypatch.setattr(_graph, "CACHE", _graph.GraphCache())
    data = ab.simulate(tiny_model(), TRUTH, random_seed=2)
    before, counts = cc.cache_stats(), compile_counts()
    idata = fit(
        ab.growth_model(data), draws=100, tune=100, chains=2, random_seed=1, progressbar=False
    )
    assert cc.cache_stats()["hit"] == before["hit"] + 1
    assert compile_counts()["compile"] == counts["compile"] + 1
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 100
    assert np.isfinite(idata.posterior["level"].to_numpy()).all()


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["old-style entry, world-writable folder", "wrong MAC"])
def test_fit_succeeds_after_refusing_a_forged_entry(cold, reference, tmp_path, monkeypatch, attack):
    """The issue's two attacks on a real fit: neither planted entry runs, and the fit succeeds.

    The compiles are the fixtures' results with the new data swapped in (as ``fit`` does when
    it reuses a compiled model), to spare two more ~40 s compiles; everything between ``fit``
    and them is real.
    """
    _, (compiled, layout, logp, expand) = cold

    def cacheable(model, var_names):
        new = compiled.with_data(**shared_values(model, compiled.shared_data))
        return new, layout, logp, expand

    def plain(model, var_names):
        return reference.with_data(**shared_values(model, reference.shared_data))

    monkeypatch.setattr(seam, "compile_cacheable", cacheable)
    monkeypatch.setattr(seam, "nutpie_compile", plain)
    monkeypatch.setattr(_graph, "CACHE", _graph.GraphCache())
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ALLIANCE_BAYES_CACHE_KEY_FILE", str(tmp_path / "config" / "cache.key"))
    folder = tmp_path / "cache" / "compiled"
    make_folder(folder)
    model = ab.growth_model(ab.simulate(tiny_model(), TRUTH, random_seed=4))
    path = entry_of(folder, model)
    marker = tmp_path / "planted-code-ran"
    if attack == "wrong MAC":
        path.write_bytes(wrong_mac(path, marker))
        expected = "fails its authentication"
    else:
        path.write_bytes(old_style_entry(marker))
        os.chmod(folder, 0o777)
        expected = "writable by group or others"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = fit(model, draws=100, tune=100, chains=2, random_seed=1, progressbar=False)
    assert not marker.exists()
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 100
    assert np.isfinite(idata.posterior["level"].to_numpy()).all()
    assert any(expected in message for message in untrusted_messages(caught))
