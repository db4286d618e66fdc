"""Hostile and ambiguous inputs to the ``alliance-bayes`` CLI (issue 18, section 4).

Run: python benchmarks/probes/cli_probes.py [NAME ...]
Prints one line per probe (only those whose name contains one of the NAMEs, when given): the exit
code, whether a traceback reached the output, the exception the command ended with (other than
``SystemExit``) and the start of its output, plus, for the ``--out`` probes, whether the file that
was there is kept. Model building and sampling are stubbed out: "Reached" means the command
accepted its inputs and went on to fit. Run it on two commits to compare them.

Every file is written under one temporary folder, removed at the end (shown as <tmp>).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

from typer.testing import CliRunner

import alliance_bayes
from alliance_bayes.cli import app

HEADER = "therapist,patient,session,alliance,burdens,satisfactions\n"


class Reached(Exception):
    """Raised by the stubbed fit, recovery and power: the command got as far as fitting."""


def stop(*args, **kwargs):
    raise Reached("reached model building / sampling")


def stub_sampling() -> None:
    # the module, not ``alliance_bayes.fit``: the package exports the function under that name
    importlib.import_module("alliance_bayes.fit").fit = stop
    importlib.import_module("alliance_bayes.checks.recovery").run_recovery = stop
    importlib.import_module("alliance_bayes.checks.power").run_power = stop


def good_rows() -> str:
    return "".join(
        f"T{t},P{t}{p},{s},{4 + 0.1 * s + 0.3 * p},{t * 0.5},{(t * 7) % 3}\n"
        for t in range(3)
        for p in range(3)
        for s in (1, 2, 4)
    )


def id_rows(burdens) -> str:
    """Therapists '01', '1' and '2'; ``burdens(t)`` gives a therapist's covariate."""
    return "".join(
        f"{t},{t}-{p},{s},{4 + 0.1 * s + 0.2 * p},{burdens(t)},{int(t) * 0.3}\n"
        for t in ("01", "1", "2")
        for p in range(3)
        for s in (1, 2, 4)
    )


def write_inputs(tmp: Path) -> dict[str, Path]:
    """The probes' input files; ``existing`` and ``in`` are files the CLI must not overwrite."""
    files = {name: tmp / name for name in ("good.csv", "ids.csv", "ids2.csv", "in.csv")}
    files["good.csv"].write_text(HEADER + good_rows())
    files["ids.csv"].write_text(HEADER + id_rows(lambda t: len(t) + int(t)))  # '01' != '1'
    files["ids2.csv"].write_text(HEADER + id_rows(int))  # '01' and '1' share their covariates
    files["in.csv"].write_text(HEADER + good_rows())
    files["empty.csv"] = tmp / "empty.csv"
    files["empty.csv"].write_text("")
    files["latin.csv"] = tmp / "latin.csv"
    latin = "therapist,patient,session,alliance\nJos\xe9,P1,1,4\n"
    files["latin.csv"].write_bytes(latin.encode("latin-1"))
    files["bad.toml"] = tmp / "bad.toml"
    files["bad.toml"].write_text("[model\nname = 1\n")
    files["own.toml"] = tmp / "own.toml"
    spec = alliance_bayes.ModelSpec.shipped("nissen_lie_2013_patient")
    spec.name = "own"
    spec.design.name = "own_design"
    spec.truth = None
    spec.to_toml(files["own.toml"])
    files["own_truth.toml"] = tmp / "own_truth.toml"
    truth = alliance_bayes.Truth.nissen_lie_2013()
    files["own_truth.toml"].write_text(truth.to_toml() if hasattr(truth, "to_toml") else "")
    files["existing.nc"] = tmp / "existing.nc"
    files["existing.nc"].write_text("precious")
    return files


def probes(tmp: Path, f: dict[str, Path]) -> dict[str, list[str]]:
    """Probe name -> the CLI's arguments."""
    nlp = "nissen_lie_2013_patient"
    own, own_truth, existing = f["own.toml"], f["own_truth.toml"], f["existing.nc"]
    good, bad_toml, infile = f["good.csv"], f["bad.toml"], f["in.csv"]

    def args(*words) -> list[str]:
        return [str(word) for word in words]

    def fit(data: str, *extra: str) -> list[str]:
        return args("fit", f[data], "--spec", nlp, "--out", tmp / "fresh.nc", *extra)

    def simulate(spec, *extra) -> list[str]:
        return args("simulate", spec, "--seed", 1, *extra)

    return {
        "empty CSV": fit("empty.csv"),
        "non-UTF-8 CSV": fit("latin.csv"),
        "malformed TOML spec": args("fit", good, "--spec", bad_toml, "--out", tmp / "f.nc"),
        "--scale 1,7,9": fit("good.csv", "--scale", "1,7,9"),
        "--scale a,b": fit("good.csv", "--scale", "a,b"),
        "--scale 7,1": fit("good.csv", "--scale", "7,1"),
        "unknown --rater column": fit("good.csv", "--rater", "who"),
        "unknown --score column (DataValidationError)": fit("good.csv", "--score", "wai"),
        "ids '01' and '1'": fit("ids.csv"),
        "ids '01' and '1', same covariates": fit("ids2.csv"),
        "fit --out existing file": args("fit", good, "--spec", nlp, "--out", existing),
        "fit --out = input CSV": args("fit", infile, "--spec", nlp, "--out", infile),
        "fit --out in missing folder": args(
            "fit", good, "--spec", nlp, "--out", tmp / "no" / "such" / "fit.nc"
        ),
        "simulate --out x.json": simulate("razzaque_2015_regression", "--out", tmp / "x.json"),
        "simulate --out existing csv": simulate("razzaque_2015_regression", "--out", infile),
        "simulate own spec, no --truth": simulate(own, "--out", tmp / "own.csv"),
        "simulate nissen_lie_2013_patient, no --truth": simulate(nlp, "--out", tmp / "nlp.csv"),
        "recovery nissen_lie_2013_patient, no --truth": args(
            "recovery", nlp, "--n", 1, "--out", tmp / "rec"
        ),
        "power own spec, no --truth": args("power", own, "--n", 1, "--out", tmp / "pow"),
        "simulate own spec --truth FILE.toml": simulate(
            own, "--truth", own_truth, "--out", tmp / "own2.csv"
        ),
        "recovery own spec --truth FILE.toml": args(
            "recovery", own, "--n", 1, "--truth", own_truth, "--out", tmp / "rec2"
        ),
        "power --therapists 20,x": args(
            "power", nlp, "--n", 1, "--therapists", "20,x", "--out", tmp / "pow2"
        ),
        "recovery --out is a file": args("recovery", nlp, "--n", 1, "--out", existing),
        "ppc --out is a file": args("ppc", existing, "--out", existing),
        "design show malformed TOML": args("design", "show", bad_toml),
    }


def kept(name: str, tmp: Path, f: dict[str, Path], existing_before: bytes) -> str:
    """For the ``--out`` probes: whether the file that was there is kept."""
    if name.startswith("fit --out existing"):
        same = f["existing.nc"].read_bytes() == existing_before
        return f" [existing.nc {'kept' if same else 'CHANGED'}]"
    if name.startswith("simulate --out x.json"):
        written = tmp / "x.json"
        return f" [x.json: {written.read_text()[:20]!r}]" if written.exists() else " [no x.json]"
    if name.startswith("simulate --out existing"):
        same = f["in.csv"].read_text() == f["good.csv"].read_text()
        return f" [in.csv {'kept' if same else 'OVERWRITTEN'}]"
    return ""


def outcome(runner: CliRunner, args: list[str], tmp: Path) -> str:
    """Exit code, traceback or not, the exception the command ended with (other than
    ``SystemExit``) and the start of its output on one line, with <tmp> for the folder."""
    result = runner.invoke(app, args)
    error = result.exception
    raised = ""
    if error is not None and not isinstance(error, SystemExit):
        message = str(error).replace(str(tmp), "<tmp>")
        raised = f"exception {type(error).__name__}: {message[:150]}"
    output = " ".join(result.output.replace(str(tmp), "<tmp>").split())
    traceback = "Traceback" in result.output
    return f"exit {result.exit_code}; traceback-in-output={traceback}; {raised} | {output[:260]}"


def main() -> None:
    warnings.simplefilter("ignore")
    os.environ["ALLIANCE_BAYES_CACHE"] = "0"  # nothing is compiled; never touch the user's cache
    stub_sampling()
    print("code:", alliance_bayes.__file__)
    only = sys.argv[1:]
    runner = CliRunner()
    with tempfile.TemporaryDirectory(prefix="cliprobe-") as folder:
        tmp = Path(folder)
        f = write_inputs(tmp)
        for name, args in probes(tmp, f).items():
            if only and not any(o in name for o in only):
                continue
            existing_before = f["existing.nc"].read_bytes()
            print(f"- {name}: {outcome(runner, args, tmp)}{kept(name, tmp, f, existing_before)}")


if __name__ == "__main__":
    main()
