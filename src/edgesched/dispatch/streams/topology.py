"""Network topology of the dispatch world: sites, links, and cached shortest-path delays.

A :class:`Topology` is an undirected graph of named sites (access points, central offices,
metro aggregation, core, cloud, or any kind a GraphML map names) whose links carry a one-way
latency in milliseconds and a bandwidth in Mbps. Queries are routed on the least-latency path;
the network delay of a query is the latency of that path both ways plus the transmission of its
payload over every link of the forward path (the reply is small and not charged).

Topologies come from :func:`hierarchical` (an ISP-like tree: access points - central offices -
metro sites - one core - one cloud data centre) or from a GraphML file
(:func:`load_graphml`, e.g. an Internet Topology Zoo map) and can be written back with
:func:`save_graphml`. Every topology is checked when it is built: a disconnected graph, a
self-loop, a duplicate site, a non-positive latency or bandwidth is refused with a
:class:`~edgesched.core.errors.ConfigError` that says what and where.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from edgesched.core.errors import ConfigError

GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
#: Propagation delay used when a GraphML link has coordinates but no latency (ms per km, fibre).
MS_PER_KM = 0.005
#: Bandwidth assumed for a GraphML link that gives none (Mbps).
DEFAULT_BANDWIDTH_MBPS = 10_000.0
#: Site kinds of the hierarchical generator, from the edge inwards (tier 0 is the edge).
TIERS = {"access": 0, "co": 1, "metro": 2, "core": 3, "cloud": 4}


@dataclass(frozen=True)
class Link:
    """An undirected link between two sites."""

    u: str
    v: str
    latency_ms: float
    bandwidth_mbps: float


@dataclass
class Topology:
    """Sites and links, validated on construction.

    Attributes:
        names: site names, in index order.
        kinds: the kind of each site (``access``, ``co``, ``metro``, ``core``, ``cloud``, ...).
        links: every link once.
        source: where the topology came from (for error messages).
    """

    names: list[str]
    kinds: list[str]
    links: list[Link]
    source: str = "topology"
    index: dict[str, int] = field(init=False, repr=False)
    _cache: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.index = {}
        for i, name in enumerate(self.names):
            if name in self.index:
                raise ConfigError(f"{self.source}: site {name!r} is defined twice.")
            self.index[name] = i
        if not self.names:
            raise ConfigError(f"{self.source}: the topology has no sites.")
        for link in self.links:
            for end in (link.u, link.v):
                if end not in self.index:
                    raise ConfigError(
                        f"{self.source}: link {link.u!r}-{link.v!r} names an unknown site {end!r}."
                    )
            if link.u == link.v:
                raise ConfigError(f"{self.source}: link {link.u!r}-{link.v!r} is a self-loop.")
            if not (math.isfinite(link.latency_ms) and link.latency_ms > 0):
                raise ConfigError(
                    f"{self.source}: link {link.u!r}-{link.v!r}: latency_ms must be a number > 0 "
                    f"(found {link.latency_ms!r})."
                )
            if not (math.isfinite(link.bandwidth_mbps) and link.bandwidth_mbps > 0):
                raise ConfigError(
                    f"{self.source}: link {link.u!r}-{link.v!r}: bandwidth_mbps must be a number "
                    f"> 0 (found {link.bandwidth_mbps!r})."
                )
        n_parts, labels = connected_components(self._matrix(), directed=False)
        if n_parts > 1:
            first = self.names[0]
            cut = [self.names[i] for i in range(len(self.names)) if labels[i] != labels[0]]
            shown = ", ".join(repr(c) for c in cut[:5]) + (", ..." if len(cut) > 5 else "")
            raise ConfigError(
                f"{self.source}: the topology is disconnected ({n_parts} parts): no path from "
                f"{first!r} to {shown}. Every site must be reachable."
            )

    def __len__(self) -> int:
        return len(self.names)

    def tier(self, site: str) -> int:
        """How far from the edge a site is (access 0 ... cloud 4; unknown kinds count as 1)."""
        return TIERS.get(self.kinds[self.index[site]], 1)

    def of_kind(self, kind: str) -> list[str]:
        """Names of the sites of one kind, in index order."""
        return [n for n, k in zip(self.names, self.kinds, strict=True) if k == kind]

    def _matrix(self) -> csr_matrix:
        """The symmetric latency matrix (the least latency of parallel links)."""
        n = len(self.names)
        best: dict[tuple[int, int], float] = {}
        for link in self.links:
            a, b = self.index[link.u], self.index[link.v]
            w = link.latency_ms
            key = (min(a, b), max(a, b))
            if key not in best or w < best[key]:
                best[key] = w
        rows = [k[0] for k in best] + [k[1] for k in best]
        cols = [k[1] for k in best] + [k[0] for k in best]
        vals = list(best.values()) * 2
        return csr_matrix((vals, (rows, cols)), shape=(n, n))

    def delays(self, source: str, payload_kb: float) -> tuple[np.ndarray, np.ndarray]:
        """One-way latency and forward transmission time (ms) from ``source`` to every site.

        Routing follows the least-latency path; the transmission time is the sum of
        ``payload / bandwidth`` over that path's links. Cached per (source, payload).
        """
        key = (self.index[source], float(payload_kb))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        lat = self._matrix()
        dist, pred = dijkstra(lat, directed=False, indices=key[0], return_predecessors=True)
        # Transmission per link on the chosen path: walk predecessors from every site.
        bw: dict[tuple[int, int], float] = {}
        for link in self.links:
            a, b = self.index[link.u], self.index[link.v]
            # the least-latency parallel link is the one routed on
            k = (min(a, b), max(a, b))
            if k not in bw or link.latency_ms < bw[k]:
                bw[k] = link.latency_ms
        tx_of: dict[tuple[int, int], float] = {}
        for link in self.links:
            a, b = self.index[link.u], self.index[link.v]
            k = (min(a, b), max(a, b))
            if link.latency_ms == bw[k]:
                tx_of[k] = payload_kb * 8.0 / link.bandwidth_mbps
        tx = np.zeros(len(self.names))
        for target in range(len(self.names)):
            total, node = 0.0, target
            while node != key[0]:
                prev = int(pred[node])
                total += tx_of[(min(prev, node), max(prev, node))]
                node = prev
            tx[target] = total
        out = (np.asarray(dist, dtype=float), tx)
        self._cache[key] = out
        return out


def hierarchical(
    *,
    metros: int = 4,
    cos_per_metro: int = 4,
    aps_per_co: int = 1,
    cloud: bool = True,
    latency_ms: dict[str, float] | None = None,
    bandwidth_mbps: dict[str, float] | None = None,
) -> Topology:
    """An ISP-like tree: ``ap-M-C-A`` - ``co-M-C`` - ``metro-M`` - ``core`` - ``cloud``.

    ``latency_ms`` and ``bandwidth_mbps`` map the link levels ``access`` (AP to CO backhaul),
    ``co_metro``, ``metro_core`` and ``core_cloud`` to values; missing levels take the ASET
    preset's (2, 1, 3, 15 ms; 10 000, 10 000, 40 000, 100 000 Mbps). The clients' own uplink
    (50 Mbps in the preset) is not a link: the simulator charges it as the uplink delay.

    Example:
        >>> topo = hierarchical(metros=2, cos_per_metro=2)
        >>> len(topo.of_kind("co")), len(topo.of_kind("access"))
        (4, 4)
        >>> float(topo.delays("ap-0-0-0", 0.0)[0][topo.index["cloud"]])
        21.0
    """
    if min(metros, cos_per_metro, aps_per_co) < 1:
        raise ConfigError(
            "hierarchical topology: metros, cos_per_metro and aps_per_co must be >= 1."
        )
    lat = {"access": 2.0, "co_metro": 1.0, "metro_core": 3.0, "core_cloud": 15.0}
    bw = {"access": 10_000.0, "co_metro": 10_000.0, "metro_core": 40_000.0, "core_cloud": 100_000.0}
    lat.update(latency_ms or {})
    bw.update(bandwidth_mbps or {})
    names, kinds, links = ["core"], ["core"], []
    if cloud:
        names.append("cloud")
        kinds.append("cloud")
        links.append(Link("core", "cloud", lat["core_cloud"], bw["core_cloud"]))
    for m in range(metros):
        metro = f"metro-{m}"
        names.append(metro)
        kinds.append("metro")
        links.append(Link(metro, "core", lat["metro_core"], bw["metro_core"]))
        for c in range(cos_per_metro):
            co = f"co-{m}-{c}"
            names.append(co)
            kinds.append("co")
            links.append(Link(co, metro, lat["co_metro"], bw["co_metro"]))
            for a in range(aps_per_co):
                ap = f"ap-{m}-{c}-{a}"
                names.append(ap)
                kinds.append("access")
                links.append(Link(ap, co, lat["access"], bw["access"]))
    return Topology(names, kinds, links, source="hierarchical topology")


def _haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


#: Largest GraphML file read.
MAX_GRAPHML_BYTES = 16 * 2**20


def load_graphml(path: str | Path) -> Topology:
    """Read a topology from a GraphML file.

    Nodes may carry ``kind`` (default ``site``) and ``label``/``name`` is ignored in favour of
    the node id. Edges carry ``latency_ms`` and ``bandwidth_mbps``; when ``latency_ms`` is
    missing but both ends have ``Latitude``/``Longitude`` (Topology Zoo), the latency is the
    great-circle distance at 5 us/km; ``LinkSpeedRaw`` (bit/s) is used for a missing
    bandwidth, else 10 Gbps.

    Raises:
        ConfigError: unreadable or malformed XML, a missing id, a link without any way to
            know its latency, or an invalid topology (see :class:`Topology`).
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_GRAPHML_BYTES:
            raise ConfigError(f"{path}: larger than 16 MiB; not a topology file.")
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the GraphML file: {exc.strerror or exc}.") from None
    head = raw[:65536].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in raw.upper():
        line = raw[: max(raw.upper().find(b"<!DOCTYPE"), raw.upper().find(b"<!ENTITY"))].count(
            b"\n"
        )
        raise ConfigError(
            f"{path}, line {line + 1}: a DOCTYPE or ENTITY declaration; GraphML needs neither "
            "and entities are refused (no expansion, no external files)."
        )
    try:
        root = ET.fromstring(raw)
    except RecursionError:
        raise ConfigError(f"{path}: XML nested too deeply.") from None
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else "?"
        raise ConfigError(f"{path}, line {line}: not valid XML ({exc}).") from None
    ns = {"g": GRAPHML_NS}
    if root.tag not in (f"{{{GRAPHML_NS}}}graphml", "graphml"):
        raise ConfigError(f"{path}: not a GraphML file (root element {root.tag!r}).")
    prefix = "g:" if root.tag.startswith("{") else ""
    keys: dict[str, str] = {}
    for key in root.findall(f"{prefix}key", ns):
        keys[key.get("id", "")] = key.get("attr.name", key.get("id", ""))
    graph = root.find(f"{prefix}graph", ns)
    if graph is None:
        raise ConfigError(f"{path}: the GraphML file has no <graph> element.")

    def attrs(elem: ET.Element) -> dict[str, str]:
        return {
            keys.get(d.get("key", ""), d.get("key", "")): (d.text or "").strip()
            for d in elem.findall(f"{prefix}data", ns)
        }

    names: list[str] = []
    kinds: list[str] = []
    coords: dict[str, tuple[float, float]] = {}
    for node in graph.findall(f"{prefix}node", ns):
        nid = node.get("id")
        if not nid:
            raise ConfigError(f"{path}: a <node> has no id.")
        a = attrs(node)
        names.append(nid)
        kinds.append(a.get("kind", "site") or "site")
        try:
            if "Latitude" in a and "Longitude" in a:
                coords[nid] = (float(a["Latitude"]), float(a["Longitude"]))
        except ValueError:
            pass
    links: list[Link] = []
    for edge in graph.findall(f"{prefix}edge", ns):
        u, v = edge.get("source"), edge.get("target")
        if not u or not v:
            raise ConfigError(f"{path}: an <edge> lacks its source or target.")
        a = attrs(edge)
        try:
            if a.get("latency_ms"):
                latency = float(a["latency_ms"])
            elif u in coords and v in coords:
                latency = max(0.01, _haversine_km(coords[u], coords[v]) * MS_PER_KM)
            else:
                raise ConfigError(
                    f"{path}: edge {u!r}-{v!r} has no latency_ms and its ends have no "
                    "coordinates to derive one from."
                )
            if a.get("bandwidth_mbps"):
                bandwidth = float(a["bandwidth_mbps"])
            elif a.get("LinkSpeedRaw"):
                bandwidth = float(a["LinkSpeedRaw"]) / 1e6
            else:
                bandwidth = DEFAULT_BANDWIDTH_MBPS
        except ValueError as exc:
            raise ConfigError(f"{path}: edge {u!r}-{v!r}: not a number ({exc}).") from None
        links.append(Link(u, v, latency, bandwidth))
    return Topology(names, kinds, links, source=str(path))


def save_graphml(topology: Topology, path: str | Path) -> None:
    """Write a topology as GraphML (node ``kind``; edge ``latency_ms``, ``bandwidth_mbps``)."""
    ET.register_namespace("", GRAPHML_NS)
    root = ET.Element(f"{{{GRAPHML_NS}}}graphml")
    for kid, target, name, typ in (
        ("d0", "node", "kind", "string"),
        ("d1", "edge", "latency_ms", "double"),
        ("d2", "edge", "bandwidth_mbps", "double"),
    ):
        ET.SubElement(
            root,
            f"{{{GRAPHML_NS}}}key",
            {"id": kid, "for": target, "attr.name": name, "attr.type": typ},
        )
    graph = ET.SubElement(root, f"{{{GRAPHML_NS}}}graph", {"edgedefault": "undirected"})
    for name, kind in zip(topology.names, topology.kinds, strict=True):
        node = ET.SubElement(graph, f"{{{GRAPHML_NS}}}node", {"id": name})
        ET.SubElement(node, f"{{{GRAPHML_NS}}}data", {"key": "d0"}).text = kind
    for link in topology.links:
        edge = ET.SubElement(graph, f"{{{GRAPHML_NS}}}edge", {"source": link.u, "target": link.v})
        ET.SubElement(edge, f"{{{GRAPHML_NS}}}data", {"key": "d1"}).text = repr(link.latency_ms)
        ET.SubElement(edge, f"{{{GRAPHML_NS}}}data", {"key": "d2"}).text = repr(link.bandwidth_mbps)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
