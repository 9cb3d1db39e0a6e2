"""Topology: the hierarchical generator, GraphML round-trip, refusing bad graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesched.core.errors import ConfigError
from edgesched.dispatch.streams.topology import (
    Link,
    Topology,
    hierarchical,
    load_graphml,
    save_graphml,
)


def test_hierarchical_counts_and_kinds() -> None:
    """The generator builds 1 core, 1 cloud, M metros, M*C COs and M*C*A access points."""
    topo = hierarchical(metros=3, cos_per_metro=2, aps_per_co=2)
    assert len(topo.of_kind("metro")) == 3
    assert len(topo.of_kind("co")) == 6
    assert len(topo.of_kind("access")) == 12
    assert topo.of_kind("cloud") == ["cloud"] and topo.of_kind("core") == ["core"]
    assert len(topo.links) == len(topo) - 1  # a tree


def test_hierarchical_latencies_follow_the_preset() -> None:
    """AP->CO 2, CO->metro 1, metro->core 3, core->cloud 15 ms one way."""
    topo = hierarchical()
    lat, _ = topo.delays("ap-0-0-0", 0.0)
    at = topo.index
    assert lat[at["co-0-0"]] == pytest.approx(2.0)
    assert lat[at["co-0-1"]] == pytest.approx(4.0)  # via metro-0
    assert lat[at["metro-0"]] == pytest.approx(3.0)
    assert lat[at["co-1-0"]] == pytest.approx(2 + 1 + 3 + 3 + 1)
    assert lat[at["cloud"]] == pytest.approx(21.0)


def test_transmission_sums_over_the_forward_path() -> None:
    """50 kB (400 kbit) costs payload / bandwidth on every link of the forward path."""
    topo = hierarchical(bandwidth_mbps={"access": 100.0})
    _, tx = topo.delays("ap-0-0-0", 50.0)
    assert tx[topo.index["co-0-0"]] == pytest.approx(4.0)
    assert tx[topo.index["metro-0"]] == pytest.approx(4.0 + 400 / 10_000)


def test_routing_takes_the_least_latency_path() -> None:
    """With a direct slow link and a two-hop fast path, the two-hop path is used."""
    topo = Topology(
        ["a", "b", "c"],
        ["access", "co", "co"],
        [Link("a", "c", 10.0, 100.0), Link("a", "b", 1.0, 100.0), Link("b", "c", 2.0, 100.0)],
    )
    lat, tx = topo.delays("a", 100.0)
    assert lat[topo.index["c"]] == pytest.approx(3.0)
    assert tx[topo.index["c"]] == pytest.approx(2 * 800 / 100)


def test_graphml_round_trip(tmp_path: Path) -> None:
    """Writing a topology as GraphML and reading it back gives the same sites, links, delays."""
    topo = hierarchical(metros=2, cos_per_metro=3)
    path = tmp_path / "t.graphml"
    save_graphml(topo, path)
    back = load_graphml(path)
    assert back.names == topo.names and back.kinds == topo.kinds
    assert back.links == topo.links
    for src in ("ap-0-0-0", "ap-1-2-0"):
        for a, b in zip(topo.delays(src, 50.0), back.delays(src, 50.0), strict=True):
            np.testing.assert_allclose(a, b)


def test_graphml_latency_from_coordinates(tmp_path: Path) -> None:
    """A Topology-Zoo-like edge without latency_ms gets one from the great-circle distance."""
    path = tmp_path / "zoo.graphml"
    path.write_text(
        """<?xml version="1.0" encoding="utf-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key id="d0" for="node" attr.name="Latitude" attr.type="double"/>
  <key id="d1" for="node" attr.name="Longitude" attr.type="double"/>
  <key id="d2" for="edge" attr.name="LinkSpeedRaw" attr.type="double"/>
  <graph edgedefault="undirected">
    <node id="0"><data key="d0">0.0</data><data key="d1">0.0</data></node>
    <node id="1"><data key="d0">0.0</data><data key="d1">1.0</data></node>
    <edge source="0" target="1"><data key="d2">1000000000</data></edge>
  </graph>
</graphml>
"""
    )
    topo = load_graphml(path)
    assert topo.links[0].latency_ms == pytest.approx(111.19 * 0.005, rel=1e-3)
    assert topo.links[0].bandwidth_mbps == pytest.approx(1000.0)


def test_disconnected_topology_is_refused() -> None:
    """A site with no path to the others is named in the error."""
    with pytest.raises(ConfigError, match=r"disconnected.*'island'"):
        Topology(["a", "b", "island"], ["access", "co", "co"], [Link("a", "b", 1.0, 10.0)])


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ([Link("a", "a", 1.0, 10.0), Link("a", "b", 1.0, 10.0)], "self-loop"),
        ([Link("a", "b", 0.0, 10.0)], "latency_ms must be a number > 0"),
        ([Link("a", "b", 1.0, -1.0)], "bandwidth_mbps must be a number > 0"),
        ([Link("a", "zz", 1.0, 10.0)], "unknown site 'zz'"),
    ],
)
def test_bad_links_are_refused(links: list[Link], message: str) -> None:
    """Self-loops, non-positive latency or bandwidth, and unknown ends are refused."""
    with pytest.raises(ConfigError, match=message):
        Topology(["a", "b"], ["access", "co"], links)


def test_duplicate_site_is_refused() -> None:
    """Two sites with one name are refused."""
    with pytest.raises(ConfigError, match="defined twice"):
        Topology(["a", "a"], ["access", "co"], [])


def test_malformed_graphml_is_refused(tmp_path: Path) -> None:
    """Broken XML is refused with the file and the line."""
    path = tmp_path / "bad.graphml"
    path.write_text('<graphml xmlns="http://graphml.graphdrawing.org/xmlns">\n<graph>\n<node')
    with pytest.raises(ConfigError, match=r"bad\.graphml, line \d+: not valid XML"):
        load_graphml(path)


def test_graphml_edge_without_latency_is_refused(tmp_path: Path) -> None:
    """An edge with neither latency_ms nor coordinates cannot be timed."""
    path = tmp_path / "nolat.graphml"
    path.write_text(
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph>'
        '<node id="a"/><node id="b"/><edge source="a" target="b"/></graph></graphml>'
    )
    with pytest.raises(ConfigError, match="no latency_ms"):
        load_graphml(path)


def test_disconnected_graphml_is_refused(tmp_path: Path) -> None:
    """A GraphML map in two parts is refused, naming the file."""
    path = tmp_path / "split.graphml"
    topo_nodes = "".join(f'<node id="{n}"/>' for n in "abcd")
    path.write_text(
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
        '<key id="l" for="edge" attr.name="latency_ms" attr.type="double"/><graph>'
        f"{topo_nodes}"
        '<edge source="a" target="b"><data key="l">1</data></edge>'
        '<edge source="c" target="d"><data key="l">1</data></edge></graph></graphml>'
    )
    with pytest.raises(ConfigError, match=r"split\.graphml: the topology is disconnected"):
        load_graphml(path)
