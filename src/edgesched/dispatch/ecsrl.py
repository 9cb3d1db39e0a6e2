"""ECSRL: the learned dispatcher of the device setting, its environment and its trainer.

The agent is sb3-contrib's MaskablePPO (an actor-critic with invalid-action masking) over an
MLP; this module wraps it, it does not re-implement it. :class:`EcsrlEnv` is the Gymnasium
environment, one step per request; :class:`EcsrlScheduler` loads a checkpoint and dispatches
with the policy's most likely allowed action; :func:`train_ecsrl` is `edgesched train ecsrl`.

STATE
    A float32 vector, for T tasks and A = D + 1 actions (D edge devices, then the cloud):
    ``[task one-hot (T), needs cloud (1), deadline / 500 ms (1), per action (6 x A), WAN
    backlog / 100 ms (1), elapsed fraction of the run (1)]``. Per action: allowed (0/1),
    committed workloads over the limit (the cloud: committed + queued over all its slots),
    projected delay over the deadline, marginal dynamic energy x 10 (J), requests projected
    to turn late, and added degradation, all from
    :meth:`edgesched.dispatch.edge_sim.EdgeSim.lookahead` (what the action would do if nothing
    else arrived). Values are clipped to [0, 10].

ACTIONS
    ``Discrete(A)``: an edge device or the cloud. :meth:`EcsrlEnv.action_masks` gives the
    allowed ones (edge devices with a free workload slot and memory, when the edge variant is
    accurate enough; the cloud always). A masked action sends the request to the cloud and
    sets ``info["invalid_action"]`` (MaskablePPO never takes one).

REWARD
    ECSRL's objective (the paper's eq. 1, alpha x energy + beta x degradation, plus a deadline
    term), as each action's projected contribution: ``-(alpha x marginal energy (J) + beta x
    added degradation + deadline_penalty x requests turned late)``; the weights are the
    scenario's ``objective`` section. The episode's return is thus the run's projected total
    cost.

EPISODE
    One scenario run: every request of a seed, in arrival order; it terminates when the last
    request is dispatched (there is no further decision). The run's seed is drawn from
    ``self.np_random`` in [1000, 2^31), so evaluation seeds below 1000 are never trained on.

REFERENCE
    Lin, Zhang, Li, Liu, "ECSRL: A Learning-Based Scheduling Framework for AI Workloads in
    Heterogeneous Edge-Cloud Systems" (SenSys 2021 poster).

Example:
    >>> env = ecsrl_env(duration_s=1)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape == env.observation_space.shape
    True
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.core.rng import RandomStreams
from edgesched.dispatch.devices import DEFAULT_SCENARIO, DeviceWorld, load_devices, with_requests
from edgesched.dispatch.edge_sim import EdgeSim

#: Training defaults of the shipped checkpoint.
DEFAULT_STEPS = 300_000
TRAIN_SEED_FLOOR = 1000
PER_ACTION = 6


def obs_size(world: DeviceWorld) -> int:
    """Length of the observation vector of a world."""
    return len(world.tasks) + 2 + PER_ACTION * world.n_actions + 2


def observe(sim: EdgeSim, r: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The observation for request ``r`` (None: the terminal observation) and the per-action
    projected cost weights ``(delay, energy, late, degradation)`` stacked as a [4, A] array."""
    w = sim.world
    T, A = len(w.tasks), w.n_actions
    out = np.zeros(obs_size(w), dtype=np.float32)
    if r is None:
        return out, np.zeros((4, A))
    delay, energy, late, deg = sim.lookahead(r)
    mask = sim.mask(r)
    out[int(sim.req.task[r])] = 1.0
    out[T] = float(sim.req.needs_cloud[r])
    dl = float(sim.req.deadline_ms[r])
    out[T + 1] = dl / 500.0
    D = sim.D
    load = np.empty(A)
    for m in range(D):
        load[m] = sim.committed[m] / sim._maxn[m]
    slots = max(sum(sim._maxn[D:]), 1)
    load[D] = (sum(sim.committed[D:]) + len(sim.cloud_queue)) / slots
    o = T + 2
    block = np.stack([mask, load, delay / dl, energy * 10.0, late, deg], axis=1)
    out[o : o + PER_ACTION * A] = block.reshape(-1)
    o += PER_ACTION * A
    now = sim.loop.now
    out[o] = max(0.0, sim.wan_free - now) / 100.0
    out[o + 1] = now / (w.scenario.requests.duration_s * 1000.0)
    np.clip(out, 0.0, 10.0, out=out)
    return out, np.stack([delay, energy, late, deg])


class EcsrlEnv(gym.Env[np.ndarray, np.int64]):
    """One step per request (see the module docstring)."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Env declares it so)

    def __init__(self, world: DeviceWorld) -> None:
        super().__init__()
        self.world = world
        n = obs_size(world)
        self.observation_space = gym.spaces.Box(0.0, 10.0, shape=(n,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(world.n_actions)
        obj = world.scenario.objective
        self.weights = np.array([0.0, obj.alpha, obj.deadline_penalty, obj.beta])
        self.sim: EdgeSim | None = None
        self._costs = np.zeros((4, world.n_actions))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        run_seed = int(self.np_random.integers(TRAIN_SEED_FLOOR, 2**31 - 1))
        self.sim = EdgeSim(self.world, run_seed)
        r = self.sim.next_request()
        obs, self._costs = observe(self.sim, r)
        return obs, {"run_seed": run_seed, "request": r}

    def action_masks(self) -> np.ndarray:
        """Allowed actions for the pending request (all but the cloud masked at the end)."""
        if self.sim is None or self.sim.pending is None:
            out = np.zeros(self.world.n_actions, dtype=bool)
            out[-1] = True
            return out
        return self.sim.mask()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        sim = self.sim
        if sim is None or sim.pending is None:
            raise RuntimeError("call reset() before step(), and again after the episode ends")
        a = int(action)
        if not self.action_space.contains(a):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        invalid = not bool(sim.mask()[a])
        if invalid:
            a = self.world.cloud_action
        reward = -float(self.weights @ self._costs[:, a])
        sim.dispatch(a)
        r = sim.next_request()
        obs, self._costs = observe(sim, r)
        info = {"invalid_action": invalid, "action": a}
        return obs, reward, r is None, False, info


def ecsrl_env(scenario: str = DEFAULT_SCENARIO, **options: Any) -> EcsrlEnv:
    """The ECSRL environment on a device-setting scenario (preset name or YAML path).

    Args:
        scenario: preset or file.
        **options: ``duration_s`` (episode length in seconds, the request count following at
            the scenario's rate) and ``rate_per_min`` (requests per minute).
    """
    duration = options.pop("duration_s", None)
    rate = options.pop("rate_per_min", None)
    if options:
        raise TypeError(f"ecsrl_env: unknown options {', '.join(options)}")
    world = with_requests(load_devices(scenario), rate_per_min=rate, duration_s=duration)
    return EcsrlEnv(world)


# ----------------------------------------------------------------------------- the scheduler


def checkpoint_dir() -> Path:
    return Path(str(resources.files("edgesched.dispatch") / "edge_data"))


def shipped_checkpoint(scenario: str = DEFAULT_SCENARIO) -> Path | None:
    """The shipped checkpoint for a scenario name, or None when there is none."""
    path = checkpoint_dir() / f"{scenario}.zip"
    return path if path.is_file() else None


def _load_model(path: Path) -> Any:
    try:
        from sb3_contrib import MaskablePPO
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError(f"ecsrl needs sb3-contrib ({exc}).") from None
    if not path.is_file():
        raise ConfigError(f"--checkpoint {path}: no such file.")
    try:
        return MaskablePPO.load(str(path), device="cpu")
    except Exception as exc:
        raise ConfigError(
            f"--checkpoint {path}: not a readable ECSRL checkpoint ({exc})."
        ) from None


class EcsrlScheduler:
    """The learned dispatcher: the policy's most likely allowed action for every request."""

    name = "ecsrl"

    def __init__(self, checkpoint: Path | str | None = None, scenario: str | None = None) -> None:
        path = (
            Path(checkpoint)
            if checkpoint is not None
            else shipped_checkpoint(scenario or DEFAULT_SCENARIO)
        )
        if path is None:
            raise ConfigError(
                f"ecsrl: no shipped checkpoint for scenario {scenario!r}; train one with "
                "`edgesched train ecsrl SCENARIO` and pass --checkpoint."
            )
        self.checkpoint = path
        self.model = _load_model(path)
        self._layers = _actor_layers(self.model)

    def check_world(self, world: DeviceWorld) -> None:
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

    def reset(self, sim: EdgeSim, rng: np.random.Generator) -> None:
        self.check_world(sim.world)

    def choose(self, sim: EdgeSim, request: int, mask: np.ndarray) -> int:
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
    steps: int = DEFAULT_STEPS,
    out: Path,
    seed: int = 0,
    n_envs: int = 4,
    log: Any = print,
) -> dict[str, Any]:
    """Train ECSRL with MaskablePPO and write ``ecsrl.zip`` and ``training.json`` into ``out``.

    Returns what ``training.json`` holds.
    """
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    if steps < 1:
        raise ConfigError(f"--steps {steps}: expected a whole number >= 1.")
    torch.set_num_threads(1)
    seeds = RandomStreams(seed)
    world = load_devices(scenario)

    def make_env(i: int) -> Any:
        def thunk() -> Any:
            env = EcsrlEnv(world)
            env.reset(seed=seeds.child_seed(f"env-{i}"))
            return env

        return thunk

    venv = DummyVecEnv([make_env(i) for i in range(n_envs)])
    venv.seed(seeds.child_seed("vec"))
    # 512 steps per env per rollout; shorter rollouts only for tiny smoke-test budgets
    n_steps = min(512, max(16, -(-steps // n_envs)))
    model = MaskablePPO(
        "MlpPolicy",
        venv,
        n_steps=n_steps,
        batch_size=min(512, n_steps * n_envs),
        n_epochs=5,
        gamma=0.9,
        gae_lambda=0.9,
        learning_rate=3e-4,
        ent_coef=0.001,
        policy_kwargs={"net_arch": [64, 64]},
        seed=seeds.child_seed("ppo"),
        device="cpu",
        verbose=0,
    )

    class Progress(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.rewards: list[float] = []
            self.next = 0

        def _on_step(self) -> bool:
            self.rewards.extend(float(r) for r in self.locals["rewards"])
            if self.num_timesteps >= self.next:
                recent = self.rewards[-5000:]
                mean = float(np.mean(recent)) if recent else float("nan")
                log(f"step {self.num_timesteps:>7}/{steps}  mean reward per request {mean:.4f}")
                self.next += max(steps // 20, 1)
            return True

    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=Progress())
    wall = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / "ecsrl.zip"))
    info = {
        "agent": "ecsrl",
        "scenario": scenario,
        "steps": steps,
        "seed": seed,
        "n_envs": n_envs,
        "wall_s": round(wall, 1),
        "torch_threads": 1,
        "algorithm": "sb3-contrib MaskablePPO, MlpPolicy [64, 64], gamma 0.9, gae_lambda 0.9",
        "objective": world.scenario.objective.model_dump(),
        "actions": world.action_names,
    }
    (out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    return info
