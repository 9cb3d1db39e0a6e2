"""`edgesched compare` for placement scenarios: cells, results.csv, summary.json, plots."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.core.metrics import mean_std, percentile
from edgesched.experiments.backend import CompareOptions
from edgesched.experiments.output import json_safe, run_metadata, text_table, write_json
from edgesched.placement import schedulers
from edgesched.placement.run import simulate
from edgesched.placement.scenario import PlacementScenario, load_scenario, presets
from edgesched.placement.schedulers.base import PlacementScheduler
from edgesched.placement.sim import RunResult
from edgesched.placement.workload import TraceTask, read_trace

LEARNED = "tapfinger"


@dataclass(frozen=True)
class PreparedPlacement:
    scenario: PlacementScenario
    source: Path
    trace: list[TraceTask] | None
    trace_path: Path | None
    checkpoint: Path | None


def _learned() -> Any:
    """The TapFinger module, when the learning extras are installed."""
    import importlib

    try:
        return importlib.import_module("edgesched.rl.tapfinger")
    except ImportError:
        return None


def make_scheduler(prepared: PreparedPlacement, name: str) -> PlacementScheduler:
    if name == LEARNED:
        module = _learned()
        if module is None or prepared.checkpoint is None:
            raise ConfigError(f"no {LEARNED} checkpoint for {prepared.scenario.name}.")
        sched: PlacementScheduler = module.load_scheduler(prepared.checkpoint)
        return sched
    return schedulers.make(name)


def run_cell(prepared: PreparedPlacement, scheduler: str, seed: int) -> RunResult:
    """One (scheduler, seed) cell; a pure function of its arguments."""
    return simulate(
        prepared.scenario,
        make_scheduler(prepared, scheduler),
        seed,
        trace=prepared.trace,
        source=prepared.source,
    )


class PlacementBackend:
    world = "placement"

    def presets(self) -> dict[str, str]:
        return presets()

    def prepare(self, scenario: str, options: CompareOptions) -> PreparedPlacement:
        for flag, value in (
            ("--lambda", options.lam),
            ("--pattern", options.pattern),
            ("--duration", options.duration),
        ):
            if value is not None:
                raise ConfigError(
                    f"{flag} applies to dispatch scenarios; {scenario!r} is a "
                    "placement scenario (use --trace or a scenario YAML to "
                    "change its workload)."
                )
        sc, source = load_scenario(scenario)
        trace = read_trace(options.trace, sc) if options.trace is not None else None
        checkpoint = options.checkpoint
        if checkpoint is not None and not checkpoint.is_file():
            raise ConfigError(f"--checkpoint {checkpoint}: no such file.")
        if checkpoint is None:
            module = _learned()
            if module is not None:
                checkpoint = module.shipped_checkpoint(sc.name)
        return PreparedPlacement(sc, source, trace, options.trace, checkpoint)

    def scenario_name(self, prepared: PreparedPlacement) -> str:
        return prepared.scenario.name

    def schedulers(self, prepared: PreparedPlacement) -> list[str]:
        names = [n for n in schedulers.names() if n != LEARNED]
        sc = prepared.scenario
        usable = []
        for name in names:
            try:
                schedulers.make(name).check(sc)
            except ConfigError:
                continue
            usable.append(name)
        if prepared.checkpoint is not None:
            usable.append(LEARNED)
        return usable

    def check_schedulers(self, prepared: PreparedPlacement, names: list[str]) -> None:
        for name in names:
            if name == LEARNED:
                if prepared.checkpoint is None:
                    raise ConfigError(
                        f"--schedulers {LEARNED}: no checkpoint is shipped for "
                        f"{prepared.scenario.name}; pass --checkpoint PATH."
                    )
                continue
            schedulers.make(name).check(prepared.scenario)

    def cell_function(self) -> Any:
        return run_cell

    # ------------------------------------------------------------------ outputs

    def write(
        self,
        out_dir: Path,
        prepared: PreparedPlacement,
        cells: list[tuple[str, int]],
        results: list[RunResult],
    ) -> dict[str, Any]:
        write_results_csv(out_dir / "results.csv", results)
        write_series_csv(out_dir / "timeseries.csv", results)
        write_utilisation_csv(out_dir / "utilisation.csv", results)
        summary = summarise(prepared, results)
        write_json(out_dir / "summary.json", summary)
        from edgesched.experiments import placement_plots

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


def summarise(prepared: PreparedPlacement, results: list[RunResult]) -> dict[str, Any]:
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
    sc = prepared.scenario
    return json_safe(
        {
            "scenario": sc.name,
            "world": "placement",
            "seeds": seeds,
            **run_metadata(),
            "trace": str(prepared.trace_path) if prepared.trace_path else None,
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
