"""Executors for independent cells: this machine's processes, or a Ray cluster.

An executor calls ``fn(*cell)`` for every cell and returns the results in the order of the
cells, with a progress bar. A cell is a pure function of its arguments, so the results do not
depend on the executor (``local`` and ``ray`` give byte-identical results).

``local`` is :func:`edgesched.experiments.runner.run_cells` (worker processes on this machine).
``ray`` runs each cell as a Ray task, on a local cluster started for the run (``num_cpus`` = the
``jobs`` value, else the core count, shut down after) or on an existing cluster
(``address="auto"`` or ``"HOST:PORT"``). What a cell needs travels through Ray's object store:
each distinct :class:`~edgesched.experiments.backend.Prepared` scenario is put there once, with
the bytes of its checkpoint (not only its path), so remote nodes need no copy of the user's
files. A task whose worker dies is retried (``max_retries``); a cell's own error ends the run
with that error, as locally.

Example:
    >>> from edgesched.experiments.executors import EXECUTORS
    >>> EXECUTORS.names()
    ['local', 'ray']
    >>> EXECUTORS.make("local").run(pow, [(2, 3), (3, 2)], jobs=1, progress=False)
    [8, 9]
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from edgesched.core.errors import ConfigError
from edgesched.core.registry import Registry
from edgesched.experiments.backend import Prepared
from edgesched.experiments.runner import run_cells
from edgesched.rl.ray_vec import import_ray

#: Retries of a Ray task whose worker process or node was lost.
RAY_MAX_RETRIES = 3

#: Called in the driver with (cell index, result) as each cell finishes.
OnResult = Callable[[int, Any], None]


class Executor(Protocol):
    """Runs cells; see the module docstring."""

    def run(
        self,
        fn: Callable[..., Any],
        cells: Sequence[tuple[Any, ...]],
        *,
        jobs: int | None = None,
        desc: str = "cells",
        progress: bool | None = None,
        on_result: OnResult | None = None,
    ) -> list[Any]:
        """``fn(*cell)`` for every cell, in the order of ``cells``."""
        ...


class LocalExecutor:
    """Worker processes on this machine (:func:`edgesched.experiments.runner.run_cells`).

    ``on_result`` is called for every cell once all have finished (the local runner returns
    them together).
    """

    def __init__(self, address: str | None = None) -> None:
        if address is not None:
            raise ConfigError(f"--address {address}: only the ray executor takes an address.")

    def run(
        self,
        fn: Callable[..., Any],
        cells: Sequence[tuple[Any, ...]],
        *,
        jobs: int | None = None,
        desc: str = "cells",
        progress: bool | None = None,
        on_result: OnResult | None = None,
    ) -> list[Any]:
        results = run_cells(fn, cells, jobs=jobs, desc=desc, progress=progress)
        if on_result is not None:
            for i, r in enumerate(results):
                on_result(i, r)
        return results


# ----------------------------------------------------------------------------- Ray


@dataclass(frozen=True)
class PortablePrepared:
    """A :class:`Prepared` with its checkpoint's bytes instead of its path (for Ray).

    Attributes:
        prepared: the scenario, with ``checkpoint`` set to None.
        checkpoint_name: the checkpoint's file name (its suffix tells the loader its format).
        checkpoint_bytes: the checkpoint's contents.
    """

    prepared: Prepared
    checkpoint_name: str | None = None
    checkpoint_bytes: bytes | None = None

    @classmethod
    def of(cls, prepared: Prepared) -> PortablePrepared:
        if prepared.checkpoint is None:
            return cls(prepared)
        path = Path(prepared.checkpoint)
        return cls(
            dataclasses.replace(prepared, checkpoint=None),
            checkpoint_name=path.name,
            checkpoint_bytes=path.read_bytes(),
        )

    def materialise(self) -> Prepared:
        """The Prepared again, its checkpoint written once per content to this node's temp
        folder (the learned schedulers load from a path)."""
        if self.checkpoint_bytes is None or self.checkpoint_name is None:
            return self.prepared
        digest = hashlib.sha256(self.checkpoint_bytes).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / "edgesched-ray" / digest
        path = folder / self.checkpoint_name
        if not path.is_file() or path.stat().st_size != len(self.checkpoint_bytes):
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{self.checkpoint_name}.{os.getpid()}.tmp"
            tmp.write_bytes(self.checkpoint_bytes)
            tmp.replace(path)  # atomic: concurrent workers on one node see a whole file
        return dataclasses.replace(self.prepared, checkpoint=path)


def _ray_cell(fn: Callable[..., Any], *args: Any) -> Any:
    """In a Ray worker: turn portable scenarios back into Prepared ones, then run the cell."""
    return fn(*[a.materialise() if isinstance(a, PortablePrepared) else a for a in args])


class RayExecutor:
    """Every cell as a Ray task (see the module docstring).

    Args:
        address: an existing cluster (``"auto"`` or ``"HOST:PORT"``); None starts a local one
            for the run, unless this process is already connected to one (then it is used and
            left running).
        max_retries: retries of a task whose worker or node was lost.
    """

    def __init__(self, address: str | None = None, max_retries: int = RAY_MAX_RETRIES) -> None:
        import_ray()  # not installed: a ConfigError naming the extra, before any work
        self.address = address
        self.max_retries = max_retries

    def run(
        self,
        fn: Callable[..., Any],
        cells: Sequence[tuple[Any, ...]],
        *,
        jobs: int | None = None,
        desc: str = "cells",
        progress: bool | None = None,
        on_result: OnResult | None = None,
    ) -> list[Any]:
        if jobs is not None and jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        ray = import_ray()
        started = False
        if not ray.is_initialized():
            if self.address is None:
                ray.init(
                    num_cpus=jobs or os.cpu_count() or 1,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                try:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False)
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    raise ConfigError(
                        f"--address {self.address}: cannot connect to a Ray cluster: {exc}"
                    ) from None
            started = True
        try:
            return self._run(ray, fn, cells, jobs, desc, progress, on_result)
        finally:
            if started:
                ray.shutdown()

    def _run(
        self,
        ray: Any,
        fn: Callable[..., Any],
        cells: Sequence[tuple[Any, ...]],
        jobs: int | None,
        desc: str,
        progress: bool | None,
        on_result: OnResult | None,
    ) -> list[Any]:
        task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_ray_cell)
        fn_ref = ray.put(fn)
        refs: dict[int, Any] = {}  # id(Prepared) -> its ObjectRef, so each is put once
        keep: list[Any] = []  # the Prepared objects, alive while their ids are keys

        def ship(arg: Any) -> Any:
            if not isinstance(arg, Prepared):
                return arg
            if id(arg) not in refs:
                refs[id(arg)] = ray.put(PortablePrepared.of(arg))
                keep.append(arg)
            return refs[id(arg)]

        # An existing cluster is shared: --jobs caps this run's tasks in flight there.
        cap = jobs if (jobs is not None and self.address is not None) else len(cells)
        results: list[Any] = [None] * len(cells)
        pending: dict[Any, int] = {}
        queue = iter(enumerate(cells))
        disable = None if progress is None else not progress
        with tqdm(total=len(cells), desc=desc, unit="run", disable=disable) as bar:
            try:
                for i, cell in queue:
                    pending[task.remote(fn_ref, *[ship(a) for a in cell])] = i
                    if len(pending) >= cap:
                        break
                while pending:
                    done, _ = ray.wait(list(pending), num_returns=1)
                    i = pending.pop(done[0])
                    try:
                        results[i] = ray.get(done[0])
                    except ray.exceptions.RayTaskError as exc:
                        cause = getattr(exc, "cause", None)
                        raise (cause if isinstance(cause, BaseException) else exc) from None
                    if on_result is not None:
                        on_result(i, results[i])
                    bar.update()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[task.remote(fn_ref, *[ship(a) for a in nxt[1]])] = nxt[0]
            except BaseException:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
        return results


EXECUTORS: Registry[Executor] = Registry("executor")
EXECUTORS.register(
    "local", LocalExecutor, description="worker processes on this machine (the default)"
)
EXECUTORS.register(
    "ray",
    RayExecutor,
    description="Ray tasks, on a local cluster or an existing one (--address)",
)


def make_executor(name: str, address: str | None = None) -> Executor:
    """The executor ``name`` (ConfigError for an unknown one or a misplaced address)."""
    return EXECUTORS.make(name, address=address)
