"""Settings for the whole test run, notebooks included (nbmake kernels inherit the environment)."""

import os

# Notebooks read these to run with small draws in CI; a user's own setting wins.
os.environ.setdefault("ALLIANCE_BAYES_DRAWS", "200")
os.environ.setdefault("ALLIANCE_BAYES_TUNE", "300")
