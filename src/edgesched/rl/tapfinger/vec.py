"""Several placement worlds stepped in lockstep by one batched policy (TapFinger's rollouts).

Training worlds draw their seeds from ``[TRAIN_SEED_BASE, 2**31)``, so evaluation seeds below
that (the ``compare`` seeds) are never trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from edgesched.placement.episode import Episode
from edgesched.placement.sim import Decision
from edgesched.rl.tapfinger.graph import Graph, build_graph

TRAIN_SEED_BASE = 1_000_000


def train_seed(rng: np.random.Generator) -> int:
    """The next training world's seed, drawn from ``rng``."""
    return int(rng.integers(TRAIN_SEED_BASE, 2**31 - 1))


class Worlds(Protocol):
    """What the trainer steps: :class:`VecWorlds`, or its worlds in Ray actors
    (:mod:`edgesched.rl.tapfinger.ray_worlds`)."""

    #: Episodes ended since the trainer last emptied it: ``return`` and ``mean_jct`` each.
    finished: list[dict[str, float]]

    def graphs(self) -> list[Graph]: ...

    def step(
        self, graphs: list[Graph], slot: np.ndarray, alloc: np.ndarray, p_task: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


class VecWorlds:
    """``n`` placement worlds stepped together by one batched policy."""

    def __init__(
        self,
        scenario: str,
        n: int,
        seeds: Sequence[int] | None = None,
        rng: np.random.Generator | None = None,
        *,
        tasks: int | None = None,
        mode: str | None = None,
        cores: Sequence[Episode] | None = None,
    ) -> None:
        """``cores``: the ``n`` episodes, built already (then ``scenario``, ``tasks`` and
        ``mode`` are not read)."""
        if cores is not None:
            self.cores = list(cores)
        else:
            self.cores = [Episode.build(scenario, tasks=tasks, mode=mode) for _ in range(n)]
        self.lay = self.cores[0].lay
        self.rng = rng
        self.fixed = list(seeds) if seeds is not None else None
        self.finished: list[dict[str, float]] = []
        for i, core in enumerate(self.cores):
            core.start(self._seed(i))
        self.returns = np.zeros((n, self.lay.N))

    def _seed(self, i: int) -> int:
        if self.fixed is not None:
            return self.fixed[i]
        assert self.rng is not None
        return train_seed(self.rng)

    def graphs(self) -> list[Graph]:
        return [build_graph(core.sim, self.lay) for core in self.cores if core.sim is not None]

    def step(
        self,
        graphs: list[Graph],
        slot: np.ndarray,
        alloc: np.ndarray,
        p_task: np.ndarray,
        restart: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply one round in every world; restart finished worlds (when ``restart``).

        Returns:
            rewards (n, N + 1): each cluster's own reward, then the team's (minus every task
            in the system); done (n,); lost (n, N).
        """
        n_env, N, K = len(self.cores), self.lay.N, self.lay.K
        rewards = np.zeros((n_env, N + 1))
        done = np.zeros(n_env, dtype=bool)
        lost = np.zeros((n_env, N), dtype=bool)
        for e, core in enumerate(self.cores):
            g = graphs[e]
            decisions: list[Decision | None] = []
            for n in range(N):
                s = int(slot[e, n])
                if s >= K or not g.slot_ok[n, s]:
                    decisions.append(None)
                else:
                    decisions.append(
                        Decision(
                            int(g.slot_task[n, s]),
                            tuple(int(v) for v in alloc[e, n]),
                            float(p_task[e, n]),
                        )
                    )
            _, r, lost_e = core.round(decisions)
            rewards[e] = r
            lost[e] = lost_e
            self.returns[e] += r[:N]
            sim = core.sim
            assert sim is not None
            if sim.done:
                done[e] = True
                jcts = sim.result("tapfinger").jcts
                self.finished.append(
                    {"return": float(self.returns[e].sum()), "mean_jct": float(np.mean(jcts))}
                )
                self.returns[e] = 0.0
                if restart:
                    core.start(self._seed(e))
        return rewards, done, lost
