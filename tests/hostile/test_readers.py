"""Hostile and malformed inputs to every reader (YAML scenarios, CSV traces, GraphML), each
refused by the real command with exit 2, a message naming the file and field, and nothing
written."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

DATA = Path(__file__).parent.parent / "data"
PRESETS = Path(str(resources.files("edgesched.dispatch")))


def tiny(**over: Any) -> dict[str, Any]:
    base = yaml.safe_load((DATA / "tiny.yaml").read_text())
    base.update(over)
    return base


def write(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


BOMB = "\n".join(
    ["a: &a [" + ",".join(['"lol"'] * 9) + "]"]
    + [
        f"{b}: &{b} [" + ",".join([f"*{a}"] * 9) + "]"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)

#: Raw YAML scenario texts: (id, content, what the message must name).
RAW_YAML: list[tuple[str, str | bytes, list[str]]] = [
    ("binary", b"\x00\x01\x02\xff\xfe\x89PNG\r\n", ["s.yaml", "UTF-8"]),
    ("latin-1", "name: caf\xe9\n".encode("latin-1"), ["s.yaml", "line 1", "UTF-8"]),
    ("nul-byte", b"world: placement\nname: a\x00b\n", ["s.yaml"]),
    ("deep-flow", "a: " + "[" * 500 + "]" * 500 + "\n", ["s.yaml", "nested deeper"]),
    (
        "deep-block",
        "".join("  " * i + f"k{i}:\n" for i in range(80)) + "  " * 80 + "x: 1\n",
        ["s.yaml", "nested deeper"],
    ),
    ("alias-bomb", BOMB + "\n", ["s.yaml", "alias"]),
    ("many-aliases", "a: &a 1\nb: [" + ",".join(["*a"] * 200) + "]\n", ["s.yaml", "aliases"]),
    ("duplicate-key", "world: placement\nname: a\nname: b\n", ["s.yaml", "line 3", "duplicate"]),
    ("unclosed", "name: [unclosed\n", ["s.yaml", "not valid YAML"]),
    ("top-level-list", "- 1\n- 2\n", ["s.yaml", "world"]),
    ("empty", "", ["s.yaml"]),
    ("python-tag", "!!python/object/apply:os.system ['touch PWNED']\n", ["s.yaml"]),
]


@pytest.mark.parametrize("content,names", [c[1:] for c in RAW_YAML], ids=[c[0] for c in RAW_YAML])
def test_raw_yaml(refused: Callable[..., Any], tmp_path: Path, content: Any, names: list[str]):
    """A malformed or hostile YAML file is refused before anything runs."""
    path = write(tmp_path, "s.yaml", content)
    refused(
        ["compare", path, "--seeds", "1", "--out", tmp_path / "out"],
        names=names,
        out=tmp_path / "out",
    )


def _cluster(**kw: Any) -> list[dict[str, Any]]:
    return [{"count": 2, "capacity": [8, 4], **kw}]


#: Placement scenarios with one hostile field: (id, overrides, names).
PLACEMENT: list[tuple[str, dict[str, Any], list[str]]] = [
    ("capacity-as-text", {"clusters": [{"count": 2, "capacity": ["8", "4"]}]}, ["capacity"]),
    ("noise-inf", {"noise": float("inf")}, ["noise"]),
    ("noise-nan", {"noise": float("nan")}, ["noise"]),
    ("noise-huge", {"noise": 1e300}, ["noise"]),
    ("pending-slots-1e8", {"pending_slots": 100_000_000}, ["pending_slots"]),
    ("cluster-count-1e9", {"clusters": _cluster(count=1_000_000_000)}, ["count"]),
    ("timestep-1e300", {"timestep_seconds": 1e300}, ["timestep_seconds"]),
    ("grid-huge", {"allocation_grid": [10**9, 4]}, ["allocation_grid"]),
    ("name-dotdot", {"name": "../../../x"}, ["name"]),
    ("name-absolute", {"name": "/tmp/evil"}, ["name"]),
    ("name-hidden", {"name": ".hidden"}, ["name"]),
    ("name-long", {"name": "x" * 300}, ["name"]),
    ("name-empty", {"name": ""}, ["name"]),
]


def _workload(**kw: Any) -> dict[str, Any]:
    w = tiny()["workload"]
    w.update(kw)
    return w


PLACEMENT += [
    ("tasks-1e8", {"workload": _workload(tasks=100_000_000)}, ["tasks"]),
    ("rate-1e-300", {"workload": _workload(arrivals={"rate": 1e-300})}, ["rate"]),
    ("rate-as-text", {"workload": _workload(arrivals={"rate": "1"})}, ["rate"]),
    (
        "steps-all-zero",
        {"workload": _workload(arrivals={"steps": [[0, 0.0]]})},
        ["arrivals", "rate"],
    ),
    (
        "tasks-x-clusters",
        {"workload": _workload(tasks=100_000), "clusters": _cluster(count=1000)},
        ["tasks x clusters"],
    ),
]


@pytest.mark.parametrize("over,names", [c[1:] for c in PLACEMENT], ids=[c[0] for c in PLACEMENT])
def test_placement_field(refused: Callable[..., Any], tmp_path: Path, over: Any, names: list[str]):
    """A placement scenario with an out-of-range or ill-typed field names the file and field."""
    path = write(tmp_path, "s.yaml", yaml.safe_dump(tiny(**over)))
    refused(["compare", path, "--seeds", "1"], names=["s.yaml", *names])


def _devices_text(old: str, new: str) -> str:
    text = (PRESETS / "devices" / "presets" / "ecsrl-17k.yaml").read_text()
    assert old in text
    return text.replace(old, new, 1)


DEVICES: list[tuple[str, str, str, list[str]]] = [
    ("wan-inf", "wan_mbps: 6", "wan_mbps: .inf", ["wan_mbps"]),
    ("latency-nan", "lan_latency_ms: 1", "lan_latency_ms: .nan", ["lan_latency_ms"]),
    ("count-as-text", "count: 4\n", "count: '4'\n", ["count"]),
    ("name-traversal", "setting: devices\n", "setting: devices\nname: ../../etc\n", ["name"]),
    ("duplicate-cloud", "cloud:\n", "cloud: {}\ncloud:\n", ["duplicate"]),
    (
        "degradation-1e300",
        "degradation: []",
        "degradation:\n  - {device: jetson-nano, "
        "variants: [resnet18, resnet18], coefficient: 1.0e+300}",
        ["coefficient"],
    ),
    ("requests-1e9", "count: 17000", "count: 1000000000", ["count"]),
    ("max-queue-1e12", "wan_mbps: 6", "wan_mbps: 6\n  max_queue: 1000000000000", ["max_queue"]),
    (
        "deadline-1e12",
        "duration_s: 300",
        "duration_s: 300\n  deadline_ms: [100, 1.0e+12]",
        ["deadline_ms"],
    ),
]


def _streams_text(old: str, new: str) -> str:
    # the abundant preset has one cluster group, so one edit leaves nothing servable
    text = (PRESETS / "streams" / "presets" / "aset-full-edge-abundant.yaml").read_text()
    assert old in text
    return text.replace(old, new, 1)


STREAMS: list[tuple[str, str, str, list[str]]] = [
    (
        "clients-too-many",
        "lam: 60\n  duration_s: 600",
        "lam: 10000\n  duration_s: 86400",
        ["client streams"],
    ),
    ("slots-too-many", "slot_s: 1", "slot_s: 0.001", ["slots"]),
    ("access-points-1e9", "count: 4\n  lam", "count: 1000000000\n  lam", ["count"]),
    ("latency-1e300", "access: 2,", "access: 1.0e+300,", ["access"]),
    (
        "unservable-app",
        "clusters:\n  - {kind: co, device: edge-gpu, accelerators: 4}",
        "clusters:\n  - {kind: co, device: edge-gpu, accelerators: 4, variants: [yolov5n]}",
        ["no cluster deploys"],
    ),
]


@pytest.mark.parametrize("old,new,names", [c[1:] for c in STREAMS], ids=[c[0] for c in STREAMS])
def test_streams_field(
    refused: Callable[..., Any], tmp_path: Path, old: str, new: str, names: list[str]
):
    """A streams scenario too large for the machine, or that can serve no query of an
    application, is refused at load, naming the file and field."""
    path = write(tmp_path, "a.yaml", _streams_text(old, new))
    refused(["compare", path, "--seeds", "1"], names=["a.yaml", *names])


@pytest.mark.parametrize("old,new,names", [c[1:] for c in DEVICES], ids=[c[0] for c in DEVICES])
def test_devices_field(
    refused: Callable[..., Any], tmp_path: Path, old: str, new: str, names: list[str]
):
    """A devices scenario with a hostile field is refused, naming the file and field."""
    path = write(tmp_path, "d.yaml", _devices_text(old, new))
    refused(["compare", path, "--seeds", "1"], names=["d.yaml", *names])


HEADER = "arrival_s,duration_s,cpus,gpus,type,name\n"
TRACES: list[tuple[str, str | bytes, list[str]]] = [
    ("latin-1", (HEADER + "0,40,2,1,tr\xe9in,a\n").encode("latin-1"), ["UTF-8"]),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00", ["t.csv"]),
    ("huge-cell", HEADER + "0,40,2,1,train," + "x" * 10_000_000 + "\n", ["line 2"]),
    ("two-gpus-columns", "arrival_s,duration_s,cpus,gpus,gpus\n0,40,2,1,1\n", ["gpus"]),
    ("nan", HEADER + "nan,40,2,1,train,a\n", ["arrival_s"]),
    ("inf", HEADER + "0,inf,2,1,train,a\n", ["duration_s"]),
    ("arrival-1e13", HEADER + "0,40,2,1,train,a\n1e13,40,2,1,train,b\n", ["arrival_s"]),
    ("duration-1e13", HEADER + "0,1e13,2,1,train,a\n", ["duration_s"]),
    ("negative", HEADER + "-5,40,2,1,train,a\n", ["arrival_s"]),
    ("ragged", HEADER + "0,40,2\n", ["line 2"]),
    ("missing-column", "arrival_s,cpus,gpus\n0,2,1\n", ["duration_s"]),
    ("text-number", HEADER + "zero,40,2,1,train,a\n", ["arrival_s"]),
    ("header-only", HEADER, ["t.csv"]),
    ("empty", "", ["t.csv"]),
]


@pytest.mark.parametrize("content,names", [c[1:] for c in TRACES], ids=[c[0] for c in TRACES])
def test_trace(refused: Callable[..., Any], tmp_path: Path, content: Any, names: list[str]):
    """A malformed placement trace is refused, naming the file, line and column."""
    path = write(tmp_path, "t.csv", content)
    refused(
        ["compare", DATA / "tiny.yaml", "--trace", path, "--seeds", "1"],
        names=["t.csv", *names],
    )


GRAPHML_BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph><node id="&lol9;"/></graph>
</graphml>
"""
GRAPHMLS: list[tuple[str, str | bytes, list[str]]] = [
    ("entity-bomb", GRAPHML_BOMB, ["DOCTYPE"]),
    (
        "external-entity",
        '<?xml version="1.0"?><!DOCTYPE g [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph>&x;</graph></graphml>',
        ["ENTITY"],
    ),
    ("malformed", "<graphml><graph><node id='a'></graph>", ["XML"]),
    ("binary", b"\x00\xff\xfe\x00garbage", ["XML"]),
    ("deep", "<graphml>" + "<g>" * 100_000 + "</g>" * 100_000 + "</graphml>", ["t.graphml"]),
    ("not-graphml", "<html><body/></html>", ["GraphML"]),
]


@pytest.mark.parametrize("content,names", [c[1:] for c in GRAPHMLS], ids=[c[0] for c in GRAPHMLS])
def test_graphml(refused: Callable[..., Any], tmp_path: Path, content: Any, names: list[str]):
    """A hostile or malformed GraphML topology is refused without expanding anything."""
    write(tmp_path, "t.graphml", content)
    text = (PRESETS / "streams" / "presets" / "aset-cloud.yaml").read_text()
    head, rest = text.split("topology:\n", 1)
    body = rest.split("clusters:", 1)[1]
    scenario = write(tmp_path, "s.yaml", head + "topology:\n  graphml: t.graphml\nclusters:" + body)
    refused(["compare", scenario, "--seeds", "1"], names=["t.graphml", *names])
