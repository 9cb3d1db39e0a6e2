"""The live runtime of the streams setting (ASET's): client streams routed by the streams
setting's schedulers, every query run on a real model worker.

A client opens a *stream* of one application at an access point (``POST /v1/streams``); the
gateway routes it at once, as the simulator routes an arriving client, by calling the
scheduler's ``route(view, candidates, room)``, where ``view`` is a :class:`StreamView`: the
simulator's routing state (committed load per accelerator, the work queued on each, the last
window's statistics, the streams under way) kept from live observations, under the names the
simulator uses. At every window start (``window_s``) the gateway calls
``scheduler.begin_window(view)`` (ASET picks the static policy of the window there, from
:func:`edgesched.dispatch.streams.env.observe` of the view) and routes every stream under way
again, oldest first, exactly as :meth:`StreamSim.step_window` does.

Every query of a stream (``POST /v1/streams/{id}/infer``) crosses the emulated uplink and half
the route's network delay, waits in the FIFO queue of the accelerator its stream was routed
to (one worker process per accelerator, one inference at a time, batch 1, as a simulated
model instance), runs there, and crosses the other half back. A query whose expected wait
exceeds ``max_queue_ms`` is rejected at once (the simulator's queue bound), and so is one of a
stream without a route this window. Outcomes: ``success`` (delay and accuracy met), ``late``
(the simulator's violation: late, or a variant less accurate than required), ``rejected``
(with the reason) or ``failed`` (the worker died).

The estimates the policies read (:meth:`room`, :meth:`utilisation`,
:meth:`expected_wait_ms`, the candidates) are the simulator's own methods applied to this view,
so the same state gives the same route live and in simulation (``tests/live/test_streams.py``
checks every static policy and ASET).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgesched.core.errors import ConfigError
from edgesched.dispatch.streams.env import TREND_S
from edgesched.dispatch.streams.schedulers import STATIC_NAMES
from edgesched.dispatch.streams.simulator import Candidates, StreamSim, WindowStats
from edgesched.dispatch.streams.world import StreamWorld
from edgesched.live.models import VARIANTS, spec
from edgesched.live.onnx_cache import onnx_path
from edgesched.live.runtime import (
    OUTCOMES,
    LiveOptions,
    Outcome,
    available_cores,
    lifespan_of,
)
from edgesched.live.worker import MAX_PAYLOAD, WorkerHandle, wait_ready

#: The simulator's routing methods, applied to a :class:`StreamView` (same names, same state).
_SIM = cast(Any, StreamSim)


class StreamView:
    """The streams setting's routing state as a scheduler reads it, kept live.

    It carries what :class:`~edgesched.dispatch.streams.simulator.StreamSim` carries for
    routing (``acc_load``, ``cluster_load``, ``cluster_min``, ``cluster_min_acc``,
    ``backlog_s``, ``cap``, ``last``, ``previous``, ``window_s``, ``candidates``) and answers
    :meth:`room`, :meth:`utilisation`, :meth:`expected_wait_ms`, :meth:`active_clients` and
    :meth:`recent_arrivals` as the simulator does (ASET's ``trends`` observation reads them).
    Times are seconds on :attr:`clock` (default: since the view started).

    Args:
        world: the streams world.
        clock: seconds now (tests pass a fixed one).
    """

    def __init__(self, world: StreamWorld, clock: Callable[[], float] | None = None) -> None:
        self.world = world
        sc = world.scenario
        self.origin = time.monotonic()  # of the default clock
        self.clock = clock or (lambda: time.monotonic() - self.origin)
        self.window_s = float(sc.window_s)
        self.slot_s = float(sc.slot_s)
        self.cap = float(sc.max_utilisation)
        A, C = world.n_acc, world.n_clusters
        self.acc_load = np.zeros(A)
        self.cluster_load = np.zeros(C)
        self.cluster_min = np.zeros(C)
        self.cluster_min_acc = world.cluster_start.copy()
        self.backlog_s = np.zeros(A)
        self.last: WindowStats | None = None
        self.previous: WindowStats | None = None  # the window before ``last``
        self.window = 0
        self.candidates: list[list[Candidates]] = _SIM._candidates(self)
        # the streams: open time, end, application, access point, route (as the simulator's)
        self.t0: list[float] = []
        self.end: list[float] = []
        self.app: list[int] = []
        self.ap: list[int] = []
        self.route_acc: list[int] = []  # -2 not routed yet, -1 rejected this window
        self.route_var: list[int] = []
        self.route_net: list[float] = []
        self.route_load: list[float] = []
        self._heap: list[tuple[float, int]] = []
        self._free: list[int] = []  # slots of retired streams, reused by the next ones

    # ------------------------------------------------------------------ what schedulers call

    def room(self, cands: Candidates) -> np.ndarray:
        """Which candidates fit on their cluster's least-committed accelerator now."""
        return cast(np.ndarray, _SIM.room(self, cands))

    def utilisation(self) -> np.ndarray:
        """Committed load per cluster as a fraction of its accelerators [C]."""
        return cast(np.ndarray, _SIM.utilisation(self))

    def expected_wait_ms(self, cands: Candidates) -> np.ndarray:
        """The simulator's expected queueing per candidate, on the live backlog."""
        return cast(np.ndarray, _SIM.expected_wait_ms(self, cands))

    def set_committed(self, loads: np.ndarray | list[float]) -> None:
        """Overwrite the committed load of every accelerator (for tests and what-ifs)."""
        _SIM.set_committed(self, loads)

    def _refresh(self, c: int) -> None:
        _SIM._refresh(self, c)

    def active_clients(self) -> np.ndarray:
        """Streams under way now, per application [P]."""
        now = self.clock()
        out = np.zeros(len(self.world.apps), dtype=np.int64)
        for i, end in enumerate(self.end):
            if end > now and self.t0[i] <= now:
                out[self.app[i]] += 1
        return out

    def recent_arrivals(self, seconds: float) -> np.ndarray:
        """Streams opened per application [P] in the ``seconds`` before the current window
        start (the simulator's window clock: ``window * window_s``)."""
        now = self.window * self.window_s
        out = np.zeros(len(self.world.apps), dtype=np.int64)
        for i, t0 in enumerate(self.t0):
            if now - seconds <= t0 < now:
                out[self.app[i]] += 1
        return out

    # ------------------------------------------------------------------ streams and routes

    def open(self, app: int, ap: int, t0: float | None = None) -> int:
        """Register a stream (not routed yet); returns its index (a retired one's, reused)."""
        t = self.clock() if t0 is None else t0
        end = t + float(self.world.apps[app].stream_s)
        if self._free:
            i = self._free.pop()
            self.t0[i], self.end[i], self.app[i], self.ap[i] = t, end, app, ap
            self.route_acc[i], self.route_var[i] = -2, 0
            self.route_net[i], self.route_load[i] = 0.0, 0.0
            return i
        self.t0.append(t)
        self.end.append(end)
        self.app.append(app)
        self.ap.append(ap)
        self.route_acc.append(-2)
        self.route_var.append(0)
        self.route_net.append(0.0)
        self.route_load.append(0.0)
        return len(self.t0) - 1

    @property
    def held(self) -> int:
        """Streams the view holds (under way, or ended and not retired yet)."""
        return len(self.t0) - len(self._free)

    def retire_ended(self, now: float, keep_s: float) -> list[int]:
        """Forget the streams that ended by ``now`` and opened more than ``keep_s`` before
        it (no observation looks back further); returns their indices, whose slots the next
        streams reuse. What the schedulers read is unchanged by it."""
        self.release_until(now)  # their load is freed first (no heap entry refers to them)
        out = []
        for i, end in enumerate(self.end):
            if end <= now and self.t0[i] < now - keep_s:
                # a retired slot is never under way nor a recent arrival
                self.t0[i], self.end[i] = np.inf, -np.inf
                self.route_acc[i] = -2
                self._free.append(i)
                out.append(i)
        return out

    def route(self, i: int, scheduler: Any) -> int:
        """Route stream ``i`` with ``scheduler`` (the simulator's ``_route``): the candidate
        index chosen, or -1 when it is rejected for this window."""
        cands = self.candidates[self.ap[i]][self.app[i]]
        if len(cands) == 0:
            self.route_acc[i] = -1
            return -1
        room = self.room(cands)
        k = int(scheduler.route(self, cands, room))
        if k < 0:
            self.route_acc[i] = -1
            return -1
        if not room[k]:
            raise ConfigError(
                f"scheduler {getattr(scheduler, 'name', scheduler)!r} routed a stream to a "
                "cluster without room"
            )
        c = int(cands.cluster[k])
        acc = int(self.cluster_min_acc[c])
        self.route_acc[i] = acc
        self.route_var[i] = int(cands.variant[k])
        self.route_net[i] = float(cands.net_ms[k] - self.world.uplink_ms[cands.app])
        self.route_load[i] = float(cands.demand[k])
        self.acc_load[acc] += self.route_load[i]
        self._refresh(c)
        heapq.heappush(self._heap, (self.end[i], i))
        return k

    def release_until(self, t: float) -> None:
        """Free the load of the streams that ended by ``t``."""
        heap = self._heap
        while heap and heap[0][0] <= t:
            _, i = heapq.heappop(heap)
            acc = self.route_acc[i]
            if acc >= 0:
                self.acc_load[acc] -= self.route_load[i]
                self._refresh(int(self.world.acc_cluster[acc]))

    def reroute_active(self, t: float, scheduler: Any) -> None:
        """Forget every route and route the streams under way at ``t`` again, oldest first."""
        self.acc_load[:] = 0.0
        self.cluster_load[:] = 0.0
        self.cluster_min[:] = 0.0
        self.cluster_min_acc[:] = self.world.cluster_start
        self._heap.clear()
        for i, end in enumerate(self.end):
            if end > t and self.t0[i] <= t:
                self.route(i, scheduler)


class StreamsFull(Exception):
    """A stream cannot be opened: the gateway holds ``max_streams`` streams under way."""


@dataclass
class _Instance:
    """One accelerator: a FIFO of queries in front of its worker (one run at a time)."""

    waiting: collections.deque[tuple[asyncio.Future[None], float]] = field(
        default_factory=collections.deque
    )
    busy: bool = False
    free_at_ms: float = 0.0  # when the work queued now is expected to be done (clock ms)
    busy_s: float = 0.0  # measured compute this window


@dataclass
class StreamRecord:
    """One answered query."""

    stream: str
    app: str
    outcome: Outcome
    reason: str | None
    cluster: str | None
    variant: str | None
    network_ms: float = 0.0
    queue_ms: float = 0.0
    compute_ms: float = 0.0
    gateway_ms: float = 0.0
    total_ms: float = 0.0
    result: dict[str, float] | None = None

    def public(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "app": self.app,
            "outcome": self.outcome,
            "reason": self.reason,
            "cluster": self.cluster,
            "variant": self.variant,
            "result": self.result,
            "timing_ms": {
                "network": self.network_ms,
                "network_emulated": True,
                "queue": self.queue_ms,
                "compute": self.compute_ms,
                "gateway": self.gateway_ms,
                "total": self.total_ms,
            },
        }


class StreamRuntime:
    """A streams scenario served live (see the module docstring).

    Args:
        world: the streams world.
        scheduler: a streams-setting scheduler (``reset``, ``begin_window``, ``route``).
        options: how to run (``tiny``, ``pin``, ``emulate_network``, ``seed``, ``noop``).
    """

    #: stream ids remembered after their stream was retired (a query then says it ended)
    RETIRED_IDS = 10_000

    def __init__(
        self,
        world: StreamWorld,
        scheduler: Any,
        options: LiveOptions | None = None,
        *,
        max_streams: int = 100_000,
    ):
        self.world = world
        self.scheduler = scheduler
        self.options = options or LiveOptions()
        self.view = StreamView(world)
        self.workers: list[WorkerHandle] = []
        self.instances = [_Instance() for _ in range(world.n_acc)]
        #: the streams held, by id (under way, or ended less than :attr:`keep_s` ago)
        self.streams: dict[str, int] = {}
        self._sid: dict[int, str] = {}  # the id of each held stream's slot
        #: ids of retired streams, oldest first (bounded: :attr:`RETIRED_IDS`)
        self.retired: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.max_streams = max_streams
        # a stream is retired once it ended and opened longer ago than the longest look-back
        # of an observation (ASET's arrival trend), plus a window
        self.keep_s = TREND_S + float(world.scenario.window_s)
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.records: collections.deque[StreamRecord] = collections.deque(maxlen=10_000)
        self.app_index = {a.name: p for p, a in enumerate(world.apps)}
        self.ap_index = {s: k for k, s in enumerate(world.access_points)}
        self.inflight = 0
        self.draining = False
        self._drained = asyncio.Event()
        self._drained.set()
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count()
        P, C = len(world.apps), world.n_clusters
        self._win_counts = np.zeros((P, 3), dtype=np.int64)
        self._win_arrivals = np.zeros(P, dtype=np.int64)
        self._win_queue = np.zeros(C)
        self._win_slots = 0
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "edgesched_stream_queries",
            "Answered queries by outcome and cluster",
            ["outcome", "cluster"],
            registry=self.registry,
        )
        self.choices = Counter(
            "edgesched_stream_windows",
            "Windows by the static policy in force",
            ["policy"],
            registry=self.registry,
        )

    # ------------------------------------------------------------------ lifecycle

    def models_for(self, c: int) -> dict[str, tuple[str, tuple[int, ...], str]]:
        """The variants deployed on cluster ``c``, exported to ONNX (cached) if needed.

        Raises:
            ConfigError: a deployed variant without a live architecture.
        """
        w = self.world
        out: dict[str, tuple[str, tuple[int, ...], str]] = {}
        for v in np.nonzero(w.deployed[c])[0]:
            name = w.catalogue.variants[int(v)]
            if name not in VARIANTS:
                raise ConfigError(
                    f"{w.name}: cluster {w.cluster_sites[c]!r} deploys {name!r}, which has no "
                    f"live architecture (known: {', '.join(sorted(VARIANTS))}); restrict "
                    "clusters[].variants."
                )
            s = spec("noop" if self.options.noop else name, tiny=self.options.tiny)
            out[name] = (str(onnx_path(s)), s.input_shape, s.task)
        return out

    async def start(self, timeout: float = 120.0) -> None:
        """Export the models, start one worker per accelerator, wait until all are ready,
        then start the window clock."""
        loop = asyncio.get_running_loop()
        w = self.world
        cores = available_cores()
        models = await asyncio.to_thread(lambda: [self.models_for(c) for c in range(w.n_clusters)])
        for a in range(w.n_acc):
            c = int(w.acc_cluster[a])
            j = a - int(w.cluster_start[c])
            cpus = (cores[a % len(cores)],) if self.options.pin else ()
            h = WorkerHandle.create(
                f"{w.cluster_sites[c]}-{j}",
                models[c],
                1,
                loop,
                cpus,
                frozenset(models[c]) if self.options.noop else frozenset(),
            )
            self.workers.append(h)
            h.start()
        failure = await wait_ready(self.workers, timeout)
        if failure is not None:
            await self.stop()
            raise ConfigError(failure)
        self.view = StreamView(w)  # the clock starts when the workers are ready
        self.scheduler.reset(w, np.random.default_rng(self.options.seed))
        self.scheduler.begin_window(self.view)
        self.choices.labels(self.policy_name()).inc()
        self._task = asyncio.create_task(self._clock())

    async def drain(self, timeout: float = 30.0) -> None:
        """Stop admitting and wait for every query in flight to be answered."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), timeout)

    async def stop(self) -> None:
        """Stop the window clock and every worker; free the shared memory."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for h in self.workers:
            await asyncio.to_thread(h.stop)

    def policy_name(self) -> str:
        """The static policy in force (a static scheduler: itself)."""
        choice = int(getattr(self.scheduler, "choice", -1))
        if 0 <= choice < len(STATIC_NAMES) and hasattr(self.scheduler, "policies"):
            return STATIC_NAMES[choice]
        return str(getattr(self.scheduler, "name", type(self.scheduler).__name__))

    # ------------------------------------------------------------------ windows

    async def _clock(self) -> None:
        """Slot ends: sample the queues; window ends: statistics, the scheduler's window
        hook, then every stream under way routed again (the simulator's order)."""
        view = self.view
        slots = round(view.window_s / view.slot_s)
        k = 0
        while True:
            k += 1
            await asyncio.sleep(max(k * view.slot_s - view.clock(), 0.0))
            now = view.clock()
            for a, inst in enumerate(self.instances):
                c = int(self.world.acc_cluster[a])
                self._win_queue[c] += len(inst.waiting)
            self._win_slots += 1
            if k % slots == 0:
                self._end_window(now)

    def _end_window(self, now: float) -> None:
        view = self.view
        w = self.world
        span = max(self._win_slots, 1) * view.slot_s
        busy = np.zeros(w.n_clusters)
        for a, inst in enumerate(self.instances):
            busy[int(w.acc_cluster[a])] += inst.busy_s
            inst.busy_s = 0.0
        view.previous = view.last
        view.last = WindowStats(
            index=view.window,
            start=view.window * view.window_s,
            counts=self._win_counts.copy(),
            arrivals=self._win_arrivals.copy(),
            utilisation=busy / (w.cluster_acc * span),
            queue=self._win_queue / (w.cluster_acc * max(self._win_slots, 1)),
            choice=int(getattr(self.scheduler, "choice", -1)),
        )
        self._win_counts[:] = 0
        self._win_arrivals[:] = 0
        self._win_queue[:] = 0.0
        self._win_slots = 0
        view.window += 1
        view.release_until(now)
        self.retire(now)
        self.scheduler.begin_window(view)
        self.choices.labels(self.policy_name()).inc()
        view.reroute_active(now, self.scheduler)

    # ------------------------------------------------------------------ streams

    def open(self, app: str, access_point: str | None, sid: str | None) -> dict[str, Any]:
        """Open a stream and route it now (the scheduler's decision); what it was given."""
        view = self.view
        p = self.app_index[app]
        ap = self.ap_index[access_point] if access_point is not None else 0
        sid = sid if sid is not None else f"s{next(self._ids)}"
        if sid in self.streams:
            raise ConfigError(f"id: stream {sid!r} is already open")
        now = view.clock()
        view.release_until(now)
        if len(self.streams) >= self.max_streams:
            self.retire(now)
            if len(self.streams) >= self.max_streams:
                raise StreamsFull(
                    f"the gateway holds {len(self.streams)} streams (its bound, max_streams); "
                    "retry once some have ended"
                )
        i = view.open(p, ap, now)
        view.route(i, self.scheduler)
        self.streams[sid] = i
        self._sid[i] = sid
        self.retired.pop(sid, None)  # a retired id opened again: a new stream
        self._win_arrivals[p] += 1
        return self.describe(sid)

    def retire(self, now: float) -> int:
        """Retire the streams the view no longer needs (:meth:`StreamView.retire_ended`):
        their ids move to :attr:`retired` (a later query is told the stream ended); returns
        how many."""
        gone = self.view.retire_ended(now, self.keep_s)
        for i in gone:
            sid = self._sid.pop(i)
            del self.streams[sid]
            self.retired[sid] = None
        while len(self.retired) > self.RETIRED_IDS:
            self.retired.popitem(last=False)
        return len(gone)

    def state_of(self, sid: str) -> Literal["open", "ended", "unknown"]:
        """``open`` (it takes queries), ``ended`` (past its end, or retired) or ``unknown``."""
        i = self.streams.get(sid)
        if i is None:
            return "ended" if sid in self.retired else "unknown"
        return "open" if self.view.end[i] > self.view.clock() else "ended"

    def describe(self, sid: str) -> dict[str, Any]:
        view = self.view
        w = self.world
        i = self.streams[sid]
        acc = view.route_acc[i]
        c = int(w.acc_cluster[acc]) if acc >= 0 else -1
        return {
            "stream": sid,
            "app": w.apps[view.app[i]].name,
            "access_point": w.access_points[view.ap[i]],
            "routed": acc >= 0,
            "cluster": w.cluster_sites[c] if c >= 0 else None,
            "variant": w.catalogue.variants[view.route_var[i]] if acc >= 0 else None,
            "policy": self.policy_name(),
            "ends_in_s": round(max(view.end[i] - view.clock(), 0.0), 3),
        }

    async def query(self, sid: str, payload: bytes) -> StreamRecord:
        """Serve one query of stream ``sid``; always its one terminal record."""
        self.inflight += 1
        self._drained.clear()
        try:
            return await self._query(sid, payload)
        finally:
            self.inflight -= 1
            if self.inflight == 0:
                self._drained.set()

    async def _query(self, sid: str, payload: bytes) -> StreamRecord:
        t_in = time.perf_counter()
        view = self.view
        w = self.world
        i = self.streams[sid]
        p = view.app[i]
        app = w.apps[p]
        arrival = view.clock()
        rec = StreamRecord(sid, app.name, "rejected", None, None, None)
        if self.draining:
            rec.reason = "the gateway is shutting down"
            return self._finish(rec, p, t_in, 0.0, arrival)
        acc = view.route_acc[i]
        if acc < 0:
            rec.reason = "its stream has no route this window (no candidate had room)"
            return self._finish(rec, p, t_in, 0.0, arrival)
        v, net = view.route_var[i], view.route_net[i]
        c = int(w.acc_cluster[acc])
        rec.cluster, rec.variant = w.cluster_sites[c], w.catalogue.variants[v]
        waited = 0.0
        t = time.perf_counter()
        await self._sleep(float(w.uplink_ms[p]) + net / 2.0)
        waited += time.perf_counter() - t
        rec.network_ms = float(w.uplink_ms[p]) + net / 2.0
        inst = self.instances[acc]
        now_ms = view.clock() * 1000.0
        expect = max(inst.free_at_ms - now_ms, 0.0)
        if expect > w.scenario.max_queue_ms:
            rec.reason = (
                f"the queue of {rec.cluster} is over its bound ({expect:.0f} ms expected, "
                f"max_queue_ms {w.scenario.max_queue_ms:.0f})"
            )
            return self._finish(rec, p, t_in, waited, arrival)
        proc = float(w.proc_ms[c, v])
        inst.free_at_ms = max(inst.free_at_ms, now_ms) + proc
        t = time.perf_counter()
        if inst.busy:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            inst.waiting.append((turn, proc))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._next(inst)  # it was handed the worker: pass it on
                raise
        inst.busy = True
        h = self.workers[acc]
        detail: Any = None
        try:
            if not h.ready.is_set() or not h.free_slots:
                kind, detail = "died", f"worker {h.cfg.name} is down"
            else:
                job = h.submit(w.catalogue.variants[v], payload)
                kind, s, e, detail = await job.future
                if kind != "died":
                    # queue: the FIFO wait and the hand-off to the worker until it started
                    rec.queue_ms = round(max((s - view.origin) * 1000.0 - now_ms, 0.0), 3)
                    rec.compute_ms = round((e - s) * 1000.0, 3)
                    inst.busy_s += e - s
        finally:
            self._next(inst)
        waited += time.perf_counter() - t
        if kind == "died":
            rec.outcome = "failed"
            rec.reason = f"worker {h.cfg.name} died while running it"
            return self._finish(rec, p, t_in, waited, arrival)
        if kind == "error":
            rec.outcome = "failed"
            rec.reason = f"inference failed on {h.cfg.name}: {detail}"
            return self._finish(rec, p, t_in, waited, arrival)
        t = time.perf_counter()
        await self._sleep(net / 2.0)
        waited += time.perf_counter() - t
        rec.network_ms = round(rec.network_ms + net / 2.0, 3)
        rec.result = detail
        delay = (view.clock() - arrival) * 1000.0
        accurate = float(w.catalogue.accuracy[v]) >= app.min_accuracy
        if delay <= app.max_delay_ms and accurate:
            rec.outcome = "success"
        else:
            rec.outcome = "late"
            rec.reason = (
                "finished past its delay bound"
                if delay > app.max_delay_ms
                else "the variant that served it is less accurate than required"
            )
        return self._finish(rec, p, t_in, waited, arrival)

    def _next(self, inst: _Instance) -> None:
        """The worker is free: the next query in the FIFO takes it."""
        now_ms = self.view.clock() * 1000.0
        inst.free_at_ms = now_ms + sum(s for _, s in inst.waiting)
        while inst.waiting:
            turn, _ = inst.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        inst.busy = False

    async def _sleep(self, ms: float) -> None:
        if ms > 0 and self.options.emulate_network:
            await asyncio.sleep(ms / 1000.0)

    def _finish(
        self, rec: StreamRecord, p: int, t_in: float, waited: float, arrival: float
    ) -> StreamRecord:
        rec.total_ms = round((self.view.clock() - arrival) * 1000.0, 3)
        rec.gateway_ms = round(max((time.perf_counter() - t_in - waited) * 1000.0, 0.0), 3)
        self.counts[rec.outcome] += 1
        # the simulator's outcome columns: success, violation, rejection (failed: none)
        col = {"success": 0, "late": 1, "rejected": 2}.get(rec.outcome)
        if col is not None:
            self._win_counts[p, col] += 1
        self.records.append(rec)
        self.requests.labels(rec.outcome, rec.cluster or "none").inc()
        return rec

    def status(self) -> dict[str, Any]:
        view = self.view
        w = self.world
        util = view.utilisation()
        return {
            "scenario": w.name,
            "scheduler": getattr(self.scheduler, "name", type(self.scheduler).__name__),
            "policy": self.policy_name(),
            "window": view.window,
            "uptime_s": round(view.clock(), 3),
            "outcomes": dict(self.counts),
            "inflight": self.inflight,
            "active_streams": int(view.active_clients().sum()),
            "clusters": [
                {
                    "name": w.cluster_sites[c],
                    "accelerators": int(w.cluster_acc[c]),
                    "committed_utilisation": round(float(util[c]), 4),
                    "queued": sum(
                        len(self.instances[a].waiting)
                        for a in range(w.n_acc)
                        if int(w.acc_cluster[a]) == c
                    ),
                }
                for c in range(w.n_clusters)
            ],
        }


# ----------------------------------------------------------------------------- HTTP


class OpenStream(BaseModel):
    """A stream to open."""

    model_config = ConfigDict(extra="forbid")

    app: str = Field(description="an application of the scenario (GET /v1/scenario)", max_length=64)
    access_point: str | None = Field(
        None, max_length=128, description="the loaded access point it arrives at (default: first)"
    )
    id: str | None = Field(None, max_length=128, description="the client's stream id")


class StreamQuery(BaseModel):
    """One query of an open stream."""

    model_config = ConfigDict(extra="forbid")

    payload: str = Field(
        description="the input (an image's bytes), base64", max_length=(MAX_PAYLOAD * 4) // 3 + 4
    )


def _problem(exc: ValidationError) -> JSONResponse:
    parts = []
    for e in exc.errors(include_url=False, include_input=False)[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()))
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(parts)}, status_code=422)


def create_streams_app(runtime: StreamRuntime, *, manage: bool = True) -> FastAPI:
    """The FastAPI app of a streams runtime; ``manage`` starts and stops its workers."""

    app = FastAPI(
        title="edgesched live gateway (streams)",
        version="1",
        description="Client streams routed by an edgesched streams scheduler (a static policy "
        "or ASET) to model workers; network delays are emulated.",
        lifespan=lifespan_of(runtime, manage),
    )
    world = runtime.world

    def body_of(model: type[BaseModel]) -> dict[str, Any]:
        # the routes read the raw body (one pydantic-core call); the description names it
        schema = model.model_json_schema()
        return {
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
        }

    @app.post(
        "/v1/streams",
        openapi_extra=body_of(OpenStream),
        responses={
            422: {"description": "the request is malformed"},
            429: {"description": "the gateway holds as many streams as it may"},
        },
    )
    async def open_stream(request: Request) -> Response:
        """Open a stream: the scheduler routes it now (cluster and variant, or none)."""
        try:
            body = OpenStream.model_validate_json(await request.body())
        except ValidationError as exc:
            return _problem(exc)
        if body.app not in runtime.app_index:
            known = ", ".join(runtime.app_index)
            return JSONResponse(
                {"detail": f"app: unknown application {body.app!r}; known: {known}"}, 422
            )
        if body.access_point is not None and body.access_point not in runtime.ap_index:
            known = ", ".join(runtime.ap_index)
            return JSONResponse(
                {"detail": f"access_point: {body.access_point!r} is not loaded; known: {known}"},
                422,
            )
        if runtime.draining:
            return JSONResponse({"detail": "the gateway is shutting down"}, 503)
        try:
            out = runtime.open(body.app, body.access_point, body.id)
        except StreamsFull as exc:
            return JSONResponse({"detail": str(exc)}, 429)
        except ConfigError as exc:
            return JSONResponse({"detail": str(exc)}, 422)
        return Response(orjson.dumps(out), media_type="application/json")

    @app.post(
        "/v1/streams/{stream}/infer",
        openapi_extra=body_of(StreamQuery),
        responses={404: {"description": "no such stream"}, 422: {"description": "malformed"}},
    )
    async def infer(stream: str, request: Request) -> Response:
        """One query of an open stream: exactly one outcome."""
        try:
            body = StreamQuery.model_validate_json(await request.body())
        except ValidationError as exc:
            return _problem(exc)
        state = runtime.state_of(stream)
        if state == "unknown":
            return JSONResponse({"detail": f"stream: no open stream {stream!r}"}, 404)
        if state == "ended":
            return JSONResponse({"detail": f"stream: stream {stream!r} has ended"}, 404)
        try:
            payload = base64.b64decode(body.payload, validate=True)
        except (binascii.Error, ValueError):
            return JSONResponse({"detail": "payload: not valid base64"}, 422)
        rec = await runtime.query(stream, payload)
        return Response(orjson.dumps(rec.public()), media_type="application/json")

    @app.get("/v1/scenario")
    async def scenario() -> dict[str, Any]:
        """The scenario served: applications, access points, clusters, load."""
        return {
            "name": world.name,
            "setting": "streams",
            "applications": [a.model_dump() for a in world.apps],
            "access_points": world.access_points,
            "clusters": world.cluster_sites,
            "window_s": world.scenario.window_s,
            "lam": world.scenario.load.lam,
        }

    @app.get("/v1/status")
    async def status() -> dict[str, Any]:
        """The policy in force, outcomes, committed utilisation and queues per cluster."""
        return runtime.status()

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", responses={503: {"description": "a worker is not ready"}})
    async def healthz() -> JSONResponse:
        """200 when every worker is ready."""
        up = [h.ready.is_set() for h in runtime.workers]
        ok = bool(up) and all(up) and not runtime.draining
        body = {"status": "ok" if ok else "degraded", "workers_up": sum(up), "workers": len(up)}
        return JSONResponse(body, status_code=200 if ok else 503)

    return app


def make_stream_scheduler(name: str | None, checkpoint: Any, world: StreamWorld) -> Any:
    """A streams-setting scheduler by name from its world's registry (default ``fastest``);
    a learned one (ASET) loads ``checkpoint``, or the one shipped for ``world``'s scenario,
    resolved now by name, and is checked against the world.

    Raises:
        ConfigError: an unknown name, a missing checkpoint, or one trained on another shape.
    """
    from edgesched.dispatch.streams.schedulers import SCHEDULERS

    name = name or "fastest"
    if name not in SCHEDULERS:
        raise ConfigError(
            f"--scheduler {name!r}: unknown streams-setting scheduler; known: "
            f"{', '.join(SCHEDULERS.names())}."
        )
    if SCHEDULERS.tags(name).get("checkpoint"):
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise ConfigError(f"--checkpoint {checkpoint}: no such file.")
        scheduler = SCHEDULERS.make(name, checkpoint=checkpoint, scenario=world.name)
        if hasattr(scheduler, "check"):
            scheduler.check(world)
        return scheduler
    if checkpoint is not None:
        raise ConfigError(f"--checkpoint: {name!r} is a static policy; it takes no checkpoint.")
    return SCHEDULERS.make(name)
