"""``alliance-bayes predict fit.nc new.csv --out pred.csv`` (issue 21, item 5)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from alliance_bayes import growth_model, predict, prediction_table, simulate
from alliance_bayes.cli import app
from alliance_bayes.result import rebuild_data, save
from conftest import TINY_TRUTH, fake_fit, tiny_design

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A saved fake fit of the tiny design and a CSV of six of its rows (without outcome)."""
    folder = tmp_path_factory.mktemp("predict")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        planned = growth_model(tiny_design().to_data(random_seed=1))
        idata = fake_fit(growth_model(simulate(planned, TINY_TRUTH, random_seed=101)))
    frame = rebuild_data(idata).to_frame().iloc[:6].drop(columns=["alliance", "time_coded"])
    frame.to_csv(folder / "new.csv", index=False)
    save(idata, folder / "fit.nc")
    return folder, idata, frame


def test_predict_writes_the_summary_per_row(files, tmp_path):
    folder, idata, frame = files
    out = tmp_path / "pred.csv"
    result = runner.invoke(
        app, ["predict", str(folder / "fit.nc"), str(folder / "new.csv"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 6 predictions" in result.output
    written = pd.read_csv(out, dtype={"therapist": str, "patient": str})
    expected = prediction_table(predict(idata, frame))
    assert list(written.columns) == [*frame.columns, "mean", "sd", "lower", "upper"]
    assert written["therapist"].tolist() == frame["therapist"].tolist()
    np.testing.assert_allclose(written["mean"], expected["mean"], rtol=1e-5)
    np.testing.assert_allclose(written["upper"], expected["upper"], rtol=1e-5)


def test_new_groups_ratings_and_draws_are_seeded(files, tmp_path):
    folder, _, _ = files
    args = ["predict", str(folder / "fit.nc"), str(folder / "new.csv"), "--kind", "rating"]
    args += ["--groups", "new", "--seed", "3", "--prob", "0.8"]
    for name in ("a", "b"):
        out, draws = tmp_path / f"{name}.csv", tmp_path / f"{name}.nc"
        result = runner.invoke(app, [*args, "--out", str(out), "--draws", str(draws)])
        assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "a.csv").equals(pd.read_csv(tmp_path / "b.csv"))
    with xr.open_dataset(tmp_path / "a.nc", engine="h5netcdf") as read:
        assert read["alliance"].dims == ("chain", "draw", "obs")
        assert read["alliance"].shape == (2, 40, 6)


def test_refusals_are_one_error_line_before_any_work(files, tmp_path):
    folder, _, frame = files
    fit, new = str(folder / "fit.nc"), str(folder / "new.csv")
    out = tmp_path / "pred.csv"
    out.write_text("keep me")
    result = runner.invoke(app, ["predict", fit, new, "--out", str(out)])
    assert result.exit_code == 2 and "exists; pass --force" in result.output
    assert out.read_text() == "keep me"
    result = runner.invoke(app, ["predict", fit, new, "--out", str(out), "--kind", "median"])
    assert result.exit_code == 2 and "--kind must be mean or rating" in result.output
    unknown = tmp_path / "unknown.csv"
    frame.assign(therapist="T99").to_csv(unknown, index=False)
    result = runner.invoke(app, ["predict", fit, str(unknown), "--out", str(tmp_path / "u.csv")])
    assert result.exit_code == 2
    assert "T99" in result.output
    assert result.output.count("error:") == 1
    result = runner.invoke(app, ["predict", fit, new, "--out", str(new), "--force"])
    assert result.exit_code == 2 and "is an input of this command" in result.output
