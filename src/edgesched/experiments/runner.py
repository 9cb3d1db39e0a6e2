"""Run independent cells serially or in worker processes, with a progress bar.

A cell is a pure function of its arguments, so results do not depend on the executor: the
same cells give the same results serially and in parallel, returned in the order given.

Workers never outlive the run: they ignore the terminal's SIGINT and SIGHUP and the group's
SIGTERM (the parent decides), they are killed by the kernel if the parent dies (Linux), and
when the parent stops early (a signal, an error in a cell) it kills every worker and waits
for them before the exception goes on, so the resource tracker exits with the parent.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from tqdm import tqdm

R = TypeVar("R")

#: Seconds to wait for a killed worker to be reaped.
_REAP_S = 5.0


def default_jobs(n_cells: int) -> int:
    """As many workers as cores, never more than cells."""
    return max(1, min(os.cpu_count() or 1, n_cells))


def _worker_init(parent: int) -> None:
    """In each worker: leave stopping to the parent, and die with it."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(Exception):  # Linux only; elsewhere the parent's kill suffices
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill every worker of ``pool`` now and reap them (cells in flight are lost)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(_REAP_S)
    pool.shutdown(wait=True, cancel_futures=True)


def run_cells(
    fn: Callable[..., R],
    cells: Sequence[tuple[Any, ...]],
    *,
    jobs: int | None = None,
    desc: str = "cells",
    progress: bool | None = None,
) -> list[R]:
    """Call ``fn(*cell)`` for every cell and return the results in the order of ``cells``.

    ``fn`` must be a module-level function (it is pickled to the workers). ``jobs=1`` runs in
    this process. ``progress=None`` shows the bar only on a terminal.
    """
    jobs = default_jobs(len(cells)) if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    disable = None if progress is None else not progress
    results: list[Any] = [None] * len(cells)
    with tqdm(total=len(cells), desc=desc, unit="run", disable=disable) as bar:
        if jobs == 1 or len(cells) <= 1:
            for i, cell in enumerate(cells):
                results[i] = fn(*cell)
                bar.update()
            return results
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
        )
        try:
            futures = {pool.submit(fn, *cell): i for i, cell in enumerate(cells)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update()
        except BaseException:
            _kill_workers(pool)
            raise
        pool.shutdown(wait=True)
    return results
