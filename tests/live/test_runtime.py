"""The runtime in process: a worker killed mid-request, overload shedding, outcomes."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from edgesched.dispatch.devices.schedulers import make
from edgesched.live.runtime import LiveOptions, LiveRuntime
from edgesched.live.scenarios import load_world

from .conftest import tiny_scenario

OPTS = LiveOptions(tiny=True, emulate_network=False, pin=False)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_worker_killed_mid_request_is_retried_elsewhere() -> None:
    """A request on a worker that dies is retried on another device when its deadline
    allows; the worker is restarted with a new pid."""

    async def main() -> None:
        rt = LiveRuntime(load_world("live-host"), make("round-robin"), OPTS)
        await rt.start()
        try:
            pid = rt.workers[0].pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)  # it cannot answer: the request stays in flight
            task = asyncio.create_task(rt.infer("a", "classification", b"x" * 100, 0.0, 5000.0))
            await asyncio.sleep(0.3)
            assert not task.done()
            os.kill(pid, signal.SIGKILL)
            rec = await task
            assert rec.outcome == "success" and rec.retried
            assert rec.device != "host-core-0"
            await asyncio.wait_for(rt.workers[0].ready.wait(), 30)
            assert rt.workers[0].pid != pid and rt.workers[0].restarts == 1
        finally:
            await rt.stop()

    run(main())


def test_worker_killed_without_retry_fails_the_request() -> None:
    """With retries off, the in-flight request is answered failed with the reason."""

    async def main() -> None:
        opts = LiveOptions(tiny=True, emulate_network=False, pin=False, retry=False)
        rt = LiveRuntime(load_world("live-host"), make("round-robin"), opts)
        await rt.start()
        try:
            pid = rt.workers[0].pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            task = asyncio.create_task(rt.infer("a", "classification", b"x", 0.0, 5000.0))
            await asyncio.sleep(0.3)
            os.kill(pid, signal.SIGKILL)
            rec = await task
            assert rec.outcome == "failed" and "died" in (rec.reason or "")
            assert rt.counts["failed"] == 1
        finally:
            await rt.stop()

    run(main())


def test_overload_is_shed_with_reasons(tmp_path: Path) -> None:
    """With the cloud stuck, cloud requests fill its slots, then its bounded queue; the
    rest are rejected at once, and every request gets one outcome when it resumes."""

    async def main() -> None:
        world = load_world(tiny_scenario(tmp_path, max_queue=2))
        rt = LiveRuntime(world, make("fastest-expected"), OPTS)
        await rt.start()
        cloud = rt.workers[-1]
        try:
            assert cloud.pid is not None
            os.kill(cloud.pid, signal.SIGSTOP)
            limit = int(world.max_workloads[-1])
            n = limit + 2 + 5
            tasks = [
                asyncio.create_task(rt.infer(f"q{i}", "classification", b"x", 0.75, 60_000.0))
                for i in range(n)
            ]
            await asyncio.sleep(0.5)
            done = [t.result() for t in tasks if t.done()]
            assert len(done) == 5
            assert all(
                r.outcome == "rejected" and "queue is full" in (r.reason or "") for r in done
            )
            os.kill(cloud.pid, signal.SIGCONT)
            recs = await asyncio.gather(*tasks)
            outcomes = [r.outcome for r in recs]
            assert outcomes.count("success") == limit + 2
            assert sum(rt.counts.values()) == n == rt.sent
        finally:
            if cloud.pid is not None:
                os.kill(cloud.pid, signal.SIGCONT)
            await rt.stop()

    run(main())


def test_each_outcome_with_its_reason() -> None:
    """success; rejected when no device can meet the deadline; late past it (admission
    off); the accuracy requirement above the edge model goes to the cloud variant."""

    async def main() -> None:
        world = load_world("live-host")
        rt = LiveRuntime(world, make("fastest-expected"), OPTS)
        rt2 = LiveRuntime(
            world, make("always-cloud"), LiveOptions(tiny=True, pin=False, admission=False)
        )
        await rt.start()
        await rt2.start()
        try:
            ok = await rt.infer("a", "classification", b"x" * 10, 0.5, 5000.0)
            assert ok.outcome == "success" and ok.reason is None and ok.variant == "resnet18"
            assert ok.result is not None and "top_class" in ok.result
            hi = await rt.infer("b", "detection", b"x", 0.99, 5000.0)
            assert hi.outcome == "late" and hi.device == "cloud-0" and hi.variant == "yolov5n"
            assert "less accurate" in (hi.reason or "")
            acc = world.variant_acc[int(world.cloud_variant[1])]
            fine = await rt.infer("c", "detection", b"x", float(acc), 5000.0)
            assert fine.outcome == "success" and fine.device == "cloud-0"
            rej = await rt.infer("d", "classification", b"x", 0.0, 1.0)
            assert rej.outcome == "rejected" and "deadline" in (rej.reason or "")
            late = await rt2.infer("e", "classification", b"x", 0.0, 5.0)
            assert late.outcome == "late" and late.total_ms > 5.0 and late.device == "cloud-0"
        finally:
            await rt.stop()
            await rt2.stop()

    run(main())


def test_pipe_frames_survive_any_split_of_the_bytes() -> None:
    """Messages written to a worker pipe come out whole and in order however the reads cut
    the byte stream (one byte at a time, or many messages in one read)."""
    from edgesched.live.worker import Frames, frame

    msgs = [("runs", [(i, i % 3, "resnet18", 10 * i)]) for i in range(40)] + [("stop",)]
    data = b"".join(frame(m) for m in msgs)
    for step in (1, 5, 64, len(data)):
        frames = Frames()
        got = [m for k in range(0, len(data), step) for m in frames.feed(data[k : k + step])]
        assert got == msgs


def test_kept_records_read_back_whole_and_leave_the_collector() -> None:
    """A record as the gateway keeps it reads back equal (with or without a result), and
    one collection stops tracking it (20,000 tracked records cost every collection)."""
    import gc

    from edgesched.live.runtime import Record

    rec = Record("r", "classification", "success", None, 0, "d", "v", 1.0, *[0.5] * 7, False)
    for r in (rec, rec._replace(result={"top_class": 3.0, "top_score": 0.9})):
        kept = r.kept()
        assert Record.from_kept(kept) == r
        gc.collect()
        assert not gc.is_tracked(kept)
