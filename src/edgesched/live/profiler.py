"""The profiler: each variant's latency on this host alone and with 1..K co-running
workloads (the co-location slow-down matrix of ECSRL's Fig. 1), written in the device-table
format the simulator loads.

A device class of the live runtime is a worker process with its pinning (``host-core``: one
core; ``host-cloud``: every core). The profiler starts exactly such a worker
(:class:`~edgesched.live.worker.WorkerHandle`) and measures on it the path a request takes
(payload to tensor, inference), timed inside the worker:

- solo: ``repeats`` sequential runs of variant ``a``; the median is its processing time;
- co-located: ``k`` workloads of variant ``b`` kept running back to back (each resubmitted as
  it ends) while ``a`` runs ``repeats`` times; ``slowdown[a][b][k]`` is the median over the
  solo time.

The slow-down coefficient of the pair is the least-squares slope through the origin of
``slowdown - 1`` against ``k`` (the simulator's linear model ``1 + c k``), made symmetric as
the scenario's ``degradation`` list is; the class coefficient is the mean over its pairs.

``profile.yaml`` holds ``devices`` (the shared ``devices.yaml`` format: the measured classes
with their power models), ``processing_ms`` (variant -> class -> ms), ``degradation`` (the
pair overrides), ``slowdown`` (the measured matrix) and ``host``; beside it
``profile.devices.yaml`` and ``profile.processing.csv`` are the same tables in the shared
files' formats, and ``profile.png`` the heat map.
"""

from __future__ import annotations

import asyncio
import csv
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from edgesched.core.errors import ConfigError
from edgesched.live.models import VARIANTS, spec
from edgesched.live.onnx_cache import onnx_path
from edgesched.live.runtime import available_cores
from edgesched.live.worker import WorkerHandle

#: The device classes of the live presets and how their workers are pinned.
CLASSES: dict[str, str] = {"host-core": "one core", "host-cloud": "every core"}


def _cpus(cls: str) -> tuple[int, ...]:
    return (0,) if cls == "host-core" else ()


async def _measure_class(
    cls: str,
    variants: list[str],
    k_max: int,
    repeats: int,
    tiny: bool,
    tick: Callable[[], None],
) -> tuple[dict[str, float], dict[str, dict[str, list[float]]]]:
    loop = asyncio.get_running_loop()
    models: dict[str, tuple[str, tuple[int, ...], str]] = {}
    for v in variants:
        s = spec(v, tiny=tiny)
        models[v] = (str(await asyncio.to_thread(onnx_path, s)), s.input_shape, s.task)
    h = WorkerHandle.create(f"profile-{cls}", models, k_max + 1, loop, _cpus(cls), restart=False)
    h.start()
    try:
        await asyncio.wait_for(h.ready.wait(), 120)
        payload = os.urandom(50_000)

        async def once(v: str) -> float:
            kind, s, e, detail = await h.submit(v, payload).future
            if kind != "done":
                raise ConfigError(f"profiling {v} on {cls}: {detail}")
            return (e - s) * 1000.0

        solo: dict[str, float] = {}
        for v in variants:
            await once(v)  # warm
            solo[v] = statistics.median([await once(v) for _ in range(repeats)])
            tick()
        slow: dict[str, dict[str, list[float]]] = {a: {} for a in variants}
        for b in variants:
            for k in range(1, k_max + 1):
                stop = asyncio.Event()

                async def background(b: str = b, stop: asyncio.Event = stop) -> None:
                    while not stop.is_set():
                        await once(b)

                bg = [asyncio.create_task(background()) for _ in range(k)]
                await asyncio.sleep(0.01)
                for a in variants:
                    t = statistics.median([await once(a) for _ in range(repeats)])
                    slow[a].setdefault(b, []).append(round(t / solo[a], 4))
                    tick()
                stop.set()
                await asyncio.gather(*bg)
        return solo, slow
    finally:
        await asyncio.to_thread(h.stop)


def _coefficient(factors: list[float]) -> float:
    """Least-squares slope through the origin of ``factor - 1`` against ``k = 1..K``."""
    num = sum(k * (f - 1.0) for k, f in enumerate(factors, start=1))
    den = sum(k * k for k in range(1, len(factors) + 1))
    return max(num / den, 0.0)


def measure(
    variants: list[str],
    *,
    classes: list[str],
    max_concurrency: int = 3,
    repeats: int = 10,
    tiny: bool = False,
    base_devices: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Measure every variant on every class; returns the profile (see the module docstring).

    Raises:
        ConfigError: an unknown variant or class, a bad count, a worker that cannot start.
    """
    from tqdm import tqdm

    for v in variants:
        spec(v)  # unknown: ConfigError
    for c in classes:
        if c not in CLASSES:
            raise ConfigError(f"--classes: unknown class {c!r}; known: {', '.join(CLASSES)}.")
    if not 1 <= max_concurrency <= 16:
        raise ConfigError(f"--max-concurrency {max_concurrency}: expected 1..16.")
    if not 1 <= repeats <= 1000:
        raise ConfigError(f"--repeats {repeats}: expected 1..1000.")
    if base_devices is None:
        from edgesched.dispatch.devices.scenario import preset_dir

        table = preset_dir() / "data" / "live-devices.yaml"
        base_devices = yaml.safe_load(table.read_text())["devices"]
    V = len(variants)
    total = len(classes) * (V + V * V * max_concurrency)
    bar = tqdm(total=total, desc="profile", unit="step", disable=not progress)
    devices: dict[str, Any] = {}
    processing: dict[str, dict[str, float]] = {v: {} for v in variants}
    pairs: list[dict[str, Any]] = []
    matrix: dict[str, Any] = {}
    t0 = time.monotonic()
    try:
        for cls in classes:
            solo, slow = asyncio.run(
                _measure_class(cls, variants, max_concurrency, repeats, tiny, lambda: bar.update(1))
            )
            coefs: dict[tuple[str, str], float] = {}
            for i, a in enumerate(variants):
                for b in variants[i:]:
                    pair = (_coefficient(slow[a][b]) + _coefficient(slow[b][a])) / 2
                    coefs[(a, b)] = pair
                    pairs.append({"device": cls, "variants": [a, b], "coefficient": round(pair, 4)})
            dev = dict(base_devices.get(cls, {}))
            if not dev:
                dev = {
                    "memory_gb": 8,
                    "idle_w": 2.0,
                    "active_w": 6.0,
                    "max_w": 14.0,
                    "max_workloads": max_concurrency + 1,
                }
            dev["degradation"] = round(sum(coefs.values()) / len(coefs), 4)
            devices[cls] = dev
            for v in variants:
                processing[v][cls] = round(solo[v], 4)
            matrix[cls] = slow
    finally:
        bar.close()
    return {
        "host": {
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "onnxruntime": _ort_version(),
            "models": "tiny" if tiny else "full",
            "repeats": repeats,
            "max_concurrency": max_concurrency,
            "seconds": round(time.monotonic() - t0, 1),
        },
        "devices": devices,
        "processing_ms": processing,
        "degradation": pairs,
        "slowdown": matrix,
    }


def _ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def write(out: Path, profile: dict[str, Any]) -> list[Path]:
    """``out`` (profile.yaml), its two tables in the shared formats and the heat map."""
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# edgesched live profile (`edgesched profile`): processing times (ms) and co-location\n"
        "# slow-down measured on this host; load it with `--profile` (serve, live-vs-sim,\n"
        "# compare) or point a scenario's data.devices / data.processing at the two tables\n"
        "# written beside it.\n"
    )
    out.write_text(header + yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
    stem = out.with_suffix("")
    dev_path = Path(f"{stem}.devices.yaml")
    dev_path.write_text(
        yaml.safe_dump({"devices": profile["devices"]}, sort_keys=False), encoding="utf-8"
    )
    proc_path = Path(f"{stem}.processing.csv")
    classes = list(profile["devices"])
    with proc_path.open("w", newline="", encoding="utf-8") as f:
        wr = csv.writer(f)
        wr.writerow(["variant", *classes])
        for v, row in profile["processing_ms"].items():
            wr.writerow([v, *(row.get(c, "") for c in classes)])
    png = Path(f"{stem}.png")
    heatmap(png, profile)
    return [out, dev_path, proc_path, png]


def heatmap(path: Path, profile: dict[str, Any]) -> None:
    """The slow-down matrix: rows the measured variant, columns the co-runner x k."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    classes = list(profile["slowdown"])
    fig, axes = plt.subplots(1, len(classes), figsize=(6 * len(classes), 4), squeeze=False)
    for ax, cls in zip(axes[0], classes, strict=True):
        slow = profile["slowdown"][cls]
        rows = list(slow)
        cols = [(b, k) for b in rows for k in range(1, len(slow[rows[0]][b]) + 1)]
        data = np.array([[slow[a][b][k - 1] for b, k in cols] for a in rows])
        im = ax.imshow(data, cmap="magma_r", aspect="auto", vmin=1.0)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xticks(range(len(cols)), [f"{b} x{k}" for b, k in cols], rotation=70, fontsize=7)
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                ax.text(
                    j,
                    i,
                    f"{data[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if data[i, j] > (data.max() + 1) / 2 else "black",
                )
        ax.set_title(f"{cls}: slow-down of the row's variant with k co-runners")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def measure_host(
    scenario: str | Path = "live-host",
    *,
    seconds: float = 20.0,
    rate_per_min: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """The serving host's own costs, measured: the scenario served live with the no-op
    model at its own rate or ``rate_per_min`` (its request sequence of ``seed`` for
    ``seconds``, round-robin, the emulated network on), driven by the load generator in this
    process.

    - ``request_ms``: the median over served requests of the client's delay less the
      emulated network, the WAN queue and the (no-op) compute: HTTP both ways, the gateway's
      own time, the hand-off to a worker and back, the emulated delays' timer overshoot;
    - ``cpu_ms_per_request``: the CPU the gateway process and the load generator used per
      request (the processes that float over the workers' cores), and ``cores`` they spread
      over: the simulator's contention term
      (:class:`~edgesched.dispatch.devices.world.HostModel`).

    Raises:
        ConfigError: a scenario that does not load, a gateway that does not start.
    """
    import psutil

    from edgesched.core.rng import RandomStreams
    from edgesched.dispatch.devices.simulator import generate_requests
    from edgesched.live import livesim, loadgen
    from edgesched.live.scenarios import load_world

    if not 1.0 <= seconds <= 3600.0:
        raise ConfigError(f"--host-seconds {seconds}: expected 1..3600.")
    world = load_world(scenario, duration_s=seconds, rate_per_min=rate_per_min)
    planned = livesim.planned_requests(world, generate_requests(world, RandomStreams(seed)))
    extra = ["--noop-models", "--seed", str(seed), "--duration", str(seconds)]
    if rate_per_min is not None:
        extra += ["--lambda", str(rate_per_min)]
    proc, url, _log = livesim.start_gateway(
        str(scenario), "round-robin", checkpoint=None, profile=None, extra=extra
    )
    me = psutil.Process()
    try:
        gw = psutil.Process(proc.pid)
        load0 = os.getloadavg()
        c0 = sum(gw.cpu_times()[:2]) + sum(me.cpu_times()[:2])
        run = loadgen.run(url, planned, livesim.scenario_info(world), progress=progress, seed=seed)
        c1 = sum(gw.cpu_times()[:2]) + sum(me.cpu_times()[:2])
        load1 = os.getloadavg()
    finally:
        livesim.stop_gateway(proc)
    served = [r for r in run.records if r.outcome in ("success", "late")]
    if not served:
        raise ConfigError(f"measuring the host on {scenario}: no request was served.")
    over = sorted(
        r.delay_ms - r.network_ms - r.wan_queue_ms - r.compute_ms
        for r in served
        if all(x == x for x in (r.delay_ms, r.network_ms, r.wan_queue_ms, r.compute_ms))  # not NaN
    )
    return {
        "request_ms": round(statistics.median(over), 4),
        "request_ms_p99": round(over[min(len(over) - 1, int(0.99 * len(over)))], 4),
        "cpu_ms_per_request": round((c1 - c0) * 1000.0 / len(run.records), 4),
        "cores": len(available_cores()),
        "scenario": str(scenario),
        "rate_per_min": float(world.rate_per_min),
        "requests": len(run.records),
        "served": len(served),
        "seconds": seconds,
        "load_average": [round(x, 2) for x in (*load0, *load1)],
    }


def default_variants() -> list[str]:
    """The variants of ``live-host`` (what `edgesched profile` measures by default)."""
    return ["resnet18", "resnet50", "ssd_mobilenet_v2", "yolov5n"]


__all__ = [
    "CLASSES",
    "VARIANTS",
    "default_variants",
    "heatmap",
    "measure",
    "measure_host",
    "write",
]
