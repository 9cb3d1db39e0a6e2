"""TapFinger's rollout worlds in Ray actors: `edgesched train tapfinger --executor ray --workers N`.

The trainer's ``num_envs`` placement worlds are split into ``N`` contiguous shards, each held
by one Ray actor. The learner stays one process and keeps everything that touches the network
or a random generator: every round it runs the one batched forward pass over all worlds (as
locally), sends each actor its worlds' decisions, and receives the rewards, ends, conflict
losses and the graph views of the next round, which the actors build. When worlds end, the
learner draws their next seeds from its generator, in world order as :class:`VecWorlds`
does, and the actors restart them (one more round trip, in the rounds where an episode
ended). Evaluation and the PPO updates run on the learner.

Workers that received the weights and sampled actions themselves would need generators of
their own and forward passes over other batch sizes; their runs would differ from the local
one and between worker counts. Here what the learner sees is exactly what a local
:class:`VecWorlds` gives, so the checkpoint and the curve do not depend on the executor or
the worker count.

The scenario travels as its validated model (with the run's ``tasks`` and ``mode`` applied),
so the workers need no copy of a scenario file (files that the scenario itself names, such
as a progress table, are read where the worlds run; see docs/scale-out.md).

Ray is imported inside functions only (it is an optional extra).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.placement.episode import Episode
from edgesched.placement.scenario import PlacementScenario, with_overrides
from edgesched.rl.ray_vec import connect, import_ray, shards
from edgesched.rl.tapfinger.config import TrainConfig
from edgesched.rl.tapfinger.graph import Graph, build_graph
from edgesched.rl.tapfinger.vec import VecWorlds, train_seed


class _Shard:
    """In a Ray actor: some of the worlds, started with the seeds it is given and restarted
    only when the learner says so."""

    def __init__(self, scenario: PlacementScenario, source: Path | None, seeds: list[int]) -> None:
        import torch

        torch.set_num_threads(1)
        cores = [Episode(scenario, source) for _ in seeds]
        self.vec = VecWorlds("", len(seeds), seeds=seeds, cores=cores)
        self.last: list[Graph | None] = list(self.vec.graphs())

    def graphs(self) -> list[Graph | None]:
        return self.last

    def _graph(self, i: int) -> Graph:
        sim = self.vec.cores[i].sim
        assert sim is not None
        return build_graph(sim, self.vec.lay)

    def step(self, slot: np.ndarray, alloc: np.ndarray, p_task: np.ndarray) -> Any:
        """One round; the next round's graphs of the worlds that go on (None for those that
        ended: they wait for :meth:`restart`)."""
        graphs = [g for g in self.last if g is not None]
        assert len(graphs) == len(self.last), "a world ended and was not restarted"
        rewards, done, lost = self.vec.step(graphs, slot, alloc, p_task, restart=False)
        finished, self.vec.finished = self.vec.finished, []
        self.last = [None if d else self._graph(i) for i, d in enumerate(done)]
        return rewards, done, lost, finished, self.last

    def cpu_seconds(self) -> float:
        """CPU time of this actor's process so far (benchmarks/ray_train.py --split)."""
        return time.process_time()

    def restart(self, seeds: dict[int, int]) -> list[Graph]:
        """Start the ended worlds of ``seeds`` (local index: seed); their first graphs, in
        index order."""
        out = []
        for i in sorted(seeds):
            self.vec.cores[i].start(seeds[i])
            g = self._graph(i)
            self.last[i] = g
            out.append(g)
        return out


class RayWorlds:
    """``num_envs`` training worlds in Ray actors, stepped like a :class:`VecWorlds` (see
    the module docstring)."""

    def __init__(self, cfg: TrainConfig, rng: np.random.Generator, workers: int, ray: Any) -> None:
        scenario, source = with_overrides(cfg.scenario, cfg.tasks, cfg.mode)
        self.ray = ray
        self.rng = rng
        self.parts = shards(cfg.num_envs, workers)
        seeds = [train_seed(rng) for _ in range(cfg.num_envs)]  # VecWorlds' order
        actor = ray.remote(num_cpus=1)(_Shard)
        scenario_ref = ray.put(scenario)
        self.actors = [
            actor.remote(scenario_ref, source, [seeds[i] for i in part]) for part in self.parts
        ]
        try:
            first = ray.get([a.graphs.remote() for a in self.actors])
        except BaseException:
            self.close()
            raise
        self.last: list[Graph] = [g for part in first for g in part if g is not None]
        self.finished: list[dict[str, float]] = []

    def graphs(self) -> list[Graph]:
        return list(self.last)

    def step(
        self, graphs: list[Graph], slot: np.ndarray, alloc: np.ndarray, p_task: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One round in every world (``graphs`` are those of :meth:`graphs`, which the actors
        hold already); ended worlds restart with seeds drawn here, in world order."""
        ray = self.ray
        results = ray.get(
            [
                a.step.remote(
                    slot[p.start : p.stop], alloc[p.start : p.stop], p_task[p.start : p.stop]
                )
                for a, p in zip(self.actors, self.parts, strict=True)
            ]
        )
        rewards = np.concatenate([r[0] for r in results])
        done = np.concatenate([r[1] for r in results])
        lost = np.concatenate([r[2] for r in results])
        for r in results:
            self.finished.extend(r[3])
        nxt: list[Graph | None] = [g for r in results for g in r[4]]
        ended = [int(e) for e in np.flatnonzero(done)]
        if ended:
            seeds = {e: train_seed(self.rng) for e in ended}  # world order, as VecWorlds
            calls = []
            for a, p in zip(self.actors, self.parts, strict=True):
                mine = {e - p.start: seeds[e] for e in ended if e in p}
                if mine:
                    calls.append((p, sorted(mine), a.restart.remote(mine)))
            for p, local, ref in calls:
                for i, g in zip(local, ray.get(ref), strict=True):
                    nxt[p.start + i] = g
        assert all(g is not None for g in nxt)
        self.last = [g for g in nxt if g is not None]
        return rewards, done, lost

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []


class RayRollouts:
    """Makes the trainer's :class:`RayWorlds` (``worlds``, a factory for
    :func:`edgesched.rl.tapfinger.mappo.train`), connecting to Ray first (the cluster at
    ``address``, else a local one of ``workers`` CPUs unless this process is connected
    already); :meth:`close` stops the actors and a cluster it started. ``workers`` is
    checked already (:func:`edgesched.rl.ray_vec.check_workers`: 1 to ``num_envs``)."""

    def __init__(self, workers: int, address: str | None = None) -> None:
        self.workers = workers
        self.ray = import_ray()
        self.started = connect(workers, address)
        self.made: list[RayWorlds] = []

    def worlds(self, cfg: TrainConfig, rng: np.random.Generator) -> RayWorlds:
        made = RayWorlds(cfg, rng, self.workers, self.ray)
        self.made.append(made)
        return made

    def close(self) -> None:
        for w in self.made:
            w.close()
        if self.started:
            self.ray.shutdown()
            self.started = False
