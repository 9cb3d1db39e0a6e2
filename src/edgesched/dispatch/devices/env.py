"""ECSRL's Gymnasium environment over the device setting: one step per request.

The agent that learns in it (sb3-contrib's MaskablePPO), its trainer and the learned
dispatcher live in :mod:`edgesched.rl.ecsrl`; the world never imports learning code.

STATE
    A float32 vector, for T tasks and A = D + 1 actions (D edge devices, then the cloud):
    ``[task one-hot (T), needs cloud (1), deadline / 500 ms (1), per action (6 x A), WAN
    backlog / 100 ms (1), elapsed fraction of the run (1)]``. Per action: allowed (0/1),
    committed workloads over the limit (the cloud: committed + queued over all its slots),
    projected delay over the deadline, marginal dynamic energy x 10 (J), requests projected
    to turn late, and added degradation, all from
    :func:`edgesched.dispatch.devices.forecast.lookahead` (what the action would do if
    nothing else arrived). Values are clipped to [0, 10].

ACTIONS
    ``Discrete(A)``: an edge device or the cloud. :meth:`EcsrlEnv.action_masks` gives the
    allowed ones (edge devices with a free workload slot and memory, when the edge variant is
    accurate enough; the cloud always). A masked action sends the request to the cloud and
    sets ``info["invalid_action"]`` (MaskablePPO never takes one).

REWARD
    ECSRL's objective (the paper's eq. 1, alpha x energy + beta x degradation, plus a deadline
    term), as each action's projected contribution: ``-(alpha x marginal energy (J) + beta x
    added degradation + deadline_penalty x requests turned late + offload_penalty x [a
    request the edge could serve sent to the cloud])``, where the request itself counts as
    late past ``deadline_margin`` x its deadline; the weights are the scenario's
    ``objective`` section. The episode's return is thus the run's projected total cost.

EPISODE
    One scenario run: every request of a seed, in arrival order; it terminates when the last
    request is dispatched (there is no further decision). The run's seed is drawn from
    ``self.np_random`` in [1000, 2^31), so evaluation seeds below 1000 are never trained on.

REFERENCE
    Lin, Zhang, Li, Liu, "ECSRL: A Learning-Based Scheduling Framework for AI Workloads in
    Heterogeneous Edge-Cloud Systems" (SenSys 2021 poster).

Example:
    >>> env = ecsrl_env(duration_s=1)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape == env.observation_space.shape
    True
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from edgesched.dispatch.devices.forecast import committed_load
from edgesched.dispatch.devices.scenario import DEFAULT_SCENARIO, load
from edgesched.dispatch.devices.simulator import DeviceSim
from edgesched.dispatch.devices.world import DeviceWorld

#: Training defaults of the shipped checkpoint.
TRAIN_SEED_FLOOR = 1000
PER_ACTION = 6


def obs_size(world: DeviceWorld) -> int:
    """Length of the observation vector of a world."""
    return len(world.tasks) + 2 + PER_ACTION * world.n_actions + 2


def observe(sim: DeviceSim, r: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The observation for request ``r`` (None: the terminal observation) and the per-action
    projected cost weights ``(delay, energy, late, degradation)`` stacked as a [4, A] array."""
    w = sim.world
    T, A = len(w.tasks), w.n_actions
    out = np.zeros(obs_size(w), dtype=np.float32)
    if r is None:
        return out, np.zeros((4, A))
    delay, energy, late, deg = sim.lookahead(r)
    mask = sim.mask(r)
    out[int(sim.req.task[r])] = 1.0
    out[T] = float(sim.req.needs_cloud[r])
    dl = float(sim.req.deadline_ms[r])
    out[T + 1] = dl / 500.0
    load = committed_load(sim)
    o = T + 2
    block = np.stack([mask, load, delay / dl, energy * 10.0, late, deg], axis=1)
    out[o : o + PER_ACTION * A] = block.reshape(-1)
    o += PER_ACTION * A
    now = sim.loop.now
    out[o] = max(0.0, sim.wan_free - now) / 100.0
    out[o + 1] = now / (w.scenario.requests.duration_s * 1000.0)
    np.clip(out, 0.0, 10.0, out=out)
    return out, np.stack([delay, energy, late, deg])


class EcsrlEnv(gym.Env[np.ndarray, np.int64]):
    """One step per request (see the module docstring)."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Env declares it so)

    def __init__(self, world: DeviceWorld) -> None:
        super().__init__()
        self.world = world
        n = obs_size(world)
        self.observation_space = gym.spaces.Box(0.0, 10.0, shape=(n,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(world.n_actions)
        obj = world.scenario.objective
        self.weights = np.array([0.0, obj.alpha, obj.deadline_penalty, obj.beta])
        self.sim: DeviceSim | None = None
        self._costs = np.zeros((4, world.n_actions))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        run_seed = int(self.np_random.integers(TRAIN_SEED_FLOOR, 2**31 - 1))
        self.sim = DeviceSim(self.world, run_seed)
        r = self.sim.next_request()
        obs, self._costs = observe(self.sim, r)
        return obs, {"run_seed": run_seed, "request": r}

    def action_masks(self) -> np.ndarray:
        """Allowed actions for the pending request (all but the cloud masked at the end)."""
        if self.sim is None or self.sim.pending is None:
            out = np.zeros(self.world.n_actions, dtype=bool)
            out[-1] = True
            return out
        return self.sim.mask()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        sim = self.sim
        if sim is None or sim.pending is None:
            raise RuntimeError("call reset() before step(), and again after the episode ends")
        a = int(action)
        if not self.action_space.contains(a):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        invalid = not bool(sim.mask()[a])
        if invalid:
            a = self.world.cloud_action
        reward = -float(self.weights @ self._costs[:, a])
        obj = self.world.scenario.objective
        dl = float(sim.req.deadline_ms[sim.pending])
        if obj.deadline_margin < 1.0 and obj.deadline_margin * dl < self._costs[0, a] <= dl:
            reward -= obj.deadline_penalty  # on time as projected, but without the margin
        if a == self.world.cloud_action and not sim.req.needs_cloud[sim.pending]:
            reward -= obj.offload_penalty
        sim.dispatch(a)
        r = sim.next_request()
        obs, self._costs = observe(sim, r)
        info = {"invalid_action": invalid, "action": a}
        return obs, reward, r is None, False, info


def ecsrl_env(scenario: str = DEFAULT_SCENARIO, **options: Any) -> EcsrlEnv:
    """The ECSRL environment on a device-setting scenario (preset name or YAML path).

    Args:
        scenario: preset or file.
        **options: ``duration_s`` (episode length in seconds, the request count following at
            the scenario's rate) and ``rate_per_min`` (requests per minute).
    """
    duration = options.pop("duration_s", None)
    rate = options.pop("rate_per_min", None)
    if options:
        raise TypeError(f"ecsrl_env: unknown options {', '.join(options)}")
    world = load(scenario, rate_per_min=rate, duration_s=duration)
    return EcsrlEnv(world)
