"""Settings for the whole test run, notebooks included (nbmake kernels inherit the environment)."""

import os

# Notebooks read these to run with small draws in CI; a user's own setting wins.
os.environ.setdefault("ALLIANCE_BAYES_DRAWS", "200")
os.environ.setdefault("ALLIANCE_BAYES_TUNE", "300")
os.environ.setdefault("ALLIANCE_BAYES_SIMS", "20")
os.environ.setdefault("ALLIANCE_BAYES_WORKERS", "1")

# Property-based tests explore the same examples on every run, so CI cannot flake.
try:
    from hypothesis import settings

    settings.register_profile("deterministic", derandomize=True, deadline=None)
    settings.load_profile("deterministic")
except ImportError:  # hypothesis comes with the test extra
    pass
