"""Reports written to disk: the predictive checks of a fit and the tables and figures of a study.

The command line only chooses the folder and prints what was written; what goes into a report,
and how it is written (atomically, never through a symlink that leaves a study's folder), lives
here so that a notebook writes the same files.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from .store import MANIFEST, Store, inside, write_atomic

PPC_FIGURES = ("trajectories", "density", "statistics", "therapist_effects", "loo_pit")


def write_ppc(idata, out: Path, fmt: str = "png", seed: int | None = None) -> list[Path]:
    """Write posterior predictive draws' statistics table (CSV, markdown) and figures.

    Posterior predictive draws are added to ``idata`` first if it has none.

    Parameters
    ----------
    idata
        A fit (:func:`alliance_bayes.fit`).
    out
        Folder of the files (made if missing).
    fmt
        Figure format (``png``, ``svg`` or ``pdf``).
    seed
        Seed of the posterior predictive draws.

    Returns
    -------
    list of Path
        The table files (CSV first, then markdown), then one file per figure.

    Examples
    --------
    >>> write_ppc(idata, Path("ppc"))
    [PosixPath('ppc/ppc_statistics.csv'), PosixPath('ppc/ppc_statistics.md'), ...]
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..summary import format_table
    from .ppc import posterior_predictive
    from .statistics import ppc_statistics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if "posterior_predictive" not in idata.groups():
        posterior_predictive(idata, random_seed=seed)
    table = ppc_statistics(idata)
    written = [out / "ppc_statistics.csv", out / "ppc_statistics.md"]
    table.to_csv(written[0], index=False)
    written[1].write_text(
        f"Posterior predictive checks ({table.attrs['interval']} intervals, mid-p p-values)\n\n"
        + format_table(table, "markdown")
        + "\n"
    )
    for name, figure in _ppc_figures(idata, seed):
        path = out / f"{name}.{fmt}"
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def _ppc_figures(idata, seed: int | None):
    """``(name, Figure)`` of each figure of :func:`write_ppc` this fit can show, one at a time.

    A generator: each figure is saved and closed before the next one is drawn.
    """
    from .. import plots  # plots draw on checks.statistics: imported here, when a report is made

    makers = {
        "trajectories": lambda: plots.plot_trajectories(idata, random_seed=seed),
        "density": lambda: plots.plot_density(idata, random_seed=seed),
        "statistics": lambda: plots.plot_statistics(idata),
        "therapist_effects": lambda: plots.plot_therapist_effects(idata),
        "loo_pit": lambda: plots.plot_loo_pit(idata),
    }
    shown = {
        "therapist_effects": "therapist_effect" in idata.posterior,
        "loo_pit": "log_likelihood" in idata.groups(),
    }
    for name in PPC_FIGURES:
        if shown.get(name, True):
            yield name, makers[name]()


@dataclass(frozen=True)
class StudyReport:
    """What :func:`write_report` wrote: per table, the names of its figures; SBC's summary."""

    folder: Path
    outputs: dict[str, tuple[str, ...]]
    summary: str | None = None

    @property
    def files(self) -> list[Path]:
        """Every file written (``<table>.csv``, ``<table>.md`` and ``<figure>.png``)."""
        return [
            self.folder / name
            for table, figures in self.outputs.items()
            for name in (f"{table}.csv", f"{table}.md", *(f"{f}.png" for f in figures))
        ]


def write_report(folder: str | os.PathLike, n: int | None = None) -> StudyReport:
    """Write the tables (CSV, markdown) and figures (PNG) of a stored study into its folder.

    SBC writes ``sbc_test`` with ``sbc_ecdf`` and ``sbc_ranks``; recovery ``recovery``; power
    ``power`` with ``power_curve``. Every file is checked before any is written, and none is
    written through a symlink that leads out of ``folder``.

    Parameters
    ----------
    folder
        The study's store folder (a power study's top folder).
    n
        Report the first ``n`` simulations (per design) only.

    Examples
    --------
    >>> write_report("sbc_study").files  # doctest: +SKIP
    [PosixPath('sbc_study/sbc_test.csv'), PosixPath('sbc_study/sbc_test.md'), ...]
    """
    import matplotlib

    matplotlib.use("Agg")
    from ..summary import format_table

    folder = Path(folder)
    outputs, summary = _study_outputs(folder, n)
    for name, (table, figures) in outputs.items():
        files = {
            f"{name}.csv": table.to_csv(index=False).encode(),
            f"{name}.md": (format_table(table) + "\n").encode(),
        } | {f"{figure_name}.png": _png(figure) for figure_name, figure in figures.items()}
        _write_files(folder, files)
    named = {name: tuple(figures) for name, (_, figures) in outputs.items()}
    return StudyReport(folder, named, summary)


def _study_outputs(folder: Path, n: int | None) -> tuple[dict, str | None]:
    """``{table name: (table, {figure name: Figure})}`` of the study in ``folder``."""
    from .power import PowerResult
    from .recovery import RecoveryResult
    from .sbc import SBCResult

    manifest = Store(folder).manifest() if (folder / MANIFEST).exists() else {}
    if "designs" in manifest or (folder / "power.json").exists():  # power.json: older folders
        result = PowerResult.from_store(folder, n=n)
        return {"power": (result.table(), {"power_curve": result.plot()})}, None
    kind = manifest.get("kind") or Store(folder).manifest()["kind"]
    if kind == "sbc":
        result = SBCResult.from_store(folder, n=n)
        figures = {"sbc_ecdf": result.plot_ecdf(), "sbc_ranks": result.plot_ranks()}
        return {"sbc_test": (result.test(), figures)}, result.summary()
    result = RecoveryResult.from_store(folder, n=n)
    return {"recovery": (result.table(), {"recovery": result.plot()})}, None


def _png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    return buffer.getvalue()


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write report files atomically, after checking that none leads out of ``folder``."""
    for name in files:  # all checked before any is written: no half-written report
        inside(folder, folder / name)
    for name, data in files.items():
        write_atomic(folder / name, data, folder=folder)
