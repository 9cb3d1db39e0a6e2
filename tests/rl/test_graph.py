"""The heterogeneous graph view and its batching."""

from __future__ import annotations

import numpy as np
import torch

from edgesched.placement.env import parallel_env
from edgesched.rl.tapfinger.graph import (
    CLUSTER,
    EDGE_TYPES,
    PENDING,
    RUNNING,
    SHORTCUT,
    build_graph,
    collate,
)
from edgesched.rl.tapfinger.network import NetConfig, TapFingerNet


def _env_with_shared_task():
    for seed in range(200):
        env = parallel_env("synthetic-3", tasks=6)
        env.reset(seed=seed)
        if any(len(t.pending_at) > 1 for t in env.sim.tasks if t.cluster is None):
            return env
    raise AssertionError("no seed with a task pending at two clusters")


def _net(env, **kw) -> TapFingerNet:
    lay = env.lay
    return TapFingerNet(
        NetConfig(
            lay.cluster_dim,
            lay.pending_dim,
            lay.R + lay.T + 1,
            [int(a) for a in lay.grid],
            hidden=16,
            heads=2,
            layers=1,
            **kw,
        )
    )


def test_shared_task_is_one_node() -> None:
    """A task pending at two clusters is one pending node; empty slots are one node each."""
    env = _env_with_shared_task()
    sim, lay = env.sim, env.lay
    g = build_graph(sim, lay)
    tasks = {t.id for cl in sim.clusters for t in cl.pending if t is not None}
    empty = sum(t is None for cl in sim.clusters for t in cl.pending)
    assert len(g.pending) == len(tasks) + empty
    shared = next(t for t in sim.tasks if len(t.pending_at) > 1 and t.cluster is None)
    nodes = {int(g.slot_node[n, sim.clusters[n].pending.index(shared)]) for n in shared.pending_at}
    assert len(nodes) == 1
    assert g.pend_edges.shape == (2, lay.N * lay.K)


def test_edges_go_both_ways() -> None:
    """Every edge type has its reverse with the same pairs."""
    env = _env_with_shared_task()
    b = collate([build_graph(env.sim, env.lay)])
    ei = b.data.edge_index_dict
    for fwd, rev in zip(EDGE_TYPES[::2], EDGE_TYPES[1::2], strict=True):
        assert torch.equal(ei[fwd], ei[rev].flip(0))
    assert ei[(CLUSTER, "joins", SHORTCUT)].shape == (2, env.lay.N)


def test_collate_offsets_indices() -> None:
    """Joining two graphs offsets the second one's node indices."""
    env = _env_with_shared_task()
    g = build_graph(env.sim, env.lay)
    b = collate([g, g])
    p = len(g.pending)
    assert torch.equal(b.slot_node[env.lay.N :], b.slot_node[: env.lay.N] + p)
    assert b.data[PENDING].x.shape[0] == 2 * p
    assert b.data[SHORTCUT].x.shape[0] == 2
    assert torch.equal(b.agent_graph, torch.tensor([0] * env.lay.N + [1] * env.lay.N))


def test_han_handles_a_node_type_without_nodes() -> None:
    """With no running task (an empty node type) the network still gives finite outputs."""
    env = _env_with_shared_task()
    g = build_graph(env.sim, env.lay)
    assert len(g.running) == 0
    b = collate([g])
    assert b.data[RUNNING].x.shape[0] == 0
    out = _net(env)(b)
    assert torch.isfinite(out.value).all()
    assert out.task_logits.shape == (env.lay.N, env.lay.K + 1)


def test_running_tasks_are_nodes() -> None:
    """Started tasks appear as running nodes joined to their cluster."""
    env = parallel_env("synthetic-3", tasks=6)
    env.reset(seed=0)
    n = next(i for i in range(env.lay.N) if env.episode.can_decide(i))
    slot = next(s for s, t in enumerate(env.sim.clusters[n].pending) if t is not None)
    env.step({f"cluster_{n}": np.array([slot, env.lay.index_of((2, 3))])})
    g = build_graph(env.sim, env.lay)
    assert len(g.running) == 1
    assert g.run_edges.tolist() == [[n], [0]]
    assert np.allclose(g.running[0, :2], [2 / 16, 3 / 16])
