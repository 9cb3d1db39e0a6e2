"""The baselines of the TapFinger authors' public evaluation, as their code behaves.

The TapFinger paper compares against Optimus and Tiresias as implemented in the authors'
repository (nooblyh/TapFinger: ``utils/benchmark.py`` functions ``optimus``, ``tiresias``,
``random_select_random_allocate``, ``random_select_min_allocate``; the speed-model fit in
``multi_agent_inference.py``; the round loop in ``custom_gym/myenv/env_test_multi_agent.py``
``step``). Those differ from the schedulers the Optimus and Tiresias papers describe (our
``optimus`` and ``tiresias``); ``docs/placement.md`` lists each difference and where it comes
from. This module is our own code, written from a reading of that behaviour.

In the authors' environment every decision round re-plans every running task and offers
each cluster at most one new task, and a timestep ends with the first round in which nothing
starts. Their Optimus and Tiresias are deterministic, so the rounds of a timestep can be
played out at its start: :class:`AuthorsPlanner` does that in :meth:`reallocate`, moves the
running tasks to the allocations of the timestep's last round and starts the admitted tasks
one per round, with those allocations.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from edgesched.core.errors import ConfigError
from edgesched.core.resources import Vector
from edgesched.placement.schedulers.base import PlacementScheduler
from edgesched.placement.sim import Decision

if TYPE_CHECKING:
    from edgesched.placement.progress import ProgressModel
    from edgesched.placement.scenario import PlacementScenario
    from edgesched.placement.sim import PlacementSim, Task

#: The authors replace a zero allocation by this when fitting the speed model.
FIT_ZERO = 0.001


def speed_form(x: tuple[Any, Any], a: float, b: float, c: float, d: float, e: float) -> Any:
    """Optimus's speed model ``1 / (a/g + b + c g/p + d g + e p)``, p CPUs, g GPUs."""
    p, g = x
    return 1.0 / (a / g + b + c * g / p + d * g + e * p)


def fit_speed_curve(
    model: ProgressModel, minimum: Vector, ci: int, gi: int, grid: Vector
) -> tuple[float, ...]:
    """The authors' fit: unconstrained least squares on speed (not 1/speed) over every grid
    point, including those below the minimum (speed 0) and zero allocations (as 0.001).

    As in their code, the speeds are listed CPU-major (point ``i`` is ``c = i // Dg``,
    ``g = i % Dg`` for ``Dc x Dg`` grid points) while the feature arrays are built
    GPU-major (``p = i % Dc``, ``w = i // Dc``): on a square grid each speed is fitted at the
    transposed allocation, so the model learns CPUs where the world has GPUs.
    """
    dc, dg = grid[ci] + 1, grid[gi] + 1
    ps, gs, ys = [], [], []
    for i in range(dc * dg):
        c, g = divmod(i, dg)
        alloc = list(minimum)
        alloc[ci], alloc[gi] = c, g
        fits = all(a >= m for a, m in zip(alloc, minimum, strict=True))
        ys.append(model.speed(tuple(alloc), 0.0) if fits else 0.0)
        p, w = i % dc, i // dc
        ps.append(p if p else FIT_ZERO)
        gs.append(w if w else FIT_ZERO)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            k, _ = curve_fit(
                speed_form,
                (np.array(ps), np.array(gs)),
                np.array(ys),
                p0=np.ones(5),
                maxfev=20_000,
            )
        except RuntimeError:  # no convergence: the starting point, as curve_fit left it
            k = np.ones(5)
    return tuple(float(v) for v in k)


def admission_cap(scenario: PlacementScenario, capacity: Vector) -> int:
    """How many tasks a cluster runs at most: ``min_r(capacity_r // min_r)`` of the first task
    type's minimum (``utils/benchmark.py``, ``shortage``; the authors take ``JobType.IMG``)."""
    types = scenario.workload.types
    need = types[0].min if types else [1] * len(capacity)
    return min(c // m for c, m in zip(capacity, need, strict=True) if m > 0)


class AuthorsPlanner(PlacementScheduler):
    """Plays out a timestep's rounds as the authors' environment runs them (see the module
    docstring); subclasses give the allocation of one cluster's tasks in one round."""

    elastic = True

    def check(self, scenario: PlacementScenario) -> None:
        if sorted(scenario.resources) != ["cpu", "gpu"]:
            raise ConfigError(
                f"{self.name} (the TapFinger authors' code) handles exactly the resources cpu "
                f"and gpu; scenario {scenario.name!r} has {scenario.resources}."
            )

    def reset(self, sim: PlacementSim, rng: np.random.Generator) -> None:
        super().reset(sim, rng)
        self.check(sim.scenario)
        self.ci = sim.scenario.resource_index("cpu")
        self.gi = sim.scenario.resource_index("gpu")
        self.grid = tuple(sim.scenario.allocation_grid)
        self.caps = [admission_cap(sim.scenario, cl.capacity) for cl in sim.clusters]
        self._starts: list[deque[tuple[int, Vector]]] = [deque() for _ in sim.clusters]

    def allocate(
        self, sim: PlacementSim, n: int, tasks: list[Task], new: Task | None
    ) -> list[list[int]]:
        """Allocations of ``tasks`` (running ones, in start order, then ``new`` last when
        given) on cluster n, from its whole capacity."""
        raise NotImplementedError

    def starts_if(self, alloc: list[int], task: Task) -> bool:
        """Whether a new task given ``alloc`` starts."""
        return all(a >= m for a, m in zip(alloc, task.min, strict=True))

    def reallocate(self, sim: PlacementSim) -> dict[int, Vector] | None:
        clusters = sim.clusters
        admitted: list[list[Task]] = [list(cl.running) for cl in clusters]
        last: list[list[list[int]]] = [[] for _ in clusters]  # the last round's allocations
        taken: set[int] = set()
        while True:
            started = False
            claimed: set[int] = set()  # the round's `duplicate` list
            for n, cl in enumerate(clusters):
                new = None
                if len(admitted[n]) < self.caps[n]:
                    new = next(
                        (
                            t
                            for t in cl.pending
                            if t is not None and t.id not in taken and t.id not in claimed
                        ),
                        None,
                    )
                if new is not None:
                    claimed.add(new.id)
                if not admitted[n] and new is None:
                    last[n] = []
                    continue
                allocs = self.allocate(sim, n, admitted[n], new)
                last[n] = allocs[: len(admitted[n])]
                if new is not None and self.starts_if(allocs[-1], new):
                    admitted[n].append(new)
                    last[n].append(allocs[-1])
                    taken.add(new.id)
                    started = True
            if not started or not sim.multi_task:
                break
        changes: dict[int, Vector] = {}
        for n, cl in enumerate(clusters):
            n_run = len(cl.running)
            tasks, allocs = admitted[n], last[n]
            for task, a in zip(tasks[:n_run], allocs[:n_run], strict=True):
                alloc = tuple(a) if self.starts_if(a, task) else sim.zero
                if alloc != task.alloc:
                    changes[task.id] = alloc
            self._starts[n] = deque(
                (t.id, tuple(a))
                for t, a in zip(tasks[n_run:], allocs[n_run:], strict=True)
                if self.starts_if(a, t)
            )
        return changes

    def decide(self, sim: PlacementSim) -> Sequence[Decision | None]:
        out: list[Decision | None] = []
        for n in range(sim.n_clusters):
            q = self._starts[n]
            out.append(Decision(*q.popleft()) if q else None)
        return out


class OptimusTapFinger(AuthorsPlanner):
    """The Optimus of the TapFinger authors' evaluation (``utils/benchmark.py`` ``optimus``)."""

    name = "optimus-tapfinger"

    def reset(self, sim: PlacementSim, rng: np.random.Generator) -> None:
        super().reset(sim, rng)
        self._coef: dict[int, tuple[float, ...]] = {}

    def coefficients(self, task: Task) -> tuple[float, ...]:
        key = id(task.model)
        k = self._coef.get(key)
        if k is None:
            k = self._coef[key] = fit_speed_curve(task.model, task.min, self.ci, self.gi, self.grid)
        return k

    def remaining(self, k: tuple[float, ...], p: float, c: int, g: int) -> float:
        """Estimated timesteps left, ``(1 - p) / f(c, g)`` (division by zero gives inf)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            s = float(speed_form((np.float64(c), np.float64(g)), *k))
        return (1.0 - p) / s if s != 0 else math.inf

    def allocate(
        self, sim: PlacementSim, n: int, tasks: list[Task], new: Task | None
    ) -> list[list[int]]:
        free = list(sim.clusters[n].capacity)
        for t in tasks + ([new] if new is not None else []):
            for r in range(len(free)):
                free[r] -= t.min[r]
        if min(free) < 0 and new is not None:
            # the authors' admission cap keeps minimums within capacity for their task
            # types; for others a new task whose minimum does not fit is not started
            return [*self.allocate(sim, n, tasks, None), [0] * len(free)]
        entries = tasks + ([new] if new is not None else [])
        allocs = [list(t.min) for t in entries]
        res = (self.ci, self.gi)
        coefs = [self.coefficients(t) for t in entries]
        while entries:
            best, best_i, best_r = 0.0, -1, -1
            for i, t in enumerate(entries):
                a = allocs[i]
                base = self.remaining(coefs[i], t.progress, a[self.ci], a[self.gi])
                for r in res:
                    if free[r] <= 0 or a[r] + 1 > self.grid[r]:
                        continue  # q = 0 in the authors' code
                    b = list(a)
                    b[r] += 1
                    now = self.remaining(coefs[i], t.progress, b[self.ci], b[self.gi])
                    with np.errstate(divide="ignore", invalid="ignore"):
                        q = float(np.float64(base - now) / np.float64(a[r]))
                    if q > best:  # strict: the first maximum, task order then cpu, gpu
                        best, best_i, best_r = q, i, r
            if best_i < 0:
                break
            allocs[best_i][best_r] += 1
            free[best_r] -= 1
        return allocs


class TiresiasTapFinger(AuthorsPlanner):
    """The Tiresias of the TapFinger authors' evaluation (``utils/benchmark.py``
    ``tiresias``, elastic as they ran it)."""

    name = "tiresias-tapfinger"

    def allocate(
        self, sim: PlacementSim, n: int, tasks: list[Task], new: Task | None
    ) -> list[list[int]]:
        entries = tasks + ([new] if new is not None else [])
        ci, gi = self.ci, self.gi
        free = list(sim.clusters[n].capacity)
        allocs = [[0] * len(free) for _ in entries]
        granted = [0] * len(entries)
        started = [t.start if t.start is not None else sim.t for t in entries]
        while free[gi] > 0 and entries:
            las = [
                math.inf if allocs[i][gi] + 1 > self.grid[gi] else granted[i] + t.gpu_service
                for i, t in enumerate(entries)
            ]
            if all(v == math.inf for v in las):
                break
            ranked = sorted(range(len(entries)), key=lambda i: las[i])  # stable
            mid = len(ranked) // 2
            pick = None
            for level in (ranked[:mid], ranked[mid:]):
                for i in sorted(level, key=lambda i: started[i]):  # stable: FIFO by start
                    if las[i] != math.inf:
                        pick = i
                        break
                if pick is not None:
                    break
            assert pick is not None
            allocs[pick][gi] += 1
            free[gi] -= 1
            granted[pick] += 1
        holders = [i for i in range(len(entries)) if granted[i]]
        if holders:
            share = min(free[ci] // len(holders), self.grid[ci])
            for i in holders:
                allocs[i][ci] += share
                free[ci] -= share
            while free[ci] > 0:
                before = free[ci]
                for i in holders:
                    if allocs[i][ci] + 1 <= self.grid[ci]:
                        allocs[i][ci] += 1
                        free[ci] -= 1
                    if free[ci] == 0:
                        break
                if before == free[ci]:
                    break
        return allocs


class RandomTapFinger(PlacementScheduler):
    """The authors' Random (``utils/benchmark.py`` ``random_select_random_allocate``): as
    ``random``, but clusters draw in index order and one that draws a task an earlier cluster
    drew this round does nothing (even when that cluster then drew the skip point), instead
    of the world's Bayes rule deciding."""

    name = "random-tapfinger"
    at_minimum = False

    def decide(self, sim: PlacementSim) -> Sequence[Decision | None]:
        grid = sim.scenario.allocation_grid
        rng = self.rng
        claimed: set[int] = set()
        out: list[Decision | None] = []
        for cl in sim.clusters:
            pending = [t for t in cl.pending if t is not None]
            if not pending:
                out.append(None)
                continue
            # as `random` and `min` draw (min draws only among several tasks)
            one = self.at_minimum and len(pending) == 1
            task = pending[0] if one else pending[int(rng.integers(len(pending)))]
            if task.id in claimed:
                out.append(None)
                continue
            claimed.add(task.id)
            hi = [min(cl.free[r], grid[r]) for r in range(len(task.min))]
            if self.at_minimum:
                fits = all(m <= h for m, h in zip(task.min, hi, strict=True))
                out.append(Decision(task.id, task.min) if fits else None)
                continue
            spans = [h - m + 1 for h, m in zip(hi, task.min, strict=True)]
            if min(spans) <= 0:
                out.append(None)
                continue
            total = math.prod(spans)
            k = int(rng.integers(total + 1))
            if k == total:  # the skip point (0, ..., 0)
                out.append(None)
                continue
            alloc = []
            for r, s in enumerate(spans):
                alloc.append(task.min[r] + k % s)
                k //= s
            out.append(Decision(task.id, tuple(alloc)))
        return out


class MinTapFinger(RandomTapFinger):
    """The authors' Min (``utils/benchmark.py`` ``random_select_min_allocate``): ``min`` with
    the authors' conflict rule (see :class:`RandomTapFinger`)."""

    name = "min-tapfinger"
    at_minimum = True
