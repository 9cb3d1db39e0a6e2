"""Run independent cells serially or in worker processes, with a progress bar.

A cell is a pure function of its arguments, so results do not depend on the executor: the
same cells give the same results serially and in parallel, returned in the order given.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from tqdm import tqdm

R = TypeVar("R")


def default_jobs(n_cells: int) -> int:
    """As many workers as cores, never more than cells."""
    return max(1, min(os.cpu_count() or 1, n_cells))


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
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {pool.submit(fn, *cell): i for i, cell in enumerate(cells)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update()
    return results
