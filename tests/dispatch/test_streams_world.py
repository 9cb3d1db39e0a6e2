"""Scenario files and presets: validation at the edge, data tables, load patterns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgesched.core.errors import ConfigError
from edgesched.dispatch.catalogue import Catalogue
from edgesched.dispatch.streams.scenario import load, presets
from edgesched.dispatch.streams.world import StreamWorld, pattern_rate


def test_presets_exist_and_declare_their_world() -> None:
    """The three ASET presets and their -abundant predecessors ship, the default first, each
    with world and description."""
    names = list(presets())
    assert names[0] == "aset-full-edge"
    for layout in ("aset-full-edge", "aset-mixed", "aset-cloud"):
        assert {layout, f"{layout}-abundant"} <= set(names)
    for name, text in presets().items():
        assert text, name


@pytest.mark.parametrize(
    ("name", "clusters", "accelerators"),
    [
        ("aset-full-edge", 18, 18),
        ("aset-mixed", 5, 18),
        ("aset-cloud", 1, 18),
        ("aset-full-edge-abundant", 16, 64),
        ("aset-mixed-abundant", 5, 64),
        ("aset-cloud-abundant", 1, 64),
    ],
)
def test_preset_layouts_share_their_accelerators(
    name: str, clusters: int, accelerators: int
) -> None:
    """Full-edge, mixed and cloud-only layouts differ in where the same number of
    accelerators are (18 in the paper's regime, 64 in the abundant presets)."""
    world = load(name)
    assert world.n_clusters == clusters
    assert world.n_acc == accelerators
    assert len(world.access_points) == 4


def test_loaded_access_points_are_spread_over_metros() -> None:
    """The default 4 loaded access points hang from 4 different metros."""
    world = load("aset-full-edge")
    assert sorted(ap.split("-")[1] for ap in world.access_points) == ["0", "1", "2", "3"]


def test_default_data_tables_match_the_spec() -> None:
    """The legacy data set holds the spec's accuracy and processing-time figures."""
    cat = Catalogue.load(dataset="legacy")
    assert len(cat.variants) == 12
    i = cat.variants.index("yolov5x")
    assert cat.accuracy[i] == pytest.approx(0.507)
    assert cat.processing_ms["jetson-nano"][i] == pytest.approx(500)
    assert cat.processing_ms["cloud-gpu"][cat.variants.index("vit_b_16")] == pytest.approx(3.0)
    assert cat.devices["xavier-nx"].max_workloads == 6


def test_load_options_override_the_scenario() -> None:
    """--lambda, --pattern and --duration replace the scenario's load."""
    world = load("aset-full-edge", lam=20, pattern="fast", duration_s=30)
    assert world.scenario.load.lam == 20
    assert world.scenario.load.pattern == "fast"
    assert world.scenario.load.duration_s == 30


def test_patterns_change_every_150_s() -> None:
    """fast cycles 20, 60, 100; steady goes 60, 40, 20, 40 and back to 60."""
    fast = pattern_rate(60, "fast", 600)
    assert [fast.rate_at(t) for t in (0, 149, 150, 300, 450)] == [20, 20, 60, 100, 20]
    steady = pattern_rate(60, "steady", 750)
    assert [steady.rate_at(t) for t in (0, 150, 300, 450, 600)] == [60, 40, 20, 40, 60]
    assert pattern_rate(35, None, 600).rate_at(500) == 35


def test_network_delay_includes_both_ways_and_uplink(
    make_world: Callable[..., StreamWorld],
) -> None:
    """net = 2 x latency + forward transmission; uplink = 50 kB / 50 Mbps = 8 ms."""
    world = make_world()
    assert world.uplink_ms[0] == pytest.approx(8.0)
    tx = 400 / 1000  # 50 kB over the 1 Gbps access links
    np.testing.assert_allclose(
        world.net_ms[0, :, 0], [2 * 1 + tx, 2 * 3 + tx, 2 * 6 + tx + 400 / 10_000]
    )


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_bad_field_names_file_line_and_field(tmp_path: Path) -> None:
    """A wrong value is reported with the file, its line and the field path."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "world: dispatch\nclusters:\n  - {kind: co, device: edge-gpu, accelerators: 4}\n"
        "load:\n  lam: -3\n"
    )
    with pytest.raises(ConfigError, match=r"s\.yaml, line 5: field 'load\.lam'"):
        load(path)


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    """A typo in a field name is an error, not silently ignored."""
    path = _write(
        tmp_path,
        {
            "world": "dispatch",
            "clusters": [{"kind": "co", "device": "edge-gpu", "accelerators": 1}],
            "windw_s": 5,
        },
    )
    with pytest.raises(ConfigError, match="windw_s"):
        load(path)


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ({"kind": "co", "device": "tpu", "accelerators": 1}, "unknown device class 'tpu'"),
        ({"sites": ["nowhere"], "device": "edge-gpu", "accelerators": 1}, "no site 'nowhere'"),
        ({"kind": "moon", "device": "edge-gpu", "accelerators": 1}, "no site of kind 'moon'"),
        ({"device": "edge-gpu", "accelerators": 1}, "exactly one of 'kind' or 'sites'"),
        (
            {"kind": "co", "device": "edge-gpu", "accelerators": 1, "variants": ["vgg"]},
            "unknown variant 'vgg'",
        ),
    ],
)
def test_bad_clusters_are_refused(tmp_path: Path, cluster: dict, message: str) -> None:
    """Unknown devices, sites, kinds or variants are refused with a clear message."""
    path = _write(tmp_path, {"world": "dispatch", "clusters": [cluster]})
    with pytest.raises(ConfigError, match=message):
        load(path)


def test_variants_too_big_for_the_device_are_refused(tmp_path: Path) -> None:
    """Deploying more model memory than the device has is refused."""
    variants = tmp_path / "variants.csv"
    variants.write_text("task,variant,accuracy,memory_mb\nclassification,huge,0.9,9000\n")
    processing = tmp_path / "proc.csv"
    processing.write_text("variant,jetson-nano\nhuge,10\n")
    path = _write(
        tmp_path,
        {
            "world": "dispatch",
            "clusters": [{"kind": "co", "device": "jetson-nano", "accelerators": 1}],
            "applications": [
                {
                    "name": "a",
                    "task": "classification",
                    "min_accuracy": 0.5,
                    "max_delay_ms": 100,
                    "fps": 1,
                }
            ],
            "data": {"variants": "variants.csv", "processing": "proc.csv"},
        },
    )
    with pytest.raises(ConfigError, match=r"more than the 4\.0 GB"):
        load(path)


def test_bad_data_table_names_line_and_column(tmp_path: Path) -> None:
    """A non-number in a replacement processing table names its line and column."""
    processing = tmp_path / "proc.csv"
    processing.write_text("variant,edge-gpu\nresnet50,fast\n")
    path = _write(
        tmp_path,
        {
            "world": "dispatch",
            "clusters": [{"kind": "co", "device": "edge-gpu", "accelerators": 1}],
            "data": {"processing": "proc.csv"},
        },
    )
    with pytest.raises(ConfigError, match=r"proc\.csv, line 2, column 'edge-gpu'"):
        load(path)


def test_application_without_models_is_refused(tmp_path: Path) -> None:
    """An application whose task no variant serves is refused."""
    path = _write(
        tmp_path,
        {
            "world": "dispatch",
            "clusters": [{"kind": "co", "device": "edge-gpu", "accelerators": 1}],
            "applications": [
                {
                    "name": "s",
                    "task": "segmentation",
                    "min_accuracy": 0.5,
                    "max_delay_ms": 100,
                    "fps": 1,
                }
            ],
        },
    )
    with pytest.raises(ConfigError, match="no model variant for task 'segmentation'"):
        load(path)


def test_unknown_scenario_is_refused() -> None:
    """A name that is neither a preset nor a file lists the presets."""
    with pytest.raises(ConfigError, match="aset-full-edge"):
        load("aset-nowhere")


def test_a_scenario_file_is_named_by_its_stem(tmp_path: Path) -> None:
    """Without a name field, a scenario file takes its file name (run folders use it)."""
    path = tmp_path / "my-net.yaml"
    path.write_text(
        "world: dispatch\nclusters:\n  - {kind: co, device: edge-gpu, accelerators: 1}\n"
    )
    assert load(path).name == "my-net"


def test_paper_regime_loses_queries_both_ways_and_abundant_does_not() -> None:
    """At lambda 60 the best of three good static policies loses queries to QoS violations
    and to rejections on aset-full-edge, and the best one changes with the load; on the
    abundant preset it loses almost none (one fixed seed, 150 s)."""
    from edgesched.dispatch.streams.schedulers import make
    from edgesched.dispatch.streams.simulator import StreamSim

    def ratios(scenario: str, lam: float) -> dict[str, np.ndarray]:
        world = load(scenario, lam=lam, duration_s=150)
        out = {}
        for name in ("closest", "fastest", "least-loaded"):
            c = StreamSim(world, 0).run(make(name)).counts.sum(axis=0)
            out[name] = c / c.sum()
        return out

    tight = ratios("aset-full-edge", 60)
    best = max(tight, key=lambda n: tight[n][0])
    assert tight[best][0] < 0.95
    assert tight[best][1] > 0.01 and tight[best][2] > 0
    low = ratios("aset-full-edge", 20)
    assert max(low, key=lambda n: low[n][0]) != best
    rich = ratios("aset-full-edge-abundant", 60)
    assert max(r[0] for r in rich.values()) > 0.999
