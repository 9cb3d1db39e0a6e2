"""The dispatchers of the device setting, behind one registry: ECSRL's baselines and ``ecsrl``.

Every dispatcher picks, per request, one allowed action (an edge device, or the cloud) from the
mask :meth:`~edgesched.dispatch.devices.simulator.DeviceSim.mask` gives: edge devices are
allowed when they have a free workload slot and memory and the edge variant is accurate
enough, the cloud always.
A request whose requirement exceeds the edge variant therefore goes to the cloud whoever
dispatches it.

=================  =========================================================================
round-robin        the next allowed action in a fixed cycle over the edge devices and the cloud
least-loaded       the allowed action with the least committed fraction of its workload limit
                   (the cloud: committed + queued over all its devices' slots); ties: lowest
random             uniform over the allowed actions (the run's ``policy`` stream)
fastest-expected   the least expected delay (network + WAN backlog + processing x the slow-down
                   of what is committed there now)
always-cloud       the cloud for every request
energy-greedy      the least expected energy attributed to the request (its share of the
                   device's dynamic power x its expected processing time); deadlines ignored
ecsrl              the learned actor-critic dispatcher (:mod:`edgesched.rl.ecsrl`, imported
                   when it is built: ``make("ecsrl", checkpoint=PATH)``)
=================  =========================================================================

Example:
    >>> from edgesched.dispatch.devices.schedulers import make, names
    >>> make("round-robin").name
    'round-robin'
    >>> "ecsrl" in names()
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesched.core.registry import Registry
from edgesched.dispatch.devices import forecast
from edgesched.dispatch.devices.simulator import DeviceScheduler, DeviceSim

#: Every dispatcher of the device setting by name. ``checkpoint=True`` marks a learned one.
SCHEDULERS: Registry[DeviceScheduler] = Registry("device-setting dispatcher")

#: The baselines, in the order `edgesched compare` runs them.
BASELINES = (
    "round-robin",
    "least-loaded",
    "random",
    "fastest-expected",
    "always-cloud",
    "energy-greedy",
)


class Baseline:
    """Base of the hand-written dispatchers: nothing to set up, no state across runs."""

    name = "baseline"

    def reset(self, sim: DeviceSim, rng: np.random.Generator) -> None:
        self.rng = rng

    def choose(self, sim: DeviceSim, request: int, mask: np.ndarray) -> int:
        raise NotImplementedError


def _argmin_allowed(score: np.ndarray, mask: np.ndarray) -> int:
    """Index of the least score among allowed actions; ties go to the lowest index."""
    return int(np.argmin(np.where(mask, score, np.inf)))


@SCHEDULERS.register("round-robin")
class RoundRobin(Baseline):
    """The next allowed action in a fixed cycle over the edge devices and the cloud."""

    name = "round-robin"

    def reset(self, sim: DeviceSim, rng: np.random.Generator) -> None:
        super().reset(sim, rng)
        self.next = 0

    def choose(self, sim: DeviceSim, request: int, mask: np.ndarray) -> int:
        n = mask.size
        for k in range(n):
            a = (self.next + k) % n
            if mask[a]:
                self.next = (a + 1) % n
                return a
        return n - 1  # unreachable: the cloud is always allowed


@SCHEDULERS.register("least-loaded")
class LeastLoaded(Baseline):
    """The allowed action with the least committed fraction of its workload limit."""

    name = "least-loaded"

    def choose(self, sim: DeviceSim, request: int, mask: np.ndarray) -> int:
        return _argmin_allowed(forecast.committed_load(sim), mask)


@SCHEDULERS.register("random")
class RandomDispatch(Baseline):
    """Uniform over the allowed actions."""

    name = "random"

    def choose(self, sim: DeviceSim, request: int, mask: np.ndarray) -> int:
        allowed = np.flatnonzero(mask)
        return int(allowed[self.rng.integers(allowed.size)])


@SCHEDULERS.register("fastest-expected")
class FastestExpected(Baseline):
    """The least expected delay if nothing else arrived or ended."""

    name = "fastest-expected"

    def choose(self, sim: DeviceSim, request: int, mask: np.ndarray) -> int:
        delay, _ = sim.expected(request)
        return _argmin_allowed(delay, mask)


@SCHEDULERS.register("always-cloud")
class AlwaysCloud(Baseline):
    """The cloud for every request."""

    name = "always-cloud"

    def choose(self, sim: DeviceSim, request: int, mask: np.ndarray) -> int:
        return sim.D


@SCHEDULERS.register("energy-greedy")
class EnergyGreedy(Baseline):
    """The least expected energy attributed to the request; deadlines ignored."""

    name = "energy-greedy"

    def choose(self, sim: DeviceSim, request: int, mask: np.ndarray) -> int:
        _, energy = sim.expected(request)
        return _argmin_allowed(energy, mask)


SCHEDULERS.register(
    "ecsrl",
    "edgesched.rl.ecsrl:EcsrlScheduler",
    description="ECSRL: the learned actor-critic dispatcher (MaskablePPO checkpoint)",
    checkpoint=True,
)


def make(name: str, **kwargs: Any) -> DeviceScheduler:
    """Build a device-setting dispatcher by name (ConfigError for an unknown one)."""
    return SCHEDULERS.make(name, **kwargs)


def names() -> list[str]:
    return SCHEDULERS.names()
