"""The profiler's output loads into the simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgesched.dispatch.devices.schedulers import make
from edgesched.dispatch.devices.simulator import DeviceSim
from edgesched.live.scenarios import load_world


def test_profile_output_loads_into_the_simulator(tmp_path: Path) -> None:
    """`profile` writes the profile, its two tables and the heat map; a simulated run of
    live-host with it uses the measured times and coefficients."""
    out = tmp_path / "prof" / "profile.yaml"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgesched.live",
            "profile",
            "--tiny",
            "--variants",
            "resnet18",
            "ssd_mobilenet_v2",
            "--max-concurrency",
            "2",
            "--repeats",
            "2",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr
    prof = yaml.safe_load(out.read_text())
    for name in ("profile.devices.yaml", "profile.processing.csv", "profile.png"):
        assert (out.parent / name).stat().st_size > 0
    assert len(prof["slowdown"]["host-core"]["resnet18"]["ssd_mobilenet_v2"]) == 2
    world = load_world("live-host", profile=out, duration_s=2)
    v = world.variants.index("resnet18")
    assert world.proc_ms[0, v] == pytest.approx(prof["processing_ms"]["resnet18"]["host-core"])
    pair = next(
        p
        for p in prof["degradation"]
        if p["device"] == "host-core" and p["variants"] == ["resnet18", "ssd_mobilenet_v2"]
    )
    s = world.variants.index("ssd_mobilenet_v2")
    assert world.coef[0, v, s] == pytest.approx(pair["coefficient"])
    result = DeviceSim(world, seed=0).run(make("fastest-expected"))
    assert result.count == len(result.outcome) > 0


def test_bad_profile_names_the_field(tmp_path: Path) -> None:
    """A profile without its sections is refused with the file named."""
    from edgesched.core.errors import ConfigError

    bad = tmp_path / "p.yaml"
    bad.write_text("devices: {}\n")
    with pytest.raises(ConfigError, match=r"p\.yaml"):
        load_world("live-host", profile=bad)
