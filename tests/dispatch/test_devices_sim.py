"""The device-setting simulator: accounting, delay decomposition, determinism, baselines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesched.core.errors import SchedulerError
from edgesched.dispatch.devices.scenario import load as load_devices
from edgesched.dispatch.devices.schedulers import BASELINES, make
from edgesched.dispatch.devices.simulator import DeviceSim
from edgesched.dispatch.devices.world import DeviceScenario
from edgesched.dispatch.devices.world import build_world as build_device_world
from edgesched.dispatch.outcomes import REJECTED, SUCCESS, VIOLATION


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    """ecsrl-17k cut to 20 s (about 1,130 requests), at twice its rate."""
    return load_devices("ecsrl-17k", rate_per_min=6800, duration_s=20)


@pytest.mark.parametrize("name", BASELINES)
def test_every_request_ends_in_exactly_one_outcome(world, name: str) -> None:  # type: ignore[no-untyped-def]
    """Every request has one outcome, and success means deadline and accuracy met."""
    res = DeviceSim(world, 0).run(make(name))
    assert res.count == world.scenario.requests.count
    assert set(np.unique(res.outcome)) <= {SUCCESS, VIOLATION, REJECTED}
    served = res.served
    met = (res.delay_ms <= res.requests.deadline_ms) & (res.accuracy >= res.requests.min_accuracy)
    assert np.array_equal(res.outcome[served] == SUCCESS, met[served])
    assert np.all(res.outcome[~served] == REJECTED)


@pytest.mark.parametrize("name", BASELINES)
def test_delays_decompose_into_their_parts(world, name: str) -> None:  # type: ignore[no-untyped-def]
    """delay = network + WAN queueing + cloud queueing + processing; processing >= solo."""
    res = DeviceSim(world, 1).run(make(name))
    parts = res.network_ms + res.wan_queue_ms + res.queue_ms + res.processing_ms
    assert np.allclose(res.delay_ms, parts)
    s = res.served
    assert np.all(res.processing_ms[s] >= res.base_ms[s] * (1 - 1e-9))
    assert np.all(res.wan_queue_ms >= 0) and np.all(res.queue_ms >= -1e-9)


def test_offload_need_is_always_met_in_the_cloud(world) -> None:  # type: ignore[no-untyped-def]
    """Requests above the edge model's accuracy run the cloud variant, whoever dispatches."""
    for name in ("round-robin", "energy-greedy", "random"):
        res = DeviceSim(world, 2).run(make(name))
        need = res.requests.needs_cloud
        assert np.all(res.action[need] == world.cloud_action)
        cloud_v = world.cloud_variant[res.requests.task[need]]
        assert np.array_equal(res.variant[need], cloud_v)
        assert np.all(res.accuracy[need] >= res.requests.min_accuracy[need])


def test_same_seed_same_run(world) -> None:  # type: ignore[no-untyped-def]
    """A run is a pure function of (world, scheduler, seed)."""
    a = DeviceSim(world, 5).run(make("random"))
    b = DeviceSim(world, 5).run(make("random"))
    for field in ("action", "delay_ms", "energy_j", "outcome"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    c = DeviceSim(world, 6).run(make("random"))
    assert not np.array_equal(a.requests.arrival_ms, c.requests.arrival_ms)


def test_requests_do_not_depend_on_the_scheduler(world) -> None:  # type: ignore[no-untyped-def]
    """The requests of a seed are the same whatever dispatches them."""
    a = DeviceSim(world, 7).run(make("random")).requests
    b = DeviceSim(world, 7).run(make("always-cloud")).requests
    for x, y in zip(vars(a).values(), vars(b).values(), strict=True):
        assert np.array_equal(x, y)


def test_preset_has_the_spec_mix() -> None:
    """ecsrl-17k: 17,000 requests in 300 s, half each task, ~20 % offload, deadlines 100-500."""
    w = load_devices("ecsrl-17k")
    sim = DeviceSim(w, 0)
    q = sim.req
    assert len(q) == 17_000 and q.arrival_ms.max() <= 300_000
    assert abs(np.mean(q.task == 0) - 0.5) < 0.02
    assert abs(np.mean(q.needs_cloud) - 0.2) < 0.02
    assert q.deadline_ms.min() >= 100 and q.deadline_ms.max() <= 500
    assert w.machine_names == [
        "jetson-nano-0",
        "jetson-nano-1",
        "jetson-tx2-0",
        "xavier-nx-0",
        "cloud-0",
        "cloud-1",
        "cloud-2",
        "cloud-3",
    ]


def test_round_robin_cycles_over_allowed_actions(world) -> None:  # type: ignore[no-untyped-def]
    """Round-robin takes the next allowed action in a fixed cycle."""
    res = DeviceSim(world, 0).run(make("round-robin"))
    free = ~res.requests.needs_cloud
    first = res.action[free][:5]
    assert sorted(first.tolist()) == [0, 1, 2, 3, 4]


def test_always_cloud_and_energy_greedy() -> None:
    """always-cloud offloads everything; energy-greedy keeps edge work on the cheapest device
    (legacy tables: the Xavier NX, 4 W x 3.5 ms beats 2.5 W x 15 ms on a nano) and uses less
    energy."""
    world = load_devices("ecsrl-17k-legacy", rate_per_min=6800, duration_s=20)
    cloud = DeviceSim(world, 0).run(make("always-cloud"))
    assert np.all(cloud.action == world.cloud_action)
    greedy = DeviceSim(world, 0).run(make("energy-greedy"))
    edge = greedy.action[greedy.action < world.n_edge]
    assert np.mean(edge == world.machine_names.index("xavier-nx-0")) > 0.9
    assert greedy.metrics()["energy_per_request_j"] < cloud.metrics()["energy_per_request_j"]


def test_masked_action_is_a_scheduler_error(world) -> None:  # type: ignore[no-untyped-def]
    """Dispatching an offload-only request to an edge device is refused."""
    sim = DeviceSim(world, 0)
    while (r := sim.next_request()) is not None:
        if sim.req.needs_cloud[r]:
            with pytest.raises(SchedulerError, match="not allowed"):
                sim.dispatch(0)
            return
        sim.dispatch(world.cloud_action)
    pytest.fail("no offload request")


@settings(max_examples=15, deadline=None)
@given(
    nanos=st.integers(0, 3),
    nx=st.integers(0, 2),
    gpus=st.integers(1, 3),
    rate=st.floats(600, 30_000),
    jitter=st.sampled_from([0.0, 0.1, 0.5]),
    offload=st.sampled_from([0.0, 0.2, 1.0]),
    name=st.sampled_from(BASELINES),
    seed=st.integers(0, 1000),
)
def test_invariants_on_random_worlds(
    nanos: int,
    nx: int,
    gpus: int,
    rate: float,
    jitter: float,
    offload: float,
    name: str,
    seed: int,
) -> None:
    """On random device mixes and loads: one outcome each, delays add up, the energy identity
    holds, and no edge device ever holds more than its limit."""
    base = load_devices("ecsrl-17k")
    sc = base.scenario
    edge = [{"device": "jetson-tx2", "count": 1}]
    edge += [{"device": "jetson-nano", "count": nanos}] if nanos else []
    edge += [{"device": "xavier-nx", "count": nx}] if nx else []
    data = sc.model_dump()
    data["edge"]["devices"] = edge
    data["cloud"]["count"] = gpus
    data["requests"].update(count=max(1, round(rate * 5 / 60)), duration_s=5)
    data["requests"]["offload_share"] = offload
    data["processing_jitter"] = jitter
    world = build_device_world(DeviceScenario.model_validate(data), "random")
    res = DeviceSim(world, seed).run(make(name))
    assert res.count == world.scenario.requests.count
    assert np.all(np.isin(res.outcome, [SUCCESS, VIOLATION, REJECTED]))
    parts = res.network_ms + res.wan_queue_ms + res.queue_ms + res.processing_ms
    assert np.allclose(res.delay_ms, parts)
    total = res.energy_j.sum() + res.machine_idle_j.sum()
    assert total == pytest.approx(res.machine_total_j.sum(), rel=1e-9)
    for m in range(world.n_edge):
        on = res.action == m
        t0 = res.requests.arrival_ms[on]
        t1 = res.start_ms[on] + res.processing_ms[on]
        steps = np.concatenate(
            [np.stack([t0, np.ones_like(t0)], 1), np.stack([t1, -np.ones_like(t1)], 1)]
        )
        steps = steps[np.lexsort((steps[:, 1], steps[:, 0]))]
        if steps.size:
            assert np.cumsum(steps[:, 1]).max() <= world.max_workloads[m]
