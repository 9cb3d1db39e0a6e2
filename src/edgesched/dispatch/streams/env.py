"""ASET's environment: every window, pick the static policy that routes the next window.

STATE
    A float32 vector, for P applications, C clusters and K = 10 static policies:
    ``[arrivals (P), active clients (P), measured utilisation (C), committed utilisation (C),
    queue (C), last ratios (3), last choice (K)]`` where *arrivals* is the last window's new
    clients of each application in clients per minute per access point / 100, *active clients*
    the streams under way per access point / 100, *measured utilisation* the processing work
    of the last window's served queries per accelerator-second of each cluster, *committed
    utilisation* the load routed to it now, *queue* ``log1p`` of the mean queries waiting per
    accelerator at the last window's slot ends, *last ratios* the last window's success,
    QoS-violation and rejection ratios, and *last choice* a one-hot of the policy in force.

    With ``observation="trends"`` (the shipped checkpoint's since issue 11) the vector goes
    on with what makes one policy better than another in the next window:
    ``[per-application last ratios (3P), per-application arrivals over the last 30 s (P),
    utilisation change (C), queue change (C)]``: each application's success, violation and
    rejection ratios in the last window, its new clients over the last six windows (same
    unit as *arrivals*), and the change of each cluster's measured utilisation and ``log1p``
    queue from the window before. Values are clipped to [-10, 10] (``"basic"``: [0, 10]).

ACTIONS
    ``Discrete(K)``: the index of the static policy (in
    :data:`edgesched.dispatch.streams.schedulers.STATIC_NAMES` order) for the next window.

REWARD
    The success ratio of the window's queries (0 for a window without queries).

EPISODE
    One scenario run (default 600 s, 120 windows of 5 s); it ends by truncation (the time
    limit), never by termination. ``lam`` and ``pattern`` may be lists to draw one per episode
    from ``self.np_random`` (domain randomisation during training).

REFERENCE
    Castellano et al., "Scheduling Inference Workloads on Distributed Edge Clusters with
    Reinforcement Learning" (2023).

Example:
    >>> env = aset_env(duration_s=20)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape == env.observation_space.shape
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.dispatch.streams.scenario import DEFAULT_SCENARIO, load
from edgesched.dispatch.streams.schedulers import STATIC_NAMES, PolicySelector
from edgesched.dispatch.streams.simulator import StreamSim, WindowStats
from edgesched.dispatch.streams.world import StreamWorld, with_load

#: The observation layouts: ``basic`` (the first checkpoint's) and ``trends``.
OBSERVATIONS = ("basic", "trends")
#: How far back ``trends`` counts arrivals.
TREND_S = 30.0


def obs_size(world: StreamWorld, observation: str = "basic") -> int:
    """Length of the observation vector of a world under a layout."""
    P, C = len(world.apps), world.n_clusters
    basic = 2 * P + 3 * C + 3 + len(STATIC_NAMES)
    return basic + (4 * P + 2 * C if observation == "trends" else 0)


def check_observation(observation: str) -> str:
    if observation not in OBSERVATIONS:
        raise ConfigError(
            f"observation {observation!r}: expected one of {', '.join(OBSERVATIONS)}."
        )
    return observation


def observe(sim: StreamSim, last_choice: int, observation: str = "basic") -> np.ndarray:
    """The observation of the simulator at a window boundary (see the module docstring)."""
    w = sim.world
    P, C, K = len(w.apps), w.n_clusters, len(STATIC_NAMES)
    n_ap = max(len(w.access_points), 1)
    out = np.zeros(obs_size(w, observation), dtype=np.float32)
    last: WindowStats | None = sim.last
    out[P : 2 * P] = sim.active_clients() / n_ap / 100.0
    o = 2 * P
    out[o + C : o + 2 * C] = sim.utilisation()
    if last is not None:
        out[:P] = last.arrivals / (sim.window_s / 60.0) / n_ap / 100.0
        out[o : o + C] = last.utilisation
        out[o + 2 * C : o + 3 * C] = np.log1p(last.queue)
        out[o + 3 * C : o + 3 * C + 3] = last.ratios()
    if 0 <= last_choice < K:
        out[o + 3 * C + 3 + last_choice] = 1.0
    if observation != "trends":
        return np.clip(out, 0.0, 10.0)
    o += 3 * C + 3 + K
    if last is not None:
        tot = np.maximum(last.counts.sum(axis=1, keepdims=True), 1)
        out[o : o + 3 * P] = (last.counts / tot).ravel()
    o += 3 * P
    out[o : o + P] = sim.recent_arrivals(TREND_S) / (TREND_S / 60.0) / n_ap / 100.0
    o += P
    prev = sim.previous
    if last is not None and prev is not None:
        out[o : o + C] = last.utilisation - prev.utilisation
        out[o + C : o + 2 * C] = np.log1p(last.queue) - np.log1p(prev.queue)
    return np.clip(out, -10.0, 10.0)


class AsetEnv(gym.Env[np.ndarray, np.int64]):
    """The policy-selection environment (see the module docstring)."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Env declares it so)

    def __init__(
        self,
        world: StreamWorld,
        *,
        lam: float | Sequence[float] | None = None,
        pattern: str | Sequence[str | None] | None = None,
        observation: str = "basic",
    ) -> None:
        super().__init__()
        self.base = world
        self.observation = check_observation(observation)
        self.lams = [None] if lam is None else list(lam) if isinstance(lam, Sequence) else [lam]
        self.patterns: list[str | None] = (
            list(pattern) if isinstance(pattern, list | tuple) else [pattern]  # type: ignore[list-item]
        )
        n = obs_size(world, observation)
        low = -10.0 if observation == "trends" else 0.0
        self.observation_space = gym.spaces.Box(low, 10.0, shape=(n,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(len(STATIC_NAMES))
        self.selector = PolicySelector(name="aset-env")
        self.sim: StreamSim | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        rng = self.np_random
        lam = self.lams[int(rng.integers(len(self.lams)))]
        pattern = self.patterns[int(rng.integers(len(self.patterns)))]
        # the load section feeds no array of the built world, so only the model is replaced
        world = dataclasses.replace(
            self.base, scenario=with_load(self.base.scenario, lam=lam, pattern=pattern)
        )
        self.selector.choice = 0
        self.sim = StreamSim(world, int(rng.integers(2**31 - 1)))
        self.sim.attach(self.selector)
        info = {"lam": world.scenario.load.lam, "pattern": world.scenario.load.pattern}
        return observe(self.sim, -1, self.observation), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.sim is None:
            raise RuntimeError("call reset() before step()")
        a = int(action)
        if not self.action_space.contains(a):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        self.selector.choice = a
        stats = self.sim.step_window()
        success, violation, rejection = stats.ratios()
        obs = observe(self.sim, a, self.observation)
        info = {"violation": violation, "rejection": rejection, "policy": STATIC_NAMES[a]}
        return obs, float(success), False, self.sim.done, info


def aset_env(scenario: str = DEFAULT_SCENARIO, **options: Any) -> AsetEnv:
    """The ASET environment on a dispatch scenario (preset name or YAML path).

    Args:
        scenario: preset or file.
        **options: ``lam`` and ``pattern`` (a value, or a list to draw from per episode),
            ``duration_s`` (episode length in seconds), ``observation`` (``"basic"`` or
            ``"trends"``, see the module docstring).
    """
    duration = options.pop("duration_s", None)
    observation = options.pop("observation", "basic")
    lam = options.pop("lam", None)
    pattern = options.pop("pattern", None)
    if options:
        raise TypeError(f"aset_env: unknown options {', '.join(options)}")
    world = load(scenario, duration_s=duration)
    return AsetEnv(world, lam=lam, pattern=pattern, observation=observation)
