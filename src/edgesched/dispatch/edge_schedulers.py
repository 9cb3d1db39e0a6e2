"""The dispatchers of the device setting, behind one registry: ECSRL's baselines and ``ecsrl``.

Every dispatcher picks, per request, one allowed action (an edge device, or the cloud) from the
mask :meth:`edgesched.dispatch.edge_sim.EdgeSim.mask` gives: edge devices are allowed when they
have a free workload slot and memory and the edge variant is accurate enough, the cloud always.
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
ecsrl              the learned actor-critic dispatcher (:mod:`edgesched.rl.ecsrl`, which
                   registers it when imported)
=================  =========================================================================

Example:
    >>> from edgesched.dispatch.edge_schedulers import make, names
    >>> make("round-robin").name
    'round-robin'
    >>> import edgesched.rl.ecsrl
    >>> "ecsrl" in names()
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesched.core.registry import Registry
from edgesched.dispatch.edge_sim import EdgeScheduler, EdgeSim

EDGE_SCHEDULERS: Registry[EdgeScheduler] = Registry("device-setting dispatcher")

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

    def reset(self, sim: EdgeSim, rng: np.random.Generator) -> None:
        self.rng = rng

    def choose(self, sim: EdgeSim, request: int, mask: np.ndarray) -> int:
        raise NotImplementedError


def _argmin_allowed(score: np.ndarray, mask: np.ndarray) -> int:
    """Index of the least score among allowed actions; ties go to the lowest index."""
    return int(np.argmin(np.where(mask, score, np.inf)))


@EDGE_SCHEDULERS.register("round-robin")
class RoundRobin(Baseline):
    """The next allowed action in a fixed cycle over the edge devices and the cloud."""

    name = "round-robin"

    def reset(self, sim: EdgeSim, rng: np.random.Generator) -> None:
        super().reset(sim, rng)
        self.next = 0

    def choose(self, sim: EdgeSim, request: int, mask: np.ndarray) -> int:
        n = mask.size
        for k in range(n):
            a = (self.next + k) % n
            if mask[a]:
                self.next = (a + 1) % n
                return a
        return n - 1  # unreachable: the cloud is always allowed


@EDGE_SCHEDULERS.register("least-loaded")
class LeastLoaded(Baseline):
    """The allowed action with the least committed fraction of its workload limit."""

    name = "least-loaded"

    def choose(self, sim: EdgeSim, request: int, mask: np.ndarray) -> int:
        D = sim.D
        load = np.empty(D + 1)
        for m in range(D):
            load[m] = sim.committed[m] / sim._maxn[m]
        slots = sum(sim._maxn[D:])
        load[D] = (sum(sim.committed[D:]) + len(sim.cloud_queue)) / max(slots, 1)
        return _argmin_allowed(load, mask)


@EDGE_SCHEDULERS.register("random")
class RandomDispatch(Baseline):
    """Uniform over the allowed actions."""

    name = "random"

    def choose(self, sim: EdgeSim, request: int, mask: np.ndarray) -> int:
        allowed = np.flatnonzero(mask)
        return int(allowed[self.rng.integers(allowed.size)])


@EDGE_SCHEDULERS.register("fastest-expected")
class FastestExpected(Baseline):
    """The least expected delay if nothing else arrived or ended."""

    name = "fastest-expected"

    def choose(self, sim: EdgeSim, request: int, mask: np.ndarray) -> int:
        delay, _ = sim.expected(request)
        return _argmin_allowed(delay, mask)


@EDGE_SCHEDULERS.register("always-cloud")
class AlwaysCloud(Baseline):
    """The cloud for every request."""

    name = "always-cloud"

    def choose(self, sim: EdgeSim, request: int, mask: np.ndarray) -> int:
        return sim.D


@EDGE_SCHEDULERS.register("energy-greedy")
class EnergyGreedy(Baseline):
    """The least expected energy attributed to the request; deadlines ignored."""

    name = "energy-greedy"

    def choose(self, sim: EdgeSim, request: int, mask: np.ndarray) -> int:
        _, energy = sim.expected(request)
        return _argmin_allowed(energy, mask)


def make(name: str, **kwargs: Any) -> EdgeScheduler:
    """Build a device-setting dispatcher by name (ConfigError for an unknown one)."""
    return EDGE_SCHEDULERS.make(name, **kwargs)


def names() -> list[str]:
    return EDGE_SCHEDULERS.names()
