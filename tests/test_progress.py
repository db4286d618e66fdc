"""Progress (issue 23, item 3): the decisions, not the pixels.

Where progress shows (terminal, Jupyter with or without ipywidgets) and where it does not
(``progress=False``, CI, a log file); that Jupyter gets one output updated in place and no
warning; that studies use it; and what ``fit`` says about the compile from the cache state.
"""

from __future__ import annotations

import io
import sys
import types
import warnings

import pytest

from alliance_bayes import _progress
from alliance_bayes._progress import ProgressBar, progress_mode, status, third_party_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class ZMQInteractiveShell:  # the class name is what Jupyter detection looks at
    pass


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")


@pytest.fixture
def jupyter(monkeypatch, clean_env):
    """A Jupyter kernel as far as the package can tell; records what is displayed."""
    shown = []

    class Handle:
        def update(self, bundle, raw=False):
            shown.append(("update", bundle["text/plain"]))

    def display(bundle, raw=False, display_id=False):
        shown.append(("display", bundle["text/plain"]))
        return Handle()

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: ZMQInteractiveShell()
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.display = display
    ipython.display = ipython_display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    monkeypatch.setattr(_progress, "JUPYTER_INTERVAL_S", 0.0)
    return shown


def test_off_when_asked(clean_env):
    assert progress_mode(enabled=False, stream=_Terminal()) == "off"


@pytest.mark.parametrize("value", ["true", "1", "True", "yes"])
def test_off_in_ci(monkeypatch, clean_env, value):
    monkeypatch.setenv("CI", value)
    assert progress_mode(stream=_Terminal()) == "off"


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_ci_variable_that_says_no_is_not_ci(monkeypatch, clean_env, value):
    monkeypatch.setenv("CI", value)
    assert progress_mode(stream=_Terminal()) == "terminal"


def test_off_when_not_a_terminal(clean_env):
    assert progress_mode(stream=io.StringIO()) == "off"


def test_off_on_a_dumb_terminal(monkeypatch, clean_env):
    monkeypatch.setenv("TERM", "dumb")
    assert progress_mode(stream=_Terminal()) == "off"


def test_jupyter_without_widgets_is_plain_text_updated_in_place(jupyter, monkeypatch):
    monkeypatch.setattr(_progress, "has_ipywidgets", lambda: False)
    assert progress_mode() == "jupyter"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rich's "install ipywidgets" would be an error here
        with ProgressBar("recovery", total=3, failed=0) as bar:
            for failed in (0, 1, 1):
                bar.advance(failed=failed)
    kinds = [kind for kind, _ in jupyter]
    assert kinds[0] == "display" and set(kinds[1:]) == {"update"}  # one output, redrawn
    last = jupyter[-1][1]
    assert "recovery" in last and "3/3" in last and "1 failed" in last
    assert "\x1b[" not in last  # plain text, no terminal codes


def test_label_is_text_not_markup(jupyter):
    with ProgressBar("power [/n40]", total=1) as bar:  # rich markup would raise here
        bar.advance()
    assert jupyter[-1][1].startswith("power [/n40]")


def test_jupyter_with_widgets_is_the_same_display(jupyter, monkeypatch):
    monkeypatch.setattr(_progress, "has_ipywidgets", lambda: True)
    with ProgressBar("sbc", total=2) as bar:
        bar.advance(2)
    assert jupyter[0][0] == "display" and "2/2" in jupyter[-1][1]


def test_pymc_bar_only_where_it_works(jupyter, monkeypatch):
    """PyMC's rich bar needs ipywidgets in Jupyter (else it warns at every refresh); nutpie's
    HTML bar does not."""
    monkeypatch.setattr(_progress, "has_ipywidgets", lambda: False)
    assert third_party_bar(True, needs_widgets=True) is False
    assert third_party_bar(True, needs_widgets=False) is True
    monkeypatch.setattr(_progress, "has_ipywidgets", lambda: True)
    assert third_party_bar(True, needs_widgets=True) is True
    assert third_party_bar(False, needs_widgets=False) is False


def test_nothing_shown_when_off(jupyter, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with ProgressBar("kfold", total=2) as bar, status("compiling"):
        bar.advance(2)
    assert jupyter == [] and bar.mode == "off" and bar.completed == 2


def test_status_in_jupyter_ends_with_the_time(jupyter):
    with status("compiling the model"):
        pass
    assert jupyter[0] == ("display", "compiling the model ...")
    assert jupyter[-1][1].startswith("compiling the model: done in ")


def test_status_without_a_message_shows_nothing(jupyter):
    with status(""):
        pass
    assert jupyter == []


def test_studies_report_progress_through_the_one_bar(jupyter, monkeypatch, tmp_path):
    """run_jobs (the runner of SBC, recovery, power) draws its bar with ProgressBar."""
    from alliance_bayes.checks import runner

    made = []

    class Recording(ProgressBar):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(runner, "ProgressBar", Recording)

    written = {}

    class Store:
        def write(self, index, record):
            written[index] = record

    jobs = [types.SimpleNamespace(index=i) for i in range(3)]
    runner._run_pending(jobs, Store(), {}, 1, True, "recovery", lambda job: {"status": "ok"})
    assert len(made) == 1 and made[0].mode == "jupyter" and made[0].completed == 3
    assert sorted(written) == [0, 1, 2]
    assert "3/3" in jupyter[-1][1]


# --------------------------------------------------------------------------- fit's compile message
def test_compile_message_follows_the_cache_state(tiny_planned, tmp_path, monkeypatch, clean_env):
    import importlib

    from alliance_bayes import _graph
    from alliance_bayes._cache_entry import entry_key, entry_path
    from alliance_bayes._compile_cache import DiskStore, NoCacheStore
    from alliance_bayes._graph import stored_names
    from alliance_bayes.models._info import structure_key

    fit = importlib.import_module("alliance_bayes.fit")  # the module (ab.fit is the function)
    monkeypatch.setattr(fit, "progress_mode", lambda enabled=True: "terminal")
    monkeypatch.setattr(_graph, "CACHE", _graph.GraphCache())
    store = DiskStore(tmp_path / "compiled", counts={})
    assert fit._compile_message(tiny_planned, store, True).startswith("compiling the model")
    assert fit._compile_message(tiny_planned, NoCacheStore(), True).startswith("compiling")
    path = entry_path(store.folder, entry_key(tiny_planned, stored_names(tiny_planned)))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"an entry")
    assert fit._compile_message(tiny_planned, store, True).startswith("loading the compiled")
    _graph.CACHE.get("sampler", f"numba:{structure_key(tiny_planned)}", lambda: "compiled")
    assert fit._compile_message(tiny_planned, store, True) == ""  # in this process: instant
    assert fit._compile_message(tiny_planned, store, False) == ""  # progressbar=False
