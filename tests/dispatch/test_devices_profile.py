"""A measured host profile applied to a device scenario (`edgesched compare --profile`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgesched.cli import main
from edgesched.core.errors import ConfigError
from edgesched.dispatch.devices.scenario import load, presets
from edgesched.dispatch.devices.schedulers import make
from edgesched.dispatch.devices.simulator import DeviceSim

PROFILE = """\
devices:
  host-core: {memory_gb: 4, idle_w: 2, active_w: 6, max_w: 14, max_workloads: 3, degradation: 0.9}
processing_ms:
  resnet18: {host-core: 30}
  ssd_mobilenet_v2: {host-core: 20}
degradation:
  - {device: host-core, variants: [resnet18, ssd_mobilenet_v2], coefficient: 0.7}
"""


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(PROFILE)
    return path


def test_live_host_is_a_preset_and_its_tables_are_not() -> None:
    names = presets()
    assert "live-host" in names
    assert not any(n.startswith("live-devices") or n.startswith("data") for n in names)


NANO = """\
devices:
  jetson-nano: {memory_gb: 4, idle_w: 1.5, active_w: 2.5, max_w: 10, max_workloads: 3,
    degradation: 0.5}
processing_ms:
  resnet18: {jetson-nano: 99}
"""


def test_profile_replaces_measured_classes_only(tmp_path: Path) -> None:
    path = tmp_path / "nano.yaml"
    path.write_text(NANO)
    base = load("ecsrl-17k", duration_s=2)
    prof = load("ecsrl-17k", duration_s=2, profile=path)
    r18 = list(base.variants).index("resnet18")
    nano = [i for i, c in enumerate(base.machine_class) if c == "jetson-nano"]
    other = [i for i, c in enumerate(base.machine_class) if c != "jetson-nano"]
    assert nano and other
    assert (prof.proc_ms[nano, r18] == 99).all()
    assert not (base.proc_ms[nano, r18] == 99).any()
    assert np.array_equal(prof.proc_ms[other], base.proc_ms[other], equal_nan=True)
    assert np.array_equal(prof.coef[other], base.coef[other])
    assert not np.array_equal(prof.coef[nano], base.coef[nano])


def test_profile_changes_the_simulated_run(profile: Path) -> None:
    base = load("live-host", duration_s=5)
    prof = load("live-host", duration_s=5, profile=profile)
    a = DeviceSim(base, 1).run(make("fastest-expected"))
    b = DeviceSim(prof, 1).run(make("fastest-expected"))
    assert (a.requests.arrival_ms == b.requests.arrival_ms).all()
    assert b.base_ms[b.served].mean() > a.base_ms[a.served].mean()


def test_bad_profile_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices: {}\n")
    with pytest.raises(ConfigError, match="processing_ms"):
        load("live-host", profile=bad)
    with pytest.raises(ConfigError, match="no such file"):
        load("live-host", profile=tmp_path / "missing.yaml")


def test_compare_profile(tmp_path: Path, profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["compare", "live-host", "--seeds", "1", "--jobs", "1", "--duration", "5"]
    args += ["--schedulers", "fastest-expected", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--profile", str(profile)]) == 0
    a = json.loads((tmp_path / "a" / "summary.json").read_text())["schedulers"]["fastest-expected"]
    b = json.loads((tmp_path / "b" / "summary.json").read_text())["schedulers"]["fastest-expected"]
    assert b["p50_delay_ms"] > a["p50_delay_ms"]


def test_compare_profile_refused_outside_devices(
    tmp_path: Path, profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgesched.dispatch.streams.scenario import DEFAULT_SCENARIO

    rc = main(["compare", DEFAULT_SCENARIO, "--profile", str(profile), "--out", str(tmp_path)])
    assert rc != 0
    assert "--profile does not apply" in capsys.readouterr().err
