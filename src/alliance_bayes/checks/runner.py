"""Run many jobs, locally on a process pool or on a Dask cluster, resumably, with progress.

Every finished job is written to the store at once (atomically), so a study that is stopped or
killed resumes where it left off; the same jobs with the same seeds give the same records, so a
resumed study equals an uninterrupted one. Nothing but the small records stays in memory.

On a Dask cluster, start a scheduler and workers with Dask's own commands, e.g.::

    dask scheduler --port 8786                       # on one machine
    dask worker tcp://scheduler-host:8786 --nworkers 2 --nthreads 1   # on each worker machine

and pass ``executor="tcp://scheduler-host:8786"`` (or ``executor=distributed.Client(...)``).
Workers need alliance_bayes installed; the records come back to the machine that runs the study.

Every study (:func:`run_sbc`, :func:`run_recovery`, :func:`run_power`) takes the same two
things besides its own: ``settings`` (a :class:`FitSettings`, the sampler settings of every fit)
and ``executor`` (where the jobs run); :func:`study_options` reads both, and the keywords of
earlier versions (``draws=``, ``workers=``, ...), in one place.
"""

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib.metadata import version
from typing import Any

from .._progress import ProgressBar
from .._version import __version__
from ..errors import show_some
from ..simulate import Truth
from ..spec import Design, ModelSpec
from .jobs import FitSettings, Job, run_job
from .store import Store, StoreMismatchError

_PACKAGES = ("pymc", "pytensor", "nutpie", "numpy")
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def versions() -> dict[str, str]:
    return {"alliance_bayes": __version__} | {p: version(p) for p in _PACKAGES}


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


# Where a study's jobs run: None (or 0) one local process per core, an int that many local
# processes (1: in this process), a str the address of a Dask scheduler, or a distributed.Client.
Executor = int | str | Any | None

_EXECUTOR_KEYWORDS = ("client", "scheduler", "workers")  # of earlier versions; the first wins


def study_options(
    settings: FitSettings | None = None, executor: Executor = None, **options: Any
) -> tuple[FitSettings, Executor]:
    """The sampler settings and the executor of a study, from its arguments.

    Parameters
    ----------
    settings
        Sampler settings of every fit (default: ``FitSettings()``).
    executor
        Where the jobs run (see :data:`Executor`).
    **options
        Keywords of earlier versions, still taken: a field of :class:`FitSettings`
        (``draws=``, ``tune=``, ``chains=``, ``thin=``, ``cores=``, ``posterior_scale=``)
        replaces that field of ``settings``; ``workers=``, ``client=`` or ``scheduler=`` gives
        the executor (a client before a scheduler before workers, as before).

    Raises
    ------
    TypeError
        An unknown keyword, an executor of another type, or both ``executor`` and one of
        ``workers``/``client``/``scheduler``.
    ValueError
        A negative number of workers.

    Examples
    --------
    >>> study_options(FitSettings(draws=100), 2, chains=4)
    (FitSettings(draws=100, tune=500, chains=4, thin=None, cores=1, posterior_scale=1.0), 2)
    >>> study_options(workers=1, scheduler="tcp://host:8786")[1]
    'tcp://host:8786'
    """
    given = [options.pop(k, None) for k in _EXECUTOR_KEYWORDS]
    legacy = [value for value in given if value is not None]
    if executor is not None and legacy:
        raise TypeError("give executor= or the older workers=, client=, scheduler=, not both.")
    executor = executor if executor is not None else next(iter(legacy), None)
    _check_executor(executor)
    fields = {f.name for f in dataclasses.fields(FitSettings)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(
            f"unexpected keyword argument(s) {unknown}: sampler settings are "
            f"{sorted(fields)} (or settings=FitSettings(...)), and executor= says where jobs run."
        )
    return dataclasses.replace(settings or FitSettings(), **options), executor


def _check_executor(executor: Executor) -> None:
    known = executor is None or isinstance(executor, int | str) or _is_client(executor)
    if not known or isinstance(executor, bool):  # a bool is an int to Python, never a count
        raise TypeError(
            f"executor={executor!r}: give None, a number of worker processes, a Dask "
            "scheduler's address or a distributed.Client."
        )
    if isinstance(executor, int) and executor < 0:
        raise ValueError(f"executor={executor!r}: give a number of worker processes (1 or more).")


def _is_client(executor: Any) -> bool:
    """Whether ``executor`` works like a ``distributed.Client`` (duck-typed: no dask import)."""
    return all(callable(getattr(executor, name, None)) for name in ("map", "submit", "gather"))


def run_jobs(
    jobs: Sequence[Job],
    store: Store,
    *,
    executor: Executor = None,
    progress: bool = True,
    label: str = "study",
    job_function: Callable[[Job], dict[str, Any]] | None = None,
) -> None:
    """Run every job whose record is not yet in ``store`` and write its record.

    Parameters
    ----------
    jobs
        The study's jobs (all of them; finished ones are skipped).
    store
        The study's :class:`Store` (already opened with its manifest). It is locked while the
        jobs run, so a second runner of the same store is refused instead of redoing them.
    executor
        Local worker processes (``None``: one per core; ``1`` runs in this process), or a Dask
        scheduler's address or a ``distributed.Client``, which send the jobs to the cluster
        instead of the local pool (see :data:`Executor`). Local workers end when this process
        dies, even by SIGKILL.
    progress
        Show a progress bar (done / failed / ETA).
    job_function
        What runs one job (a top-level function, for the pool); default :func:`run_job`.
        Tests pass a cheap stand-in.

    Raises
    ------
    StoreMismatchError
        The store holds complete records of another study (another settings hash) under the
        names of these jobs: they are not overwritten.
    """
    with store.lock():
        scan = store.scan(max((job.index for job in jobs), default=-1) + 1)
        if scan.foreign:
            raise StoreMismatchError(
                f"the store {store.folder} holds records of another study under its job names "
                f"({len(scan.foreign)}: {show_some(scan.foreign)}); they were written under "
                "other settings and are not overwritten. Move them away or use another folder."
            )
        function = job_function or run_job  # looked up now, so that tests can replace it
        _run_pending(jobs, store, scan.records, executor, progress, label, function)


def _run_pending(jobs, store, records, executor, progress, label, function):
    pending = [job for job in jobs if job.index not in records]
    failed = sum(1 for job in jobs if records.get(job.index, {}).get("status", "ok") != "ok")
    done = len(jobs) - len(pending)
    with ProgressBar(label, len(jobs), enabled=progress, completed=done, failed=failed) as bar:

        def finish(index: int, record: dict[str, Any]) -> None:
            nonlocal failed
            store.write(index, record)
            failed += record.get("status") != "ok"
            bar.advance(failed=failed)

        if not pending:
            return
        if isinstance(executor, str) or _is_client(executor):
            _run_dask(pending, finish, executor, function)
        elif (executor or default_workers()) == 1 or len(pending) == 1:
            for job in pending:
                finish(job.index, function(job))
        else:
            _run_pool(pending, finish, executor or default_workers(), function)


def _run_pool(
    jobs: Iterable[Job], finish: Callable, workers: int, function: Callable = run_job
) -> None:
    # spawn: a fresh interpreter per worker, safe with numba and threads; each worker then
    # compiles each model structure once and reuses it for all its jobs.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        futures = {pool.submit(function, job): job.index for job in jobs}
        for future in as_completed(futures):
            finish(futures[future], future.result())


def die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker when ``parent`` (the runner) dies.

    Without it a worker whose runner was killed finishes its job, minutes of sampling, for
    nobody. On Linux the kernel sends SIGTERM at the parent's death (``PR_SET_PDEATHSIG``);
    elsewhere a daemon thread polls the parent id once a second.
    """
    if sys.platform.startswith("linux") and _parent_death_signal():
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)
        return
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _parent_death_signal() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
        return False


def _watch_parent(parent: int, interval: float = 1.0) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def _run_dask(
    jobs: Sequence[Job], finish: Callable, executor: Any, function: Callable = run_job
) -> None:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "running on a Dask cluster needs the dask extra: pip install 'alliance_bayes[dask]'"
        ) from error
    own = isinstance(executor, str)  # a client made here for a scheduler's address is closed here
    client = Client(executor) if own else executor
    try:
        futures = client.map(function, list(jobs), pure=False)
        index = {future.key: job.index for future, job in zip(futures, jobs, strict=True)}
        for future in dask_completed(futures):
            finish(index[future.key], future.result())
            future.release()
    finally:
        if own:
            client.close()


def run_study(
    kind: str,
    spec: ModelSpec,
    design: Design,
    n_jobs: int,
    *,
    store: str | os.PathLike,
    truth: Truth | dict | None = None,
    fit_spec: ModelSpec | None = None,
    settings: FitSettings | None = None,
    random_seed: int = 0,
    executor: Executor = None,
    progress: bool = True,
    loglik: bool = True,
    adopt: bool = False,
) -> Store:
    """Open (or resume) the store of a study and run its missing jobs.

    The manifest records what defines the study (kind, specs, design, truth, settings, seed);
    resuming a store with a different manifest raises :class:`StoreMismatchError`, and so does a
    folder with records but no manifest unless ``adopt`` (see :meth:`Store.open`). The store is
    locked from the manifest check to the last record (:class:`StoreLockedError` for a second
    runner).
    """
    settings = settings or FitSettings()
    if settings.cores < 1:
        raise ValueError("settings.cores must be at least 1.")
    truth_values = truth.values if isinstance(truth, Truth) else truth
    fit_spec = fit_spec or spec
    manifest = {
        "kind": kind,
        "spec": spec.to_dict(),
        "fit_spec": fit_spec.to_dict(),
        "design": design.to_dict(),
        "truth": truth_values,
        "settings": settings.identity(),
        "seed": int(random_seed),
        "loglik": loglik,
        "n_jobs": int(n_jobs),
        "versions": versions(),
    }
    folder = Store(store)
    jobs = [
        Job(
            index=s,
            study_seed=int(random_seed),
            spec=manifest["spec"],
            fit_spec=manifest["fit_spec"],
            design=manifest["design"],
            truth=truth_values,
            settings=settings,
            loglik=loglik,
        )
        for s in range(n_jobs)
    ]
    with folder.lock():
        folder.open(manifest, adopt=adopt)
        run_jobs(
            jobs,
            folder,
            executor=executor,
            progress=progress,
            label=f"{kind} ({design.name})",  # a power study runs one store per design
        )
    return folder
