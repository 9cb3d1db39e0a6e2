"""The Kubernetes operator against kmock's API server on loopback (issue 14's targets).

1. *Same schedule as the simulator*: the 100-task trace (tests/data/k8s-trace-100.csv) on
   deploy/kubernetes/scenario.yaml, submitted as EdgeTasks, run by the operator in simulated
   time with pods ending after exactly their simulated durations, for optimus-np, tiresias-np,
   min (seed 0) and tapfinger (the shipped synthetic-3 checkpoint); the per-task cluster,
   allocation, start and finish are diffed against the simulator's (``edgesched compare``'s
   cell function).
2. *Nothing lost or doubled*: the same run with min, the operator (kopf and all, in its own
   process) SIGKILLed three times and restarted; every task completes exactly once, no pod is
   created twice, no node ever holds more than its allocatable.
3. *Cost*: decision-round time (observe, reconcile, decide, commit) at 6 clusters with about
   100 pending EdgeTasks, p50 and p99 over 40 rounds, and API calls per placed task.

Prints one JSON object. Usage: ``python benchmarks/k8s_operator.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from edgesched.integrations.kubernetes.api import Api
from edgesched.integrations.kubernetes.kubelet import SimulatedKubelet
from edgesched.integrations.kubernetes.model import parse_nodes
from edgesched.integrations.kubernetes.operator import Operator, OperatorOptions
from edgesched.integrations.kubernetes.submit import submit, trace_submissions
from edgesched.integrations.kubernetes.testing import (
    ApiServer,
    api_schedule,
    pod_creations,
    reference_schedule,
    run_with_kills,
    schedule_diff,
)
from edgesched.placement.scenario import load_scenario
from edgesched.placement.workload import TraceTask, read_trace

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "deploy" / "kubernetes" / "scenario.yaml"
TRACE = ROOT / "tests" / "data" / "k8s-trace-100.csv"
CHECKPOINT = ROOT / "src" / "edgesched" / "rl" / "checkpoints" / "tapfinger" / "synthetic-3.pt"
SCHEDULERS = ["optimus-np", "tiresias-np", "min", "tapfinger"]


class Bench:
    """A server with the scenario's clusters as nodes, the trace submitted, a kubelet."""

    def __init__(self, tmp: Path, trace: list[TraceTask], seed: int = 0) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.scenario, _ = load_scenario(SCENARIO)
        self.server = ApiServer().__enter__()
        self.server.add_nodes(self.scenario.capacities())
        self.kubeconfig = self.server.kubeconfig(tmp / "kubeconfig")
        self.trace = trace
        items = trace_submissions(self.scenario, seed, trace, simulated=True)
        submit(self.api("edgesched-submit"), "default", items, wait=False, progress=False)
        self.kubelet = SimulatedKubelet(self.api("kubelet"), self.scenario)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.kubelet.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def api(self, agent: str) -> Api:
        return Api.connect(str(self.kubeconfig), agent=agent)

    def operator(self, scheduler: str, seed: int = 0) -> Operator:
        options = OperatorOptions(
            scheduler,
            CHECKPOINT if scheduler == "tapfinger" else None,
            str(SCENARIO),
            seed=seed,
            simulated=True,
            exit_when_done=True,
        )
        return Operator(self.api("edgesched-operator"), options, self.api("edgesched-clock"))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        self.server.__exit__(None, None, None)

    def peaks_within_allocatable(self) -> bool:
        nodes = {n.name: n.allocatable for n in parse_nodes(self.api("x").nodes(), ["cpu", "gpu"])}
        return all(
            all(p <= a for p, a in zip(peak, nodes[node], strict=True))
            for node, peak in self.kubelet.peak.items()
        )


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def same_schedule(tmp: Path, trace: list[TraceTask], scheduler: str) -> dict[str, object]:
    b = Bench(tmp, trace)
    try:
        begin = time.perf_counter()
        op = b.operator(scheduler)
        op.run(threading.Event())
        wall = time.perf_counter() - begin
        want = reference_schedule(SCENARIO, trace, scheduler, 0, CHECKPOINT)
        diff = schedule_diff(want, api_schedule(b.server))
        return {
            "tasks": len(want),
            "diff": len(diff),
            "diff_examples": diff[:3],
            "completed_once": sorted(b.kubelet.completed) == sorted(want),
            "overcommits": b.kubelet.overcommits,
            "peaks_within_allocatable": b.peaks_within_allocatable(),
            "rounds": len(op.round_times),
            "wall_s": round(wall, 2),
            "operator_api_calls_per_placed_task": round(op.api.counters.calls / op.placed, 2),
            "clock_polls": op.clock_api.counters.calls,
            "round_s_p50": round(percentile(op.round_times, 50), 4),
        }
    finally:
        b.close()


def with_kills(tmp: Path, trace: list[TraceTask], kill_at: list[int]) -> dict[str, object]:
    b = Bench(tmp, trace)
    try:
        begin = time.perf_counter()
        kills = run_with_kills(
            b.server, b.kubeconfig, "min", SCENARIO, kill_at, log=tmp / "operator.log"
        )
        wall = time.perf_counter() - begin
        want = reference_schedule(SCENARIO, trace, "min", 0, None)
        diff = schedule_diff(want, api_schedule(b.server))
        creations = pod_creations(b.server)
        placed = len(creations)
        calls = b.server.requests("edgesched-operator") + b.server.requests("kopf")
        return {
            "kills": kills,
            "kill_at_clock": kill_at,
            "tasks": len(want),
            "completed_exactly_once": sorted(b.kubelet.completed) == sorted(want),
            "pods_created_more_than_once": sum(1 for n in creations.values() if n != 1),
            "overcommits": b.kubelet.overcommits,
            "peaks_within_allocatable": b.peaks_within_allocatable(),
            "diff_to_simulator": len(diff),
            "wall_s": round(wall, 2),
            "api_calls_per_placed_task_with_kopf": round(calls / max(1, placed), 2),
            "clock_polls": b.server.requests("edgesched-clock"),
        }
    finally:
        b.close()


def cost(tmp: Path, scheduler: str, pending: int, rounds: int) -> dict[str, object]:
    """About ``pending`` EdgeTasks waiting every round: the clusters are filled by the first
    round and nothing ends during the measured rounds."""
    scenario, _ = load_scenario(SCENARIO)
    fill = sum(min(c // 2, g) for c, g in scenario.capacities())  # tasks of (2 CPU, 1 GPU)
    trace = [
        TraceTask(k + 2, 0.0, 10_000.0, (2, 1), ("insensitive", "sensitive")[k % 2], f"c-{k}")
        for k in range(pending + fill)
    ]
    b = Bench(tmp, trace)
    try:
        op = b.operator(scheduler)
        stop = threading.Event()
        waiting = []
        for t in range(rounds + 1):
            if op.journal.clock is not None:
                op._kubelet_caught_up(op.journal.clock, stop)
            op.round(t)
            waiting.append(len(trace) - op.placed)
        times = op.round_times[1:]  # the first round places the fill; the rest hold ~pending
        return {
            "scheduler": scheduler,
            "clusters": scenario.n_clusters,
            "pending_tasks": int(np.mean(waiting[1:])),
            "rounds": len(times),
            "round_s_p50": round(percentile(times, 50), 4),
            "round_s_p99": round(percentile(times, 99), 4),
            "round_api_calls": round(op.api.counters.calls / (rounds + 1), 2),
        }
    finally:
        b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 tasks, min and optimus-np only")
    args = parser.parse_args()
    scenario, _ = load_scenario(SCENARIO)
    trace = read_trace(TRACE, scenario)
    schedulers = SCHEDULERS
    if args.quick:
        trace, schedulers = trace[:30], ["optimus-np", "min"]
    out: dict[str, object] = {"load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        out["same_schedule"] = {s: same_schedule(base / f"same-{s}", trace, s) for s in schedulers}
        kill_at = [3, 7, 11] if args.quick else [8, 16, 24]
        out["restarts"] = with_kills(base / "kills", trace, kill_at)
        out["cost"] = [
            cost(base / f"cost-{s}", s, 100, 10 if args.quick else 40)
            for s in (["min"] if args.quick else ["min", "optimus-np", "tapfinger"])
        ]
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
