"""Local vs Ray executor: wall time of a compare and of a 200-cell sweep (JSON on stdout).

Usage: python benchmarks/ray_compare.py [--cells-only] [--scenario synthetic-3 --seeds 2]

Ray's times include starting and stopping its local cluster (as `--executor ray` does).
The per-cell overhead is (Ray wall - local wall) / cells.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from edgesched.experiments.compare import compare
from edgesched.experiments.sweep import run_sweep

TINY = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny.yaml"

SWEEP = f"""\
base: {TINY}
grid:
  workload.arrivals.rate: [0.5, 0.75, 1, 1.5, 2]
  clusters.0.count: [1, 2]
schedulers: [min, tetris, optimus, tiresias]
seeds: 5
"""


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="synthetic-3")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--cells-only", action="store_true", help="only the 200-cell sweep")
    args = ap.parse_args()
    jobs = os.cpu_count() or 1
    out: dict[str, object] = {"cores": jobs}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        spec = t / "sweep.yaml"
        spec.write_text(SWEEP)
        local = timed(lambda: run_sweep(spec, t / "sl", jobs=jobs, progress=False))
        ray = timed(lambda: run_sweep(spec, t / "sr", executor="ray", jobs=jobs, progress=False))
        same = (t / "sl" / "results.csv").read_bytes() == (t / "sr" / "results.csv").read_bytes()
        out["sweep"] = {
            "cells": 200,
            "local_s": round(local, 2),
            "ray_s": round(ray, 2),
            "ratio": round(ray / local, 3),
            "overhead_ms_per_cell": round(1000 * (ray - local) / 200, 1),
            "identical": same,
        }
        if not args.cells_only:
            seeds = list(range(args.seeds))
            kw = {"seeds": seeds, "jobs": jobs, "progress": False}
            local = timed(lambda: compare(args.scenario, out=t / "cl", **kw))  # type: ignore[arg-type]
            ray = timed(lambda: compare(args.scenario, out=t / "cr", executor="ray", **kw))  # type: ignore[arg-type]
            out["compare"] = {
                "scenario": args.scenario,
                "seeds": args.seeds,
                "local_s": round(local, 2),
                "ray_s": round(ray, 2),
                "ratio": round(ray / local, 3),
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
