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


def _with_host(tmp: Path, profile: Path, host: dict[str, float]) -> Path:
    """A copy of a profile file with a host_overhead section."""
    prof = yaml.safe_load(profile.read_text())
    prof["host_overhead"] = {**host, "scenario": "live-host"}
    out = tmp / "with-host.yaml"
    out.write_text(yaml.safe_dump(prof))
    return out


@pytest.fixture(scope="module")
def shipped_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """live-host's own tables as a profile (no measurement needed)."""
    from edgesched.dispatch.devices.scenario import preset_dir

    tmp = tmp_path_factory.mktemp("prof")
    devices = yaml.safe_load((preset_dir() / "data" / "live-devices.yaml").read_text())
    rows = (preset_dir() / "data" / "live-processing.csv").read_text().splitlines()[1:]
    proc = {r.split(",")[0]: {"host-core": float(r.split(",")[1])} for r in rows}
    path = tmp / "profile.yaml"
    path.write_text(
        yaml.safe_dump(
            {"devices": {"host-core": devices["devices"]["host-core"]}, "processing_ms": proc}
        )
    )
    return path


def test_host_overhead_adds_its_time_to_every_served_request(
    tmp_path: Path, shipped_profile: Path
) -> None:
    """A profile's host_overhead request_ms is added to the delay of every served request,
    and nothing else changes (same outcomes' actions, same processing)."""
    base = load_world("live-host", profile=shipped_profile, duration_s=3)
    host = load_world(
        "live-host",
        profile=_with_host(tmp_path, shipped_profile, {"request_ms": 7.5}),
        duration_s=3,
    )
    assert host.scenario.host.request_ms == 7.5 and base.scenario.host.request_ms == 0
    a = DeviceSim(base, seed=1).run(make("round-robin"))
    b = DeviceSim(host, seed=1).run(make("round-robin"))
    s = a.served
    assert s.sum() > 50
    assert (a.action == b.action).all()
    assert b.processing_ms[s] == pytest.approx(a.processing_ms[s])
    assert b.delay_ms[s] == pytest.approx(a.delay_ms[s] + 7.5)


def test_host_cpu_stretches_processing_by_the_share_it_takes(
    tmp_path: Path, shipped_profile: Path
) -> None:
    """cpu_ms_per_request x rate / cores is the share of every core the host takes; a solo
    request's processing is stretched by 1 / (1 - that share)."""
    cpu, cores = 400.0, 2  # one request a second: 0.2 of each core
    world = load_world(
        "live-host",
        profile=_with_host(
            tmp_path, shipped_profile, {"cpu_ms_per_request": cpu, "cores": float(cores)}
        ),
        rate_per_min=60,
        duration_s=1,
    )
    base = load_world("live-host", profile=shipped_profile, rate_per_min=60, duration_s=1)
    a = DeviceSim(base, seed=0).run(make("round-robin"))
    b = DeviceSim(world, seed=0).run(make("round-robin"))
    assert a.count == b.count == 1 and a.served.all()
    assert b.processing_ms[0] == pytest.approx(a.processing_ms[0] / (1 - 1.0 * cpu / 1000 / cores))


def test_profile_measures_the_host_and_the_simulator_uses_it(tmp_path: Path) -> None:
    """`profile --host-overhead live-host` serves live-host with the no-op model, measures
    the time and CPU each request costs the host, writes them into the profile, and the
    simulator loads them into the scenario's host section."""
    out = tmp_path / "profile.yaml"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgesched.live",
            "profile",
            "--tiny",
            "--variants",
            "resnet18",
            "--max-concurrency",
            "1",
            "--repeats",
            "2",
            "--host-overhead",
            "live-host",
            "--host-seconds",
            "2",
            "--host-lambda",
            "600",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr
    host = yaml.safe_load(out.read_text())["host_overhead"]
    assert host["requests"] == 20 and 0 < host["served"] <= 20
    assert host["request_ms"] > 0 and host["request_ms_p99"] >= host["request_ms"]
    assert host["cpu_ms_per_request"] > 0 and host["cores"] >= 1
    world = load_world("live-host", profile=out, duration_s=2)
    assert world.scenario.host.request_ms == pytest.approx(host["request_ms"])
    assert world.scenario.host.cpu_ms_per_request == pytest.approx(host["cpu_ms_per_request"])
