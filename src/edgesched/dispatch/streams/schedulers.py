"""The dispatch schedulers of the streams setting: the ten static policies of ASET's
comparison, and the learned ``aset`` (registered by name; its module, in ``edgesched.rl``, is
imported only when it is built).

Every policy sees only the candidates of a stream: the (cluster, variant) pairs deployed, of
the application's task and at least as accurate as it requires (the accuracy filter is applied
before any policy looks). It picks one that has room, or rejects the stream when none has.

Policies that choose a *cluster* (closest, least-loaded, cloud-first, edge-first and the three
random ones) serve on that cluster's fastest qualifying variant, which also has the least load
and so fits whenever any variant fits. Policies that choose a *variant* (most-accurate,
cheapest) take the closest cluster with room for it. ``fastest`` chooses both at once.

=================  =========================================================================
closest            least network delay (uplink + path both ways)
fastest            least expected delay: network + expected queueing + processing
least-loaded       least committed utilisation, ties by network delay
most-accurate      most accurate variant, then closest
cheapest           smallest variant (memory footprint), then closest
cloud-first        highest tier (cloud, core, metro, ...) first, then closest
edge-first         lowest tier (the edge) first, then closest
random             uniform over the clusters with room
random-latency     clusters with room drawn with probability proportional to 1 / network delay
random-capacity    clusters with room drawn with probability proportional to free capacity
=================  =========================================================================

``oracle-window`` is no policy but a reference: every window, the static policy that does best
in that window, found by simulating each from a snapshot of the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edgesched.core.registry import Registry

if TYPE_CHECKING:
    from edgesched.dispatch.streams.simulator import Candidates, StreamScheduler, StreamSim
    from edgesched.dispatch.streams.world import StreamWorld


class StaticPolicy:
    """Base of the static policies: no state, nothing to do at window starts."""

    name = "static"
    choice = -1

    def __init__(self) -> None:
        self.rng: np.random.Generator = np.random.default_rng(0)

    def reset(self, world: StreamWorld, rng: np.random.Generator) -> None:
        self.rng = rng

    def begin_window(self, sim: StreamSim) -> None:
        return None

    def route(self, sim: StreamSim, cands: Candidates, room: np.ndarray) -> int:
        raise NotImplementedError


def _first_with_room(order: np.ndarray, room: np.ndarray) -> int:
    ok = room[order]
    i = int(ok.argmax())
    return int(order[i]) if ok[i] else -1


class OrderedPolicy(StaticPolicy):
    """A fixed preference order over candidates; the first one with room wins."""

    def order(self, cands: Candidates) -> np.ndarray:
        raise NotImplementedError

    def route(self, sim: StreamSim, cands: Candidates, room: np.ndarray) -> int:
        order = cands.orders.get(self.name)
        if order is None:
            order = self.order(cands)
            cands.orders[self.name] = order
        return _first_with_room(order, room)


class Closest(OrderedPolicy):
    """Least network delay."""

    name = "closest"

    def order(self, cands: Candidates) -> np.ndarray:
        b = cands.best
        return b[np.lexsort((cands.proc_ms[b], cands.net_ms[b]))]


class MostAccurate(OrderedPolicy):
    """Most accurate qualifying variant, on the closest cluster with room for it."""

    name = "most-accurate"

    def order(self, cands: Candidates) -> np.ndarray:
        return np.lexsort((cands.proc_ms, cands.net_ms, -cands.accuracy))


class Cheapest(OrderedPolicy):
    """Smallest qualifying variant (memory footprint), on the closest cluster with room."""

    name = "cheapest"

    def order(self, cands: Candidates) -> np.ndarray:
        return np.lexsort((cands.proc_ms, cands.net_ms, cands.memory_mb))


class CloudFirst(OrderedPolicy):
    """The highest tier first (cloud, core, metro, central office), then the closest."""

    name = "cloud-first"

    def order(self, cands: Candidates) -> np.ndarray:
        b = cands.best
        return b[np.lexsort((cands.net_ms[b], -cands.tier[b]))]


class EdgeFirst(OrderedPolicy):
    """The lowest tier first (the edge), then the closest."""

    name = "edge-first"

    def order(self, cands: Candidates) -> np.ndarray:
        b = cands.best
        return b[np.lexsort((cands.net_ms[b], cands.tier[b]))]


class Fastest(StaticPolicy):
    """Least expected delay: network + expected queueing + processing."""

    name = "fastest"

    def route(self, sim: StreamSim, cands: Candidates, room: np.ndarray) -> int:
        if not room.any():
            return -1
        est = cands.net_ms + cands.proc_ms + sim.expected_wait_ms(cands)
        est = np.where(room, est, np.inf)
        return int(est.argmin())


class LeastLoaded(StaticPolicy):
    """Least committed utilisation of the cluster, ties by network delay."""

    name = "least-loaded"

    def route(self, sim: StreamSim, cands: Candidates, room: np.ndarray) -> int:
        b = cands.best[room[cands.best]]
        if b.size == 0:
            return -1
        util = sim.utilisation()[cands.cluster[b]]
        return int(b[np.lexsort((cands.net_ms[b], util))[0]])


class RandomPolicy(StaticPolicy):
    """Uniform over the clusters with room."""

    name = "random"

    def weights(self, sim: StreamSim, cands: Candidates, b: np.ndarray) -> np.ndarray:
        return np.ones(b.size)

    def route(self, sim: StreamSim, cands: Candidates, room: np.ndarray) -> int:
        b = cands.best[room[cands.best]]
        if b.size == 0:
            return -1
        w = self.weights(sim, cands, b)
        total = float(w.sum())
        if total <= 0:
            return int(b[int(self.rng.integers(b.size))])
        u = self.rng.random() * total
        i = int(np.searchsorted(np.cumsum(w), u, side="right"))
        return int(b[min(i, b.size - 1)])


class RandomLatency(RandomPolicy):
    """Clusters with room drawn with probability proportional to 1 / network delay."""

    name = "random-latency"

    def weights(self, sim: StreamSim, cands: Candidates, b: np.ndarray) -> np.ndarray:
        return 1.0 / np.maximum(cands.net_ms[b], 1e-3)


class RandomCapacity(RandomPolicy):
    """Clusters with room drawn with probability proportional to their free capacity."""

    name = "random-capacity"

    def weights(self, sim: StreamSim, cands: Candidates, b: np.ndarray) -> np.ndarray:
        cl = cands.cluster[b]
        free = sim.cap * sim.world.cluster_acc[cl] - sim.cluster_load[cl]
        return np.maximum(free, 0.0)


#: The ten static policies, in the order of ASET's action space.
STATIC_POLICIES: list[type[StaticPolicy]] = [
    Closest,
    Fastest,
    LeastLoaded,
    MostAccurate,
    Cheapest,
    CloudFirst,
    EdgeFirst,
    RandomPolicy,
    RandomLatency,
    RandomCapacity,
]
STATIC_NAMES: list[str] = [p.name for p in STATIC_POLICIES]


class PolicySelector:
    """A dispatch scheduler that delegates every route to the static policy in force.

    ``choice`` is the index of that policy; :meth:`begin_window` calls ``decide`` (if given)
    with the simulator to set it for the window.
    """

    name = "selector"

    def __init__(self, decide: Any = None, name: str = "selector") -> None:
        self.name = name
        self.decide = decide
        self.policies: list[StaticPolicy] = [cls() for cls in STATIC_POLICIES]
        self.choice = 0

    def reset(self, world: StreamWorld, rng: np.random.Generator) -> None:
        for p in self.policies:
            p.reset(world, rng)

    def begin_window(self, sim: StreamSim) -> None:
        if self.decide is not None:
            self.choice = int(self.decide(sim, self.choice))

    def route(self, sim: StreamSim, cands: Candidates, room: np.ndarray) -> int:
        return self.policies[self.choice].route(sim, cands, room)


class OracleWindow(PolicySelector):
    """The per-window oracle: at every window start, simulate the window under each static
    policy from a snapshot of the run, then route the window with the one of the best success
    ratio (ties: the policy in force, else the first in :data:`STATIC_NAMES` order).

    It sees the window's future (its arrivals and processing times), so no real scheduler can
    do better within a window; it is greedy, one window at a time, so over a run it is a
    reference for what choosing per window can reach, not a bound. ``scores`` holds the last
    window's success ratio under each static policy.
    """

    def __init__(self) -> None:
        super().__init__(name="oracle-window")
        self.scores = np.zeros(len(self.policies))
        self._probing = False

    def begin_window(self, sim: StreamSim) -> None:
        if self._probing:
            return
        state = sim.snapshot()
        self._probing = True
        try:
            for k in range(len(self.policies)):
                if k:
                    sim.restore(state)
                self.choice = k
                self.scores[k] = sim.step_window().ratios()[0]
        finally:
            self._probing = False
            sim.restore(state)
        best = self.scores.max()
        previous = sim.choices[-1] if sim.choices else -1
        if previous >= 0 and self.scores[previous] >= best:
            self.choice = previous
        else:
            self.choice = int(np.argmax(self.scores >= best))


#: Every scheduler of the streams setting by name. ``checkpoint=True`` marks a learned one,
#: built with ``make(name, checkpoint=PATH)``.
SCHEDULERS: Registry[StreamScheduler] = Registry("streams dispatch scheduler")
for _cls in STATIC_POLICIES:
    SCHEDULERS.register(_cls.name, _cls, description=(_cls.__doc__ or "").strip(), static=True)
SCHEDULERS.register(
    "oracle-window",
    OracleWindow,
    description="reference: each window routed by the static policy that does best in it "
    "(simulated from a snapshot; sees the window's future)",
    reference=True,
)
SCHEDULERS.register(
    "aset",
    "edgesched.rl.aset:AsetScheduler",
    description="ASET: a learned selector of the static policy per window",
    checkpoint=True,
)


def make(name: str, **kwargs: Any) -> StreamScheduler:
    """A streams-setting scheduler by name (ConfigError for an unknown one).

    Example:
        >>> make("closest").name
        'closest'
        >>> "aset" in names()
        True
    """
    return SCHEDULERS.make(name, **kwargs)


def names() -> list[str]:
    return SCHEDULERS.names()
