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

from edgesched.core.errors import ConfigError, SchedulerError
from edgesched.placement.run import workload
from edgesched.placement.scenario import PlacementScenario, load_scenario
from edgesched.placement.sim import Decision, PlacementSim

RUNNING_ELAPSED_SCALE = 10.0
FEATURE_MAX = 1000.0  # queue lengths and elapsed times are clipped here (finite spaces)


def _scenario_with(
    scenario: str | Path | PlacementScenario,
    tasks: int | None = None,
    mode: str | None = None,
    rate: float | None = None,
) -> tuple[PlacementScenario, Path | None]:
    """A scenario with the env's overrides applied (task count, mode, arrival rate)."""
    if isinstance(scenario, PlacementScenario):
        sc, path = scenario, None
    else:
        sc, path = load_scenario(scenario)
    if tasks is not None:
        if tasks < 1:
            raise ConfigError(f"tasks={tasks}: expected a whole number >= 1.")
        sc = sc.model_copy(update={"workload": sc.workload.model_copy(update={"tasks": tasks})})
    if mode is not None:
        if mode not in ("multi-task", "single-task"):
            raise ConfigError(f"mode={mode!r}: expected 'multi-task' or 'single-task'.")
        sc = sc.model_copy(update={"mode": mode})
    if rate is not None:
        if rate <= 0:
            raise ConfigError(f"rate={rate}: expected an arrival rate > 0.")
        arr = sc.workload.arrivals.model_copy(update={"rate": float(rate), "steps": None})
        sc = sc.model_copy(update={"workload": sc.workload.model_copy(update={"arrivals": arr})})
    return sc, path


class Layout:
    """Sizes and scales of the padded observation of one scenario (shared by both views).

    Attributes:
        N, R, K, T, M: clusters, resources, pending slots, task types, running rows.
        grid: the allocation grid's maxima A_r; ``G = prod(A_r + 1)`` points.
    """

    def __init__(self, scenario: PlacementScenario) -> None:
        caps = np.array(scenario.capacities(), dtype=np.int64)
        self.N, self.R = caps.shape
        self.K = scenario.pending_slots
        self.T = max(1, len(scenario.workload.types))
        self.grid = np.array(scenario.allocation_grid, dtype=np.int64)
        self.dims = tuple(int(a) + 1 for a in self.grid)
        self.G = int(np.prod(self.dims))
        # every running task holds at least one unit of something (minimums are never zero)
        self.M = int(caps.sum(axis=1).max())
        self.cap_scale = caps.max(axis=0).astype(np.float32)
        self.cap_scale[self.cap_scale == 0] = 1.0
        self.capacity = caps
        self.pending_dim = self.R + self.T + 1
        self.running_dim = self.R + self.T + 2
        self.cluster_dim = 2 * self.R + 1
        # grid point index -> allocation vector (row-major, last resource fastest)
        self.points = np.stack(np.unravel_index(np.arange(self.G), self.dims), axis=1)

    def alloc_of(self, index: int) -> tuple[int, ...]:
        """The allocation vector of grid index ``index``."""
        return tuple(int(v) for v in self.points[index])

    def index_of(self, alloc: tuple[int, ...]) -> int:
        """The grid index of an allocation vector."""
        return int(np.ravel_multi_index(alloc, self.dims))

    def box_mask(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Grid points p with lo <= p <= hi on every resource, as a (G,) bool array."""
        return np.all((self.points >= lo) & (self.points <= hi), axis=1)


def observe(sim: PlacementSim, lay: Layout, n: int) -> dict[str, Any]:
    """Agent ``n``'s padded observation of the world (see the module docstring)."""
    K, R, T = lay.K, lay.R, lay.T
    clusters = cluster_features(sim, lay)
    own = np.zeros(lay.N, dtype=np.float32)
    own[n] = 1.0
    cl = sim.clusters[n]
    pending = np.zeros((K, lay.pending_dim), dtype=np.float32)
    alloc_mask = np.zeros((K, lay.G), dtype=np.int8)
    task_mask = np.zeros(K + 1, dtype=np.int8)
    task_mask[K] = 1
    free = np.minimum(np.asarray(cl.free, dtype=np.int64), lay.grid)
    common_lo = np.zeros(R, dtype=np.int64)
    any_feasible = False
    for s, task in enumerate(cl.pending):
        if task is None:
            pending[s, R + T] = 1.0
            continue
        need = np.asarray(task.min, dtype=np.int64)
        pending[s, :R] = need / lay.grid
        pending[s, R + min(task.type_index, T - 1)] = 1.0
        if np.all(need <= free):
            mask = lay.box_mask(need, free)
            alloc_mask[s] = mask
            task_mask[s] = 1
            common_lo = np.maximum(common_lo, need)
            any_feasible = True
    if any_feasible:
        common = lay.box_mask(common_lo, free).astype(np.int8)
        common[0] = 0
    else:
        common = np.zeros(lay.G, dtype=np.int8)
        common[0] = 1
    return {
        "clusters": clusters,
        "self": own,
        "pending": pending,
        "running": running_features(sim, lay, n),
        "alloc_mask": alloc_mask,
        "action_mask": (task_mask, common),
    }


def cluster_features(sim: PlacementSim, lay: Layout) -> np.ndarray:
    """(N, 2R+1): free resources, capacity (over the largest capacity), queue length / K."""
    out = np.empty((lay.N, lay.cluster_dim), dtype=np.float32)
    R = lay.R
    for i, cl in enumerate(sim.clusters):
        out[i, :R] = np.asarray(cl.free, dtype=np.float32) / lay.cap_scale
        out[i, R : 2 * R] = lay.capacity[i] / lay.cap_scale
        out[i, 2 * R] = min(cl.queue_len / lay.K, FEATURE_MAX)
    return out


def running_features(sim: PlacementSim, lay: Layout, n: int) -> np.ndarray:
    """(M, R+T+2): allocation, type one-hot, elapsed / 10 and a valid flag per running task."""
    R, T = lay.R, lay.T
    out = np.zeros((lay.M, lay.running_dim), dtype=np.float32)
    for i, task in enumerate(sim.clusters[n].running[: lay.M]):
        out[i, :R] = np.asarray(task.alloc, dtype=np.float32) / lay.grid
        out[i, R + min(task.type_index, T - 1)] = 1.0
        out[i, R + T] = min((sim.t - (task.start or 0)) / RUNNING_ELAPSED_SCALE, FEATURE_MAX)
        out[i, R + T + 1] = 1.0
    return out


def observation_space_of(lay: Layout) -> spaces.Dict:
    """The observation space of one agent (see the module docstring)."""
    inf = np.float32(FEATURE_MAX)
    return spaces.Dict(
        {
            "clusters": spaces.Box(0.0, inf, (lay.N, lay.cluster_dim), np.float32),
            "self": spaces.Box(0.0, 1.0, (lay.N,), np.float32),
            "pending": spaces.Box(0.0, 1.0, (lay.K, lay.pending_dim), np.float32),
            "running": spaces.Box(0.0, inf, (lay.M, lay.running_dim), np.float32),
            "alloc_mask": spaces.Box(0, 1, (lay.K, lay.G), np.int8),
            "action_mask": spaces.Tuple(
                (spaces.Box(0, 1, (lay.K + 1,), np.int8), spaces.Box(0, 1, (lay.G,), np.int8))
            ),
        }
    )


class PlacementCore:
    """The stepping logic both views share: decisions in, rounds and timesteps out."""

    def __init__(
        self,
        scenario: PlacementScenario,
        source: Path | None,
        max_timesteps: int | None = None,
        invalid: str = "skip",
    ) -> None:
        if invalid not in ("skip", "raise"):
            raise ConfigError(f"invalid={invalid!r}: expected 'skip' or 'raise'.")
        self.invalid = invalid
        self.invalid_actions = 0
        self.scenario = scenario
        self.source = source
        self.lay = Layout(scenario)
        self.max_timesteps = max_timesteps
        self.sim: PlacementSim | None = None

    def start(self, seed: int) -> None:
        """A new episode with the tasks and noise of world seed ``seed``."""
        specs = workload(self.scenario, seed, source=self.source)
        self.sim = PlacementSim(self.scenario, specs, seed, record=False)
        self.sim.begin_timestep()
        self._skip_idle()  # never runs a timestep: a first arrival always fits somewhere

    def can_decide(self, n: int) -> bool:
        """True when cluster n has a pending task that fits its free resources and the grid."""
        assert self.sim is not None
        cl = self.sim.clusters[n]
        free = cl.free
        grid = self.scenario.allocation_grid
        for task in cl.pending:
            if task is not None and all(
                m <= f and m <= a for m, f, a in zip(task.min, free, grid, strict=True)
            ):
                return True
        return False

    def decision(self, n: int, slot: int, index: int, prob: float) -> Decision | None:
        """The world decision of agent n's action; None for a skip.

        An action outside the masks (an empty slot, an allocation below the minimum or above
        the free resources) is a skip when ``invalid == "skip"``; with ``"raise"`` it goes to
        the world, whose feasibility check raises SchedulerError.
        """
        sim = self.sim
        assert sim is not None
        if slot >= self.lay.K or index == 0:
            return None
        cl = sim.clusters[n]
        task = cl.pending[slot]
        if task is None:
            if self.invalid == "raise":
                raise SchedulerError(f"cluster {n} chose empty pending slot {slot}")
            self.invalid_actions += 1
            return None
        alloc = self.lay.alloc_of(index)
        if self.invalid == "skip" and not all(
            m <= a <= f for m, a, f in zip(task.min, alloc, cl.free, strict=True)
        ):
            self.invalid_actions += 1
            return None
        return Decision(task.id, alloc, prob)

    def round(self, decisions: list[Decision | None]) -> tuple[bool, np.ndarray, list[bool]]:
        """Apply one round; advance the world when it ends the timestep.

        Returns:
            (world advanced, rewards, per-cluster lost-conflict flags); rewards has one entry
            per cluster (the spec's per-agent reward) and a last one, minus the tasks in the
            system (the single-agent reward).
        """
        sim = self.sim
        assert sim is not None
        started = sim.apply_round(decisions)
        lost = [d is not None and sim.tasks[d.task].cluster != n for n, d in enumerate(decisions)]
        rewards = np.zeros(self.lay.N + 1, dtype=np.float64)
        if started and sim.multi_task:
            return False, rewards, lost
        rewards += self._end_timestep()
        rewards += self._skip_idle()
        return True, rewards, lost

    def _end_timestep(self) -> np.ndarray:
        sim = self.sim
        assert sim is not None
        r = np.array(
            [-sim.in_system(n) for n in range(self.lay.N)] + [-(sim.arrived - sim.completed)],
            dtype=np.float64,
        )
        sim.end_timestep()
        if not sim.done:
            sim.begin_timestep()
        return r

    def _skip_idle(self) -> np.ndarray:
        """Run timesteps in which no cluster has anything to decide; their summed rewards."""
        sim = self.sim
        assert sim is not None
        total = np.zeros(self.lay.N + 1, dtype=np.float64)
        while not sim.done and not any(self.can_decide(n) for n in range(self.lay.N)):
            total += self._end_timestep()
        return total

    @property
    def truncated(self) -> bool:
        sim = self.sim
        assert sim is not None
        return (
            self.max_timesteps is not None
            and not sim.done
            and sim.t - sim.first_t >= self.max_timesteps
        )


class PlacementParallelEnv(ParallelEnv):
    """TapFinger's multi-agent view: one agent per cluster, one step per decision round.

    See the module docstring for STATE, ACTIONS, REWARD and REFERENCE. Build it with
    :func:`parallel_env`.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "edgesched_placement_v0", "render_modes": []}

    def __init__(
        self,
        scenario: str | Path | PlacementScenario = "synthetic-3",
        *,
        tasks: int | None = None,
        mode: str | None = None,
        rate: float | None = None,
        max_timesteps: int | None = None,
        invalid: str = "skip",
    ) -> None:
        sc, source = _scenario_with(scenario, tasks, mode, rate)
        self.core = PlacementCore(sc, source, max_timesteps, invalid)
        self.lay = self.core.lay
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
        assert self.core.sim is not None, "call reset() first"
        return self.core.sim

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
        self.core.start(world_seed)
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
        core = self.core
        decisions: list[Decision | None] = []
        for n, agent in enumerate(self.possible_agents):
            a = actions.get(agent)
            if a is None:
                decisions.append(None)
                continue
            p = 1.0 if probs is None else float(probs.get(agent, 1.0))
            decisions.append(core.decision(n, int(a[0]), int(a[1]), p))
        world, rewards, lost = core.round(decisions)
        done = self.sim.done
        trunc = core.truncated
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
                "can_decide": self.core.can_decide(n),
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
        *,
        tasks: int | None = None,
        mode: str | None = None,
        rate: float | None = None,
        max_timesteps: int | None = None,
        invalid: str = "skip",
    ) -> None:
        sc, source = _scenario_with(scenario, tasks, mode, rate)
        self.core = PlacementCore(sc, source, max_timesteps, invalid)
        self.lay = self.core.lay
        self.observation_space = observation_space_of(self.lay)
        self.action_space = spaces.MultiDiscrete([self.lay.K + 1, self.lay.G])
        self._pending: list[Decision | None] = []
        self._agent = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        world_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31 - 1))
        self.core.start(world_seed)
        self._pending = []
        self._agent = 0
        self._next_agent()
        return self._obs(), {"agent": self._agent}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        core = self.core
        sim = core.sim
        assert sim is not None
        n = self._agent
        self._pending.append(core.decision(n, int(action[0]), int(action[1]), 1.0))
        self._agent += 1
        reward = 0.0
        if self._next_agent():
            _, rewards, _ = core.round(self._pending)
            reward = float(rewards[-1])
            self._pending = []
            self._agent = 0
            self._next_agent()
        done = sim.done
        return self._obs(), reward, done, core.truncated and not done, {"agent": self._agent}

    def action_masks(self) -> np.ndarray:
        """The task and allocation masks of the deciding cluster, concatenated (bool)."""
        task, alloc = self._obs()["action_mask"]
        return np.concatenate([task, alloc]).astype(bool)

    def _next_agent(self) -> bool:
        """Skip clusters with nothing to decide; True when the round is complete."""
        core = self.core
        while self._agent < self.lay.N and not core.can_decide(self._agent):
            self._pending.append(None)
            self._agent += 1
        return self._agent >= self.lay.N

    def _obs(self) -> dict[str, Any]:
        sim = self.core.sim
        assert sim is not None
        return observe(sim, self.lay, min(self._agent, self.lay.N - 1))


def gym_env(
    scenario: str | Path | PlacementScenario = "synthetic-3", **options: Any
) -> PlacementGymEnv:
    """A single-agent Gymnasium environment over a placement scenario (options as
    :func:`parallel_env`)."""
    return PlacementGymEnv(scenario, **options)
