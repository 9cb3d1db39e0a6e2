"""The ASET environment: Gymnasium conformance, spaces, determinism, episode shape."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from edgesched.core.errors import ConfigError
from edgesched.dispatch.streams.env import aset_env, obs_size
from edgesched.dispatch.streams.schedulers import STATIC_NAMES

# check_env cannot try render modes of an env made without gymnasium.make; nothing else may warn
EXPECTED_WARNING = "Not able to test alternative render modes"


@pytest.mark.parametrize("scenario", ["aset-full-edge", "aset-mixed"])
def test_check_env_passes(scenario: str) -> None:
    """Gymnasium's conformance kit passes with no unexpected warning."""
    env = aset_env(scenario, duration_s=20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [str(w.message) for w in caught if EXPECTED_WARNING not in str(w.message)]
    assert unexpected == []


def test_spaces() -> None:
    """One action per static policy; observation size 2P + 3C + 3 + K."""
    env = aset_env(duration_s=10)
    assert env.action_space.n == len(STATIC_NAMES) == 10
    assert env.observation_space.shape == (2 * 4 + 3 * 18 + 3 + 10,)
    assert obs_size(env.base) == env.observation_space.shape[0]


def test_trends_observation() -> None:
    """The trends layout adds 4P + 2C values after the basic ones: each application's last
    ratios (summing to 1), its recent arrivals, and utilisation / queue changes that may be
    negative; the basic part is unchanged."""
    env = aset_env(duration_s=60, lam=80, observation="trends")
    basic = aset_env(duration_s=60, lam=80)
    P, C = 4, env.base.n_clusters
    n = obs_size(env.base)
    assert env.observation_space.shape == (n + 4 * P + 2 * C,)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    assert [str(w.message) for w in caught if EXPECTED_WARNING not in str(w.message)] == []
    obs, _ = env.reset(seed=1)
    ref, _ = basic.reset(seed=1)
    negative = False
    for i in range(8):
        obs, *_ = env.step(i % 10)
        ref, *_ = basic.step(i % 10)
        np.testing.assert_allclose(obs[:n], ref)
        assert env.observation_space.contains(obs)
        ratios = obs[n : n + 3 * P].reshape(P, 3)
        np.testing.assert_allclose(ratios.sum(axis=1), 1.0, atol=1e-6)
        assert obs[n + 3 * P : n + 4 * P].sum() > 0
        negative |= bool((obs[n + 4 * P :] < 0).any())
    assert negative
    with pytest.raises(ConfigError, match="observation 'nope'"):
        aset_env(observation="nope")


def test_episode_is_one_run_of_windows() -> None:
    """A 60 s episode is 12 windows of 5 s, ended by truncation, rewards in [0, 1]."""
    env = aset_env(duration_s=60, lam=60)
    env.reset(seed=0)
    rewards = []
    for i in range(12):
        obs, reward, terminated, truncated, info = env.step(i % 10)
        rewards.append(reward)
        assert not terminated
        assert truncated == (i == 11)
        assert env.observation_space.contains(obs)
        # the last choice is one-hot at the end of the observation
        assert obs[-10 + i % 10] == 1.0 and obs[-10:].sum() == 1.0
        assert info["policy"] == STATIC_NAMES[i % 10]
    assert all(0.0 <= r <= 1.0 for r in rewards)
    assert max(rewards) > 0.5


def test_same_seed_same_episode() -> None:
    """Two resets with one seed give the same observations and rewards."""
    runs = []
    for _ in range(2):
        env = aset_env(duration_s=20, lam=[20, 100], pattern=[None, "fast"])
        obs, info = env.reset(seed=42)
        trace = [obs]
        for a in (0, 3, 1, 7):
            obs, reward, *_ = env.step(a)
            trace += [obs, np.array([reward])]
        runs.append((np.concatenate(trace), info))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_reward_is_the_window_success_ratio() -> None:
    """most-accurate at lambda 100 loses queries the fastest policy serves."""
    env = aset_env(duration_s=60, lam=100)
    totals = {}
    for action in (STATIC_NAMES.index("fastest"), STATIC_NAMES.index("most-accurate")):
        env.reset(seed=1)
        totals[action] = sum(env.step(action)[1] for _ in range(12))
    assert totals[STATIC_NAMES.index("fastest")] > totals[STATIC_NAMES.index("most-accurate")]


def test_invalid_action_and_options() -> None:
    """An action outside the space, a step before reset, an unknown option: refused."""
    env = aset_env(duration_s=10)
    with pytest.raises(RuntimeError):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(10)
    with pytest.raises(TypeError):
        aset_env(windows=3)
