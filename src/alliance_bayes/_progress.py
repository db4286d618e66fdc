"""Progress of long work (fits' compiles, studies, K-fold refits), shown the same way everywhere.

One renderer, `rich`, and one decision, :func:`progress_mode`:

- ``"off"``: the caller said ``progress=False``, the environment is a CI run (``CI`` set to
  anything but ``0``/``false``/``no``), or the output is neither a terminal nor Jupyter (a log
  file, a pipe): nothing is shown, so logs hold no bar fragments.
- ``"terminal"``: stderr is a terminal: a live rich bar on stderr.
- ``"jupyter"``: inside a Jupyter kernel: the bar rendered by rich as plain text into one output
  that is updated in place (IPython's ``display(..., display_id=True)``), at most twice a second.
  This needs no ``ipywidgets`` (rich's own Jupyter display does, and warned on every refresh when
  they were missing) and shows in every front end and in saved notebooks.

For a new long-running loop (e.g. K-fold refits)::

    from ._progress import ProgressBar

    with ProgressBar("kfold", total=len(folds), enabled=progress) as bar:
        for fold in folds:
            ...
            bar.advance()                 # or bar.advance(failed=n_failed) to show failures

and :func:`status` for one step of unknown length (``with status("compiling", enabled=...)``).
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Mode = Literal["off", "terminal", "jupyter"]

# Jupyter: the shared output is redrawn at most this often (each redraw is a message to the
# front end); the last state is always drawn
JUPYTER_INTERVAL_S = 0.5
JUPYTER_WIDTH = 100
_NOT_CI = ("", "0", "false", "no")


def in_ci() -> bool:
    """Whether this runs in a CI job (the ``CI`` variable that CI services set).

    Examples
    --------
    >>> import os
    >>> in_ci() == (os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"))
    True
    """
    return os.environ.get("CI", "").strip().lower() not in _NOT_CI


def in_jupyter() -> bool:
    """Whether this runs in a Jupyter kernel (or Colab): IPython's shell is the kernel's.

    Examples
    --------
    >>> in_jupyter()  # a test run is not a kernel
    False
    """
    if "IPython" not in sys.modules:  # a kernel has imported it; never import it here
        return False
    shell = sys.modules["IPython"].get_ipython()
    if shell is None:
        return False
    return type(shell).__name__ == "ZMQInteractiveShell" or "google.colab" in str(type(shell))


def has_ipywidgets() -> bool:
    """Whether ``ipywidgets`` can be imported (what PyMC's and rich's own Jupyter bars need).

    Examples
    --------
    >>> isinstance(has_ipywidgets(), bool)
    True
    """
    return importlib.util.find_spec("ipywidgets") is not None


def progress_mode(enabled: bool = True, stream: TextIO | None = None) -> Mode:
    """How progress is shown here: ``"off"``, ``"terminal"`` or ``"jupyter"`` (module docs).

    Parameters
    ----------
    enabled
        The caller's ``progress=``/``progressbar=`` option: ``False`` is always ``"off"``.
    stream
        Where a terminal bar would go (default: ``sys.stderr``).

    Examples
    --------
    >>> progress_mode(enabled=False)
    'off'
    >>> import io
    >>> progress_mode(stream=io.StringIO())  # not a terminal, not Jupyter: a log file
    'off'
    """
    if not enabled or in_ci():
        return "off"
    if in_jupyter():
        return "jupyter"
    stream = sys.stderr if stream is None else stream
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        terminal = False
    if terminal and os.environ.get("TERM", "") != "dumb":
        return "terminal"
    return "off"


def third_party_bar(enabled: bool = True, needs_widgets: bool = True) -> bool:
    """Whether to let another library (nutpie, PyMC) draw its own bar here.

    PyMC draws with rich, which in Jupyter needs ``ipywidgets`` (without them it warns at every
    refresh): ``needs_widgets=True`` turns such a bar off there. nutpie draws HTML in Jupyter
    without widgets (``needs_widgets=False``).

    Examples
    --------
    >>> third_party_bar(enabled=False)
    False
    """
    mode = progress_mode(enabled)
    if mode == "jupyter" and needs_widgets:
        return has_ipywidgets()
    return mode != "off"


def _columns(failed: bool) -> list[ProgressColumn | str]:
    columns: list[ProgressColumn | str] = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    if failed:
        columns.append(TextColumn("done, {task.fields[failed]} failed"))
    return [*columns, TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]


def _text_console() -> Console:
    """A console that renders to a string (rich would display HTML itself in a kernel)."""
    return Console(
        file=io.StringIO(),
        width=JUPYTER_WIDTH,
        color_system=None,
        force_jupyter=False,
        force_terminal=False,
    )


class ProgressBar:
    """A bar of ``total`` steps, shown as :func:`progress_mode` decides; a context manager.

    Parameters
    ----------
    label
        What is counted, e.g. ``"recovery"``; shown before the bar.
    total
        The number of steps.
    enabled
        The caller's progress option (``False``: nothing is shown).
    completed
        Steps already done (a resumed study).
    failed
        Show a count of failed steps, starting here (``None``: no such column).

    Examples
    --------
    >>> with ProgressBar("jobs", total=3, enabled=False) as bar:
    ...     for _ in range(3):
    ...         bar.advance()
    >>> bar.mode, bar.completed
    ('off', 3)
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        enabled: bool = True,
        completed: int = 0,
        failed: int | None = None,
    ):
        self.mode: Mode = progress_mode(enabled)
        self.completed = completed
        self.failed = failed
        self._bar: Progress | None = None
        self._task: Any = None
        self._handle: Any = None  # the Jupyter output that is redrawn
        self._drawn_at = 0.0
        if self.mode == "off":
            return
        if self.mode == "terminal":
            console = Console(stderr=True)
        else:  # rendered to text here, and shown through IPython's display
            console = _text_console()
        self._bar = Progress(
            *_columns(failed is not None),
            console=console,
            auto_refresh=self.mode == "terminal",
        )
        fields = {"failed": failed} if failed is not None else {}
        self._task = self._bar.add_task(escape(label), total=total, completed=completed, **fields)

    def __enter__(self) -> ProgressBar:
        if self.mode == "terminal":
            self._bar.start()
        elif self.mode == "jupyter":
            from IPython.display import display

            self._handle = display(self._bundle(), raw=True, display_id=True)
            self._drawn_at = time.monotonic()
        return self

    def advance(self, steps: int = 1, *, failed: int | None = None) -> None:
        """``steps`` more steps done; ``failed``: the failed steps so far (if counted)."""
        self.completed += steps
        if failed is not None:
            self.failed = failed
        if self._bar is None:
            return
        fields = {"failed": self.failed} if self.failed is not None else {}
        self._bar.update(self._task, advance=steps, **fields)
        if self.mode == "jupyter" and time.monotonic() - self._drawn_at >= JUPYTER_INTERVAL_S:
            self._draw()

    def text(self) -> str:
        """The bar as plain text (what Jupyter shows); empty when off."""
        if self._bar is None:
            return ""
        console = _text_console()
        console.print(self._bar.get_renderable())
        return console.file.getvalue().rstrip()

    def _bundle(self) -> dict[str, str]:
        return {"text/plain": self.text()}

    def _draw(self) -> None:
        self._handle.update(self._bundle(), raw=True)
        self._drawn_at = time.monotonic()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.mode == "terminal":
            self._bar.stop()
        elif self.mode == "jupyter" and self._handle is not None:
            self._draw()


@contextmanager
def status(message: str, *, enabled: bool = True) -> Iterator[None]:
    """Say what is being done while a step of unknown length runs (e.g. a compile).

    In a terminal: a spinner with ``message`` on stderr, gone when the step ends. In Jupyter:
    ``message`` in an output that ends as ``message: done in 12 s``. Otherwise (or with an
    empty ``message``) nothing.

    Examples
    --------
    >>> with status("compiling the model", enabled=False):
    ...     pass
    """
    mode = progress_mode(enabled) if message else "off"
    if mode == "off":
        yield
        return
    if mode == "terminal":
        with Console(stderr=True).status(message):
            yield
        return
    from IPython.display import display

    start = time.monotonic()
    handle = display({"text/plain": f"{message} ..."}, raw=True, display_id=True)
    try:
        yield
    finally:
        handle.update(
            {"text/plain": f"{message}: done in {time.monotonic() - start:.0f} s"}, raw=True
        )
