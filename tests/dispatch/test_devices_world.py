"""The device model of the device setting: slow-down, memory limit, power and energy, offload,
and bad data refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edgesched.core.errors import ConfigError
from edgesched.dispatch.devices.scenario import load as load_devices
from edgesched.dispatch.devices.schedulers import make
from edgesched.dispatch.devices.simulator import DeviceSim, Requests
from edgesched.dispatch.devices.world import DeviceWorld
from edgesched.dispatch.devices.world import load_scenario as load_device_scenario
from edgesched.dispatch.outcomes import REJECTED, SUCCESS, VIOLATION

# These tests check the model's mechanics on the `legacy` data set (data/legacy/), whose
# numbers are round; the recalibrated defaults are checked in test_devices_data.py.
LEGACY = Path(__file__).resolve().parents[2] / "src/edgesched/dispatch/data/legacy"
NANO_RESNET18_MS = 15.0  # data/legacy/processing_ms.csv
NANO_SSD_MS = 25.0
NANO = {"idle_w": 1.5, "active_w": 2.5, "max_w": 10.0, "max_workloads": 3}


def edge_scenario(tmp_path: Path, **over: Any) -> Path:
    """A small device-setting scenario file on the legacy tables: one jetson-nano, one cloud
    GPU, no jitter."""
    data: dict[str, Any] = {
        "world": "dispatch",
        "setting": "devices",
        "name": "tiny-edge",
        "edge": {"devices": [{"device": "jetson-nano", "count": 1}], "lan_latency_ms": 1},
        "cloud": {"device": "cloud-gpu", "count": 1, "wan_latency_ms": 20, "wan_mbps": 20},
        "requests": {
            "count": 50,
            "duration_s": 10,
            "tasks": [
                {
                    "task": "classification",
                    "edge_variant": "resnet18",
                    "cloud_variant": "resnet152",
                },
                {
                    "task": "detection",
                    "edge_variant": "ssd_mobilenet_v2",
                    "cloud_variant": "yolov5x",
                },
            ],
            "deadline_ms": [100, 500],
            "offload_share": 0.2,
        },
        "processing_jitter": 0.0,
        "data": {"dataset": "legacy"},
    }
    for key, value in over.items():
        data[key] = {"dataset": "legacy", **value} if key == "data" else value
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def devices_file(tmp_path: Path, cls: str, **fields: float) -> Path:
    """The shipped device table with some fields of one class replaced."""
    src = LEGACY / "devices.yaml"
    data = yaml.safe_load(src.read_text())
    data["devices"][cls].update(fields)
    path = tmp_path / "devices.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    return path


def requests_at(
    world: DeviceWorld, times_ms: list[float], task: int = 0, needs_cloud: bool = False
) -> Requests:
    """Requests of one task at the given times, with a loose deadline."""
    n = len(times_ms)
    edge_acc = world.variant_acc[world.edge_variant[task]]
    return Requests(
        arrival_ms=np.array(times_ms, dtype=float),
        task=np.full(n, task),
        needs_cloud=np.full(n, needs_cloud),
        min_accuracy=np.full(n, edge_acc + (0.01 if needs_cloud else 0.0)),
        deadline_ms=np.full(n, 10_000.0),
        jitter=np.ones(n),
    )


def run_to(world: DeviceWorld, req: Requests, actions: list[int]) -> Any:
    """Dispatch request i to actions[i] and run to the end."""
    sim = DeviceSim(world, 0, requests=req)
    while (r := sim.next_request()) is not None:
        sim.dispatch(actions[r])
    return sim.result("fixed")


def test_one_workload_takes_the_profile_time(tmp_path: Path) -> None:
    """A request alone on a device is processed in exactly its profiled time."""
    world = load_device_scenario(edge_scenario(tmp_path))
    res = run_to(world, requests_at(world, [0.0, 1000.0, 2000.0]), [0, 0, 0])
    assert np.allclose(res.processing_ms, NANO_RESNET18_MS)
    assert np.allclose(res.base_ms, NANO_RESNET18_MS)


@pytest.mark.parametrize("n", [2, 3])
def test_co_running_workloads_slow_down_linearly(tmp_path: Path, n: int) -> None:
    """n workloads started together each take profile x (1 + 0.35 (n - 1))."""
    world = load_device_scenario(edge_scenario(tmp_path))
    res = run_to(world, requests_at(world, [0.0] * n), [0] * n)
    assert np.allclose(res.processing_ms, NANO_RESNET18_MS * (1 + 0.35 * (n - 1)))


def test_per_pair_coefficient_overrides_the_class_default(tmp_path: Path) -> None:
    """A resnet18 + ssd pair on a nano slows by the pair's coefficient, not the class's."""
    pairs = [
        {"device": "jetson-nano", "variants": ["resnet18", "ssd_mobilenet_v2"], "coefficient": 0.6}
    ]
    world = load_device_scenario(edge_scenario(tmp_path, degradation=pairs))
    a = requests_at(world, [0.0], task=0)
    b = requests_at(world, [0.0], task=1)
    cols = zip(vars(a).values(), vars(b).values(), strict=True)
    both = Requests(*(np.concatenate([x, y]) for x, y in cols))
    res = run_to(world, both, [0, 0])
    # together for 15 x 1.6 = 24 ms: resnet18 done; ssd did 24/1.6 = 15 of its 25 ms, then alone
    assert res.processing_ms[0] == pytest.approx(NANO_RESNET18_MS * 1.6)
    assert res.processing_ms[1] == pytest.approx(24.0 + (NANO_SSD_MS - 15.0))


def test_a_full_device_is_masked_and_never_chosen(tmp_path: Path) -> None:
    """With max_workloads in flight, the device is masked; requests past it go elsewhere."""
    world = load_device_scenario(edge_scenario(tmp_path))
    sim = DeviceSim(world, 0, requests=requests_at(world, [0.0] * 5))
    chosen = []
    while (r := sim.next_request()) is not None:
        mask = sim.mask()
        chosen.append(0 if mask[0] else world.cloud_action)
        if r >= NANO["max_workloads"]:
            assert not mask[0]
        sim.dispatch(chosen[-1])
    assert chosen == [0, 0, 0, world.cloud_action, world.cloud_action]


@pytest.mark.parametrize("name", ["round-robin", "least-loaded", "random", "energy-greedy"])
def test_no_device_ever_holds_more_than_its_limit(name: str) -> None:
    """Over a loaded run, workloads in flight on a device never exceed its limit."""
    world = load_devices("ecsrl-17k", rate_per_min=30_000, duration_s=5)
    res = DeviceSim(world, 3).run(make(name))
    for m in range(world.n_edge):
        on = res.action == m
        t0 = res.requests.arrival_ms[on]
        t1 = res.start_ms[on] + res.processing_ms[on]
        events = np.concatenate(
            [np.stack([t0, np.ones_like(t0)], 1), np.stack([t1, -np.ones_like(t1)], 1)]
        )
        events = events[np.lexsort((events[:, 1], events[:, 0]))]
        assert np.cumsum(events[:, 1]).max() <= world.max_workloads[m]


def test_idle_device_consumes_idle_power(tmp_path: Path) -> None:
    """A device that runs nothing for T seconds consumes idle power x T."""
    world = load_device_scenario(edge_scenario(tmp_path))
    res = DeviceSim(world, 0).run(make("always-cloud"))
    T = res.horizon_ms / 1000.0
    assert T >= 10.0
    assert res.machine_total_j[0] == pytest.approx(NANO["idle_w"] * T)
    assert res.machine_dynamic_j[0] == 0.0


def test_attributed_plus_idle_energy_is_the_total(tmp_path: Path) -> None:
    """Energy attributed to requests plus idle energy equals the machines' total."""
    world = load_devices("ecsrl-17k", duration_s=10)
    for name in ("random", "energy-greedy"):
        res = DeviceSim(world, 1).run(make(name))
        assert res.energy_j.sum() + res.machine_idle_j.sum() == pytest.approx(
            res.machine_total_j.sum(), rel=1e-9
        )
        assert np.all(res.energy_j > 0)


def test_solo_request_energy_is_active_power_times_time(tmp_path: Path) -> None:
    """A request alone on a nano is charged active_w x its processing time."""
    world = load_device_scenario(edge_scenario(tmp_path))
    res = run_to(world, requests_at(world, [0.0]), [0])
    assert res.energy_j[0] == pytest.approx(NANO["active_w"] * NANO_RESNET18_MS / 1000.0)


def test_power_is_capped(tmp_path: Path) -> None:
    """Dynamic power never exceeds max_w - idle_w: with a cap of 5 W, three workloads share
    3.5 W instead of 7.5 W."""
    dev = devices_file(tmp_path, "jetson-nano", max_w=5.0, degradation=0.0)
    world = load_device_scenario(edge_scenario(tmp_path, data={"devices": str(dev)}))
    res = run_to(world, requests_at(world, [0.0] * 3), [0, 0, 0])
    assert res.energy_j.sum() == pytest.approx(3.5 * NANO_RESNET18_MS / 1000.0)


def test_offload_goes_to_the_cloud_variant_over_the_wan(tmp_path: Path) -> None:
    """A request needing more accuracy than the edge model can only go to the cloud, runs the
    cloud variant, and its delay includes the WAN both ways and the payload's transmission."""
    world = load_device_scenario(edge_scenario(tmp_path))
    req = requests_at(world, [0.0], needs_cloud=True)
    sim = DeviceSim(world, 0, requests=req)
    assert sim.next_request() == 0
    assert sim.mask().tolist() == [False, True]
    sim.dispatch(world.cloud_action)
    assert sim.next_request() is None
    res = sim.result("fixed")
    assert world.variants[res.variant[0]] == "resnet152"
    wan = 2 * 20.0 + 50 * 8 / 20.0  # 20 ms each way + 50 kB over 20 Mbps
    assert res.network_ms[0] == pytest.approx(wan)
    assert res.delay_ms[0] == pytest.approx(wan + 2.5)  # resnet152 on cloud-gpu: 2.5 ms
    assert res.outcome[0] == SUCCESS


def test_offloaded_requests_share_the_wan_uplink(tmp_path: Path) -> None:
    """Two offloads at once: the second waits for the first's transmission."""
    world = load_device_scenario(edge_scenario(tmp_path))
    res = run_to(world, requests_at(world, [0.0, 0.0], needs_cloud=True), [1, 1])
    assert res.wan_queue_ms.tolist() == pytest.approx([0.0, 20.0])


# ----------------------------------------------------------------------------- bad data


def test_bad_device_data_names_file_line_and_field(tmp_path: Path) -> None:
    """A negative idle power is refused with the file, the line and the field."""
    dev = devices_file(tmp_path, "cloud-gpu", idle_w=-30.0)
    line = 1 + dev.read_text().splitlines().index("    idle_w: -30.0")
    with pytest.raises(ConfigError) as err:
        load_device_scenario(edge_scenario(tmp_path, data={"devices": str(dev)}))
    text = str(err.value)
    assert f"devices.yaml, line {line}" in text and "devices.cloud-gpu.idle_w" in text


def test_idle_power_above_the_cap_is_refused(tmp_path: Path) -> None:
    """A device class whose idle power exceeds its maximum is refused."""
    dev = devices_file(tmp_path, "jetson-nano", idle_w=12.0)
    with pytest.raises(ConfigError, match=r"idle_w 12\.0 W exceeds max_w"):
        load_device_scenario(edge_scenario(tmp_path, data={"devices": str(dev)}))


def test_missing_profile_is_refused(tmp_path: Path) -> None:
    """A variant without a processing time on a device that must run it is refused."""
    src = LEGACY / "processing_ms.csv"
    lines = src.read_text().splitlines()
    lines = [
        line.replace("resnet18,15,", "resnet18,,") if line.startswith("resnet18,") else line
        for line in lines
    ]
    prof = tmp_path / "processing.csv"
    prof.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="no processing time for variant 'resnet18' on device "):
        load_device_scenario(edge_scenario(tmp_path, data={"processing": str(prof)}))


def test_negative_profile_is_refused(tmp_path: Path) -> None:
    """A processing time that is not positive is refused, naming the line and column."""
    src = LEGACY / "processing_ms.csv"
    text = src.read_text().replace("resnet18,15,", "resnet18,-15,")
    prof = tmp_path / "processing.csv"
    prof.write_text(text)
    with pytest.raises(ConfigError, match=r"line 4, column 'jetson-nano'"):
        load_device_scenario(edge_scenario(tmp_path, data={"processing": str(prof)}))


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"edge": {"devices": [{"device": "jetson-nanoo"}]}},
            "unknown device class 'jetson-nanoo'",
        ),
        ({"edge": {"devices": [{"device": "jetson-nano", "count": 0}]}}, "edge.devices.0.count"),
        ({"processing_jitter": -1}, "processing_jitter"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_scenario_is_refused(tmp_path: Path, over: dict[str, Any], message: str) -> None:
    """Unknown classes, bad counts, bad values and unknown fields are refused by name."""
    with pytest.raises(ConfigError, match=message):
        load_device_scenario(edge_scenario(tmp_path, **over))


def test_cloud_variant_must_be_more_accurate(tmp_path: Path) -> None:
    """Offload needs a cloud variant more accurate than the edge one."""
    req = yaml.safe_load(edge_scenario(tmp_path).read_text())["requests"]
    req["tasks"][0]["cloud_variant"] = "mobilenet_v3_small"
    with pytest.raises(ConfigError, match="not more accurate than the edge variant"):
        load_device_scenario(edge_scenario(tmp_path, requests=req))


def test_full_cloud_queues_then_rejects(tmp_path: Path) -> None:
    """Offloads beyond the cloud's workload slots wait in its queue; past ``max_queue`` they
    are rejected, use no processing and no energy, and still end in exactly one outcome."""
    cloud = {"device": "cloud-gpu", "count": 1, "wan_mbps": 100_000, "max_queue": 3}
    world = load_device_scenario(edge_scenario(tmp_path, cloud=cloud))
    n = 20  # 12 slots on one cloud-gpu, 3 queued, 5 rejected
    res = run_to(world, requests_at(world, [0.0] * n, needs_cloud=True), [1] * n)
    assert np.sum(res.outcome == REJECTED) == n - 12 - 3
    rejected = res.outcome == REJECTED
    assert np.all(res.machine[rejected] == -1) and np.all(res.energy_j[rejected] == 0.0)
    waited = (res.queue_ms > 0) & ~rejected
    assert np.sum(waited) == 3
    assert set(np.unique(res.outcome)) <= {SUCCESS, VIOLATION, REJECTED}
