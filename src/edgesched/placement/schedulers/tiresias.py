"""Tiresias (Gu et al., NSDI 2019), as SPEC-placement's baselines describe it.

Two-level least-attained-service on attained GPU service (GPUs x timesteps): tasks under the
threshold (the median GPU time of the workload at minimum allocations) come before the rest,
FIFO within a level; each gets its minimum requirement. ``tiresias`` is preemptive: every
timestep each cluster re-ranks its running and pending tasks, pauses running tasks that no
longer make the cut (they keep their cluster and resume later, paying the switching overhead)
and starts pending ones. ``tiresias-np`` never pauses a running task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edgesched.core.resources import Vector
from edgesched.placement.schedulers.planner import Planner

if TYPE_CHECKING:
    from edgesched.placement.sim import PlacementSim, Task


class Tiresias(Planner):
    name = "tiresias"
    elastic = True

    def reset(self, sim: PlacementSim, rng: np.random.Generator) -> None:
        super().reset(sim, rng)
        g = sim.gpu
        gpu_times = [t.min[g] * t.model.steps_to_finish(t.min) for t in sim.tasks]
        self.threshold = float(np.median(gpu_times)) if gpu_times else 0.0

    def priority(self, task: Task) -> tuple[int, int, int]:
        level = 0 if task.gpu_service < self.threshold else 1
        return (level, task.arrival, task.id)

    def plan(
        self, sim: PlacementSim, n: int, elastic: bool
    ) -> tuple[dict[int, Vector], list[tuple[int, Vector]]]:
        cl = sim.clusters[n]
        R = sim.R
        free = list(cl.capacity) if elastic else list(cl.free)
        candidates = cl.pending_tasks() + (list(cl.running) if elastic else [])
        moves: dict[int, Vector] = {}
        starts: list[tuple[int, Vector]] = []
        for task in sorted(candidates, key=self.priority):
            admitted = all(task.min[r] <= free[r] for r in range(R))
            if admitted:
                for r in range(R):
                    free[r] -= task.min[r]
            if task.cluster is not None:
                moves[task.id] = task.min if admitted else sim.zero
            elif admitted:
                starts.append((task.id, task.min))
        return moves, starts


class TiresiasNP(Tiresias):
    name = "tiresias-np"
    elastic = False
