"""Model workers: one long-lived process per machine of a live scenario.

A worker holds one ONNX Runtime CPU session per model variant deployed on its machine and runs
up to ``slots`` inferences at once (one thread each, one intra-op thread per run, so ``n``
co-running workloads share the cores they are pinned to as on the simulated device). Requests
never cross a process boundary as JSON or as a pickled tensor:

- the gateway writes the request's payload bytes into a slot of a shared-memory block that it
  owns (``multiprocessing.shared_memory``; one block per worker, ``slots`` fixed-size slots);
- it sends the worker a tiny control message ``(job, slot, variant, nbytes)`` over a pipe
  (a Unix socket pair; length-prefixed pickles, read with one ``os.read`` for every message
  waiting, so that a wake-up of either side handles all that arrived meanwhile);
- the worker turns the payload into the variant's input tensor (the bytes tiled over
  ``3 x H x W`` and scaled to [0, 1]), runs the session and answers
  ``(job, start, end, summary)``: the monotonic clock at compute start and end and a small
  summary of the output (top class and score, or detections above 0.5 and the best score).

The gateway side, :class:`WorkerHandle`, starts the process (``spawn``, never ``fork``: the
gateway has threads), watches its pipe with the event loop and restarts it when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import pickle
import signal
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

#: Largest payload a slot holds (bytes); the HTTP layer refuses larger ones.
MAX_PAYLOAD = 4 * 1024 * 1024


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker process needs to start (picklable).

    Attributes:
        name: the machine's name (``host-cpu-0``, ``cloud-0``).
        models: variant name -> (ONNX file, input shape, task).
        slots: concurrent inferences (the machine's workload limit).
        shm_name: the shared-memory block's name; ``slots x MAX_PAYLOAD`` bytes.
        cpus: cores to pin the process to (empty: no pinning).
        inline: variants run in the thread that receives them instead of a pool thread (the
            no-op model: microseconds a run, less than the hand-off to a thread costs).
    """

    name: str
    models: dict[str, tuple[str, tuple[int, ...], str]]
    slots: int
    shm_name: str
    cpus: tuple[int, ...] = ()
    inline: frozenset[str] = frozenset()


_LEN = struct.Struct("<I")


def frame(msg: Any) -> bytes:
    """One message as it crosses the pipe: its pickle's length (4 bytes) and the pickle."""
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(data)) + data


class Frames:
    """Splits the bytes read from a pipe into the messages :func:`frame` wrote."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[Any]:
        """Add ``chunk``; returns the messages now complete, in order."""
        buf = self._buf
        buf += chunk
        out = []
        pos, n = 0, len(buf)
        with memoryview(buf) as view:  # released before the buffer is cut below
            while n - pos >= 4:
                (size,) = _LEN.unpack_from(view, pos)
                if n - pos - 4 < size:
                    break
                out.append(pickle.loads(view[pos + 4 : pos + 4 + size]))
                pos += 4 + size
        if pos:
            del buf[:pos]
        return out


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to the blocking descriptor ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


#: bytes one read takes from a pipe (every message waiting, in practice)
READ_SIZE = 1 << 16


def _summary(task: str, outputs: list[np.ndarray]) -> dict[str, float]:
    """A small, JSON-friendly summary of a model's output."""
    if task == "detection":
        scores = outputs[0]
        best = float(scores.max()) if scores.size else 0.0
        return {"detections": float(np.count_nonzero(scores > 0.5)), "best_score": best}
    logits = outputs[0].reshape(-1)
    top = int(np.argmax(logits))
    z = np.exp(logits - logits[top])
    return {"top_class": float(top), "top_score": float(1.0 / z.sum())}


def to_input(payload: memoryview | bytes, shape: tuple[int, ...]) -> np.ndarray:
    """The input tensor of a payload: its bytes tiled over ``shape``, scaled to [0, 1]."""
    raw = np.frombuffer(payload, dtype=np.uint8)
    if raw.size == 0:
        raw = np.zeros(1, dtype=np.uint8)
    n = math.prod(shape)
    tiled = np.resize(raw, n) if raw.size < n else raw[:n]  # resize repeats the bytes
    return np.multiply(tiled, np.float32(1.0 / 255.0), dtype=np.float32).reshape(shape)


def open_sessions(models: dict[str, tuple[str, tuple[int, ...], str]]) -> dict[str, Any]:
    """One ONNX Runtime CPU session per variant, one intra-op thread each."""
    import onnxruntime as ort

    sessions = {}
    for variant, (path, shape, _) in models.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        sess.run(None, {"input": np.zeros(shape, dtype=np.float32)})  # warm up
        sessions[variant] = sess
    return sessions


def _attach(name: str) -> SharedMemory:
    """Attach to the gateway's block without registering it with the resource tracker (the
    gateway owns and unlinks it; Python 3.11 has no ``track=False``)."""
    from multiprocessing import resource_tracker

    register = resource_tracker.register
    resource_tracker.register = lambda *a, **k: None
    try:
        return SharedMemory(name=name)
    finally:
        resource_tracker.register = register


def worker_main(cfg: WorkerConfig, conn: Connection) -> None:
    """The worker process: run every job the pipe brings until it closes."""
    # the gateway stops its workers itself (after draining); a signal to the whole process
    # group must not kill them first. If the gateway dies, the pipe closes and they exit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if cfg.cpus and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, set(cfg.cpus))
    fd = conn.fileno()
    os.set_blocking(fd, True)
    shm = _attach(cfg.shm_name)
    buf = shm.buf
    assert buf is not None
    try:
        sessions = open_sessions(cfg.models)
    except Exception as exc:  # a broken model file: say so, then stop
        with contextlib.suppress(OSError):
            write_all(fd, frame(("fatal", f"{type(exc).__name__}: {exc}")))
        return
    lock = threading.Lock()
    try:
        write_all(fd, frame(("ready", os.getpid())))
    except OSError:  # the gateway went away while this worker started
        return
    # answers finished while another thread was sending go out together in its next message
    outbox: list[tuple[Any, ...]] = []
    sending = [False]

    def answer(msgs: list[tuple[Any, ...]]) -> None:
        with lock:
            outbox.extend(msgs)
            if sending[0]:
                return
            sending[0] = True
        while True:
            with lock:
                batch = outbox[:]
                outbox.clear()
                if not batch:
                    sending[0] = False
                    return
            with contextlib.suppress(OSError):
                write_all(fd, frame(("answers", batch)))

    def run(job: int, slot: int, variant: str, nbytes: int) -> tuple[Any, ...]:
        start = time.monotonic()
        try:
            _, shape, task = cfg.models[variant]
            base = slot * MAX_PAYLOAD
            x = to_input(buf[base : base + nbytes], shape)
            out = sessions[variant].run(None, {"input": x})
            return ("done", job, start, time.monotonic(), _summary(task, out))
        except Exception as exc:
            return ("error", job, start, time.monotonic(), f"{type(exc).__name__}: {exc}")

    def run_one(*job: Any) -> None:
        answer([run(*job)])

    pool = ThreadPoolExecutor(max_workers=cfg.slots, thread_name_prefix=cfg.name)
    frames = Frames()
    try:
        stop = False
        while not stop:
            try:
                chunk = os.read(fd, READ_SIZE)  # every message waiting, in one wake-up
            except OSError:
                break
            if not chunk:
                break
            inline: list[tuple[Any, ...]] = []
            for msg in frames.feed(chunk):
                if msg[0] == "runs":  # the jobs the gateway submitted in one loop iteration
                    for job in msg[1]:
                        if job[2] in cfg.inline:
                            inline.append(run(*job))
                        else:
                            pool.submit(run_one, *job)
                elif msg[0] == "stop":
                    stop = True
            if inline:  # answered together, in one message
                answer(inline)
    finally:
        pool.shutdown(wait=True)
        shm.close()


# ----------------------------------------------------------------------------- gateway side


@dataclass
class Job:
    """One inference in flight on a worker."""

    future: asyncio.Future[tuple[str, float, float, Any]]
    slot: int


@dataclass
class WorkerHandle:
    """The gateway's end of one worker: start, submit, watch, restart, stop.

    ``on_death(handle, jobs)`` is called on the event loop with the jobs that were in flight
    when the process died (their futures still pending); the handle restarts the process
    itself (``restart``) unless it is stopping.
    """

    cfg: WorkerConfig
    loop: asyncio.AbstractEventLoop
    on_death: Callable[[WorkerHandle, list[Job]], None] | None = None
    on_ready: Callable[[WorkerHandle], None] | None = None
    restart: bool = True
    shm: SharedMemory = field(init=False)
    process: Any = field(init=False, default=None)
    conn: Connection | None = field(init=False, default=None)
    jobs: dict[int, Job] = field(init=False, default_factory=dict)
    free_slots: list[int] = field(init=False, default_factory=list)
    ready: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    restarts: int = field(init=False, default=0)
    stopping: bool = field(init=False, default=False)
    fatal: str | None = field(init=False, default=None)
    failed_starts: int = field(init=False, default=0)
    _next_job: int = field(init=False, default=0)
    _was_ready: bool = field(init=False, default=False)
    _outbox: list[tuple[int, int, str, int]] = field(init=False, default_factory=list)
    _frames: Frames = field(init=False, default_factory=Frames)
    _unsent: bytes = field(init=False, default=b"")

    #: consecutive deaths before ready after which the worker is given up
    MAX_FAILED_STARTS = 3

    @classmethod
    def create(
        cls,
        name: str,
        models: dict[str, tuple[str, tuple[int, ...], str]],
        slots: int,
        loop: asyncio.AbstractEventLoop,
        cpus: tuple[int, ...] = (),
        inline: frozenset[str] = frozenset(),
        **kw: Any,
    ) -> WorkerHandle:
        shm = SharedMemory(create=True, size=slots * MAX_PAYLOAD)
        cfg = WorkerConfig(name, models, slots, shm.name, cpus, inline)
        h = cls(cfg, loop, **kw)
        h.shm = shm
        h.free_slots = list(range(slots))
        return h

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive() and self.ready.is_set()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> None:
        """Start (or restart) the process; :attr:`ready` is set when its sessions are open."""
        ctx = get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        self.ready.clear()
        self._was_ready = False
        self.process = ctx.Process(
            target=worker_main,
            args=(self.cfg, child),
            name=f"edgesched-{self.cfg.name}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.conn = parent
        self._frames = Frames()
        self._unsent = b""
        os.set_blocking(parent.fileno(), False)
        self.loop.add_reader(parent.fileno(), self._readable)

    def submit(self, variant: str, payload: bytes) -> Job:
        """Copy ``payload`` into a free slot and start its inference.

        Raises:
            RuntimeError: no free slot, or the worker is down (callers check first).
        """
        if not self.free_slots or self.conn is None or not self.ready.is_set():
            raise RuntimeError(f"worker {self.cfg.name}: no free slot or not ready")
        slot = self.free_slots.pop()
        n = min(len(payload), MAX_PAYLOAD)
        base = slot * MAX_PAYLOAD
        buf = self.shm.buf
        assert buf is not None
        buf[base : base + n] = payload[:n]
        job_id = self._next_job
        self._next_job += 1
        job = Job(self.loop.create_future(), slot)
        self.jobs[job_id] = job
        # the jobs submitted in one event-loop iteration go to the worker in one message
        if not self._outbox:
            self.loop.call_soon(self._flush)
        self._outbox.append((job_id, slot, variant, n))
        return job

    def _flush(self) -> None:
        batch, self._outbox = self._outbox, []
        # a dead worker is noticed by the reader, which fails these jobs with the others
        if batch and self.conn is not None:
            self._send(frame(("runs", batch)))

    def _send(self, data: bytes) -> None:
        """Write ``data`` to the worker's (non-blocking) pipe; what does not fit now is
        written when the pipe has room again, in order."""
        conn = self.conn
        if conn is None:
            return
        fd = conn.fileno()
        if self._unsent:
            self._unsent += data
            return
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            n = 0
        except OSError:
            return  # the reader notices the death
        if n < len(data):
            self._unsent = data[n:]
            self.loop.add_writer(fd, self._writable)

    def _writable(self) -> None:
        conn = self.conn
        if conn is None:
            return
        fd = conn.fileno()
        try:
            n = os.write(fd, self._unsent)
        except BlockingIOError:
            return
        except OSError:
            n = len(self._unsent)
        self._unsent = self._unsent[n:]
        if not self._unsent:
            self.loop.remove_writer(fd)

    def _readable(self) -> None:
        conn = self.conn
        assert conn is not None
        try:
            chunk = os.read(conn.fileno(), READ_SIZE)  # every message waiting, in one call
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._died()
            return
        for msg in self._frames.feed(chunk):
            kind = msg[0]
            if kind == "answers":
                jobs = self.jobs
                for kind, job_id, start, end, detail in msg[1]:
                    job = jobs.pop(job_id, None)
                    if job is not None:
                        self.free_slots.append(job.slot)
                        if not job.future.done():
                            job.future.set_result((kind, start, end, detail))
            elif kind == "ready":
                self.ready.set()
                self._was_ready = True
                self.failed_starts = 0
                if self.on_ready is not None:
                    self.on_ready(self)
            elif kind == "fatal":
                self.fatal = msg[1]
            if self.conn is not conn:  # the worker was stopped meanwhile
                return

    def _died(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.conn.fileno())
            with contextlib.suppress(Exception):
                self.loop.remove_writer(self.conn.fileno())
            self._unsent = b""
            self.conn.close()
            self.conn = None
        if self.process is not None:
            self.process.join(timeout=1.0)
        self.ready.clear()
        jobs = list(self.jobs.values())
        self.jobs.clear()
        self._outbox.clear()
        self.free_slots = list(range(self.cfg.slots))
        if self.on_death is not None and not self.stopping:
            self.on_death(self, jobs)
        for job in jobs:
            if not job.future.done():
                job.future.set_result(("died", 0.0, 0.0, "the worker process died"))
        if not self._was_ready:
            self.failed_starts += 1
            if self.failed_starts >= self.MAX_FAILED_STARTS and self.fatal is None:
                code = None if self.process is None else self.process.exitcode
                self.fatal = (
                    f"worker {self.cfg.name} died {self.failed_starts} times before it was "
                    f"ready (exit code {code})"
                )
        if self.restart and not self.stopping and self.fatal is None:
            self.restarts += 1
            # restart at once after a death in service; back off when it dies while starting
            delay = 0.0 if self._was_ready else 0.5 * self.failed_starts
            self.loop.call_later(delay, self._restart)

    def _restart(self) -> None:
        if not self.stopping and self.conn is None:
            self.start()

    def kill(self) -> None:
        """Kill the process (a fault for tests); the reader notices and restarts it."""
        if self.process is not None and self.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process (after its running jobs), and free the shared memory."""
        self.stopping = True
        if self.conn is not None:
            fd = self.conn.fileno()
            with contextlib.suppress(Exception):
                self.loop.remove_reader(fd)
            with contextlib.suppress(Exception):
                self.loop.remove_writer(fd)
            with contextlib.suppress(OSError):
                os.set_blocking(fd, True)
                write_all(fd, self._unsent + frame(("stop",)))
            self._unsent = b""
        if self.process is not None:
            self.process.join(timeout)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(1.0)
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        with contextlib.suppress(Exception):
            self.shm.close()
            self.shm.unlink()


async def wait_ready(workers: Sequence[WorkerHandle], timeout: float) -> str | None:
    """Wait until every worker has loaded its models.

    Returns:
        None when all are ready, else why the first one did not start (its name and the
        worker's own error, or ``timed out`` after ``timeout`` seconds).
    """
    deadline = time.monotonic() + timeout
    for h in workers:
        while not h.ready.is_set():
            if h.fatal is not None or time.monotonic() > deadline:
                return f"live worker {h.cfg.name} did not start: {h.fatal or 'timed out'}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(h.ready.wait(), 0.2)
    return None
