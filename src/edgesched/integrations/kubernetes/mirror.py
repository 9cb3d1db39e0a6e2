"""The API's state as the placement world's state, and one timestep's decision rounds on it.

Every decision round the operator rebuilds a :class:`~edgesched.placement.sim.PlacementSim`
from what the API says (nodes, pods, EdgeTasks) and from its journal (the pending slots, the
random streams), so that a scheduler reads exactly what it reads in simulation:

- edge clusters are the values of the node label ``edgesched.io/cluster``, in natural order
  (``cluster-2`` before ``cluster-10``); a cluster's capacity is its nodes' allocatable, its
  free resources the allocatable minus what the non-terminated pods on its nodes request
  (every pod, the operator's or not), rounded down to whole units;
- tasks are the EdgeTasks, ordered by (arrival timestep, name), as a trace's rows are by
  (arrival, line); running ones hold their pod's cluster and allocation, in start order;
- the pending slots are the journal's, the queues the arrived tasks in no slot of theirs.

The world's own steps then run: :meth:`PlacementSim.begin_timestep` (arrivals join queues,
slots are refilled) and :meth:`PlacementSim.apply_round` (feasibility, the Bayes rule for
conflicts), round after round as :meth:`PlacementSim.run` does. The world never progresses
tasks here: pods run in the cluster, and their end is read back from the API.

A cluster is a pool of resources in the world but a set of nodes here. A task is eligible at
a cluster only when one of its nodes can ever hold the task's minimum; a decision whose
allocation fits the pooled free resources but no single node is cut down to what the roomiest
node that holds the minimum has free (and is a skip when none does). With one node per
cluster, as in the tests of the simulator's schedule, neither ever happens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgesched.core.resources import Vector, fits
from edgesched.integrations.kubernetes.model import (
    EdgeTaskSpec,
    Node,
    natural_key,
    progress_model,
    type_index,
)
from edgesched.placement.progress import ProgressModel
from edgesched.placement.scenario import ClusterGroup, PlacementScenario
from edgesched.placement.schedulers.base import PlacementScheduler
from edgesched.placement.sim import Decision, PlacementSim
from edgesched.placement.workload import TaskSpec

#: Task states the mirror knows.
WAITING, STARTED, DONE = "waiting", "started", "done"


@dataclass
class TaskRecord:
    """An EdgeTask as the mirror needs it (read from the API by the operator)."""

    name: str
    spec: EdgeTaskSpec
    arrival: int
    state: str = WAITING
    cluster: str | None = None
    alloc: Vector | None = None
    start: int | None = None
    finish: int | None = None
    seq: int = 0  # start order (the world's running lists are in start order)


@dataclass(frozen=True)
class Start:
    """A task the decision rounds started: where, with what, and the start's sequence number."""

    task: str
    cluster: str
    node: str
    alloc: Vector
    seq: int

    def as_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "cluster": self.cluster,
            "node": self.node,
            "alloc": list(self.alloc),
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Start:
        return cls(d["task"], d["cluster"], d["node"], tuple(d["alloc"]), int(d["seq"]))


@dataclass
class Built:
    """A mirror world of one timestep, with the nodes behind its clusters."""

    sim: PlacementSim
    clusters: list[str]
    nodes: dict[str, list[Node]]  # cluster -> its nodes
    node_free: dict[str, list[float]]
    maxima: dict[str, Vector]  # task -> its optional maximum allocation
    skipped: list[str] = field(default_factory=list)  # tasks left out (no model, no cluster)
    unplaceable: int = 0  # decisions whose minimum no node has free
    cut: int = 0  # decisions cut down to fit one node

    def place(self, n: int, alloc: Vector, minimum: Vector) -> tuple[Node, Vector] | None:
        """A node of cluster n for a decided allocation, and the allocation it gets: the node
        that holds all of it with the least left over; else (the allocation fits the pooled
        cluster but no single node) the allocation cut down to what the roomiest node that
        holds the minimum has free; None when no node holds the minimum."""
        best, best_key = None, None
        for node in self.nodes[self.clusters[n]]:
            free = self.node_free[node.name]
            if not all(a <= f + 1e-9 for a, f in zip(alloc, free, strict=True)):
                continue
            rest = zip(free, alloc, node.allocatable, strict=True)
            key = sum((f - a) / max(1, c) for f, a, c in rest)
            if best_key is None or key < best_key:
                best, best_key = node, key
        if best is not None:
            return best, alloc
        cut: tuple[Node, Vector] | None = None
        for node in self.nodes[self.clusters[n]]:
            free = self.node_free[node.name]
            if not all(m <= f + 1e-9 for m, f in zip(minimum, free, strict=True)):
                continue
            got = tuple(
                max(m, min(a, math.floor(f + 1e-9)))
                for a, f, m in zip(alloc, free, minimum, strict=True)
            )
            if cut is None or sum(got) > sum(cut[1]):
                cut = (node, got)
        return cut

    def slots(self) -> dict[str, list[str | None]]:
        """The pending slots after the rounds, by cluster name (what the journal keeps)."""
        return {
            name: [t.name if t is not None else None for t in cl.pending]
            for name, cl in zip(self.clusters, self.sim.clusters, strict=True)
        }


class Mirror:
    """Builds the world of a timestep from API state, and runs its decision rounds.

    Progress models are kept per task name for the mirror's life, so a scheduler that caches
    per model (Optimus fits its speed model per ``id(model)``) sees the same object each round.
    """

    def __init__(self, scenario: PlacementScenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.R = len(scenario.resources)
        self._models: dict[str, ProgressModel | None] = {}

    def model(self, record: TaskRecord) -> ProgressModel | None:
        if record.name not in self._models:
            self._models[record.name] = progress_model(record.spec, self.scenario)
        return self._models[record.name]

    def forget(self, names: set[str]) -> None:
        """Drop the cached models of tasks that are gone from the API."""
        for name in [n for n in self._models if n not in names]:
            del self._models[name]

    def build(
        self,
        t: int,
        nodes: Sequence[Node],
        used: Mapping[str, Sequence[float]],
        tasks: Sequence[TaskRecord],
        slots: Mapping[str, Sequence[str | None]],
        conflict_state: Mapping[str, Any] | None = None,
    ) -> Built:
        """The world at the start of timestep ``t``, after its arrivals and refills."""
        R = self.R
        names = sorted({n.cluster for n in nodes}, key=natural_key)
        index = {c: i for i, c in enumerate(names)}
        members: dict[str, list[Node]] = {c: [] for c in names}
        caps = [[0] * R for _ in names]
        node_free: dict[str, list[float]] = {}
        for node in nodes:
            members[node.cluster].append(node)
            cap = caps[index[node.cluster]]
            for r in range(R):
                cap[r] += node.allocatable[r]
            u = used.get(node.name, [0.0] * R)
            node_free[node.name] = [node.allocatable[r] - u[r] for r in range(R)]
        groups = [ClusterGroup.model_construct(count=1, capacity=list(c)) for c in caps]
        scenario = self.scenario.model_copy(update={"clusters": groups})
        specs: list[TaskSpec] = []
        records: list[TaskRecord] = []
        skipped = []
        for rec in sorted(tasks, key=lambda r: (r.arrival, r.name)):
            model = self.model(rec)
            need = rec.spec.min.vector(scenario.resources)
            if rec.spec.eligibleClusters is None:
                named = names
            else:
                named = [c for c in rec.spec.eligibleClusters if c in index]
            # clusters with a node that can ever hold the minimum (one node: its capacity)
            eligible = tuple(
                sorted(
                    index[c]
                    for c in named
                    if any(fits(need, node.allocatable) for node in members[c])
                )
            )
            if model is None or (not eligible and rec.state == WAITING):
                skipped.append(rec.name)
                continue
            specs.append(
                TaskSpec(
                    rec.name,
                    rec.spec.taskType,
                    type_index(rec.spec, scenario),
                    rec.arrival,
                    need,
                    eligible,
                    model,
                )
            )
            records.append(rec)
        sim = PlacementSim(scenario, specs, self.seed, record=False)
        sim.t = t
        pairs = list(zip(sim.tasks, records, strict=True))
        for task, rec in sorted(
            (p for p in pairs if p[1].state != WAITING), key=lambda p: p[1].seq
        ):
            n = index.get(rec.cluster or "")
            task.alloc = tuple(rec.alloc or (0,) * R)
            task.prev_alloc = task.alloc
            task.start = rec.start if rec.start is not None else t
            # a task whose cluster is gone keeps an index but no place in any running list
            task.cluster = n if n is not None else 0
            if rec.state == DONE:
                task.finish = rec.finish if rec.finish is not None else t - 1
                sim.completed += 1
            else:
                sim.running_count += 1
                if n is not None:
                    sim.clusters[n].running.append(task)
        for i, cl in enumerate(sim.clusters):
            pooled = [sum(node_free[node.name][r] for node in members[names[i]]) for r in range(R)]
            cl.free = [max(0, math.floor(v + 1e-9)) for v in pooled]
        arrived = 0
        while arrived < len(sim.tasks) and sim.tasks[arrived].arrival < t:
            arrived += 1
        sim.arrived = arrived
        by_name = {task.name: task for task in sim.tasks}
        K = sim.K
        for cname, row in slots.items():
            n = index.get(cname)
            if n is None:
                continue
            cl = sim.clusters[n]
            for s, tname in enumerate(list(row)[:K]):
                found = by_name.get(tname) if tname else None
                if (
                    found is not None
                    and found.cluster is None
                    and found.arrival < t
                    and n in found.eligible
                    and not found.pending_at.count(n)
                ):
                    cl.pending[s] = found
                    found.pending_at.append(n)
        for task in sim.tasks[:arrived]:
            if task.cluster is not None:
                continue
            for n in task.eligible:
                if n not in task.pending_at:
                    cl = sim.clusters[n]
                    cl.queue.append(task)
                    cl.queue_len += 1
                    task.queued_at.append(n)
        if conflict_state is not None:
            sim.streams["conflict"].bit_generator.state = dict(conflict_state)
        sim.begin_timestep()
        maxima = {
            rec.name: rec.spec.max.vector(scenario.resources)
            for rec in records
            if rec.spec.max is not None
        }
        return Built(sim, names, members, node_free, maxima, skipped)

    def decide(self, built: Built, scheduler: PlacementScheduler, seq: int) -> list[Start]:
        """Run the timestep's decision rounds (until one starts nothing, or one round in
        single-task mode) and return what started, in the world's start order.

        ``seq`` is the sequence number of the first start.
        """
        sim = built.sim
        starts: list[Start] = []
        while True:
            decisions: list[Decision | None] = []
            nodes: dict[int, Node] = {}
            for n, d in enumerate(scheduler.decide(sim)):
                if d is None:
                    decisions.append(None)
                    continue
                alloc = _clip(built, sim, d)
                placed = built.place(n, alloc, sim.tasks[d.task].min)
                if placed is None:
                    built.unplaceable += 1
                    decisions.append(None)
                    continue
                if placed[1] != alloc:
                    built.cut += 1
                nodes[n] = placed[0]
                decisions.append(Decision(d.task, placed[1], d.prob))
            started = sim.apply_round(decisions)
            seen: set[int] = set()
            for d in decisions:  # the world starts claimed tasks in order of first claim
                if d is None or d.task in seen:
                    continue
                seen.add(d.task)
                task = sim.tasks[d.task]
                assert task.cluster is not None
                node = nodes[task.cluster]  # the winning cluster's decision chose it
                free = built.node_free[node.name]
                for r in range(self.R):
                    free[r] -= task.alloc[r]
                starts.append(
                    Start(task.name, built.clusters[task.cluster], node.name, task.alloc, seq)
                )
                seq += 1
            if not started or not sim.multi_task:
                return starts


def _clip(built: Built, sim: PlacementSim, d: Decision) -> Vector:
    """The decided allocation, capped at the task's ``max`` when it has one (never below its
    minimum)."""
    task = sim.tasks[d.task]
    cap = built.maxima.get(task.name)
    if cap is None:
        return tuple(d.alloc)
    return tuple(max(m, min(a, c)) for a, c, m in zip(d.alloc, cap, task.min, strict=True))
