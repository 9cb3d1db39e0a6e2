"""ECSRL: the learned actor-critic dispatcher of the device setting, and its trainer.

The agent is sb3-contrib's MaskablePPO (an actor-critic with invalid-action masking) over an
MLP, trained in :class:`edgesched.dispatch.devices.env.EcsrlEnv`; this module wraps it, it does
not re-implement it. :class:`EcsrlScheduler` loads a checkpoint and dispatches with the
policy's most likely allowed action; :func:`train_ecsrl` is `edgesched train ecsrl`, which
first clones :func:`teacher_action` into the actor (:func:`clone_teacher`, DAgger). The
shipped checkpoint and its model card are in ``edgesched/rl/checkpoints/ecsrl/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.dispatch.devices.env import PER_ACTION, EcsrlEnv, obs_size, observe
from edgesched.dispatch.devices.scenario import DEFAULT_SCENARIO, load
from edgesched.dispatch.devices.simulator import DeviceSim
from edgesched.dispatch.devices.world import DeviceWorld
from edgesched.rl import sb3

#: Training budget of the shipped checkpoint.
DEFAULT_STEPS = 300_000
#: The warm start's deadline margin: the teacher prefers a device projected to finish within
#: this share of the deadline (later arrivals time-slice the device and stretch the request).
TEACHER_MARGIN = 0.8


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


# ----------------------------------------------------------------------------- warm start


def teacher_action(obs: np.ndarray, n_tasks: int, n_actions: int) -> int:
    """The warm start's teacher: a rule over ECSRL's own observation (so the actor can
    represent it), used only to initialise the actor, never as a dispatcher.

    Among the allowed edge devices projected to finish the request within
    :data:`TEACHER_MARGIN` of its deadline without turning another request late, the one with
    the least marginal energy; failing that, within the deadline; failing that the cloud if it
    is on time; a request late everywhere goes to the edge device where it turns the fewest
    others late (then the least energy), not to the shared uplink where it would delay the
    requests that can only be served in the cloud; the cloud when no edge device is allowed.
    """
    o = n_tasks + 2
    block = obs[o : o + PER_ACTION * n_actions].reshape(n_actions, PER_ACTION)
    allowed, ratio, energy, late = block[:, 0] > 0.5, block[:, 2], block[:, 3], block[:, 4]
    cloud = n_actions - 1
    edge = allowed.copy()
    edge[cloud] = False
    clear = late < 0.5
    for margin in (TEACHER_MARGIN, 1.0):
        ok = edge & clear & (ratio <= margin)
        if ok.any():
            return int(np.argmin(np.where(ok, energy, np.inf)))
    if (clear[cloud] and ratio[cloud] <= 1.0) or not edge.any():
        return cloud
    return int(np.argmin(np.where(edge, 10.0 * late + energy, np.inf)))


def _discounted(rewards: np.ndarray, dones: np.ndarray, gamma: float) -> np.ndarray:
    """Per step of a [steps, envs] rollout, the discounted return to the end of its episode
    (the rollout's last step bootstraps with nothing: the horizon of gamma 0.9 is ~10 steps)."""
    out = np.zeros_like(rewards)
    acc = np.zeros(rewards.shape[1])
    for t in range(rewards.shape[0] - 1, -1, -1):
        acc = rewards[t] + gamma * acc * (1.0 - dones[t])
        out[t] = acc
    return out


def clone_teacher(
    model: Any,
    venv: Any,
    *,
    n_tasks: int,
    rounds: int = 3,
    steps_per_round: int = 68_000,
    epochs: int = 4,
    batch: int = 512,
    lr: float = 1e-3,
    log: Any = print,
) -> dict[str, Any]:
    """Behaviour cloning with DAgger: initialise ``model``'s actor on :func:`teacher_action`
    and its critic on the discounted returns of the rollouts.

    A round is ``steps_per_round`` decisions over the environments (the trainer gives one
    episode per environment). Round 0 rolls the teacher out; every later round rolls out the
    current actor (its most likely allowed action) and labels what it saw with the teacher's
    action, so the actor learns the teacher's choice in the states it reaches itself. Every
    round fits the actor (masked cross-entropy) and the critic (squared error) on everything
    gathered so far.
    Returns what the training record keeps (steps, the last round's agreement).
    """
    import torch

    n_envs = venv.num_envs
    A = int(venv.action_space.n)
    gamma = float(model.gamma)
    policy = model.policy
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(int(model.seed or 0))
    obs_all: list[np.ndarray] = []
    mask_all: list[np.ndarray] = []
    act_all: list[np.ndarray] = []
    ret_all: list[np.ndarray] = []
    agree: list[float] = []
    per_env = -(-steps_per_round // n_envs)
    obs = venv.reset()
    for k in range(rounds):
        obs_k = np.empty((per_env, n_envs, obs.shape[1]), dtype=np.float32)
        M = np.empty((per_env, n_envs, A), dtype=bool)
        Y = np.empty((per_env, n_envs), dtype=np.int64)
        R = np.empty((per_env, n_envs))
        F = np.empty((per_env, n_envs))
        same = 0
        for t in range(per_env):
            masks = np.stack(venv.env_method("action_masks"))
            labels = np.array([teacher_action(o, n_tasks, A) for o in obs])
            if k == 0:
                actions = labels
            else:
                with torch.no_grad():
                    actions, _ = policy.predict(obs, action_masks=masks, deterministic=True)
                same += int((actions == labels).sum())
            obs_k[t], M[t], Y[t] = obs, masks, labels
            obs, R[t], F[t], _ = venv.step(actions)
        if k:
            agree.append(same / (per_env * n_envs))
        obs_all.append(obs_k.reshape(-1, obs_k.shape[2]))
        mask_all.append(M.reshape(-1, A))
        act_all.append(Y.reshape(-1))
        ret_all.append(_discounted(R, F, gamma).reshape(-1))
        x = torch.as_tensor(np.concatenate(obs_all))
        m = torch.as_tensor(np.concatenate(mask_all))
        y = torch.as_tensor(np.concatenate(act_all))
        g = torch.as_tensor(np.concatenate(ret_all), dtype=torch.float32)
        policy.set_training_mode(True)
        for _ in range(epochs):
            for idx in torch.randperm(len(y), generator=gen).split(batch):
                values, log_prob, _ = policy.evaluate_actions(x[idx], y[idx], m[idx])
                loss = -log_prob.mean() + 0.5 * ((values.flatten() - g[idx]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        policy.set_training_mode(False)
        with torch.no_grad():
            _, log_prob, _ = policy.evaluate_actions(x, y, m)
        log(
            f"warm start round {k + 1}/{rounds}: {len(y)} labelled decisions, mean "
            f"log-likelihood of the teacher {float(log_prob.mean()):.4f}"
            + (f", the actor agreed with it on {agree[-1]:.4f} of its own" if k else "")
        )
    return {
        "teacher": f"ecsrl.teacher_action (margin {TEACHER_MARGIN})",
        "rounds": rounds,
        "steps": rounds * per_env * n_envs,
        "agreement_last_round": round(agree[-1], 4) if agree else None,
    }


# ----------------------------------------------------------------------------- training


def train_ecsrl(
    scenario: str = DEFAULT_SCENARIO,
    *,
    steps: int | None = None,
    out: Path,
    seed: int = 0,
    n_envs: int = 4,
    log: Any = print,
    warm_start: bool = True,
    learning_rate: float | None = None,
    **rollouts: Any,
) -> dict[str, Any]:
    """Train ECSRL with MaskablePPO and write ``ecsrl.zip`` and the training curves into ``out``.

    With ``warm_start`` (the default) the actor and critic are first fitted to
    :func:`teacher_action` by :func:`clone_teacher`, then PPO fine-tunes them for ``steps``
    at ``learning_rate`` (default: 3e-5 after a warm start, so that it refines the cloned
    actor rather than overwrite it; 3e-4 from scratch).
    Returns what ``training.json`` holds.
    ``rollouts`` (executor, workers, address) go to :func:`edgesched.rl.sb3.train`.
    """
    world = load(scenario)
    lr = learning_rate if learning_rate is not None else (3e-5 if warm_start else 3e-4)
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
            "learning_rate": lr,
            "ent_coef": 0.001,
            "policy_kwargs": {"net_arch": [64, 64]},
        },
        info=info,
        metric="mean reward per request",
        window=5000,
        log=log,
        warm_start=(
            (
                lambda model, venv: clone_teacher(
                    model,
                    venv,
                    n_tasks=len(world.tasks),
                    steps_per_round=n_envs * world.scenario.requests.count,
                    log=log,
                )
            )
            if warm_start
            else None
        ),
        **rollouts,
    )
