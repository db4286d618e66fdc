"""The disk cache of compiled models: same log density as nutpie, found by a new process,
corrupt entries replaced by a compile, and a fit through it.

The compile tests share one cold compile and one reference compile of nutpie (each ~40 s).
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import nutpie
import pytest

import alliance_bayes as ab
from alliance_bayes import _compile_cache as cc
from alliance_bayes.fit import _stored_names, compile_counts, fit
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
STORED = _stored_names(ab.growth_model(DESIGN.to_data(random_seed=1)))  # as fit stores them


def tiny_model():
    return ab.growth_model(DESIGN.to_data(random_seed=1))


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
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALLIANCE_BAYES_CACHE_DIR", str(root))
        patch.delenv("ALLIANCE_BAYES_CACHE", raising=False)
        yield root / "compiled"


@pytest.fixture(scope="module")
def cold(cache_folder):
    """The first compile: a miss, stored; and what ``_compile`` returned, for the spy below."""
    results = []
    original = cc._compile

    def recording(*args):
        results.append(original(*args))
        return results[-1]

    before = cc.cache_stats()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cc, "_compile", recording)
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
    key = cc.entry_key(model, ["level"])
    assert key == cc.entry_key(tiny_model(), ["level"])
    assert key != cc.entry_key(model, ["level", "growth"])
    other = ab.growth_model(
        ab.Design(
            n_therapists=9, patients_per_therapist=3, sessions=[1, 2, 4], scale=[1, 7]
        ).to_data(random_seed=1)
    )
    assert key != cc.entry_key(other, ["level"])


@pytest.mark.parametrize("content", [b"", b"not a cache entry", cc._MAGIC + b"\0" * 40])
def test_garbage_entry_is_rejected_and_deleted(tmp_path, content):
    path = tmp_path / "entry.nbmodel"
    path.write_bytes(content)
    before = cc.cache_stats()["invalid"]
    assert cc._try_load(path, tiny_model()) is None
    assert cc.cache_stats()["invalid"] == before + 1
    assert not path.exists()


def test_callback_source_is_literal_about_the_layout():
    item = cc._SharedInput("time", "float64", 1, data_word=3, shape_word=7)
    layout = cc._Layout(4, 6, 9, "descr", (item,), ())
    source = cc._logp_source(layout)
    view = "numba.carray(address_as_void_pointer(words[3]), (int(words[7]), ), np.float64)"
    assert f"s0 = readonly({view})" in source
    assert "inner(x, s0)" in source
    assert "inner(x)" in cc._expand_source(layout)


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
    assert result["stats"] == {"hit": 1, "miss": 0, "invalid": 0, "uncached": 0}
    _, logp, grad = logp_and_grad(compiled, x)
    # the same machine code; sums over patients may round differently in the last bit
    # (arrays aligned differently in memory take other vectorised paths)
    assert result["logp"] == pytest.approx(logp, rel=1e-13)
    np.testing.assert_allclose(result["grad"], grad, rtol=1e-13, atol=1e-13)


@pytest.mark.slow
def test_corrupt_entry_falls_back_to_compiling(cold, reference, cache_folder, monkeypatch):
    """A flipped byte: the entry is rejected and deleted, the model compiled and stored again.

    The compile itself is replaced by the fixture's result to spare a third ~40 s compile; the
    fixture ran the real ``_compile``.
    """
    _, compile_result = cold
    (path,) = cache_folder.glob("*.nbmodel")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    calls = []
    monkeypatch.setattr(cc, "_compile", lambda *args: calls.append(args) or compile_result)
    before = cc.cache_stats()
    compiled = cc.compile_nutpie_model(tiny_model(), STORED)
    after = cc.cache_stats()
    assert len(calls) == 1
    assert {k: after[k] - before[k] for k in after} == {
        "hit": 0,
        "miss": 1,
        "invalid": 1,
        "uncached": 0,
    }
    assert_same_density(compiled, reference)
    content = cc._read_entry(path)  # stored again, whole
    assert content["format"] == cc.FORMAT


@pytest.mark.slow
def test_fit_goes_through_the_disk_cache(cold, monkeypatch):
    # an empty in-process cache for this test only: other tests' compiled models stay cached
    monkeypatch.setattr(sys.modules["alliance_bayes.fit"], "_CACHE", {})
    data = ab.simulate(tiny_model(), TRUTH, random_seed=2)
    before, counts = cc.cache_stats(), compile_counts()
    idata = fit(
        ab.growth_model(data), draws=100, tune=100, chains=2, random_seed=1, progressbar=False
    )
    assert cc.cache_stats()["hit"] == before["hit"] + 1
    assert compile_counts()["compile"] == counts["compile"] + 1
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 100
    assert np.isfinite(idata.posterior["level"].to_numpy()).all()
