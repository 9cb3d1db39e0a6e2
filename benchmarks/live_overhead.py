"""The gateway's own cost per request, and its throughput against a bare FastAPI echo.

Starts (on loopback, ephemeral ports) the gateway on live-host with the no-op model and no
emulated network, and a bare FastAPI/uvicorn app whose POST /echo returns its JSON body; then
drives each with the same closed-loop client (C keep-alive connections, T seconds each, the
same request body) and prints one JSON line: the gateway's own time per request (decision +
routing, as the gateway measures it: total less waiting on the worker) at p50/p99, the
client-side latency of both endpoints, the throughput ratio gateway / echo, and the CPU time
per request of the echo server, the gateway (with its workers, and its process alone) and
the load generator (which shares the cores), with the load average before and after.

    python benchmarks/live_overhead.py [--seconds 10] [--connections 8] [--rounds 10]

The two endpoints are driven in alternating windows (``--rounds`` of each, ``--seconds`` in
all per endpoint), so that other load on the host weighs on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ECHO_APP = """
import sys
from fastapi import FastAPI, Request
from fastapi.responses import Response
import uvicorn
app = FastAPI()
@app.post("/echo")
async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/json")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)  # uvicorn defaults: httptools and uvloop when installed
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def closed_loop(
    port: int, path: str, body: bytes, seconds: float, conns: int
) -> tuple[int, list[float], list[bytes]]:
    """C connections each sending back to back for ``seconds``; returns count, latencies."""
    req = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    lat: list[float] = []
    samples: list[bytes] = []
    end = time.monotonic() + seconds

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < end:
            t = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            data = await reader.readexactly(n)
            lat.append((time.perf_counter() - t) * 1000.0)
            if len(samples) < 2000:
                samples.append(data)
        writer.close()

    await asyncio.gather(*(one() for _ in range(conns)))
    return len(lat), lat, samples


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU time of a process and (``children``) its children (the gateway's
    workers)."""
    p = psutil.Process(pid)
    total = 0.0
    for q in [p, *p.children(recursive=True)] if children else [p]:
        try:
            t = q.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def own_cpu() -> float:
    """This process's CPU time (the load generator's)."""
    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=10, help="alternating windows per endpoint")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    port_file = tmp / "port"
    gw = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgesched.live",
            "serve",
            "live-host",
            "--noop-models",
            "--no-network-emulation",
            "--tiny",
            "--scheduler",
            "fastest-expected",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--max-inflight",
            "100000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    echo_port = free_port()
    echo = subprocess.Popen(
        [sys.executable, "-c", ECHO_APP, str(echo_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not (port_file.exists() and port_file.read_text().strip()):
            time.sleep(0.1)
        gw_port = int(port_file.read_text())
        time.sleep(1.0)
        body = json.dumps(
            {
                "task": "classification",
                "min_accuracy": 0.5,
                "deadline_ms": 60000,
                "payload": base64.b64encode(os.urandom(1024)).decode(),
            }
        ).encode()
        asyncio.run(closed_loop(echo_port, "/echo", body, 1.0, args.connections))  # warm
        asyncio.run(closed_loop(gw_port, "/v1/infer", body, 1.0, args.connections))
        # alternate short windows of the two endpoints, so that other load on the host
        # changing during the run weighs on both alike
        n_echo = n_gw = 0
        lat_echo: list[float] = []
        lat_gw: list[float] = []
        samples: list[bytes] = []
        window = args.seconds / args.rounds
        cpu_echo = cpu_gw = cpu_gw_main = 0.0
        client_echo = client_gw = 0.0
        load_before = os.getloadavg()
        for _ in range(args.rounds):
            c0, k0 = cpu_seconds(echo.pid), own_cpu()
            n, lat, _s = asyncio.run(
                closed_loop(echo_port, "/echo", body, window, args.connections)
            )
            cpu_echo += cpu_seconds(echo.pid) - c0
            client_echo += own_cpu() - k0
            n_echo += n
            lat_echo += lat
            c0, m0, k0 = cpu_seconds(gw.pid), cpu_seconds(gw.pid, False), own_cpu()
            n, lat, got = asyncio.run(
                closed_loop(gw_port, "/v1/infer", body, window, args.connections)
            )
            cpu_gw += cpu_seconds(gw.pid) - c0
            cpu_gw_main += cpu_seconds(gw.pid, False) - m0
            client_gw += own_cpu() - k0
            n_gw += n
            lat_gw += lat
            samples += got[: max(0, 2000 - len(samples))]
        own = [json.loads(s)["timing_ms"]["gateway"] for s in samples]
        outcomes = [json.loads(s)["outcome"] for s in samples]
        print(
            json.dumps(
                {
                    "benchmark": "live_overhead",
                    "seconds": args.seconds,
                    "connections": args.connections,
                    "rounds": args.rounds,
                    "cores": os.cpu_count(),
                    "gateway_own_ms_p50": float(np.percentile(own, 50)),
                    "gateway_own_ms_p99": float(np.percentile(own, 99)),
                    "gateway_latency_ms_p50": float(np.percentile(lat_gw, 50)),
                    "gateway_latency_ms_p99": float(np.percentile(lat_gw, 99)),
                    "echo_latency_ms_p50": float(np.percentile(lat_echo, 50)),
                    "echo_latency_ms_p99": float(np.percentile(lat_echo, 99)),
                    "gateway_rps": n_gw / args.seconds,
                    "echo_rps": n_echo / args.seconds,
                    "throughput_ratio": (n_gw / args.seconds) / (n_echo / args.seconds),
                    "sample_outcomes": {o: outcomes.count(o) for o in set(outcomes)},
                    # server CPU per request (the gateway: with its worker processes)
                    "echo_cpu_us_per_request": 1e6 * cpu_echo / max(n_echo, 1),
                    "gateway_cpu_us_per_request": 1e6 * cpu_gw / max(n_gw, 1),
                    # of which the gateway process itself (the rest: its workers)
                    "gateway_process_cpu_us_per_request": 1e6 * cpu_gw_main / max(n_gw, 1),
                    # the load generator (this process) per request, on the same cores
                    "client_cpu_us_per_request_echo": 1e6 * client_echo / max(n_echo, 1),
                    "client_cpu_us_per_request_gateway": 1e6 * client_gw / max(n_gw, 1),
                    "load_average_before": load_before,
                    "load_average_after": os.getloadavg(),
                }
            )
        )
    finally:
        for p in (gw, echo):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
