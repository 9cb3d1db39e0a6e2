"""The load generator: open-loop arrivals against a live gateway, per-request records, a
summary and plots.

Arrivals are open-loop: every request is sent at its planned time whatever the server does
(each is its own task; a slow answer never delays the next send), and its delay is measured
from the planned time, so a client that falls behind is counted, not hidden (no coordinated
omission). The plan is either a Poisson process at ``rate`` per second for ``duration`` s, or
the arrival times of a CSV file:

- a header with a ``timestamp_s`` column: one row per request, seconds from the start;
- or the header ``second,count``: ``count`` requests spread uniformly over that second.

Each request's task is drawn by the mix (default: the scenario's shares, from
``GET /v1/scenario``), its accuracy requirement and deadline as the simulator draws them
(the scenario's offload share and deadline range). Every request sent ends with exactly one
outcome: the gateway's (success, late, rejected, failed), or ``failed`` with the client's
reason (HTTP error, timeout, connection refused).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.arrivals import read_arrival_trace
from edgesched.core.errors import ConfigError

OUTCOMES = ("success", "late", "rejected", "failed")


@dataclass(frozen=True)
class Planned:
    """One request to send: when (s from the start), what and how urgent."""

    at_s: float
    task: str
    min_accuracy: float
    deadline_ms: float


@dataclass
class Sent:
    """One request's record: the plan, when it went, and its one outcome."""

    index: int
    at_s: float
    task: str
    min_accuracy: float
    deadline_ms: float
    sent_s: float = math.nan
    delay_ms: float = math.nan
    outcome: str = "failed"
    reason: str | None = "not answered"
    device: str | None = None
    variant: str | None = None
    http_status: int = 0
    server_total_ms: float = math.nan
    network_ms: float = math.nan
    queue_ms: float = math.nan
    wan_queue_ms: float = math.nan
    compute_ms: float = math.nan
    gateway_ms: float = math.nan
    energy_j: float = 0.0


def read_arrivals(path: Path) -> np.ndarray:
    """Arrival times (s, sorted) from a CSV trace (see the module docstring and
    :func:`edgesched.core.arrivals.read_arrival_trace`, the one reader the simulated worlds
    share); a ``second,count`` trace is spread with a fixed seed.

    Raises:
        ConfigError: no such file, an unknown header, or a bad row (named by line).
    """
    return read_arrival_trace(path).times(np.random.default_rng(0))


def parse_mix(text: str, tasks: list[str]) -> dict[str, float]:
    """``a=0.7,b=0.3`` as shares summing to one.

    Raises:
        ConfigError: an unknown task or a share that is not a number > 0.
    """
    out: dict[str, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        name = name.strip()
        if name not in tasks:
            raise ConfigError(
                f"--mix {text!r}: unknown task {name!r}; the gateway serves {', '.join(tasks)}."
            )
        try:
            x = float(share) if share else 1.0
        except ValueError:
            raise ConfigError(f"--mix {text!r}: share of {name!r} is not a number.") from None
        if not x > 0:
            raise ConfigError(f"--mix {text!r}: share of {name!r} must be > 0.")
        out[name] = x
    total = sum(out.values())
    return {k: v / total for k, v in out.items()}


def plan(
    scenario: dict[str, Any],
    *,
    rate: float | None,
    duration: float | None,
    arrivals: np.ndarray | None = None,
    mix: dict[str, float] | None = None,
    seed: int = 0,
) -> list[Planned]:
    """The requests to send, drawn as the simulator draws them (``scenario`` is the
    gateway's ``GET /v1/scenario``)."""
    rng = np.random.default_rng(seed)
    if arrivals is None:
        assert rate is not None and duration is not None
        n = int(rng.poisson(rate * duration))
        times = np.sort(rng.uniform(0.0, duration, n))
    else:
        times = arrivals if duration is None else arrivals[arrivals < duration]
    tasks = scenario["tasks"]
    names = [t["task"] for t in tasks]
    shares = np.array([(mix or {}).get(t["task"], 0.0) if mix else t["share"] for t in tasks])
    shares = shares / shares.sum()
    lo, hi = scenario["deadline_ms"]
    out = []
    for t in times:
        k = int(rng.choice(len(names), p=shares))
        edge, cloud = tasks[k]["edge_accuracy"], tasks[k]["cloud_accuracy"]
        u = rng.random()
        if rng.random() < scenario["offload_share"]:
            acc = edge + (cloud - edge) * (0.01 + 0.99 * u)
        else:
            acc = max(edge - scenario["accuracy_margin"] * u, 0.0)
        deadline = rng.uniform(lo, hi) if hi > lo else lo
        out.append(Planned(float(t), names[k], float(acc), float(deadline)))
    return out


@dataclass
class LoadRun:
    """The records of one run and how long it took."""

    records: list[Sent]
    wall_s: float
    url: str
    extra: dict[str, Any] = field(default_factory=dict)


async def _send_all(
    url: str,
    planned: list[Planned],
    payloads: dict[str, str],
    *,
    progress: bool,
    timeout_s: float,
    connections: int,
) -> tuple[list[Sent], float]:
    import httpx
    from tqdm import tqdm

    records = [
        Sent(i, p.at_s, p.task, p.min_accuracy, p.deadline_ms) for i, p in enumerate(planned)
    ]
    bar = tqdm(
        total=len(planned),
        unit="req",
        desc="loadtest",
        disable=not progress,
        leave=True,
        dynamic_ncols=True,
    )
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout_s) as client:
        t0 = time.monotonic() + 0.05

        async def one(rec: Sent) -> None:
            body = (
                f'{{"task": {json.dumps(rec.task)}, "payload": "{payloads[rec.task]}", '
                f'"min_accuracy": {rec.min_accuracy!r}, "deadline_ms": {rec.deadline_ms!r}, '
                f'"id": "q{rec.index}"}}'
            )
            rec.sent_s = time.monotonic() - t0
            try:
                resp = await client.post(
                    "/v1/infer", content=body, headers={"content-type": "application/json"}
                )
                rec.delay_ms = (time.monotonic() - t0 - rec.at_s) * 1000.0
                rec.http_status = resp.status_code
                if resp.status_code == 200:
                    data = resp.json()
                    rec.outcome = data["outcome"]
                    rec.reason = data["reason"]
                    rec.device = data["device"]
                    rec.variant = data["variant"]
                    tm = data["timing_ms"]
                    rec.server_total_ms = tm["total"]
                    rec.network_ms = tm["network"]
                    rec.queue_ms = tm["queue"] + tm["wan_queue"]
                    rec.wan_queue_ms = tm["wan_queue"]
                    rec.compute_ms = tm["compute"]
                    rec.gateway_ms = tm["gateway"]
                    rec.energy_j = data["energy_j"]
                else:
                    rec.outcome = "failed"
                    rec.reason = f"HTTP {resp.status_code}: {resp.text[:200]}"
            except httpx.TimeoutException:
                rec.delay_ms = (time.monotonic() - t0 - rec.at_s) * 1000.0
                rec.outcome, rec.reason = "failed", f"no answer within {timeout_s:g} s"
            except httpx.HTTPError as exc:
                rec.delay_ms = (time.monotonic() - t0 - rec.at_s) * 1000.0
                rec.outcome, rec.reason = "failed", f"{type(exc).__name__}: {exc}"
            bar.update(1)

        tasks = []
        for rec in records:
            wait = t0 + rec.at_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(rec)))
        await asyncio.gather(*tasks)
        wall = time.monotonic() - t0
    bar.close()
    return records, wall


def run(
    url: str,
    planned: list[Planned],
    scenario: dict[str, Any],
    *,
    progress: bool = True,
    timeout_s: float | None = None,
    connections: int = 512,
    seed: int = 0,
) -> LoadRun:
    """Send every planned request to the gateway at ``url`` and collect the records."""
    rng = np.random.default_rng(seed + 1)
    payloads = {
        t["task"]: base64.b64encode(rng.bytes(int(t["payload_kb"] * 1000))).decode()
        for t in scenario["tasks"]
    }
    longest = max((p.deadline_ms for p in planned), default=1000.0)
    timeout = timeout_s if timeout_s is not None else max(30.0, 5 * longest / 1000.0)
    records, wall = asyncio.run(
        _send_all(
            url.rstrip("/"),
            planned,
            payloads,
            progress=progress,
            timeout_s=timeout,
            connections=connections,
        )
    )
    return LoadRun(records, wall, url)


def fetch_scenario(url: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The gateway's ``GET /v1/scenario``.

    Raises:
        ConfigError: the gateway does not answer, or is not an edgesched gateway.
    """
    import httpx

    try:
        resp = httpx.get(url.rstrip("/") + "/v1/scenario", timeout=timeout_s)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        data["tasks"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{url}: no edgesched gateway answers there ({type(exc).__name__}: {exc}); start "
            "one with `edgesched serve SCENARIO`."
        ) from None
    return data


def summarize(load: LoadRun) -> dict[str, Any]:
    """Throughput rate, outcome counts, p50/p95/p99 delay, energy per request."""
    recs = load.records
    n = len(recs)
    counts = {o: sum(1 for r in recs if r.outcome == o) for o in OUTCOMES}
    served = np.array([r.delay_ms for r in recs if r.outcome in ("success", "late")])

    def pct(q: float) -> float | None:
        return float(np.percentile(served, q)) if served.size else None

    lags = np.array([r.sent_s - r.at_s for r in recs if not math.isnan(r.sent_s)])
    return {
        "url": load.url,
        "sent": n,
        "outcomes": counts,
        "accounted": sum(counts.values()) == n,
        "throughput_rate": counts["success"] / n if n else None,
        "p50_delay_ms": pct(50),
        "p95_delay_ms": pct(95),
        "p99_delay_ms": pct(99),
        "mean_delay_ms": float(served.mean()) if served.size else None,
        "energy_per_request_j": float(sum(r.energy_j for r in recs) / n) if n else None,
        "offload_fraction": (
            sum(1 for r in recs if (r.device or "").startswith("cloud")) / n if n else None
        ),
        "wall_s": load.wall_s,
        "achieved_rate_per_s": n / load.wall_s if load.wall_s > 0 else None,
        "max_send_lag_ms": float(lags.max() * 1000.0) if lags.size else None,
        **load.extra,
    }


def write(out: Path, load: LoadRun, summary: dict[str, Any]) -> None:
    """``records.csv``, ``summary.json`` and ``delay.png`` into folder ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "records.csv").open("w", newline="", encoding="utf-8") as f:
        names = list(asdict(load.records[0]).keys()) if load.records else ["index"]
        wr = csv.DictWriter(f, names)
        wr.writeheader()
        for r in load.records:
            wr.writerow(asdict(r))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot(out / "delay.png", load)


def plot(path: Path, load: LoadRun) -> None:
    """Delay over send time by outcome, and the delay distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    colors = {
        "success": "tab:green",
        "late": "tab:orange",
        "rejected": "tab:red",
        "failed": "black",
    }
    for o in OUTCOMES:
        xs = [r.at_s for r in load.records if r.outcome == o and not math.isnan(r.delay_ms)]
        ys = [r.delay_ms for r in load.records if r.outcome == o and not math.isnan(r.delay_ms)]
        if xs:
            a.scatter(xs, ys, s=4, color=colors[o], label=f"{o} ({len(xs)})")
    a.set_xlabel("planned send time (s)")
    a.set_ylabel("delay (ms)")
    a.set_yscale("log")
    a.legend(fontsize=8)
    served = np.sort([r.delay_ms for r in load.records if r.outcome in ("success", "late")])
    if served.size:
        b.plot(served, np.arange(1, served.size + 1) / served.size)
    b.set_xlabel("delay of answered requests (ms)")
    b.set_ylabel("fraction")
    b.set_xscale("log")
    b.grid(alpha=0.3)
    fig.suptitle(f"loadtest {load.url}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
