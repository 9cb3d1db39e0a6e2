"""The gateway's HTTP service: FastAPI on uvicorn, described by its OpenAPI document.

=====================  ====================================================================
``POST /v1/infer``     one inference request: task, base64 payload, accuracy requirement,
                       deadline; answers the result, the device and variant that served it,
                       the time in network (emulated), queue and compute, and one outcome
``GET /v1/scenario``   the served scenario: tasks and their accuracies, deadlines, rate
``GET /v1/status``     per-device load, queues, throughput, outcomes, energy (JSON)
``GET /v1/records``    the last answered requests
``GET /metrics``       Prometheus text format
``GET /healthz``       200 when every worker is ready, 503 otherwise
``GET /``              the status page (updates itself from ``/v1/status`` every second)
=====================  ====================================================================

A request the service cannot accept (malformed JSON, unknown task, payload not base64, out of
range fields) gets HTTP 422 with a message naming the field; a request it accepts always gets
HTTP 200 with exactly one outcome, ``rejected`` and ``failed`` included.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import signal
import socket
from importlib import resources
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgesched.live.runtime import LiveRuntime, lifespan_of
from edgesched.live.worker import MAX_PAYLOAD


class InferRequest(BaseModel):
    """One inference request."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="a task of the scenario (see GET /v1/scenario)", max_length=64)
    payload: str = Field(
        description="the input (an image's bytes), base64; its size sets the emulated "
        "transmission time",
        max_length=(MAX_PAYLOAD * 4) // 3 + 4,
    )
    min_accuracy: float = Field(
        0.0, ge=0.0, le=1.0, description="the least model accuracy the answer needs"
    )
    deadline_ms: float = Field(
        gt=0.0, le=600_000.0, description="the answer is late after this many ms"
    )
    id: str | None = Field(None, max_length=128, description="the client's request id")


class Timing(BaseModel):
    network: float = Field(description="emulated LAN/WAN latency and transmission (ms)")
    network_emulated: bool = Field(description="always true: the network delays are emulated")
    wan_queue: float = Field(description="waiting for the emulated WAN uplink (ms)")
    queue: float = Field(description="waiting for a device (cloud queue, worker hand-off; ms)")
    compute: float = Field(description="inference on the worker (ms)")
    gateway: float = Field(description="the gateway's own time: decision and routing (ms)")
    total: float = Field(description="from arrival to answer (ms)")


class InferResponse(BaseModel):
    id: str
    task: str
    outcome: str = Field(description="success, late, rejected or failed")
    reason: str | None = Field(description="why, for every outcome but success")
    action: int | None = Field(description="the scheduler's action (edge device index, or D)")
    device: str | None
    variant: str | None
    result: dict[str, float] | None = Field(description="a summary of the model's output")
    retried: bool
    energy_j: float = Field(description="dynamic energy attributed to it (power model)")
    timing_ms: Timing


class Problem(BaseModel):
    detail: str


def _detail(text: str) -> JSONResponse:
    return JSONResponse({"detail": text}, status_code=422)


def _problem(errors: Any) -> JSONResponse:
    """HTTP 422 naming the fields of (at most five) validation errors."""
    parts = []
    for e in list(errors)[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return _detail("; ".join(parts))


def _problem_bytes(errors: Any) -> bytes:
    parts = []
    for e in list(errors)[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return orjson.dumps({"detail": "; ".join(parts)})


_JSON_HEADERS = [(b"content-type", b"application/json")]


class _InferFastPath:
    """ASGI app answering ``POST /v1/infer`` directly from the raw body (the same ``serve``
    the FastAPI route calls); everything else goes to the FastAPI app it wraps.

    It sits in front of the FastAPI app, not inside it as a middleware: a request on the hot
    path then also skips FastAPI's per-request telemetry check and Starlette's error
    middleware (its ``send`` wrapper), about a tenth of the gateway's CPU per request
    (measured with cProfile)."""

    def __init__(self, app: Any, serve: Any) -> None:
        self.app = app
        self.serve = serve

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/infer" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body", False):
                break
        status, body = await self.serve(b"".join(chunks) if len(chunks) > 1 else chunks[0])
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def asgi_app(app: FastAPI) -> Any:
    """What the server runs: ``app``, with ``POST /v1/infer`` answered in front of it when
    ``app`` has a hot path (``app.state.serve_infer``, set by :func:`create_app`)."""
    serve = getattr(app.state, "serve_infer", None)
    return app if serve is None else _InferFastPath(app, serve)


def _status_page() -> str:
    return (resources.files("edgesched.live") / "status.html").read_text(encoding="utf-8")


def create_app(runtime: LiveRuntime, *, manage: bool = True) -> FastAPI:
    """The FastAPI app of a runtime; ``manage`` starts and stops its workers with the app."""

    app = FastAPI(
        title="edgesched live gateway",
        version="1",
        description="Real inference requests dispatched by an edgesched scheduler to model "
        "workers; LAN and WAN delays are emulated.",
        lifespan=lifespan_of(runtime, manage),
    )
    ids = itertools.count()
    world = runtime.world

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _problem(exc.errors())

    infer_schema = InferRequest.model_json_schema()

    async def serve_infer(raw: bytes) -> tuple[int, bytes]:
        """One ``POST /v1/infer`` body -> (HTTP status, JSON answer)."""
        try:
            body = InferRequest.model_validate_json(raw)
        except ValidationError as exc:
            return 422, _problem_bytes(exc.errors(include_url=False, include_input=False))
        if body.task not in runtime.task_index:
            return 422, orjson.dumps(
                {
                    "detail": f"task: unknown task {body.task!r}; this scenario serves "
                    f"{', '.join(world.tasks)}"
                }
            )
        try:
            payload = base64.b64decode(body.payload, validate=True)
        except (binascii.Error, ValueError):
            return 422, b'{"detail":"payload: not valid base64"}'
        rid = body.id if body.id is not None else f"r{next(ids)}"
        rec = await runtime.infer(rid, body.task, payload, body.min_accuracy, body.deadline_ms)
        return 200, orjson.dumps(rec.public())

    # The hot path skips FastAPI's routing, dependency solving and exception middleware:
    # served (:func:`asgi_app`), an ASGI app in front of this one answers POST /v1/infer
    # itself; every other route, and the OpenAPI description of this one, stay FastAPI's.
    app.state.serve_infer = serve_infer

    # The hot path takes the raw body and answers raw JSON: pydantic-core validates the JSON
    # bytes in one call, and the answer skips FastAPI's response-model validation and
    # encoding (together most of a request's cost in the gateway). The OpenAPI description
    # still names both models.
    @app.post(
        "/v1/infer",
        response_model=None,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": infer_schema}},
            }
        },
        responses={
            200: {"model": InferResponse, "description": "the request's one outcome"},
            422: {"model": Problem, "description": "the request is malformed"},
        },
    )
    async def infer(request: Request) -> Response:
        """Serve one inference request; exactly one outcome."""
        status, body = await serve_infer(await request.body())
        return Response(body, status_code=status, media_type="application/json")

    @app.get("/v1/scenario")
    async def scenario() -> dict[str, Any]:
        """The scenario served: tasks with their variants and accuracies, deadlines, rate."""
        req = world.scenario.requests
        return {
            "name": world.name,
            "machines": world.machine_names,
            "actions": world.action_names,
            "tasks": [
                {
                    "task": t,
                    "share": float(world.task_share[i]),
                    "edge_variant": world.variants[int(world.edge_variant[i])],
                    "cloud_variant": world.variants[int(world.cloud_variant[i])],
                    "edge_accuracy": float(world.variant_acc[int(world.edge_variant[i])]),
                    "cloud_accuracy": float(world.variant_acc[int(world.cloud_variant[i])]),
                    "payload_kb": float(world.payload_kb[i]),
                }
                for i, t in enumerate(world.tasks)
            ],
            "deadline_ms": list(req.deadline_ms),
            "offload_share": req.offload_share,
            "accuracy_margin": req.accuracy_margin,
            "rate_per_min": world.rate_per_min,
            "duration_s": req.duration_s,
        }

    @app.get("/v1/status")
    async def status() -> dict[str, Any]:
        """Per-device load, queues, throughput, outcomes, energy."""
        return runtime.status()

    @app.get("/v1/records")
    async def records(limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[dict[str, Any]]:
        """The last ``limit`` answered requests, oldest first."""
        return [r.public() for r in runtime.recent(limit)]

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics."""
        runtime.refresh_gauges()
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", responses={503: {"description": "a worker is not ready"}})
    async def healthz() -> JSONResponse:
        """200 when every worker is ready."""
        up = [h.ready.is_set() for h in runtime.workers]
        ok = bool(up) and all(up) and not runtime.draining
        body = {
            "status": "ok" if ok else "degraded",
            "workers_up": sum(up),
            "workers": len(up),
            "draining": runtime.draining,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        """The status page."""
        return HTMLResponse(_status_page())

    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: an ephemeral one)."""
    # proto IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets; without it Nagle's
    # algorithm and delayed ACKs add ~40 ms to every answer
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return None
    return uvloop.new_event_loop


def run_server(
    runtime: Any,
    sock: socket.socket,
    *,
    announce: Any = None,
    drain_s: float = 30.0,
    app: FastAPI | None = None,
) -> None:
    """Start the runtime's workers, serve its app on ``sock`` until SIGTERM or SIGINT, then
    let the requests in flight finish (at most ``drain_s``) and stop every worker. ``runtime``
    is a :class:`LiveRuntime` or a :class:`~edgesched.live.streams.StreamRuntime` (with its
    ``app``, :func:`~edgesched.live.streams.create_streams_app`).

    Raises:
        ConfigError: the workers could not start (nothing is left running).
    """
    import asyncio
    import gc

    import uvicorn

    if app is None:
        app = create_app(runtime, manage=False)
    config = uvicorn.Config(
        asgi_app(app),
        log_level="warning",
        # served on loopback or behind nothing that sets X-Forwarded-*; uvicorn's proxy-header
        # middleware would run on every request for nothing
        proxy_headers=False,
        access_log=False,
        timeout_graceful_shutdown=int(drain_s),
        lifespan="on",
        loop="uvloop",
        http="httptools",
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        try:
            await runtime.start()
            # what was built until now (modules, the app, the models' tables) lives as long as
            # the process: out of the collector's way, so that its full passes, which the
            # per-request garbage triggers, skip it
            gc.collect()
            gc.freeze()
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():
                await asyncio.sleep(0.05)
            if server.started and announce is not None:
                announce(sock.getsockname())
            await task
        finally:
            await runtime.drain(drain_s)
            await runtime.stop()

    def before_serving(sig: int, frame: Any) -> None:
        # uvicorn handles SIGTERM/SIGINT while it serves (graceful shutdown) and re-raises
        # the signal to the handler it found when it is done: this one, which then lets the
        # workers be stopped instead of ending the process at once.
        if not server.started:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, before_serving) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        # uvloop (what uvicorn picks by default when it is installed): its event loop costs
        # less per request than asyncio's
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
