"""The result contract: a fit's attrs written and read in one place, checked, saved and loaded."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alliance_bayes as ab
from alliance_bayes import result
from alliance_bayes.result import SCHEMA_VERSION, DataAttrs, FitAttrs, read_attrs
from conftest import fake_fit


@pytest.fixture(scope="module")
def model(tiny_datasets):
    return ab.growth_model(tiny_datasets[0])


@pytest.fixture()
def fake(model):
    return fake_fit(model, draws=10)


def _version_0(idata, **data_changes):
    """The attrs as ``fit`` wrote them before the schema had a version (and roles, optionally)."""
    del idata.attrs["schema_version"]
    data = json.loads(idata.attrs["data"]) | data_changes
    idata.attrs["data"] = json.dumps({k: v for k, v in data.items() if v is not None})
    return idata


def test_attrs_round_trip(fake, model):
    info = ab.models.model_info(model)
    written = FitAttrs(
        spec=info.spec,
        priors=info.priors,
        data=DataAttrs.from_data(info.data),
        data_hash=info.data.fingerprint(),
        versions={"alliance_bayes": ab.__version__},
        sampler="nutpie",
        diagnostics={"divergences": 0},
        timing={"sampling_s": 1.5},
    )
    written.write(fake)
    assert fake.attrs["schema_version"] == SCHEMA_VERSION
    assert isinstance(fake.attrs["spec"], str)  # JSON text: netCDF keeps strings
    assert read_attrs(fake) == written
    assert read_attrs(fake).data.rater_roles == {"patient": "patient", "therapist": "therapist"}


def test_a_file_without_a_schema_version_is_read_as_version_0(fake):
    """Today's layout before the version: the same keys, and data attrs without rater_roles."""
    old = _version_0(fake, rater_roles=None)
    assert "rater_roles" not in json.loads(old.attrs["data"])
    attrs = read_attrs(old)
    assert attrs.schema_version == 0
    assert attrs.data.rater_roles == {"patient": "patient", "therapist": "therapist"}
    assert result.rebuild_data(old).rater_roles == {"patient": "patient", "therapist": "therapist"}


def test_a_newer_schema_version_is_refused(fake):
    fake.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match="newer than the 1 this alliance_bayes reads"):
        read_attrs(fake)


def test_unknown_prior_names_are_refused(fake):
    priors = json.loads(fake.attrs["priors"])
    priors["levle"] = priors.pop("level")
    fake.attrs["priors"] = json.dumps(priors)
    with pytest.raises(ValueError, match=r"unknown priors \['levle'\]"):
        read_attrs(fake)
    spec = json.loads(fake.attrs["spec"]) | {"priors": {"sigmaa": {"sigma": 1.0}}}
    fake.attrs["priors"], fake.attrs["spec"] = "{}", json.dumps(spec)
    with pytest.raises(ValueError, match=r"spec's priors name unknown priors \['sigmaa'\]"):
        read_attrs(fake)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scale": [7, 1]}, "low < high"),
        ({"time_coding": "sqrt"}, "time_coding 'sqrt'"),
        ({"time_scale": 0}, "time_scale 0.0"),
        ({"rater_roles": {"patient": "doctor"}}, "the role 'doctor'"),
        ({"therapist_covariate_sd": {"burdens": -1.0}}, "'burdens' has SD -1.0"),
    ],
)
def test_impossible_data_attrs_are_refused(fake, change, message):
    fake.attrs["data"] = json.dumps(json.loads(fake.attrs["data"]) | change)
    with pytest.raises(ValueError, match=message):
        read_attrs(fake)


def test_attrs_that_are_not_json_are_refused_by_name(fake):
    fake.attrs["diagnostics"] = "{not json"
    with pytest.raises(ValueError, match=r"attrs\['diagnostics'\] is not valid JSON"):
        read_attrs(fake)


def test_a_missing_attr_says_the_fit_was_not_made_by_fit(fake):
    del fake.attrs["spec"]
    with pytest.raises(ValueError, match=r"not made by alliance_bayes\.fit"):
        result.rebuild_model(fake)


def test_posterior_predictive_rebuilds_the_data_once(fake, monkeypatch):
    calls = []
    rebuild = result.rebuild_data
    monkeypatch.setattr(result, "rebuild_data", lambda idata: calls.append(1) or rebuild(idata))
    ab.posterior_predictive(fake, random_seed=1)
    assert len(calls) == 1


def test_a_saved_fit_loads_and_summarises_in_a_new_process(fake, tmp_path):
    path = ab.save(fake, tmp_path / "fit.nc")
    here = ab.summarize(fake)
    script = (
        "import sys, alliance_bayes as ab\n"
        "from alliance_bayes.result import rebuild_model, read_attrs\n"
        "idata = ab.load(sys.argv[1])\n"
        "table = ab.summarize(idata)\n"
        "n_obs = len(rebuild_model(idata).coords['obs'])\n"
        "print(read_attrs(idata).schema_version, len(table), n_obs)\n"
        "table.to_csv(sys.argv[2])\n"
    )
    package = Path(ab.__file__).parent.parent
    env = os.environ | {"PYTHONPATH": f"{package}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    run = subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "table.csv")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    version, rows, n_obs = map(int, run.stdout.split())
    assert (version, rows, n_obs) == (SCHEMA_VERSION, len(here), fake.observed_data.sizes["obs"])
    there = pd.read_csv(tmp_path / "table.csv")
    np.testing.assert_allclose(there["mean"], here["mean"].to_numpy(), rtol=1e-12)


def test_load_refuses_a_file_it_cannot_trust(fake, tmp_path):
    fake.attrs["schema_version"] = SCHEMA_VERSION + 1
    path = ab.save(fake, tmp_path / "future.nc")
    with pytest.raises(ValueError, match="newer"):
        ab.load(path)


def test_prior_predictive_draws_carry_the_model_attrs(model):
    drawn = ab.prior_predictive(model, draws=5, random_seed=1)
    attrs = read_attrs(drawn)
    assert attrs.spec == dataclasses.replace(ab.models.model_info(model).spec)
    assert attrs.data == DataAttrs.from_data(ab.models.model_info(model).data)
    assert attrs.diagnostics is None and attrs.schema_version == SCHEMA_VERSION
