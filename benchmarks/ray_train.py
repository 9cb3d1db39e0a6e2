"""Training throughput, local vs Ray rollout workers (JSON on stdout).

Usage: python benchmarks/ray_train.py [--agent aset] [--steps 8192] [--seed 0]

Runs `edgesched train AGENT --steps N` three times: local, ``--executor ray --workers 1`` and
``--workers 2`` (4 environments each, as the trainer's default). ``learn_steps_per_s`` is steps
over the training loop's wall time (``wall_s`` of ``training.json``: rollouts and PPO updates);
``total_s`` also counts building the environments and starting and stopping Ray's local
cluster, as the command does. ``identical`` says whether each Ray run's policy weights match
the local run's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from edgesched.experiments.train import TrainOptions, train
from edgesched.rl.sb3 import WEIGHTS


def run(agent: str, steps: int, seed: int, out: Path, **rollouts: Any) -> dict[str, Any]:
    start = time.perf_counter()
    result = train(
        agent, None, TrainOptions(steps=steps, seed=seed, out=out, log=lambda _: None, **rollouts)
    )
    total = time.perf_counter() - start
    with zipfile.ZipFile(out / f"{agent}.zip") as zf:
        weights = zf.read(WEIGHTS)
    wall = float(result.info["wall_s"])
    return {
        "learn_s": wall,
        "learn_steps_per_s": round(steps / wall, 1) if wall else None,
        "total_s": round(total, 2),
        "weights": weights,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default="aset", choices=["aset", "ecsrl"])
    ap.add_argument("--steps", type=int, default=8192)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "local": run(args.agent, args.steps, args.seed, Path(tmp) / "local"),
            "ray_1_worker": run(
                args.agent, args.steps, args.seed, Path(tmp) / "r1", executor="ray", workers=1
            ),
            "ray_2_workers": run(
                args.agent, args.steps, args.seed, Path(tmp) / "r2", executor="ray", workers=2
            ),
        }
    base = results["local"].pop("weights")
    for name in ("ray_1_worker", "ray_2_workers"):
        results[name]["identical"] = results[name].pop("weights") == base
    print(
        json.dumps(
            {"agent": args.agent, "steps": args.steps, "seed": args.seed, "n_envs": 4, **results},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
