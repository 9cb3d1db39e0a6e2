"""ASET against every static policy and the per-window oracle across loads: the evaluation
of a checkpoint (issue 11's targets), and the figures of ASET's Figs. 2 and 3.

Runs every static policy, ``oracle-window`` and ``aset`` on a streams scenario (600 s) at
lambda in {20, 40, 60, 80, 100} and under the ``fast`` and ``steady`` patterns, on seeds the
checkpoint never saw (default 1000..1009), and prints one JSON object: per condition, the
success, violation and rejection ratios of each scheduler (pooled over seeds), the best single
static policy, ``best-static`` (each seed's best static policy, pooled), the oracle's headroom
over both, and ASET's margin over them in points with its share of the headroom. With
``--out DIR`` it writes ``sweep.json`` (with every scheduler's success per window) and then,
reading that file back, the figures (see :func:`plot_sweep`).

    python benchmarks/dispatch_lambda_sweep.py --seeds 10 --jobs 2 --out runs/sweep
    python benchmarks/dispatch_lambda_sweep.py --plot-only runs/sweep   # figures again

With ``--cache DIR`` every finished condition's runs are kept in DIR (one pickle per run,
keyed by scenario, condition, scheduler, seed, duration and, for ``aset``, the checkpoint's
SHA-256), so an interrupted sweep, or one with a new checkpoint, runs only what is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.dispatch.streams.scenario import load
from edgesched.dispatch.streams.schedulers import STATIC_NAMES
from edgesched.experiments.backend import Prepared
from edgesched.experiments.runner import run_cells
from edgesched.experiments.worlds.streams import run_cell
from edgesched.experiments.worlds.streams_plots import (
    plot_outcomes_by_policy,
    plot_patterns,
    plot_success_over_time,
    plot_success_vs_lambda,
    success_series,
)

LAMBDAS = (20.0, 40.0, 60.0, 80.0, 100.0)
CONDITIONS: list[tuple[str, float, str | None]] = [
    *((f"lambda={lam:g}", lam, None) for lam in LAMBDAS),
    ("fast", 60.0, "fast"),
    ("steady", 60.0, "steady"),
]
ORACLE = "oracle-window"


def _ratios(c: np.ndarray) -> dict[str, float]:
    tot = float(c.sum())
    return {
        "success_ratio": float(c[0] / tot),
        "violation_ratio": float(c[1] / tot),
        "rejection_ratio": float(c[2] / tot),
    }


def evaluate(
    scenario: str,
    seeds: list[int],
    checkpoint: Path | None,
    duration_s: float,
    jobs: int | None,
    conditions: list[tuple[str, float, str | None]],
    cache: Path | None = None,
) -> dict[str, Any]:
    from edgesched.rl.aset import shipped_checkpoint

    checkpoint = checkpoint or shipped_checkpoint(scenario)
    names = [*STATIC_NAMES, ORACLE, *(["aset"] if checkpoint else [])]
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16] if checkpoint else ""
    prepared = {
        label: Prepared(
            load(scenario, lam=lam, pattern=pattern, duration_s=duration_s), scenario, checkpoint
        )
        for label, lam, pattern in conditions
    }

    def key(label: str, name: str, seed: int) -> str:
        tag = f"{scenario}|{label}|{name}|{seed}|{duration_s}|{digest if name == 'aset' else ''}"
        return hashlib.sha256(tag.encode()).hexdigest()[:24]

    # seed by seed, every condition: an interrupted cached sweep has whole seeds done
    cells = [(label, name, seed) for seed in seeds for label, _, _ in conditions for name in names]
    done: dict[tuple[str, str, int], Any] = {}
    for seed in seeds:
        for label, _, _ in conditions:
            group = [(label, n, seed) for n in names]
            todo = [c for c in group if cache is None or not (cache / f"{key(*c)}.pkl").is_file()]
            got = run_cells(
                run_cell,
                [(prepared[c[0]], c[1], c[2]) for c in todo],
                jobs=jobs,
                desc=f"sweep {label} seed {seed}",
            )
            done.update(zip(todo, got, strict=True))
            if cache is not None:
                cache.mkdir(parents=True, exist_ok=True)
                for c, r in zip(todo, got, strict=True):
                    (cache / f"{key(*c)}.pkl").write_bytes(pickle.dumps(r))
                for c in group:
                    if c not in done:
                        done[c] = pickle.loads((cache / f"{key(*c)}.pkl").read_bytes())
    results = [done[c] for c in cells]
    table: dict[str, Any] = {}
    for label, _, _ in conditions:
        mine = [(n, s, r) for (lbl, n, s), r in zip(cells, results, strict=True) if lbl == label]
        counts: dict[str, np.ndarray] = {}
        per_seed: dict[int, dict[str, np.ndarray]] = {}
        for name, seed, r in mine:
            c = r.counts.sum(axis=0)
            counts[name] = counts.get(name, np.zeros(3)) + c
            per_seed.setdefault(seed, {})[name] = c
        hindsight = np.zeros(3)
        for by_name in per_seed.values():
            hindsight += max(
                (by_name[n] for n in STATIC_NAMES), key=lambda c: float(c[0] / c.sum())
            )
        rows = {n: _ratios(c) for n, c in counts.items()}
        rows["best-static"] = _ratios(hindsight)
        best_single = max(STATIC_NAMES, key=lambda n: rows[n]["success_ratio"])
        single = rows[best_single]["success_ratio"]
        hind = rows["best-static"]["success_ratio"]
        oracle = rows[ORACLE]["success_ratio"]
        row: dict[str, Any] = {
            "schedulers": rows,
            "best_single_static": best_single,
            "oracle_over_best_single_points": 100 * (oracle - single),
            "oracle_over_best_static_points": 100 * (oracle - hind),
            "series": {
                k: [round(float(x), 5) for x in v]
                for k, v in success_series([r for _, _, r in mine]).items()
            },
            "window_s": float(mine[0][2].window_s),
            "window_lam": mine[0][2].window_lam.tolist(),
        }
        if "aset" in rows:
            a = rows["aset"]["success_ratio"]
            room = oracle - single
            row["aset_over_best_single_points"] = 100 * (a - single)
            row["aset_over_best_static_points"] = 100 * (a - hind)
            # a share of under 0.1 points of headroom means nothing
            row["aset_share_of_oracle_headroom"] = (a - single) / room if room > 0.001 else None
            picks = np.concatenate([r.choices for n, _, r in mine if n == "aset"])
            row["aset_policy_share"] = {
                STATIC_NAMES[i]: round(float(np.mean(picks == i)), 4)
                for i in range(len(STATIC_NAMES))
                if np.any(picks == i)
            }
        table[label] = row
    return {
        "scenario": scenario,
        "seeds": seeds,
        "duration_s": duration_s,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "conditions": table,
    }


def plot_sweep(out: Path) -> list[Path]:
    """The figures of a recorded sweep (``out/sweep.json``), written beside it: success
    against lambda (Fig. 2b), success per window of every scheduler and the outcome shares by
    scheduler at each constant load (Figs. 2a, 2c-d), and the two load patterns (Fig. 3)."""
    report = json.loads((out / "sweep.json").read_text())
    conds = report["conditions"]
    written = []
    curves: dict[str, dict[float, float]] = {}
    for label, row in conds.items():
        if label.startswith("lambda="):
            lam = float(label.split("=")[1])
            for name, v in row["schedulers"].items():
                curves.setdefault(name, {})[lam] = v["success_ratio"]
    if curves:
        written.append(out / "success_vs_lambda.png")
        plot_success_vs_lambda(written[-1], curves)
    for label, row in conds.items():
        tag = label.replace("=", "")
        title = f"{report['scenario']}: {label}, {len(report['seeds'])} seeds"
        written.append(out / f"success_over_time_{tag}.png")
        plot_success_over_time(
            written[-1], row["series"], row["window_s"], row["window_lam"], title
        )
        written.append(out / f"outcomes_{tag}.png")
        plot_outcomes_by_policy(written[-1], row["schedulers"], title)
    panels = {p: conds[p]["series"] for p in ("fast", "steady") if p in conds}
    if panels:
        written.append(out / "patterns.png")
        lams = {p: conds[p]["window_lam"] for p in panels}
        window_s = next(iter(conds[p]["window_s"] for p in panels))
        plot_patterns(written[-1], panels, lams, window_s)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="aset-full-edge", help="streams preset or YAML")
    parser.add_argument("--seeds", type=int, default=10, help="how many unseen seeds")
    parser.add_argument("--first-seed", type=int, default=1000, help="first evaluation seed")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--checkpoint", type=Path, help="ASET checkpoint (default: shipped)")
    parser.add_argument("--jobs", type=int, help="worker processes (default: one per core)")
    parser.add_argument(
        "--conditions", help="comma-separated subset of " + ",".join(c[0] for c in CONDITIONS)
    )
    parser.add_argument("--out", type=Path, help="folder for sweep.json and the figures")
    parser.add_argument("--plot-only", type=Path, metavar="DIR", help="redraw DIR's figures")
    parser.add_argument("--cache", type=Path, metavar="DIR", help="keep and reuse runs in DIR")
    args = parser.parse_args()
    if args.plot_only is not None:
        for p in plot_sweep(args.plot_only):
            print(p)
        return
    conditions = CONDITIONS
    if args.conditions:
        wanted = args.conditions.split(",")
        conditions = [c for w in wanted for c in CONDITIONS if c[0] == w]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    report = evaluate(
        args.scenario, seeds, args.checkpoint, args.duration, args.jobs, conditions, args.cache
    )
    brief = {
        k: {kk: vv for kk, vv in v.items() if kk not in ("series", "window_lam")}
        for k, v in report["conditions"].items()
    }
    print(json.dumps({**report, "conditions": brief}, indent=2))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "sweep.json").write_text(json.dumps(report, indent=1) + "\n")
        plot_sweep(args.out)


if __name__ == "__main__":
    main()
