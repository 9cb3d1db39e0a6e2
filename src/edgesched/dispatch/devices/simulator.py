"""The per-request event simulator of the device setting (ECSRL's), on
:class:`edgesched.core.events.EventLoop`.

The model (co-location slow-down, power and energy attribution, cloud offload over a shared
WAN) is documented in :mod:`edgesched.dispatch.devices`. This module runs it:

- :meth:`DeviceSim.next_request` advances the world to the next request arrival (a decision
  point) and returns its index, or None when every request has ended;
- :meth:`DeviceSim.dispatch` sends the pending request to an action: an edge device
  (``0..D-1``) or the cloud (``D``); :meth:`DeviceSim.mask` says which actions are allowed;
- :meth:`DeviceSim.run` drives a scheduler through every request and returns an
  :class:`DeviceResult` with one row per request.

Times are in milliseconds, power in watts, energy in joules. Per event the work is
proportional to the workloads of one machine (a few), so a 17,000-request run takes well under
a second.

RANDOMNESS

One :class:`~edgesched.core.rng.RandomStreams` per run: ``arrivals`` (arrival times),
``requests`` (task, offload need, accuracy requirement, deadline), ``processing`` (jitter,
drawn per request whatever its destination) and ``policy`` (handed to the scheduler). The
requests of a seed are the same whatever the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgesched.core.errors import SchedulerError
from edgesched.core.events import EventLoop
from edgesched.core.rng import RandomStreams
from edgesched.dispatch.devices import forecast
from edgesched.dispatch.devices.forecast import EPS_MS
from edgesched.dispatch.devices.world import DeviceWorld
from edgesched.dispatch.outcomes import REJECTED, SUCCESS, VIOLATION

PENDING = -1

# event kinds; at equal times, ends before starts before arrivals (capacity frees first)
_DONE, _DEVICE_IN, _CLOUD_IN, _ARRIVE = 0, 1, 2, 3


class DeviceScheduler(Protocol):
    """What :meth:`DeviceSim.run` drives: one action per request."""

    name: str

    def reset(self, sim: DeviceSim, rng: np.random.Generator) -> None:
        """Start a run; ``rng`` is the run's ``policy`` stream."""
        ...

    def choose(self, sim: DeviceSim, request: int, mask: np.ndarray) -> int:
        """The action for ``request``: an edge device index or ``sim.world.cloud_action``.

        ``mask[a]`` says whether action ``a`` is allowed; choosing a masked one is a bug.
        """
        ...


@dataclass(frozen=True)
class Requests:
    """The requests of one seed (R of them), in arrival order."""

    arrival_ms: np.ndarray
    task: np.ndarray
    needs_cloud: np.ndarray
    min_accuracy: np.ndarray
    deadline_ms: np.ndarray
    jitter: np.ndarray

    def __len__(self) -> int:
        return int(self.arrival_ms.size)


def generate_requests(world: DeviceWorld, streams: RandomStreams) -> Requests:
    """Draw a seed's requests (see the model in :mod:`edgesched.dispatch.devices`)."""
    req = world.scenario.requests
    if world.arrivals is not None:  # a trace: its times exactly (per-second counts spread)
        arrival = world.arrivals.times(streams["arrivals"]) * 1000.0
    else:
        arrival = np.sort(streams["arrivals"].uniform(0.0, req.duration_s * 1000.0, req.count))
    n = int(arrival.size)
    g = streams["requests"]
    task = g.choice(len(world.tasks), size=n, p=world.task_share)
    needs = g.random(n) < req.offload_share
    edge_acc = world.variant_acc[world.edge_variant[task]]
    cloud_acc = world.variant_acc[world.cloud_variant[task]]
    u = g.random(n)
    # requirement above the edge model: strictly between the edge and the cloud accuracy
    high = edge_acc + (cloud_acc - edge_acc) * (0.01 + 0.99 * u)
    low = np.clip(edge_acc - req.accuracy_margin * u, 0.0, 1.0)
    min_acc = np.where(needs, high, low)
    lo, hi = req.deadline_ms
    deadline = g.uniform(lo, hi, n) if hi > lo else np.full(n, lo)
    sigma = world.scenario.processing_jitter
    jitter = (
        streams["processing"].lognormal(-0.5 * sigma * sigma, sigma, n) if sigma > 0 else np.ones(n)
    )
    return Requests(arrival, task, needs, min_acc, deadline, jitter)


@dataclass
class DeviceResult:
    """One run: a row per request, and the machines' energy.

    Per request: ``action`` (edge device index or D for the cloud; -1 never dispatched),
    ``machine`` (machine index that served it, -1 if rejected), ``variant`` (index into
    ``world.variants``), the delay parts ``network_ms`` (latency both ways + transmission),
    ``wan_queue_ms`` (waiting for the WAN uplink), ``queue_ms`` (waiting for a cloud device),
    ``processing_ms`` (start to end, slow-down included) with ``base_ms`` (the solo time),
    ``delay_ms`` (their sum), ``start_ms`` (processing start), ``energy_j`` (dynamic energy
    attributed) and ``outcome``.
    """

    scheduler: str
    seed: int
    scenario: str
    machine_names: list[str]
    action_names: list[str]
    variants: list[str]
    tasks: list[str]
    requests: Requests
    action: np.ndarray
    machine: np.ndarray
    variant: np.ndarray
    network_ms: np.ndarray
    wan_queue_ms: np.ndarray
    queue_ms: np.ndarray
    processing_ms: np.ndarray
    base_ms: np.ndarray
    delay_ms: np.ndarray
    start_ms: np.ndarray
    energy_j: np.ndarray
    outcome: np.ndarray
    accuracy: np.ndarray
    horizon_ms: float
    machine_total_j: np.ndarray
    machine_idle_j: np.ndarray
    machine_dynamic_j: np.ndarray
    n_edge: int

    @property
    def count(self) -> int:
        return int(self.outcome.size)

    @property
    def served(self) -> np.ndarray:
        return self.machine >= 0

    def slowdown(self) -> np.ndarray:
        """processing / solo time of every served request (>= 1)."""
        s = self.served
        return self.processing_ms[s] / self.base_ms[s]

    def metrics(self) -> dict[str, float]:
        """Throughput rate, energy per request, mean slow-down, offload fraction, delays."""
        n = max(self.count, 1)
        s = self.served
        delays = self.delay_ms[s]
        pct = (
            (lambda q: float(np.percentile(delays, q))) if delays.size else (lambda q: float("nan"))
        )
        return {
            "requests": float(self.count),
            "throughput_rate": float(np.sum(self.outcome == SUCCESS) / n),
            "violation_ratio": float(np.sum(self.outcome == VIOLATION) / n),
            "rejection_ratio": float(np.sum(self.outcome == REJECTED) / n),
            "energy_per_request_j": float(self.energy_j.sum() / n),
            "total_energy_per_request_j": float(self.machine_total_j.sum() / n),
            "mean_slowdown": float(self.slowdown().mean()) if s.any() else float("nan"),
            "offload_fraction": float(np.sum(self.action == len(self.action_names) - 1) / n),
            "mean_delay_ms": float(delays.mean()) if delays.size else float("nan"),
            "p50_delay_ms": pct(50),
            "p95_delay_ms": pct(95),
            "p99_delay_ms": pct(99),
        }


class DeviceSim(forecast.Tables):
    """One run of a device-setting world with one seed (see the module docstring).

    Example:
        >>> from edgesched.dispatch.devices.scenario import load
        >>> world = load("ecsrl-17k", duration_s=2)
        >>> sim = DeviceSim(world, seed=0)
        >>> r = sim.next_request()
        >>> sim.dispatch(world.cloud_action)
        >>> sim.next_request()
        1
    """

    def __init__(self, world: DeviceWorld, seed: int, requests: Requests | None = None) -> None:
        self.world = world
        self.seed = seed
        self.streams = RandomStreams(seed)
        self.req = generate_requests(world, self.streams) if requests is None else requests
        w = world
        R, M = len(self.req), w.n_machines
        self.loop = EventLoop()
        self.D = w.n_edge
        self.set_tables(w)  # the static tables as Python lists (the hot loops index scalars)
        self.arrival = self.req.arrival_ms.tolist()
        self.task = self.req.task.tolist()
        self.jitter = self.req.jitter.tolist()
        self.min_acc = self.req.min_accuracy.tolist()
        self.deadline = self.req.deadline_ms.tolist()
        V = len(w.variants)
        # per machine: running workloads (request, variant, remaining solo ms, factor)
        self.run_req: list[list[int]] = [[] for _ in range(M)]
        self.run_v: list[list[int]] = [[] for _ in range(M)]
        self.run_rem: list[list[float]] = [[] for _ in range(M)]
        self.run_fac: list[list[float]] = [[] for _ in range(M)]
        # committed: running + on their way (edge reservations), per variant
        self.committed = [0] * M
        self.committed_mem = [0.0] * M
        self.committed_v = [[0] * V for _ in range(M)]
        self.last = [0.0] * M
        self.version = [0] * M
        self.total_j = [0.0] * M
        self.idle_j = [0.0] * M
        self.dynamic_j = [0.0] * M
        self.cloud_queue: list[int] = []
        self.wan_free = 0.0
        # edge workloads on their way: (arrival time, profile ms, variant, request)
        self.joining: list[list[tuple[float, float, int, int]]] = [[] for _ in range(M)]
        # per request results
        self.action = np.full(R, PENDING, dtype=np.int64)
        self.machine = np.full(R, PENDING, dtype=np.int64)
        self.variant = np.full(R, PENDING, dtype=np.int64)
        self.network = np.zeros(R)
        self.wan_queue = np.zeros(R)
        self.queue = np.zeros(R)
        self.start = np.zeros(R)
        self.at_machine = np.zeros(R)
        self.processing = np.zeros(R)
        self.base = np.zeros(R)
        self.delay = np.zeros(R)
        self.energy = [0.0] * R
        self.outcome = np.full(R, PENDING, dtype=np.int64)
        self.ended = 0
        self.late = 0  # requests ended without success so far (the deadline term)
        self.pending: int | None = None
        # the serving host's own costs (scenario.host; none by default)
        host = w.scenario.host
        req = w.scenario.requests
        self.host_ms = float(host.request_ms)
        self.host_stretch = host.stretch(req.count / max(req.duration_s, 1e-9))
        self._next_arrival = 0
        self._finished = False
        if R:
            self.loop.schedule(self.arrival[0], (_ARRIVE, 0, 0), priority=_ARRIVE)

    # ------------------------------------------------------------------ machines

    def _advance(self, m: int, t: float) -> None:
        """Bring machine ``m``'s progress and energy up to time ``t``."""
        dt = t - self.last[m]
        if dt <= 0.0:
            return
        idle = self.idle[m] * dt * 1e-3
        self.idle_j[m] += idle
        reqs = self.run_req[m]
        n = len(reqs)
        if n:
            dyn = min(self.active[m] * n, self.cap[m]) * dt * 1e-3
            self.dynamic_j[m] += dyn
            self.total_j[m] += idle + dyn
            share = dyn / n
            energy = self.energy
            rem = self.run_rem[m]
            fac = self.run_fac[m]
            for k in range(n):
                rem[k] -= dt / fac[k]
                energy[reqs[k]] += share
        else:
            self.total_j[m] += idle
        self.last[m] = t

    def _reschedule(self, m: int) -> None:
        """Recompute the slow-down factors of ``m``'s workloads and its next completion."""
        self.version[m] += 1
        vs = self.run_v[m]
        if not vs:
            return
        coef = self.coef[m]
        fac = [1.0 + sum(coef[a][b] for b in vs) - coef[a][a] for a in vs]
        self.run_fac[m] = fac
        rem = self.run_rem[m]
        soonest = min(max(r, 0.0) * f for r, f in zip(rem, fac, strict=True))
        self.loop.schedule(self.loop.now + soonest, (_DONE, m, self.version[m]), priority=_DONE)

    def _start(self, m: int, r: int, v: int) -> None:
        now = self.loop.now
        self._advance(m, now)
        base = self.proc[m][v] * self.jitter[r]
        self.base[r] = base
        self.start[r] = now
        self.queue[r] = now - self.at_machine[r]
        self.machine[r] = m
        if m < self.D:
            self.joining[m] = [j for j in self.joining[m] if j[3] != r]
        self.run_req[m].append(r)
        self.run_v[m].append(v)
        self.run_rem[m].append(base * self.host_stretch)
        self.run_fac[m].append(1.0)
        self._reschedule(m)

    def _commit(self, m: int, v: int) -> None:
        self.committed[m] += 1
        self.committed_mem[m] += self.vmem[v]
        self.committed_v[m][v] += 1

    def _end(self, m: int, version: int) -> None:
        if version != self.version[m]:
            return  # superseded by a later start or end on the machine
        now = self.loop.now
        self._advance(m, now)
        reqs, vs, rem, fac = self.run_req[m], self.run_v[m], self.run_rem[m], self.run_fac[m]
        keep = [k for k in range(len(reqs)) if rem[k] > EPS_MS * max(1.0, fac[k])]
        ret = self.lan if m < self.D else self.wan
        for k in range(len(reqs)):
            if rem[k] > EPS_MS * max(1.0, fac[k]):
                continue
            r, v = reqs[k], vs[k]
            self.processing[r] = now - self.start[r]
            self.network[r] += ret
            d = (
                self.network[r]
                + self.wan_queue[r]
                + self.queue[r]
                + self.processing[r]
                + self.host_ms
            )
            self.delay[r] = d
            ok = d <= self.deadline[r] and self.vacc[v] >= self.min_acc[r]
            self.outcome[r] = SUCCESS if ok else VIOLATION
            self.late += 0 if ok else 1
            self.ended += 1
            self.committed[m] -= 1
            self.committed_mem[m] -= self.vmem[v]
            self.committed_v[m][v] -= 1
        self.run_req[m] = [reqs[k] for k in keep]
        self.run_v[m] = [vs[k] for k in keep]
        self.run_rem[m] = [rem[k] for k in keep]
        self.run_fac[m] = [fac[k] for k in keep]
        self._reschedule(m)
        if m >= self.D:
            self._drain_cloud_queue()

    def cloud_room(self, v: int) -> int:
        """The cloud device with room for a workload of ``v`` and the fewest committed, or -1
        (:func:`~edgesched.dispatch.devices.forecast.cloud_room`)."""
        return forecast.cloud_room(self, v)

    def _cloud_in(self, r: int) -> None:
        v = int(self.variant[r])
        self.at_machine[r] = self.loop.now
        m = self.cloud_room(v) if not self.cloud_queue else -1
        if m >= 0:
            self._commit(m, v)
            self._start(m, r, v)
        elif len(self.cloud_queue) < self.world.scenario.cloud.max_queue:
            self.cloud_queue.append(r)
        else:
            self.outcome[r] = REJECTED
            self.machine[r] = -1
            self.delay[r] = self.network[r] + self.wan_queue[r]
            self.late += 1
            self.ended += 1

    def _drain_cloud_queue(self) -> None:
        q = self.cloud_queue
        while q:
            r = q[0]
            v = int(self.variant[r])
            m = self.cloud_room(v)
            if m < 0:
                return
            q.pop(0)
            self._commit(m, v)
            self._start(m, r, v)

    # ------------------------------------------------------------------ decisions

    def next_request(self) -> int | None:
        """Run the world to the next arrival and return its request index (None: all ended).

        Raises:
            SchedulerError: the previous request was not dispatched.
        """
        if self.pending is not None:
            raise SchedulerError(f"request {self.pending} was not dispatched")
        loop = self.loop
        while loop:
            kind, a, b = loop.pop()
            if kind == _DONE:
                self._end(a, b)
            elif kind == _DEVICE_IN:
                self._start(a, b, int(self.variant[b]))
            elif kind == _CLOUD_IN:
                self._cloud_in(a)
            else:
                self.pending = a
                nxt = a + 1
                if nxt < len(self.arrival):
                    loop.schedule(self.arrival[nxt], (_ARRIVE, nxt, 0), priority=_ARRIVE)
                return a
        self._finish()
        return None

    def mask(self, r: int | None = None) -> np.ndarray:
        """Allowed actions for request ``r`` (default: the pending one): edge devices with a
        free workload slot and memory for the edge variant, when that variant is accurate
        enough; the cloud always (:func:`~edgesched.dispatch.devices.forecast.mask`)."""
        return forecast.mask(self, self.pending if r is None else r)

    def dispatch(self, action: int) -> None:
        """Send the pending request to ``action`` (edge device index, or D for the cloud).

        Raises:
            SchedulerError: no pending request, or an action the mask forbids.
        """
        r = self.pending
        if r is None:
            raise SchedulerError("dispatch() without a pending request; call next_request()")
        a = int(action)
        if not 0 <= a <= self.D or not self.mask(r)[a]:
            raise SchedulerError(
                f"request {r}: action {action!r} is not allowed (mask {self.mask(r).tolist()})"
            )
        now = self.loop.now
        t = self.task[r]
        self.action[r] = a
        self.pending = None
        if a < self.D:
            v = self.edge_v[t]
            self.variant[r] = v
            self._commit(a, v)
            self.network[r] = self.lan + self.lan_tx[t]
            self.at_machine[r] = now + self.network[r]
            self.joining[a].append((self.at_machine[r], self.proc[a][v], v, r))
            self.loop.schedule(self.at_machine[r], (_DEVICE_IN, a, r), priority=_DEVICE_IN)
        else:
            self.variant[r] = self.cloud_v[t]
            start = max(now, self.wan_free)
            self.wan_queue[r] = start - now
            self.wan_free = start + self.wan_tx[t]
            self.network[r] = self.wan_tx[t] + self.wan
            self.loop.schedule(self.wan_free + self.wan, (_CLOUD_IN, r, 0), priority=_CLOUD_IN)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        horizon = max(self.loop.now, self.world.scenario.requests.duration_s * 1000.0)
        self.horizon = horizon
        for m in range(self.world.n_machines):
            self._advance(m, horizon)

    @property
    def done(self) -> bool:
        return self._finished

    # ------------------------------------------------------------------ estimates

    def expected(self, r: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Expected delay (ms) and attributed energy (J) of request ``r`` (default: the
        pending one) on each action: :func:`edgesched.dispatch.devices.forecast.expected`."""
        r = self.pending if r is None else r
        assert r is not None, "no pending request"
        return forecast.expected(self, r)

    def lookahead(
        self, r: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per action, what sending request ``r`` (default: the pending one) there would do:
        :func:`edgesched.dispatch.devices.forecast.lookahead`."""
        r = self.pending if r is None else r
        assert r is not None, "no pending request"
        return forecast.lookahead(self, r)

    def degradation(self) -> float:
        """Mean slow-down factor minus one over every running workload (0 when none)."""
        total, n = 0.0, 0
        for fac in self.run_fac:
            total += sum(fac)
            n += len(fac)
        return total / n - 1.0 if n else 0.0

    def dynamic_energy_j(self) -> float:
        """Dynamic (attributed) energy of every machine up to now."""
        now = self.loop.now
        total = 0.0
        for m in range(self.world.n_machines):
            n = len(self.run_req[m])
            total += self.dynamic_j[m]
            if n and now > self.last[m]:
                total += min(self.active[m] * n, self.cap[m]) * (now - self.last[m]) * 1e-3
        return total

    # ------------------------------------------------------------------ runs

    def run(self, scheduler: DeviceScheduler) -> DeviceResult:
        """Drive ``scheduler`` through every request and return the result."""
        scheduler.reset(self, self.streams["policy"])
        while (r := self.next_request()) is not None:
            self.dispatch(scheduler.choose(self, r, self.mask(r)))
        return self.result(scheduler.name)

    def result(self, scheduler: str) -> DeviceResult:
        """The result of a finished run."""
        if not self._finished:
            raise SchedulerError("result() before every request ended")
        w = self.world
        v = self.variant
        acc = np.where(v >= 0, w.variant_acc[np.maximum(v, 0)], np.nan)
        return DeviceResult(
            scheduler=scheduler,
            seed=self.seed,
            scenario=w.name,
            machine_names=list(w.machine_names),
            action_names=w.action_names,
            variants=list(w.variants),
            tasks=list(w.tasks),
            requests=self.req,
            action=self.action.copy(),
            machine=self.machine.copy(),
            variant=v.copy(),
            network_ms=self.network.copy(),
            wan_queue_ms=self.wan_queue.copy(),
            queue_ms=self.queue.copy(),
            processing_ms=self.processing.copy(),
            base_ms=self.base.copy(),
            delay_ms=self.delay.copy(),
            start_ms=self.start.copy(),
            energy_j=np.array(self.energy),
            outcome=self.outcome.copy(),
            accuracy=acc,
            horizon_ms=float(self.horizon),
            machine_total_j=np.array(self.total_j),
            machine_idle_j=np.array(self.idle_j),
            machine_dynamic_j=np.array(self.dynamic_j),
            n_edge=self.D,
        )


def simulate(world: DeviceWorld, scheduler: DeviceScheduler, seed: int, **_: Any) -> DeviceResult:
    """One run of ``scheduler`` on ``world`` with ``seed``."""
    return DeviceSim(world, seed).run(scheduler)
