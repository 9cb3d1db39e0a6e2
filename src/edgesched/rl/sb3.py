"""Stable-Baselines3 agents of the dispatch world (ASET, ECSRL): checkpoints and training.

ASET and ECSRL are Stable-Baselines3 / sb3-contrib agents; this module wraps those libraries
(it does not re-implement them) with what both agents share: where shipped checkpoints live,
loading one with errors a user can act on, and one training loop (seeded vectorised
environments, a progress bar, CSV training curves, the checkpoint and ``training.json``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.core.rng import RandomStreams

#: Algorithm name -> (module, class) of the library that implements it.
ALGORITHMS = {
    "ppo": ("stable_baselines3", "PPO"),
    "maskable-ppo": ("sb3_contrib", "MaskablePPO"),
}


def checkpoint_dir(agent: str) -> Path:
    """The folder of an agent's shipped checkpoints and model card."""
    return Path(str(resources.files("edgesched.rl") / "checkpoints" / agent))


def shipped_checkpoint(agent: str, scenario: str) -> Path | None:
    """The shipped checkpoint of ``agent`` for a scenario name, or None when there is none."""
    path = checkpoint_dir(agent) / f"{scenario}.zip"
    return path if path.is_file() else None


def algorithm(name: str) -> Any:
    """The class implementing an algorithm of :data:`ALGORITHMS`."""
    import importlib

    module, cls = ALGORITHMS[name]
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as exc:  # pragma: no cover - declared dependencies
        raise ConfigError(f"{cls} needs the package {module} ({exc}).") from None


def resolve_checkpoint(agent: str, checkpoint: Path | str | None, scenario: str) -> Path:
    """The checkpoint given, else the one shipped for ``scenario``; a ConfigError if none."""
    path = Path(checkpoint) if checkpoint is not None else shipped_checkpoint(agent, scenario)
    if path is None:
        raise ConfigError(
            f"{agent}: no shipped checkpoint for scenario {scenario!r}; train one with "
            f"`edgesched train {agent} SCENARIO` and pass --checkpoint."
        )
    return path


def load_model(algo: str, path: Path, agent: str) -> Any:
    """Load a checkpoint on the CPU; a ConfigError naming the file when it cannot be read."""
    cls = algorithm(algo)
    if not path.is_file():
        raise ConfigError(f"--checkpoint {path}: no such file.")
    try:
        return cls.load(str(path), device="cpu")
    except Exception as exc:
        raise ConfigError(
            f"--checkpoint {path}: not a readable {agent.upper()} checkpoint ({exc})."
        ) from None


def train(
    agent: str,
    algo: str,
    make_env: Callable[[], Any],
    *,
    steps: int,
    out: Path,
    seed: int,
    n_envs: int,
    rollout: int,
    hyper: dict[str, Any],
    info: dict[str, Any],
    metric: str = "mean reward",
    window: int = 2000,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Train ``agent`` with ``algo`` on ``n_envs`` copies of ``make_env()``.

    Writes ``{agent}.zip`` and the training curves ``logs/progress.csv`` into ``out``; returns
    ``info`` plus steps, seed and wall time (what `edgesched train` records in
    ``training.json``).
    Every environment and the learner are seeded from ``seed`` through per-purpose streams;
    torch runs on one thread, so a run is reproducible on one machine.

    Args:
        rollout: steps per environment and rollout (and the largest minibatch); shorter
            rollouts (and one full-rollout minibatch) only when the whole budget is smaller.
        hyper: the algorithm's keyword arguments beyond rollout, batch size and seed.
        metric, window: the name of the mean reward shown on the progress bar, and over how
            many recent steps it is averaged.
    """
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv
    from tqdm import tqdm

    if steps < 1:
        raise ConfigError(f"--steps {steps}: expected a whole number >= 1.")
    torch.set_num_threads(1)
    seeds = RandomStreams(seed)

    def thunk(i: int) -> Callable[[], Any]:
        def build() -> Any:
            env = make_env()
            env.reset(seed=seeds.child_seed(f"env-{i}"))
            return env

        return build

    venv = DummyVecEnv([thunk(i) for i in range(n_envs)])
    venv.seed(seeds.child_seed("vec"))
    n_steps = min(rollout, max(16, -(-steps // n_envs)))
    model = algorithm(algo)(
        "MlpPolicy",
        venv,
        n_steps=n_steps,
        batch_size=rollout if n_steps == rollout else n_steps * n_envs,
        seed=seeds.child_seed("ppo"),
        device="cpu",
        verbose=0,
        **hyper,
    )
    key = metric.replace(" ", "_")

    class Progress(BaseCallback):
        """A progress bar on a terminal, a line every 5 % otherwise."""

        def __init__(self, bar: Any) -> None:
            super().__init__()
            self.bar = bar
            self.rewards: list[float] = []
            self.next = 0

        def _on_step(self) -> bool:
            rewards = self.locals["rewards"]
            self.rewards.extend(float(r) for r in rewards)
            self.bar.update(int(rewards.size))
            if self.num_timesteps >= self.next:
                recent = self.rewards[-window:]
                mean = float(np.mean(recent)) if recent else float("nan")
                self.logger.record(f"train/{key}", mean)
                if self.bar.disable:
                    log(f"step {self.num_timesteps:>7}/{steps}  {metric} {mean:.4f}")
                else:
                    self.bar.set_postfix({metric: f"{mean:.4f}"})
                self.next += max(steps // 20, 1)
            return True

    out.mkdir(parents=True, exist_ok=True)
    model.set_logger(configure(str(out / "logs"), ["csv"]))
    start = time.perf_counter()
    with tqdm(total=steps, desc=f"train {agent}", unit="step", disable=None) as bar:
        model.learn(total_timesteps=steps, callback=Progress(bar))
    wall = time.perf_counter() - start
    model.save(str(out / f"{agent}.zip"))
    record = {
        "agent": agent,
        **{k: v for k, v in info.items() if k != "agent"},
        "steps": steps,
        "seed": seed,
        "n_envs": n_envs,
        "wall_s": round(wall, 1),
        "torch_threads": 1,
    }
    return record
