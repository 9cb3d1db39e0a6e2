"""Nothing lost: live-host at twice its capacity for 60 s with one worker killed mid-run.

Starts the gateway (real models) on loopback, sends open-loop Poisson arrivals at
``--factor`` x the capacity (the preset's rate loads the host at about 70 %, so capacity is
taken as rate / 0.7), SIGKILLs edge worker 0 at ``--kill-at`` s, and prints one JSON line:
sent, the outcome counts, whether sent = success + late + rejected + failed, whether the
gateway answered /healthz afterwards, the worker's restarts, and the gateway's resident
memory before, during and after.

    python benchmarks/live_nothing_lost.py [--duration 60] [--factor 2] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time

import httpx
import psutil

from edgesched.live import loadgen
from edgesched.live.livesim import start_gateway, stop_gateway


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--factor", type=float, default=2.0)
    ap.add_argument("--kill-at", type=float, default=20.0)
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    extra = ["--tiny"] if args.tiny else []
    proc, url, _ = start_gateway(
        "live-host", "fastest-expected", checkpoint=None, profile=None, extra=extra
    )
    mem: list[float] = []
    killed: dict[str, int] = {}
    try:
        info = loadgen.fetch_scenario(url)
        rate = info["rate_per_min"] / 60.0 / 0.7 * args.factor
        planned = loadgen.plan(info, rate=rate, duration=args.duration, seed=0)
        gw = psutil.Process(proc.pid)
        stop = threading.Event()

        def watch() -> None:
            t0 = time.monotonic()
            while not stop.is_set():
                mem.append(gw.memory_info().rss / 2**20)
                if "pid" not in killed and time.monotonic() - t0 >= args.kill_at:
                    pid = httpx.get(url + "/v1/status").json()["machines"][0]["pid"]
                    os.kill(pid, signal.SIGKILL)
                    killed["pid"] = pid
                stop.wait(1.0)

        th = threading.Thread(target=watch, daemon=True)
        th.start()
        run = loadgen.run(url, planned, info, progress=False)
        stop.set()
        th.join()
        summary = loadgen.summarize(run)
        health = httpx.get(url + "/healthz", timeout=10)
        status = httpx.get(url + "/v1/status").json()
        o = summary["outcomes"]
        print(
            json.dumps(
                {
                    "benchmark": "live_nothing_lost",
                    "rate_per_s": rate,
                    "duration_s": args.duration,
                    "sent": summary["sent"],
                    "outcomes": o,
                    "accounted": summary["sent"] == sum(o.values()),
                    "gateway_answered": status["answered"],
                    "killed_worker_pid": killed.get("pid"),
                    "restarts": status["machines"][0].get("restarts"),
                    "healthz_after": health.status_code,
                    "rss_mb_first": mem[0] if mem else None,
                    "rss_mb_max": max(mem) if mem else None,
                    "rss_mb_last": mem[-1] if mem else None,
                    "throughput_rate": summary["throughput_rate"],
                    "p99_delay_ms": summary["p99_delay_ms"],
                }
            )
        )
    finally:
        stop_gateway(proc)


if __name__ == "__main__":
    main()
