"""The tasks of one run: drawn from a scenario's workload, or replayed from a CSV trace."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesched.core.arrivals import PiecewiseRate
from edgesched.core.errors import ConfigError
from edgesched.core.resources import Vector, fits
from edgesched.core.rng import RandomStreams
from edgesched.core.tables import read_table
from edgesched.placement.progress import ConstantSpeed, ProgressModel, TanhGpu
from edgesched.placement.scenario import PlacementScenario

TRACE_REQUIRED = {"arrival_s": "float", "duration_s": "float", "cpus": "int", "gpus": "int"}
TRACE_OPTIONAL = {"type": "str", "name": "str"}


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task as the workload defines it, before the world runs it."""

    name: str
    type_name: str
    type_index: int
    arrival: int
    min: Vector
    eligible: tuple[int, ...]
    progress: ProgressModel


@dataclass(frozen=True, slots=True)
class TraceTask:
    """A row of a trace, validated."""

    line: int
    arrival_s: float
    duration_s: float
    min: Vector
    type_name: str
    name: str | None


#: Bounds of a trace (docs/inputs.md): seconds of an arrival or a duration, timesteps until
#: the last task ends, and tasks.
MAX_TRACE_SECONDS = 366 * 86_400.0
MAX_TRACE_TIMESTEPS = 1_000_000
MAX_TRACE_TASKS = 100_000


def read_trace(path: str | Path, scenario: PlacementScenario) -> list[TraceTask]:
    """Read and validate a trace for ``scenario`` (which must have resources cpu and gpu).

    Raises:
        ConfigError: a missing column, a non-numeric value, a negative time, a task that fits
            no cluster; every message names the file, line and column.
    """
    path = Path(path)
    if scenario.resources != ["cpu", "gpu"]:
        raise ConfigError(
            f"--trace {path}: traces give cpus and gpus, but scenario {scenario.name!r} has "
            f"resources {scenario.resources}."
        )
    rows = read_table(path, TRACE_REQUIRED, TRACE_OPTIONAL, what="trace")
    if not rows:
        raise ConfigError(f"{path}: the trace has a header but no task.")
    if len(rows) > MAX_TRACE_TASKS:
        raise ConfigError(
            f"{path}: {len(rows):,} tasks; a trace holds at most {MAX_TRACE_TASKS:,}."
        )
    caps = scenario.capacities()
    out: list[TraceTask] = []
    for row in rows:
        line = row["_line"]
        for col in ("arrival_s", "cpus", "gpus"):
            if row[col] < 0:
                raise ConfigError(
                    f"{path}, line {line}, column '{col}': expected >= 0, found {row[col]}."
                )
        for col, hi in (("arrival_s", MAX_TRACE_SECONDS), ("duration_s", MAX_TRACE_SECONDS)):
            if row[col] > hi:
                raise ConfigError(
                    f"{path}, line {line}, column '{col}': {row[col]:g} s; at most {hi:g} s "
                    "(a year) can be simulated."
                )
        if row["duration_s"] <= 0:
            raise ConfigError(
                f"{path}, line {line}, column 'duration_s': expected > 0, "
                f"found {row['duration_s']}."
            )
        steps = (row["arrival_s"] + row["duration_s"]) / scenario.timestep_seconds
        if steps > MAX_TRACE_TIMESTEPS:
            raise ConfigError(
                f"{path}, line {line}, columns 'arrival_s', 'duration_s': ends after "
                f"{steps:,.0f} timesteps of {scenario.timestep_seconds:g} s; at most "
                f"{MAX_TRACE_TIMESTEPS:,} can be simulated."
            )
        need = (row["cpus"], row["gpus"])
        if not any(need):
            raise ConfigError(
                f"{path}, line {line}, columns 'cpus', 'gpus': a task needs at "
                "least one CPU or GPU."
            )
        if not any(fits(need, c) for c in caps):
            raise ConfigError(
                f"{path}, line {line}: the task needs {need} (cpus, gpus), more "
                f"than any cluster of {scenario.name!r} has ({caps})."
            )
        out.append(
            TraceTask(
                line,
                row["arrival_s"],
                row["duration_s"],
                need,
                row.get("type") or "trace",
                row.get("name"),
            )
        )
    return out


def draw_eligible(
    scenario: PlacementScenario, needs: list[Vector], rng: np.random.Generator
) -> list[tuple[int, ...]]:
    """Draw the eligible-cluster set of each task (SPEC-placement, connectivity).

    ``uniform``: size uniform in 1..N, members uniform without replacement. ``bandwidth``: each
    link uniform in [0, max_mbps], usable at threshold_mbps or more; a task with no usable link
    keeps its best one (our choice; the spec is silent). Only clusters that could ever hold the
    task are drawn from (every cluster, in the presets). Draws are made per distinct minimum
    requirement, in one batch each.
    """
    caps = scenario.capacities()
    conn = scenario.connectivity
    groups: dict[Vector, list[int]] = {}
    for j, need in enumerate(needs):
        groups.setdefault(need, []).append(j)
    out: list[tuple[int, ...]] = [()] * len(needs)
    for need, members in groups.items():
        cand = np.array([i for i, c in enumerate(caps) if fits(need, c)])
        m, c = len(members), len(cand)
        if conn.model == "uniform":
            sizes = rng.integers(1, c + 1, size=m).tolist()
            order = np.argsort(rng.random((m, c)), axis=1)
            for row, (j, k) in enumerate(zip(members, sizes, strict=True)):
                out[j] = tuple(sorted(cand[order[row, :k]].tolist()))
        else:
            bw = rng.uniform(0.0, conn.max_mbps, size=(m, c))
            usable = bw >= conn.threshold_mbps
            best = np.argmax(bw, axis=1)
            for row, j in enumerate(members):
                picked = cand[usable[row]].tolist()
                out[j] = tuple(picked) if picked else (int(cand[best[row]]),)
    return out


def generate(
    scenario: PlacementScenario, streams: RandomStreams, source: Path | None = None
) -> list[TaskSpec]:
    """Draw the tasks of one run: arrival timesteps, types and eligible sets."""
    wl = scenario.workload
    arrivals = PiecewiseRate(wl.arrivals.as_steps()).poisson_timesteps(
        streams["arrivals"], wl.tasks
    )
    probs = np.array([t.probability for t in wl.types])
    types = streams["types"].choice(len(wl.types), size=wl.tasks, p=probs / probs.sum()).tolist()
    models = [scenario.build_progress(t.progress, source) for t in wl.types]
    needs = [tuple(wl.types[ti].min) for ti in types]
    eligible = draw_eligible(scenario, needs, streams["connectivity"])
    return [
        TaskSpec(f"task-{j}", wl.types[ti].name, ti, arrival, needs[j], eligible[j], models[ti])
        for j, (arrival, ti) in enumerate(zip(arrivals, types, strict=True))
    ]


def from_trace(
    scenario: PlacementScenario, trace: list[TraceTask], streams: RandomStreams
) -> list[TaskSpec]:
    """Tasks of a trace: arrival and duration in seconds become timesteps of the scenario.

    A task is resource-insensitive above its minimum (``trace_progress: constant``), or scales
    as tanh(g/16) relative to its minimum (``trace_progress: tanh-gpu``).
    """
    ts = scenario.timestep_seconds
    order = sorted(range(len(trace)), key=lambda i: (trace[i].arrival_s, i))
    eligible = draw_eligible(scenario, [trace[j].min for j in order], streams["connectivity"])
    type_names = sorted({t.type_name for t in trace})
    out = []
    gpu = scenario.gpu_index()
    for k, j in enumerate(order):
        row = trace[j]
        duration = row.duration_s / ts
        model: ProgressModel
        if scenario.trace_progress == "tanh-gpu" and row.min[gpu] > 0:
            model = ScaledTanh(gpu, duration, row.min[gpu])
        else:
            model = ConstantSpeed(duration)
        out.append(
            TaskSpec(
                row.name or f"line-{row.line}",
                row.type_name,
                type_names.index(row.type_name),
                math.floor(row.arrival_s / ts),
                row.min,
                eligible[k],
                model,
            )
        )
    return out


class ScaledTanh(TanhGpu):
    """A trace task of ``duration`` timesteps at its minimum g0, faster as tanh(g/16)."""

    def __init__(self, gpu_index: int, duration: float, g0: int) -> None:
        super().__init__(gpu_index, 16.0)
        self.base = 1.0 / (duration * math.tanh(g0 / 16.0))

    def speed(self, alloc: Vector, p: float) -> float:
        return self.base * math.tanh(alloc[self.gpu_index] / 16.0)


def workload(
    scenario: PlacementScenario,
    seed: int,
    trace: list[TraceTask] | None = None,
    source: Path | None = None,
) -> list[TaskSpec]:
    """The tasks of seed ``seed``: drawn from the scenario, or the trace's with eligible sets
    drawn from the seed. The same for every scheduler."""
    streams = RandomStreams(seed)
    if trace is not None:
        return from_trace(scenario, trace, streams)
    return generate(scenario, streams, source)
