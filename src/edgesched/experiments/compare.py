"""`edgesched compare`: every (scheduler, seed) cell of one scenario, then tables and files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesched.core.errors import ConfigError
from edgesched.experiments.backend import CompareOptions
from edgesched.experiments.executors import make_executor
from edgesched.experiments.output import staged_output, timestamp
from edgesched.experiments.worlds import resolve


@dataclass
class CompareResult:
    out_dir: Path
    summary: dict[str, Any]
    table: str


def compare(
    scenario: str,
    *,
    schedulers: list[str] | None = None,
    seeds: list[int] | None = None,
    out: Path | None = None,
    jobs: int | None = None,
    options: CompareOptions | None = None,
    progress: bool | None = None,
    executor: str = "local",
    address: str | None = None,
) -> CompareResult:
    """Run every scheduler on every seed of a scenario and write the results folder.

    Everything is validated before the first cell runs; the output folder appears only when
    every file in it is written. ``executor`` runs the cells (see
    :mod:`edgesched.experiments.executors`: ``local`` or ``ray``, with ``address`` an existing
    Ray cluster); the results do not depend on it.
    """
    runner = make_executor(executor, address)
    options = options or CompareOptions()
    seeds = seeds if seeds is not None else list(range(5))
    backend = resolve(scenario)
    prepared = backend.prepare(scenario, options)
    names = schedulers or backend.schedulers(prepared)
    if len(set(names)) != len(names):
        raise ConfigError(f"--schedulers: a scheduler is named twice in {','.join(names)}.")
    backend.check_schedulers(prepared, names)
    name = backend.scenario_name(prepared)
    out_dir = out or Path("runs") / f"{name}__{timestamp()}"
    with staged_output(out_dir) as staging:
        cells = [(s, seed) for s in names for seed in seeds]
        fn = backend.cell_function()
        results = runner.run(
            fn,
            [(prepared, s, seed) for s, seed in cells],
            jobs=jobs,
            desc=f"compare {name}",
            progress=progress,
        )
        summary = backend.write(staging, prepared, cells, results)
    return CompareResult(out_dir=out_dir, summary=summary, table=backend.table(summary))
