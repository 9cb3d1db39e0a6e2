"""TapFinger's decision latency and training throughput; prints one JSON object.

    python benchmarks/tapfinger.py [--checkpoint PATH] [--train-seconds S]

- decision_ms: wall time of one decision round (graph view built, one forward pass, the
  decisions of every cluster) of the shipped synthetic-3 model on one CPU thread, at 3
  clusters (synthetic-3) and 6 clusters (synthetic-6, the same model: the network does not
  depend on the number of clusters), p50 and p99 over the rounds of one episode each,
  through the fused dense path the scheduler uses (``fast``), that path with its
  deterministic part in ONNX Runtime (``onnx``, ``make("tapfinger", ..., onnx=True)``) and
  the reference PyG network (``reference``); ``decision_cpu_ms``: the same rounds in this
  thread's CPU time, which a busy shared machine inflates less than wall time;
- load_average: the machine's 1-minute load average before and after the timings;
- train_decisions_per_s: agent decisions per second of the default training run (rollouts
  and PPO updates included), one thread, over ``--train-seconds``.

Without a shipped checkpoint, an untrained network of the default size is timed (and
``"checkpoint": null`` says so).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgesched.placement.scenario import load_scenario
from edgesched.placement.sim import PlacementSim
from edgesched.placement.workload import workload
from edgesched.rl.tapfinger.checkpoint import load_checkpoint, save_checkpoint
from edgesched.rl.tapfinger.mappo import TrainConfig, net_config, train
from edgesched.rl.tapfinger.network import TapFingerNet, ValueNorm
from edgesched.rl.tapfinger.scheduler import TapFingerScheduler, shipped_checkpoint


def round_times(
    ckpt: dict, scenario_name: str, engine: str, seed: int = 1000
) -> tuple[list[float], list[float]]:
    """Milliseconds per decision round over one episode: wall time and thread CPU time."""
    scenario, _ = load_scenario(scenario_name)
    sim = PlacementSim(scenario, workload(scenario, seed), seed, record=False)
    sched = TapFingerScheduler.from_contents(
        ckpt, threads=1, fast=engine != "reference", onnx=engine == "onnx"
    )
    sched.reset(sim, sim.streams["policy"])
    times: list[float] = []
    cpu: list[float] = []
    while not sim.done:
        sim.begin_timestep()
        while True:
            t0, c0 = time.perf_counter(), time.thread_time()
            decisions = sched.decide(sim)
            cpu.append((time.thread_time() - c0) * 1000)
            times.append((time.perf_counter() - t0) * 1000)
            if not (sim.apply_round(decisions) and sim.multi_task):
                break
        sim.end_timestep()
    return times, cpu


def percentiles(ms: list[float]) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(ms, 50)), 3),
        "p99": round(float(np.percentile(ms, 99)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="default: the shipped synthetic-3 one")
    parser.add_argument("--train-seconds", type=float, default=20.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = args.checkpoint or shipped_checkpoint("synthetic-3")
    with tempfile.TemporaryDirectory() as tmp:
        if path is None:
            cfg = TrainConfig()
            sc, _ = load_scenario("synthetic-3")
            from edgesched.placement.observation import Layout

            net = TapFingerNet(net_config(Layout(sc), cfg))
            path_used = Path(tmp) / "untrained.pt"
            save_checkpoint(path_used, net, ValueNorm(), cfg, None, {}, None, None)
            ckpt = load_checkpoint(path_used)
        else:
            ckpt = load_checkpoint(path)
        load_before = os.getloadavg()[0]
        engines = ("onnx", "fast", "reference")
        latency: dict[str, dict[str, dict[str, float]]] = {e: {} for e in engines}
        cpu: dict[str, dict[str, dict[str, float]]] = {e: {} for e in engines}
        rounds = {}
        for path_name in engines:
            for n, name in (("3", "synthetic-3"), ("6", "synthetic-6")):
                round_times(ckpt, name, path_name)  # warm-up episode (and ONNX export)
                ms, cpu_ms = round_times(ckpt, name, path_name)
                latency[path_name][n] = percentiles(ms)
                cpu[path_name][n] = percentiles(cpu_ms)
                rounds[n] = len(ms)
        load_after = os.getloadavg()[0]
        out = Path(tmp) / "train"
        cfg = TrainConfig(budget_s=args.train_seconds, eval_every=0, checkpoint_every=10**9)
        t0 = time.perf_counter()
        last = train(cfg, out, progress_bar=False)
        wall = time.perf_counter() - t0
        decisions = load_checkpoint(last)["progress"]["decisions"]
    print(
        json.dumps(
            {
                "decision_ms": latency,
                "decision_cpu_ms": cpu,
                "train_decisions_per_s": round(decisions / wall, 1),
                "rounds_timed": rounds,
                "load_average": {
                    "before_latency": round(load_before, 2),
                    "after_latency": round(load_after, 2),
                    "after_training": round(os.getloadavg()[0], 2),
                },
                "cpus": os.cpu_count(),
                "checkpoint": str(path) if path is not None else None,
                "torch": torch.__version__,
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
