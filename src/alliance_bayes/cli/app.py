"""The ``alliance-bayes`` command: the typer app, its console and its one error handler.

Every command answers a problem the user can fix (bad data, a malformed TOML file, an option out
of range, an output that would overwrite a file) with one line on stderr and exit code 2; the
global ``--debug`` option shows the traceback instead. Outputs are checked before any work is done.
A warning is one ``warning: ...`` line on stderr (no file name or source line).
The commands live in the modules of their group (:mod:`.data`, :mod:`.models`, :mod:`.checks`,
:mod:`.studies`), which register themselves on :data:`app`; this module imports none of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from .._version import __version__
from ..errors import DataValidationError

_DEBUG = "alliance_bayes.debug"


class CliError(Exception):
    """A problem with the command's arguments or files that the user can fix (exit code 2)."""


# What a user can act on. DataValidationError, a malformed TOML file (tomllib.TOMLDecodeError),
# an empty or undecodable CSV (pandas' EmptyDataError, UnicodeDecodeError) are ValueErrors; a
# missing or unreadable file is an OSError; an unknown preset or spec is a KeyError.
USER_ERRORS = (CliError, ValueError, KeyError, OSError)


class _Commands(TyperGroup):
    """The root command: the one place where errors become a message and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            with _warnings_as_lines():
                return super().invoke(ctx)
        except USER_ERRORS as error:
            if ctx.meta.get(_DEBUG):
                raise
            _print_error(error)
            raise typer.Exit(code=2) from None


app = typer.Typer(
    cls=_Commands,
    help="Bayesian multilevel models of the therapeutic alliance.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
error_console = Console(stderr=True, soft_wrap=True, highlight=False)


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Warnings as one ``warning: ...`` line on stderr, not Python's file, line and source."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        error_console.print(Text("warning: ", style="yellow") + Text(str(message)))

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def _print_error(error: BaseException) -> None:
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        message = error.args[0]  # str(KeyError) would wrap the message in quotes
    else:
        message = str(error) or type(error).__name__
    if not isinstance(error, CliError | DataValidationError):
        # a library error: usually the user's input too, but --debug shows where it came from
        message += " (alliance-bayes --debug ... shows the traceback)"
    error_console.print(Text("error: ", style="red") + Text(message))


def _version(value: bool) -> None:
    if value:
        console.print(f"alliance-bayes {__version__}")
        raise typer.Exit()


def fail(message: str) -> NoReturn:
    """Stop the command: ``message`` on stderr and exit code 2 (see :class:`CliError`)."""
    raise CliError(message)


@app.callback()
def main(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of an error instead of a one-line message."
    ),
) -> None:
    """Bayesian multilevel models of the therapeutic alliance."""
    ctx.meta[_DEBUG] = debug
