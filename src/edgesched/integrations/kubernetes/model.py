"""The names, labels and custom resource of the Kubernetes operator, and the reading of API
objects into plain values (no Kubernetes library is imported here).

An ``EdgeTask`` (``edgesched.io/v1alpha1``) is one ML task of the placement world: its
container, its type, its minimum (and optional maximum) CPUs and GPUs, its eligible clusters
and, optionally, its duration (which gives the world's progress model, as a trace row does).
Its status says what the operator did with it: phase, cluster, node, allocation, and the start,
finish and JCT in timesteps.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, ValidationError

from edgesched.core.config import StrictModel
from edgesched.core.errors import ConfigError
from edgesched.core.resources import Vector
from edgesched.placement.progress import ConstantSpeed, ProgressModel
from edgesched.placement.scenario import PlacementScenario
from edgesched.placement.workload import ScaledTanh

GROUP = "edgesched.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "EdgeTask"
PLURAL = "edgetasks"

#: The node label naming a node's edge cluster.
CLUSTER_LABEL = f"{GROUP}/cluster"
#: The pod label naming the EdgeTask a pod runs.
TASK_LABEL = f"{GROUP}/task"
#: Pod annotations the operator writes (what it decided, for people and for the report).
START_ANNOTATION = f"{GROUP}/start-timestep"
#: The ConfigMap holding the operator's journal, and the one the simulated kubelet acks in.
JOURNAL_NAME = "edgesched-operator"
KUBELET_NAME = "edgesched-kubelet"

#: World resource name -> Kubernetes resource name (GPUs are the NVIDIA extended resource).
RESOURCE_NAMES = {"cpu": "cpu", "gpu": "nvidia.com/gpu"}

#: EdgeTask phases.
PENDING, SCHEDULED, RUNNING, SUCCEEDED, FAILED, UNSCHEDULABLE = (
    "Pending",
    "Scheduled",
    "Running",
    "Succeeded",
    "Failed",
    "Unschedulable",
)
FINAL_PHASES = (SUCCEEDED, FAILED)

Units = Annotated[int, Field(ge=0, le=1_000_000)]


class Resources(StrictModel):
    """Whole CPUs and GPUs."""

    cpu: Units = 0
    gpu: Units = 0

    def vector(self, resources: Sequence[str]) -> Vector:
        return tuple(int(getattr(self, r)) for r in resources)


class EdgeTaskSpec(StrictModel):
    """The ``spec`` of an EdgeTask (the CRD's schema says the same, for the API server)."""

    image: str = Field(min_length=1)
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    taskType: str = "trace"  # the API's camelCase
    min: Resources
    max: Resources | None = None
    durationSeconds: Annotated[float, Field(gt=0)] | None = None
    eligibleClusters: list[str] | None = None
    arrivalTimestep: Annotated[int, Field(ge=0)] | None = None


def parse_spec(obj: Mapping[str, Any]) -> EdgeTaskSpec:
    """The spec of an EdgeTask object.

    Raises:
        ConfigError: naming the EdgeTask and the field that is wrong.
    """
    name = obj.get("metadata", {}).get("name", "?")
    try:
        return EdgeTaskSpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"EdgeTask {name}, spec.{where}: {first['msg']}.") from None


def check_resources(scenario: PlacementScenario) -> None:
    """The operator maps the world's resources to Kubernetes ones: they must be cpu and gpu."""
    if list(scenario.resources) != ["cpu", "gpu"]:
        raise ConfigError(
            f"scenario {scenario.name!r} has resources {scenario.resources}; the Kubernetes "
            "operator places CPUs and GPUs (resources: [cpu, gpu])."
        )


def progress_model(spec: EdgeTaskSpec, scenario: PlacementScenario) -> ProgressModel | None:
    """The world's progress model of a task, as a trace row gets one (docs/placement.md,
    choice 14) when it gives ``durationSeconds``, else its scenario type's; None when it has
    neither."""
    if spec.durationSeconds is not None:
        duration = spec.durationSeconds / scenario.timestep_seconds
        gpu = scenario.gpu_index()
        need = spec.min.vector(scenario.resources)
        if scenario.trace_progress == "tanh-gpu" and need[gpu] > 0:
            return ScaledTanh(gpu, duration, need[gpu])
        return ConstantSpeed(duration)
    for t in scenario.workload.types:
        if t.name == spec.taskType:
            return scenario.build_progress(t.progress)
    return None


def type_index(spec: EdgeTaskSpec, scenario: PlacementScenario) -> int:
    """The task type's position among the scenario's types (past the end when unknown; the
    features clip it to the last type)."""
    names = [t.name for t in scenario.workload.types]
    return names.index(spec.taskType) if spec.taskType in names else len(names)


# ----------------------------------------------------------------------------- quantities

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def quantity(value: Any) -> float:
    """A Kubernetes quantity (``"4"``, ``"3500m"``, ``2``) as a number."""
    if isinstance(value, int | float):
        return float(value)
    m = _QUANTITY.match(str(value).strip())
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def resource_vector(amounts: Mapping[str, Any] | None, resources: Sequence[str]) -> list[float]:
    """World resources out of a Kubernetes resource map (requests, allocatable)."""
    amounts = amounts or {}
    return [quantity(amounts.get(RESOURCE_NAMES[r], 0)) for r in resources]


def whole(values: Sequence[float]) -> Vector:
    """Whole units, rounding down (a node with 3.5 allocatable CPUs offers 3 to the world)."""
    return tuple(max(0, math.floor(v + 1e-9)) for v in values)


# ----------------------------------------------------------------------------- objects


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key putting ``cluster-2`` before ``cluster-10``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (None stays None)."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def format_time(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Node:
    """A schedulable node of an edge cluster: its allocatable world resources."""

    name: str
    cluster: str
    allocatable: Vector


def parse_nodes(items: Sequence[Mapping[str, Any]], resources: Sequence[str]) -> list[Node]:
    """The nodes that carry the cluster label, are schedulable and not NotReady."""
    out = []
    for obj in items:
        meta = obj.get("metadata", {})
        cluster = (meta.get("labels") or {}).get(CLUSTER_LABEL)
        if not cluster or (obj.get("spec") or {}).get("unschedulable"):
            continue
        conditions = (obj.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "False" for c in conditions):
            continue
        alloc = (obj.get("status") or {}).get("allocatable")
        out.append(Node(meta["name"], cluster, whole(resource_vector(alloc, resources))))
    return sorted(out, key=lambda n: (natural_key(n.cluster), natural_key(n.name)))


def pod_requests(pod: Mapping[str, Any], resources: Sequence[str]) -> list[float]:
    """What a pod requests of each world resource (its containers' requests summed; an
    init container's larger request counts, as the Kubernetes scheduler counts it)."""
    spec = pod.get("spec") or {}
    total = [0.0] * len(resources)
    for c in spec.get("containers") or []:
        req = (c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits")
        for i, v in enumerate(resource_vector(req, resources)):
            total[i] += v
    for c in spec.get("initContainers") or []:
        req = (c.get("resources") or {}).get("requests")
        for i, v in enumerate(resource_vector(req, resources)):
            total[i] = max(total[i], v)
    return total


def pod_terminated(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_finished_at(pod: Mapping[str, Any]) -> float | None:
    """When the pod's last container ended (None when the status does not say)."""
    ends = []
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        t = parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        if t is not None:
            ends.append(t)
    return max(ends) if ends else None
