"""ASET: the learned meta-scheduler that picks the static policy of every window.

The agent is Stable-Baselines3's PPO (an MLP policy) trained on :class:`AsetEnv`; this module
wraps it, it does not re-implement it. :class:`AsetScheduler` loads a checkpoint and, at every
window start, feeds the simulator's observation to the policy network (deterministic action)
and routes the window's streams with the chosen static policy.

The shipped checkpoints are ``edgesched/rl/checkpoints/aset/{scenario}.zip``; their model
card (``MODEL_CARD.md`` beside them) gives the commands, seeds, wall times and evaluations.
A checkpoint says which observation layout it was trained on (``observation`` in its
metadata; absent means ``basic``, the first checkpoint's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.dispatch.streams.env import OBSERVATIONS, aset_env, obs_size, observe
from edgesched.dispatch.streams.scenario import DEFAULT_SCENARIO
from edgesched.dispatch.streams.schedulers import STATIC_NAMES, PolicySelector
from edgesched.dispatch.streams.simulator import StreamSim
from edgesched.dispatch.streams.world import StreamWorld
from edgesched.rl import sb3

#: Training defaults: lambda 60 only, constant load, as in the ASET paper (the first
#: checkpoint, ``aset-full-edge-abundant.zip``, drew lambda from 20..100 and the pattern).
TRAIN_LAMS = (60.0,)
TRAIN_PATTERNS: tuple[str | None, ...] = (None,)
DEFAULT_STEPS = 100_000
OBSERVATION = "trends"


def checkpoint_dir() -> Path:
    return sb3.checkpoint_dir("aset")


def shipped_checkpoint(scenario: str = DEFAULT_SCENARIO) -> Path | None:
    """The shipped checkpoint for a scenario name, or None when there is none."""
    return sb3.shipped_checkpoint("aset", scenario)


class AsetScheduler(PolicySelector):
    """The learned selector: a trained policy network picks the static policy per window."""

    def __init__(self, checkpoint: Path | str | None = None, scenario: str | None = None) -> None:
        path = sb3.resolve_checkpoint("aset", checkpoint, scenario or DEFAULT_SCENARIO)
        self.checkpoint = path
        self.model = sb3.load_model("ppo", path, "aset")
        self.observation = str(self.model.meta.get("observation", "basic"))
        if self.observation not in OBSERVATIONS:
            raise ConfigError(
                f"aset checkpoint {path}: observation {self.observation!r}; expected one of "
                f"{', '.join(OBSERVATIONS)}."
            )
        super().__init__(decide=self._decide, name="aset")

    def check(self, world: StreamWorld) -> None:
        """Refuse a world whose observation does not match the checkpoint's."""
        want = int(np.prod(self.model.observation_space.shape))
        have = obs_size(world, self.observation)
        if want != have:
            raise ConfigError(
                f"aset checkpoint {self.checkpoint} was trained on observations of size {want}; "
                f"this scenario gives {have} (another number of clusters or applications). "
                "Train one for it with `edgesched train aset SCENARIO`."
            )

    def reset(self, world: StreamWorld, rng: np.random.Generator) -> None:
        self.check(world)
        super().reset(world, rng)
        self._last = -1

    def _decide(self, sim: StreamSim, current: int) -> int:
        obs = observe(sim, self._last, self.observation)
        action, _ = self.model.predict(obs, deterministic=True)
        self._last = int(action)
        return self._last


def train_aset(
    scenario: str = DEFAULT_SCENARIO,
    *,
    steps: int | None = None,
    out: Path,
    seed: int = 0,
    n_envs: int = 4,
    log: Any = print,
    **rollouts: Any,
) -> dict[str, Any]:
    """Train ASET with PPO; write ``aset.zip`` and the training curves
    (``logs/progress.csv``) into ``out``.

    Episodes are 600 s at a constant lambda of 60 (as the ASET paper trains), observed with
    the ``trends`` layout. Returns what ``training.json`` holds.
    ``rollouts`` (executor, workers, address) go to :func:`edgesched.rl.sb3.train`.
    """
    info = {
        "scenario": scenario,
        "train_lambdas": list(TRAIN_LAMS),
        "train_patterns": list(TRAIN_PATTERNS),
        "algorithm": "stable-baselines3 PPO, MlpPolicy [64, 64]",
        "policies": STATIC_NAMES,
        "observation": OBSERVATION,
    }
    return sb3.train(
        "aset",
        "ppo",
        lambda: aset_env(
            scenario, lam=list(TRAIN_LAMS), pattern=list(TRAIN_PATTERNS), observation=OBSERVATION
        ),
        steps=DEFAULT_STEPS if steps is None else steps,
        out=out,
        seed=seed,
        n_envs=n_envs,
        rollout=256,
        hyper={
            "n_epochs": 10,
            "gamma": 0.9,
            "gae_lambda": 0.95,
            "learning_rate": 3e-4,
            "ent_coef": 0.01,
            "policy_kwargs": {"net_arch": [64, 64]},
        },
        info=info,
        metric="mean window success",
        window=2000,
        log=log,
        meta={"observation": OBSERVATION},
        **rollouts,
    )
