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
the access point (the count follows the rate); ``--trace`` and ``--pattern`` are refused.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.dispatch.devices import DeviceWorld, is_device_scenario, load_devices, presets
from edgesched.dispatch.edge_schedulers import BASELINES, EDGE_SCHEDULERS, make
from edgesched.dispatch.edge_sim import OUTCOMES, EdgeResult, EdgeSim
from edgesched.experiments.backend import CompareOptions
from edgesched.experiments.output import json_safe, run_metadata, text_table, write_json
from edgesched.rl import ecsrl as _ecsrl  # noqa: F401  (registers the learned "ecsrl")

LEARNED = "ecsrl"


@dataclass(frozen=True)
class PreparedEdge:
    """A validated device-setting scenario with the options of one comparison."""

    world: DeviceWorld
    name: str
    checkpoint: Path | None


def run_cell(prepared: PreparedEdge, scheduler: str, seed: int) -> EdgeResult:
    """One (scheduler, seed) cell; a pure function of its arguments."""
    if scheduler == LEARNED:
        sched = make(LEARNED, checkpoint=prepared.checkpoint)
    else:
        sched = make(scheduler)
    return EdgeSim(prepared.world, seed).run(sched)


def _fitting_checkpoint(world: DeviceWorld, path: Path, *, strict: bool) -> Path | None:
    """``path`` if its policy fits ``world``; else a ConfigError (strict) or None."""
    from edgesched.rl.ecsrl import EcsrlScheduler

    try:
        EcsrlScheduler(checkpoint=path).check_world(world)
    except ConfigError:
        if strict:
            raise
        return None
    return path


class EcsrlBackend:
    """The device setting's part of `edgesched compare`."""

    world = "dispatch"

    def accepts(self, data: Any) -> bool:
        """Whether a parsed scenario file is of the device setting (``setting: devices``)."""
        return is_device_scenario(data)

    def presets(self) -> dict[str, str]:
        return presets()

    def prepare(self, scenario: str, options: CompareOptions) -> PreparedEdge:
        if options.trace is not None:
            raise ConfigError(
                f"--trace applies to placement scenarios; {scenario!r} is a device-setting "
                "dispatch scenario (use --lambda, requests per minute, and --duration to change "
                "its load)."
            )
        if options.pattern is not None:
            raise ConfigError(
                f"--pattern applies to ASET's dispatch scenarios; {scenario!r} is a "
                "device-setting scenario with a constant Poisson rate (use --lambda, requests "
                "per minute at the access point)."
            )
        world = load_devices(scenario, rate_per_min=options.lam, duration_s=options.duration)
        name = world.name or Path(scenario).stem
        if options.checkpoint is not None:
            if not options.checkpoint.is_file():
                raise ConfigError(f"--checkpoint {options.checkpoint}: no such file.")
            checkpoint = _fitting_checkpoint(world, options.checkpoint, strict=True)
        else:
            from edgesched.rl.ecsrl import shipped_checkpoint

            shipped = shipped_checkpoint(name) or shipped_checkpoint()
            checkpoint = (
                _fitting_checkpoint(world, shipped, strict=False) if shipped is not None else None
            )
        return PreparedEdge(world=world, name=name, checkpoint=checkpoint)

    def scenario_name(self, prepared: PreparedEdge) -> str:
        return prepared.name

    def schedulers(self, prepared: PreparedEdge) -> list[str]:
        names = list(BASELINES)
        if prepared.checkpoint is not None:
            names.append(LEARNED)
        return names

    def check_schedulers(self, prepared: PreparedEdge, names: list[str]) -> None:
        for name in names:
            if name not in EDGE_SCHEDULERS:
                EDGE_SCHEDULERS.factory(name)  # raises the registry's message
            if name == LEARNED and prepared.checkpoint is None:
                raise ConfigError(
                    f"--schedulers {LEARNED}: no shipped checkpoint fits {prepared.name}; train "
                    "one with `edgesched train ecsrl SCENARIO` and pass --checkpoint PATH."
                )

    def cell_function(self) -> Any:
        return run_cell

    def write(
        self,
        out_dir: Path,
        prepared: PreparedEdge,
        cells: list[tuple[str, int]],
        results: list[EdgeResult],
    ) -> dict[str, Any]:
        write_results_csv(out_dir / "results.csv", results)
        summary = summarise(prepared, results)
        write_json(out_dir / "summary.json", summary)
        plot_throughput_vs_energy(out_dir / "throughput_vs_energy.png", summary)
        return summary

    def table(self, summary: dict[str, Any]) -> str:
        return format_table(summary)


# ----------------------------------------------------------------------------- aggregation


def pooled_metrics(runs: list[EdgeResult]) -> dict[str, Any]:
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


def summarise(prepared: PreparedEdge, results: list[EdgeResult]) -> dict[str, Any]:
    """Per dispatcher: pooled metrics, and which dispatchers dominate it."""
    by_sched: dict[str, list[EdgeResult]] = {}
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


def write_results_csv(path: Path, results: list[EdgeResult]) -> None:
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


def plot_throughput_vs_energy(path: Path, summary: dict[str, Any]) -> None:
    """Throughput rate against energy per request, one point per dispatcher: every dispatcher
    on the left, a zoom on those within 2 points of the best throughput on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = {
        name: (row["energy_per_request_j"], row["throughput_rate"])
        for name, row in summary["schedulers"].items()
        if row["energy_per_request_j"] is not None and row["throughput_rate"] is not None
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    markers = "osD^v<>phX"
    best = max((y for _, y in points.values()), default=1.0)
    for ax, zoom in zip(axes, (False, True), strict=True):
        for k, (name, (x, y)) in enumerate(points.items()):
            if zoom and y < best - 0.02:
                continue
            learned = name == LEARNED
            ax.scatter(
                [x],
                [y],
                label=name,
                marker="*" if learned else markers[k % len(markers)],
                color=plt.get_cmap("tab10")(k % 10),
                s=220 if learned else 50,
                alpha=0.85,
                zorder=3 if learned else 2,
            )
        ax.set_xlabel("energy per request (J, attributed dynamic energy)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("throughput rate (within deadline and accuracy)")
    axes[0].set_title(f"{summary['scenario']}: {len(summary['seeds'])} seed(s)", fontsize=9)
    axes[1].set_title("zoom: within 2 points of the best throughput", fontsize=9)
    axes[1].ticklabel_format(axis="y", useOffset=False)
    axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- console


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
