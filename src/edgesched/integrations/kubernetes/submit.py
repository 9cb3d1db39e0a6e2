"""``edgesched k8s submit``: a placement trace as EdgeTasks, and ``edgesched k8s report``: the
statuses as a JCT table in the format of ``edgesched compare``."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from edgesched.core.errors import ConfigError
from edgesched.experiments.backend import Prepared
from edgesched.experiments.worlds.placement import PlacementInputs, format_table, summarise
from edgesched.integrations.kubernetes.api import Api
from edgesched.integrations.kubernetes.journal import Journal
from edgesched.integrations.kubernetes.model import (
    API_VERSION,
    FINAL_PHASES,
    GROUP,
    JOURNAL_NAME,
    KIND,
    SUCCEEDED,
    natural_key,
    parse_nodes,
    parse_spec,
    progress_model,
    type_index,
)
from edgesched.placement.scenario import ClusterGroup, PlacementScenario
from edgesched.placement.sim import RunResult, Task, lower_bound_mean_jct
from edgesched.placement.workload import TaskSpec, TraceTask, workload

TRACE_NAME = f"{GROUP}/trace-name"


@dataclass(frozen=True)
class Submission:
    """One EdgeTask to create, ``offset_s`` seconds after the first."""

    offset_s: float
    body: dict[str, Any]


def cluster_names(scenario: PlacementScenario, names: Sequence[str] | None) -> list[str]:
    """The name of each of the scenario's clusters (default ``cluster-0`` .. ``cluster-N-1``)."""
    n = scenario.n_clusters
    if names is None:
        return [f"cluster-{i}" for i in range(n)]
    if len(names) != n:
        raise ConfigError(
            f"--clusters: {len(names)} names for the {n} clusters of {scenario.name}."
        )
    return list(names)


def trace_submissions(
    scenario: PlacementScenario,
    seed: int,
    trace: list[TraceTask],
    *,
    image: str = "busybox:1.36",
    simulated: bool = False,
    prefix: str = "task",
    clusters: Sequence[str] | None = None,
    namespace: str = "default",
) -> list[Submission]:
    """The EdgeTasks of a trace, as ``edgesched compare --trace`` reads it with seed ``seed``:
    the same arrival timesteps, minimums, durations and eligible clusters (drawn from the
    seed), named ``{prefix}-{k:05d}`` in the world's task order. Without an image's command,
    a task's container sleeps for its duration."""
    names = cluster_names(scenario, clusters)
    specs = workload(scenario, seed, trace)
    order = sorted(range(len(trace)), key=lambda i: (trace[i].arrival_s, i))
    first = min(row.arrival_s for row in trace)
    out = []
    for k, (spec, j) in enumerate(zip(specs, order, strict=True)):
        row = trace[j]
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": f"{prefix}-{k:05d}",
                "namespace": namespace,
                "annotations": {TRACE_NAME: spec.name},
            },
            "spec": {
                "image": image,
                "command": ["sleep", f"{row.duration_s:g}"],
                "taskType": row.type_name,
                "min": dict(zip(scenario.resources, row.min, strict=True)),
                "durationSeconds": row.duration_s,
                "eligibleClusters": [names[i] for i in spec.eligible],
            },
        }
        if simulated:
            body["spec"]["arrivalTimestep"] = spec.arrival
        out.append(Submission(row.arrival_s - first, body))
    return out


def submit(
    api: Api, namespace: str, items: Sequence[Submission], *, wait: bool, progress: bool = True
) -> int:
    """Create the EdgeTasks (idempotently: a repeated submit creates nothing twice); with
    ``wait``, each at its offset from now (the trace's arrival times)."""
    begin = time.monotonic()
    for item in tqdm(items, desc="submit", unit="task", disable=not progress):
        if wait:
            delay = begin + item.offset_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        api.create_edgetask(namespace, item.body)
    return len(items)


# ----------------------------------------------------------------------------- report


def collect(
    api: Api, namespace: str, scenario: PlacementScenario
) -> tuple[RunResult, PlacementScenario]:
    """The ended EdgeTasks of a namespace as a run's result (JCT in timesteps), with the
    scenario's clusters replaced by the nodes'."""
    nodes = parse_nodes(api.nodes(), scenario.resources)
    names = sorted({n.cluster for n in nodes}, key=natural_key)
    caps = [[0] * len(scenario.resources) for _ in names]
    for node in nodes:
        c = caps[names.index(node.cluster)]
        for r, a in enumerate(node.allocatable):
            c[r] += a
    if names:
        groups = [ClusterGroup.model_construct(count=1, capacity=c) for c in caps]
        scenario = scenario.model_copy(update={"clusters": groups})
    journal_data = api.read_config(namespace, JOURNAL_NAME) or {}
    journal = (
        Journal.loads(journal_data["journal"], JOURNAL_NAME)
        if journal_data.get("journal")
        else None
    )
    rows = []
    tasks: list[Task] = []
    busy = [[0.0] * len(scenario.resources) for _ in names]
    for obj in sorted(api.edgetasks(namespace), key=lambda o: o["metadata"]["name"]):
        status = obj.get("status") or {}
        if status.get("phase") not in FINAL_PHASES or status.get("finish") is None:
            continue
        if status.get("phase") != SUCCEEDED:
            continue
        spec = parse_spec(obj)
        name = (obj["metadata"].get("annotations") or {}).get(TRACE_NAME, obj["metadata"]["name"])
        cluster = names.index(status["cluster"]) if status.get("cluster") in names else -1
        arrival, start, finish = int(status["arrival"]), int(status["start"]), int(status["finish"])
        rows.append((name, spec.taskType, cluster, arrival, start, finish, finish - arrival + 1))
        alloc = status.get("allocation") or {}
        if cluster >= 0:
            for r, res in enumerate(scenario.resources):
                busy[cluster][r] += alloc.get(res, 0) * (finish - start + 1)
        model = progress_model(spec, scenario)
        eligible = tuple(
            names.index(c) for c in (spec.eligibleClusters or names) if c in names
        ) or tuple(range(len(names)))
        if model is not None:
            need = spec.min.vector(scenario.resources)
            ts = TaskSpec(
                name, spec.taskType, type_index(spec, scenario), arrival, need, eligible, model
            )
            tasks.append(Task(len(tasks), ts, len(scenario.resources)))
    if not rows:
        raise ConfigError(f"namespace {namespace}: no EdgeTask has succeeded yet.")
    first = min(r[3] for r in rows)
    makespan = max(r[5] for r in rows) + 1 - first
    util = [
        [b / (c * makespan) if c and makespan else math.nan for b, c in zip(bs, cs, strict=True)]
        for bs, cs in zip(busy, caps, strict=True)
    ]
    result = RunResult(
        scenario=scenario.name,
        scheduler=journal.scheduler if journal else "operator",
        seed=journal.seed if journal else 0,
        resources=list(scenario.resources),
        tasks=rows,
        makespan=makespan,
        utilisation=util,
        lower_bound_mean_jct=lower_bound_mean_jct(scenario, tasks),
        rounds=journal.rounds if journal else 0,
        conflicts=journal.conflicts if journal else 0,
    )
    return result, scenario


def report(api: Api, namespace: str, scenario: PlacementScenario, source: Path) -> str:
    """The JCT table of ``edgesched compare`` for the namespace's succeeded EdgeTasks."""
    result, sc = collect(api, namespace, scenario)
    prepared = Prepared(
        world=sc, name=sc.name, extra={"inputs": PlacementInputs(source, None, None)}
    )
    return format_table(summarise(prepared, [result]))
