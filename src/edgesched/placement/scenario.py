"""Placement scenarios: typed models of the YAML presets, and loading them by name or path."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    model_validator,
)

from edgesched.core.config import Name, StrictModel, load_model, preset_descriptions, scenario_file
from edgesched.core.errors import ConfigError
from edgesched.placement.progress import (
    ConstantSpeed,
    ProgressModel,
    TableSpeed,
    TanhGpu,
    TanhGpuSqrt,
    read_completion_table,
)

#: Bounds of a placement scenario (docs/inputs.md): resource units per cluster or task,
#: clusters, tasks, pending slots, tasks x clusters, timesteps and arrival rates per timestep.
MAX_UNITS = 1024
MAX_CLUSTERS = 1000
MAX_TASKS = 100_000
MAX_PENDING_SLOTS = 1000
MAX_TASK_CLUSTER_PAIRS = 10_000_000
MAX_TIMESTEPS = 1_000_000
MIN_RATE, MAX_RATE = 1e-6, 1e4


class ConstantProgress(StrictModel):
    """Resource-insensitive: finishes in ``duration`` timesteps at or above its minimum."""

    model: Literal["constant"]
    duration: Annotated[float, Field(gt=0, le=MAX_TIMESTEPS)]


class TanhGpuProgress(StrictModel):
    """``tanh(g / scale)`` per timestep, g the amount of ``resource`` allocated."""

    model: Literal["tanh-gpu"]
    scale: Annotated[float, Field(gt=0, le=1e6)] = 16.0
    resource: str = "gpu"


class TanhGpuSqrtProgress(StrictModel):
    """The authors' code: ``tanh(g / scale) * sqrt(offset - p)``."""

    model: Literal["tanh-gpu-sqrt"]
    scale: Annotated[float, Field(gt=0, le=1e6)] = 16.0
    resource: str = "gpu"
    offset: Annotated[float, Field(gt=1.0)] = 1.2


class TableProgress(StrictModel):
    """Measured completion times per (CPUs, GPUs) of ``task`` in a CSV table (default: the
    shipped test-bed measurements), plus a start-up overhead."""

    model: Literal["table"]
    task: str
    file: str | None = None
    startup_seconds: Annotated[float, Field(ge=0, le=1e6)] = 14.0


ProgressSpec = Annotated[
    ConstantProgress | TanhGpuProgress | TanhGpuSqrtProgress | TableProgress,
    Field(discriminator="model"),
]


class TaskType(StrictModel):
    name: str
    probability: PositiveFloat
    min: list[Annotated[int, Field(ge=0, le=MAX_UNITS)]]
    progress: ProgressSpec


class ClusterGroup(StrictModel):
    count: Annotated[int, Field(ge=1, le=MAX_CLUSTERS)] = 1
    capacity: list[Annotated[int, Field(ge=0, le=MAX_UNITS)]]


class Arrivals(StrictModel):
    """Poisson arrivals per timestep: a constant ``rate`` or ``steps`` of [start, rate]."""

    rate: Annotated[float, Field(ge=MIN_RATE, le=MAX_RATE)] | None = None
    steps: (
        list[
            tuple[
                Annotated[int, Field(ge=0, le=MAX_TIMESTEPS)],
                Annotated[float, Field(ge=0, le=MAX_RATE)],
            ]
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _one_of(self) -> Arrivals:
        if (self.rate is None) == (self.steps is None):
            raise ValueError("give exactly one of 'rate' or 'steps'")
        if self.steps is not None:
            if not self.steps:
                raise ValueError("steps is empty; give at least one [start, rate]")
            if any(0 < r < MIN_RATE for _, r in self.steps) or self.steps[-1][1] < MIN_RATE:
                raise ValueError(
                    f"a step rate is below {MIN_RATE:g} tasks per timestep (and the last one "
                    "must be at least that, or the remaining tasks would never arrive)"
                )
        return self

    def as_steps(self) -> list[tuple[float, float]]:
        if self.steps is not None:
            return [(float(s), float(r)) for s, r in self.steps]
        assert self.rate is not None
        return [(0.0, float(self.rate))]


class Workload(StrictModel):
    tasks: Annotated[int, Field(ge=1, le=MAX_TASKS)]
    arrivals: Arrivals
    types: list[TaskType] = Field(min_length=1)


class Connectivity(StrictModel):
    """Eligible clusters of a task: ``uniform`` (size uniform in 1..N, members uniform) or
    ``bandwidth`` (each link uniform in [0, max_mbps], usable at threshold_mbps or more)."""

    model: Literal["uniform", "bandwidth"] = "uniform"
    max_mbps: PositiveFloat = 10.0
    threshold_mbps: NonNegativeFloat = 5.0


class PlacementScenario(StrictModel):
    """A placement world: clusters, workload and rules (see SPEC-placement.md)."""

    world: Literal["placement"] = "placement"
    name: Name
    description: str = ""
    timestep_seconds: Annotated[float, Field(gt=0, le=86_400)]
    resources: list[str] = Field(default_factory=lambda: ["cpu", "gpu"], min_length=1)
    clusters: list[ClusterGroup] = Field(min_length=1)
    pending_slots: Annotated[int, Field(ge=1, le=MAX_PENDING_SLOTS)] = 10
    mode: Literal["multi-task", "single-task"] = "multi-task"
    switch_factor: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    noise: Annotated[float, Field(ge=0, le=10)] = 0.1
    allocation_grid: list[Annotated[int, Field(ge=1, le=MAX_UNITS)]] = Field(max_length=16)
    connectivity: Connectivity = Connectivity()
    trace_progress: Literal["constant", "tanh-gpu"] = "constant"
    workload: Workload

    @model_validator(mode="after")
    def _consistent(self) -> PlacementScenario:
        r = len(self.resources)
        if len(set(self.resources)) != r:
            raise ValueError(f"resource names repeat: {self.resources}")
        if len(self.allocation_grid) != r:
            raise ValueError(
                f"allocation_grid has {len(self.allocation_grid)} entries, "
                f"expected one per resource ({r})"
            )
        for i, group in enumerate(self.clusters):
            if len(group.capacity) != r:
                raise ValueError(
                    f"clusters[{i}].capacity has {len(group.capacity)} entries, "
                    f"expected one per resource ({r}: {', '.join(self.resources)})"
                )
        caps = self.capacities()
        for i, t in enumerate(self.workload.types):
            if len(t.min) != r:
                raise ValueError(
                    f"workload.types[{i}].min has {len(t.min)} entries, expected "
                    f"one per resource ({r})"
                )
            if not any(t.min):
                raise ValueError(f"workload.types[{i}].min is all zero; a task needs something")
            if any(m > a for m, a in zip(t.min, self.allocation_grid, strict=True)):
                raise ValueError(
                    f"workload.types[{i}].min {t.min} exceeds the allocation grid "
                    f"{self.allocation_grid}"
                )
            if not any(all(m <= c for m, c in zip(t.min, cap, strict=True)) for cap in caps):
                raise ValueError(f"workload.types[{i}].min {t.min} fits no cluster")
            prog = t.progress
            needed = []
            if isinstance(prog, TanhGpuProgress | TanhGpuSqrtProgress):
                needed = [prog.resource]
            elif isinstance(prog, TableProgress):
                needed = ["cpu", "gpu"]
            for name in needed:
                if name not in self.resources:
                    raise ValueError(
                        f"workload.types[{i}].progress needs a resource named "
                        f"{name!r}; resources are {self.resources}"
                    )
            if (
                needed
                and isinstance(prog, TanhGpuProgress | TanhGpuSqrtProgress)
                and (t.min[self.resources.index(prog.resource)] < 1)
            ):
                raise ValueError(
                    f"workload.types[{i}].min must include at least 1 "
                    f"{prog.resource}: {prog.model} progress is 0 without it and "
                    "the task would never finish"
                )
        cells = self.workload.tasks * self.n_clusters
        if cells > MAX_TASK_CLUSTER_PAIRS:
            raise ValueError(
                f"workload.tasks x clusters is {cells:,}; at most {MAX_TASK_CLUSTER_PAIRS:,} "
                "fit in memory"
            )
        total = sum(t.probability for t in self.workload.types)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"workload type probabilities sum to {total:g}, expected 1")
        return self

    def capacities(self) -> list[tuple[int, ...]]:
        """One capacity vector per cluster, groups expanded in order."""
        return [tuple(g.capacity) for g in self.clusters for _ in range(g.count)]

    @property
    def n_clusters(self) -> int:
        return sum(g.count for g in self.clusters)

    def resource_index(self, name: str) -> int:
        return self.resources.index(name)

    def gpu_index(self) -> int:
        """The resource whose attained service Tiresias counts (``gpu``, else the last)."""
        return self.resources.index("gpu") if "gpu" in self.resources else len(self.resources) - 1

    def build_progress(self, spec: ProgressSpec, source: Path | None = None) -> ProgressModel:
        """The progress model a task type's spec describes."""
        if isinstance(spec, ConstantProgress):
            return ConstantSpeed(spec.duration)
        if isinstance(spec, TanhGpuSqrtProgress):
            return TanhGpuSqrt(self.resource_index(spec.resource), spec.scale, spec.offset)
        if isinstance(spec, TanhGpuProgress):
            return TanhGpu(self.resource_index(spec.resource), spec.scale)
        table_path = None
        if spec.file is not None:
            table_path = Path(spec.file)
            if not table_path.is_absolute() and source is not None:
                table_path = source.parent / table_path
        tables = _completion_tables(str(table_path) if table_path else None)
        if spec.task not in tables:
            raise ConfigError(
                f"{self.name}: progress table has no task {spec.task!r}; it has "
                f"{', '.join(sorted(tables))}."
            )
        return TableSpeed(
            tables[spec.task],
            self.resource_index("cpu"),
            self.resource_index("gpu"),
            self.timestep_seconds,
            spec.startup_seconds,
        )


@cache
def _completion_tables(path: str | None) -> dict[str, dict[tuple[int, int], float]]:
    return read_completion_table(path)


# ----------------------------------------------------------------------------- presets


def _preset_dir() -> Path:
    return Path(str(resources.files("edgesched.placement") / "scenarios"))


@cache
def presets() -> dict[str, str]:
    """Preset name -> one-line description, the default (synthetic-3) first."""
    return preset_descriptions(_preset_dir(), "synthetic-3")


def load_scenario(ref: str | Path) -> tuple[PlacementScenario, Path]:
    """A scenario from a preset name or a YAML path; also returns the file it came from.

    Raises:
        ConfigError: unknown preset, unreadable file, or a field that fails validation.
    """
    path, _ = scenario_file(ref, _preset_dir(), "placement scenario")
    scenario = load_model(PlacementScenario, path)
    for t in scenario.workload.types:  # table lookups fail here, not mid-run
        scenario.build_progress(t.progress, path)
    return scenario, path


def with_overrides(
    scenario: str | Path | PlacementScenario,
    tasks: int | None = None,
    mode: str | None = None,
    rate: float | None = None,
) -> tuple[PlacementScenario, Path | None]:
    """A scenario (a preset name, a YAML path or a model) with overrides applied to the model:
    the task count, the mode and a constant arrival rate (None keeps the scenario's). Also
    returns the YAML file it came from (None for a model).

    Raises:
        ConfigError: an unknown preset or a bad file, or an override out of range.
    """
    if isinstance(scenario, PlacementScenario):
        sc, path = scenario, None
    else:
        sc, path = load_scenario(scenario)
    if tasks is not None:
        if tasks < 1:
            raise ConfigError(f"tasks={tasks}: expected a whole number >= 1.")
        sc = sc.model_copy(update={"workload": sc.workload.model_copy(update={"tasks": tasks})})
    if mode is not None:
        if mode not in ("multi-task", "single-task"):
            raise ConfigError(f"mode={mode!r}: expected 'multi-task' or 'single-task'.")
        sc = sc.model_copy(update={"mode": mode})
    if rate is not None:
        if rate <= 0:
            raise ConfigError(f"rate={rate}: expected an arrival rate > 0.")
        arr = sc.workload.arrivals.model_copy(update={"rate": float(rate), "steps": None})
        sc = sc.model_copy(update={"workload": sc.workload.model_copy(update={"arrivals": arr})})
    return sc, path
