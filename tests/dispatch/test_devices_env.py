"""ECSRL's environment and learned dispatcher."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from edgesched.core.errors import ConfigError
from edgesched.dispatch.devices.env import ecsrl_env, obs_size
from edgesched.dispatch.devices.scenario import load as load_devices
from edgesched.dispatch.devices.schedulers import make
from edgesched.dispatch.devices.simulator import DeviceSim
from edgesched.rl.ecsrl import EcsrlScheduler, shipped_checkpoint

EXPECTED_WARNING = "Not able to test alternative render modes"


def test_check_env_passes() -> None:
    """Gymnasium's conformance kit passes with no unexpected warning."""
    env = ecsrl_env("ecsrl-17k", duration_s=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [str(w.message) for w in caught if EXPECTED_WARNING not in str(w.message)]
    assert unexpected == []


def test_one_step_per_request_and_masks() -> None:
    """An episode has one step per request, ends by termination, and offload-only requests
    mask every edge device."""
    env = ecsrl_env(duration_s=3)
    env.reset(seed=0)
    assert env.observation_space.shape == (obs_size(env.world),)
    assert env.action_space.n == 5
    steps, done = 0, False
    sim = env.sim
    assert sim is not None
    while not done:
        mask = env.action_masks()
        assert mask[-1]
        if sim.req.needs_cloud[sim.pending]:
            assert not mask[:-1].any()
        allowed = np.flatnonzero(mask)
        _, reward, done, truncated, info = env.step(int(allowed[0]))
        assert not truncated and reward <= 0.0 and not info["invalid_action"]
        steps += 1
    assert steps == env.world.scenario.requests.count


def test_masked_action_falls_back_on_the_cloud() -> None:
    """A masked action sends the request to the cloud and says so in info."""
    env = ecsrl_env(duration_s=5)
    env.reset(seed=1)
    sim = env.sim
    assert sim is not None
    while not sim.req.needs_cloud[sim.pending]:
        env.step(4)
    r = sim.pending
    _, _, _, _, info = env.step(0)
    assert info["invalid_action"] and sim.action[r] == 4


def test_same_seed_same_episode() -> None:
    """reset(seed) fixes the episode."""
    a, b = ecsrl_env(duration_s=2), ecsrl_env(duration_s=2)
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    assert np.array_equal(oa, ob)
    for _ in range(50):
        ra = a.step(int(np.flatnonzero(a.action_masks())[-1]))
        rb = b.step(int(np.flatnonzero(b.action_masks())[-1]))
        assert np.array_equal(ra[0], rb[0]) and ra[1] == rb[1]


@pytest.mark.skipif(shipped_checkpoint() is None, reason="no shipped ecsrl checkpoint")
def test_shipped_checkpoint_dispatches_within_the_mask() -> None:
    """The shipped policy runs a short loaded run, respecting every mask, and meets more
    deadlines than the load-blind baselines on the same requests."""
    world = load_devices("ecsrl-17k", duration_s=10)
    res = DeviceSim(world, 0).run(EcsrlScheduler())
    assert np.all(res.action[res.requests.needs_cloud] == world.cloud_action)
    for name in ("round-robin", "random", "least-loaded"):
        other = DeviceSim(world, 0).run(make(name)).metrics()["throughput_rate"]
        assert res.metrics()["throughput_rate"] > other, name


def test_legacy_checkpoint_meets_the_legacy_deadlines() -> None:
    """The previous checkpoint, shipped as ecsrl-17k-legacy, still meets about every
    deadline of its preset."""
    world = load_devices("ecsrl-17k-legacy", duration_s=10)
    res = DeviceSim(world, 0).run(EcsrlScheduler(scenario="ecsrl-17k-legacy"))
    assert res.metrics()["throughput_rate"] >= 0.95
    assert np.all(res.action[res.requests.needs_cloud] == world.cloud_action)


def test_missing_checkpoint_is_a_config_error(tmp_path: Path) -> None:
    """A checkpoint path that does not exist is refused with a clear message."""
    with pytest.raises(ConfigError, match="no such file"):
        EcsrlScheduler(checkpoint=tmp_path / "nope.zip")


@pytest.mark.skipif(shipped_checkpoint() is None, reason="no shipped ecsrl checkpoint")
def test_numpy_actor_matches_predict() -> None:
    """The scheduler's numpy forward pass picks the action MaskablePPO.predict picks."""
    sched = EcsrlScheduler()
    env = ecsrl_env(duration_s=5)
    obs, _ = env.reset(seed=2)
    sim = env.sim
    assert sim is not None
    rng = np.random.default_rng(0)
    for _ in range(200):
        mask = env.action_masks()
        want, _ = sched.model.predict(obs, action_masks=mask, deterministic=True)
        assert sched.choose(sim, int(sim.pending), mask) == int(want)
        obs, _, done, _, _ = env.step(int(rng.choice(np.flatnonzero(mask))))
        if done:
            break


def test_reward_charges_offloads_the_edge_could_serve_and_the_margin() -> None:
    """The reward is minus the weighted projected costs of the action taken, less
    offload_penalty when a request the edge could serve goes to the cloud (not when only the
    cloud can serve it), and less deadline_penalty when the request is projected on time but
    past deadline_margin x its deadline."""
    env = ecsrl_env("ecsrl-17k", duration_s=20)
    obj = env.world.scenario.objective
    assert obj.offload_penalty > 0 and obj.deadline_margin < 1
    env.reset(seed=4)
    sim = env.sim
    assert sim is not None
    seen = {"offload": 0, "cloud-only": 0, "margin": 0}
    rng = np.random.default_rng(1)
    done = False
    while not done:
        r = int(sim.pending)
        mask = env.action_masks()
        a = int(rng.choice(np.flatnonzero(mask)))
        costs = env._costs[:, a].copy()
        dl = float(sim.req.deadline_ms[r])
        want = -float(env.weights @ costs)
        if obj.deadline_margin * dl < costs[0] <= dl:
            want -= obj.deadline_penalty
            seen["margin"] += 1
        if a == env.world.cloud_action:
            if sim.req.needs_cloud[r]:
                seen["cloud-only"] += 1
            else:
                want -= obj.offload_penalty
                seen["offload"] += 1
        _, reward, done, _, _ = env.step(a)
        assert reward == pytest.approx(want)
    assert min(seen.values()) > 0, seen
