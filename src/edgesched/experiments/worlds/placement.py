"""`edgesched compare` for placement scenarios: cells, results.csv, summary.json, plots."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.metrics import mean_std, percentile
from edgesched.experiments.backend import CompareOptions, Prepared, WorldBackend, make_scheduler
from edgesched.experiments.output import json_safe, run_metadata, text_table, write_json
from edgesched.experiments.worlds import placement_plots
from edgesched.placement.run import simulate
from edgesched.placement.scenario import load_scenario, presets
from edgesched.placement.schedulers import SCHEDULERS
from edgesched.placement.sim import RunResult
from edgesched.placement.workload import TraceTask, read_trace


@dataclass(frozen=True)
class PlacementInputs:
    """The placement scenario's file and the optional trace that replaces its workload."""

    source: Path
    trace: list[TraceTask] | None
    trace_path: Path | None


def run_cell(prepared: Prepared, scheduler: str, seed: int) -> RunResult:
    """One (scheduler, seed) cell; a pure function of its arguments."""
    inputs: PlacementInputs = prepared.extra["inputs"]
    return simulate(
        prepared.world,
        make_scheduler(SCHEDULERS, scheduler, prepared.checkpoint),
        seed,
        trace=inputs.trace,
        source=inputs.source,
    )


class PlacementBackend(WorldBackend):
    """The placement world's part of `edgesched compare`."""

    world = "placement"
    registry = "edgesched.placement.schedulers:SCHEDULERS"
    load_options = ("trace",)
    load_hint = "use --trace or a scenario YAML to change its workload"

    def presets(self) -> dict[str, str]:
        return presets()

    def accepts(self, data: Any) -> bool:
        return isinstance(data, dict) and data.get("world") == "placement"

    def load(self, scenario: str, options: CompareOptions) -> Prepared:
        sc, source = load_scenario(scenario)
        trace = read_trace(options.trace, sc) if options.trace is not None else None
        inputs = PlacementInputs(source, trace, options.trace)
        return Prepared(world=sc, name=sc.name, extra={"inputs": inputs})

    def check(self, prepared: Prepared, name: str) -> None:
        SCHEDULERS.make(name).check(prepared.world)

    def cell_function(self) -> Any:
        return run_cell

    # ------------------------------------------------------------------ outputs

    def write(
        self,
        out_dir: Path,
        prepared: Prepared,
        cells: list[tuple[str, int]],
        results: list[RunResult],
    ) -> dict[str, Any]:
        write_results_csv(out_dir / "results.csv", results)
        write_series_csv(out_dir / "timeseries.csv", results)
        write_utilisation_csv(out_dir / "utilisation.csv", results)
        summary = summarise(prepared, results)
        write_json(out_dir / "summary.json", summary)
        placement_plots.plot_all(out_dir, results)
        return summary

    def table(self, summary: dict[str, Any]) -> str:
        return format_table(summary)


def write_results_csv(path: Path, results: list[RunResult]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["scheduler", "seed", "task", "type", "cluster", "arrival", "start", "finish", "jct"]
        )
        for r in results:
            for name, type_name, cluster, arrival, start, finish, jct in r.tasks:
                w.writerow(
                    [r.scheduler, r.seed, name, type_name, cluster, arrival, start, finish, jct]
                )


def write_series_csv(path: Path, results: list[RunResult]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scheduler", "seed", "time", "arrived", "in_system", "running"])
        for r in results:
            s = r.series
            for row in zip(s["time"], s["arrived"], s["in_system"], s["running"], strict=True):
                w.writerow([r.scheduler, r.seed, *row])


def write_utilisation_csv(path: Path, results: list[RunResult]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scheduler", "seed", "cluster", "resource", "utilisation"])
        for r in results:
            for n, per in enumerate(r.utilisation):
                for res, u in zip(r.resources, per, strict=True):
                    w.writerow([r.scheduler, r.seed, n, res, "" if math.isnan(u) else f"{u:.6f}"])


def summarise(prepared: Prepared, results: list[RunResult]) -> dict[str, Any]:
    """Per scheduler: mean JCT (mean and std over seeds of each run's mean), median and p95
    over all tasks of all seeds, makespan and utilisation averaged over seeds."""
    by_sched: dict[str, list[RunResult]] = {}
    for r in results:
        by_sched.setdefault(r.scheduler, []).append(r)
    seeds = sorted({r.seed for r in results})
    lbs = {r.seed: r.lower_bound_mean_jct for r in results}
    lb = float(np.mean([lbs[s] for s in seeds]))
    rows: dict[str, dict[str, Any]] = {}
    for name, runs in by_sched.items():
        means = [r.stats()["mean_jct"] for r in runs]
        jcts = [j for r in runs for j in r.jcts]
        m, sd = mean_std(means)
        rows[name] = {
            "mean_jct": m,
            "mean_jct_std": sd,
            "median_jct": percentile(jcts, 50),
            "p95_jct": percentile(jcts, 95),
            "makespan": float(np.mean([r.makespan for r in runs])),
            "utilisation": float(np.mean([r.stats()["utilisation"] for r in runs])),
            "conflicts": float(np.mean([r.conflicts for r in runs])),
            "per_seed_mean_jct": {str(r.seed): r.stats()["mean_jct"] for r in runs},
        }
    best = min(v["mean_jct"] for v in rows.values())
    for v in rows.values():
        v["ratio_to_best"] = v["mean_jct"] / best
        v["ratio_to_lower_bound"] = v["mean_jct"] / lb
    sc = prepared.world
    inputs: PlacementInputs = prepared.extra["inputs"]
    return json_safe(
        {
            "scenario": sc.name,
            "world": "placement",
            "seeds": seeds,
            **run_metadata(),
            "trace": str(inputs.trace_path) if inputs.trace_path else None,
            "checkpoint": str(prepared.checkpoint) if prepared.checkpoint else None,
            "config": sc.model_dump(mode="json"),
            "lower_bound_mean_jct": lb,
            "schedulers": rows,
        }
    )


def format_table(summary: dict[str, Any]) -> str:
    seeds = summary["seeds"]
    lb = summary["lower_bound_mean_jct"]
    head = (
        f"{summary['scenario']}: {len(seeds)} seed(s) {seeds[0]}..{seeds[-1]}, "
        f"JCT in timesteps; lower bound on mean JCT {lb:.2f}"
    )
    cols = ["scheduler", "mean JCT", "median", "p95", "makespan", "util", "x best", "x LB"]
    lines = []
    rows = sorted(summary["schedulers"].items(), key=lambda kv: kv[1]["mean_jct"])
    for name, v in rows:
        lines.append(
            [
                name,
                f"{v['mean_jct']:.2f} ± {v['mean_jct_std']:.2f}",
                f"{v['median_jct']:.1f}",
                f"{v['p95_jct']:.1f}",
                f"{v['makespan']:.1f}",
                f"{v['utilisation']:.2f}",
                f"{v['ratio_to_best']:.2f}",
                f"{v['ratio_to_lower_bound']:.2f}",
            ]
        )
    return "\n".join([head, *text_table(cols, lines)])
