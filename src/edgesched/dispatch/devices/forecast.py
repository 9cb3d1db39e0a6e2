"""What the device simulator can forecast: per action, the delay, energy, lateness and
slow-down that sending a request there would cause if nothing else arrived.

The estimates read the state of a :class:`~edgesched.dispatch.devices.simulator.DeviceSim`
(or of any object with the same state: the live runtime's view of real devices), never the
future: the processing jitter of a request is unknown to them, the profile is the estimate.
The baselines (``fastest-expected``, ``energy-greedy``) and ECSRL's observation use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from edgesched.dispatch.devices.world import DeviceWorld


class Clock(Protocol):
    @property
    def now(self) -> float: ...


class Tables:
    """A world's static per-machine, per-variant and per-task tables as Python lists (the
    hot loops index scalars), under the names the forecasts read; the simulator and the live
    view both hold them (:meth:`set_tables`)."""

    coef: list[list[list[float]]]  # slow-down per co-running pair, per machine
    proc: list[list[float]]  # profile (ms) per machine and variant (NaN: not profiled)
    idle: list[float]  # idle power (W) per machine
    active: list[float]  # active power per workload (W)
    cap: list[float]  # max minus idle power (W)
    max_n: list[int]  # workload limit per machine
    mem: list[float]  # memory (MB) per machine
    vmem: list[float]  # footprint (MB) per variant
    vacc: list[float]  # accuracy per variant
    edge_v: list[int]  # per task: edge variant
    cloud_v: list[int]  # per task: cloud variant
    lan_tx: list[float]  # per task: LAN transmission (ms)
    wan_tx: list[float]  # per task: WAN transmission (ms)
    lan: float  # one-way LAN latency (ms)
    wan: float  # one-way WAN latency (ms)

    def set_tables(self, w: DeviceWorld) -> None:
        """Read the tables of world ``w``."""
        self.coef = w.coef.tolist()
        self.proc = w.proc_ms.tolist()
        self.idle = w.idle_w.tolist()
        self.active = w.active_w.tolist()
        self.cap = (w.max_w - w.idle_w).tolist()
        self.max_n = w.max_workloads.tolist()
        self.mem = w.memory_mb.tolist()
        self.vmem = w.variant_mem_mb.tolist()
        self.vacc = w.variant_acc.tolist()
        self.edge_v = w.edge_variant.tolist()
        self.cloud_v = w.cloud_variant.tolist()
        self.lan_tx = (w.payload_kb * 8.0 / w.lan_mbps).tolist()
        self.wan_tx = (w.payload_kb * 8.0 / w.wan_mbps).tolist()
        self.lan, self.wan = w.lan_ms, w.wan_ms


class DeviceState(Protocol):
    """The state the forecasts and the action rules read: what :class:`~edgesched.dispatch.
    devices.simulator.DeviceSim` keeps, and what a live view of real devices must present (per
    machine ``m`` of the world, times in ms, energy in J, memory in MB)."""

    world: Any  # the DeviceWorld
    D: int  # edge devices; machine D.. are the cloud's
    committed: list[int]  # workloads running or on their way, per machine
    committed_v: list[list[int]]  # the same per variant
    committed_mem: list[float]  # their memory
    max_n: list[int]  # workload limit per machine
    mem: list[float]  # memory per machine
    cloud_queue: list[int]  # requests waiting for a cloud device
    wan_free: float  # when the WAN uplink is free
    run_req: list[list[int]]  # running requests per machine
    run_v: list[list[int]]  # their variants
    run_rem: list[list[float]]  # their remaining solo work
    base: Any  # per request: its solo processing time (jitter included)
    variant: Any  # per request: the variant serving it
    joining: list[list[tuple[float, float, int, int]]]  # edge workloads on their way
    coef: list[list[list[float]]]  # slow-down per co-running pair, per machine
    proc: list[list[float]]  # profile per machine and variant
    active: list[float]  # active power per workload
    cap: list[float]  # max minus idle power
    vmem: list[float]  # memory per variant
    vacc: list[float]  # accuracy per variant
    task: Any  # per request: task
    min_acc: Any  # per request: accuracy requirement
    edge_v: list[int]  # per task: edge variant
    cloud_v: list[int]  # per task: cloud variant
    arrival: Any  # per request: arrival time
    deadline: Any  # per request: deadline
    lan: float  # one-way LAN latency
    lan_tx: list[float]  # per task: LAN transfer time of its payload
    wan: float  # one-way WAN latency
    wan_tx: list[float]  # per task: WAN transfer time of its payload

    @property
    def loop(self) -> Clock:
        """``loop.now``: the current time."""
        ...

    def cloud_room(self, v: int) -> int:
        """The cloud device a workload of ``v`` would start on now, or -1 (see
        :func:`cloud_room`)."""
        ...


def mask(state: DeviceState, r: int | None, down: Sequence[bool] | None = None) -> np.ndarray:
    """Allowed actions for request ``r``: the edge devices with a free workload slot and memory
    for the request's edge variant, when that variant is accurate enough and the device is not
    ``down`` (per machine; None: every device is up); the cloud always (its requests wait in
    its queue). ``r`` None: the cloud only."""
    D = state.D
    out = np.zeros(D + 1, dtype=bool)
    out[D] = True
    if r is None:
        return out
    v = state.edge_v[state.task[r]]
    if state.vacc[v] < state.min_acc[r]:
        return out
    need = state.vmem[v]
    committed, limit, used, mem = state.committed, state.max_n, state.committed_mem, state.mem
    for m in range(D):
        out[m] = committed[m] < limit[m] and used[m] + need <= mem[m]
    if down is not None:
        for m in range(D):
            if down[m]:
                out[m] = False
    return out


def cloud_room(state: DeviceState, v: int, down: Sequence[bool] | None = None) -> int:
    """The cloud device with a free slot and memory for a workload of variant ``v`` and the
    fewest committed (the first of those), skipping those ``down``; -1 when there is none."""
    best, best_n = -1, 1 << 30
    need = state.vmem[v]
    committed, limit, used, mem = state.committed, state.max_n, state.committed_mem, state.mem
    for m in range(state.D, state.world.n_machines):
        n = committed[m]
        if n < limit[m] and used[m] + need <= mem[m] and n < best_n:
            if down is not None and down[m]:
                continue
            best, best_n = m, n
    return best


EPS_MS = 1e-7  # a workload with less solo work left than this has ended


def committed_load(sim: DeviceState) -> np.ndarray:
    """Per action, the committed fraction of its workload limit (the cloud: committed plus
    queued requests over all its devices' slots)."""
    D = sim.D
    load = np.empty(D + 1)
    for m in range(D):
        load[m] = sim.committed[m] / sim.max_n[m]
    slots = sum(sim.max_n[D:])
    load[D] = (sum(sim.committed[D:]) + len(sim.cloud_queue)) / max(slots, 1)
    return load


def expected(sim: DeviceState, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected delay (ms) and attributed energy (J) of request ``r`` on each action, if
    nothing else arrived or ended: the profile times the slow-down of what is committed
    there now (the cloud: its least-committed device, plus the WAN backlog and the queue).
    Masked actions get what the formula says; the caller applies the mask."""
    t = sim.task[r]
    delay = np.empty(sim.D + 1)
    energy = np.empty(sim.D + 1)
    v = sim.edge_v[t]
    for m in range(sim.D):
        d, e = _expected_on(sim, m, v)
        delay[m] = 2 * sim.lan + sim.lan_tx[t] + d
        energy[m] = e
    v = sim.cloud_v[t]
    now = sim.loop.now
    wan = max(0.0, sim.wan_free - now) + sim.wan_tx[t] + 2 * sim.wan
    m = sim.cloud_room(v)
    if m >= 0 and not sim.cloud_queue:
        d, e = _expected_on(sim, m, v)
    else:
        m = sim.D
        d, e = _expected_on(sim, m, v, full=True)
        G = sim.world.n_machines - sim.D
        d += (len(sim.cloud_queue) + 1) * sim.proc[m][v] / max(G, 1)
    delay[sim.D] = wan + d
    energy[sim.D] = e
    return delay, energy


def _expected_on(sim: DeviceState, m: int, v: int, full: bool = False) -> tuple[float, float]:
    coef = sim.coef[m][v]
    cv = sim.committed_v[m]
    n = sim.committed[m]
    if full:
        n = sim.max_n[m] - 1
        fac = 1.0 + coef[v] * n
    else:
        fac = 1.0 + sum(coef[b] * cv[b] for b in range(len(cv)))
    d = sim.proc[m][v] * fac
    share = min(sim.active[m] * (n + 1), sim.cap[m]) / (n + 1)
    return d, share * d * 1e-3


def _project(
    sim: DeviceState, m: int, extra: tuple[float, float, int, int] | None
) -> tuple[float, dict[int, float]]:
    """Run machine ``m`` forward alone until it is empty, if nothing else arrived.

    Its running workloads continue; workloads on their way join when they arrive (edge
    reservations); ``extra`` is one more ``(join time, solo ms, variant, id)``. Returns the
    dynamic energy from now on (J) and the projected end time of every workload by id.
    """
    act, cap = sim.active[m], sim.cap[m]
    if not sim.run_req[m] and (m >= sim.D or not sim.joining[m]):
        if extra is None:  # an idle machine stays idle
            return 0.0, {}
        join, solo, _, i = extra  # alone: solo speed
        return min(act, cap) * solo * 1e-3, {i: join + solo}
    now = sim.loop.now
    coef = sim.coef[m]
    vs = list(sim.run_v[m])
    ids = list(sim.run_req[m])
    # the remaining work as the scheduler can know it: the profile less the progress made
    prof = sim.proc[m]
    base = sim.base
    rem = [
        max(prof[v] - (base[i] - x), 0.05 * prof[v])
        for v, i, x in zip(vs, ids, sim.run_rem[m], strict=True)
    ]
    joins = sim.joining[m][:] if m < sim.D else []
    if extra is not None:
        joins.append(extra)
        joins.sort()
    t, energy = now, 0.0
    ends: dict[int, float] = {}
    j = 0
    while rem or j < len(joins):
        fac = [1.0 + sum(coef[a][b] for b in vs) - coef[a][a] for a in vs]
        step = min((r * f for r, f in zip(rem, fac, strict=True)), default=float("inf"))
        if j < len(joins) and joins[j][0] - t < step:
            step = max(joins[j][0] - t, 0.0)
            join = True
        else:
            join = False
        n = len(rem)
        if n:
            energy += min(act * n, cap) * step * 1e-3
            rem = [r - step / f for r, f in zip(rem, fac, strict=True)]
        t += step
        if join:
            _, solo, v, i = joins[j]
            rem.append(solo)
            vs.append(v)
            ids.append(i)
            j += 1
        keep = [k for k in range(len(rem)) if rem[k] > EPS_MS]
        for k in range(len(rem)):
            if rem[k] <= EPS_MS:
                ends[ids[k]] = t
        rem = [rem[k] for k in keep]
        vs = [vs[k] for k in keep]
        ids = [ids[k] for k in keep]
    return energy, ends


def lookahead(sim: DeviceState, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per action, what sending request ``r`` there would do if nothing else arrived: the
    request's projected delay (ms), the marginal dynamic energy of the machine (J: the
    request's own plus what its slow-down adds to the others'), the number of requests
    (it included) projected to end late that would otherwise not, and the degradation it
    adds (its own slow-down factor minus one plus the others' added processing time over
    their solo time).

    The cloud is projected on the device it would get; while requests wait in the cloud
    queue it falls back on :func:`expected` (no marginal effect on others)."""
    t = sim.task[r]
    now = sim.loop.now
    A = sim.D + 1
    delay, d_energy = np.empty(A), np.empty(A)
    d_late, d_deg = np.zeros(A), np.zeros(A)
    jit = 1.0  # the scheduler does not know the jitter: the profile is its estimate
    dl = sim.deadline[r]
    v = sim.edge_v[t]
    for m in range(A):
        if m < sim.D:
            offset = sim.lan + sim.lan_tx[t]
            back = sim.lan
            target = m
        else:
            v = sim.cloud_v[t]
            offset = max(0.0, sim.wan_free - now) + sim.wan_tx[t] + sim.wan
            back = sim.wan
            target = sim.cloud_room(v) if not sim.cloud_queue else -1
            if target < 0:
                exp_delay, exp_energy = expected(sim, r)
                delay[m], d_energy[m] = exp_delay[m], exp_energy[m]
                d_late[m] = float(delay[m] > dl)
                continue
        e0, ends0 = _project(sim, target, None)
        solo = sim.proc[target][v] * jit
        e1, ends1 = _project(sim, target, (now + offset, solo, v, -1))
        delay[m] = ends1[-1] - now + back
        d_energy[m] = e1 - e0
        late = float(delay[m] > dl)
        deg = max((ends1[-1] - now - offset) / solo - 1.0, 0.0)
        for i, end0 in ends0.items():
            lim = sim.arrival[i] + sim.deadline[i] - back
            if end0 <= lim < ends1[i]:
                late += 1.0
            deg += (ends1[i] - end0) / sim.proc[target][int(sim.variant[i])]
        d_late[m] = late
        d_deg[m] = deg
    return delay, d_energy, d_late, d_deg
