"""The recalibrated data tables of the dispatch world (issue 11): they load, every value has a
source, the legacy data set stays selectable, and bad table files are refused naming file,
line and field."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgesched.core.errors import ConfigError
from edgesched.dispatch.catalogue import BASES, Catalogue, data_path
from edgesched.dispatch.devices.scenario import load

FIELDS = ("memory_gb", "idle_w", "active_w", "max_w", "max_workloads", "degradation")


def test_default_tables_load_and_every_value_has_a_source() -> None:
    """Every processing time of the defaults has a basis and a source; every device field too."""
    cat = Catalogue.load()
    given = 0
    for device, times in cat.processing_ms.items():
        for i, ms in enumerate(times.tolist()):
            if math.isnan(ms):
                continue
            given += 1
            basis, source = cat.processing_sources[(cat.variants[i], device)]
            assert basis in BASES and len(source) > 10, (cat.variants[i], device)
    assert given == len(cat.processing_sources) == len(cat.variants) * len(cat.devices)
    for name, dev in cat.devices.items():
        assert set(dev.sources) == set(FIELDS), name


def test_published_stock_pytorch_figures_are_adopted_as_they_are() -> None:
    """The Nano's ResNet figures are torch2trt's stock-PyTorch latencies, marked so."""
    cat = Catalogue.load()
    nano = cat.processing_ms["jetson-nano"]
    for variant, ms in (("resnet18", 34.7), ("resnet50", 81.7), ("resnet152", 204.0)):
        assert nano[cat.variants.index(variant)] == pytest.approx(ms)
        basis, source = cat.processing_sources[(variant, "jetson-nano")]
        assert basis == "pytorch" and "torch2trt" in source


def test_fastest_and_most_frugal_device_differ_on_ecsrl_17k() -> None:
    """On ecsrl-17k the Xavier NX is the fastest edge device for both tasks, and not the one
    with the least energy per inference alone (active power x solo time)."""
    w = load("ecsrl-17k", duration_s=1)
    D = w.n_edge
    for t in range(len(w.tasks)):
        v = int(w.edge_variant[t])
        ms = w.proc_ms[:D, v]
        joules = w.active_w[:D] * ms
        assert w.machine_names[int(np.argmin(ms))] == "xavier-nx-0"
        assert w.machine_names[int(np.argmin(joules))] != "xavier-nx-0"


def test_legacy_data_set_is_selectable() -> None:
    """`data: {dataset: legacy}` gives the tables before the recalibration."""
    legacy = Catalogue.load(dataset="legacy")
    i = legacy.variants.index("resnet18")
    assert legacy.processing_ms["jetson-nano"][i] == pytest.approx(15.0)
    assert legacy.devices["xavier-nx"].max_workloads == 6
    assert legacy.processing_sources == {}
    w = load("ecsrl-17k-legacy", duration_s=1)
    assert w.proc_ms[0, list(w.variants).index("resnet18")] == pytest.approx(15.0)


def long_table(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "p.csv"
    path.write_text("variant,device,ms,basis,source\n" + body)
    return path


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("resnet18,jetson-nano,abc,pytorch,x\n", "line 2, column 'ms'"),
        ("resnet18,jetson-nano,-3,pytorch,x\n", "line 2, column 'ms'"),
        ("resnet18,jetson-nano,3,pytorch,x\nresnet18,jetson-nano,4,pytorch,x\n", "line 3"),
        ("resnet18,jetson-nanoo,3,pytorch,x\n", "line 2, column 'device'"),
        ("resnet18x,jetson-nano,3,pytorch,x\n", "line 2, column 'variant'"),
        ("resnet18,jetson-nano,3,guess,x\n", "line 2, column 'basis'"),
        ("resnet18,jetson-nano,3,pytorch,\n", "line 2, column 'source'"),
        ("resnet18,jetson-nano,3\n", "line 2: 3 cells"),
    ],
)
def test_bad_processing_table_is_refused(tmp_path: Path, body: str, where: str) -> None:
    """A bad processing-table row names the file, the line and the column."""
    path = long_table(tmp_path, body)
    with pytest.raises(ConfigError, match="p.csv, " + where.replace("(", r"\(")):
        Catalogue.load(processing=path)


def test_bad_device_source_is_refused(tmp_path: Path) -> None:
    """A source for an unknown field, or an empty one, names the file, line and field."""
    data = yaml.safe_load(data_path("devices.yaml").read_text())
    data["devices"]["jetson-nano"]["sources"]["idle_ww"] = "typo"
    path = tmp_path / "devices.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"devices.yaml, line \d+.*jetson-nano.sources.idle_ww"):
        Catalogue.load(devices=path)
    data["devices"]["jetson-nano"]["sources"] = {"idle_w": ""}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"jetson-nano.sources.idle_w"):
        Catalogue.load(devices=path)


def test_wide_tables_still_load(tmp_path: Path) -> None:
    """A wide table (variant + one column per class), as profiles write, loads as before."""
    path = tmp_path / "w.csv"
    path.write_text("variant,jetson-nano\nresnet18,12.5\n")
    cat = Catalogue.load(processing=path)
    assert cat.processing_ms["jetson-nano"][cat.variants.index("resnet18")] == 12.5
    assert np.isnan(cat.processing_ms["xavier-nx"]).all()
