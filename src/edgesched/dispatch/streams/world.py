"""Scenario models of the dispatch world and the :class:`StreamWorld` built from one.

A scenario YAML (``world: dispatch``) names a topology, which sites host compute clusters of
which device class, the applications, the load at the access points, and a few simulator
knobs. Default data (model variants, processing times, device classes, the ASET applications)
ship as package data files under ``edgesched/dispatch/data/`` and may be replaced per scenario
through its ``data`` section.

Everything is validated here, once: the simulator trusts a :class:`StreamWorld`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from edgesched.core.arrivals import ArrivalTrace, PiecewiseRate
from edgesched.core.config import Name, Ratio, StrictModel, load_model, read_scenario
from edgesched.core.errors import ConfigError
from edgesched.dispatch.catalogue import Catalogue, DataFiles, data_path, resolve
from edgesched.dispatch.streams.topology import Topology, hierarchical, load_graphml

#: Load patterns of the ASET paper, clients per minute per access point, changing every 150 s.
PATTERNS: dict[str, tuple[float, ...]] = {
    "fast": (20.0, 60.0, 100.0),
    "steady": (60.0, 40.0, 20.0, 40.0),
}
PATTERN_PERIOD_S = 150.0


# ----------------------------------------------------------------------------- config models

#: A link latency (ms) or bandwidth (Mbps) of the hierarchical generator.
LinkValue = Annotated[float, Field(gt=0, le=1_000_000)]

#: What one run may simulate at most (checked at load, so no accepted input can exhaust the
#: machine): slots, expected clients and expected queries.
MAX_SLOTS = 100_000  # a day of 1 s slots
MAX_CLIENTS = 20_000_000
MAX_QUERIES = 1_000_000_000


class LinkLevels(StrictModel):
    """Values per link level of the hierarchical generator (missing: the ASET preset's)."""

    access: LinkValue | None = None
    co_metro: LinkValue | None = None
    metro_core: LinkValue | None = None
    core_cloud: LinkValue | None = None

    def given(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class HierarchicalTopologyModel(StrictModel):
    """An ISP-like tree (see :func:`edgesched.dispatch.streams.topology.hierarchical`)."""

    generator: Literal["hierarchical"] = "hierarchical"
    metros: Annotated[int, Field(ge=1, le=64)] = 4
    cos_per_metro: Annotated[int, Field(ge=1, le=64)] = 4
    aps_per_co: Annotated[int, Field(ge=1, le=16)] = 1
    cloud: bool = True
    latency_ms: LinkLevels = LinkLevels()
    bandwidth_mbps: LinkLevels = LinkLevels()


class GraphmlTopologyModel(StrictModel):
    """A GraphML file, relative to the scenario file."""

    graphml: str


class ClusterModel(StrictModel):
    """Compute clusters at every site of a kind, or at the named sites."""

    kind: str | None = None
    sites: list[str] | None = None
    device: str
    accelerators: Annotated[int, Field(ge=1, le=4096)]
    variants: list[str] | None = None


class ApplicationModel(StrictModel):
    """An inference application: its task, requirements, and stream shape."""

    name: str
    task: str
    min_accuracy: Ratio
    max_delay_ms: Annotated[float, Field(gt=0, le=60_000)]
    fps: Annotated[float, Field(gt=0, le=1_000)]
    stream_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    payload_kb: Annotated[float, Field(gt=0, le=1_000_000)] = 50.0
    weight: Annotated[float, Field(gt=0, le=1_000_000)] = 1.0


class ApplicationsFile(StrictModel):
    applications: Annotated[list[ApplicationModel], Field(min_length=1)]


class LoadModel(StrictModel):
    """Where and how much load arrives."""

    access_points: list[str] | None = None
    count: Annotated[int, Field(ge=1, le=4096)] = 4
    lam: Annotated[float, Field(ge=0, le=10_000)] = 60.0
    pattern: Literal["fast", "steady"] | None = None
    duration_s: Annotated[float, Field(gt=0, le=86_400)] = 600.0


class StreamScenario(StrictModel):
    """A dispatch-world scenario file."""

    world: Literal["dispatch"]
    name: Name | None = None
    description: str = ""
    topology: HierarchicalTopologyModel | GraphmlTopologyModel = HierarchicalTopologyModel()
    clusters: Annotated[list[ClusterModel], Field(min_length=1)]
    applications: list[ApplicationModel] | None = None
    load: LoadModel = LoadModel()
    uplink_mbps: Annotated[float, Field(ge=0.001, le=1_000_000)] = 50.0
    window_s: Annotated[float, Field(gt=0, le=3_600)] = 5.0
    slot_s: Annotated[float, Field(ge=0.001, le=3_600)] = 1.0
    max_utilisation: Annotated[float, Field(gt=0, le=1)] = 0.95
    max_queue_ms: Annotated[float, Field(gt=0, le=1_000_000)] = 500.0
    processing_jitter: Annotated[float, Field(ge=0, le=2)] = 0.1
    data: DataFiles = DataFiles()


def load_applications(path: Path | None = None) -> list[ApplicationModel]:
    """The applications of a file (default: the ASET preset's four)."""
    return load_model(ApplicationsFile, path or data_path("applications.yaml")).applications


def pattern_rate(lam: float, pattern: str | None, duration_s: float) -> PiecewiseRate:
    """Clients per minute per access point over time: constant ``lam`` or a named pattern."""
    if pattern is None:
        return PiecewiseRate.constant(lam)
    levels = PATTERNS[pattern]
    steps = []
    n = max(1, math.ceil(duration_s / PATTERN_PERIOD_S))
    for i in range(n):
        steps.append((i * PATTERN_PERIOD_S, levels[i % len(levels)]))
    return PiecewiseRate(steps)


# ----------------------------------------------------------------------------- the world


@dataclass
class StreamWorld:
    """Everything the simulator needs, as arrays (C clusters, A accelerators, V variants,
    P applications, S loaded access points).

    Attributes:
        scenario: the validated scenario model.
        name: scenario name.
        topology: the network.
        catalogue: model variants and devices.
        cluster_sites: site name of each cluster.
        cluster_device: device class of each cluster.
        cluster_acc: accelerators per cluster [C].
        cluster_tier: tier of each cluster's site [C] (0 edge ... 4 cloud).
        acc_cluster: cluster of each accelerator [A]; accelerators of one cluster are
            contiguous, starting at ``cluster_start[c]``.
        deployed: [C, V] variant deployable on the cluster.
        proc_ms: [C, V] batch-1 processing time (inf where not deployed).
        apps: the applications.
        access_points: loaded access-point names [S].
        net_ms: [S, C, P] network delay both ways, forward transmission included.
        uplink_ms: [P] uplink transmission of one query's payload.
        feasible: [P, V] variant of the app's task meeting its accuracy.
    """

    scenario: StreamScenario
    name: str
    topology: Topology
    catalogue: Catalogue
    cluster_sites: list[str]
    cluster_device: list[str]
    cluster_acc: np.ndarray
    cluster_tier: np.ndarray
    cluster_start: np.ndarray
    acc_cluster: np.ndarray
    deployed: np.ndarray
    proc_ms: np.ndarray
    apps: list[ApplicationModel]
    access_points: list[str]
    net_ms: np.ndarray
    uplink_ms: np.ndarray
    feasible: np.ndarray
    #: an arrival trace of clients replacing the Poisson arrivals (or None)
    arrivals: ArrivalTrace | None = None

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_sites)

    @property
    def n_acc(self) -> int:
        return int(self.acc_cluster.size)

    @cached_property
    def app_fps(self) -> np.ndarray:
        return np.array([a.fps for a in self.apps])

    @cached_property
    def app_max_delay(self) -> np.ndarray:
        return np.array([a.max_delay_ms for a in self.apps])

    @cached_property
    def app_min_acc(self) -> np.ndarray:
        return np.array([a.min_accuracy for a in self.apps])

    def rate(self) -> PiecewiseRate:
        """Clients per minute per access point over time."""
        load = self.scenario.load
        return pattern_rate(load.lam, load.pattern, load.duration_s)


def build_world(scenario: StreamScenario, source: str, base: Path | None = None) -> StreamWorld:
    """Cross-check a scenario against its topology and data and build the :class:`StreamWorld`.

    Raises:
        ConfigError: unknown sites, devices, variants or tasks; an access point that is not a
            site; a variant too big for its device.
    """
    cat = Catalogue.of(scenario.data, base)
    topo_cfg = scenario.topology
    if isinstance(topo_cfg, GraphmlTopologyModel):
        topo = load_graphml(resolve(base, topo_cfg.graphml))
    else:
        topo = hierarchical(
            metros=topo_cfg.metros,
            cos_per_metro=topo_cfg.cos_per_metro,
            aps_per_co=topo_cfg.aps_per_co,
            cloud=topo_cfg.cloud,
            latency_ms=topo_cfg.latency_ms.given(),
            bandwidth_mbps=topo_cfg.bandwidth_mbps.given(),
        )
    sites: list[str] = []
    devices: list[str] = []
    accs: list[int] = []
    deployed_rows: list[np.ndarray] = []
    for i, group in enumerate(scenario.clusters):
        where = f"{source}: clusters[{i}]"
        if (group.kind is None) == (group.sites is None):
            raise ConfigError(f"{where}: give exactly one of 'kind' or 'sites'.")
        if group.device not in cat.devices:
            raise ConfigError(
                f"{where}: field 'device': unknown device class {group.device!r}; known: "
                f"{', '.join(cat.devices)}."
            )
        if group.sites is not None:
            names = group.sites
            for s in names:
                if s not in topo.index:
                    raise ConfigError(f"{where}: field 'sites': no site {s!r} in the topology.")
        else:
            names = topo.of_kind(str(group.kind))
            if not names:
                raise ConfigError(
                    f"{where}: field 'kind': the topology has no site of kind {group.kind!r}."
                )
        proc = cat.processing_ms[group.device]
        mask = ~np.isnan(proc)
        if group.variants is not None:
            chosen = np.zeros(len(cat.variants), dtype=bool)
            for v in group.variants:
                if v not in cat.variants:
                    raise ConfigError(f"{where}: field 'variants': unknown variant {v!r}.")
                j = cat.variants.index(v)
                if not mask[j]:
                    raise ConfigError(
                        f"{where}: variant {v!r} has no processing time on {group.device!r}."
                    )
                chosen[j] = True
            mask = chosen
        memory = cat.memory_mb[mask].sum()
        if memory > cat.devices[group.device].memory_gb * 1024:
            raise ConfigError(
                f"{where}: the deployed variants need {memory:.0f} MB, more than the "
                f"{cat.devices[group.device].memory_gb} GB of a {group.device}."
            )
        for s in names:
            if s in sites:
                raise ConfigError(f"{where}: site {s!r} already hosts a cluster.")
            sites.append(s)
            devices.append(group.device)
            accs.append(group.accelerators)
            deployed_rows.append(mask.copy())
    apps = scenario.applications if scenario.applications is not None else load_applications()
    if len({a.name for a in apps}) != len(apps):
        raise ConfigError(f"{source}: field 'applications': two applications share a name.")
    for a in apps:
        if a.task not in cat.tasks:
            raise ConfigError(
                f"{source}: application {a.name!r}: no model variant for task {a.task!r}; "
                f"tasks: {', '.join(sorted(set(cat.tasks)))}."
            )
    load = scenario.load
    if load.access_points is not None:
        aps = list(load.access_points)
        for ap in aps:
            if ap not in topo.index:
                raise ConfigError(
                    f"{source}: field 'load.access_points': no site {ap!r} in the topology."
                )
    else:
        every = topo.of_kind("access")
        if len(every) < load.count:
            raise ConfigError(
                f"{source}: field 'load.count': {load.count} loaded access points asked, the "
                f"topology has {len(every)} sites of kind 'access'."
            )
        # spread the load: round-robin over the metros the access points hang from
        aps = _spread(every, load.count)
    if len(set(aps)) != len(aps):
        raise ConfigError(f"{source}: field 'load.access_points': an access point is repeated.")
    if scenario.window_s / scenario.slot_s % 1 > 1e-9:
        raise ConfigError(
            f"{source}: field 'window_s': must be a whole number of slots (slot_s "
            f"{scenario.slot_s})."
        )
    check_size(scenario, source, apps)
    deployed = np.array(deployed_rows, dtype=bool)
    proc_ms = np.where(deployed, np.array([cat.processing_ms[d] for d in devices]), np.inf)
    acc_arr = np.array(accs, dtype=np.int64)
    cluster_start = np.concatenate([[0], np.cumsum(acc_arr)[:-1]]).astype(np.int64)
    acc_cluster = np.repeat(np.arange(len(sites)), acc_arr)
    net = np.zeros((len(aps), len(sites), len(apps)))
    site_idx = [topo.index[c] for c in sites]
    for si, ap in enumerate(aps):
        for pi, app in enumerate(apps):
            lat, tx = topo.delays(ap, app.payload_kb)
            net[si, :, pi] = 2 * lat[site_idx] + tx[site_idx]
    uplink = np.array([a.payload_kb * 8.0 / scenario.uplink_mbps for a in apps])
    feasible = np.array(
        [
            [
                t == a.task and acc >= a.min_accuracy
                for t, acc in zip(cat.tasks, cat.accuracy, strict=True)
            ]
            for a in apps
        ],
        dtype=bool,
    )
    servable = (feasible[:, None, :] & deployed[None, :, :]).any(axis=(1, 2))
    for a, ok in zip(apps, servable, strict=True):
        if not ok:
            raise ConfigError(
                f"{source}: application {a.name!r}: no cluster deploys a {a.task} variant at "
                f"least {a.min_accuracy} accurate, so every one of its queries would be "
                "rejected; deploy one (clusters[].variants, or the data tables) or lower "
                "min_accuracy."
            )
    return StreamWorld(
        scenario=scenario,
        name=scenario.name or source,
        topology=topo,
        catalogue=cat,
        cluster_sites=sites,
        cluster_device=devices,
        cluster_acc=acc_arr,
        cluster_tier=np.array([topo.tier(s) for s in sites], dtype=np.int64),
        cluster_start=cluster_start,
        acc_cluster=acc_cluster,
        deployed=deployed,
        proc_ms=proc_ms,
        apps=list(apps),
        access_points=aps,
        net_ms=net,
        uplink_ms=uplink,
        feasible=feasible,
    )


def _spread(aps: list[str], count: int) -> list[str]:
    """``count`` access points taken round-robin over their parent prefixes (metros)."""
    groups: dict[str, list[str]] = {}
    for ap in aps:
        parts = ap.split("-")
        key = parts[1] if len(parts) > 2 else ap
        groups.setdefault(key, []).append(ap)
    order: list[str] = []
    queues = list(groups.values())
    depth = 0
    while len(order) < len(aps):
        for q in queues:
            if depth < len(q):
                order.append(q[depth])
        depth += 1
    return order[:count]


def load_scenario(path: str | Path, *, name: str | None = None, **overrides: Any) -> StreamWorld:
    """Read and validate a scenario file, apply ``overrides`` (see :func:`with_load`) to the
    model, and build the world.

    Raises:
        ConfigError: naming file, line and field for every problem.
    """
    path = Path(path)
    model = read_scenario(StreamScenario, path, name)
    return build_world(with_load(model, **overrides), str(path), path.parent)


def check_size(
    scenario: StreamScenario, source: str, apps: list[ApplicationModel] | None = None
) -> None:
    """Refuse a run too large for one machine: more than :data:`MAX_SLOTS` slots, or more
    than :data:`MAX_CLIENTS` expected streams or :data:`MAX_QUERIES` expected queries (at
    the highest rate of the load), before anything is drawn.

    Raises:
        ConfigError: naming the fields that set the size.
    """
    load = scenario.load
    slots = load.duration_s / scenario.slot_s
    if slots > MAX_SLOTS:
        raise ConfigError(
            f"{source}: fields 'load.duration_s' / 'slot_s': {slots:.0f} slots to simulate, "
            f"more than {MAX_SLOTS}; shorten the run or lengthen the slot."
        )
    n_aps = len(load.access_points) if load.access_points is not None else load.count
    peak = max(PATTERNS[load.pattern]) if load.pattern is not None else load.lam
    clients = peak / 60.0 * n_aps * load.duration_s
    if clients > MAX_CLIENTS:
        raise ConfigError(
            f"{source}: fields 'load.lam' / 'load.count' / 'load.duration_s': about "
            f"{clients:.3g} client streams expected, more than {MAX_CLIENTS}."
        )
    apps = apps if apps is not None else scenario.applications
    if apps:
        per_client = max(a.fps * a.stream_s for a in apps)
        if clients * per_client > MAX_QUERIES:
            raise ConfigError(
                f"{source}: about {clients * per_client:.3g} queries expected (streams x fps x "
                f"stream_s), more than {MAX_QUERIES}; lower the load or the duration."
            )


def with_load(
    scenario: StreamScenario,
    *,
    lam: float | None = None,
    pattern: str | None = None,
    duration_s: float | None = None,
) -> StreamScenario:
    """The same scenario with another load (clients per minute per access point, pattern,
    duration); None keeps the scenario's value.

    Raises:
        ConfigError: a negative lambda, an unknown pattern or a non-positive duration.
    """
    update: dict[str, object] = {}
    if lam is not None:
        if not 0 <= lam <= 10_000:
            raise ConfigError(f"--lambda {lam}: expected clients per minute in [0, 10000].")
        update["lam"] = float(lam)
    if pattern is not None:
        if pattern not in PATTERNS:
            raise ConfigError(f"--pattern {pattern!r}: expected 'fast' or 'steady'.")
        update["pattern"] = pattern
    if duration_s is not None:
        if not 0 < duration_s <= 86_400:
            raise ConfigError(f"--duration {duration_s}: expected seconds in (0, 86400].")
        update["duration_s"] = float(duration_s)
    if not update:
        return scenario
    changed = scenario.model_copy(update={"load": scenario.load.model_copy(update=update)})
    check_size(changed, "--lambda / --pattern / --duration")
    return changed
