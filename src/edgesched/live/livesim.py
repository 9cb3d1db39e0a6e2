"""The sim-to-real report: one request sequence, run in the simulator and live, side by side.

For each scheduler, :func:`compare` draws the requests of ``seed`` exactly as the device
simulator does (arrival times, tasks, accuracy requirements, deadlines), runs them through
``DeviceSim`` on the world with the measured profile, then serves the scenario live (a gateway
subprocess: ``python -m edgesched.live serve``, workers, real inference) and replays the same
sequence with the load generator at the same times. The live delay is the client's (planned
send to answer); energies are the power models' on both sides.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.core.rng import RandomStreams
from edgesched.live import loadgen

#: The metrics of the report and whether larger is better (for the ranking).
METRICS = (
    "throughput_rate",
    "p50_delay_ms",
    "p95_delay_ms",
    "p99_delay_ms",
    "energy_per_request_j",
    "offload_fraction",
)


def simulate(
    world: Any, scheduler_name: str, checkpoint: Path | None, seed: int, requests: Any
) -> dict[str, float]:
    """The simulator's metrics for the scheduler on the given requests."""
    from edgesched.dispatch.devices.simulator import DeviceSim
    from edgesched.live.scenarios import make_scheduler

    sched = make_scheduler(scheduler_name, checkpoint)
    res = DeviceSim(world, seed, requests=requests).run(sched)
    return res.metrics()


def start_gateway(
    scenario: str,
    scheduler: str,
    *,
    checkpoint: Path | None,
    profile: Path | None,
    extra: list[str],
    timeout_s: float = 180.0,
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """A gateway subprocess on an ephemeral loopback port; returns it, its URL and its log.

    Raises:
        ConfigError: it exited or did not become ready in time (its log is quoted).
    """
    tmp = Path(tempfile.mkdtemp(prefix="edgesched-live-"))
    port_file = tmp / "port"
    log = tmp / "gateway.log"
    cmd = [
        sys.executable,
        "-m",
        "edgesched.live",
        "serve",
        str(scenario),
        "--scheduler",
        scheduler,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--port-file",
        str(port_file),
        *extra,
    ]
    if checkpoint is not None:
        cmd += ["--checkpoint", str(checkpoint)]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_gateway(proc)
            raise ConfigError(
                f"the live gateway for {scheduler} did not start: "
                f"{log.read_text(errors='replace').strip()[-800:] or 'timed out'}"
            )
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}", log


def stop_gateway(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int | None:
    """SIGTERM the gateway (it drains, then stops its workers); SIGKILL its group if stuck."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


def compare(
    scenario: str,
    schedulers: list[str],
    *,
    profile: Path | None,
    checkpoint: Path | None = None,
    seed: int = 0,
    rate_per_min: float | None = None,
    duration_s: float | None = None,
    serve_args: list[str] | None = None,
    progress: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """Run every scheduler in the simulator and live on the same requests."""
    from edgesched.dispatch.devices.simulator import generate_requests
    from edgesched.live.scenarios import load_world

    world = load_world(scenario, profile=profile, rate_per_min=rate_per_min, duration_s=duration_s)
    requests = generate_requests(world, RandomStreams(seed))
    extra = list(serve_args or [])
    # the gateway must see the same (shortened or re-rated) scenario: pass the request model
    info = _scenario_info(world)
    planned = planned_requests(world, requests)
    rows: dict[str, Any] = {}
    for name in schedulers:
        sim = simulate(world, name, checkpoint if name == "ecsrl" else None, seed, requests)
        log(
            f"{name}: simulated; serving it live ({len(planned)} requests, "
            f"{world.scenario.requests.duration_s:g} s)"
        )
        proc, url, _log = start_gateway(
            scenario,
            name,
            checkpoint=checkpoint if name == "ecsrl" else None,
            profile=profile,
            extra=extra,
        )
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        try:
            run = loadgen.run(url, planned, info, progress=progress, seed=seed)
            cpu1, t1 = _cpu_seconds(proc.pid), time.monotonic()
        finally:
            code = stop_gateway(proc)
        live = loadgen.summarize(run)
        live["gateway_exit"] = code
        # the cores the live runtime kept busy (gateway, workers, load generator) over the run
        live["cores_busy"] = (cpu1 - cpu0) / max(t1 - t0, 1e-9)
        live["parts_p50_ms"] = _parts(run.records)
        rows[name] = {"sim": {k: sim.get(k) for k in METRICS}, "live": live}
    return {
        "scenario": world.name,
        "seed": seed,
        "requests": len(planned),
        "profile": str(profile) if profile else None,
        "schedulers": rows,
        "ranking": ranking(rows),
    }


def planned_requests(world: Any, requests: Any) -> list[loadgen.Planned]:
    """The load generator's plan of a simulated request sequence (same times and draws)."""
    return [
        loadgen.Planned(float(a) / 1000.0, world.tasks[int(t)], float(acc), float(dl))
        for a, t, acc, dl in zip(
            requests.arrival_ms,
            requests.task,
            requests.min_accuracy,
            requests.deadline_ms,
            strict=True,
        )
    ]


def scenario_info(world: Any) -> dict[str, Any]:
    """What the load generator needs of a scenario (its tasks and payload sizes)."""
    return _scenario_info(world)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid``, its children and this process."""
    import psutil

    total = 0.0
    procs = [psutil.Process()]
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        procs += [root, *root.children(recursive=True)]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _parts(records: list[Any]) -> dict[str, float | None]:
    """Median network, queue, compute and gateway time of the served requests (ms)."""
    out: dict[str, float | None] = {}
    served = [r for r in records if r.outcome in ("success", "late")]
    for k in ("network_ms", "queue_ms", "compute_ms", "gateway_ms"):
        xs = [getattr(r, k) for r in served if np.isfinite(getattr(r, k))]
        out[k] = float(np.median(xs)) if xs else None
    return out


def _scenario_info(world: Any) -> dict[str, Any]:
    req = world.scenario.requests
    return {
        "tasks": [
            {
                "task": t,
                "payload_kb": float(world.payload_kb[i]),
                "share": 1.0,
                "edge_accuracy": 0.0,
                "cloud_accuracy": 1.0,
            }
            for i, t in enumerate(world.tasks)
        ],
        "deadline_ms": list(req.deadline_ms),
        "offload_share": req.offload_share,
        "accuracy_margin": req.accuracy_margin,
    }


def _order(rows: dict[str, Any], side: str, metric: str, larger: bool) -> list[str]:
    vals = {n: rows[n][side].get(metric) for n in rows}
    return sorted(rows, key=lambda n: (-(vals[n] or 0.0) if larger else (vals[n] or 0.0), n))


def ranking(rows: dict[str, Any]) -> dict[str, Any]:
    """The schedulers ranked by throughput rate and by energy per request, sim vs live,
    with Kendall's tau between the two rankings."""
    from scipy.stats import kendalltau

    out: dict[str, Any] = {}
    for metric, larger in (("throughput_rate", True), ("energy_per_request_j", False)):
        sim, live = _order(rows, "sim", metric, larger), _order(rows, "live", metric, larger)
        tau = (
            float(kendalltau([sim.index(n) for n in rows], [live.index(n) for n in rows])[0])
            if len(rows) > 1
            else 1.0
        )
        out[metric] = {"sim": sim, "live": live, "kendall_tau": tau}
    return out


def table(report: dict[str, Any]) -> str:
    """The report as a console table: sim, live and the relative difference per metric."""
    lines = [
        f"{report['scenario']}: {report['requests']} requests, seed {report['seed']}"
        + (f", profile {report['profile']}" if report["profile"] else "")
    ]
    head = f"{'scheduler':<18} {'metric':<22} {'sim':>10} {'live':>10} {'diff':>8}"
    lines += [head, "-" * len(head)]
    for name, row in report["schedulers"].items():
        for k in METRICS:
            s, live = row["sim"].get(k), row["live"].get(k)
            diff = _rel(s, live)
            lines.append(
                f"{name:<18} {k:<22} {_fmt(s):>10} {_fmt(live):>10} "
                f"{'' if diff is None else f'{diff:+.1%}':>8}"
            )
        o = row["live"]["outcomes"]
        lines.append(
            f"{name:<18} {'live outcomes':<22} " + ", ".join(f"{k} {v}" for k, v in o.items())
        )
    for metric, r in report["ranking"].items():
        lines.append(f"ranking by {metric}: sim {' > '.join(r['sim'])}")
        lines.append(
            f"{'':<{12 + len(metric)}}live {' > '.join(r['live'])} "
            f"(Kendall tau {r['kendall_tau']:.2f})"
        )
    return "\n".join(lines)


def _rel(sim: float | None, live: float | None) -> float | None:
    """(sim - live) / live."""
    if sim is None or live is None or not np.isfinite(sim) or not live:
        return None
    return (sim - live) / abs(live)


def _fmt(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    return f"{x:.4g}"


def write(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.txt").write_text(table(report) + "\n", encoding="utf-8")
