"""Gymnasium conformance over every registered edgesched id and every preset of its world."""

from __future__ import annotations

import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import edgesched  # noqa: F401  (registers the ids)
from edgesched.envs import ENVIRONMENTS
from edgesched.experiments.worlds import backend_of_world

#: Small episodes per world, so that every preset is checked in seconds.
SMALL = {"placement": {"tasks": 8}, "streams": {"duration_s": 20}, "devices": {"duration_s": 1}}

CASES = [
    (env_id, preset)
    for env_id, (_, world) in ENVIRONMENTS.items()
    for preset in backend_of_world(world).presets()
]


def test_every_id_is_registered() -> None:
    """`import edgesched` registers each id of ENVIRONMENTS, and only edgesched's."""
    ours = {i for i in gymnasium.registry if i.startswith("edgesched/")}
    assert ours == set(ENVIRONMENTS)


@pytest.mark.parametrize(("env_id", "preset"), CASES, ids=[f"{i}-{p}" for i, p in CASES])
def test_check_env_on_every_preset(env_id: str, preset: str) -> None:
    """gymnasium.make(id, scenario=preset) passes Gymnasium's checker without a warning."""
    world = ENVIRONMENTS[env_id][1]
    env = gymnasium.make(env_id, scenario=preset, **SMALL[world])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
