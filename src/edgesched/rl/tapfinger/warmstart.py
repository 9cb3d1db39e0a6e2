"""Behaviour-cloning warm start for TapFinger: imitate a hand-written scheduler, then PPO.

A standard remedy for slow exploration in scheduling RL: before multi-agent PPO starts, the
network is fitted by supervised learning to the decisions of a *teacher*, a placement
scheduler that acts in TapFinger's own action space (start one pending task per cluster and
round with an allocation, never re-allocate: ``optimus-np``, ``min``, ``tetris``, ...; elastic
schedulers are refused). The critic is fitted at the same time to the teacher's per-agent
returns (undiscounted, the paper's), and the value normaliser starts from their statistics,
so the first PPO updates see meaningful advantages instead of noise.

Demonstrations (:func:`collect`): the teacher drives the training worlds through the same
:class:`~edgesched.placement.episode.Episode` rounds as PPO's rollouts and with the world's
own policy stream, so an episode is exactly the teacher's run of that seed (tested against
:func:`edgesched.placement.run.simulate`). Every round records the graph view and, per
cluster, the slot of the teacher's task (``K`` for a skip) and its allocation, capped at
the allocation grid (the network cannot express more; the world still gets the teacher's
own allocation, so the run stays the teacher's).

Cloning (:func:`clone`): ``epochs`` passes of minibatches over the rounds; the loss is the
negative log-likelihood of the teacher's (slot, allocation) of every agent that had something
to decide (except choices the network's variant cannot make: ``vanilla`` always takes the
first feasible slot), plus ``vf_coef`` times the value loss on normalised returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from edgesched.core.errors import ConfigError
from edgesched.placement.episode import Episode
from edgesched.placement.sim import Decision
from edgesched.rl.tapfinger.graph import Graph, build_graph, collate
from edgesched.rl.tapfinger.network import NEG, TapFingerNet, ValueNorm, evaluate

if TYPE_CHECKING:
    from edgesched.placement.schedulers.base import PlacementScheduler


def teacher(name: str) -> PlacementScheduler:
    """The placement scheduler ``name``, refused (ConfigError) when it re-allocates running
    tasks: TapFinger only starts tasks, so it can only imitate schedulers that only start."""
    from edgesched.placement.schedulers import make

    sched = make(name)
    if sched.elastic:
        raise ConfigError(
            f"--warm-start {name}: {name} re-allocates running tasks, which TapFinger's action "
            "space cannot express; pick a non-elastic scheduler such as optimus-np."
        )
    return sched


@dataclass
class Demo:
    """The teacher's rounds, in order, over one or more episodes.

    Attributes:
        graphs: the graph view of every round.
        slot: (rounds, N) the slot of the teacher's task per cluster, K for a skip.
        alloc: (rounds, N, R) its allocation, capped at the grid (0 for skips).
        active: (rounds, N) the cluster had a feasible task (the agents PPO trains).
        returns: (rounds, N) undiscounted per-agent return from that round to the episode's end.
        decisions: the teacher's decisions as the world got them (one list per round).
        mean_jct: the mean JCT of each episode.
    """

    graphs: list[Graph] = field(default_factory=list)
    slot: list[np.ndarray] = field(default_factory=list)
    alloc: list[np.ndarray] = field(default_factory=list)
    active: list[np.ndarray] = field(default_factory=list)
    returns: list[np.ndarray] = field(default_factory=list)
    decisions: list[list[Decision | None]] = field(default_factory=list)
    mean_jct: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.graphs)


def collect(
    name: str,
    scenario: str,
    seeds: list[int],
    *,
    tasks: int | None = None,
    mode: str | None = None,
    progress_bar: bool | None = None,
    reward: str = "local",
) -> Demo:
    """The teacher ``name``'s demonstrations on the world seeds ``seeds``; their returns
    from the ``reward`` training will use (local: each cluster's own; team: every agent gets
    the whole system's)."""
    demo = Demo()
    core = Episode.build(scenario, tasks=tasks, mode=mode)
    lay = core.lay
    K, N = lay.K, lay.N
    grid = np.asarray(lay.grid, dtype=np.int64)
    for seed in tqdm(
        seeds, desc=f"warm start: {name} demonstrations", disable=progress_bar is False
    ):
        sched = teacher(name)
        core.start(seed)
        sim = core.sim
        assert sim is not None
        sched.reset(sim, sim.streams["policy"])
        rewards: list[np.ndarray] = []
        while not sim.done:
            g = build_graph(sim, lay)
            decisions = list(sched.decide(sim))
            slot = np.full(N, K, dtype=np.int64)
            alloc = np.zeros((N, lay.R), dtype=np.int64)
            for n, d in enumerate(decisions):
                if d is None or not g.can_decide[n]:
                    continue
                hits = np.flatnonzero(g.slot_task[n] == d.task)
                if len(hits) == 0:  # not among the agent's slots: the world will refuse it
                    raise ConfigError(f"--warm-start {name}: task {d.task} is not pending at {n}.")
                slot[n] = int(hits[0])
                alloc[n] = np.minimum(np.asarray(d.alloc, dtype=np.int64), grid)
            demo.graphs.append(g)
            demo.slot.append(slot)
            demo.alloc.append(alloc)
            demo.active.append(g.can_decide.copy())
            demo.decisions.append(decisions)
            _, r, _ = core.round(decisions)
            rewards.append(r[:N] if reward == "local" else np.repeat(r[N:], N))
        togo = np.cumsum(np.stack(rewards)[::-1], axis=0)[::-1]
        demo.returns.extend(list(togo.astype(np.float32)))
        demo.mean_jct.append(float(np.mean(sim.result(name).jcts)))
    return demo


def clone(
    net: TapFingerNet,
    vnorm: ValueNorm,
    demo: Demo,
    *,
    epochs: int,
    lr: float,
    batch: int = 128,
    vf_coef: float = 0.5,
    max_grad_norm: float = 0.5,
    rng: np.random.Generator,
    progress_bar: bool | None = None,
    log: Any = None,
) -> list[dict[str, float]]:
    """Fit ``net`` to the demonstrations (in place); returns one row of losses per epoch.

    ``vnorm`` is fed the demonstrations' returns first, so the critic learns normalised
    values on the scale PPO will use.
    """
    n = len(demo)
    slot = torch.from_numpy(np.stack(demo.slot))
    alloc = torch.from_numpy(np.stack(demo.alloc))
    active = torch.from_numpy(np.stack(demo.active))
    rets = torch.from_numpy(np.stack(demo.returns))
    for _ in range(200):  # the debiased running statistics settle on the demonstrations'
        vnorm.update(rets.reshape(-1))
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, eps=1e-5)
    rows: list[dict[str, float]] = []
    net.train()
    bar = tqdm(
        total=epochs * n, desc="warm start: cloning", unit="round", disable=progress_bar is False
    )
    for epoch in range(epochs):
        order = rng.permutation(n)
        nll_sum = vf_sum = 0.0
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            b = collate([demo.graphs[j] for j in idx])
            sl = slot[idx].reshape(-1)
            al = alloc[idx].reshape(-1, alloc.shape[2])
            logp, _, v = evaluate(net, b, sl, al, torch.zeros(len(sl), dtype=torch.bool))
            # a choice the variant cannot make (vanilla's first-in-first-out slot) is not
            # imitated: its masked log-probability carries no gradient worth following
            act_m = (active[idx].reshape(-1) & (logp.detach() > NEG / 2)).float()
            w = act_m.sum().clamp(min=1.0)
            nll = -(logp * act_m).sum() / w
            vf = 0.5 * ((v - vnorm.normalize(rets[idx].reshape(-1))) ** 2).mean()
            loss = nll + vf_coef * vf
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
            optimizer.step()
            nll_sum += float(nll.detach()) * len(idx)
            vf_sum += float(vf.detach()) * len(idx)
            bar.update(len(idx))
        row = {
            "epoch": epoch + 1,
            "nll": nll_sum / n,
            "value_loss": vf_sum / n,
        }
        rows.append(row)
        if log is not None:
            log(row)
    bar.close()
    net.eval()
    return rows
