"""Baselines that decide one pending task per cluster and round: random, min, sjf-oracle,
tetris (SPEC-placement, Baselines)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgesched.core.resources import Vector
from edgesched.placement.schedulers.base import PlacementScheduler
from edgesched.placement.sim import Decision

if TYPE_CHECKING:
    from edgesched.placement.sim import PlacementSim


class RandomScheduler(PlacementScheduler):
    """Random (impl): a uniformly random pending task, then an allocation drawn uniformly from
    the allocation grid's points that are at least its minimum and at most the free resources,
    plus the skip point (0, ..., 0)."""

    name = "random"

    def decide(self, sim: PlacementSim) -> Sequence[Decision | None]:
        grid = sim.scenario.allocation_grid
        rng = self.rng
        out: list[Decision | None] = []
        for cl in sim.clusters:
            pending = [t for t in cl.pending if t is not None]
            if not pending:
                out.append(None)
                continue
            task = pending[int(rng.integers(len(pending)))]
            spans = []
            for r, m in enumerate(task.min):
                hi = min(cl.free[r], grid[r])
                spans.append(hi - m + 1)
            if min(spans) <= 0:
                out.append(None)
                continue
            total = 1
            for s in spans:
                total *= s
            k = int(rng.integers(total + 1))
            if k == total:  # the skip point
                out.append(None)
                continue
            alloc = []
            for r, s in enumerate(spans):
                alloc.append(task.min[r] + k % s)
                k //= s
            out.append(Decision(task.id, tuple(alloc), 1.0 / len(pending)))
        return out


class MinScheduler(PlacementScheduler):
    """Min: a uniformly random pending task, given exactly its minimum if that fits, else
    the cluster skips the round."""

    name = "min"

    def decide(self, sim: PlacementSim) -> Sequence[Decision | None]:
        rng = self.rng
        out: list[Decision | None] = []
        for cl in sim.clusters:
            pending = [t for t in cl.pending if t is not None]
            if not pending:
                out.append(None)
                continue
            task = pending[int(rng.integers(len(pending)))] if len(pending) > 1 else pending[0]
            free = cl.free
            need = task.min
            if all(need[r] <= free[r] for r in range(len(need))):
                out.append(Decision(task.id, need, 1.0 / len(pending)))
            else:
                out.append(None)
        return out


def _fits(need: Vector, free: list[int]) -> bool:
    return all(need[r] <= free[r] for r in range(len(need)))


class _PickOne(PlacementScheduler):
    """Deterministic: per cluster, the best-scoring pending task that fits, at its minimum."""

    def score(self, sim: PlacementSim, n: int, task_id: int) -> tuple[float, ...]:
        raise NotImplementedError

    def decide(self, sim: PlacementSim) -> Sequence[Decision | None]:
        out: list[Decision | None] = []
        for n, cl in enumerate(sim.clusters):
            best = None
            best_key: tuple[float, ...] | None = None
            for task in cl.pending:
                if task is None or not _fits(task.min, cl.free):
                    continue
                key = self.score(sim, n, task.id)
                if best_key is None or key < best_key:
                    best, best_key = task, key
            out.append(None if best is None else Decision(best.id, best.min))
        return out


class SjfOracle(_PickOne):
    """Shortest job first, knowing each task's true duration at its minimum (no noise)."""

    name = "sjf-oracle"

    def score(self, sim: PlacementSim, n: int, task_id: int) -> tuple[float, ...]:
        task = sim.tasks[task_id]
        return (task.model.steps_to_finish(task.min), task.arrival, task_id)


class Tetris(_PickOne):
    """Tetris (Grandl et al., SIGCOMM 2014), packing score only: the dot product of the task's
    demand and the cluster's free resources, both normalised by capacity; highest first."""

    name = "tetris"

    def score(self, sim: PlacementSim, n: int, task_id: int) -> tuple[float, ...]:
        cl = sim.clusters[n]
        task = sim.tasks[task_id]
        align = sum((task.min[r] / c) * (cl.free[r] / c) for r, c in enumerate(cl.capacity) if c)
        return (-align, task.arrival, task_id)
