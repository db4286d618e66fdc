"""The paper outputs of the shipped Nissen-Lie study: the report table in every format, the
figures in the paper style, and a screenshot of the HTML table in headless Chromium.

Run: python benchmarks/paper_outputs.py [--draws 500] [--out benchmarks/results/paper_outputs]
Fits the dual-rater model with Burdens and Satisfactions (2 chains), writes table.md, table.tex,
table.html, table.docx, therapist_effects.png and coefficients.png (300 dpi, paper style) and,
when ``chromium`` is on the PATH, table.png (the HTML table as a browser renders it, no network).
Prints the figure sizes in inches and the fit's seconds as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import alliance_bayes as ab
from alliance_bayes import plots

LABELS = {"burdens": "Personal Burdens", "satisfactions": "Personal Satisfactions"}
PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'></head>"
    "<body style='font-family:\"Times New Roman\",serif;font-size:12pt;margin:24px'>"
    "{}</body></html>"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/paper_outputs"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data = ab.datasets.load("nissen_lie_2013")
    model = ab.growth_model(data, therapist_covariates=["burdens", "satisfactions"])
    idata = ab.fit(model, draws=args.draws, chains=2, random_seed=1, progressbar=False)
    seconds = time.perf_counter() - start
    table = ab.report_table(idata, labels=LABELS, correlations=False)
    (args.out / "table.md").write_text(table.to_markdown() + "\n")
    (args.out / "table.tex").write_text(table.to_latex() + "\n")
    (args.out / "table.html").write_text(PAGE.format(table.to_html()))
    table.to_docx(args.out / "table.docx")
    sizes = {}
    with plots.paper_style():
        figures = {
            "therapist_effects": ab.plot_therapist_effects(idata),
            "coefficients": ab.plot_coefficients(idata, labels=LABELS),
        }
    for name, fig in figures.items():
        sizes[name] = [round(float(v), 2) for v in fig.get_size_inches()]
        plots.savefig(fig, args.out / f"{name}.png", close=True)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser:
        subprocess.run(
            [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=900,1000",
                f"--screenshot={(args.out / 'table.png').resolve()}",
                (args.out / "table.html").resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
        )
    print(
        json.dumps(
            {
                "fit_s": round(seconds, 1),
                "therapists": int(idata.posterior.sizes["therapist"]),
                "figure_inches": sizes,
                "screenshot": bool(browser),
            }
        )
    )


if __name__ == "__main__":
    main()
