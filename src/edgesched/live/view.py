"""The live view of a device-setting world: what a scheduler sees, built from live
observations instead of simulated events.

The device setting's schedulers (the six baselines and ECSRL) are driven as
``scheduler.reset(view, rng)`` then ``scheduler.choose(view, r, mask)``, where the simulator
passes itself as ``view``. :class:`LiveView` presents the same state from what the gateway
observes on the real workers:

- per machine, the workloads committed to it (running, or on their way over the emulated
  LAN) by variant and memory, the workloads running with their start times, and the remaining
  solo work of each, advanced at every start and end with the co-location slow-down of the
  scenario's model (the same piecewise-linear progress the simulator uses);
- the cloud's FIFO queue and the emulated WAN uplink's next free time;
- the request's task, accuracy requirement, deadline and arrival (a ring of
  :data:`CAPACITY` slots indexed ``r``);
- the energy of every machine from its power model integrated over the live workload counts,
  the dynamic part attributed equally to the running requests, as in the simulator.

The estimates the schedulers call (``expected``, ``lookahead``, the committed load) are the
simulator's own functions (:mod:`edgesched.dispatch.devices.forecast`) applied to this view, so
the same state gives the same decision live and in simulation (a test checks it on every
scheduler). The view is not thread-safe: the gateway uses it from its event loop only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesched.dispatch.devices import forecast
from edgesched.dispatch.devices.world import DeviceWorld

#: Requests the ring holds; a slot is reused only long after its request ended.
CAPACITY = 1 << 16


@dataclass
class _Clock:
    """``view.loop.now``: milliseconds since the view started (monotonic)."""

    t0: float

    @property
    def now(self) -> float:
        return (time.monotonic() - self.t0) * 1000.0

    def at(self, t: float) -> float:
        """A ``time.monotonic()`` reading on this clock (ms)."""
        return (t - self.t0) * 1000.0


@dataclass
class _Requests:
    """The ring of request attributes the schedulers read (``view.req``)."""

    arrival_ms: np.ndarray
    task: np.ndarray
    needs_cloud: np.ndarray
    min_accuracy: np.ndarray
    deadline_ms: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Requests:
        return cls(np.zeros(n), np.zeros(n, np.int64), np.zeros(n, bool), np.zeros(n), np.ones(n))


class LiveView(forecast.Tables):
    """The device-setting state a scheduler reads, kept from live observations.

    Args:
        world: the scenario's world (its machines, variants, power models, network).
        capacity: ring slots for requests.
        t0: the ``time.monotonic()`` origin of ``loop.now`` (default: now).
    """

    def __init__(self, world: DeviceWorld, capacity: int = CAPACITY, t0: float | None = None):
        self.world = world
        w = world
        M, V = w.n_machines, len(w.variants)
        self.D = w.n_edge
        self.loop = _Clock(time.monotonic() if t0 is None else t0)
        self.capacity = capacity
        self.req = _Requests.empty(capacity)
        self.set_tables(w)  # the static tables as Python lists (the hot loops index scalars)
        # per request (ring)
        self.arrival = [0.0] * capacity
        self.task = [0] * capacity
        self.min_acc = [0.0] * capacity
        self.deadline = [1.0] * capacity
        self.base = np.zeros(capacity)
        self.variant = np.full(capacity, -1, dtype=np.int64)
        self.energy = [0.0] * capacity
        # per machine
        self.run_req: list[list[int]] = [[] for _ in range(M)]
        self.run_v: list[list[int]] = [[] for _ in range(M)]
        self.run_rem: list[list[float]] = [[] for _ in range(M)]
        self.run_fac: list[list[float]] = [[] for _ in range(M)]
        self.committed = [0] * M
        self.committed_mem = [0.0] * M
        self.committed_v = [[0] * V for _ in range(M)]
        self.joining: list[list[tuple[float, float, int, int]]] = [[] for _ in range(M)]
        self.cloud_queue: list[int] = []
        self.wan_free = 0.0
        self.down = [False] * M
        self.last = [0.0] * M
        self.total_j = [0.0] * M
        self.idle_j = [0.0] * M
        self.dynamic_j = [0.0] * M
        self.served = [0] * M
        self._seq = 0
        self.pending: int | None = None
        #: slow-down factors per (machine, running variants in order): a handful of mixes
        self._fac_cache: dict[tuple[int, ...], list[float]] = {}
        #: the estimate of the decision under way (:meth:`hold`): no event can change the
        #: state between the gateway's admission check and the scheduler's call
        self._held: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None

    # ------------------------------------------------------------------ requests

    def admit(self, task: int, min_accuracy: float, deadline_ms: float) -> int:
        """Register an arriving request; returns its index ``r``."""
        r = self._seq % self.capacity
        self._seq += 1
        now = self.loop.now
        self.arrival[r] = now
        self.task[r] = task
        self.min_acc[r] = min_accuracy
        self.deadline[r] = deadline_ms
        edge_acc = self.vacc[self.edge_v[task]]
        req = self.req
        req.arrival_ms[r] = now
        req.task[r] = task
        req.needs_cloud[r] = min_accuracy > edge_acc
        req.min_accuracy[r] = min_accuracy
        req.deadline_ms[r] = deadline_ms
        self.base[r] = 0.0
        self.variant[r] = -1
        self.energy[r] = 0.0
        return r

    @property
    def admitted(self) -> int:
        return self._seq

    # ------------------------------------------------------------------ what schedulers call

    def mask(self, r: int | None = None) -> np.ndarray:
        """Allowed actions (the simulator's rule, :func:`forecast.mask`): edge devices that
        are up, with a free workload slot and memory for the edge variant, when it is accurate
        enough; the cloud always (its requests wait in its queue while it is down)."""
        return forecast.mask(self, self.pending if r is None else r, self.down)

    def cloud_room(self, v: int) -> int:
        """The cloud device that is up, with room for ``v`` and the fewest committed, or -1."""
        return forecast.cloud_room(self, v, self.down)

    def expected(self, r: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The simulator's expected delay and energy per action, on the live state."""
        r = self.pending if r is None else r
        if r is None:
            raise ValueError("no pending request")
        held = self._held
        if held is not None and held[0] == r:
            return held[1]
        # no refresh first: the estimate reads what is committed, the WAN backlog and the
        # cloud queue, never the running workloads' progress or the energy (which
        # :meth:`lookahead` and :meth:`snapshot` bring up to date)
        return forecast.expected(self, r)

    def hold(self, r: int, estimate: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Answer :meth:`expected` for ``r`` with ``estimate`` until released (None): the
        gateway computed it for the admission check an instant before, with no event since."""
        self._held = None if estimate is None else (r, estimate)

    def lookahead(
        self, r: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The simulator's per-action projection, on the live state."""
        self._refresh()
        r = self.pending if r is None else r
        if r is None:
            raise ValueError("no pending request")
        return forecast.lookahead(self, r)

    # ------------------------------------------------------------------ live events

    def commit(self, m: int, v: int) -> None:
        """Reserve a workload slot of variant ``v`` on machine ``m``."""
        self.committed[m] += 1
        self.committed_mem[m] += self.vmem[v]
        self.committed_v[m][v] += 1

    def uncommit(self, m: int, v: int) -> None:
        self.committed[m] -= 1
        self.committed_mem[m] -= self.vmem[v]
        self.committed_v[m][v] -= 1

    def join_edge(self, m: int, r: int, v: int, arrive_ms: float) -> None:
        """Request ``r`` is on its way to edge device ``m`` (reserved), due at ``arrive_ms``."""
        self.variant[r] = v
        self.joining[m].append((arrive_ms, self.proc[m][v], v, r))

    def _unjoin(self, m: int, r: int) -> None:
        j = self.joining[m]
        for k, item in enumerate(j):
            if item[3] == r:
                del j[k]
                return

    def start(self, m: int, r: int, v: int, t_ms: float | None = None) -> None:
        """Request ``r`` started on machine ``m`` (its slot was committed before)."""
        now = self.loop.now if t_ms is None else t_ms
        self._advance(m, now)
        self._unjoin(m, r)
        self.variant[r] = v
        self.base[r] = self.proc[m][v]
        self.run_req[m].append(r)
        self.run_v[m].append(v)
        self.run_rem[m].append(self.proc[m][v])
        self.run_fac[m].append(1.0)
        self._factors(m)

    def end(self, m: int, r: int, t_ms: float | None = None) -> None:
        """Request ``r`` ended on machine ``m`` (finished or lost); frees its slot."""
        now = self.loop.now if t_ms is None else t_ms
        self._advance(m, now)
        if r in self.run_req[m]:
            k = self.run_req[m].index(r)
            v = self.run_v[m][k]
            for lst in (self.run_req[m], self.run_v[m], self.run_rem[m], self.run_fac[m]):
                del lst[k]
            self.served[m] += 1
            self._factors(m)
        else:
            v = int(self.variant[r])
            self._unjoin(m, r)
        self.uncommit(m, v)

    def _factors(self, m: int) -> None:
        vs = self.run_v[m]
        key = (m, *vs)
        fac = self._fac_cache.get(key)
        if fac is None:  # the slow-down of each running workload, by what runs beside it
            if len(self._fac_cache) >= 4096:  # bounded, whatever the machines' limits
                self._fac_cache.clear()
            coef = self.coef[m]
            fac = self._fac_cache[key] = [
                1.0 + sum(coef[a][b] for b in vs) - coef[a][a] for a in vs
            ]
        self.run_fac[m] = fac[:]  # end() edits the machine's list in place

    def _advance(self, m: int, now: float) -> None:
        """Progress and energy of machine ``m`` from its last event to ``now``."""
        dt = now - self.last[m]
        if dt <= 0:
            return
        n = len(self.run_req[m])
        self.idle_j[m] += self.idle[m] * dt * 1e-3
        if n:
            dyn = min(self.active[m] * n, self.cap[m]) * dt * 1e-3
            self.dynamic_j[m] += dyn
            share = dyn / n
            for r in self.run_req[m]:
                self.energy[r] += share
            self.run_rem[m] = [
                max(x - dt / f, 0.0) for x, f in zip(self.run_rem[m], self.run_fac[m], strict=True)
            ]
        self.total_j[m] = self.idle_j[m] + self.dynamic_j[m]
        self.last[m] = now

    def _refresh(self) -> None:
        now = self.loop.now
        for m in range(self.world.n_machines):
            self._advance(m, now)

    # ------------------------------------------------------------------ reading

    def power_w(self, m: int) -> float:
        n = len(self.run_req[m])
        return self.idle[m] + min(self.active[m] * n, self.cap[m])

    def snapshot(self) -> dict[str, Any]:
        """Per machine: running, committed, queue, served, energy, power (for the status)."""
        self._refresh()
        w = self.world
        names = w.machine_names
        return {
            "machines": [
                {
                    "name": names[m],
                    "class": w.machine_class[m],
                    "tier": "edge" if m < self.D else "cloud",
                    "up": not self.down[m],
                    "running": len(self.run_req[m]),
                    "committed": self.committed[m],
                    "limit": self.max_n[m],
                    "served": self.served[m],
                    "energy_j": round(self.total_j[m], 3),
                    "dynamic_j": round(self.dynamic_j[m], 3),
                    "power_w": round(self.power_w(m), 3),
                }
                for m in range(w.n_machines)
            ],
            "cloud_queue": len(self.cloud_queue),
            "wan_backlog_ms": round(max(0.0, self.wan_free - self.loop.now), 3),
        }
