"""The live runtime: real requests, one scheduler decision each, real inference on workers.

:class:`LiveRuntime` owns everything a gateway runs: the scenario's world, the scheduler, the
:class:`~edgesched.live.view.LiveView`, one :class:`~edgesched.live.worker.WorkerHandle` per
machine, the emulated network (LAN and WAN delays and the WAN uplink's FIFO), the cloud's
bounded FIFO queue, the per-request records and the Prometheus metrics. :meth:`infer` is one
request's whole path:

1. admit: the request's task, accuracy requirement and deadline go into the view;
2. shed: if every allowed action's expected delay exceeds the deadline (or the gateway has
   ``max_inflight`` requests already), it is rejected at once with the reason;
3. decide: ``scheduler.choose(view, r, mask)``, the same call the simulator makes;
4. route: an edge device reserves a slot, the payload crosses the emulated LAN, the worker
   runs it; the cloud: the payload waits for and crosses the emulated WAN uplink, then takes a
   cloud device with room or waits in the cloud's FIFO queue (bounded: beyond
   ``cloud.max_queue`` it is rejected);
5. answer: exactly one outcome, ``success`` (within the deadline, accurate enough), ``late``
   (finished past it, or dropped from the cloud queue past it when ``late_rule`` is
   ``drop``), ``rejected`` (with the reason) or ``failed`` (the worker died and no retry fits
   the deadline, or the model raised).

A worker that dies fails none of its in-flight requests silently: each is retried once on the
scheduler's next choice (the dead device masked) when its deadline still allows, else answered
``failed``; the worker is restarted. Times are milliseconds on the view's clock.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from edgesched.core.errors import ConfigError
from edgesched.dispatch.devices.world import DeviceWorld
from edgesched.live.models import spec
from edgesched.live.onnx_cache import onnx_path
from edgesched.live.view import LiveView
from edgesched.live.worker import WorkerHandle, wait_ready

Outcome = Literal["success", "late", "rejected", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("success", "late", "rejected", "failed")


@dataclass(frozen=True)
class LiveOptions:
    """How the gateway runs a scenario (the scenario itself says what it runs).

    Attributes:
        tiny: tiny test-sized models instead of the real architectures at real input sizes.
        pin: pin edge device ``k`` to core ``k mod cores`` and the cloud to the cores no edge
            device uses (every core when there is none: :func:`pinned_cores`).
        emulate_network: sleep the scenario's LAN/WAN delays on the path (off: zero network).
        admission: reject at once a request that no allowed action is expected to serve
            within its deadline.
        late_rule: ``answer`` a request that waited past its deadline when it finishes, or
            ``drop`` it from the cloud queue once its deadline passes (answered ``late``).
        max_inflight: requests in the gateway at once; beyond, new ones are rejected.
        retry: retry a request whose worker died on another action when its deadline allows.
        records: per-request records kept for the status page and ``/v1/records``.
        seed: the scheduler's random stream (the ``policy`` stream of a simulated run).
        noop: every variant runs the no-op model (to measure the gateway's own cost).
    """

    tiny: bool = False
    pin: bool = True
    emulate_network: bool = True
    admission: bool = True
    late_rule: Literal["answer", "drop"] = "answer"
    max_inflight: int = 1024
    retry: bool = True
    records: int = 20_000
    seed: int = 0
    noop: bool = False


class Record(NamedTuple):
    """One answered request (what ``POST /v1/infer`` returns).

    The gateway keeps the last ``records`` of them (:meth:`LiveRuntime.recent`) as plain
    tuples of strings and numbers (:meth:`kept`), which the garbage collector stops tracking
    after one pass: kept as objects it tracks, 20,000 of them were traversed by every
    collection of their generation, about 20 us of the gateway's CPU per request
    (``gc.callbacks``).
    """

    id: str
    task: str
    outcome: Outcome
    reason: str | None
    action: int | None
    device: str | None
    variant: str | None
    arrival_ms: float
    network_ms: float
    wan_queue_ms: float
    queue_ms: float
    compute_ms: float
    gateway_ms: float
    total_ms: float
    energy_j: float
    retried: bool = False
    result: dict[str, float] | None = None

    def kept(self) -> tuple[Any, ...]:
        """As the gateway keeps it: an exact tuple holding no dict (a tuple with a dict in
        it stays tracked by the collector), read back by :meth:`from_kept`."""
        fields = self[:-1]
        if not self.result:
            return fields
        # the result's keys and values after the other fields: one tuple, no nesting, which
        # one pass of the collector untracks (a nested one takes a pass per level)
        return (*fields, *(x for kv in self.result.items() for x in kv))

    @classmethod
    def from_kept(cls, row: tuple[Any, ...]) -> Record:
        n = len(cls._fields) - 1
        flat = row[n:]
        result = dict(zip(flat[::2], flat[1::2], strict=True)) if flat else None
        return cls._make((*row[:n], result))

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "outcome": self.outcome,
            "reason": self.reason,
            "action": self.action,
            "device": self.device,
            "variant": self.variant,
            "result": self.result,
            "retried": self.retried,
            "energy_j": self.energy_j,
            "timing_ms": {
                "network": self.network_ms,
                "network_emulated": True,
                "wan_queue": self.wan_queue_ms,
                "queue": self.queue_ms,
                "compute": self.compute_ms,
                "gateway": self.gateway_ms,
                "total": self.total_ms,
            },
        }


@dataclass
class _Timing:
    network: float = 0.0
    wan_queue: float = 0.0
    queue: float = 0.0
    compute: float = 0.0


class _Histogram:
    """A histogram kept as plain numbers (bucket counts and sum) and read on scrape."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = list(bounds)
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, x: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, x)] += 1  # bucket ``le`` is inclusive
        self.sum += x

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        cum, buckets = 0, []
        for bound, n in zip([*self.bounds, math.inf], self.counts, strict=True):
            cum += n
            buckets.append((floatToGoString(bound), cum))
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=self.sum)


class _Metrics(Collector):
    """The gateway's Prometheus metrics, in a registry of its own.

    The per-request ones (answers by outcome and device, the delay and gateway-overhead
    histograms) are plain counters turned into metric families when ``/metrics`` is scraped
    (a collector of their own): ``prometheus_client``'s ``Counter.inc`` and
    ``Histogram.observe`` take a lock and walk the buckets in Python on every request. The
    gauges are set on scrape as well (:meth:`LiveRuntime.refresh_gauges`).
    """

    def __init__(self, machines: list[str]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.created = time.time()
        #: answered requests per (outcome, device)
        self.by_outcome = {(o, name): 0 for name in [*machines, "none"] for o in OUTCOMES}
        self.delay = _Histogram((1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 750, 1000, 2000, 5000))
        self.gateway = _Histogram((0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50))
        r.register(self)
        self.running = Gauge("edgesched_running", "Running workloads", ["device"], registry=r)
        self.committed = Gauge(
            "edgesched_committed",
            "Committed workloads (running or on their way)",
            ["device"],
            registry=r,
        )
        self.energy = Gauge(
            "edgesched_energy_joules",
            "Energy per the device's power model (J)",
            ["device"],
            registry=r,
        )
        self.queue = Gauge("edgesched_cloud_queue", "Requests in the cloud's queue", registry=r)
        self.restarts = Gauge(
            "edgesched_worker_restarts", "Worker restarts", ["device"], registry=r
        )
        self.up = Gauge(
            "edgesched_worker_up", "Worker process ready (1) or not", ["device"], registry=r
        )

    def collect(self) -> Iterator[Metric]:
        """The per-request metrics as they are now (``prometheus_client``'s collector API)."""
        requests = CounterMetricFamily(
            "edgesched_requests",
            "Answered requests by outcome and device",
            labels=["outcome", "device"],
        )
        for (outcome, device), n in self.by_outcome.items():
            requests.add_metric([outcome, device], n, created=self.created)
        yield requests
        yield self.delay.family("edgesched_request_delay_ms", "Delay of answered requests (ms)")
        yield self.gateway.family(
            "edgesched_gateway_overhead_ms", "Decision and routing time per request (ms)"
        )


def available_cores() -> list[int]:
    """The cores this process may run on (its affinity: ``taskset`` narrows it)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pinned_cores(m: int, n_edge: int, cores: list[int]) -> tuple[int, ...]:
    """The cores machine ``m``'s worker is pinned to: edge device ``k`` (``m < n_edge``) to
    the ``k mod len(cores)``-th core; a cloud machine to the cores no edge device uses, so
    that no two machines share a core (the simulator models slow-down within one machine
    only), or to none (every core) when the edge devices use them all.

    Example:
        >>> pinned_cores(0, 1, [0, 1]), pinned_cores(1, 1, [0, 1]), pinned_cores(2, 2, [0, 1])
        ((0,), (1,), ())
    """
    if m < n_edge:
        return (cores[m % len(cores)],)
    return tuple(cores[n_edge:])


class LiveRuntime:
    """A scenario served live (see the module docstring).

    Args:
        world: the device-setting world.
        scheduler: a device-setting scheduler (``reset(view, rng)``, ``choose(view, r, mask)``).
        options: how to run.
    """

    def __init__(self, world: DeviceWorld, scheduler: Any, options: LiveOptions | None = None):
        self.world = world
        self.scheduler = scheduler
        self.options = options or LiveOptions()
        self.view = LiveView(world)
        self.workers: list[WorkerHandle] = []
        self.metrics = _Metrics(list(world.machine_names))
        #: the last answered requests, as plain tuples (:meth:`recent` reads them as records)
        self.records: collections.deque[tuple[Any, ...]] = collections.deque(
            maxlen=self.options.records
        )
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.inflight = 0
        self.sent = 0
        self.started_at = time.monotonic()
        self._cloud_waiters: dict[int, asyncio.Future[int]] = {}
        self._drained = asyncio.Event()
        self._drained.set()
        self.draining = False
        self.task_index = {t: i for i, t in enumerate(world.tasks)}

    # ------------------------------------------------------------------ lifecycle

    def models_for(self, m: int) -> dict[str, tuple[str, tuple[int, ...], str]]:
        """The variants machine ``m`` serves (edge: the tasks' edge variants; cloud: cloud
        variants), exported to ONNX (cached) if needed."""
        w = self.world
        idx = w.edge_variant if m < w.n_edge else w.cloud_variant
        out: dict[str, tuple[str, tuple[int, ...], str]] = {}
        for v in sorted(set(int(i) for i in idx)):
            name = w.variants[v]
            s = spec("noop" if self.options.noop else name, tiny=self.options.tiny)
            out[name] = (str(onnx_path(s)), s.input_shape, s.task)
        return out

    async def start(self, timeout: float = 120.0) -> None:
        """Export the models (once), start every worker and wait until all are ready.

        Raises:
            ConfigError: a variant without a live architecture, or a worker that cannot start.
        """
        loop = asyncio.get_running_loop()
        w = self.world
        cores = available_cores()
        models = await asyncio.to_thread(lambda: [self.models_for(m) for m in range(w.n_machines)])
        for m in range(w.n_machines):
            cpus = pinned_cores(m, w.n_edge, cores) if self.options.pin else ()
            h = WorkerHandle.create(
                w.machine_names[m],
                models[m],
                int(w.max_workloads[m]),
                loop,
                cpus,
                frozenset(models[m]) if self.options.noop else frozenset(),
                on_death=self._on_death,
                on_ready=self._on_ready,
            )
            self.workers.append(h)
            h.start()
        failure = await wait_ready(self.workers, timeout)
        if failure is not None:
            await self.stop()
            raise ConfigError(failure)
        self.view = LiveView(w)  # the clock starts when the workers are ready
        self.started_at = time.monotonic()
        self.scheduler.reset(self.view, np.random.default_rng(self.options.seed))

    async def drain(self, timeout: float = 30.0) -> None:
        """Stop admitting and wait for every request in flight to be answered."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), timeout)

    async def stop(self) -> None:
        """Stop every worker process and free the shared memory."""
        for h in self.workers:
            await asyncio.to_thread(h.stop)

    def _on_ready(self, h: WorkerHandle) -> None:
        m = self.workers.index(h)
        self.view.down[m] = False
        if m >= self.world.n_edge:
            self._drain_cloud_queue()

    def _on_death(self, h: WorkerHandle, jobs: list[Any]) -> None:
        m = self.workers.index(h)
        self.view.down[m] = True

    # ------------------------------------------------------------------ requests

    def reject_now(self, rid: str, task: str, reason: str) -> Record:
        """A request refused before admission (bad state, draining)."""
        return self._finish(
            Record(
                rid,
                task,
                "rejected",
                reason,
                None,
                None,
                None,
                self.view.loop.now,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ),
            None,
        )

    async def infer(
        self, rid: str, task: str, payload: bytes, min_accuracy: float, deadline_ms: float
    ) -> Record:
        """Serve one request end to end; always returns its one terminal record."""
        self.sent += 1
        if self.draining:
            return self.reject_now(rid, task, "the gateway is shutting down")
        if self.inflight >= self.options.max_inflight:
            return self.reject_now(
                rid, task, f"gateway overloaded: {self.inflight} requests in flight"
            )
        self.inflight += 1
        self._drained.clear()
        try:
            return await self._serve(rid, task, payload, min_accuracy, deadline_ms)
        finally:
            self.inflight -= 1
            if self.inflight == 0:
                self._drained.set()

    async def _serve(
        self, rid: str, task: str, payload: bytes, min_accuracy: float, deadline_ms: float
    ) -> Record:
        t_in = time.perf_counter()
        view = self.view
        w = self.world
        t = self.task_index[task]
        if view.admitted == 0 and self.inflight == 1:
            view.loop.t0 = time.monotonic()  # the run's clock starts with its first request
        r = view.admit(t, min_accuracy, deadline_ms)
        arrival = view.arrival[r]
        timing = _Timing()
        retried = False
        waited = 0.0  # seconds spent awaiting (network, queue, compute): not gateway time
        for attempt in range(2):
            mask = view.mask(r)
            if self.options.admission:
                estimate = view.expected(r)
                delay = estimate[0]
                view.hold(r, estimate)  # the scheduler's call below reuses it
                elapsed = view.loop.now - arrival
                # a handful of actions: Python lists beat numpy's per-call cost here
                allowed = [d for d, ok in zip(delay.tolist(), mask.tolist(), strict=True) if ok]
                if not any(d + elapsed <= deadline_ms for d in allowed):
                    view.hold(r, None)
                    best = min(allowed, default=math.inf)
                    return self._finish(
                        self._record(
                            rid,
                            task,
                            "rejected",
                            f"no device can serve it within its deadline ({deadline_ms:.0f} ms; "
                            f"best expected {best + elapsed:.0f} ms)",
                            r,
                            None,
                            None,
                            timing,
                            t_in,
                            waited,
                            retried,
                        ),
                        r,
                    )
            view.pending = r
            try:
                a = int(self.scheduler.choose(view, r, mask))
            finally:
                view.pending = None
                view.hold(r, None)
            if not (0 <= a <= w.n_edge and mask[a]):
                return self._finish(
                    self._record(
                        rid,
                        task,
                        "failed",
                        f"scheduler chose action {a}, which the mask forbids",
                        r,
                        None,
                        None,
                        timing,
                        t_in,
                        waited,
                        retried,
                    ),
                    r,
                )
            t_wait = time.perf_counter()
            if a < w.n_edge:
                res = await self._edge(r, a, payload, timing)
            else:
                res = await self._cloud(r, payload, timing)
            waited += time.perf_counter() - t_wait
            kind, m, detail = res
            if kind == "died" and self.options.retry and attempt == 0:
                remaining = deadline_ms - (view.loop.now - arrival)
                delay, _ = view.expected(r)
                if np.any(view.mask(r) & (delay <= remaining)):
                    retried = True
                    continue
            break
        v = int(view.variant[r])
        variant = w.variants[v] if v >= 0 else None
        device = w.machine_names[m] if m is not None and m >= 0 else None
        if kind == "ok":
            late = view.loop.now - arrival > deadline_ms
            accurate = v >= 0 and w.variant_acc[v] >= min_accuracy
            outcome: Outcome = "late" if late or not accurate else "success"
            reason = None
            if late:
                reason = "finished past its deadline"
            elif not accurate:
                reason = "the variant that served it is less accurate than required"
            rec = self._record(
                rid,
                task,
                outcome,
                reason,
                r,
                a,
                device,
                timing,
                t_in,
                waited,
                retried,
                variant,
                detail,
            )
            return self._finish(rec, r)
        if kind == "rejected":
            return self._finish(
                self._record(
                    rid,
                    task,
                    "rejected",
                    str(detail),
                    r,
                    a,
                    device,
                    timing,
                    t_in,
                    waited,
                    retried,
                    variant,
                ),
                r,
            )
        if kind == "dropped":
            return self._finish(
                self._record(
                    rid,
                    task,
                    "late",
                    str(detail),
                    r,
                    a,
                    device,
                    timing,
                    t_in,
                    waited,
                    retried,
                    variant,
                ),
                r,
            )
        reason = (
            str(detail)
            if kind == "error"
            else (
                f"{detail}; no retry could meet the deadline"
                if retried or self.options.retry
                else str(detail)
            )
        )
        return self._finish(
            self._record(
                rid, task, "failed", reason, r, a, device, timing, t_in, waited, retried, variant
            ),
            r,
        )

    async def _sleep_until(self, t_ms: float) -> None:
        dt = (t_ms - self.view.loop.now) / 1000.0
        if dt > 0 and self.options.emulate_network:
            await asyncio.sleep(dt)

    async def _run_on(
        self, m: int, r: int, v: int, payload: bytes, timing: _Timing
    ) -> tuple[str, int, Any]:
        """Run request ``r`` on machine ``m`` (its slot already committed)."""
        view = self.view
        h = self.workers[m]
        if not h.ready.is_set() or not h.free_slots:
            view.end(m, r)
            return "died", m, f"worker {h.cfg.name} is down"
        t_sub = view.loop.now
        job = h.submit(self.world.variants[v], payload)
        view.start(m, r, v)
        kind, s, e, detail = await job.future
        if kind == "died":
            view.end(m, r)
            return "died", m, f"worker {h.cfg.name} died while running it"
        timing.queue += max(view.loop.at(s) - t_sub, 0.0)
        timing.compute = (e - s) * 1000.0
        view.end(m, r, view.loop.at(e))
        if m >= self.world.n_edge:
            self._drain_cloud_queue()
        if kind == "error":
            return "error", m, f"inference failed on {h.cfg.name}: {detail}"
        return "ok", m, detail

    async def _edge(self, r: int, m: int, payload: bytes, timing: _Timing) -> tuple[str, int, Any]:
        view = self.view
        t = view.task[r]
        v = view.edge_v[t]
        now = view.loop.now
        tx = len(payload) * 8.0 / 1000.0 / self.world.lan_mbps if payload else view.lan_tx[t]
        arrive = now + view.lan + tx
        view.commit(m, v)
        view.join_edge(m, r, v, arrive)
        await self._sleep_until(arrive)
        timing.network += view.lan + tx
        res = await self._run_on(m, r, v, payload, timing)
        if res[0] == "ok":
            await self._sleep_until(view.loop.now + view.lan)
            timing.network += view.lan
        return res

    async def _cloud(self, r: int, payload: bytes, timing: _Timing) -> tuple[str, int, Any]:
        view = self.view
        w = self.world
        t = view.task[r]
        v = view.cloud_v[t]
        view.variant[r] = v
        now = view.loop.now
        tx = len(payload) * 8.0 / 1000.0 / w.wan_mbps if payload else view.wan_tx[t]
        start = max(now, view.wan_free)
        view.wan_free = start + tx
        timing.wan_queue = start - now
        await self._sleep_until(view.wan_free + view.wan)
        timing.network += tx + view.wan
        t_at = view.loop.now
        m = view.cloud_room(v) if not view.cloud_queue else -1
        if m < 0:
            if len(view.cloud_queue) >= w.scenario.cloud.max_queue:
                return (
                    "rejected",
                    -1,
                    (f"the cloud queue is full ({w.scenario.cloud.max_queue} requests waiting)"),
                )
            fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            view.cloud_queue.append(r)
            self._cloud_waiters[r] = fut
            drop = None
            if self.options.late_rule == "drop":
                left = (view.arrival[r] + view.deadline[r] - view.loop.now) / 1000.0
                drop = asyncio.get_running_loop().call_later(max(left, 0.0), self._drop, r)
            m = await fut
            if drop is not None:
                drop.cancel()
            timing.queue += view.loop.now - t_at
            if m < 0:
                return "dropped", -1, "dropped from the cloud queue: it waited past its deadline"
        else:
            view.commit(m, v)
        res = await self._run_on(m, r, v, payload, timing)
        if res[0] == "ok":
            await self._sleep_until(view.loop.now + view.wan)
            timing.network += view.wan
        return res

    def _drop(self, r: int) -> None:
        view = self.view
        if r in view.cloud_queue:
            view.cloud_queue.remove(r)
            fut = self._cloud_waiters.pop(r, None)
            if fut is not None and not fut.done():
                fut.set_result(-1)

    def _drain_cloud_queue(self) -> None:
        view = self.view
        q = view.cloud_queue
        while q:
            r = q[0]
            v = int(view.variant[r])
            m = view.cloud_room(v)
            if m < 0:
                return
            q.pop(0)
            view.commit(m, v)
            fut = self._cloud_waiters.pop(r, None)
            if fut is not None and not fut.done():
                fut.set_result(m)
            else:
                view.uncommit(m, v)

    # ------------------------------------------------------------------ records

    def _record(
        self,
        rid: str,
        task: str,
        outcome: Outcome,
        reason: str | None,
        r: int,
        action: int | None,
        device: str | None,
        timing: _Timing,
        t_in: float,
        waited: float,
        retried: bool,
        variant: str | None = None,
        result: dict[str, float] | None = None,
    ) -> Record:
        view = self.view
        total = view.loop.now - view.arrival[r]
        gateway = max((time.perf_counter() - t_in - waited) * 1000.0, 0.0)
        return Record(
            rid,
            task,
            outcome,
            reason,
            action,
            device,
            variant,
            view.arrival[r],
            round(timing.network, 3),
            round(timing.wan_queue, 3),
            round(timing.queue, 3),
            round(timing.compute, 3),
            round(gateway, 3),
            round(total, 3),
            round(view.energy[r], 6),
            retried,
            result,
        )

    def _finish(self, rec: Record, r: int | None) -> Record:
        self.counts[rec.outcome] += 1
        self.records.append(rec.kept())
        m = self.metrics
        m.by_outcome[rec.outcome, rec.device or "none"] += 1
        if rec.outcome in ("success", "late"):
            m.delay.observe(rec.total_ms)
        m.gateway.observe(rec.gateway_ms)
        return rec

    # ------------------------------------------------------------------ reading

    def refresh_gauges(self) -> None:
        snap = self.view.snapshot()
        m = self.metrics
        for i, mach in enumerate(snap["machines"]):
            name = mach["name"]
            m.running.labels(name).set(mach["running"])
            m.committed.labels(name).set(mach["committed"])
            m.energy.labels(name).set(mach["energy_j"])
            m.restarts.labels(name).set(self.workers[i].restarts if self.workers else 0)
            m.up.labels(name).set(1 if self.workers and self.workers[i].ready.is_set() else 0)
        m.queue.set(snap["cloud_queue"])

    def recent(self, limit: int | None = None) -> list[Record]:
        """The last ``limit`` (default: all kept) answered requests, oldest first."""
        kept = self.records
        rows = list(kept) if limit is None or limit >= len(kept) else list(kept)[-limit:]
        return [Record.from_kept(x) for x in rows]

    def status(self) -> dict[str, Any]:
        """What the status page shows."""
        snap = self.view.snapshot()
        now = self.view.loop.now
        window = 10_000.0
        recent = [x for x in self.recent() if now - x.arrival_ms <= window]
        by_dev: dict[str, int] = collections.Counter(
            x.device for x in recent if x.device is not None and x.outcome == "success"
        )
        span = min(window, max(now, 1.0)) / 1000.0
        for i, mach in enumerate(snap["machines"]):
            mach["throughput_rps"] = round(by_dev.get(mach["name"], 0) / span, 3)
            if self.workers:
                mach["pid"] = self.workers[i].pid
                mach["restarts"] = self.workers[i].restarts
        answered = sum(self.counts.values())
        dyn = sum(self.view.dynamic_j)
        return {
            "scenario": self.world.name,
            "scheduler": getattr(self.scheduler, "name", type(self.scheduler).__name__),
            "uptime_s": round(now / 1000.0, 3),
            "outcomes": dict(self.counts),
            "answered": answered,
            "inflight": self.inflight,
            "throughput_rps": round(sum(1 for x in recent if x.outcome == "success") / span, 3),
            "energy_per_request_j": round(dyn / answered, 6) if answered else 0.0,
            **snap,
        }


class _Managed(Protocol):
    async def start(self) -> None: ...
    async def drain(self) -> None: ...
    async def stop(self) -> None: ...


def lifespan_of(
    runtime: _Managed, manage: bool
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan that starts ``runtime``'s workers, then drains and stops them.

    With ``manage`` False the app leaves the runtime to its owner (tests that share one).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if manage:
            await runtime.start()
        try:
            yield
        finally:
            if manage:
                await runtime.drain()
                await runtime.stop()

    return lifespan
