"""The status line `fit` shows while a model structure is compiled (no compile happens here)."""

from __future__ import annotations

import json
from contextlib import contextmanager

from alliance_bayes import _graph
from alliance_bayes.fit import COMPILE_MESSAGE, _compile_progress
from alliance_bayes.models._info import structure_key


class RecordingConsole:
    """Stands in for a rich console: records the status messages shown, and whether the work
    ran inside them."""

    def __init__(self):
        self.shown: list[str] = []
        self.open = False

    @contextmanager
    def status(self, message: str):
        self.shown.append(message)
        self.open = True
        yield
        self.open = False


def test_status_shown_while_a_new_structure_compiles(tiny_planned):
    console = RecordingConsole()
    inside = []
    with _compile_progress(tiny_planned, True, backend="test-new", console=console):
        inside.append(console.open)
    assert console.shown == [COMPILE_MESSAGE]
    assert inside == [True]
    assert "Compiling the model" in COMPILE_MESSAGE


def test_no_status_without_progressbar(tiny_planned):
    console = RecordingConsole()
    with _compile_progress(tiny_planned, False, backend="test-new", console=console):
        pass
    assert console.shown == []


def test_no_status_when_this_process_compiled_the_structure(tiny_planned, monkeypatch):
    monkeypatch.setattr(_graph, "CACHE", _graph.GraphCache())
    key = f"test-kept:{structure_key(tiny_planned)}"
    _graph.CACHE.get("sampler", key, lambda: object())
    console = RecordingConsole()
    with _compile_progress(tiny_planned, True, backend="test-kept", console=console):
        pass
    assert console.shown == []


def test_fit_times_the_compile_apart(tiny_fit):
    timing = json.loads(tiny_fit.attrs["timing"])
    assert 0 < timing["compile_s"] <= timing["sampling_s"]
