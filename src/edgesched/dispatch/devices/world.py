"""The device-level setting of the dispatch world (ECSRL's): heterogeneous edge devices behind
one access point, co-location slow-down, power, and accuracy-driven cloud offload.

A scenario YAML with ``world: dispatch`` and ``setting: devices`` names the edge devices (by
device class of the shared data table ``data/devices.yaml``), the cloud's devices and WAN, the
request mix, and optional per-pair degradation overrides. Model variants, their accuracy and
memory, and batch-1 processing times come from the dispatch world's shared tables
(``data/variants.csv``, ``data/processing_ms.csv``), read through
:class:`edgesched.dispatch.streams.world.Catalogue`; a scenario may replace any of them in ``data``.

THE MODEL (every number is data: the scenario file or the shared tables)

- Machines: ``D`` edge devices on a LAN (one-way latency ``edge.lan_latency_ms``, bandwidth
  ``edge.lan_mbps``), then ``G`` cloud devices behind a WAN (one-way latency
  ``cloud.wan_latency_ms``, uplink ``cloud.wan_mbps``). Each machine has its class's memory,
  power model, workload limit and degradation coefficient.
- Requests: ``requests.count`` over ``requests.duration_s`` seconds, a Poisson process
  conditioned on its count (arrival times are sorted uniform draws, so a preset has exactly the
  number of requests it names). Each request has a task (drawn by ``share``), a deadline drawn
  uniformly in ``requests.deadline_ms`` and an accuracy requirement: with probability
  ``requests.offload_share`` it exceeds the task's edge variant (drawn uniformly between the
  edge and the cloud variant's accuracy), otherwise it is drawn uniformly in
  ``[edge accuracy - requests.accuracy_margin, edge accuracy]``.
- Where a request runs: an edge device runs the task's *edge variant*; the cloud runs the
  task's *cloud variant* (the cloud hosts the large models only, so a request sent there gets
  the large model whatever it required). A request whose requirement exceeds the edge variant
  can only go to the cloud (cloud offload); the scheduler sees that in its action mask.
- Co-location slow-down: every request being processed on a machine is one *workload*. While
  workloads ``j`` co-run with workload ``i`` on device class ``d``, ``i`` progresses at rate
  ``1 / (1 + sum_j c_d(v_i, v_j))`` of its solo speed, with ``c_d`` the class's ``degradation``
  coefficient, overridden per unordered variant pair by the scenario's ``degradation`` list.
  With ``n`` equal workloads started together each takes ``profile x (1 + c (n - 1))``: linear
  in the number of co-running workloads, as ECSRL's Fig. 2 observed. Rates are recomputed at
  every start and end on the machine (an exact piecewise-linear progress model).
- Memory limit: a machine holds at most ``max_workloads`` workloads and at most its memory in
  the variants' footprints (``memory_mb`` of every workload in flight to it or running on it);
  past either limit its slow-down is infinite: an edge device there is masked, and the cloud
  keeps a FIFO queue (``cloud.max_queue``) of requests waiting for a cloud device with room.
- Power: ``min(idle_w + active_w x n, max_w)`` with ``n`` the workloads running. Energy is the
  integral of power over time. The part above idle power is *attributed* to the running
  requests, split equally between them over every interval in which the count is constant;
  idle power is the machines' base load, reported apart. So attributed + idle = total, exactly.
- Processing time: the variant's profile on the class times a log-normal jitter of mean one and
  sigma ``processing_jitter`` (0: the profile exactly), drawn per request whatever its
  destination, then stretched by the slow-down.
- Delay of a request = network + WAN queueing + cloud queueing + processing, where network is
  the one-way latency both ways plus the payload's transmission (LAN or WAN bandwidth); the WAN
  uplink is one FIFO link shared by every offloaded request (LAN transmission is not queued: the
  LAN is not the bottleneck). Results are small; their return costs the latency only.
- Outcome, exactly one per request: *success* (finished within its deadline by a variant at
  least as accurate as required), *violation* (finished late, or less accurate than required),
  *rejection* (the cloud's waiting queue was full).

Where the spec is silent, these are this project's choices: the conditioned Poisson process;
the accuracy draws; one slot reserved on an edge device from the decision (so a mask stays
valid while the payload crosses the LAN); the cloud's least-loaded placement of arriving
requests over its devices, with a FIFO queue; LAN 1000 Mbps, payload 50 kB; equal split of the
dynamic power. ``docs/ecsrl.md`` keeps the list.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from edgesched.core.arrivals import ArrivalTrace
from edgesched.core.config import (
    Name,
    Ratio,
    StrictModel,
    read_scenario,
)
from edgesched.core.errors import ConfigError
from edgesched.dispatch.catalogue import Catalogue, DataFiles, data_files

# ----------------------------------------------------------------------------- config models


#: A request deadline (ms).
DeadlineMs = Annotated[float, Field(gt=0, le=1_000_000)]


class MachineGroup(StrictModel):
    """``count`` devices of one class."""

    device: str
    count: Annotated[int, Field(ge=1, le=256)] = 1


class EdgeModel(StrictModel):
    """The edge devices behind the access point and their LAN."""

    devices: Annotated[list[MachineGroup], Field(min_length=1)]
    lan_latency_ms: Annotated[float, Field(ge=0, le=100_000)] = 1.0
    lan_mbps: Annotated[float, Field(ge=0.001, le=1_000_000)] = 1000.0


class CloudModel(StrictModel):
    """The cloud's devices, its WAN and its waiting queue."""

    device: str
    count: Annotated[int, Field(ge=1, le=4096)] = 1
    wan_latency_ms: Annotated[float, Field(ge=0, le=100_000)] = 20.0
    wan_mbps: Annotated[float, Field(ge=0.001, le=1_000_000)] = 20.0
    max_queue: Annotated[int, Field(ge=0, le=10_000_000)] = 10_000


class TaskMix(StrictModel):
    """One task of the request mix: its share, its edge and cloud variants, its payload."""

    task: str
    share: Annotated[float, Field(gt=0, le=1_000_000)] = 1.0
    edge_variant: str
    cloud_variant: str
    payload_kb: Annotated[float, Field(gt=0, le=1_000_000)] = 50.0


class RequestsModel(StrictModel):
    """How many requests arrive, over how long, and what they require."""

    count: Annotated[int, Field(ge=1, le=10_000_000)]
    duration_s: Annotated[float, Field(gt=0, le=86_400)]
    tasks: Annotated[list[TaskMix], Field(min_length=1)]
    deadline_ms: tuple[DeadlineMs, DeadlineMs] = (100.0, 500.0)
    offload_share: Ratio = 0.2
    accuracy_margin: Ratio = 0.05

    @model_validator(mode="after")
    def _deadline_order(self) -> RequestsModel:
        lo, hi = self.deadline_ms
        if hi < lo:
            raise ValueError(f"deadline_ms [{lo}, {hi}]: the upper bound is below the lower one")
        return self


class PairDegradation(StrictModel):
    """A per-pair override of a device class's degradation coefficient (symmetric)."""

    device: str
    variants: tuple[str, str]
    coefficient: Annotated[float, Field(ge=0, le=100)]


class ObjectiveModel(StrictModel):
    """ECSRL's per-step cost: alpha x energy (J) + beta x mean degradation + a deadline term.

    ``deadline_penalty`` is charged per request that finishes late (or is rejected).
    ``deadline_margin``: the request being dispatched counts as late when its projected delay
    passes this share of its deadline (the projection assumes that nothing else arrives, and
    later arrivals time-slice the device); 1 charges only projected misses.
    ``offload_penalty`` is charged per request sent to the cloud that an edge device could
    have served (the uplink it takes from the requests that only the cloud can serve).
    """

    alpha: Annotated[float, Field(ge=0, le=1_000_000)] = 1.0
    beta: Annotated[float, Field(ge=0, le=1_000_000)] = 0.02
    deadline_penalty: Annotated[float, Field(ge=0, le=1_000_000)] = 2.0
    deadline_margin: Annotated[float, Field(gt=0, le=1)] = 1.0
    offload_penalty: Annotated[float, Field(ge=0, le=1_000_000)] = 0.0


class HostModel(StrictModel):
    """The serving host's own costs (the live runtime's gateway and load generator), measured
    by ``edgesched profile --host-overhead SCENARIO``; the defaults add nothing.

    ``request_ms`` is added to every served request's delay (HTTP, the gateway, the hand-off to
    a worker). ``cpu_ms_per_request`` is the host CPU one request costs outside the workers: at
    ``rate`` requests/s it takes the share ``u = rate x cpu / 1000 / cores`` of every core the
    workers run on, stretching every processing time by ``1 / (1 - u)`` (``u`` capped at 0.9).
    """

    request_ms: Annotated[float, Field(ge=0, le=10_000)] = 0.0
    cpu_ms_per_request: Annotated[float, Field(ge=0, le=1_000)] = 0.0
    cores: Annotated[int, Field(ge=1, le=4096)] = 1

    def stretch(self, rate_per_s: float) -> float:
        """The processing-time factor at ``rate_per_s`` requests per second (>= 1)."""
        u = min(rate_per_s * self.cpu_ms_per_request / 1000.0 / self.cores, 0.9)
        return 1.0 / (1.0 - max(u, 0.0))


class DeviceScenario(StrictModel):
    """A device-setting scenario file of the dispatch world."""

    world: Literal["dispatch"]
    setting: Literal["devices"]
    name: Name | None = None
    description: str = ""
    edge: EdgeModel
    cloud: CloudModel
    requests: RequestsModel
    degradation: tuple[PairDegradation, ...] = ()
    processing_jitter: Annotated[float, Field(ge=0, le=2)] = 0.1
    objective: ObjectiveModel = ObjectiveModel()
    host: HostModel = HostModel()
    data: DataFiles = DataFiles()


# ----------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class DeviceWorld:
    """Everything the device simulator needs, as arrays (M = D edge + G cloud machines,
    V variants used by the scenario, T tasks).

    Attributes:
        scenario: the validated scenario model.
        name: scenario name.
        machine_names: ``jetson-nano-0``, ..., ``cloud-3`` [M].
        machine_class: device class of each machine [M].
        n_edge: D; machines ``0..D-1`` are the edge devices, ``D..M-1`` the cloud's.
        idle_w, active_w, max_w: power model [M].
        max_workloads: workload limit [M].
        memory_mb: memory [M].
        coef: [M, V, V] slow-down of a workload of variant a per co-running workload of b.
        proc_ms: [M, V] batch-1 processing time (NaN where the variant is not profiled).
        variants: names of the V variants.
        variant_acc, variant_mem_mb: accuracy and memory footprint [V].
        tasks: task names [T]; task_share: draw probabilities [T].
        edge_variant, cloud_variant: variant index of each task [T].
        payload_kb: [T].
        lan_ms, lan_mbps, wan_ms, wan_mbps: one-way latencies and bandwidths.
        arrivals: an arrival trace replacing the scenario's Poisson arrivals (its count and
            end are then the scenario's ``requests.count`` and ``duration_s``), or None.
    """

    scenario: DeviceScenario
    name: str
    machine_names: list[str]
    machine_class: list[str]
    n_edge: int
    idle_w: np.ndarray
    active_w: np.ndarray
    max_w: np.ndarray
    max_workloads: np.ndarray
    memory_mb: np.ndarray
    coef: np.ndarray
    proc_ms: np.ndarray
    variants: list[str]
    variant_acc: np.ndarray
    variant_mem_mb: np.ndarray
    tasks: list[str]
    task_share: np.ndarray
    edge_variant: np.ndarray
    cloud_variant: np.ndarray
    payload_kb: np.ndarray
    arrivals: ArrivalTrace | None = None

    @property
    def n_machines(self) -> int:
        return len(self.machine_names)

    @property
    def n_actions(self) -> int:
        """D edge devices, then one action for the cloud."""
        return self.n_edge + 1

    @property
    def cloud_action(self) -> int:
        return self.n_edge

    @property
    def lan_ms(self) -> float:
        return float(self.scenario.edge.lan_latency_ms)

    @property
    def lan_mbps(self) -> float:
        return float(self.scenario.edge.lan_mbps)

    @property
    def wan_ms(self) -> float:
        return float(self.scenario.cloud.wan_latency_ms)

    @property
    def wan_mbps(self) -> float:
        return float(self.scenario.cloud.wan_mbps)

    @property
    def action_names(self) -> list[str]:
        return [*self.machine_names[: self.n_edge], "cloud"]

    @property
    def rate_per_min(self) -> float:
        """Requests per minute at the access point."""
        r = self.scenario.requests
        return r.count / r.duration_s * 60.0


def build_world(scenario: DeviceScenario, source: str, base: Path | None = None) -> DeviceWorld:
    """Cross-check a scenario against its data tables and build the :class:`DeviceWorld`.

    Raises:
        ConfigError: unknown device classes, variants or tasks; a variant without a processing
            time on a device that must run it; a variant larger than a device's memory; an
            offload share with a cloud variant no more accurate than the edge one; power data
            whose idle power exceeds its cap.
    """
    data = scenario.data
    _, processing_file, devices_file = data_files(data, base)
    cat = Catalogue.of(data, base)
    dev_src, proc_src = str(devices_file), str(processing_file)
    for cls, dm in cat.devices.items():
        if dm.idle_w > dm.max_w:
            raise ConfigError(
                f"{dev_src}: device class {cls!r}: idle_w {dm.idle_w} W exceeds max_w "
                f"{dm.max_w} W; a device's idle power cannot be above its cap."
            )

    def device_class(name: str, where: str) -> str:
        if name not in cat.devices:
            raise ConfigError(
                f"{source}: field '{where}': unknown device class {name!r}; known: "
                f"{', '.join(cat.devices)} (from {dev_src})."
            )
        return name

    def variant(name: str, where: str) -> int:
        if name not in cat.variants:
            raise ConfigError(
                f"{source}: field '{where}': unknown model variant {name!r}; known: "
                f"{', '.join(cat.variants)}."
            )
        return cat.variants.index(name)

    req = scenario.requests
    used: list[int] = []
    edge_v: list[int] = []
    cloud_v: list[int] = []
    tasks: list[str] = []
    for i, t in enumerate(req.tasks):
        if t.task in tasks:
            raise ConfigError(f"{source}: field 'requests.tasks.{i}.task': {t.task!r} is repeated.")
        tasks.append(t.task)
        for field, name, out in (
            ("edge_variant", t.edge_variant, edge_v),
            ("cloud_variant", t.cloud_variant, cloud_v),
        ):
            j = variant(name, f"requests.tasks.{i}.{field}")
            if cat.tasks[j] != t.task:
                raise ConfigError(
                    f"{source}: field 'requests.tasks.{i}.{field}': {name!r} is a "
                    f"{cat.tasks[j]} model, not {t.task}."
                )
            if j not in used:
                used.append(j)
            out.append(used.index(j))
        if (
            req.offload_share > 0
            and cat.accuracy[cat.variants.index(t.cloud_variant)]
            <= (cat.accuracy[cat.variants.index(t.edge_variant)])
        ):
            raise ConfigError(
                f"{source}: field 'requests.tasks.{i}.cloud_variant': {t.cloud_variant!r} is not "
                f"more accurate than the edge variant {t.edge_variant!r}, so the requests that "
                "need more accuracy than the edge model (offload_share > 0) could not be met."
            )
    V = len(used)
    classes: list[str] = []
    for i, g in enumerate(scenario.edge.devices):
        classes += [device_class(g.device, f"edge.devices.{i}.device")] * g.count
    # edge devices are named <class>-<k>, counting over every group of the class
    names: list[str] = []
    seen: dict[str, int] = {}
    for cls in classes:
        names.append(f"{cls}-{seen.get(cls, 0)}")
        seen[cls] = seen.get(cls, 0) + 1
    n_edge = len(classes)
    cloud_cls = device_class(scenario.cloud.device, "cloud.device")
    for k in range(scenario.cloud.count):
        names.append(f"cloud-{k}")
        classes.append(cloud_cls)
    M = len(classes)
    proc = np.full((M, V), np.nan)
    for m, cls in enumerate(classes):
        for local, j in enumerate(used):
            proc[m, local] = cat.processing_ms[cls][j]
    # every machine must be able to run what it will be sent
    for m, cls in enumerate(classes):
        needed = edge_v if m < n_edge else cloud_v
        for local in set(needed):
            if math.isnan(proc[m, local]):
                raise ConfigError(
                    f"{proc_src}: no processing time for variant {cat.variants[used[local]]!r} "
                    f"on device class {cls!r}, which the scenario {source} runs it on; add the "
                    f"{cls!r} cell of the {cat.variants[used[local]]!r} row."
                )
            mem = cat.memory_mb[used[local]]
            if mem > cat.devices[cls].memory_gb * 1024:
                raise ConfigError(
                    f"{source}: variant {cat.variants[used[local]]!r} needs {mem:.0f} MB, more "
                    f"than the {cat.devices[cls].memory_gb} GB of a {cls}."
                )
    coef = np.array([np.full((V, V), cat.devices[c].degradation) for c in classes])
    for i, pair in enumerate(scenario.degradation):
        cls = device_class(pair.device, f"degradation.{i}.device")
        a, b = (variant(v, f"degradation.{i}.variants") for v in pair.variants)
        if a not in used or b not in used:
            continue  # a pair the scenario never runs together
        la, lb = used.index(a), used.index(b)
        for m, c in enumerate(classes):
            if c == cls:
                coef[m, la, lb] = coef[m, lb, la] = pair.coefficient
    share = np.array([t.share for t in req.tasks], dtype=float)
    return DeviceWorld(
        scenario=scenario,
        name=scenario.name or Path(source).stem,
        machine_names=names,
        machine_class=classes,
        n_edge=n_edge,
        idle_w=np.array([cat.devices[c].idle_w for c in classes], dtype=float),
        active_w=np.array([cat.devices[c].active_w for c in classes], dtype=float),
        max_w=np.array([cat.devices[c].max_w for c in classes], dtype=float),
        max_workloads=np.array([cat.devices[c].max_workloads for c in classes], dtype=np.int64),
        memory_mb=np.array([cat.devices[c].memory_gb * 1024 for c in classes], dtype=float),
        coef=coef,
        proc_ms=proc,
        variants=[cat.variants[j] for j in used],
        variant_acc=np.array([cat.accuracy[j] for j in used], dtype=float),
        variant_mem_mb=np.array([cat.memory_mb[j] for j in used], dtype=float),
        tasks=tasks,
        task_share=share / share.sum(),
        edge_variant=np.array(edge_v, dtype=np.int64),
        cloud_variant=np.array(cloud_v, dtype=np.int64),
        payload_kb=np.array([t.payload_kb for t in req.tasks], dtype=float),
    )


def load_scenario(path: str | Path, *, name: str | None = None, **overrides: Any) -> DeviceWorld:
    """Read and validate a device-setting scenario file, apply ``overrides`` (see
    :func:`with_requests`) to the model, and build the world.

    Raises:
        ConfigError: naming file, line and field for every problem.
    """
    path = Path(path)
    model = read_scenario(DeviceScenario, path, name)
    return build_world(with_requests(model, **overrides), str(path), path.parent)


def with_arrivals(world: DeviceWorld, trace: ArrivalTrace) -> DeviceWorld:
    """The same world with its requests arriving as ``trace`` says: the count is the trace's,
    the duration its end (at least 1 ms); tasks, deadlines and accuracy needs are drawn as the
    scenario says."""
    req = world.scenario.requests.model_copy(
        update={"count": trace.count, "duration_s": max(trace.end_s, 1e-3)}
    )
    scenario = world.scenario.model_copy(update={"requests": req})
    return dataclasses.replace(world, scenario=scenario, arrivals=trace)


def with_requests(
    scenario: DeviceScenario,
    *,
    rate_per_min: float | None = None,
    duration_s: float | None = None,
) -> DeviceScenario:
    """The same scenario with another request rate (per minute) or duration; the count
    follows (``round(rate x duration)``, at least 1). None keeps the scenario's value.

    Raises:
        ConfigError: a non-positive rate or duration.
    """
    if rate_per_min is None and duration_s is None:
        return scenario
    req = scenario.requests
    if rate_per_min is not None and not 0 < rate_per_min <= 6_000_000:
        raise ConfigError(
            f"--lambda {rate_per_min}: expected requests per minute at the access point in "
            "(0, 6000000]."
        )
    if duration_s is not None and not 0 < duration_s <= 86_400:
        raise ConfigError(f"--duration {duration_s}: expected seconds in (0, 86400].")
    rate = rate_per_min if rate_per_min is not None else req.count / req.duration_s * 60.0
    duration = float(duration_s) if duration_s is not None else req.duration_s
    count = max(1, round(rate * duration / 60.0))
    requests = req.model_copy(update={"count": count, "duration_s": duration})
    return scenario.model_copy(update={"requests": requests})
