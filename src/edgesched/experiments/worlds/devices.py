"""`edgesched compare` for the device setting of the dispatch world (ECSRL's): every baseline
dispatcher and ``ecsrl`` on every seed; the per-request records (``requests.parquet`` and
``results.parquet``, zstd, joined by :func:`read_records`; ``--records csv`` for
``results.csv``, ``--records none`` for none), summary.json, a plot and a console table.

A scenario belongs here when it is a device-setting preset (``ecsrl-17k``) or a YAML file with
``world: dispatch`` and ``setting: devices``. ``ecsrl`` runs when a checkpoint is shipped that
fits the scenario (same devices and tasks) or one is given with ``--checkpoint``.

Metrics per dispatcher, pooled over the seeds' requests: ``throughput_rate`` (requests finished
within their deadline by an accurate-enough variant, over requests issued),
``energy_per_request_j`` (dynamic energy attributed to requests, over requests issued; the
machines' idle energy is in ``total_energy_per_request_j``), ``mean_slowdown`` (processing time
over solo time, served requests), ``offload_fraction`` (requests sent to the cloud) and delay
percentiles of served requests. ``dominated_by`` lists the dispatchers that meet more deadlines
*and* use less energy per request.

Options: ``--duration`` changes the seconds per run and ``--lambda`` the requests per minute at
the access point (the count follows the rate); ``--profile`` applies a measured host profile
(``edgesched profile``) to the device classes it measured; ``--arrivals`` replays a CSV arrival
trace (:func:`edgesched.core.arrivals.read_arrival_trace`) with tasks and deadlines drawn as
the scenario says; ``--trace`` and ``--pattern`` are refused.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.dispatch.devices.scenario import DEFAULT_SCENARIO, load, presets
from edgesched.dispatch.devices.schedulers import SCHEDULERS
from edgesched.dispatch.devices.simulator import DeviceResult, DeviceSim
from edgesched.dispatch.outcomes import OUTCOMES
from edgesched.experiments.backend import CompareOptions, Prepared, WorldBackend, make_scheduler
from edgesched.experiments.output import json_safe, run_metadata, text_table, write_json
from edgesched.experiments.worlds.devices_plots import plot_throughput_vs_energy


def run_cell(prepared: Prepared, scheduler: str, seed: int) -> DeviceResult:
    """One (scheduler, seed) cell; a pure function of its arguments."""
    sched = make_scheduler(SCHEDULERS, scheduler, prepared.checkpoint)
    return DeviceSim(prepared.world, seed).run(sched)


class DevicesBackend(WorldBackend):
    """The device setting's part of `edgesched compare`."""

    world = "devices"
    registry = "edgesched.dispatch.devices.schedulers:SCHEDULERS"
    load_options = ("lam", "duration", "profile", "arrivals", "records")
    load_hint = (
        "a constant Poisson rate: use --lambda, requests per minute at the access point, and "
        "--duration; --profile applies a measured host profile; --arrivals replays a trace"
    )

    def presets(self) -> dict[str, str]:
        return presets()

    def accepts(self, data: Any) -> bool:
        """Whether a parsed scenario file is of the device setting (``setting: devices``)."""
        return (
            isinstance(data, dict)
            and data.get("world") == "dispatch"
            and data.get("setting") == "devices"
        )

    def load(self, scenario: str, options: CompareOptions) -> Prepared:
        world = load(
            scenario,
            rate_per_min=options.lam,
            duration_s=options.duration,
            profile=options.profile,
            arrivals=options.arrivals,
        )
        return Prepared(
            world=world,
            name=world.name or Path(scenario).stem,
            extra={"records": options.records or "parquet"},
        )

    def shipped(self, learned: str, name: str) -> Path | None:
        """The checkpoint shipped for the scenario, else the default preset's (which runs by
        default only where it fits: the same devices and tasks)."""
        return super().shipped(learned, name) or super().shipped(learned, DEFAULT_SCENARIO)

    def cell_function(self) -> Any:
        return run_cell

    def write(
        self,
        out_dir: Path,
        prepared: Prepared,
        cells: list[tuple[str, int]],
        results: list[DeviceResult],
    ) -> dict[str, Any]:
        records = prepared.extra.get("records", "parquet")
        if records == "parquet":
            write_results_parquet(out_dir, results)
        elif records == "csv":
            write_results_csv(out_dir / "results.csv", results)
        summary = summarise(prepared, results)
        write_json(out_dir / "summary.json", summary)
        plot_throughput_vs_energy(out_dir / "throughput_vs_energy.png", summary)
        return summary

    def table(self, summary: dict[str, Any]) -> str:
        return format_table(summary)


# ----------------------------------------------------------------------------- aggregation


def pooled_metrics(runs: list[DeviceResult]) -> dict[str, Any]:
    """The metrics of several runs of one dispatcher, pooled over their requests."""
    issued = sum(r.count for r in runs)
    n = max(issued, 1)
    outcome = np.concatenate([r.outcome for r in runs])
    served_delay = np.concatenate([r.delay_ms[r.served] for r in runs])
    slowdown = np.concatenate([r.slowdown() for r in runs])
    cloud = sum(int(np.sum(r.action == len(r.action_names) - 1)) for r in runs)
    actions = np.concatenate([r.action for r in runs])
    names = runs[0].action_names

    def pct(q: float) -> float:
        return float(np.percentile(served_delay, q)) if served_delay.size else float("nan")

    per_seed = {str(r.seed): r.metrics()["throughput_rate"] for r in runs}
    return {
        "throughput_rate": float(np.sum(outcome == 0) / n),
        "energy_per_request_j": float(sum(r.energy_j.sum() for r in runs) / n),
        "mean_slowdown": float(slowdown.mean()) if slowdown.size else float("nan"),
        "offload_fraction": float(cloud / n),
        "p50_delay_ms": pct(50),
        "p95_delay_ms": pct(95),
        "p99_delay_ms": pct(99),
        **{f"{o}_count": int(np.sum(outcome == i)) for i, o in enumerate(OUTCOMES)},
        "requests": int(issued),
        "total_energy_per_request_j": float(sum(r.machine_total_j.sum() for r in runs) / n),
        "idle_energy_j": float(sum(r.machine_idle_j.sum() for r in runs)),
        "throughput_rate_std": float(np.std(list(per_seed.values()))),
        "per_seed_throughput_rate": per_seed,
        "action_share": {
            a: float(np.mean(actions == i)) for i, a in enumerate(names) if np.any(actions == i)
        },
    }


def summarise(prepared: Prepared, results: list[DeviceResult]) -> dict[str, Any]:
    """Per dispatcher: pooled metrics, and which dispatchers dominate it."""
    by_sched: dict[str, list[DeviceResult]] = {}
    for r in results:
        by_sched.setdefault(r.scheduler, []).append(r)
    rows = {name: pooled_metrics(runs) for name, runs in by_sched.items()}
    for row in rows.values():
        row["dominated_by"] = [
            other
            for other, o in rows.items()
            if o["throughput_rate"] > row["throughput_rate"]
            and o["energy_per_request_j"] < row["energy_per_request_j"]
        ]
    w = prepared.world
    req = w.scenario.requests
    return json_safe(
        {
            "scenario": prepared.name,
            "world": "dispatch",
            "setting": "devices",
            "seeds": sorted({r.seed for r in results}),
            **run_metadata(),
            "requests_per_run": req.count,
            "duration_s": req.duration_s,
            "rate_per_min": w.rate_per_min,
            "checkpoint": str(prepared.checkpoint) if prepared.checkpoint else None,
            "actions": w.action_names,
            "config": w.scenario.model_dump(mode="json"),
            "schedulers": rows,
        }
    )


# ----------------------------------------------------------------------------- files

RESULT_COLUMNS = (
    "scheduler",
    "seed",
    "request",
    "task",
    "arrival_ms",
    "deadline_ms",
    "min_accuracy",
    "needs_cloud",
    "action",
    "machine",
    "variant",
    "accuracy",
    "outcome",
    "network_ms",
    "wan_queue_ms",
    "queue_ms",
    "processing_ms",
    "solo_ms",
    "delay_ms",
    "slowdown",
    "energy_j",
)


#: The columns of ``requests.parquet``: one row per request per seed, what it needed (the same
#: whatever the dispatcher). Times in whole microseconds (``*_us``), the CSV's precision.
REQUEST_COLUMNS = (
    "seed",
    "request",
    "task",
    "arrival_us",
    "deadline_us",
    "min_accuracy",
    "needs_cloud",
)

#: The columns of ``results.parquet``: one row per request per run, what became of it. Times
#: in whole microseconds, energy in microjoules (``energy_uj``), as integers (they compress
#: about three times better than floats); ``slowdown`` is ``processing_us / solo_us``.
PARQUET_COLUMNS = (
    "scheduler",
    "seed",
    "request",
    "action",
    "machine",
    "variant",
    "accuracy",
    "outcome",
    "network_us",
    "wan_queue_us",
    "queue_us",
    "processing_us",
    "solo_us",
    "delay_us",
    "energy_uj",
)


def _names(values: list[str], index: np.ndarray) -> Any:
    """``values[index]`` as a dictionary column; index -1 (none) is null."""
    import pyarrow as pa

    idx = pa.array(index.astype(np.int32), mask=index < 0)
    return pa.DictionaryArray.from_arrays(idx, pa.array(values, pa.string()))


def _micro(a: np.ndarray) -> Any:
    """Milliseconds (or millijoules) as whole micro-units; NaN is null."""
    import pyarrow as pa

    a = np.asarray(a, dtype=float)
    bad = ~np.isfinite(a)
    return pa.array(np.round(np.where(bad, 0.0, a) * 1000.0).astype(np.int64), mask=bad)


def _ratio(a: np.ndarray) -> Any:
    import pyarrow as pa

    a = np.asarray(a, dtype=float)
    return pa.array(a.astype(np.float32), mask=np.isnan(a))


def requests_table(results: list[DeviceResult]) -> Any:
    """The requests of every seed once (a ``pyarrow.Table`` with :data:`REQUEST_COLUMNS`)."""
    import pyarrow as pa

    tables, seen = [], set()
    for r in results:
        if r.seed in seen:
            continue
        seen.add(r.seed)
        q = r.requests
        n = r.count
        cols = {
            "seed": pa.array(np.full(n, r.seed, dtype=np.int64)),
            "request": pa.array(np.arange(n, dtype=np.int32)),
            "task": _names(list(r.tasks), q.task),
            "arrival_us": _micro(q.arrival_ms),
            "deadline_us": _micro(q.deadline_ms),
            "min_accuracy": _ratio(q.min_accuracy),
            "needs_cloud": pa.array(q.needs_cloud.astype(bool)),
        }
        tables.append(pa.table(cols))
    return pa.concat_tables(tables, promote_options="permissive")


def results_table(results: list[DeviceResult]) -> Any:
    """One row per request per run (a ``pyarrow.Table`` with :data:`PARQUET_COLUMNS`): where it
    ran, its delay parts (which add up to ``delay_us`` within a microsecond each), its energy
    and its outcome. Names (scheduler, action, machine, variant, outcome) are
    dictionary-encoded; null means "none" (never dispatched, not served)."""
    import pyarrow as pa

    tables = []
    for r in results:
        n = r.count
        cols = {
            "scheduler": _names([r.scheduler], np.zeros(n, dtype=np.int64)),
            "seed": pa.array(np.full(n, r.seed, dtype=np.int64)),
            "request": pa.array(np.arange(n, dtype=np.int32)),
            "action": _names(list(r.action_names), r.action),
            "machine": _names(list(r.machine_names), r.machine),
            "variant": _names(list(r.variants), r.variant),
            "accuracy": _ratio(r.accuracy),
            "outcome": _names(list(OUTCOMES), r.outcome),
            "network_us": _micro(r.network_ms),
            "wan_queue_us": _micro(r.wan_queue_ms),
            "queue_us": _micro(r.queue_ms),
            "processing_us": _micro(r.processing_ms),
            "solo_us": _micro(r.base_ms),
            "delay_us": _micro(r.delay_ms),
            "energy_uj": _micro(r.energy_j * 1000.0),
        }
        tables.append(pa.table(cols))
    return pa.concat_tables(tables, promote_options="permissive")


def _write_parquet(path: Path, table: Any, delta: list[str]) -> None:
    import pyarrow.parquet as pq

    # dictionaries for names, deltas for the times and energies (measured the smallest)
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=9,
        use_dictionary=[c for c in table.column_names if c not in delta],
        column_encoding=dict.fromkeys(delta, "DELTA_BINARY_PACKED"),
        row_group_size=1 << 20,
    )


def write_results_parquet(out_dir: Path, results: list[DeviceResult]) -> None:
    """The per-request records as zstd-compressed Parquet: ``requests.parquet`` (what each
    request of each seed needed, once) and ``results.parquet`` (what became of it under each
    dispatcher), about a tenth of the CSV's size (a 10-seed `compare ecsrl-17k` took about
    190 MB as CSV). :func:`read_records` joins them; the summary is computed from the
    full-precision results, not from these files."""
    _write_parquet(out_dir / "requests.parquet", requests_table(results), ["request"])
    delta = ["request", "wan_queue_us", "processing_us", "solo_us", "delay_us", "energy_uj"]
    _write_parquet(out_dir / "results.parquet", results_table(results), delta)


def read_records(out_dir: Path) -> Any:
    """The records of a comparison's folder as one ``pyarrow.Table``: every column of
    ``results.parquet`` with its request's columns from ``requests.parquet``, in the order
    the runs were written (``.to_pandas()`` for a data frame)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    results = pq.read_table(out_dir / "results.parquet")
    requests = pq.read_table(out_dir / "requests.parquet")
    order = pa.array(np.arange(results.num_rows))
    joined = results.append_column("_row", order).join(
        requests, keys=["seed", "request"], join_type="left outer"
    )
    return joined.sort_by("_row").drop_columns(["_row"])


def write_results_csv(path: Path, results: list[DeviceResult]) -> None:
    """The per-request records as CSV (``--records csv``: large, about 190 MB for a 10-seed
    `compare ecsrl-17k`; Parquet is the default)."""

    def f3(a: np.ndarray) -> list[str]:
        return [f"{x:.3f}" for x in a.tolist()]

    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(RESULT_COLUMNS)
        for r in results:
            q = r.requests
            served = r.served
            names = [*r.machine_names, ""]
            actions = [*r.action_names, ""]
            variants = [*r.variants, ""]
            slow = np.where(served, r.processing_ms / np.where(served, r.base_ms, 1.0), np.nan)
            cols = [
                [r.scheduler] * r.count,
                [str(r.seed)] * r.count,
                [str(i) for i in range(r.count)],
                [r.tasks[t] for t in q.task.tolist()],
                f3(q.arrival_ms),
                f3(q.deadline_ms),
                [f"{x:.4f}" for x in q.min_accuracy.tolist()],
                [str(int(x)) for x in q.needs_cloud.tolist()],
                [actions[a] for a in r.action.tolist()],
                [names[m] for m in r.machine.tolist()],
                [variants[v] for v in r.variant.tolist()],
                ["" if math.isnan(x) else f"{x:.3f}" for x in r.accuracy.tolist()],
                [OUTCOMES[o] for o in r.outcome.tolist()],
                f3(r.network_ms),
                f3(r.wan_queue_ms),
                f3(r.queue_ms),
                f3(r.processing_ms),
                f3(r.base_ms),
                f3(r.delay_ms),
                ["" if math.isnan(x) else f"{x:.4f}" for x in slow.tolist()],
                [f"{x:.6f}" for x in r.energy_j.tolist()],
            ]
            w.writerows(zip(*cols, strict=True))


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def format_table(summary: dict[str, Any]) -> str:
    """One line per dispatcher, best throughput first, then least energy."""
    seeds = summary["seeds"]
    head = (
        f"{summary['scenario']}: {summary['requests_per_run']} requests in "
        f"{summary['duration_s']:g} s per run, {len(seeds)} seed(s) {seeds[0]}..{seeds[-1]}; "
        "energy attributed to requests, delays of served requests in ms; dominated by = how "
        "many dispatchers meet more deadlines with less energy"
    )
    items = sorted(
        summary["schedulers"].items(),
        key=lambda kv: (-(kv[1]["throughput_rate"] or 0.0), kv[1]["energy_per_request_j"] or 0.0),
    )
    cols = [
        "dispatcher",
        "throughput",
        "J/request",
        "slowdown",
        "offload",
        "p50",
        "p99",
        "dominated by",
    ]
    lines = [
        [
            name,
            _num(None if v["throughput_rate"] is None else 100 * v["throughput_rate"], ".3f") + "%",
            _num(v["energy_per_request_j"], ".4f"),
            _num(v["mean_slowdown"], ".3f"),
            _num(None if v["offload_fraction"] is None else 100 * v["offload_fraction"], ".1f")
            + "%",
            _num(v["p50_delay_ms"], ".1f"),
            _num(v["p99_delay_ms"], ".1f"),
            str(len(v["dominated_by"])) if v["dominated_by"] else "-",
        ]
        for name, v in items
    ]
    return "\n".join([head, *text_table(cols, lines, left=(0, 7))])
