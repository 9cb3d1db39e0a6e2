"""Schedulers that plan a whole cluster at the start of a timestep (Optimus, Tiresias).

A plan gives new allocations to running tasks (elastic variants only) and an ordered list of
pending tasks to start with their allocations. Rounds then start the plan's tasks one per
round. A planned task another cluster won in a conflict is dropped, and once the plan runs
out the cluster plans again over what is still pending and free, so resources a lost
conflict left idle are used in the same timestep.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from edgesched.core.resources import Vector
from edgesched.placement.schedulers.base import PlacementScheduler
from edgesched.placement.sim import Decision

if TYPE_CHECKING:
    from edgesched.placement.sim import PlacementSim, Task


class Planner(PlacementScheduler):
    """Base of plan-per-timestep schedulers; subclasses implement :meth:`plan`."""

    def reset(self, sim: PlacementSim, rng: np.random.Generator) -> None:
        super().reset(sim, rng)
        n = sim.n_clusters
        self._plans: list[deque[tuple[int, Vector]]] = [deque() for _ in range(n)]
        self._planned_at = [-1] * n
        self._lost = [False] * n

    def plan(
        self, sim: PlacementSim, n: int, elastic: bool
    ) -> tuple[dict[int, Vector], list[tuple[int, Vector]]]:
        """(new allocations of running tasks, pending tasks to start in order) for cluster n.

        With ``elastic`` the plan may use the whole capacity and move running tasks; without,
        it only places pending tasks into the free resources.
        """
        raise NotImplementedError

    def reallocate(self, sim: PlacementSim) -> dict[int, Vector] | None:
        changes: dict[int, Vector] = {}
        for n in range(sim.n_clusters):
            moves, starts = self.plan(sim, n, elastic=True)
            for tid, alloc in moves.items():
                if sim.tasks[tid].alloc != alloc:
                    changes[tid] = alloc
            self._plans[n] = deque(starts)
            self._planned_at[n] = sim.t
            self._lost[n] = False
        return changes

    def decide(self, sim: PlacementSim) -> Sequence[Decision | None]:
        return [self._next(sim, n) for n in range(sim.n_clusters)]

    def _next(self, sim: PlacementSim, n: int) -> Decision | None:
        if self._planned_at[n] != sim.t:
            self._plans[n] = deque(self.plan(sim, n, elastic=False)[1])
            self._planned_at[n] = sim.t
            self._lost[n] = False
        plan = self._plans[n]
        free = sim.clusters[n].free
        for attempt in range(2):
            while plan:
                tid, alloc = plan[0]
                task = sim.tasks[tid]
                if task.cluster is not None:
                    plan.popleft()
                    if task.cluster != n:
                        self._lost[n] = True
                    continue
                if all(a <= f for a, f in zip(alloc, free, strict=True)):
                    return Decision(tid, alloc)
                plan.popleft()
            if attempt == 0 and self._lost[n]:
                self._lost[n] = False
                plan.extend(self.plan(sim, n, elastic=False)[1])
            else:
                break
        return None


def admission_order(tasks: list[Task]) -> list[Task]:
    """FIFO: arrival, then id."""
    return sorted(tasks, key=lambda t: (t.arrival, t.id))
