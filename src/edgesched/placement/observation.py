"""The padded observation of the placement world: sizes (:class:`Layout`), the per-cluster,
pending and running features, one agent's observation and its space.

The two environments (:mod:`edgesched.placement.env`) and the graph view of the learned
scheduler (:mod:`edgesched.rl.tapfinger.graph`) read the world only through these functions,
so a feature is computed one way everywhere. STATE is documented in
:mod:`edgesched.placement.env`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from edgesched.placement.scenario import PlacementScenario
from edgesched.placement.sim import PlacementSim

RUNNING_ELAPSED_SCALE = 10.0
FEATURE_MAX = 1000.0  # queue lengths and elapsed times are clipped here (finite spaces)


class Layout:
    """Sizes and scales of the padded observation of one scenario (shared by both views).

    Attributes:
        N, R, K, T, M: clusters, resources, pending slots, task types, running rows.
        grid: the allocation grid's maxima A_r; ``G = prod(A_r + 1)`` points.
    """

    def __init__(self, scenario: PlacementScenario) -> None:
        caps = np.array(scenario.capacities(), dtype=np.int64)
        self.N, self.R = caps.shape
        self.K = scenario.pending_slots
        self.T = max(1, len(scenario.workload.types))
        self.grid = np.array(scenario.allocation_grid, dtype=np.int64)
        self.dims = tuple(int(a) + 1 for a in self.grid)
        self.G = int(np.prod(self.dims))
        # every running task holds at least one unit of something (minimums are never zero)
        self.M = int(caps.sum(axis=1).max())
        self.cap_scale = caps.max(axis=0).astype(np.float32)
        self.cap_scale[self.cap_scale == 0] = 1.0
        self.capacity = caps
        self.pending_dim = self.R + self.T + 1
        self.running_dim = self.R + self.T + 2
        self.cluster_dim = 2 * self.R + 1
        # grid point index -> allocation vector (row-major, last resource fastest)
        self.points = np.stack(np.unravel_index(np.arange(self.G), self.dims), axis=1)

    def alloc_of(self, index: int) -> tuple[int, ...]:
        """The allocation vector of grid index ``index``."""
        return tuple(int(v) for v in self.points[index])

    def index_of(self, alloc: tuple[int, ...]) -> int:
        """The grid index of an allocation vector."""
        return int(np.ravel_multi_index(alloc, self.dims))

    def box_mask(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Grid points p with lo <= p <= hi on every resource, as a (G,) bool array."""
        return np.all((self.points >= lo) & (self.points <= hi), axis=1)


def observe(sim: PlacementSim, lay: Layout, n: int) -> dict[str, Any]:
    """Agent ``n``'s padded observation of the world (see the module docstring)."""
    K, R, T = lay.K, lay.R, lay.T
    clusters = cluster_features(sim, lay)
    own = np.zeros(lay.N, dtype=np.float32)
    own[n] = 1.0
    cl = sim.clusters[n]
    pending = np.zeros((K, lay.pending_dim), dtype=np.float32)
    alloc_mask = np.zeros((K, lay.G), dtype=np.int8)
    task_mask = np.zeros(K + 1, dtype=np.int8)
    task_mask[K] = 1
    free = np.minimum(np.asarray(cl.free, dtype=np.int64), lay.grid)
    common_lo = np.zeros(R, dtype=np.int64)
    any_feasible = False
    for s, task in enumerate(cl.pending):
        if task is None:
            pending[s, R + T] = 1.0
            continue
        need = np.asarray(task.min, dtype=np.int64)
        pending[s, :R] = need / lay.grid
        pending[s, R + min(task.type_index, T - 1)] = 1.0
        if np.all(need <= free):
            mask = lay.box_mask(need, free)
            alloc_mask[s] = mask
            task_mask[s] = 1
            common_lo = np.maximum(common_lo, need)
            any_feasible = True
    if any_feasible:
        common = lay.box_mask(common_lo, free).astype(np.int8)
        common[0] = 0
    else:
        common = np.zeros(lay.G, dtype=np.int8)
        common[0] = 1
    return {
        "clusters": clusters,
        "self": own,
        "pending": pending,
        "running": running_features(sim, lay, n),
        "alloc_mask": alloc_mask,
        "action_mask": (task_mask, common),
    }


def cluster_features(sim: PlacementSim, lay: Layout) -> np.ndarray:
    """(N, 2R+1): free resources, capacity (over the largest capacity), queue length / K."""
    out = np.empty((lay.N, lay.cluster_dim), dtype=np.float32)
    R = lay.R
    for i, cl in enumerate(sim.clusters):
        out[i, :R] = np.asarray(cl.free, dtype=np.float32) / lay.cap_scale
        out[i, R : 2 * R] = lay.capacity[i] / lay.cap_scale
        out[i, 2 * R] = min(cl.queue_len / lay.K, FEATURE_MAX)
    return out


def running_features(sim: PlacementSim, lay: Layout, n: int) -> np.ndarray:
    """(M, R+T+2): allocation, type one-hot, elapsed / 10 and a valid flag per running task."""
    R, T = lay.R, lay.T
    out = np.zeros((lay.M, lay.running_dim), dtype=np.float32)
    for i, task in enumerate(sim.clusters[n].running[: lay.M]):
        out[i, :R] = np.asarray(task.alloc, dtype=np.float32) / lay.grid
        out[i, R + min(task.type_index, T - 1)] = 1.0
        out[i, R + T] = min((sim.t - (task.start or 0)) / RUNNING_ELAPSED_SCALE, FEATURE_MAX)
        out[i, R + T + 1] = 1.0
    return out


def observation_space_of(lay: Layout) -> spaces.Dict:
    """The observation space of one agent (see the module docstring)."""
    inf = np.float32(FEATURE_MAX)
    return spaces.Dict(
        {
            "clusters": spaces.Box(0.0, inf, (lay.N, lay.cluster_dim), np.float32),
            "self": spaces.Box(0.0, 1.0, (lay.N,), np.float32),
            "pending": spaces.Box(0.0, 1.0, (lay.K, lay.pending_dim), np.float32),
            "running": spaces.Box(0.0, inf, (lay.M, lay.running_dim), np.float32),
            "alloc_mask": spaces.Box(0, 1, (lay.K, lay.G), np.int8),
            "action_mask": spaces.Tuple(
                (spaces.Box(0, 1, (lay.K + 1,), np.int8), spaces.Box(0, 1, (lay.G,), np.int8))
            ),
        }
    )
