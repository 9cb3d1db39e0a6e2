"""`edgesched compare` for the device setting of the dispatch world (ECSRL's): every baseline
dispatcher and ``ecsrl`` on every seed; results.csv, summary.json, a plot and a console table.

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
(``edgesched profile``) to the device classes it measured; ``--trace`` and ``--pattern`` are
refused.
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
    load_options = ("lam", "duration", "profile")
    load_hint = (
        "a constant Poisson rate: use --lambda, requests per minute at the access point, and "
        "--duration; --profile applies a measured host profile"
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
        )
        return Prepared(world=world, name=world.name or Path(scenario).stem)

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


def write_results_csv(path: Path, results: list[DeviceResult]) -> None:
    """One row per request per run: what it needed, where it ran, its delay parts (which add
    up to ``delay_ms``), its slow-down, its energy and its outcome."""

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
