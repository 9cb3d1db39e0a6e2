"""Training throughput, local vs Ray rollout workers (JSON on stdout).

Usage: python benchmarks/ray_train.py [--agent aset|ecsrl|tapfinger] [--steps N] [--seed 0]

Runs `edgesched train AGENT --steps N` three times: local, ``--executor ray --workers 1`` and
``--workers 2``, with the trainer's default environments (aset, ecsrl: 4; tapfinger: 16
worlds). ``learn_steps_per_s`` is steps over the training loop's wall time (rollouts and
updates; tapfinger: after its first update, whose time is ``first_update_s``);
``learn_decisions_per_s`` counts decisions: one per step for aset and ecsrl, one per
agent that had a task to place for tapfinger (``progress.decisions``). ``total_s`` also counts
building the environments and starting and stopping Ray's local cluster, as the command does.
``identical`` says whether each Ray run's weights match the local run's (tapfinger: the whole
checkpoint, optimizer and generators included, wall time aside). ``load_avg`` is the 1-minute
load average before and after each run (the machine is shared).

``--split`` (tapfinger) also times, in three more runs, the worlds' part of the loop (stepping
them and building their graph views: ``VecWorlds`` locally, the round trips to the actors on
Ray) against the whole loop, and the CPU time of the learner and of the actors (which,
unlike wall time, the other jobs of a shared machine do not inflate).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from edgesched.experiments.train import TrainOptions, train
from edgesched.rl.sb3 import WEIGHTS

#: Default steps per agent: about 20-40 s of local training on a 2-core machine.
STEPS = {"aset": 8192, "ecsrl": 8192, "tapfinger": 4096}


def tapfinger_state(out: Path) -> list[Any]:
    """The checkpoint without wall time, flattened to comparable values."""
    import torch

    def flat(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return (str(x.dtype), tuple(x.shape), x.numpy().tobytes())
        if isinstance(x, dict):
            return [(k, flat(v)) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))]
        if isinstance(x, list | tuple):
            return [flat(v) for v in x]
        if isinstance(x, float) and math.isnan(x):
            return "nan"  # no evaluation yet: nan on both sides
        return x

    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    ckpt["progress"].pop("wall_s", None)
    return flat(ckpt)


def run(agent: str, steps: int, seed: int, out: Path, **rollouts: Any) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = train(
        agent, None, TrainOptions(steps=steps, seed=seed, out=out, log=lambda _: None, **rollouts)
    )
    total = time.perf_counter() - start
    if agent == "tapfinger":
        # the rate after the first update: its wall time (``wall_s``) also counts building
        # the worlds (starting the actors, on Ray) and the first pass's warm-up
        with (out / "progress.csv").open() as f:
            rows = list(csv.DictReader(f))
        first, last = rows[0], rows[-1]
        wall = float(last["wall_s"]) - float(first["wall_s"])
        done = int(last["steps"]) - int(first["steps"])
        decisions = int(last["decisions"]) - int(first["decisions"])
        first_update_s = float(first["wall_s"])
        state = tapfinger_state(out)
    else:
        wall, done, decisions = float(result.info["wall_s"]), steps, steps
        first_update_s = None
        with zipfile.ZipFile(out / f"{agent}.zip") as zf:
            state = zf.read(WEIGHTS)
    return {
        "learn_s": round(wall, 2),
        "steps": done,
        "learn_steps_per_s": round(done / wall, 1) if wall else None,
        "learn_decisions_per_s": round(decisions / wall, 1) if wall else None,
        "total_s": round(total, 2),
        "first_update_s": first_update_s,
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "state": state,
    }


class TimedWorlds:
    """A trainer's worlds, the time spent in them counted."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds, self.rounds = inner, 0.0, 0

    @property
    def finished(self) -> Any:
        return self.inner.finished

    @finished.setter
    def finished(self, value: Any) -> None:
        self.inner.finished = value

    def graphs(self) -> Any:
        start = time.perf_counter()
        out = self.inner.graphs()
        self.seconds += time.perf_counter() - start
        return out

    def step(self, *args: Any) -> Any:
        start = time.perf_counter()
        out = self.inner.step(*args)
        self.seconds += time.perf_counter() - start
        self.rounds += 1
        return out


def tapfinger_split(steps: int, seed: int, workers: int | None, out: Path) -> dict[str, Any]:
    """The worlds' share of one TapFinger training loop (default configuration)."""
    from edgesched.rl.tapfinger.mappo import TrainConfig
    from edgesched.rl.tapfinger.mappo import train as train_loop
    from edgesched.rl.tapfinger.ray_worlds import RayRollouts
    from edgesched.rl.tapfinger.vec import VecWorlds

    cfg = TrainConfig(steps=steps, seed=seed, checkpoint_every=10**6)
    made: list[TimedWorlds] = []
    rollouts = RayRollouts(workers) if workers else None

    build = [0.0]

    def worlds(c: TrainConfig, rng: Any) -> Any:
        start = time.perf_counter()
        inner = (
            rollouts.worlds(c, rng)
            if rollouts
            else VecWorlds(c.scenario, c.num_envs, rng=rng, tasks=c.tasks, mode=c.mode)
        )
        build[0] = time.perf_counter() - start
        if rollouts:  # the actors' CPU time of their start-up, not counted below
            build.append(sum(rollouts.ray.get([a.cpu_seconds.remote() for a in inner.actors])))
        made.append(TimedWorlds(inner))
        return made[-1]

    load_before = os.getloadavg()[0]
    cpu = time.process_time()
    try:
        train_loop(cfg, out, worlds=worlds, progress_bar=False)
        cpu = time.process_time() - cpu
        inner = made[0].inner
        actors_cpu = (
            sum(rollouts.ray.get([a.cpu_seconds.remote() for a in inner.actors])) - build[1]
            if rollouts
            else 0.0
        )
    finally:
        if rollouts:
            rollouts.close()
    import torch

    wall = torch.load(out / "checkpoint.pt", weights_only=True)["progress"]["wall_s"]
    loop = wall - build[0]  # the loop only, without building the worlds
    timed = made[0]
    return {
        "build_s": round(build[0], 2),
        "loop_s": round(loop, 2),
        "worlds_s": round(timed.seconds, 2),
        "worlds_share": round(timed.seconds / loop, 3),
        "worlds_ms_per_round": round(1000 * timed.seconds / timed.rounds, 2),
        # CPU seconds (not wall) of the run: the learner's, and the actors' after start-up
        "learner_cpu_s": round(cpu, 2),
        "actors_cpu_s": round(actors_cpu, 2),
        "rounds": timed.rounds,
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


#: The runs compared: name and executor options.
RUNS: dict[str, dict[str, Any]] = {
    "local": {},
    "ray_1_worker": {"executor": "ray", "workers": 1},
    "ray_2_workers": {"executor": "ray", "workers": 2},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default="aset", choices=sorted(STEPS))
    ap.add_argument("--steps", type=int, help="default: 8192 (aset, ecsrl), 4096 (tapfinger)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each, interleaved (local, ray 1, ray 2, local, ...); the rates reported "
        "are the medians, every run's in 'runs'",
    )
    ap.add_argument("--split", action="store_true", help="tapfinger: time the worlds' share")
    args = ap.parse_args()
    args.steps = args.steps or STEPS[args.agent]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in RUNS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            for name, rollouts in RUNS.items():
                out = Path(tmp) / f"{name}-{r}"
                runs[name].append(run(args.agent, args.steps, args.seed, out, **rollouts))
    base = runs["local"][0]["state"]
    results: dict[str, Any] = {}
    for name, done in runs.items():
        summary: dict[str, Any] = {
            key: statistics.median(d[key] for d in done)
            for key in ("learn_s", "learn_steps_per_s", "learn_decisions_per_s", "total_s")
        }
        summary["identical"] = all(d.pop("state") == base for d in done)
        summary["runs"] = done
        results[name] = summary
    if args.split and args.agent == "tapfinger":
        with tempfile.TemporaryDirectory() as tmp:
            results["split"] = {
                name: tapfinger_split(
                    args.steps, args.seed, RUNS[name].get("workers"), Path(tmp) / name
                )
                for name in RUNS
            }
    print(
        json.dumps(
            {
                "agent": args.agent,
                "steps": args.steps,
                "seed": args.seed,
                "n_envs": 16 if args.agent == "tapfinger" else 4,
                "cpus": os.cpu_count(),
                **results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
