"""The dispatch simulator: client streams routed to model instances, every query accounted.

WHAT IS SIMULATED

Clients arrive at the loaded access points (Poisson, ``lam`` clients per minute per access
point, constant or a piecewise-constant pattern). A client runs one application and opens a
*stream*: one query every ``1/fps`` seconds for ``stream_s`` seconds, starting at its arrival
time. Every accelerator of a cluster is one *model instance* with its own FIFO queue (one
server, batch 1).

A *route* is (cluster, model variant). The scheduler routes a stream when it arrives and routes
every active stream again at the start of each window (``window_s``, default 5 s): the policy in
force during a window decides where all of that window's queries go, which is what ASET's
meta-scheduler needs. A route must have *room*: the stream's load (``fps x processing time``,
in accelerator-seconds per second) must fit under ``max_utilisation`` on the least-committed
accelerator of the cluster, where the stream then goes. A stream no policy can route is
rejected for the rest of the window (its queries count as rejections).

A query's end-to-end delay is ``uplink + network + queueing + processing``:

- uplink: its payload over the client's uplink (``payload_kb * 8 / uplink_mbps``);
- network: the least-latency path from the access point to the cluster's site, both ways, plus
  the payload's transmission over every link of the forward path;
- queueing: the wait in its instance's FIFO queue;
- processing: the variant's batch-1 time on the device class, times a log-normal jitter
  (``processing_jitter`` is its sigma; 0 makes it deterministic).

Every query ends in exactly one outcome: *rejected* (its stream had no route, or its wait would
exceed ``max_queue_ms``, the instance's queue bound; a rejected query uses no processing),
*success* (accuracy and delay requirement met), or *violation* (served, but late or less
accurate than required).

HOW IT IS FAST

Time advances in slots (``slot_s``, default 1 s); routes are fixed within a slot except for
streams arriving in it, which get theirs on arrival. Per slot, the queries of all routed streams
are generated at once with numpy (frame times are ``t0 + k/fps``), sorted by (instance, time),
and every instance's FIFO queue is solved at once by the departure recursion
``D_n = max(a_n, D_{n-1}) + s_n`` in closed form, ``D_n = S_n + max(D_0, max_{k<=n}(a_k -
S_{k-1}))`` with ``S`` the cumulative service, using a segmented running maximum (each
instance's values offset above the previous one's). An instance whose queue bound is hit in the
slot is re-solved exactly by a plain loop that skips rejected queries. Delay percentiles come
from log-spaced histograms (0.5 % bins). Per-stream routing decisions are a few numpy
operations over the candidate (cluster, variant) pairs of the stream's access point and
application, precomputed once.

RANDOMNESS

One :class:`~edgesched.core.rng.RandomStreams` per run: ``arrivals`` (client arrival times),
``applications`` (which application a client runs), ``processing`` (jitter), ``policy`` (random
policies). The client population of a seed is the same whatever the scheduler.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edgesched.core.errors import SchedulerError
from edgesched.core.rng import RandomStreams
from edgesched.dispatch.outcomes import REJECTED, SUCCESS, VIOLATION
from edgesched.dispatch.streams.world import StreamWorld

#: Delay histogram: bin i covers [HIST_MIN_MS * HIST_BASE**i, HIST_MIN_MS * HIST_BASE**(i+1)).
HIST_MIN_MS = 0.1
HIST_BASE = 1.005
HIST_BINS = math.ceil(math.log(1e6 / HIST_MIN_MS) / math.log(HIST_BASE)) + 1
_LOG_BASE = math.log(HIST_BASE)


class StreamScheduler(Protocol):
    """What the simulator drives: a route per stream, and a hook at each window start."""

    name: str

    def reset(self, world: StreamWorld, rng: np.random.Generator) -> None:
        """Start a run on ``world``; ``rng`` is the run's ``policy`` stream."""
        ...

    def begin_window(self, sim: StreamSim) -> None:
        """Called at the start of every window, before the active streams are re-routed."""
        ...

    def route(self, sim: StreamSim, cands: Candidates, room: np.ndarray) -> int:
        """Index into ``cands`` of the chosen (cluster, variant), or -1 to reject.

        ``room[k]`` says whether candidate ``k`` fits now; a choice without room is a bug.
        """
        ...


@dataclass(frozen=True)
class Candidates:
    """The (cluster, variant) pairs that may serve one application from one access point:
    deployed, of the application's task, and at least as accurate as it requires.

    ``best`` indexes, per cluster, its fastest candidate (the least load, so the one a
    cluster-choosing policy uses); the order arrays are static preference orders.
    """

    ap: int
    app: int
    cluster: np.ndarray
    variant: np.ndarray
    net_ms: np.ndarray  # uplink + network both ways
    proc_ms: np.ndarray
    demand: np.ndarray  # accelerator-seconds per second of one stream
    accuracy: np.ndarray
    memory_mb: np.ndarray
    tier: np.ndarray
    best: np.ndarray
    orders: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.cluster.size)


@dataclass
class WindowStats:
    """What happened in one window (queries counted by their arrival time)."""

    index: int
    start: float
    counts: np.ndarray  # [P, 3] success / violation / rejection
    arrivals: np.ndarray  # [P] new clients
    utilisation: np.ndarray  # [C] processing work of the served queries / accelerator-time
    queue: np.ndarray  # [C] mean queries waiting per accelerator at slot ends
    choice: int  # the meta-scheduler's choice, -1 for a static policy

    def ratios(self) -> tuple[float, float, float]:
        tot = self.counts.sum()
        if tot == 0:
            return 0.0, 0.0, 0.0
        s = self.counts.sum(axis=0) / tot
        return float(s[0]), float(s[1]), float(s[2])


@dataclass
class QueryLog:
    """Every query of a run, for tests and inspection (``record_queries=True``)."""

    time: list[np.ndarray] = field(default_factory=list)
    stream: list[np.ndarray] = field(default_factory=list)
    app: list[np.ndarray] = field(default_factory=list)
    cluster: list[np.ndarray] = field(default_factory=list)
    instance: list[np.ndarray] = field(default_factory=list)
    variant: list[np.ndarray] = field(default_factory=list)
    uplink_ms: list[np.ndarray] = field(default_factory=list)
    network_ms: list[np.ndarray] = field(default_factory=list)
    queueing_ms: list[np.ndarray] = field(default_factory=list)
    processing_ms: list[np.ndarray] = field(default_factory=list)
    delay_ms: list[np.ndarray] = field(default_factory=list)
    outcome: list[np.ndarray] = field(default_factory=list)

    def add(self, **cols: np.ndarray) -> None:
        for k, v in cols.items():
            getattr(self, k).append(np.asarray(v))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for k in self.__dataclass_fields__:
            parts = getattr(self, k)
            out[k] = np.concatenate(parts) if parts else np.empty(0)
        return out


@dataclass(frozen=True)
class SimState:
    """A snapshot of a :class:`StreamSim` run (see :meth:`StreamSim.snapshot`)."""

    arrays: dict[str, np.ndarray]
    lists: dict[str, list[Any]]
    values: dict[str, Any]
    rng: dict[str, dict[str, Any]]
    log: dict[str, list[np.ndarray]] | None


@dataclass
class StreamResult:
    """Totals and time series of one run."""

    scheduler: str
    seed: int
    apps: list[str]
    counts: np.ndarray  # [P, 3]
    hist: np.ndarray  # [P, HIST_BINS] delays of served queries
    window_s: float
    window_counts: np.ndarray  # [W, P, 3]
    window_lam: np.ndarray  # [W] clients/min/AP in force at each window start
    choices: np.ndarray  # [W]
    clients: int

    @property
    def queries(self) -> int:
        return int(self.counts.sum())


def hist_percentile(hist: np.ndarray, q: float) -> float:
    """The q-th percentile (0-100) of a delay histogram, NaN when empty."""
    total = hist.sum()
    if total == 0:
        return float("nan")
    cum = np.cumsum(hist)
    target = q / 100.0 * total
    i = int(np.searchsorted(cum, target, side="left"))
    i = min(i, hist.size - 1)
    before = cum[i - 1] if i > 0 else 0
    frac = (target - before) / hist[i] if hist[i] else 0.0
    lo = HIST_MIN_MS * HIST_BASE**i
    return float(lo * HIST_BASE ** min(max(frac, 0.0), 1.0))


def generate_clients(world: StreamWorld, streams: RandomStreams) -> dict[str, np.ndarray]:
    """Every client of a run: arrival time, access point, application (sorted by time).

    With an arrival trace (``world.arrivals``) the clients arrive at its times, each at an
    access point drawn uniformly from the loaded ones; else at every access point as a
    Poisson process of the scenario's rate."""
    if world.arrivals is not None:
        t0 = world.arrivals.times(streams["arrivals"])
        ap = streams["arrivals"].integers(len(world.access_points), size=t0.size)
    else:
        rate = world.rate()
        horizon = world.scenario.load.duration_s
        per_second = type(rate)(
            [(s, r / 60.0) for s, r in zip(rate.starts, rate.rates, strict=True)]
        )
        times, aps = [], []
        for s in range(len(world.access_points)):
            t = per_second.poisson_times(streams["arrivals"], horizon)
            times.append(t)
            aps.append(np.full(t.size, s, dtype=np.int64))
        t0 = np.concatenate(times) if times else np.empty(0)
        ap = np.concatenate(aps) if aps else np.empty(0, dtype=np.int64)
    order = np.argsort(t0, kind="stable")
    weights = np.array([a.weight for a in world.apps])
    app = streams["applications"].choice(len(world.apps), size=t0.size, p=weights / weights.sum())
    return {"t0": t0[order], "ap": ap[order], "app": app.astype(np.int64)}


class StreamSim:
    """One run of the dispatch world under one scheduler and seed.

    Drive it with :meth:`run` (whole horizon), or :meth:`attach` a scheduler and go window by
    window with :meth:`step_window` (the RL environment does).

    Example:
        >>> from edgesched.dispatch.streams.scenario import load
        >>> from edgesched.dispatch.streams.schedulers import make
        >>> world = load("aset-full-edge", duration_s=10)
        >>> result = StreamSim(world, seed=0).run(make("closest"))
        >>> result.queries > 0
        True
    """

    def __init__(
        self,
        world: StreamWorld,
        seed: int,
        *,
        record_queries: bool = False,
    ) -> None:
        self.world = world
        self.scheduler: StreamScheduler | None = None
        self.seed = seed
        sc = world.scenario
        self.horizon = float(sc.load.duration_s)
        self.slot_s = float(sc.slot_s)
        self.window_s = float(sc.window_s)
        self.slots_per_window = round(self.window_s / self.slot_s)
        self.n_windows = math.ceil(self.horizon / self.window_s - 1e-9)
        self.cap = float(sc.max_utilisation)
        self.max_queue_s = sc.max_queue_ms / 1000.0
        self.jitter = float(sc.processing_jitter)
        self.rs = RandomStreams(seed)
        self.rate = world.rate()
        clients = generate_clients(world, self.rs)
        self.t0: np.ndarray = clients["t0"]
        self.ap: np.ndarray = clients["ap"]
        self.app: np.ndarray = clients["app"]
        stream_s = np.array([a.stream_s for a in world.apps])
        fps = world.app_fps
        self.end = self.t0 + stream_s[self.app]
        self.fps = fps[self.app]
        self.nframes = np.round(stream_s[self.app] * self.fps).astype(np.int64)
        self.max_stream_s = float(stream_s.max())
        n = self.t0.size
        self.route_acc = np.full(n, -2, dtype=np.int64)  # -2 not routed, -1 rejected
        self.route_var = np.zeros(n, dtype=np.int64)
        self.route_net = np.zeros(n)
        self.route_load = np.zeros(n)
        self.candidates = self._candidates()
        # per-accelerator state
        A, C = world.n_acc, world.n_clusters
        self.acc_load = np.zeros(A)
        self.cluster_load = np.zeros(C)
        self.cluster_min = np.zeros(C)
        self.cluster_min_acc = world.cluster_start.copy()
        self.free_at = np.zeros(A)
        self.backlog_s = np.zeros(A)  # work left at the last slot end
        self._heap: list[tuple[float, int]] = []
        self._next_arrival = 0
        self.window = 0
        self.last: WindowStats | None = None
        self.previous: WindowStats | None = None  # the window before ``last``
        P = len(world.apps)
        self.counts = np.zeros((P, 3), dtype=np.int64)
        self.hist = np.zeros((P, HIST_BINS), dtype=np.int64)
        self.window_counts: list[np.ndarray] = []
        self.window_lam: list[float] = []
        self.choices: list[int] = []
        self.log = QueryLog() if record_queries else None
        self._proc_s = world.proc_ms / 1000.0
        self._acc_var = world.catalogue.accuracy

    # ------------------------------------------------------------------ snapshots

    #: The attributes a run changes as it goes (everything else is fixed at construction).
    _ARRAYS = (
        "route_acc",
        "route_var",
        "route_net",
        "route_load",
        "acc_load",
        "cluster_load",
        "cluster_min",
        "cluster_min_acc",
        "free_at",
        "backlog_s",
        "counts",
        "hist",
    )
    _LISTS = ("_heap", "window_counts", "window_lam", "choices")
    _VALUES = ("_next_arrival", "window", "last", "previous")

    def snapshot(self) -> SimState:
        """The run's state now (routes, loads, queues, totals, random streams), to
        :meth:`restore` any number of times: a restored run continues exactly as this one
        would have, given the same scheduler decisions. The scheduler's own state is not
        included (the static policies have none but the run's ``policy`` stream)."""
        log = None
        if self.log is not None:
            log = {k: list(getattr(self.log, k)) for k in self.log.__dataclass_fields__}
        return SimState(
            arrays={k: getattr(self, k).copy() for k in self._ARRAYS},
            lists={k: list(getattr(self, k)) for k in self._LISTS},
            values={k: getattr(self, k) for k in self._VALUES},
            rng=self.rs.state(),
            log=log,
        )

    def restore(self, state: SimState) -> None:
        """Put the run back to ``state`` (from :meth:`snapshot` of this run), in place."""
        for k, v in state.arrays.items():
            getattr(self, k)[...] = v
        for k, items in state.lists.items():
            setattr(self, k, list(items))
        for k, value in state.values.items():
            setattr(self, k, value)
        self.rs.set_state(state.rng)
        if self.log is not None and state.log is not None:
            for k, parts in state.log.items():
                setattr(self.log, k, list(parts))

    def attach(self, scheduler: StreamScheduler) -> None:
        """Make ``scheduler`` route this run's streams (reset with the run's policy stream)."""
        self.scheduler = scheduler
        scheduler.reset(self.world, self.rs["policy"])

    # ------------------------------------------------------------------ candidates and room

    def _candidates(self) -> list[list[Candidates]]:
        w = self.world
        cat = w.catalogue
        table: list[list[Candidates]] = []
        for s in range(len(w.access_points)):
            row = []
            for p, app in enumerate(w.apps):
                ok = w.deployed & w.feasible[p][None, :]
                cl, var = np.nonzero(ok)
                proc = w.proc_ms[cl, var]
                net = w.uplink_ms[p] + w.net_ms[s, cl, p]
                best = []
                for c in np.unique(cl):
                    idx = np.nonzero(cl == c)[0]
                    best.append(idx[np.lexsort((net[idx], proc[idx]))[0]])
                row.append(
                    Candidates(
                        ap=s,
                        app=p,
                        cluster=cl,
                        variant=var,
                        net_ms=net,
                        proc_ms=proc,
                        demand=app.fps * proc / 1000.0,
                        accuracy=cat.accuracy[var],
                        memory_mb=cat.memory_mb[var],
                        tier=w.cluster_tier[cl],
                        best=np.array(best, dtype=np.int64),
                    )
                )
            table.append(row)
        return table

    def room(self, cands: Candidates) -> np.ndarray:
        """Which candidates fit on their cluster's least-committed accelerator now."""
        return self.cluster_min[cands.cluster] + cands.demand <= self.cap + 1e-12

    def set_committed(self, loads: np.ndarray | list[float]) -> None:
        """Overwrite the committed load of every accelerator (for tests and what-ifs)."""
        self.acc_load[:] = loads
        for c in range(self.world.n_clusters):
            self._refresh(c)

    def active_clients(self) -> np.ndarray:
        """Streams under way now (at the current window start), per application [P]."""
        now = self.window * self.window_s
        lo = int(np.searchsorted(self.t0, now - self.max_stream_s, side="left"))
        hi = self._next_arrival
        live = self.end[lo:hi] > now
        return np.bincount(self.app[lo:hi][live], minlength=len(self.world.apps))

    def recent_arrivals(self, seconds: float) -> np.ndarray:
        """New clients per application [P] in the last ``seconds`` before the current window
        start (fewer at the start of the run)."""
        now = self.window * self.window_s
        lo = int(np.searchsorted(self.t0, now - seconds, side="left"))
        hi = int(np.searchsorted(self.t0, now, side="left"))
        return np.bincount(self.app[lo:hi], minlength=len(self.world.apps))

    def utilisation(self) -> np.ndarray:
        """Committed load per cluster as a fraction of its accelerators [C]."""
        return self.cluster_load / self.world.cluster_acc

    def expected_wait_ms(self, cands: Candidates) -> np.ndarray:
        """Expected queueing of a new stream on each candidate: the work left on the
        accelerator it would join plus an M/D/1 wait at the utilisation it would bring."""
        cl = cands.cluster
        rho = np.minimum(self.cluster_min[cl] + cands.demand, 0.999)
        md1 = rho * cands.proc_ms / (2.0 * (1.0 - rho))
        return self.backlog_s[self.cluster_min_acc[cl]] * 1000.0 + md1

    # ------------------------------------------------------------------ routing

    def _assign(self, i: int, acc: int, var: int, net: float, load: float) -> None:
        self.route_acc[i] = acc
        self.route_var[i] = var
        self.route_net[i] = net
        self.route_load[i] = load
        self.acc_load[acc] += load
        self._refresh(int(self.world.acc_cluster[acc]))
        heapq.heappush(self._heap, (float(self.end[i]), i))

    def _refresh(self, c: int) -> None:
        s = int(self.world.cluster_start[c])
        loads = self.acc_load[s : s + int(self.world.cluster_acc[c])]
        j = int(loads.argmin())
        self.cluster_min[c] = loads[j]
        self.cluster_min_acc[c] = s + j
        self.cluster_load[c] = loads.sum()

    def _release_until(self, t: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= t:
            _, i = heapq.heappop(heap)
            acc = int(self.route_acc[i])
            if acc >= 0:
                self.acc_load[acc] -= self.route_load[i]
                self._refresh(int(self.world.acc_cluster[acc]))

    def _route(self, i: int) -> None:
        cands = self.candidates[int(self.ap[i])][int(self.app[i])]
        if len(cands) == 0:
            self.route_acc[i] = -1
            return
        room = self.room(cands)
        assert self.scheduler is not None
        k = int(self.scheduler.route(self, cands, room))
        if k < 0:
            self.route_acc[i] = -1
            return
        if not room[k]:
            raise SchedulerError(
                f"scheduler {self.scheduler.name!r} routed a stream to cluster "
                f"{self.world.cluster_sites[int(cands.cluster[k])]!r}, which has no room."
            )
        c = int(cands.cluster[k])
        self._assign(
            i,
            int(self.cluster_min_acc[c]),
            int(cands.variant[k]),
            float(cands.net_ms[k] - self.world.uplink_ms[cands.app]),
            float(cands.demand[k]),
        )

    def _reroute_active(self, t: float) -> None:
        """Forget every route and route the streams active at ``t`` again, oldest first."""
        self.acc_load[:] = 0.0
        self.cluster_load[:] = 0.0
        self.cluster_min[:] = 0.0
        self.cluster_min_acc[:] = self.world.cluster_start
        self._heap.clear()
        lo = int(np.searchsorted(self.t0, t - self.max_stream_s, side="left"))
        hi = self._next_arrival
        for i in range(lo, hi):
            if self.end[i] > t:
                self._route(i)

    # ------------------------------------------------------------------ running

    @property
    def done(self) -> bool:
        return self.window >= self.n_windows

    def run(self, scheduler: StreamScheduler | None = None) -> StreamResult:
        """Simulate the whole horizon under ``scheduler`` (None: the attached one)."""
        if scheduler is not None:
            self.attach(scheduler)
        while not self.done:
            self.step_window()
        return self.result()

    def step_window(self) -> WindowStats:
        """Simulate one window: scheduler hook, re-routing, then its slots."""
        w = self.world
        P, C = len(w.apps), w.n_clusters
        start = self.window * self.window_s
        if self.scheduler is None:
            raise SchedulerError("step_window() before attach(scheduler)")
        self.scheduler.begin_window(self)
        self._reroute_active(start)
        counts = np.zeros((P, 3), dtype=np.int64)
        busy = np.zeros(C)
        queue = np.zeros(C)
        first_client = self._next_arrival
        n_slots = 0
        for j in range(self.slots_per_window):
            a = start + j * self.slot_s
            if a >= self.horizon - 1e-9:
                break
            b = min(a + self.slot_s, self.horizon)
            # route the clients arriving in the slot, releasing the streams that ended
            hi = int(np.searchsorted(self.t0, b, side="left"))
            for i in range(self._next_arrival, hi):
                self._release_until(float(self.t0[i]))
                self._route(i)
            self._next_arrival = hi
            self._release_until(b)
            self._slot(a, b, counts, busy, queue)
            n_slots += 1
        arrivals = np.bincount(self.app[first_client : self._next_arrival], minlength=P)
        span = max(n_slots, 1) * self.slot_s
        choice = int(getattr(self.scheduler, "choice", -1))
        stats = WindowStats(
            index=self.window,
            start=start,
            counts=counts,
            arrivals=arrivals,
            utilisation=busy / (w.cluster_acc * span),
            queue=queue / (w.cluster_acc * max(n_slots, 1)),
            choice=choice,
        )
        self.counts += counts
        self.window_counts.append(counts)
        self.window_lam.append(self.rate.rate_at(start))
        self.choices.append(choice)
        self.window += 1
        self.previous = self.last
        self.last = stats
        return stats

    def _slot(
        self, a: float, b: float, counts: np.ndarray, busy: np.ndarray, queue: np.ndarray
    ) -> None:
        w = self.world
        P = len(w.apps)
        lo = int(np.searchsorted(self.t0, a - self.max_stream_s, side="left"))
        hi = self._next_arrival
        if hi <= lo:
            self.backlog_s = np.maximum(self.free_at - b, 0.0)
            return
        idx = np.arange(lo, hi)
        t0 = self.t0[lo:hi]
        fps = self.fps[lo:hi]
        k_lo = np.maximum(np.ceil((a - t0) * fps), 0).astype(np.int64)
        k_hi = np.minimum(np.ceil((b - t0) * fps).astype(np.int64), self.nframes[lo:hi])
        cnt = np.maximum(k_hi - k_lo, 0)
        acc_all = self.route_acc[lo:hi]
        app_all = self.app[lo:hi]
        rej = acc_all < 0
        if rej.any():
            rejected = np.bincount(app_all[rej], weights=cnt[rej], minlength=P).astype(np.int64)
            counts[:, REJECTED] += rejected
            if self.log is not None:
                self._log_rejected_streams(idx[rej], k_lo[rej], cnt[rej])
        served = (~rej) & (cnt > 0)
        if not served.any():
            self.backlog_s = np.maximum(self.free_at - b, 0.0)
            return
        sidx = idx[served]
        scnt = cnt[served]
        total = int(scnt.sum())
        rep = np.repeat(np.arange(sidx.size), scnt)
        offs = np.cumsum(scnt) - scnt
        k = k_lo[served][rep] + (np.arange(total) - offs[rep])
        q_stream = sidx[rep]
        q_t = (self.t0[q_stream] + k / self.fps[q_stream]) - a  # slot-relative arrival
        q_acc = self.route_acc[q_stream]
        q_var = self.route_var[q_stream]
        q_cl = w.acc_cluster[q_acc]
        s = self._proc_s[q_cl, q_var]
        if self.jitter > 0:
            s = s * self.rs["processing"].lognormal(0.0, self.jitter, size=total)
        order = np.lexsort((q_t, q_acc))
        q_t, q_acc, s, q_stream = q_t[order], q_acc[order], s[order], q_stream[order]
        q_var, q_cl = q_var[order], q_cl[order]
        # segments: one per instance
        new_seg = np.empty(total, dtype=bool)
        new_seg[0] = True
        np.not_equal(q_acc[1:], q_acc[:-1], out=new_seg[1:])
        seg_start = np.nonzero(new_seg)[0]
        seg_id = np.cumsum(new_seg) - 1
        seg_acc = q_acc[seg_start]
        S = np.cumsum(s)
        base = (S[seg_start] - s[seg_start])[seg_id]
        S_incl = S - base
        x = q_t - (S_incl - s)
        d0 = self.free_at[seg_acc] - a
        x[seg_start] = np.maximum(x[seg_start], d0)
        big = 2.0 * (float(np.abs(x).max()) + 1.0)
        run = np.maximum.accumulate(x + seg_id * big) - seg_id * big
        dep = S_incl + run
        start_t = dep - s
        wait = start_t - q_t
        accepted = np.ones(total, dtype=bool)
        over = wait > self.max_queue_s
        if over.any():
            for g in np.unique(seg_id[over]):
                lo_q = int(seg_start[g])
                hi_q = int(seg_start[g + 1]) if g + 1 < seg_start.size else total
                self._exact_segment(lo_q, hi_q, float(d0[g]), q_t, s, wait, dep, accepted)
        start_t = q_t + wait
        # instance state: departure of its last accepted query
        last = np.maximum.reduceat(np.where(accepted, dep, -np.inf), seg_start)
        self.free_at[seg_acc] = np.maximum(self.free_at[seg_acc], last + a)
        slot_len = b - a
        self.backlog_s = np.maximum(self.free_at - b, 0.0)
        # outcomes
        q_app = self.app[q_stream]
        proc_ms = s * 1000.0
        wait_ms = wait * 1000.0
        net_ms = self.route_net[q_stream]
        up_ms = w.uplink_ms[q_app]
        delay = up_ms + net_ms + wait_ms + proc_ms
        ok = (delay <= w.app_max_delay[q_app]) & (self._acc_var[q_var] >= w.app_min_acc[q_app])
        outcome = np.where(accepted, np.where(ok, SUCCESS, VIOLATION), REJECTED)
        counts += np.bincount(q_app * 3 + outcome, minlength=3 * P).reshape(P, 3)
        bins = np.clip(
            (np.log(np.maximum(delay, HIST_MIN_MS) / HIST_MIN_MS) / _LOG_BASE).astype(np.int64),
            0,
            HIST_BINS - 1,
        )
        served_q = accepted
        self.hist += np.bincount(
            q_app[served_q] * HIST_BINS + bins[served_q], minlength=P * HIST_BINS
        ).reshape(P, HIST_BINS)
        C = w.n_clusters
        busy += np.bincount(q_cl[served_q], weights=s[served_q], minlength=C)
        waiting = served_q & (start_t > slot_len)
        queue += np.bincount(q_cl[waiting], minlength=C)
        if self.log is not None:
            self.log.add(
                time=q_t + a,
                stream=q_stream,
                app=q_app,
                cluster=q_cl,
                instance=q_acc,
                variant=q_var,
                uplink_ms=up_ms,
                network_ms=net_ms,
                queueing_ms=np.where(accepted, wait_ms, 0.0),
                processing_ms=np.where(accepted, proc_ms, 0.0),
                delay_ms=np.where(accepted, delay, np.nan),
                outcome=outcome,
            )

    def _exact_segment(
        self,
        lo: int,
        hi: int,
        d0: float,
        q_t: np.ndarray,
        s: np.ndarray,
        wait: np.ndarray,
        dep: np.ndarray,
        accepted: np.ndarray,
    ) -> None:
        """Re-solve one instance's queue with its bound: rejected queries use no service."""
        free = d0
        bound = self.max_queue_s
        ts = q_t[lo:hi].tolist()
        ss = s[lo:hi].tolist()
        waits = [0.0] * len(ts)
        deps = [0.0] * len(ts)
        acc = [True] * len(ts)
        for j, (t, sv) in enumerate(zip(ts, ss, strict=True)):
            st = free if free > t else t
            if st - t > bound:
                acc[j] = False
                waits[j] = st - t
                deps[j] = t
                continue
            free = st + sv
            waits[j] = st - t
            deps[j] = free
        wait[lo:hi] = waits
        dep[lo:hi] = deps
        accepted[lo:hi] = acc

    def _log_rejected_streams(self, streams: np.ndarray, k_lo: np.ndarray, cnt: np.ndarray) -> None:
        assert self.log is not None
        total = int(cnt.sum())
        if total == 0:
            return
        rep = np.repeat(np.arange(streams.size), cnt)
        offs = np.cumsum(cnt) - cnt
        k = k_lo[rep] + (np.arange(total) - offs[rep])
        st = streams[rep]
        app = self.app[st]
        zeros = np.zeros(total)
        self.log.add(
            time=self.t0[st] + k / self.fps[st],
            stream=st,
            app=app,
            cluster=np.full(total, -1),
            instance=np.full(total, -1),
            variant=np.full(total, -1),
            uplink_ms=zeros,
            network_ms=zeros,
            queueing_ms=zeros,
            processing_ms=zeros,
            delay_ms=np.full(total, np.nan),
            outcome=np.full(total, REJECTED),
        )

    def result(self) -> StreamResult:
        P = len(self.world.apps)
        wc = np.array(self.window_counts) if self.window_counts else np.zeros((0, P, 3))
        return StreamResult(
            scheduler=self.scheduler.name if self.scheduler is not None else "",
            seed=self.seed,
            apps=[a.name for a in self.world.apps],
            counts=self.counts.copy(),
            hist=self.hist.copy(),
            window_s=self.window_s,
            window_counts=wc.astype(np.int64),
            window_lam=np.array(self.window_lam),
            choices=np.array(self.choices, dtype=np.int64),
            clients=int(self.t0.size),
        )


def simulate(
    world: StreamWorld, scheduler: StreamScheduler, seed: int, **kwargs: Any
) -> StreamResult:
    """Run ``scheduler`` on ``world`` for the scenario's duration with ``seed``."""
    return StreamSim(world, seed, **kwargs).run(scheduler)
