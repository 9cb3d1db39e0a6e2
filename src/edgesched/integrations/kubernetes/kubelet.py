"""Simulated time's stand-in for the kubelets (tests and benchmarks; no container runs).

At each tick of the operator's logical clock (the journal's ``clock``: every timestep before
it has been decided and carried out) the simulated kubelet looks at the namespace's pods
bound to nodes. A pod first seen at tick ``c`` started in timestep ``c - 1``; with allocation
``a`` it runs ``steps = model.steps_to_finish(a)`` timesteps (its EdgeTask's progress model,
noise-free, as the simulator without noise runs it) and ends in timestep
``start + steps - 1``, so it is ``Running`` until the tick after that and then ``Succeeded``.
It then acknowledges the tick in the ConfigMap ``edgesched-kubelet``; the operator decides the
next timestep only after that, so it sees exactly the simulator's completions.

Like a real kubelet it admits a pod only if the node's allocatable still holds its requests;
a pod that does not fit is failed (``OutOfcpu`` / ``OutOfnvidia.com/gpu``) and counted in
:attr:`SimulatedKubelet.overcommits`, which a correct operator keeps at zero.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from edgesched.integrations.kubernetes.api import Api
from edgesched.integrations.kubernetes.journal import Journal
from edgesched.integrations.kubernetes.model import (
    JOURNAL_NAME,
    KUBELET_NAME,
    RESOURCE_NAMES,
    TASK_LABEL,
    format_time,
    parse_nodes,
    parse_spec,
    pod_requests,
    pod_terminated,
    progress_model,
    whole,
)
from edgesched.placement.scenario import PlacementScenario


class SimulatedKubelet:
    """Runs the namespace's pods on simulated time (see the module docstring)."""

    def __init__(self, api: Api, scenario: PlacementScenario, namespace: str = "default") -> None:
        self.api = api
        self.scenario = scenario
        self.ns = namespace
        self.resources = list(scenario.resources)
        self.acked = -1
        self.first_seen: dict[str, int] = {}  # pod name -> tick first seen
        self.finish: dict[str, int] = {}  # pod name -> timestep it ends in
        self.overcommits = 0
        self.peak: dict[str, list[float]] = {}  # node -> the most it ever held, per resource
        self.completed: list[str] = []  # pods ended, in order (a pod twice would be a bug)

    def tick(self) -> bool:
        """Carry out the operator's clock if it moved; True when it did."""
        data = self.api.read_config(self.ns, JOURNAL_NAME) or {}
        if not data.get("journal"):
            return False
        clock = Journal.loads(data["journal"], JOURNAL_NAME).clock
        if clock is None or clock <= self.acked:
            return False
        self.advance(clock)
        self.api.write_config(self.ns, KUBELET_NAME, {"clock": str(clock)})
        self.acked = clock
        return True

    def advance(self, clock: int) -> None:
        """Admit new pods and end those whose last timestep is before ``clock``."""
        nodes = {n.name: n for n in parse_nodes(self.api.nodes(), self.resources)}
        specs = {t["metadata"]["name"]: t for t in self.api.edgetasks(self.ns) if t.get("spec")}
        pods = [
            p
            for p in self.api.pods(self.ns)
            if (p.get("spec") or {}).get("nodeName") in nodes
            and (p.get("metadata", {}).get("labels") or {}).get(TASK_LABEL)
        ]
        held: dict[str, list[float]] = {}
        for pod in pods:  # what is already admitted and running
            name = pod["metadata"]["name"]
            if name in self.first_seen and not pod_terminated(pod):
                node = pod["spec"]["nodeName"]
                h = held.setdefault(node, [0.0] * len(self.resources))
                for r, v in enumerate(pod_requests(pod, self.resources)):
                    h[r] += v
        now = format_time(time.time())
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            name = pod["metadata"]["name"]
            if pod_terminated(pod):
                continue
            node = pod["spec"]["nodeName"]
            if name not in self.first_seen:
                need = pod_requests(pod, self.resources)
                h = held.setdefault(node, [0.0] * len(self.resources))
                alloc = nodes[node].allocatable
                over = [r for r in range(len(need)) if h[r] + need[r] > alloc[r] + 1e-9]
                if over:
                    self.overcommits += 1
                    what = RESOURCE_NAMES[self.resources[over[0]]]
                    self._set(pod, "Failed", now, reason=f"Outof{what}")
                    continue
                for r in range(len(need)):
                    h[r] += need[r]
                pk = self.peak.setdefault(node, [0.0] * len(need))
                for r in range(len(need)):
                    pk[r] = max(pk[r], h[r])
                self.first_seen[name] = clock
                task = specs.get(pod["metadata"]["labels"][TASK_LABEL])
                model = progress_model(parse_spec(task), self.scenario) if task else None
                steps = (
                    model.steps_to_finish(whole(need)) if model is not None else 1
                )  # a pod without its EdgeTask ends at once
                self.finish[name] = clock - 1 + steps - 1
            if self.finish[name] <= clock - 1:
                self._set(pod, "Succeeded", now)
                self.completed.append(name)
            elif (pod.get("status") or {}).get("phase") != "Running":
                self._set(pod, "Running", now)

    def _set(self, pod: dict[str, Any], phase: str, now: str, reason: str | None = None) -> None:
        state: dict[str, Any]
        if phase == "Running":
            state = {"running": {"startedAt": now}}
        else:
            code = 0 if phase == "Succeeded" else 1
            state = {"terminated": {"exitCode": code, "finishedAt": now, "reason": reason}}
        status: dict[str, Any] = {
            "phase": phase,
            "containerStatuses": [{"name": "task", "ready": phase == "Running", "state": state}],
        }
        if phase == "Running":
            status["startTime"] = now
        if reason:
            status["reason"] = reason
        self.api.patch_pod_status(self.ns, pod["metadata"]["name"], status)

    def run(self, stop: threading.Event, poll: float = 0.002) -> None:
        """Tick until ``stop`` is set."""
        while not stop.is_set():
            if not self.tick():
                stop.wait(poll)
