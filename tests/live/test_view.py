"""The live view presents the simulator's state: the same decision for the same state."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from edgesched.dispatch.devices.scenario import load
from edgesched.dispatch.devices.schedulers import BASELINES, make
from edgesched.dispatch.devices.simulator import DeviceSim
from edgesched.live.view import LiveView

FIELDS = (
    "committed",
    "committed_mem",
    "committed_v",
    "run_req",
    "run_v",
    "run_rem",
    "run_fac",
    "cloud_queue",
    "wan_free",
    "joining",
)


def mirror(sim: DeviceSim) -> LiveView:
    """A live view holding exactly the simulator's state at its current time."""
    view = LiveView(sim.world, capacity=len(sim.req))
    for name in FIELDS:
        setattr(view, name, copy.deepcopy(getattr(sim, name)))
    view.base = sim.base.copy()
    view.variant = sim.variant.copy()
    for name in ("arrival", "task", "min_acc", "deadline"):
        setattr(view, name, list(getattr(sim, name)))
    for name in ("arrival_ms", "task", "needs_cloud", "min_accuracy", "deadline_ms"):
        setattr(view.req, name, getattr(sim.req, name))
    now = sim.loop.now
    view._refresh = lambda: None  # type: ignore[method-assign]  # the state is as of now
    type(view.loop).now = property(lambda self: now)  # type: ignore[method-assign]
    return view


def schedulers() -> list[str]:
    names = list(BASELINES)
    return [*names, "ecsrl"]


@pytest.mark.parametrize("name", schedulers())
def test_same_decision_live_and_in_simulation(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """At every 25th request of a run, the scheduler chooses the same action from the live
    view as from the simulator, with the same mask."""
    world = load("ecsrl-17k", duration_s=4)
    sim = DeviceSim(world, seed=3)
    sched, twin = make(name), make(name)
    sched.reset(sim, np.random.default_rng(0))
    checked = 0
    clock = type(LiveView(world).loop)
    saved = clock.now
    try:
        while (r := sim.next_request()) is not None:
            mask = sim.mask(r)
            if r % 25 == 5:
                view = mirror(sim)
                twin_state = copy.deepcopy(sched)
                vmask = view.mask(r)
                assert vmask.tolist() == mask.tolist()
                assert twin_state.choose(view, r, vmask) == copy.deepcopy(sched).choose(
                    sim, r, mask
                )
                checked += 1
            sim.dispatch(sched.choose(sim, r, mask))
    finally:
        clock.now = saved  # type: ignore[method-assign]
    del twin
    assert checked >= 8


def test_view_accounts_energy_like_the_power_model(tmp_path: Path) -> None:
    """Two workloads running 100 ms on one machine: idle + min(active x 2, cap) power,
    the dynamic part split equally between them."""
    world = load("ecsrl-17k", duration_s=1)
    view = LiveView(world)
    view.last = [0.0] * world.n_machines
    a, b = view.admit(0, 0.0, 500.0), view.admit(0, 0.0, 500.0)
    v = int(world.edge_variant[0])
    view.commit(0, v)
    view.commit(0, v)
    view.start(0, a, v, t_ms=0.0)
    view.start(0, b, v, t_ms=0.0)
    view.end(0, a, t_ms=100.0)
    view.end(0, b, t_ms=100.0)
    dyn = min(world.active_w[0] * 2, world.max_w[0] - world.idle_w[0]) * 0.1
    assert view.dynamic_j[0] == pytest.approx(dyn)
    assert view.energy[a] == pytest.approx(dyn / 2) and view.energy[b] == pytest.approx(dyn / 2)
    assert view.committed[0] == 0 and view.run_req[0] == []


def test_down_device_is_masked() -> None:
    """A device whose worker is down is never offered to the scheduler."""
    world = load("ecsrl-17k", duration_s=1)
    view = LiveView(world)
    r = view.admit(0, 0.0, 500.0)
    assert view.mask(r)[0]
    view.down[0] = True
    assert not view.mask(r)[0] and view.mask(r)[world.n_edge]
