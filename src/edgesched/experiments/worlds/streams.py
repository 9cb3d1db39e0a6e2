"""`edgesched compare` for streams scenarios (ASET's setting): cells, results.csv,
summary.json, plots.

Every static policy, ``oracle-window`` and ``aset`` (when a checkpoint is shipped for the
scenario or given with ``--checkpoint``) run on every seed; then ``best-static`` is added: for
each seed, the static policy with the highest success ratio on that seed (an oracle in
hindsight that no single static policy can beat). ``oracle-window`` is the upper reference of
choosing per window; the summary's ``headroom`` gives its margin over ``best-static`` and the
share of it the learned scheduler reaches.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.dispatch.outcomes import OUTCOMES
from edgesched.dispatch.streams.scenario import load, presets
from edgesched.dispatch.streams.schedulers import SCHEDULERS, STATIC_NAMES
from edgesched.dispatch.streams.simulator import StreamResult, StreamSim, hist_percentile
from edgesched.experiments.backend import CompareOptions, Prepared, WorldBackend, make_scheduler
from edgesched.experiments.output import json_safe, run_metadata, text_table, write_json
from edgesched.experiments.worlds.streams_plots import (
    plot_outcomes_by_policy,
    plot_ratios_over_time,
    plot_success_over_time,
    plot_success_vs_lambda,
    success_series,
)

BEST_STATIC = "best-static"
ORACLE = "oracle-window"


def run_cell(prepared: Prepared, scheduler: str, seed: int) -> StreamResult:
    """One (scheduler, seed) cell; a pure function of its arguments."""
    sched = make_scheduler(SCHEDULERS, scheduler, prepared.checkpoint)
    return StreamSim(prepared.world, seed).run(sched)


class StreamsBackend(WorldBackend):
    """The streams setting's part of `edgesched compare`."""

    world = "streams"
    registry = "edgesched.dispatch.streams.schedulers:SCHEDULERS"
    load_options = ("lam", "pattern", "duration", "arrivals")
    load_hint = (
        "use --lambda, --pattern and --duration to change its load, or --arrivals to replay "
        "a trace of client arrivals"
    )

    def presets(self) -> dict[str, str]:
        return presets()

    def accepts(self, data: Any) -> bool:
        return (
            isinstance(data, dict)
            and data.get("world") == "dispatch"
            and data.get("setting", "streams") == "streams"
        )

    def load(self, scenario: str, options: CompareOptions) -> Prepared:
        world = load(
            scenario,
            lam=options.lam,
            pattern=options.pattern,
            duration_s=options.duration,
            arrivals=options.arrivals,
        )
        return Prepared(world=world, name=world.name)

    def derived(self) -> dict[str, str]:
        return {
            BEST_STATIC: "it is computed from the static policies' results, not run; it "
            "appears when two or more static policies run."
        }

    def cell_function(self) -> Any:
        return run_cell

    # ------------------------------------------------------------------ outputs

    def write(
        self,
        out_dir: Path,
        prepared: Prepared,
        cells: list[tuple[str, int]],
        results: list[StreamResult],
    ) -> dict[str, Any]:
        results = with_best_static(results)
        write_results_csv(out_dir / "results.csv", results)
        write_timeseries_csv(out_dir / "timeseries.csv", results)
        summary = summarise(prepared, results)
        write_json(out_dir / "summary.json", summary)
        plot_ratios_over_time(out_dir / "ratios_over_time.png", results)
        plot_success_vs_lambda(out_dir / "success_vs_lambda.png", lambda_table(results))
        title = f"{summary['scenario']}: {_load_text(summary)}, {len(summary['seeds'])} seed(s)"
        plot_success_over_time(
            out_dir / "success_over_time.png",
            {k: v.tolist() for k, v in success_series(results).items()},
            float(results[0].window_s) if results else 1.0,
            results[0].window_lam.tolist() if results else [],
            title,
        )
        plot_outcomes_by_policy(out_dir / "outcomes_by_policy.png", summary["schedulers"], title)
        return summary

    def table(self, summary: dict[str, Any]) -> str:
        return format_table(summary)


# ----------------------------------------------------------------------------- aggregation


def success_ratio(r: StreamResult) -> float:
    total = r.counts.sum()
    return float(r.counts[:, 0].sum() / total) if total else float("nan")


def with_best_static(results: list[StreamResult]) -> list[StreamResult]:
    """The results plus one ``best-static`` run per seed: that seed's best static policy."""
    by_seed: dict[int, list[StreamResult]] = defaultdict(list)
    for r in results:
        if r.scheduler in STATIC_NAMES:
            by_seed[r.seed].append(r)
    extra = []
    for seed, runs in sorted(by_seed.items()):
        if len(runs) < 2:
            continue
        best = max(runs, key=lambda r: (success_ratio(r), -STATIC_NAMES.index(r.scheduler)))
        extra.append(
            StreamResult(
                scheduler=BEST_STATIC,
                seed=seed,
                apps=best.apps,
                counts=best.counts,
                hist=best.hist,
                window_s=best.window_s,
                window_counts=best.window_counts,
                window_lam=best.window_lam,
                choices=np.full_like(best.choices, STATIC_NAMES.index(best.scheduler)),
                clients=best.clients,
            )
        )
    return results + extra


def _ratios(counts: np.ndarray) -> dict[str, float]:
    total = counts.sum()
    c = counts.sum(axis=0) if counts.ndim == 2 else counts
    if not total:
        return {f"{o}_ratio": float("nan") for o in OUTCOMES}
    return {f"{o}_ratio": float(c[i] / total) for i, o in enumerate(OUTCOMES)}


def summarise(prepared: Prepared, results: list[StreamResult]) -> dict[str, Any]:
    """Per scheduler: pooled ratios over all seeds' queries, the spread of the per-seed
    success ratio, delay percentiles of served queries, and the same per application."""
    by_sched: dict[str, list[StreamResult]] = {}
    for r in results:
        by_sched.setdefault(r.scheduler, []).append(r)
    rows: dict[str, dict[str, Any]] = {}
    for name, runs in by_sched.items():
        counts = sum((r.counts for r in runs), np.zeros_like(runs[0].counts))
        hist = sum((r.hist for r in runs), np.zeros_like(runs[0].hist))
        per_seed = [success_ratio(r) for r in runs]
        all_hist = hist.sum(axis=0)
        row: dict[str, Any] = {
            **_ratios(counts),
            "success_ratio_std": float(np.std(per_seed)),
            "p50_delay_ms": hist_percentile(all_hist, 50),
            "p95_delay_ms": hist_percentile(all_hist, 95),
            "p99_delay_ms": hist_percentile(all_hist, 99),
            "queries_per_seed": float(np.mean([r.queries for r in runs])),
            "per_seed_success_ratio": {str(r.seed): success_ratio(r) for r in runs},
            "per_app": {
                app: {
                    **_ratios(counts[p]),
                    "p50_delay_ms": hist_percentile(hist[p], 50),
                    "p99_delay_ms": hist_percentile(hist[p], 99),
                }
                for p, app in enumerate(runs[0].apps)
            },
        }
        if name == BEST_STATIC:
            row["policy_per_seed"] = {
                str(r.seed): STATIC_NAMES[int(r.choices[0])] if r.choices.size else None
                for r in runs
            }
        if name in SCHEDULERS.names(checkpoint=True):
            picks = np.concatenate([r.choices for r in runs])
            row["policy_share"] = {
                STATIC_NAMES[i]: float(np.mean(picks == i))
                for i in range(len(STATIC_NAMES))
                if np.any(picks == i)
            }
        rows[name] = row
    w = prepared.world
    load = w.scenario.load
    return json_safe(
        {
            "scenario": prepared.name,
            "world": "dispatch",
            "seeds": sorted({r.seed for r in results}),
            **run_metadata(),
            "lam": load.lam,
            "pattern": load.pattern,
            "duration_s": load.duration_s,
            "checkpoint": str(prepared.checkpoint) if prepared.checkpoint else None,
            "config": w.scenario.model_dump(mode="json"),
            "schedulers": rows,
            "headroom": headroom(rows),
        }
    )


def headroom(rows: dict[str, dict[str, Any]]) -> dict[str, float] | None:
    """The oracle's success over ``best-static`` in points, and the share of it each learned
    scheduler reaches (None without both references)."""
    if ORACLE not in rows or BEST_STATIC not in rows:
        return None
    best = rows[BEST_STATIC]["success_ratio"]
    room = 100 * (rows[ORACLE]["success_ratio"] - best)
    out = {"oracle_over_best_static_points": room}
    for name in SCHEDULERS.names(checkpoint=True):
        if name in rows:
            gain = 100 * (rows[name]["success_ratio"] - best)
            out[f"{name}_over_best_static_points"] = gain
            out[f"{name}_share_of_headroom"] = gain / room if room > 0 else float("nan")
    return out


def lambda_table(results: list[StreamResult]) -> dict[str, dict[float, float]]:
    """Success ratio per scheduler per lambda in force, pooled over windows and seeds."""
    acc: dict[str, dict[float, np.ndarray]] = defaultdict(dict)
    for r in results:
        for lam, wc in zip(r.window_lam, r.window_counts, strict=True):
            key = float(lam)
            acc[r.scheduler][key] = acc[r.scheduler].get(key, np.zeros(3)) + wc.sum(axis=0)
    return {
        s: {lam: float(c[0] / c.sum()) if c.sum() else float("nan") for lam, c in sorted(d.items())}
        for s, d in acc.items()
    }


# ----------------------------------------------------------------------------- files


def write_results_csv(path: Path, results: list[StreamResult]) -> None:
    """One row per (scheduler, seed, application) with outcome counts and delays."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "scheduler",
                "seed",
                "application",
                "queries",
                "success",
                "violation",
                "rejection",
                "success_ratio",
                "p50_delay_ms",
                "p99_delay_ms",
            ]
        )
        for r in results:
            for p, app in enumerate(r.apps):
                c = r.counts[p]
                total = int(c.sum())
                p50 = hist_percentile(r.hist[p], 50)
                p99 = hist_percentile(r.hist[p], 99)
                w.writerow(
                    [
                        r.scheduler,
                        r.seed,
                        app,
                        total,
                        int(c[0]),
                        int(c[1]),
                        int(c[2]),
                        f"{c[0] / total:.6f}" if total else "",
                        "" if math.isnan(p50) else f"{p50:.3f}",
                        "" if math.isnan(p99) else f"{p99:.3f}",
                    ]
                )


def write_timeseries_csv(path: Path, results: list[StreamResult]) -> None:
    """One row per (scheduler, seed, window): lambda in force, outcome counts, policy."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "scheduler",
                "seed",
                "window_start_s",
                "lam",
                "success",
                "violation",
                "rejection",
                "policy",
            ]
        )
        for r in results:
            for i, wc in enumerate(r.window_counts):
                c = wc.sum(axis=0)
                choice = int(r.choices[i]) if i < r.choices.size else -1
                w.writerow(
                    [
                        r.scheduler,
                        r.seed,
                        f"{i * r.window_s:g}",
                        f"{r.window_lam[i]:g}",
                        int(c[0]),
                        int(c[1]),
                        int(c[2]),
                        STATIC_NAMES[choice] if choice >= 0 else r.scheduler,
                    ]
                )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.3f}%"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _load_text(summary: dict[str, Any]) -> str:
    if summary["pattern"] is None:
        return f"lambda {summary['lam']:g}"
    return f"pattern {summary['pattern']}"


def format_table(summary: dict[str, Any]) -> str:
    """Overall ratios and delays per scheduler, then success and delays per application."""
    seeds = summary["seeds"]
    load = _load_text(summary)
    head = (
        f"{summary['scenario']}: {load}, {summary['duration_s']:g} s, {len(seeds)} seed(s) "
        f"{seeds[0]}..{seeds[-1]}; delays of served queries in ms"
    )
    items = sorted(summary["schedulers"].items(), key=lambda kv: -(kv[1]["success_ratio"] or 0.0))
    cols = ["scheduler", "success", "violation", "rejection", "p50", "p99"]
    lines = [
        [
            name,
            _pct(v["success_ratio"]),
            _pct(v["violation_ratio"]),
            _pct(v["rejection_ratio"]),
            _ms(v["p50_delay_ms"]),
            _ms(v["p99_delay_ms"]),
        ]
        for name, v in items
    ]
    out = [head, *text_table(cols, lines)]
    apps = list(items[0][1]["per_app"]) if items else []
    cols2 = ["scheduler", *apps]
    lines2 = []
    for name, v in items:
        cells = [name]
        for a in apps:
            pa = v["per_app"][a]
            cells.append(
                f"{_pct(pa['success_ratio'])} {_ms(pa['p50_delay_ms'])}/{_ms(pa['p99_delay_ms'])}"
            )
        lines2.append(cells)
    out += ["", "per application (success, p50/p99 delay in ms):", *text_table(cols2, lines2)]
    room = summary.get("headroom")
    if room:
        out += [
            "",
            f"{ORACLE} over {BEST_STATIC}: {room['oracle_over_best_static_points']:+.2f} points"
            + "".join(
                f"; {k.split('_over_')[0]} {v:+.2f} points"
                for k, v in room.items()
                if k.endswith("_over_best_static_points") and not k.startswith("oracle")
            ),
        ]
    return "\n".join(out)
