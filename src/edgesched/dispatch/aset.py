"""ASET: the learned meta-scheduler that picks the static policy of every window.

The agent is Stable-Baselines3's PPO (an MLP policy) trained on :class:`AsetEnv`; this module
wraps it, it does not re-implement it. :class:`AsetScheduler` loads a checkpoint and, at every
window start, feeds the simulator's observation to the policy network (deterministic action)
and routes the window's streams with the chosen static policy.

The shipped checkpoint is ``edgesched/dispatch/checkpoints/aset-full-edge.zip``; its model
card (``MODEL_CARD.md`` beside it) gives the command, seed, wall time and evaluation.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.core.rng import RandomStreams
from edgesched.dispatch.env import PolicySelector, aset_env, obs_size, observe
from edgesched.dispatch.policies import STATIC_NAMES
from edgesched.dispatch.scenario import DEFAULT_SCENARIO
from edgesched.dispatch.simulator import DispatchSim
from edgesched.dispatch.world import World

#: Training defaults of the shipped checkpoint.
TRAIN_LAMS = (20.0, 40.0, 60.0, 80.0, 100.0)
TRAIN_PATTERNS: tuple[str | None, ...] = (None, None, "fast", "steady")
DEFAULT_STEPS = 50_000


def checkpoint_dir() -> Path:
    return Path(str(resources.files("edgesched.dispatch") / "checkpoints"))


def shipped_checkpoint(scenario: str = DEFAULT_SCENARIO) -> Path | None:
    """The shipped checkpoint for a scenario name, or None when there is none."""
    path = checkpoint_dir() / f"{scenario}.zip"
    return path if path.is_file() else None


def _load_model(path: Path) -> Any:
    try:
        from stable_baselines3 import PPO
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError(f"aset needs stable-baselines3 ({exc}).") from None
    if not path.is_file():
        raise ConfigError(f"--checkpoint {path}: no such file.")
    try:
        return PPO.load(str(path), device="cpu")
    except Exception as exc:
        raise ConfigError(f"--checkpoint {path}: not a readable ASET checkpoint ({exc}).") from None


class AsetScheduler(PolicySelector):
    """The learned selector: a trained policy network picks the static policy per window."""

    def __init__(self, checkpoint: Path | str | None = None, scenario: str | None = None) -> None:
        path = (
            Path(checkpoint)
            if checkpoint is not None
            else shipped_checkpoint(scenario or DEFAULT_SCENARIO)
        )
        if path is None:
            raise ConfigError(
                f"aset: no shipped checkpoint for scenario {scenario!r}; train one with "
                "`edgesched train aset SCENARIO` and pass --checkpoint."
            )
        self.checkpoint = path
        self.model = _load_model(path)
        super().__init__(decide=self._decide, name="aset")

    def check_world(self, world: World) -> None:
        """Refuse a world whose observation does not match the checkpoint's."""
        want = int(np.prod(self.model.observation_space.shape))
        have = obs_size(world)
        if want != have:
            raise ConfigError(
                f"aset checkpoint {self.checkpoint} was trained on observations of size {want}; "
                f"this scenario gives {have} (another number of clusters or applications). "
                "Train one for it with `edgesched train aset SCENARIO`."
            )

    def reset(self, world: World, rng: np.random.Generator) -> None:
        self.check_world(world)
        super().reset(world, rng)
        self._last = -1

    def _decide(self, sim: DispatchSim, current: int) -> int:
        obs = observe(sim, self._last)
        action, _ = self.model.predict(obs, deterministic=True)
        self._last = int(action)
        return self._last


def train_aset(
    scenario: str = DEFAULT_SCENARIO,
    *,
    steps: int = DEFAULT_STEPS,
    out: Path,
    seed: int = 0,
    n_envs: int = 4,
    log: Any = print,
) -> dict[str, Any]:
    """Train ASET with PPO; write ``aset.zip``, ``training.json`` and the training curves
    (``logs/progress.csv``) into ``out``.

    Episodes draw lambda from {20, 40, 60, 80, 100} and the load from {constant, constant,
    fast, steady}, 600 s each. Returns what ``training.json`` holds.
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv
    from tqdm import tqdm

    if steps < 1:
        raise ConfigError(f"--steps {steps}: expected a whole number >= 1.")
    torch.set_num_threads(1)
    seeds = RandomStreams(seed)

    def make_env(i: int) -> Any:
        def thunk() -> Any:
            env = aset_env(scenario, lam=list(TRAIN_LAMS), pattern=list(TRAIN_PATTERNS))
            env.reset(seed=seeds.child_seed(f"env-{i}"))
            return env

        return thunk

    venv = DummyVecEnv([make_env(i) for i in range(n_envs)])
    venv.seed(seeds.child_seed("vec"))
    # 256 steps per env per rollout; shorter rollouts only for tiny smoke-test budgets
    n_steps = min(256, max(16, -(-steps // n_envs)))
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=n_steps,
        batch_size=256 if n_steps == 256 else n_steps * n_envs,
        n_epochs=10,
        gamma=0.9,
        gae_lambda=0.95,
        learning_rate=3e-4,
        ent_coef=0.01,
        policy_kwargs={"net_arch": [64, 64]},
        seed=seeds.child_seed("ppo"),
        device="cpu",
        verbose=0,
    )

    class Progress(BaseCallback):
        """A progress bar on a terminal, a line every 5 % otherwise; mean window success."""

        def __init__(self, bar: Any) -> None:
            super().__init__()
            self.bar = bar
            self.rewards: list[float] = []
            self.next = 0

        def _on_step(self) -> bool:
            self.rewards.extend(float(r) for r in self.locals["rewards"])
            self.bar.update(int(self.locals["rewards"].size))
            if self.num_timesteps >= self.next:
                recent = self.rewards[-2000:]
                mean = float(np.mean(recent)) if recent else float("nan")
                self.logger.record("train/mean_window_success", mean)
                if self.bar.disable:
                    log(f"step {self.num_timesteps:>7}/{steps}  mean window success {mean:.4f}")
                else:
                    self.bar.set_postfix(success=f"{mean:.4f}")
                self.next += max(steps // 20, 1)
            return True

    out.mkdir(parents=True, exist_ok=True)
    model.set_logger(configure(str(out / "logs"), ["csv"]))
    start = time.perf_counter()
    with tqdm(total=steps, desc="train aset", unit="step", disable=None) as bar:
        model.learn(total_timesteps=steps, callback=Progress(bar))
    wall = time.perf_counter() - start
    model.save(str(out / "aset.zip"))
    info = {
        "agent": "aset",
        "scenario": scenario,
        "steps": steps,
        "seed": seed,
        "n_envs": n_envs,
        "wall_s": round(wall, 1),
        "train_lambdas": list(TRAIN_LAMS),
        "train_patterns": list(TRAIN_PATTERNS),
        "algorithm": "stable-baselines3 PPO, MlpPolicy [64, 64]",
        "policies": STATIC_NAMES,
    }
    (out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    return info
