"""Optimus (Peng et al., EuroSys 2018), as SPEC-placement's baselines describe it.

Per task type, a speed model ``f(c, g) = 1 / (k1/g + k2 + k3*g/c + k4*g + k5*c)`` is fitted by
non-negative least squares on ``1/speed``. Every timestep, each cluster starts every admitted
task at its minimum (running tasks first, then pending ones in arrival order while they fit),
then greedily adds the CPU or GPU unit with the largest reduction of estimated remaining time
``(1 - p) / f(x)``, until no unit helps or none is left. ``optimus`` is elastic (running tasks
are re-allocated, paying the switching overhead); ``optimus-np`` keeps running tasks as they
are and only places new ones into the free resources.

Choice where the spec is silent: the fit uses noise-free speeds profiled at p = 0 on a grid of
allocations (c, g in {min, 2, 4, 8, 16} up to the allocation grid), as Optimus profiles a job
with short pre-runs; it does not learn online.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import nnls

from edgesched.core.errors import ConfigError
from edgesched.core.resources import Vector
from edgesched.placement.progress import ProgressModel
from edgesched.placement.scenario import PlacementScenario
from edgesched.placement.schedulers.planner import Planner, admission_order

if TYPE_CHECKING:
    from edgesched.placement.sim import PlacementSim, Task

MIN_GAIN = 1e-9
PROFILE_POINTS = (2, 4, 8, 16)


def features(c: float, g: float) -> list[float]:
    c = max(c, 1.0)
    g = max(g, 1.0)
    return [1.0 / g, 1.0, g / c, g, c]


def fit_speed_model(
    model: ProgressModel, minimum: Vector, ci: int, gi: int, grid: Vector
) -> np.ndarray:
    """The five coefficients k1..k5 (all >= 0) fitted to the model's noise-free speeds."""
    cs = sorted({minimum[ci], *[c for c in PROFILE_POINTS if minimum[ci] <= c <= grid[ci]]})
    gs = sorted({minimum[gi], *[g for g in PROFILE_POINTS if minimum[gi] <= g <= grid[gi]]})
    rows, ys = [], []
    for c in cs:
        for g in gs:
            alloc = list(minimum)
            alloc[ci], alloc[gi] = c, g
            s = model.speed(tuple(alloc), 0.0)
            if s > 0:
                rows.append(features(c, g))
                ys.append(1.0 / s)
    if not rows:
        return np.array([0.0, 1e9, 0.0, 0.0, 0.0])
    k, _ = nnls(np.array(rows), np.array(ys))
    return k


class Optimus(Planner):
    name = "optimus"
    elastic = True

    def check(self, scenario: PlacementScenario) -> None:
        if "cpu" not in scenario.resources or "gpu" not in scenario.resources:
            raise ConfigError(
                f"{self.name} needs resources named cpu and gpu; scenario "
                f"{scenario.name!r} has {scenario.resources}."
            )

    def reset(self, sim: PlacementSim, rng: np.random.Generator) -> None:
        super().reset(sim, rng)
        self.check(sim.scenario)
        self.ci = sim.scenario.resource_index("cpu")
        self.gi = sim.scenario.resource_index("gpu")
        self.grid = tuple(sim.scenario.allocation_grid)
        self._coef: dict[int, tuple[float, ...]] = {}

    def coefficients(self, task: Task) -> tuple[float, ...]:
        key = id(task.model)
        k = self._coef.get(key)
        if k is None:
            k = self._coef[key] = tuple(
                fit_speed_model(task.model, task.min, self.ci, self.gi, self.grid).tolist()
            )
        return k

    def remaining(self, k: tuple[float, ...], p: float, c: int, g: int) -> float:
        c_ = max(c, 1)
        g_ = max(g, 1)
        inv = k[0] / g_ + k[1] + k[2] * g_ / c_ + k[3] * g_ + k[4] * c_
        return (1.0 - p) * max(inv, 1e-12)

    def plan(
        self, sim: PlacementSim, n: int, elastic: bool
    ) -> tuple[dict[int, Vector], list[tuple[int, Vector]]]:
        cl = sim.clusters[n]
        R = sim.R
        free = list(cl.capacity) if elastic else list(cl.free)
        entries: list[Task] = []
        allocs: list[list[int]] = []
        if elastic:
            for task in cl.running:
                entries.append(task)
                allocs.append(list(task.min))
                for r in range(R):
                    free[r] -= task.min[r]
        n_running = len(entries)
        for task in admission_order(cl.pending_tasks()):
            if all(task.min[r] <= free[r] for r in range(R)):
                entries.append(task)
                allocs.append(list(task.min))
                for r in range(R):
                    free[r] -= task.min[r]
        ci, gi = self.ci, self.gi
        heap: list[tuple[float, int, int, int]] = []
        version = [0] * len(entries)
        coefs = [self.coefficients(t) for t in entries]

        def push(i: int) -> None:
            a = allocs[i]
            p = entries[i].progress
            now = self.remaining(coefs[i], p, a[ci], a[gi])
            for r, (dc, dg) in ((ci, (1, 0)), (gi, (0, 1))):
                if free[r] >= 1:
                    gain = now - self.remaining(coefs[i], p, a[ci] + dc, a[gi] + dg)
                    if gain > MIN_GAIN:
                        heapq.heappush(heap, (-gain, i, r, version[i]))

        for i in range(len(entries)):
            push(i)
        while heap:
            _, i, r, ver = heapq.heappop(heap)
            if ver != version[i] or free[r] < 1:
                continue
            allocs[i][r] += 1
            free[r] -= 1
            version[i] += 1
            push(i)
        moves = {entries[i].id: tuple(allocs[i]) for i in range(n_running)}
        starts = [(entries[i].id, tuple(allocs[i])) for i in range(n_running, len(entries))]
        return moves, starts


class OptimusNP(Optimus):
    name = "optimus-np"
    elastic = False
