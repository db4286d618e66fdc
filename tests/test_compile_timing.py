"""`fit` times the model's compile apart from the sampling (issue 20, cold start)."""

from __future__ import annotations

import json


def test_fit_times_the_compile_apart(tiny_fit):
    timing = json.loads(tiny_fit.attrs["timing"])
    assert 0 < timing["compile_s"] <= timing["sampling_s"]
