"""What the device simulator can forecast: per action, the delay, energy, lateness and
slow-down that sending a request there would cause if nothing else arrived.

The estimates read the state of a :class:`~edgesched.dispatch.devices.simulator.DeviceSim`
(or of any object with the same state: the live runtime's view of real devices), never the
future: the processing jitter of a request is unknown to them, the profile is the estimate.
The baselines (``fastest-expected``, ``energy-greedy``) and ECSRL's observation use them.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Clock(Protocol):
    @property
    def now(self) -> float: ...


class DeviceState(Protocol):
    """The state the forecasts read: what :class:`~edgesched.dispatch.devices.simulator.
    DeviceSim` keeps, and what a live view of real devices must present (per machine ``m``
    of the world, times in ms, energy in J)."""

    world: Any  # the DeviceWorld
    D: int  # edge devices; machine D.. are the cloud's
    committed: list[int]  # workloads running or on their way, per machine
    committed_v: list[list[int]]  # the same per variant
    max_n: list[int]  # workload limit per machine
    cloud_queue: list[int]  # requests waiting for a cloud device
    wan_free: float  # when the WAN uplink is free
    run_req: list[list[int]]  # running requests per machine
    run_v: list[list[int]]  # their variants
    run_rem: list[list[float]]  # their remaining solo work
    base: Any  # per request: its solo processing time (jitter included)
    variant: Any  # per request: the variant serving it
    _joining: list[list[tuple[float, float, int, int]]]  # edge workloads on their way
    _coef: list[list[list[float]]]  # slow-down per co-running pair, per machine
    _proc: list[list[float]]  # profile per machine and variant
    _active: list[float]  # active power per workload
    _cap: list[float]  # max minus idle power
    _task: Any  # per request: task
    _edge_v: list[int]  # per task: edge variant
    _cloud_v: list[int]  # per task: cloud variant
    _arrival: Any  # per request: arrival time
    _deadline: Any  # per request: deadline
    _lan: float
    _lan_tx: list[float]
    _wan: float
    _wan_tx: list[float]

    @property
    def loop(self) -> Clock:
        """``loop.now``: the current time."""
        ...

    def _cloud_room(self, v: int) -> int: ...


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
    t = sim._task[r]
    delay = np.empty(sim.D + 1)
    energy = np.empty(sim.D + 1)
    v = sim._edge_v[t]
    for m in range(sim.D):
        d, e = _expected_on(sim, m, v)
        delay[m] = 2 * sim._lan + sim._lan_tx[t] + d
        energy[m] = e
    v = sim._cloud_v[t]
    now = sim.loop.now
    wan = max(0.0, sim.wan_free - now) + sim._wan_tx[t] + 2 * sim._wan
    m = sim._cloud_room(v)
    if m >= 0 and not sim.cloud_queue:
        d, e = _expected_on(sim, m, v)
    else:
        m = sim.D
        d, e = _expected_on(sim, m, v, full=True)
        G = sim.world.n_machines - sim.D
        d += (len(sim.cloud_queue) + 1) * sim._proc[m][v] / max(G, 1)
    delay[sim.D] = wan + d
    energy[sim.D] = e
    return delay, energy


def _expected_on(sim: DeviceState, m: int, v: int, full: bool = False) -> tuple[float, float]:
    coef = sim._coef[m][v]
    cv = sim.committed_v[m]
    n = sim.committed[m]
    if full:
        n = sim.max_n[m] - 1
        fac = 1.0 + coef[v] * n
    else:
        fac = 1.0 + sum(coef[b] * cv[b] for b in range(len(cv)))
    d = sim._proc[m][v] * fac
    share = min(sim._active[m] * (n + 1), sim._cap[m]) / (n + 1)
    return d, share * d * 1e-3


def _project(
    sim: DeviceState, m: int, extra: tuple[float, float, int, int] | None
) -> tuple[float, dict[int, float]]:
    """Run machine ``m`` forward alone until it is empty, if nothing else arrived.

    Its running workloads continue; workloads on their way join when they arrive (edge
    reservations); ``extra`` is one more ``(join time, solo ms, variant, id)``. Returns the
    dynamic energy from now on (J) and the projected end time of every workload by id.
    """
    act, cap = sim._active[m], sim._cap[m]
    if not sim.run_req[m] and (m >= sim.D or not sim._joining[m]):
        if extra is None:  # an idle machine stays idle
            return 0.0, {}
        join, solo, _, i = extra  # alone: solo speed
        return min(act, cap) * solo * 1e-3, {i: join + solo}
    now = sim.loop.now
    coef = sim._coef[m]
    vs = list(sim.run_v[m])
    ids = list(sim.run_req[m])
    # the remaining work as the scheduler can know it: the profile less the progress made
    prof = sim._proc[m]
    base = sim.base
    rem = [
        max(prof[v] - (base[i] - x), 0.05 * prof[v])
        for v, i, x in zip(vs, ids, sim.run_rem[m], strict=True)
    ]
    joins = sim._joining[m][:] if m < sim.D else []
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
    t = sim._task[r]
    now = sim.loop.now
    A = sim.D + 1
    delay, d_energy = np.empty(A), np.empty(A)
    d_late, d_deg = np.zeros(A), np.zeros(A)
    jit = 1.0  # the scheduler does not know the jitter: the profile is its estimate
    dl = sim._deadline[r]
    v = sim._edge_v[t]
    for m in range(A):
        if m < sim.D:
            offset = sim._lan + sim._lan_tx[t]
            back = sim._lan
            target = m
        else:
            v = sim._cloud_v[t]
            offset = max(0.0, sim.wan_free - now) + sim._wan_tx[t] + sim._wan
            back = sim._wan
            target = sim._cloud_room(v) if not sim.cloud_queue else -1
            if target < 0:
                exp_delay, exp_energy = expected(sim, r)
                delay[m], d_energy[m] = exp_delay[m], exp_energy[m]
                d_late[m] = float(delay[m] > dl)
                continue
        e0, ends0 = _project(sim, target, None)
        solo = sim._proc[target][v] * jit
        e1, ends1 = _project(sim, target, (now + offset, solo, v, -1))
        delay[m] = ends1[-1] - now + back
        d_energy[m] = e1 - e0
        late = float(delay[m] > dl)
        deg = max((ends1[-1] - now - offset) / solo - 1.0, 0.0)
        for i, end0 in ends0.items():
            lim = sim._arrival[i] + sim._deadline[i] - back
            if end0 <= lim < ends1[i]:
                late += 1.0
            deg += (ends1[i] - end0) / sim._proc[target][int(sim.variant[i])]
        d_late[m] = late
        d_deg[m] = deg
    return delay, d_energy, d_late, d_deg
