"""``python -m alliance_bayes.cli``: the same command as ``alliance-bayes``."""

from . import app

if __name__ == "__main__":  # not when a doctest collector imports this module
    app()
