"""The streams setting live against its simulation: the same client population, routed by the
same scheduler, simulated and served.

For each scheduler: the simulator runs ``live-streams`` (seed, duration); then a gateway serves
it (``python -m edgesched.live serve live-streams --scheduler NAME``, real models unless
``--tiny``) and this script replays the simulated clients open-loop: each opens its stream at
its arrival time and sends one query every ``1/fps`` seconds for ``stream_s`` seconds (the
simulator's frame times), never waiting for an answer before the next send. Prints one JSON
line: per scheduler the success / violation / rejection ratios and the p50 / p99 delay of
served queries, simulated and live, with their differences, and the load average.

    python benchmarks/live_streams.py [--schedulers closest,cheapest,most-accurate]
        [--duration 30] [--checkpoint aset.zip] [--tiny]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.rng import RandomStreams
from edgesched.dispatch.streams.scenario import load
from edgesched.dispatch.streams.schedulers import make
from edgesched.dispatch.streams.simulator import StreamSim, generate_clients, hist_percentile
from edgesched.live import livesim

SCENARIO = "live-streams"


def simulate(name: str, world: Any, seed: int, checkpoint: Path | None) -> dict[str, float]:
    sched = make(name, checkpoint=checkpoint) if name == "aset" else make(name)
    res = StreamSim(world, seed).run(sched)
    total = max(res.queries, 1)
    c = res.counts.sum(axis=0)
    h = res.hist.sum(axis=0)
    return {
        "queries": float(res.queries),
        "success": float(c[0] / total),
        "violation": float(c[1] / total),
        "rejection": float(c[2] / total),
        "p50_delay_ms": hist_percentile(h, 50),
        "p99_delay_ms": hist_percentile(h, 99),
    }


async def replay(url: str, world: Any, seed: int, payload: str) -> dict[str, float]:
    """The simulated clients of ``seed``, open loop; the live ratios and delays."""
    import httpx

    clients = generate_clients(world, RandomStreams(seed))
    outcomes: list[str] = []
    delays: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        t0 = time.monotonic() + 0.2

        async def at(t: float) -> None:
            wait = t0 + t - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)

        async def query(sid: str, t: float) -> None:
            await at(t)
            r = await client.post(f"/v1/streams/{sid}/infer", json={"payload": payload})
            if r.status_code != 200:
                outcomes.append("failed")
                return
            data = r.json()
            outcomes.append(data["outcome"])
            if data["outcome"] in ("success", "late"):
                delays.append((time.monotonic() - t0 - t) * 1000.0)

        async def stream(i: int) -> None:
            t = float(clients["t0"][i])
            app = world.apps[int(clients["app"][i])]
            await at(t)
            r = await client.post(
                "/v1/streams",
                json={
                    "app": app.name,
                    "access_point": world.access_points[int(clients["ap"][i])],
                    "id": f"c{i}",
                },
            )
            r.raise_for_status()
            n = round(app.stream_s * app.fps)
            end = world.scenario.load.duration_s
            sends = [t + k / app.fps for k in range(n) if t + k / app.fps < end]
            await asyncio.gather(*(query(f"c{i}", s) for s in sends))

        await asyncio.gather(*(stream(i) for i in range(clients["t0"].size)))
    total = max(len(outcomes), 1)
    return {
        "queries": float(len(outcomes)),
        "success": outcomes.count("success") / total,
        "violation": outcomes.count("late") / total,
        "rejection": outcomes.count("rejected") / total,
        "failed": outcomes.count("failed") / total,
        "p50_delay_ms": float(np.percentile(delays, 50)) if delays else float("nan"),
        "p99_delay_ms": float(np.percentile(delays, 99)) if delays else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schedulers", default="closest,cheapest,most-accurate")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", type=Path, help="ASET checkpoint for live-streams")
    ap.add_argument("--tiny", action="store_true", help="tiny models (a smoke run)")
    args = ap.parse_args()
    world = load(SCENARIO, duration_s=args.duration)
    payload = base64.b64encode(os.urandom(int(world.apps[0].payload_kb * 1000))).decode()
    load_before = os.getloadavg()
    rows: dict[str, Any] = {}
    for name in args.schedulers.split(","):
        sim = simulate(name, world, args.seed, args.checkpoint)
        extra = ["--seed", str(args.seed), "--duration", str(args.duration)]
        if args.tiny:
            extra.append("--tiny")
        proc, url, _log = livesim.start_gateway(
            SCENARIO,
            name,
            checkpoint=args.checkpoint if name == "aset" else None,
            profile=None,
            extra=extra,
        )
        try:
            live = asyncio.run(replay(url, world, args.seed, payload))
        finally:
            livesim.stop_gateway(proc)
        rows[name] = {
            "sim": sim,
            "live": live,
            "diff": {k: sim[k] - live[k] for k in ("success", "violation", "rejection")},
            "rel_diff_delay": {
                k: (sim[k] - live[k]) / live[k] if live[k] else None
                for k in ("p50_delay_ms", "p99_delay_ms")
            },
        }
    out = {
        "benchmark": "live_streams",
        "scenario": SCENARIO,
        "duration_s": args.duration,
        "seed": args.seed,
        "schedulers": rows,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
