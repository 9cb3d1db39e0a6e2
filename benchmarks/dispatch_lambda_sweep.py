"""ASET against every static policy across loads: the evaluation of the shipped checkpoint.

Runs every static policy and ``aset`` on ``aset-full-edge`` (600 s) at lambda in
{20, 40, 60, 80, 100} and under the ``fast`` and ``steady`` patterns, on seeds the checkpoint
never saw (default 1000..1009), and prints one JSON object: per condition, the success ratio
of each scheduler (pooled over seeds), the best single static policy, ``best-static`` in
hindsight per seed, and ASET's margin over the best single static policy in points. With
``--out DIR`` it also writes ``sweep.json`` and ``success_vs_lambda.png`` there.

    python benchmarks/dispatch_lambda_sweep.py --seeds 10 --out runs/sweep
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.dispatch.streams.scenario import load
from edgesched.dispatch.streams.schedulers import STATIC_NAMES
from edgesched.experiments.runner import run_cells
from edgesched.experiments.worlds.streams import (
    PreparedDispatch,
    plot_success_vs_lambda,
    run_cell,
)

CONDITIONS: list[tuple[str, float, str | None]] = [
    *((f"lambda={lam:g}", lam, None) for lam in (20.0, 40.0, 60.0, 80.0, 100.0)),
    ("fast", 60.0, "fast"),
    ("steady", 60.0, "steady"),
]


def evaluate(
    scenario: str, seeds: list[int], checkpoint: Path | None, duration_s: float, jobs: int | None
) -> dict[str, Any]:
    from edgesched.rl.aset import shipped_checkpoint

    checkpoint = checkpoint or shipped_checkpoint(scenario)
    names = [*STATIC_NAMES, *(["aset"] if checkpoint else [])]
    cells = []
    for label, lam, pattern in CONDITIONS:
        world = load(scenario, lam=lam, pattern=pattern, duration_s=duration_s)
        prepared = PreparedDispatch(world, scenario, checkpoint)
        cells += [(label, prepared, name, seed) for name in names for seed in seeds]
    results = run_cells(run_cell, [c[1:] for c in cells], jobs=jobs, desc="sweep")
    table: dict[str, Any] = {}
    for label, _, _ in CONDITIONS:
        counts: dict[str, np.ndarray] = {}
        per_seed: dict[str, dict[int, float]] = {}
        for (lbl, _, name, seed), r in zip(cells, results, strict=True):
            if lbl != label:
                continue
            counts[name] = counts.get(name, np.zeros(3)) + r.counts.sum(axis=0)
            c = r.counts.sum(axis=0)
            per_seed.setdefault(name, {})[seed] = float(c[0] / c.sum())
        success = {n: float(c[0] / c.sum()) for n, c in counts.items()}
        best_single = max(STATIC_NAMES, key=lambda n: success[n])
        hindsight = float(np.mean([max(per_seed[n][s] for n in STATIC_NAMES) for s in seeds]))
        row: dict[str, Any] = {
            "success_ratio": success,
            "best_single_static": best_single,
            "best_single_static_success": success[best_single],
            "best_static_hindsight_success": hindsight,
        }
        if "aset" in success:
            row["aset_minus_best_single_points"] = 100 * (success["aset"] - success[best_single])
            row["aset_minus_hindsight_points"] = 100 * (success["aset"] - hindsight)
        table[label] = row
    return {
        "scenario": scenario,
        "seeds": seeds,
        "duration_s": duration_s,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "conditions": table,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="aset-full-edge")
    parser.add_argument("--seeds", type=int, default=10, help="how many unseen seeds")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    report = evaluate(args.scenario, seeds, args.checkpoint, args.duration, args.jobs)
    print(json.dumps(report, indent=2))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "sweep.json").write_text(json.dumps(report, indent=2) + "\n")
        curves: dict[str, dict[float, float]] = {}
        for label, lam, pattern in CONDITIONS:
            if pattern is None:
                for name, value in report["conditions"][label]["success_ratio"].items():
                    curves.setdefault(name, {})[lam] = value
        plot_success_vs_lambda(args.out / "success_vs_lambda.png", curves)


if __name__ == "__main__":
    main()
