"""Help texts keep their square brackets: Rich markup would take "[design]" for a tag."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from alliance_bayes.cli import app

BRACKETED = re.compile(r"\\?\[(\w+)\]")


def _commands(command, path):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, [*path, name])


def _bracketed_words():
    """``(command path, word)`` for every ``[word]`` in a command's or a parameter's help."""
    found = []
    for path, command in _commands(typer.main.get_command(app), []):
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        found += [(path, w) for w in sorted({w for t in texts for w in BRACKETED.findall(t)})]
    return found


def test_help_texts_with_brackets_exist():
    assert (["sbc"], "design") in _bracketed_words()


@pytest.mark.parametrize(("path", "word"), _bracketed_words())
def test_help_shows_square_brackets(path, word):
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"[{word}]" in result.output
    assert f"\\[{word}]" not in result.output
