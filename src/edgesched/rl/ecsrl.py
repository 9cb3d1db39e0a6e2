"""ECSRL: the learned actor-critic dispatcher of the device setting, and its trainer.

The agent is sb3-contrib's MaskablePPO (an actor-critic with invalid-action masking) over an
MLP, trained in :class:`edgesched.dispatch.devices.env.EcsrlEnv`; this module wraps it, it does
not re-implement it. :class:`EcsrlScheduler` loads a checkpoint and dispatches with the
policy's most likely allowed action; :func:`train_ecsrl` is `edgesched train ecsrl`. The
shipped checkpoint and its model card are in ``edgesched/rl/checkpoints/ecsrl/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.dispatch.devices.env import EcsrlEnv, obs_size, observe
from edgesched.dispatch.devices.scenario import DEFAULT_SCENARIO, load
from edgesched.dispatch.devices.simulator import DeviceSim
from edgesched.dispatch.devices.world import DeviceWorld
from edgesched.rl import sb3

#: Training budget of the shipped checkpoint.
DEFAULT_STEPS = 300_000


# ----------------------------------------------------------------------------- the scheduler


def checkpoint_dir() -> Path:
    return sb3.checkpoint_dir("ecsrl")


def shipped_checkpoint(scenario: str = DEFAULT_SCENARIO) -> Path | None:
    """The shipped checkpoint for a scenario name, or None when there is none."""
    return sb3.shipped_checkpoint("ecsrl", scenario)


class EcsrlScheduler:
    """The learned dispatcher: the policy's most likely allowed action for every request."""

    name = "ecsrl"

    def __init__(self, checkpoint: Path | str | None = None, scenario: str | None = None) -> None:
        path = sb3.resolve_checkpoint("ecsrl", checkpoint, scenario or DEFAULT_SCENARIO)
        self.checkpoint = path
        self.model = sb3.load_model("maskable-ppo", path, "ecsrl")
        self._layers = _actor_layers(self.model)

    def check(self, world: DeviceWorld) -> None:
        """Refuse a world whose observation or actions do not match the checkpoint's."""
        want = int(np.prod(self.model.observation_space.shape))
        actions = int(self.model.action_space.n)
        if want != obs_size(world) or actions != world.n_actions:
            raise ConfigError(
                f"ecsrl checkpoint {self.checkpoint} was trained on {actions} actions and "
                f"observations of size {want}; this scenario has {world.n_actions} actions and "
                f"size {obs_size(world)} (another number of devices or tasks). Train one for it "
                "with `edgesched train ecsrl SCENARIO`."
            )

    def reset(self, sim: DeviceSim, rng: np.random.Generator) -> None:
        self.check(sim.world)

    def choose(self, sim: DeviceSim, request: int, mask: np.ndarray) -> int:
        obs, _ = observe(sim, request)
        if self._layers is None:
            action, _ = self.model.predict(obs, action_masks=mask, deterministic=True)
            return int(action)
        x = obs.astype(np.float64)
        for weight, bias, act in self._layers:
            x = weight @ x + bias
            if act is not None:
                x = act(x)
        return int(np.argmax(np.where(mask, x, -np.inf)))


_ACTIVATIONS: dict[str, Any] = {"Tanh": np.tanh, "ReLU": lambda x: np.maximum(x, 0.0)}


def _actor_layers(model: Any) -> list[tuple[np.ndarray, np.ndarray, Any]] | None:
    """The actor of an MLP policy as numpy layers ``(W, b, activation)``, ending with the
    action logits; None when the policy has another shape (then ``predict`` is used).

    The deterministic action of a masked categorical policy is the allowed action with the
    largest logit, so a numpy forward pass gives the same action as ``predict`` without its
    per-call overhead (a run has 17,000 decisions)."""
    import torch

    policy = model.policy
    if type(policy.features_extractor).__name__ != "FlattenExtractor":
        return None
    modules = [*policy.mlp_extractor.policy_net, policy.action_net]
    layers: list[tuple[np.ndarray, np.ndarray, Any]] = []
    for mod in modules:
        if isinstance(mod, torch.nn.Linear):
            layers.append(
                (
                    mod.weight.detach().cpu().double().numpy(),
                    mod.bias.detach().cpu().double().numpy(),
                    None,
                )
            )
        elif type(mod).__name__ in _ACTIVATIONS and layers and layers[-1][2] is None:
            w, b, _ = layers[-1]
            layers[-1] = (w, b, _ACTIVATIONS[type(mod).__name__])
        else:
            return None
    return layers


# ----------------------------------------------------------------------------- training


def train_ecsrl(
    scenario: str = DEFAULT_SCENARIO,
    *,
    steps: int | None = None,
    out: Path,
    seed: int = 0,
    n_envs: int = 4,
    log: Any = print,
    **rollouts: Any,
) -> dict[str, Any]:
    """Train ECSRL with MaskablePPO and write ``ecsrl.zip`` and the training curves into ``out``.

    Returns what ``training.json`` holds.
    ``rollouts`` (executor, workers, address) go to :func:`edgesched.rl.sb3.train`.
    """
    world = load(scenario)
    info = {
        "scenario": scenario,
        "algorithm": "sb3-contrib MaskablePPO, MlpPolicy [64, 64], gamma 0.9, gae_lambda 0.9",
        "objective": world.scenario.objective.model_dump(),
        "actions": world.action_names,
    }
    return sb3.train(
        "ecsrl",
        "maskable-ppo",
        lambda: EcsrlEnv(world),
        steps=DEFAULT_STEPS if steps is None else steps,
        out=out,
        seed=seed,
        n_envs=n_envs,
        rollout=512,
        hyper={
            "n_epochs": 5,
            "gamma": 0.9,
            "gae_lambda": 0.9,
            "learning_rate": 3e-4,
            "ent_coef": 0.001,
            "policy_kwargs": {"net_arch": [64, 64]},
        },
        info=info,
        metric="mean reward per request",
        window=5000,
        log=log,
        **rollouts,
    )
