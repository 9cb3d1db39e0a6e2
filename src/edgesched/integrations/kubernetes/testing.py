"""An in-process Kubernetes API for tests and benchmarks: kmock's emulator on loopback.

:class:`ApiServer` runs kmock's ``KubernetesEmulator`` (an in-memory store served over HTTP,
by kopf's author) in a background thread on ``127.0.0.1`` and an ephemeral port, and writes a
kubeconfig pointing at it. The emulator is more lenient than a real API server: it ignores
label and field selectors, does not check ``resourceVersion``, runs no garbage collector, and
does not process Bindings. The operator relies on none of that (it filters on the client side
and deletes what it owns itself). What a real server does, kmock does not, and the
operator or kopf depend on, is added here: created objects get a ``uid``, a
``creationTimestamp`` and a ``resourceVersion`` (which moves on every write), and a JSON
patch whose ``test`` fails is answered 422 (kmock answers 500). Tests can make the server answer
409, 500 or 503 (:meth:`ApiServer.fail`), with or without carrying out the request.

Needs the ``dev`` extra (kmock).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
import jsonpatch
import kmock
import yaml

from edgesched.integrations.kubernetes.model import (
    CLUSTER_LABEL,
    GROUP,
    KIND,
    PLURAL,
    RESOURCE_NAMES,
    VERSION,
)


@dataclass
class Failure:
    """Answer ``status`` to the next ``times`` requests matching ``method`` and ``path`` (a
    regular expression); with ``commit`` the request is carried out first (the answer is lost,
    as when a server times out after writing)."""

    method: str
    path: str
    status: int
    times: int
    commit: bool = False
    hits: int = 0


class StrictEmulator(kmock.KubernetesEmulator):
    """kmock's emulator, stamping created objects as a real API server does, and answering
    errors on demand."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failures: list[Failure] = []
        self._versions = itertools.count(1)
        self.served: dict[str, int] = {}  # User-Agent -> requests

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        agent = request.headers.get("User-Agent", "")
        self.served[agent] = self.served.get(agent, 0) + 1
        try:
            return await self._serve(request)
        finally:
            # kmock keeps every request for its assertions and scans them all on each new
            # one (quadratic over a run); nothing here asserts on old requests, so each is
            # forgotten once answered.
            for i, r in enumerate(self._requests):
                if r is request:
                    del self._requests[i]
                    break

    async def _serve(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.resource is not None and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if request.action == kmock.action.CREATE:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault(
                    "creationTimestamp",
                    dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                )
            if request.action in (kmock.action.CREATE, kmock.action.UPDATE):
                meta["resourceVersion"] = str(next(self._versions))
        failure = self._failure(request)
        if failure is None:
            try:
                return await super()._handle(request)
            except jsonpatch.JsonPatchTestFailed as exc:  # a real server answers 422
                return _status(422, "Invalid", str(exc))
        if failure.commit:  # carried out (or refused) as usual; the answer is lost
            with contextlib.suppress(Exception):
                await super()._handle(request)
        reason = {409: "Conflict", 500: "InternalError"}.get(failure.status, "Injected")
        return _status(failure.status, reason, "injected by the test")

    def _failure(self, request: kmock.Request) -> Failure | None:
        method = str(request.method.value if request.method else "").upper()
        for f in self.failures:
            if f.hits < f.times and f.method == method and re.search(f.path, request.url.path):
                f.hits += 1
                return f
        return None


class ApiServer:
    """A running emulator (use as a context manager).

    Attributes:
        url: the server's base URL.
        emulator: the kmock handler (touch it only through :meth:`call`).
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.emulator: StrictEmulator | None = None
        self._server: kmock.Server | None = None
        self.url = ""

    def __enter__(self) -> ApiServer:
        self._thread.start()
        self._run(self._start()).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(self._stop()).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop.close()

    def _run(self, coro: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _start(self) -> None:
        self.emulator = StrictEmulator()
        await self.emulator.__aenter__()
        self._server = kmock.Server(self.emulator)
        await self._server.__aenter__()
        self.url = str(self._server.url).rstrip("/")
        res = self.emulator.resources
        res[f"{GROUP}/{VERSION}/{PLURAL}"] = kmock.ResourceInfo(
            kind=KIND,
            singular="edgetask",
            namespaced=True,
            verbs={"list", "watch", "get", "create", "patch", "update", "delete"},
            subresources={"status"},
        )
        for plural, kind, namespaced in (
            ("pods", "Pod", True),
            ("nodes", "Node", False),
            ("configmaps", "ConfigMap", True),
            ("events", "Event", True),
            ("namespaces", "Namespace", False),
        ):
            res[f"v1/{plural}"] = kmock.ResourceInfo(
                kind=kind,
                namespaced=namespaced,
                verbs={"list", "watch", "get", "create", "patch", "update", "delete"},
                subresources={"status"} if plural == "pods" else set(),
            )

    async def _stop(self) -> None:
        assert self._server is not None and self.emulator is not None
        await self._server.__aexit__(None, None, None)
        await self.emulator.__aexit__(None, None, None)

    def call(self, fn: Callable[[StrictEmulator], Any]) -> Any:
        """Run ``fn(emulator)`` in the server's thread (kmock's state is not thread-safe)."""

        async def run() -> Any:
            assert self.emulator is not None
            return fn(self.emulator)

        return self._run(run()).result(30)

    def fail(
        self, method: str, path: str, status: int, times: int = 1, commit: bool = False
    ) -> Failure:
        """Make the next ``times`` matching requests answer ``status`` (see :class:`Failure`)."""
        f = Failure(method.upper(), path, status, times, commit)
        self.call(lambda e: e.failures.append(f))
        return f

    def requests(self, agent: str | None = None) -> int:
        """Requests served so far (those whose User-Agent starts with ``agent``)."""

        def count(e: StrictEmulator) -> int:
            return sum(n for a, n in e.served.items() if agent is None or a.startswith(agent))

        return int(self.call(count))

    def objects(self, plural: str) -> list[dict[str, Any]]:
        """Copies of the live objects of a resource (``pods``, ``edgetasks``, ...)."""

        def grab(e: StrictEmulator) -> list[dict[str, Any]]:
            out = []
            for (res, _, _), obj in list(e.objects.items()):
                if res.plural == plural and not obj.deleted:
                    out.append(_plain(obj.raw))
            return out

        return list(self.call(grab))

    def history(self, plural: str) -> Iterator[tuple[str, list[dict[str, Any] | None]]]:
        """Every stored version of every object of a resource (None: deleted)."""

        def grab(e: StrictEmulator) -> list[tuple[str, list[dict[str, Any] | None]]]:
            out = []
            for (res, _, name), obj in list(e.objects.items()):
                if res.plural == plural:
                    versions = [None if v is None else _plain(v.raw) for v in obj.history]
                    out.append((name, versions))
            return out

        yield from self.call(grab)

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """Write a kubeconfig for this server (plain HTTP on loopback, no credentials)."""
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
                    "users": [{"name": "kmock", "user": {}}],
                    "contexts": [
                        {
                            "name": "kmock",
                            "context": {
                                "cluster": "kmock",
                                "user": "kmock",
                                "namespace": namespace,
                            },
                        }
                    ],
                    "current-context": "kmock",
                }
            )
        )
        return path

    def add_nodes(
        self, capacities: Sequence[Sequence[int]], per_cluster: int = 1, prefix: str = "cluster"
    ) -> list[str]:
        """Nodes labelled ``edgesched.io/cluster=cluster-i``; cluster i's capacity is split
        evenly over its ``per_cluster`` nodes. Returns the node names."""
        names = []

        def add(e: StrictEmulator) -> None:
            for i, cap in enumerate(capacities):
                for k in range(per_cluster):
                    name = f"{prefix}-{i}-node-{k}"
                    alloc = {
                        RESOURCE_NAMES["cpu"]: str(cap[0] // per_cluster),
                        RESOURCE_NAMES["gpu"]: str(cap[1] // per_cluster),
                        "memory": "64Gi",
                        "pods": "110",
                    }
                    e.objects["v1/nodes", None, name] = {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "metadata": {
                            "name": name,
                            "uid": str(uuid.uuid4()),
                            "labels": {CLUSTER_LABEL: f"{prefix}-{i}"},
                        },
                        "status": {
                            "allocatable": alloc,
                            "capacity": alloc,
                            "conditions": [{"type": "Ready", "status": "True"}],
                        },
                    }
                    names.append(name)

        self.call(add)
        return names


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    body = {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }
    return aiohttp.web.json_response(body, status=code)


def _plain(value: Any) -> Any:
    """A deep copy of kmock's wrapped values as plain dicts and lists."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in dict(value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# ----------------------------------------------------------------------------- runs

#: Per task: (cluster name, allocation, start timestep, finish timestep).
Schedule = dict[str, tuple[str | None, tuple[int, ...], int | None, int | None]]


def reference_schedule(
    scenario_ref: str | Path, trace: Any, scheduler: str, seed: int, checkpoint: Path | None
) -> Schedule:
    """What ``edgesched compare --trace`` simulates for one (scheduler, seed), by the
    EdgeTask names :func:`~edgesched.integrations.kubernetes.submit.trace_submissions` gives
    (cluster i is ``cluster-i``)."""
    from edgesched.experiments.backend import make_scheduler
    from edgesched.placement.scenario import load_scenario
    from edgesched.placement.schedulers import SCHEDULERS
    from edgesched.placement.sim import PlacementSim
    from edgesched.placement.workload import workload

    sc, source = load_scenario(scenario_ref)
    sim = PlacementSim(sc, workload(sc, seed, trace, source), seed, record=False)
    sim.run(make_scheduler(SCHEDULERS, scheduler, checkpoint))
    return {
        f"task-{k:05d}": (f"cluster-{t.cluster}", tuple(t.alloc), t.start, t.finish)
        for k, t in enumerate(sim.tasks)
    }


def api_schedule(server: ApiServer, resources: Sequence[str] = ("cpu", "gpu")) -> Schedule:
    """The same, read from the EdgeTasks' statuses."""
    out: Schedule = {}
    for obj in server.objects("edgetasks"):
        s = obj.get("status") or {}
        alloc = tuple(int((s.get("allocation") or {}).get(r, 0)) for r in resources)
        out[obj["metadata"]["name"]] = (s.get("cluster"), alloc, s.get("start"), s.get("finish"))
    return out


def schedule_diff(want: Schedule, got: Schedule) -> list[str]:
    """One line per task whose cluster, allocation, start or finish differ."""
    return [
        f"{name}: simulator {want[name]}, operator {got.get(name)}"
        for name in sorted(want)
        if want[name] != got.get(name)
    ]


def pod_creations(server: ApiServer) -> dict[str, int]:
    """How many times each pod name was created (a deletion and a new creation count 2)."""
    out: dict[str, int] = {}
    for name, versions in server.history("pods"):
        created, alive = 0, False
        for v in versions:
            if v is not None and not alive:
                created += 1
            alive = v is not None
        out[name] = created
    return out


def start_operator(
    kubeconfig: Path,
    scheduler: str,
    scenario: str | Path,
    *,
    checkpoint: Path | None = None,
    seed: int = 0,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``edgesched k8s operator --simulated --exit-when-done`` in a child process (kopf and
    all), stopped by the caller through its process id."""
    cmd = [
        sys.executable,
        "-m",
        "edgesched.cli",
        "k8s",
        "operator",
        "--scheduler",
        scheduler,
        "--scenario",
        str(scenario),
        "--seed",
        str(seed),
        "--simulated",
        "--exit-when-done",
        "--kubeconfig",
        str(kubeconfig),
    ]
    if checkpoint is not None:
        cmd += ["--checkpoint", str(checkpoint)]
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def journal_clock(server: ApiServer, namespace: str = "default") -> int | None:
    """The operator's simulated clock as its journal says (None before the first round)."""
    from edgesched.integrations.kubernetes.journal import Journal
    from edgesched.integrations.kubernetes.model import JOURNAL_NAME

    for obj in server.objects("configmaps"):
        meta = obj.get("metadata") or {}
        if meta.get("name") == JOURNAL_NAME and meta.get("namespace") == namespace:
            text = (obj.get("data") or {}).get("journal")
            return Journal.loads(text, JOURNAL_NAME).clock if text else None
    return None


def run_with_kills(
    server: ApiServer,
    kubeconfig: Path,
    scheduler: str,
    scenario: str | Path,
    kill_at: Sequence[int],
    *,
    checkpoint: Path | None = None,
    seed: int = 0,
    log: Path | None = None,
    timeout: float = 600.0,
) -> int:
    """Run the operator in a child process, SIGKILL it when its clock first reaches each of
    ``kill_at`` and start it again; return how many times it was killed."""
    import os
    import signal
    import time

    deadline = time.monotonic() + timeout
    kills = 0
    pending = sorted(kill_at)
    while True:
        proc = start_operator(
            kubeconfig, scheduler, scenario, checkpoint=checkpoint, seed=seed, log=log
        )
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the operator did not finish in {timeout:.0f} s")
                clock = journal_clock(server)
                if pending and clock is not None and clock >= pending[0]:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(30)
                    pending.pop(0)
                    kills += 1
                    break
                time.sleep(0.01)
            else:
                if proc.returncode != 0:
                    raise RuntimeError(f"the operator exited with status {proc.returncode}")
                return kills
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(30)
