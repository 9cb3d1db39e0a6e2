"""Stable-Baselines3 agents of the dispatch world (ASET, ECSRL): checkpoints and training.

ASET and ECSRL are Stable-Baselines3 / sb3-contrib agents; this module wraps those libraries
(it does not re-implement them) with what both agents share: where shipped checkpoints live,
loading one with errors a user can act on, and one training loop (seeded vectorised
environments, a progress bar, CSV training curves, the checkpoint and ``training.json``).
"""

from __future__ import annotations

import json
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


#: The data-only checkpoint format: a zip of ``edgesched.json`` (format, agent, algorithm,
#: spaces and network) and ``policy.pth`` (the policy's tensors, read with
#: ``torch.load(weights_only=True)``). Nothing in it is ever unpickled.
CHECKPOINT_FORMAT = "edgesched-sb3-1"
META = "edgesched.json"
WEIGHTS = "policy.pth"
#: Largest member read from a checkpoint zip (a zip bomb is refused before it is inflated).
MAX_MEMBER_BYTES = 64 * 2**20
#: Bounds on what a checkpoint may declare (observation size, actions, layers, layer width).
MAX_OBS, MAX_ACTIONS, MAX_LAYERS, MAX_WIDTH = 100_000, 100_000, 16, 4096
ACTIVATIONS = ("tanh", "relu")


class Policy:
    """A learned policy rebuilt from a data-only checkpoint: its spaces, the Stable-Baselines3
    policy network (weights set) and ``predict`` as the agent's own ``predict``."""

    def __init__(self, policy: Any, meta: dict[str, Any]) -> None:
        self.policy = policy
        self.meta = meta
        self.observation_space = policy.observation_space
        self.action_space = policy.action_space

    def predict(self, obs: Any, **kwargs: Any) -> tuple[np.ndarray, Any]:
        return self.policy.predict(obs, **kwargs)


def _policy_class(algo: str) -> Any:
    if algo == "maskable-ppo":
        from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

        return MaskableActorCriticPolicy
    from stable_baselines3.common.policies import ActorCriticPolicy

    return ActorCriticPolicy


def _member(zf: Any, name: str, where: str) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ConfigError(f"{where}: no member {name!r} (not an edgesched checkpoint).") from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise ConfigError(
            f"{where}: member {name!r} inflates to {info.file_size} bytes "
            f"(at most {MAX_MEMBER_BYTES})."
        )
    data: bytes = zf.read(name)
    return data


def _whole(value: Any, field: str, where: str, hi: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise ConfigError(f"{where}: {field} {value!r}: expected a whole number in 1..{hi}.")
    return value


def _meta_from_sb3_data(raw: bytes, algo: str, agent: str, where: str) -> dict[str, Any]:
    """The metadata of a plain Stable-Baselines3 zip, from the JSON fields of its ``data``
    member only (its pickled ``:serialized:`` entries are never decoded)."""
    try:
        data = json.loads(raw.decode("utf-8"))
        obs = data["observation_space"]["_shape"]
        n = data["action_space"]["n"]
        kwargs = data.get("policy_kwargs") or {}
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{where}: member 'data' is not Stable-Baselines3 JSON ({exc})."
        ) from None
    if not isinstance(kwargs, dict) or ":serialized:" in kwargs or set(kwargs) - {"net_arch"}:
        raise ConfigError(
            f"{where}: data.policy_kwargs {sorted(kwargs) if isinstance(kwargs, dict) else kwargs}:"
            " only a plain net_arch is supported."
        )
    return {
        "format": CHECKPOINT_FORMAT,
        "agent": agent,
        "algorithm": algo,
        "observation_shape": obs,
        "actions": n,
        "net_arch": kwargs.get("net_arch", [64, 64]),
        "activation": "tanh",
    }


def _check_meta(meta: Any, algo: str, agent: str, where: str) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise ConfigError(f"{where}: {META} is not a JSON object.")
    for field, want in (("format", CHECKPOINT_FORMAT), ("agent", agent), ("algorithm", algo)):
        if meta.get(field) != want:
            raise ConfigError(
                f"{where}: {META} field {field} is {meta.get(field)!r}; expected {want!r} "
                f"(not a {agent.upper()} checkpoint)."
            )
    shape = meta.get("observation_shape")
    if not isinstance(shape, list) or len(shape) != 1:
        raise ConfigError(f"{where}: observation_shape {shape!r}: expected [size].")
    arch = meta.get("net_arch")
    if not isinstance(arch, list) or not 1 <= len(arch) <= MAX_LAYERS:
        raise ConfigError(f"{where}: net_arch {arch!r}: expected 1..{MAX_LAYERS} layer widths.")
    if meta.get("activation") not in ACTIVATIONS:
        raise ConfigError(
            f"{where}: activation {meta.get('activation')!r}: expected one of {ACTIVATIONS}."
        )
    return {
        **meta,
        "observation_shape": [_whole(shape[0], "observation_shape", where, MAX_OBS)],
        "actions": _whole(meta.get("actions"), "actions", where, MAX_ACTIONS),
        "net_arch": [_whole(w, "net_arch", where, MAX_WIDTH) for w in arch],
    }


def read_checkpoint(path: Path, algo: str, agent: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metadata and the policy's tensors of a checkpoint, read without unpickling
    anything: ``edgesched.json`` (or, for a plain Stable-Baselines3 zip, the JSON fields of
    its ``data`` member) and ``policy.pth`` through ``torch.load(weights_only=True)``."""
    import io
    import zipfile

    import torch

    where = f"--checkpoint {path}"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if META in names:
                try:
                    meta = json.loads(_member(zf, META, where).decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    raise ConfigError(f"{where}: {META} is not JSON ({exc}).") from None
            elif "data" in names:
                meta = _meta_from_sb3_data(_member(zf, "data", where), algo, agent, where)
            else:
                raise ConfigError(f"{where}: neither {META} nor data inside (not a checkpoint).")
            raw = _member(zf, WEIGHTS, where)
    except ConfigError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError) as exc:
        raise ConfigError(
            f"{where}: not a readable {agent.upper()} checkpoint (a zip: {exc})."
        ) from None
    meta = _check_meta(meta, algo, agent, where)
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses every pickled object that is not a tensor
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{where}: {WEIGHTS} is not a file of tensors ({first}).") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ConfigError(f"{where}: {WEIGHTS} is not a mapping of names to tensors.")
    return meta, state


def load_model(algo: str, path: Path, agent: str) -> Policy:
    """Rebuild a checkpoint's policy on the CPU from its data (never unpickling code); a
    ConfigError naming the file and what is wrong when it cannot be used."""
    import gymnasium as gym
    import torch

    meta, state = read_checkpoint(path, algo, agent)
    obs_space = gym.spaces.Box(-np.inf, np.inf, tuple(meta["observation_shape"]), np.float32)
    act_space = gym.spaces.Discrete(meta["actions"])
    activation = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[meta["activation"]]
    policy = _policy_class(algo)(
        obs_space,
        act_space,
        lambda _: 0.0,
        net_arch=list(meta["net_arch"]),
        activation_fn=activation,
    )
    try:
        policy.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        raise ConfigError(
            f"--checkpoint {path}: {WEIGHTS} does not fit the network its {META} describes "
            f"({' '.join(first[:3])[:300]})."
        ) from None
    policy.set_training_mode(False)
    return Policy(policy, meta)


def write_checkpoint(
    path: Path, model: Any, agent: str, algo: str, extra: dict[str, Any] | None = None
) -> None:
    """Write ``model``'s policy as a data-only checkpoint (atomically); ``extra`` goes into
    its metadata beside the fields the loader checks (e.g. the observation layout)."""

    arch = model.policy_kwargs.get("net_arch", [64, 64])
    act = model.policy.activation_fn.__name__.lower()
    meta = {
        "format": CHECKPOINT_FORMAT,
        "agent": agent,
        "algorithm": algo,
        "observation_shape": [int(np.prod(model.observation_space.shape))],
        "actions": int(model.action_space.n),
        "net_arch": list(arch),
        "activation": act,
        **(extra or {}),
    }
    write_data_checkpoint(path, meta, model.policy.state_dict())


def write_data_checkpoint(path: Path, meta: dict[str, Any], state: dict[str, Any]) -> None:
    """Write ``meta`` and the tensors ``state`` as a data-only checkpoint (atomically)."""
    import io
    import zipfile

    import torch

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in state.items()}, buf)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(META, json.dumps(meta, indent=2) + "\n")
        zf.writestr(WEIGHTS, buf.getvalue())
    tmp.replace(path)


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
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    meta: dict[str, Any] | None = None,
    warm_start: Callable[[Any, Any], dict[str, Any]] | None = None,
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
        executor, workers, address: ``"ray"`` steps the environments in ``workers`` Ray
            actors (:mod:`edgesched.rl.ray_vec`; on the cluster at ``address``, else a local
            one); the checkpoint and curves are identical to ``"local"``'s.
        meta: extra checkpoint metadata (what the scheduler needs to rebuild its input).
        warm_start: called as ``warm_start(model, venv)`` before the first PPO update (e.g.
            behaviour cloning); what it returns is recorded as ``warm_start``, and its wall
            time is part of ``wall_s``.
    """
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv
    from tqdm import tqdm

    from edgesched.rl.ray_vec import check_workers, make_ray_vec_env

    if steps < 1:
        raise ConfigError(f"--steps {steps}: expected a whole number >= 1.")
    n_workers = check_workers(executor, workers, n_envs)
    torch.set_num_threads(1)
    seeds = RandomStreams(seed)

    def thunk(i: int) -> Callable[[], Any]:
        def build() -> Any:
            env = make_env()
            env.reset(seed=seeds.child_seed(f"env-{i}"))
            return env

        return build

    fns = [thunk(i) for i in range(n_envs)]
    venv = DummyVecEnv(fns) if n_workers is None else make_ray_vec_env(fns, n_workers, address)
    venv.seed(seeds.child_seed("vec"))
    n_steps = min(rollout, max(16, -(-steps // n_envs)))
    try:
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
    except BaseException:
        venv.close()  # a Ray cluster started for the run stops with it
        raise
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
    warm: dict[str, Any] | None = None
    try:
        if warm_start is not None:
            warm = {**warm_start(model, venv), "wall_s": round(time.perf_counter() - start, 1)}
        with tqdm(total=steps, desc=f"train {agent}", unit="step", disable=None) as bar:
            model.learn(total_timesteps=steps, callback=Progress(bar))
    finally:
        venv.close()
    wall = time.perf_counter() - start
    write_checkpoint(out / f"{agent}.zip", model, agent, algo, meta)
    record = {
        "agent": agent,
        **{k: v for k, v in info.items() if k != "agent"},
        "steps": steps,
        "seed": seed,
        "n_envs": n_envs,
        "wall_s": round(wall, 1),
        "torch_threads": 1,
    }
    if warm is not None:
        record["warm_start"] = warm
    if n_workers is not None:
        record["rollouts"] = {"executor": executor, "workers": n_workers}
    return record
