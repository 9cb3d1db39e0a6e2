"""The placement world's simulator (SPEC-placement.md, sections Model and Timesteps).

One timestep, in order:

1. tasks arriving at t join the FIFO queue of every eligible cluster; free pending slots are
   filled from the queues in arrival order (lowest free slot first);
2. an elastic scheduler may re-allocate running tasks (:meth:`PlacementSim.apply_reallocation`);
3. decision rounds (:meth:`PlacementSim.apply_round`): each cluster may start one of its
   pending tasks with an allocation; clusters choosing the same task are resolved by the Bayes
   rule; a started task leaves every other pending set and queue. Multi-task mode repeats rounds
   until a round starts nothing; single-task mode runs exactly one;
4. every running task with at least its minimum progresses by ``max(0, speed + noise)``, times
   the switch factor when its allocation differs from the previous timestep's; tasks reaching
   p >= 1 complete (finish = t) and free their resources.

JCT counts both ends: ``finish - arrival + 1``. Stretches with nothing in the system are
skipped in one jump (nothing can happen in them), so work is proportional to what changes.

The simulator is a plain state machine: :meth:`PlacementSim.run` drives it with a
:class:`~edgesched.placement.schedulers.base.PlacementScheduler`; reinforcement-learning
environments call the same four steps themselves.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from edgesched.core.errors import SchedulerError
from edgesched.core.metrics import TimeSeries, mean_std, percentile
from edgesched.core.resources import Vector, copies
from edgesched.core.rng import RandomStreams
from edgesched.placement.progress import ProgressModel
from edgesched.placement.scenario import PlacementScenario
from edgesched.placement.workload import TaskSpec

DONE_EPS = 1e-9
#: relative tolerance under which two conflict scores are a tie (float32 resolution, ~6e-8,
#: with room for the rounding of a few operations)
TIE_RTOL = 1e-6


class Scheduler(Protocol):
    """What :meth:`PlacementSim.run` drives (the interface
    :class:`~edgesched.placement.schedulers.base.PlacementScheduler` implements)."""

    name: str
    elastic: bool

    def reset(self, sim: PlacementSim, rng: np.random.Generator) -> None: ...

    def reallocate(self, sim: PlacementSim) -> dict[int, Vector] | None: ...

    def decide(self, sim: PlacementSim) -> Sequence[Decision | None]: ...


class Decision(NamedTuple):
    """A cluster's choice in one round: start ``task`` with ``alloc``.

    ``prob`` is the probability with which the scheduler chose this task (1 for deterministic
    schedulers); the Bayes rule weighs competing clusters by it.
    """

    task: int
    alloc: Vector
    prob: float = 1.0


class Task:
    """A task in the world. Schedulers read these attributes and never write them."""

    __slots__ = (
        "alloc",
        "arrival",
        "cluster",
        "eligible",
        "finish",
        "gpu_service",
        "id",
        "min",
        "model",
        "name",
        "pending_at",
        "prev_alloc",
        "progress",
        "queued_at",
        "start",
        "type_index",
        "type_name",
    )

    def __init__(self, task_id: int, spec: TaskSpec, n_resources: int) -> None:
        self.id = task_id
        self.name = spec.name
        self.type_name = spec.type_name
        self.type_index = spec.type_index
        self.arrival = spec.arrival
        self.min: Vector = spec.min
        self.eligible = spec.eligible
        self.model: ProgressModel = spec.progress
        self.progress = 0.0
        self.alloc: Vector = (0,) * n_resources
        self.prev_alloc: Vector | None = None  # None: never ran a timestep
        self.cluster: int | None = None  # set when started, never changes after
        self.start: int | None = None
        self.finish: int | None = None
        self.gpu_service = 0.0  # attained GPU x timesteps (Tiresias)
        self.pending_at: list[int] = []
        self.queued_at: list[int] = []

    @property
    def running(self) -> bool:
        return self.cluster is not None and self.finish is None

    @property
    def paused(self) -> bool:
        return self.running and not any(self.alloc)

    def age(self, now: int) -> int:
        """Timesteps in the system so far, counting both ends."""
        return now - self.arrival + 1


class Cluster:
    """A cluster's state: capacity, free resources, pending slots, queue, running tasks."""

    __slots__ = ("capacity", "free", "index", "pending", "queue", "queue_len", "running")

    def __init__(self, index: int, capacity: Vector, slots: int) -> None:
        self.index = index
        self.capacity = capacity
        self.free: list[int] = list(capacity)
        self.pending: list[Task | None] = [None] * slots
        self.queue: deque[Task] = deque()
        self.queue_len = 0  # tasks in the queue not yet started anywhere
        self.running: list[Task] = []  # started here and not complete (paused included)

    def pending_tasks(self) -> list[Task]:
        return [t for t in self.pending if t is not None]


@dataclass
class RunResult:
    """What one (scenario, scheduler, seed) run produced; small and picklable."""

    scenario: str
    scheduler: str
    seed: int
    resources: list[str]
    # one row per task: name, type, cluster, arrival, start, finish, jct
    tasks: list[tuple[str, str, int, int, int, int, int]]
    makespan: int
    utilisation: list[list[float]]  # cluster x resource, mean over [0, makespan)
    lower_bound_mean_jct: float
    rounds: int
    conflicts: int
    series: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def jcts(self) -> list[int]:
        return [row[6] for row in self.tasks]

    def stats(self) -> dict[str, float]:
        j = self.jcts
        flat = [u for per in self.utilisation for u in per if not math.isnan(u)]
        return {
            "mean_jct": mean_std(j)[0],
            "median_jct": percentile(j, 50),
            "p95_jct": percentile(j, 95),
            "makespan": float(self.makespan),
            "utilisation": float(np.mean(flat)) if flat else float("nan"),
        }


class PlacementSim:
    """The placement world for one run. See the module docstring for a timestep's order.

    Args:
        scenario: the world's rules and clusters.
        specs: the run's tasks (from :func:`edgesched.placement.workload.generate` or a trace).
        seed: seeds the run's random streams (noise, conflicts, policy).
        record: keep per-timestep series (for plots); off for speed benchmarks and training.
    """

    def __init__(
        self,
        scenario: PlacementScenario,
        specs: Sequence[TaskSpec],
        seed: int,
        *,
        record: bool = True,
    ) -> None:
        self.scenario = scenario
        self.streams = RandomStreams(seed)
        self.seed = seed
        self.R = len(scenario.resources)
        self.K = scenario.pending_slots
        self.multi_task = scenario.mode == "multi-task"
        self.switch_factor = scenario.switch_factor
        self.noise = scenario.noise
        self.gpu = scenario.gpu_index()
        self.zero: Vector = (0,) * self.R
        order = sorted(range(len(specs)), key=lambda i: (specs[i].arrival, i))
        self.tasks = [Task(k, specs[i], self.R) for k, i in enumerate(order)]
        self.clusters = [Cluster(n, tuple(c), self.K) for n, c in enumerate(scenario.capacities())]
        self.t = self.tasks[0].arrival if self.tasks else 0
        self.arrived = 0  # tasks[:arrived] have arrived
        self.completed = 0
        self.rounds = 0
        self.conflicts = 0
        self.running_count = 0
        self._noise_rng = self.streams["noise"]
        self._conflict_rng = self.streams["conflict"]
        self.record = record
        self._alloc_sum = [[0.0] * self.R for _ in self.clusters]
        self._series = TimeSeries(["arrived", "in_system", "running", "allocated"])
        self.first_t = self.t

    # ------------------------------------------------------------------ views

    @property
    def done(self) -> bool:
        return self.completed == len(self.tasks)

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    def waiting_count(self) -> int:
        """Arrived tasks not started anywhere yet."""
        return self.arrived - self.completed - self.running_count

    def in_system(self, n: int) -> int:
        """Cluster n's count for TapFinger's reward: running + pending + queued at n."""
        cl = self.clusters[n]
        return len(cl.running) + sum(1 for t in cl.pending if t is not None) + cl.queue_len

    # ------------------------------------------------------------------ step 1

    def begin_timestep(self) -> None:
        """Arrivals of timestep t join their queues; pending slots are refilled."""
        tasks = self.tasks
        i = self.arrived
        t = self.t
        clusters = self.clusters
        while i < len(tasks) and tasks[i].arrival <= t:
            task = tasks[i]
            for n in task.eligible:
                cl = clusters[n]
                cl.queue.append(task)
                cl.queue_len += 1
                task.queued_at.append(n)
            i += 1
        self.arrived = i
        for cl in clusters:
            if cl.queue_len:
                self._refill(cl)

    def _refill(self, cl: Cluster) -> None:
        slots = cl.pending
        queue = cl.queue
        n = cl.index
        for s in range(self.K):
            if slots[s] is not None:
                continue
            while queue:
                task = queue.popleft()
                if task.cluster is None:
                    break
            else:
                return
            slots[s] = task
            task.queued_at.remove(n)
            task.pending_at.append(n)
            cl.queue_len -= 1

    # ------------------------------------------------------------------ step 2

    def apply_reallocation(self, changes: dict[int, Vector]) -> None:
        """Change the allocations of running tasks (elastic schedulers, start of a timestep).

        An allocation is either all zero (the task pauses; it keeps its cluster) or at least
        the task's minimum.

        Raises:
            SchedulerError: a task that is not running, an allocation below the minimum, or a
                cluster over capacity.
        """
        free = [list(cl.free) for cl in self.clusters]
        for tid, alloc in changes.items():
            task = self.tasks[tid]
            if task.cluster is None or task.finish is not None:
                raise SchedulerError(f"re-allocation of task {tid}, which is not running")
            if len(alloc) != self.R or (
                any(alloc) and any(a < m for a, m in zip(alloc, task.min, strict=True))
            ):
                raise SchedulerError(
                    f"re-allocation {alloc} of task {tid} is below its "
                    f"minimum {task.min} and not a pause"
                )
            f = free[task.cluster]
            for r in range(self.R):
                f[r] += task.alloc[r] - alloc[r]
        for n, f in enumerate(free):
            if min(f) < 0:
                raise SchedulerError(
                    f"re-allocation puts cluster {n} over capacity "
                    f"({self.clusters[n].capacity}, free would be {f})"
                )
        for tid, alloc in changes.items():
            self.tasks[tid].alloc = tuple(alloc)
        for cl, f in zip(self.clusters, free, strict=True):
            cl.free = f

    # ------------------------------------------------------------------ step 3

    def apply_round(self, decisions: Sequence[Decision | None]) -> int:
        """Carry out one decision round (one entry per cluster); return how many started.

        Raises:
            SchedulerError: a decision that is not feasible (task not pending at that cluster,
                allocation below the minimum or above the free resources).
        """
        self.rounds += 1
        claims: dict[int, list[tuple[int, Decision]]] = {}
        tasks = self.tasks
        clusters = self.clusters
        for n, d in enumerate(decisions):
            if d is None:
                continue
            task = tasks[d.task]
            if task.cluster is not None or n not in task.pending_at:
                raise SchedulerError(
                    f"cluster {n} chose task {d.task}, which is not in its pending set"
                )
            alloc = d.alloc
            free = clusters[n].free
            for r in range(self.R):
                a = alloc[r]
                if a < task.min[r] or a > free[r]:
                    raise SchedulerError(
                        f"cluster {n} allocated {alloc} to task {d.task}: needs at least "
                        f"{task.min} and at most the free {tuple(free)}"
                    )
            c = claims.get(d.task)
            if c is None:
                claims[d.task] = [(n, d)]
            else:
                c.append((n, d))
        started = 0
        for tid, competitors in claims.items():
            if len(competitors) > 1:
                self.conflicts += 1
                n, d = self.resolve_conflict(tasks[tid], competitors)
            else:
                n, d = competitors[0]
            self._start(tasks[tid], n, tuple(d.alloc))
            started += 1
        return started

    def resolve_conflict(
        self, task: Task, competitors: list[tuple[int, Decision]]
    ) -> tuple[int, Decision]:
        """The Bayes rule: prior_i = softmax_i(copies of the task cluster i can still hold),
        posterior_i ~ P_i(task) * prior_i; the highest wins, ties broken by the run's stream."""
        caps = [copies(self.clusters[n].free, task.min) for n, _ in competitors]
        top = max(caps)
        scores = [d.prob * math.exp(c - top) for c, (_, d) in zip(caps, competitors, strict=True)]
        best = max(scores)
        # a learned scheduler's probabilities are float32: scores within float32 precision of
        # the best are ties, so that two numerically equivalent networks (the fused and the
        # reference TapFinger paths, or one network on another platform) resolve alike
        tied = [i for i, s in enumerate(scores) if s >= best * (1 - TIE_RTOL)]
        pick = tied[0] if len(tied) == 1 else tied[int(self._conflict_rng.integers(len(tied)))]
        return competitors[pick]

    def _start(self, task: Task, n: int, alloc: Vector) -> None:
        cl = self.clusters[n]
        for m in task.pending_at:
            slots = self.clusters[m].pending
            slots[slots.index(task)] = None
        for m in task.queued_at:
            self.clusters[m].queue_len -= 1  # removed lazily from the deque
        task.pending_at = []
        task.queued_at = []
        task.cluster = n
        task.start = self.t
        task.alloc = alloc
        free = cl.free
        for r in range(self.R):
            free[r] -= alloc[r]
        cl.running.append(task)
        self.running_count += 1

    # ------------------------------------------------------------------ step 4

    def end_timestep(self) -> None:
        """Progress, completions, records; then advance the clock (skipping idle stretches)."""
        t = self.t
        sf = self.switch_factor
        eps = self.noise
        gpu = self.gpu
        active = [task for cl in self.clusters for task in cl.running if any(task.alloc)]
        noise = (
            self._noise_rng.uniform(-eps, eps, size=len(active)).tolist()
            if eps > 0 and active
            else None
        )
        alloc_sum = self._alloc_sum
        for cl in self.clusters:
            s = alloc_sum[cl.index]
            cap = cl.capacity
            free = cl.free
            for r in range(self.R):
                s[r] += cap[r] - free[r]
        if self.record:
            allocated = tuple(
                tuple(cl.capacity[r] - cl.free[r] for r in range(self.R)) for cl in self.clusters
            )
            running = self.running_count
        finished: list[Task] = []
        for i, task in enumerate(active):
            alloc = task.alloc
            model = task.model
            if model.depends_on_progress:
                dp = model.speed(alloc, task.progress)
            else:
                cached = model.cache.get(alloc)
                dp = model.cached_speed(alloc) if cached is None else cached
            if noise is not None:
                dp += noise[i]
                if dp < 0.0:
                    dp = 0.0
            prev = task.prev_alloc
            if prev is not None and prev != alloc:
                dp *= sf
            task.progress += dp
            task.gpu_service += alloc[gpu]
            task.prev_alloc = alloc
            if task.progress >= 1.0 - DONE_EPS:
                finished.append(task)
        for cl in self.clusters:
            for task in cl.running:
                if not any(task.alloc):
                    task.prev_alloc = task.alloc
        for task in finished:
            task.finish = t
            cl = self.clusters[task.cluster]  # type: ignore[index]
            free = cl.free
            for r in range(self.R):
                free[r] += task.alloc[r]
            cl.running.remove(task)
        self.completed += len(finished)
        self.running_count -= len(finished)
        if self.record:
            self._series.append(
                t, (self.arrived, self.arrived - self.completed, running, allocated)
            )
        self.t = t + 1
        if self.done:
            return
        if self.arrived - self.completed == 0 and self.arrived < len(self.tasks):
            nxt = self.tasks[self.arrived].arrival
            if nxt > self.t:
                self._skip_to(nxt)

    def _skip_to(self, t: int) -> None:
        if self.record:
            idle = (self.arrived, 0, 0, tuple(self.zero for _ in self.clusters))
            for time in range(self.t, t):
                self._series.append(time, idle)
        self.t = t

    # ------------------------------------------------------------------ driving

    def run(
        self,
        scheduler: Scheduler,
        on_timestep: Callable[[PlacementSim], None] | None = None,
        max_timesteps: int = 10_000_000,
    ) -> RunResult:
        """Run the whole episode under ``scheduler`` and return its result.

        ``on_timestep`` is called after every timestep (tests check invariants there).
        """
        scheduler.reset(self, self.streams["policy"])
        elastic = scheduler.elastic
        multi = self.multi_task
        while not self.done:
            if self.t - self.first_t > max_timesteps:
                raise SchedulerError(
                    f"{scheduler.name}: no progress after {max_timesteps} timesteps"
                )
            self.begin_timestep()
            if elastic:
                changes = scheduler.reallocate(self)
                if changes:
                    self.apply_reallocation(changes)
            while self.apply_round(scheduler.decide(self)) and multi:
                pass
            self.end_timestep()
            if on_timestep is not None:
                on_timestep(self)
        return self.result(scheduler.name)

    def result(self, scheduler_name: str) -> RunResult:
        rows = []
        for task in self.tasks:
            assert task.finish is not None and task.start is not None and task.cluster is not None
            rows.append(
                (
                    task.name,
                    task.type_name,
                    task.cluster,
                    task.arrival,
                    task.start,
                    task.finish,
                    task.finish - task.arrival + 1,
                )
            )
        makespan = self.t - self.first_t
        util = []
        for cl, sums in zip(self.clusters, self._alloc_sum, strict=True):
            util.append(
                [
                    s / (c * makespan) if c and makespan else float("nan")
                    for s, c in zip(sums, cl.capacity, strict=True)
                ]
            )
        return RunResult(
            scenario=self.scenario.name,
            scheduler=scheduler_name,
            seed=self.seed,
            resources=list(self.scenario.resources),
            tasks=rows,
            makespan=makespan,
            utilisation=util,
            lower_bound_mean_jct=lower_bound_mean_jct(self.scenario, self.tasks),
            rounds=self.rounds,
            conflicts=self.conflicts,
            series=self._series.as_dict() if self.record else {},
        )


def best_steps(
    task_min: Vector, model: ProgressModel, capacity: Vector, grid: Sequence[int] | None = None
) -> int:
    """Fewest timesteps a task needs alone on a cluster of ``capacity`` (no noise, no
    switching), over every allocation between its minimum and the capacity."""
    if any(m > c for m, c in zip(task_min, capacity, strict=True)):
        return math.inf  # type: ignore[return-value]
    return min(model.steps_to_finish(a) for a in model.candidate_allocs(task_min, capacity))


def lower_bound_mean_jct(scenario: PlacementScenario, tasks: Sequence[Task]) -> float:
    """Mean JCT if every task ran alone, from its arrival, at its fastest allocation on its
    best eligible cluster (SPEC-placement, Metrics); noise taken at its mean, zero."""
    caps = scenario.capacities()
    per_key: dict[tuple[int, Vector], list[int]] = {}
    total = 0
    for task in tasks:
        key = (id(task.model), task.min)
        steps = per_key.get(key)
        if steps is None:
            by_cap: dict[Vector, int] = {}
            steps = per_key[key] = [
                by_cap.setdefault(c, best_steps(task.min, task.model, c)) for c in caps
            ]
        lo = min(steps)
        if lo == max(steps):  # homogeneous clusters: any eligible one is best
            total += lo
        else:
            total += min(steps[n] for n in task.eligible)
    return total / len(tasks) if tasks else float("nan")
