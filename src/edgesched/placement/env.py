"""Reinforcement-learning environments over the placement world (SPEC-placement, RL formulation).

Two views of the same :class:`~edgesched.placement.sim.PlacementSim` state machine:

- :func:`parallel_env`: a PettingZoo ``ParallelEnv``, one agent per cluster (TapFinger's
  multi-agent setting). One ``step`` is one decision round.
- :func:`gym_env`: a Gymnasium ``Env`` for single-agent learners that takes the clusters'
  decisions of a round one at a time.

STATE
    Per agent (cluster n), a dict of fixed-size padded arrays (``float32`` unless noted):

    - ``clusters`` (N, 2R+1): every cluster's free resources and capacity (divided by the
      largest capacity of that resource) and queue length (divided by K, clipped at 1000);
    - ``self`` (N,): one-hot of the agent's own cluster;
    - ``pending`` (K, R+T+1): the agent's pending slots: minimum requirement (divided by the
      allocation grid), task-type one-hot, empty-slot flag;
    - ``running`` (M, R+T+2): tasks running on the agent's cluster, padded to M: allocation
      (divided by the grid), type one-hot, elapsed timesteps / 10 (clipped at 1000), a valid flag;
    - ``alloc_mask`` (K, G) ``int8``: for every slot, the allocation-grid points the world
      accepts for its task (at least the minimum, at most the free resources);
    - ``action_mask``: a tuple of two ``int8`` arrays, the task choice (K slots + skip) and
      the grid points valid for *every* feasible slot, so that sampling the two parts
      independently never produces an infeasible placement. Learners that choose the slot
      first use the exact per-slot ``alloc_mask``.

    ``state()`` concatenates every cluster's arrays into one flat vector for a centralised
    critic.

ACTIONS
    ``MultiDiscrete([K + 1, G])``: a pending slot (K means skip) and an allocation-grid index
    (row-major over resources, amounts 0..A_r). Grid index 0, the all-zero allocation, also
    means skip. Agents pass the probability with which they chose their task through
    ``step(actions, probs=...)``; the world's Bayes rule weighs conflicts by it (default 1).
    An action outside the masks is a skip (option ``invalid="raise"``: an error instead).

REWARD
    Per agent, ``-(tasks running on n + pending at n + queued at n)`` at steps where the world
    advances a timestep (summed over idle timesteps skipped in one step), 0 at intermediate
    rounds. The Gymnasium view rewards ``-(tasks in the system)``, whose sum over an episode is
    minus the total completion time.

REFERENCE
    Li et al., "Task Placement and Resource Allocation for Edge Machine Learning: A GNN-based
    Multi-Agent Reinforcement Learning Paradigm", IEEE TPDS 2023.

Example:
    >>> env = parallel_env("synthetic-3", tasks=8)
    >>> obs, infos = env.reset(seed=0)
    >>> sorted(obs["cluster_0"])
    ['action_mask', 'alloc_mask', 'clusters', 'pending', 'running', 'self']
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from edgesched.placement.episode import Episode
from edgesched.placement.observation import (
    FEATURE_MAX,
    cluster_features,
    observation_space_of,
    observe,
    running_features,
)
from edgesched.placement.scenario import PlacementScenario
from edgesched.placement.sim import Decision, PlacementSim


class PlacementParallelEnv(ParallelEnv):
    """TapFinger's multi-agent view: one agent per cluster, one step per decision round.

    See the module docstring for STATE, ACTIONS, REWARD and REFERENCE. Build it with
    :func:`parallel_env`.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "edgesched_placement_v0", "render_modes": []}

    def __init__(
        self,
        scenario: str | Path | PlacementScenario = "synthetic-3",
        **options: Any,
    ) -> None:
        self.episode = Episode.build(scenario, **options)
        self.lay = self.episode.lay
        self.possible_agents = [f"cluster_{n}" for n in range(self.lay.N)]
        self.agents: list[str] = []
        self._seeds = np.random.default_rng()
        self._obs_space = observation_space_of(self.lay)
        self._act_space = spaces.MultiDiscrete([self.lay.K + 1, self.lay.G])
        flat = self.lay.N * (
            self.lay.cluster_dim
            + self.lay.K * self.lay.pending_dim
            + self.lay.M * self.lay.running_dim
        )
        self.state_space = spaces.Box(0.0, np.float32(FEATURE_MAX), (flat,), np.float32)

    @property
    def sim(self) -> PlacementSim:
        """The world of the current episode."""
        assert self.episode.sim is not None, "call reset() first"
        return self.episode.sim

    @functools.cache  # noqa: B019 - one space object per agent, as PettingZoo requires
    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Space:
        return self._act_space

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode: world seed ``seed``, or the next one drawn from the last seed."""
        if seed is not None:
            self._seeds = np.random.default_rng(seed)
            world_seed = int(seed)
        else:
            world_seed = int(self._seeds.integers(2**31 - 1))
        for n, agent in enumerate(self.possible_agents):
            self.action_space(agent).seed(None if seed is None else seed + n)
        self.episode.start(world_seed)
        self.agents = list(self.possible_agents)
        if self.sim.done:  # an episode without tasks
            self.agents = []
        return self._observations(), self._infos([False] * self.lay.N, world=True)

    def step(
        self,
        actions: Mapping[str, Any],
        probs: Mapping[str, float] | None = None,
    ) -> tuple[dict[str, Any], dict[str, float], dict[str, bool], dict[str, bool], dict[str, Any]]:
        """One decision round. A missing agent skips; ``probs`` gives each agent's task-choice
        probability for the Bayes rule (default 1).

        Raises:
            SchedulerError: an action the world cannot carry out (mask it).
        """
        episode = self.episode
        decisions: list[Decision | None] = []
        for n, agent in enumerate(self.possible_agents):
            a = actions.get(agent)
            if a is None:
                decisions.append(None)
                continue
            p = 1.0 if probs is None else float(probs.get(agent, 1.0))
            decisions.append(episode.decision(n, int(a[0]), int(a[1]), p))
        world, rewards, lost = episode.round(decisions)
        done = self.sim.done
        trunc = episode.truncated
        obs = self._observations()
        infos = self._infos(lost, world)
        agents = self.agents
        rew = {a: float(rewards[n]) for n, a in enumerate(self.possible_agents)}
        term = dict.fromkeys(agents, done)
        truncs = dict.fromkeys(agents, trunc and not done)
        if done or trunc:
            self.agents = []
        return obs, rew, term, truncs, infos

    def state(self) -> np.ndarray:
        """Every cluster's padded arrays, flattened (for a centralised critic)."""
        sim, lay = self.sim, self.lay
        parts = [cluster_features(sim, lay).ravel()]
        for n in range(lay.N):
            parts.append(observe(sim, lay, n)["pending"].ravel())
        for n in range(lay.N):
            parts.append(running_features(sim, lay, n).ravel())
        return np.concatenate(parts)

    def _observations(self) -> dict[str, Any]:
        return {a: observe(self.sim, self.lay, n) for n, a in enumerate(self.possible_agents)}

    def _infos(self, lost: list[bool], world: bool) -> dict[str, Any]:
        return {
            a: {
                "lost_conflict": lost[n],
                "can_decide": self.episode.can_decide(n),
                "world_step": world,
                "t": self.sim.t,
            }
            for n, a in enumerate(self.possible_agents)
        }


def parallel_env(
    scenario: str | Path | PlacementScenario = "synthetic-3", **options: Any
) -> PlacementParallelEnv:
    """TapFinger's multi-agent environment over a placement scenario.

    Args:
        scenario: a preset name, a YAML path or a scenario object.
        **options: ``tasks`` (override the task count), ``mode`` ("multi-task" or
            "single-task"), ``rate`` (constant Poisson arrival rate), ``max_timesteps``
            (truncate an episode after that many world timesteps), ``invalid`` ("skip":
            an action outside the masks is a skip, the default; "raise": the world raises
            SchedulerError).
    """
    return PlacementParallelEnv(scenario, **options)


class PlacementGymEnv(gymnasium.Env):
    """A single-agent view: the decisions of a round are taken one cluster at a time.

    The observation is the deciding cluster's (``self`` says which); clusters with nothing to
    decide are skipped. When every cluster has decided, the round is applied. Reward: minus
    the tasks in the system at world-advancing steps. Build it with :func:`gym_env`.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - Gymnasium's declaration

    def __init__(
        self,
        scenario: str | Path | PlacementScenario = "synthetic-3",
        **options: Any,
    ) -> None:
        self.episode = Episode.build(scenario, **options)
        self.lay = self.episode.lay
        self.observation_space = observation_space_of(self.lay)
        self.action_space = spaces.MultiDiscrete([self.lay.K + 1, self.lay.G])
        self._pending: list[Decision | None] = []
        self._agent = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        world_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31 - 1))
        self.episode.start(world_seed)
        self._pending = []
        self._agent = 0
        self._next_agent()
        return self._obs(), {"agent": self._agent}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        episode = self.episode
        sim = episode.sim
        assert sim is not None
        n = self._agent
        self._pending.append(episode.decision(n, int(action[0]), int(action[1]), 1.0))
        self._agent += 1
        reward = 0.0
        if self._next_agent():
            _, rewards, _ = episode.round(self._pending)
            reward = float(rewards[-1])
            self._pending = []
            self._agent = 0
            self._next_agent()
        done = sim.done
        return self._obs(), reward, done, episode.truncated and not done, {"agent": self._agent}

    def action_masks(self) -> np.ndarray:
        """The task and allocation masks of the deciding cluster, concatenated (bool)."""
        task, alloc = self._obs()["action_mask"]
        return np.concatenate([task, alloc]).astype(bool)

    def _next_agent(self) -> bool:
        """Skip clusters with nothing to decide; True when the round is complete."""
        episode = self.episode
        while self._agent < self.lay.N and not episode.can_decide(self._agent):
            self._pending.append(None)
            self._agent += 1
        return self._agent >= self.lay.N

    def _obs(self) -> dict[str, Any]:
        sim = self.episode.sim
        assert sim is not None
        return observe(sim, self.lay, min(self._agent, self.lay.N - 1))


def gym_env(
    scenario: str | Path | PlacementScenario = "synthetic-3", **options: Any
) -> PlacementGymEnv:
    """A single-agent Gymnasium environment over a placement scenario (options as
    :func:`parallel_env`)."""
    return PlacementGymEnv(scenario, **options)
