"""Progress models: how far a running task gets in one timestep at an allocation.

Per timestep a running task with allocation x >= its minimum gains
``dp = max(0, speed(x, p) + noise)``, noise uniform in [-eps, +eps] (see SPEC-placement.md).
Models here are noise-free; the simulator adds the noise and the switching overhead.
Every model caches its speeds per allocation when they do not depend on progress.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from edgesched.core.errors import ConfigError
from edgesched.core.resources import Vector

TESTBED_TABLE = "testbed_completion_times.csv"


class ProgressModel:
    """Base: noise-free speed (progress per timestep) of a task at an allocation.

    Attributes:
        depends_on_progress: True when speed varies with the progress p already made.
        cache: allocation -> speed, filled by :meth:`cached_speed` (models that do not depend
            on progress only).
    """

    depends_on_progress = False

    def __init__(self) -> None:
        self.cache: dict[Vector, float] = {}

    def speed(self, alloc: Vector, p: float) -> float:
        raise NotImplementedError

    def cached_speed(self, alloc: Vector) -> float:
        s = self.cache.get(alloc)
        if s is None:
            s = self.cache[alloc] = self.speed(alloc, 0.0)
        return s

    def candidate_allocs(self, minimum: Vector, capacity: Vector) -> list[Vector]:
        """Allocations between ``minimum`` and ``capacity`` among which the fastest lies
        (all of them unless a model knows better)."""
        out: list[Vector] = [()]
        for m, c in zip(minimum, capacity, strict=True):
            out = [(*a, v) for a in out for v in range(m, c + 1)]
        return out

    def steps_to_finish(self, alloc: Vector, p: float = 0.0) -> int:
        """Timesteps to reach p >= 1 from ``p`` at ``alloc`` without noise or switching."""
        if not self.depends_on_progress:
            s = self.cached_speed(alloc)
            if s <= 0:
                return math.inf  # type: ignore[return-value]
            return max(1, math.ceil((1.0 - p) / s - 1e-9))
        steps = 0
        while p < 1.0 - 1e-9:
            s = self.speed(alloc, p)
            if s <= 0:
                return math.inf  # type: ignore[return-value]
            p += s
            steps += 1
        return max(1, steps)


class ConstantSpeed(ProgressModel):
    """Resource-insensitive: ``1 / duration`` per timestep at or above the minimum."""

    def __init__(self, duration: float) -> None:
        super().__init__()
        if duration <= 0:
            raise ValueError(f"duration must be > 0, got {duration}")
        self.duration = float(duration)
        self._speed = 1.0 / self.duration

    def speed(self, alloc: Vector, p: float) -> float:
        return self._speed

    def candidate_allocs(self, minimum: Vector, capacity: Vector) -> list[Vector]:
        return [minimum]


class TanhGpu(ProgressModel):
    """Resource-sensitive: ``tanh(g / scale)``, g the GPUs allocated (paper section 5.1)."""

    def __init__(self, gpu_index: int, scale: float = 16.0) -> None:
        super().__init__()
        self.gpu_index = gpu_index
        self.scale = float(scale)

    def speed(self, alloc: Vector, p: float) -> float:
        return math.tanh(alloc[self.gpu_index] / self.scale)

    def candidate_allocs(self, minimum: Vector, capacity: Vector) -> list[Vector]:
        """Speed grows with GPUs alone: all of the cluster's GPUs, the minimum of the rest."""
        g = self.gpu_index
        return [tuple(capacity[r] if r == g else minimum[r] for r in range(len(minimum)))]


class TanhGpuSqrt(TanhGpu):
    """The authors' code variant: ``tanh(g / scale) * sqrt(offset - p)`` (offset 1.2)."""

    depends_on_progress = True

    def __init__(self, gpu_index: int, scale: float = 16.0, offset: float = 1.2) -> None:
        super().__init__(gpu_index, scale)
        self.offset = float(offset)

    def speed(self, alloc: Vector, p: float) -> float:
        return math.tanh(alloc[self.gpu_index] / self.scale) * math.sqrt(max(self.offset - p, 0.0))


class TableSpeed(ProgressModel):
    """Measured completion times: ``timestep_seconds / (completion(c, g) + startup_seconds)``.

    Allocations outside the table are clamped to its edge (SPEC-placement, test-bed).
    """

    def __init__(
        self,
        seconds: Mapping[tuple[int, int], float],
        cpu_index: int,
        gpu_index: int,
        timestep_seconds: float,
        startup_seconds: float = 14.0,
    ) -> None:
        super().__init__()
        if not seconds:
            raise ValueError("empty completion-time table")
        self.seconds = dict(seconds)
        cs = sorted({c for c, _ in seconds})
        gs = sorted({g for _, g in seconds})
        self.c_range = (cs[0], cs[-1])
        self.g_range = (gs[0], gs[-1])
        self.cpu_index = cpu_index
        self.gpu_index = gpu_index
        self.timestep_seconds = float(timestep_seconds)
        self.startup_seconds = float(startup_seconds)

    def completion_seconds(self, cpus: int, gpus: int) -> float:
        c = min(max(cpus, self.c_range[0]), self.c_range[1])
        g = min(max(gpus, self.g_range[0]), self.g_range[1])
        try:
            return self.seconds[(c, g)]
        except KeyError:
            raise ValueError(f"the completion-time table has no entry for ({c}, {g})") from None

    def speed(self, alloc: Vector, p: float) -> float:
        secs = self.completion_seconds(alloc[self.cpu_index], alloc[self.gpu_index])
        return self.timestep_seconds / (secs + self.startup_seconds)


def read_completion_table(
    path: str | Path | None = None,
) -> dict[str, dict[tuple[int, int], float]]:
    """The measured table ``task -> (cpus, gpus) -> seconds``.

    The shipped test-bed data when ``path`` is None.

    Raises:
        ConfigError: a missing column, a bad number, or a repeated (task, cpus, gpus).
    """
    from edgesched.core.tables import read_table

    if path is None:
        ref = resources.files("edgesched.placement") / "data" / TESTBED_TABLE
        with resources.as_file(ref) as real:
            return read_completion_table(real)
    rows = read_table(
        path,
        {"task": "str", "cpus": "int", "gpus": "int", "completion_seconds": "float"},
        what="completion-time table",
    )
    out: dict[str, dict[tuple[int, int], float]] = {}
    for row in rows:
        key = (row["cpus"], row["gpus"])
        if row["completion_seconds"] <= 0:
            raise ConfigError(
                f"{path}, line {row['_line']}, column 'completion_seconds': expected > 0."
            )
        table = out.setdefault(row["task"], {})
        if key in table:
            raise ConfigError(f"{path}, line {row['_line']}: ({key[0]}, {key[1]}) repeated.")
        table[key] = row["completion_seconds"]
    return out
