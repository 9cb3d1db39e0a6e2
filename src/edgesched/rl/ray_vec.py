"""Rollout workers on Ray: a Stable-Baselines3 ``VecEnv`` whose environments live in Ray actors.

`edgesched train aset|ecsrl ... --executor ray --workers N` trains through a
:class:`RayVecEnv`: the ``n_envs`` environments are split into ``N`` contiguous shards, each
held by one Ray actor (a ``DummyVecEnv`` of its shard). The learner stays one process: it keeps
the policy, runs inference, and sends each shard its actions; the actors step their
environments (with the same auto-reset and ``terminal_observation`` as ``DummyVecEnv``) and
return observations, rewards, dones and infos, which are concatenated in environment order.

The workers step environments and return transitions; they do not run the policy with
broadcast weights. That keeps a run identical to the local one: the policy's sampling uses
the learner's one torch generator in the same order as locally, every environment keeps its
own seeded generator, and what the learner receives is exactly what a ``DummyVecEnv`` of the
same environments gives. The checkpoint and the training curve do not depend on the executor
or the worker count (only on the seed and ``n_envs``).

Ray is imported inside functions only (it is an optional extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgesched.core.errors import ConfigError

#: Executors of `edgesched train` for the Stable-Baselines3 agents.
EXECUTORS = ("local", "ray")


def import_ray() -> Any:
    """The ray module, or a ConfigError saying how to install it (Ray is the optional extra
    ``edgesched[ray]``; the rest of edgesched never imports it)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray: Ray is not installed; it is an optional extra of edgesched: "
            "pip install 'edgesched[ray]' (or pip install 'ray>=2.9')."
        ) from None
    return ray


def check_workers(executor: str, workers: int | None, n_envs: int) -> int | None:
    """The worker count to use (None: local); a ConfigError for a bad combination."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}.")
    if executor == "local":
        if workers is not None:
            raise ConfigError("--workers applies to --executor ray (rollout workers on Ray).")
        return None
    n = 1 if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= n_envs:
        raise ConfigError(
            f"--workers {workers!r}: expected a whole number from 1 to {n_envs} "
            f"(the number of environments, each worker steps a share of them)."
        )
    return n


def shards(n_envs: int, workers: int) -> list[range]:
    """Contiguous shards of ``range(n_envs)``, as even as can be, the larger ones first."""
    size, extra = divmod(n_envs, workers)
    out, start = [], 0
    for w in range(workers):
        stop = start + size + (1 if w < extra else 0)
        out.append(range(start, stop))
        start = stop
    return out


class _Shard:
    """In a Ray actor: a ``DummyVecEnv`` of some of the environments."""

    def __init__(self, env_fns: Sequence[Callable[[], Any]]) -> None:
        import torch
        from stable_baselines3.common.vec_env import DummyVecEnv

        torch.set_num_threads(1)
        self.venv = DummyVecEnv(list(env_fns))

    def spaces(self) -> tuple[Any, Any]:
        return self.venv.observation_space, self.venv.action_space

    def reset(self, seeds: list[int | None], options: list[dict[str, Any]]) -> Any:
        self.venv._seeds = list(seeds)
        self.venv._options = list(options)
        obs = self.venv.reset()
        return obs, list(self.venv.reset_infos)

    def step(self, actions: np.ndarray) -> Any:
        obs, rews, dones, infos = self.venv.step(actions)
        return obs, rews, dones, infos, list(self.venv.reset_infos)

    def get_attr(self, name: str, indices: list[int]) -> list[Any]:
        return self.venv.get_attr(name, indices)

    def set_attr(self, name: str, value: Any, indices: list[int]) -> None:
        self.venv.set_attr(name, value, indices)

    def env_method(self, name: str, args: Any, kwargs: Any, indices: list[int]) -> list[Any]:
        return self.venv.env_method(name, *args, indices=indices, **kwargs)

    def env_is_wrapped(self, wrapper: Any, indices: list[int]) -> list[bool]:
        return self.venv.env_is_wrapped(wrapper, indices)


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


def connect(workers: int, address: str | None) -> bool:
    """Connect this process to Ray unless it is already: to the cluster at ``address``, or
    to a local cluster of ``workers`` CPUs started now. True when this call started or joined
    it (the caller then shuts it down when done); a ConfigError when it cannot connect."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        if address is None:
            ray.init(
                num_cpus=workers,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"--address {address}: cannot connect to a Ray cluster: {exc}") from None
    return True


def make_ray_vec_env(
    env_fns: Sequence[Callable[[], Any]], workers: int, address: str | None = None
) -> Any:
    """A :class:`RayVecEnv` of ``env_fns`` over ``workers`` actors, connecting to Ray first
    (a local cluster of ``workers`` CPUs when not connected and no ``address``; it is shut
    down when the env is closed)."""
    from stable_baselines3.common.vec_env import VecEnv

    ray = import_ray()
    started = connect(workers, address)

    class RayVecEnv(VecEnv):
        """The environments of ``env_fns`` in Ray actors (see the module docstring)."""

        def __init__(self) -> None:
            self.parts = shards(len(env_fns), workers)
            actor = ray.remote(num_cpus=1)(_Shard)
            self.actors = [actor.remote([env_fns[i] for i in part]) for part in self.parts]
            obs_space, act_space = ray.get(self.actors[0].spaces.remote())
            self._actions: np.ndarray | None = None
            self.closed = False
            super().__init__(len(env_fns), obs_space, act_space)
            self.reset_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]

        def _where(self, indices: Any) -> list[tuple[int, list[int]]]:
            """(actor, local indices) for the global ``indices``."""
            wanted = set(self._get_indices(indices))
            return [
                (a, [i - part.start for i in part if i in wanted])
                for a, part in enumerate(self.parts)
                if any(i in wanted for i in part)
            ]

        def reset(self) -> Any:
            refs = [
                actor.reset.remote([self._seeds[i] for i in part], [self._options[i] for i in part])
                for actor, part in zip(self.actors, self.parts, strict=True)
            ]
            results = ray.get(refs)
            self.reset_infos = [info for _, infos in results for info in infos]
            self._reset_seeds()
            self._reset_options()
            return _concat([obs for obs, _ in results])

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def step_wait(self) -> Any:
            actions = self._actions
            assert actions is not None
            refs = [
                actor.step.remote(actions[part.start : part.stop])
                for actor, part in zip(self.actors, self.parts, strict=True)
            ]
            results = ray.get(refs)
            obs = _concat([r[0] for r in results])
            rews = np.concatenate([r[1] for r in results])
            dones = np.concatenate([r[2] for r in results])
            infos = [info for r in results for info in r[3]]
            self.reset_infos = [info for r in results for info in r[4]]
            return obs, rews, dones, infos

        def close(self) -> None:
            if self.closed:
                return
            self.closed = True
            for actor in self.actors:
                ray.kill(actor)
            if started:
                ray.shutdown()

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            refs = [self.actors[a].get_attr.remote(attr_name, ix) for a, ix in self._where(indices)]
            return [v for part in ray.get(refs) for v in part]

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            ray.get(
                [
                    self.actors[a].set_attr.remote(attr_name, value, ix)
                    for a, ix in self._where(indices)
                ]
            )

        def env_method(
            self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
        ) -> list[Any]:
            refs = [
                self.actors[a].env_method.remote(method_name, method_args, method_kwargs, ix)
                for a, ix in self._where(indices)
            ]
            return [v for part in ray.get(refs) for v in part]

        def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
            refs = [
                self.actors[a].env_is_wrapped.remote(wrapper_class, ix)
                for a, ix in self._where(indices)
            ]
            return [v for part in ray.get(refs) for v in part]

    try:
        return RayVecEnv()
    except BaseException:
        if started:
            ray.shutdown()
        raise
