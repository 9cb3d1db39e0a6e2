"""CPU per request of the HTTP servers the gateway could run on, for the same echo app.

The gateway serves on uvicorn (httptools + uvloop). This measures whether another ASGI/RSGI
server would cost less per request on this host: each server runs a raw ASGI (or, for
granian, also RSGI) app whose POST returns its body, in its own process on loopback, driven
by the closed-loop client of ``live_overhead.py`` (C keep-alive connections); prints one JSON
line with requests per second and the server's and client's CPU time per request.

    python benchmarks/http_servers.py [--seconds 5] [--connections 8]

granian is not a dependency of edgesched (``pip install granian`` to include it); servers
that are not installed are reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_overhead import closed_loop, cpu_seconds, free_port, own_cpu

APPS = """
async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        m = await receive()
        body += m.get("body", b"")
        more = m.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _Rsgi:
    async def __rsgi__(self, scope, proto):
        body = await proto()
        proto.response_bytes(200, [("content-type", "application/json")], body)


rsgi = _Rsgi()
"""

SERVERS = {
    "uvicorn-asgi": (
        "uvicorn",
        "import uvicorn, echo_apps; uvicorn.run(echo_apps.asgi, host='127.0.0.1', "
        "port=PORT, log_level='warning', access_log=False, loop='uvloop', http='httptools', "
        "proxy_headers=False, lifespan='off')",
    ),
    "granian-asgi": (
        "granian",
        "from granian import Granian; Granian('echo_apps:asgi', address='127.0.0.1', port=PORT, "
        "interface='asgi', workers=1, runtime_threads=1, log_enabled=False, loop='uvloop', "
        "websockets=False, http='1').serve()",
    ),
    "granian-rsgi": (
        "granian",
        "from granian import Granian; Granian('echo_apps:rsgi', address='127.0.0.1', port=PORT, "
        "interface='rsgi', workers=1, runtime_threads=1, log_enabled=False, loop='uvloop', "
        "websockets=False, http='1').serve()",
    ),
}


def wait_port(port: int, timeout: float = 20.0) -> None:
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"no server on port {port} after {timeout} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per server")
    ap.add_argument("--connections", type=int, default=8, help="keep-alive connections")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    (tmp / "echo_apps.py").write_text(APPS)
    body = json.dumps(
        {"task": "classification", "payload": base64.b64encode(os.urandom(1024)).decode()}
    ).encode()
    results: dict[str, object] = {}
    load_before = os.getloadavg()
    for name, (module, code) in SERVERS.items():
        if importlib.util.find_spec(module) is None:
            results[name] = "skipped: not installed"
            continue
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-c", code.replace("PORT", str(port))],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port)
            asyncio.run(closed_loop(port, "/echo", body, 1.0, args.connections))  # warm
            c0, k0 = cpu_seconds(proc.pid), own_cpu()
            n, _lat, samples = asyncio.run(
                closed_loop(port, "/echo", body, args.seconds, args.connections)
            )
            server, client = cpu_seconds(proc.pid) - c0, own_cpu() - k0
            if samples[0] != body:
                raise RuntimeError(f"{name} did not echo the body")
            results[name] = {
                "rps": n / args.seconds,
                "server_cpu_us_per_request": 1e6 * server / max(n, 1),
                "client_cpu_us_per_request": 1e6 * client / max(n, 1),
            }
        finally:
            proc.terminate()
            proc.wait(30)
    print(
        json.dumps(
            {
                "benchmark": "http_servers",
                "seconds": args.seconds,
                "connections": args.connections,
                "servers": results,
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
            }
        )
    )


if __name__ == "__main__":
    main()
