"""The fused dense decision path equals the reference PyG network.

Tolerance: outputs within 1e-5 absolute + 1e-5 relative in float32 (the two differ only in
summation order); decisions (seeded samples) identical.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.nn import HANConv

from edgesched.placement.env import parallel_env
from edgesched.placement.scenario import with_overrides
from edgesched.placement.sim import PlacementSim
from edgesched.placement.workload import workload
from edgesched.rl.tapfinger.checkpoint import load_checkpoint
from edgesched.rl.tapfinger.fast import FastActor, han_conv_dense
from edgesched.rl.tapfinger.graph import build_graph, collate
from edgesched.rl.tapfinger.network import NetConfig, TapFingerNet
from edgesched.rl.tapfinger.scheduler import TapFingerScheduler, shipped_checkpoint

TOL = {"atol": 1e-5, "rtol": 1e-5}

META_TYPES = ["a", "b", "c"]
META_EDGES = [
    ("a", "to", "b"),
    ("b", "to", "a"),
    ("c", "to", "a"),
    ("a", "self", "a"),
    ("b", "to", "c"),
]


def _random_graph(rng: np.random.Generator, sizes: dict[str, int], density: float):
    edges = {}
    for src, rel, dst in META_EDGES:
        ns, nd = sizes[src], sizes[dst]
        count = int(rng.integers(0, max(1, int(density * ns * nd)) + 1)) if ns and nd else 0
        ei = np.stack([rng.integers(0, max(ns, 1), count), rng.integers(0, max(nd, 1), count)])
        edges[(src, rel, dst)] = torch.from_numpy(ei.astype(np.int64))
    return edges


@pytest.mark.parametrize("seed", range(12))
def test_dense_han_conv_equals_pyg_on_random_graphs(seed: int) -> None:
    """Random sizes (empty node types included), random edges (repeated ones included),
    random heads and widths: every output equals PyG's HANConv."""
    rng = np.random.default_rng(seed)
    heads = int(rng.choice([1, 2, 4]))
    out_ch = heads * int(rng.integers(1, 9))
    in_ch = {t: int(rng.integers(1, 12)) for t in META_TYPES}
    sizes = {t: int(rng.integers(0 if t == "c" else 1, 9)) for t in META_TYPES}
    torch.manual_seed(seed)
    conv = HANConv(in_ch, out_ch, (META_TYPES, META_EDGES), heads=heads).eval()
    x = {t: torch.randn(sizes[t], in_ch[t]) for t in META_TYPES}
    edges = _random_graph(rng, sizes, float(rng.uniform(0.1, 1.5)))
    with torch.no_grad():
        ref = conv(x, edges)
        got = han_conv_dense(conv, x, edges)
    for t in META_TYPES:
        if ref[t] is None:
            assert got[t] is None
        else:
            assert got[t] is not None and got[t].shape == ref[t].shape
            torch.testing.assert_close(got[t], ref[t], **TOL)


def test_dense_han_conv_node_without_edges_aggregates_zero() -> None:
    """A destination with no incoming edge gets ReLU(0) = 0 from that edge type, as in PyG."""
    torch.manual_seed(0)
    meta = (["a", "b"], [("a", "to", "b")])
    conv = HANConv(3, 4, meta, heads=2).eval()
    x = {"a": torch.randn(2, 3), "b": torch.randn(3, 3)}
    edges = {("a", "to", "b"): torch.tensor([[0, 1], [0, 0]])}
    with torch.no_grad():
        got = han_conv_dense(conv, x, edges)
        ref = conv(x, edges)
    assert got["a"] is None and ref["a"] is None
    assert torch.all(got["b"][1:] == 0)
    torch.testing.assert_close(got["b"], ref["b"], **TOL)


def _net(variant: str, seed: int, lay, hidden: int, heads: int, layers: int, extra: int = 0):
    torch.manual_seed(seed)
    return TapFingerNet(
        NetConfig(
            lay.cluster_dim + extra,
            lay.pending_dim,
            lay.R + lay.T + 1 + extra,
            [int(a) for a in lay.grid],
            hidden=hidden,
            heads=heads,
            layers=layers,
            variant=variant,
        )
    ).eval()


def _graphs(scenario: str, seed: int, rounds: int):
    env = parallel_env(scenario, tasks=40)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rounds):
        out.append(build_graph(env.sim, env.lay))
        actions = {a: env.action_space(a).sample(mask=None) for a in env.agents}
        for a in actions:
            actions[a] = (env.lay.K, 0) if rng.random() < 0.5 else actions[a]
        env.step(actions)
        if not env.agents:
            break
    return env.lay, out


def _pad_features(g, extra: int):
    """The same graph with ``extra`` more cluster and running features (random values), as
    another training setup could add."""
    rng = np.random.default_rng(extra)
    g2 = type(g)(**vars(g))
    g2.cluster = np.concatenate(
        [g.cluster, rng.random((len(g.cluster), extra), dtype=np.float32)], axis=1
    )
    g2.running = np.concatenate(
        [g.running, rng.random((len(g.running), extra), dtype=np.float32)], axis=1
    )
    return g2


@pytest.mark.parametrize(
    ("variant", "hidden", "heads", "layers", "extra"),
    [
        ("tapfinger", 64, 4, 2, 0),
        ("tapfinger", 24, 3, 3, 3),
        ("tapfinger", 16, 1, 1, 0),
        ("no-pointer", 32, 2, 2, 0),
        ("no-han", 32, 4, 1, 2),
        ("vanilla", 16, 2, 1, 0),
    ],
)
def test_fast_forward_equals_reference(variant, hidden, heads, layers, extra) -> None:
    """Task logits, slot embeddings, context and allocation logits equal the reference
    network's on graphs of a running world, for every variant and other input sizes."""
    lay, graphs = _graphs("synthetic-3", 5, 12)
    net = _net(variant, 1, lay, hidden, heads, layers, extra)
    fast = FastActor(net)
    seen_running = False
    for g in graphs:
        g = _pad_features(g, extra) if extra else g
        seen_running |= len(g.running) > 0
        with torch.no_grad():
            ref = net(collate([g]))
            logits, x, ctx = fast.forward(g)
            torch.testing.assert_close(logits, ref.task_logits, **TOL)
            torch.testing.assert_close(x, ref.slot_h, **TOL)
            torch.testing.assert_close(ctx, ref.ctx, **TOL)
            slot = ref.task_logits.argmax(dim=1)
            b = collate([g])
            for mine, theirs in zip(
                fast.alloc_logits(g, x, ctx, slot), net.alloc_logits(ref, b, slot), strict=True
            ):
                torch.testing.assert_close(mine, theirs, **TOL)
    assert seen_running  # the graphs covered rounds with and without running tasks


def _episode(sched: TapFingerScheduler, scenario: str, seed: int, tasks: int = 96):
    sc, _ = with_overrides(scenario, tasks=tasks)
    sim = PlacementSim(sc, workload(sc, seed), seed, record=False)
    return sim.run(sched)


@pytest.mark.parametrize(
    ("scenario", "seed"), [("synthetic-3", 1000), ("synthetic-3", 1001), ("synthetic-6", 1002)]
)
def test_shipped_checkpoint_decides_identically(scenario: str, seed: int) -> None:
    """The shipped checkpoint, sampled with the run's seed, gives the same episode (every
    task's start, allocation and completion) through the fast and the reference path."""
    path = shipped_checkpoint("synthetic-3")
    assert path is not None
    ckpt = load_checkpoint(path)
    fast = _episode(TapFingerScheduler.from_contents(ckpt, fast=True), scenario, seed)
    ref = _episode(TapFingerScheduler.from_contents(ckpt, fast=False), scenario, seed)
    assert fast.tasks == ref.tasks  # every task's cluster, start and finish
    assert (fast.rounds, fast.conflicts) == (ref.rounds, ref.conflicts)
    assert fast.conflicts > 0  # the Bayes rule (fed the fast path's probabilities) was used


def test_greedy_fast_decisions_match() -> None:
    """Greedy decisions of the shipped checkpoint agree through both paths."""
    path = shipped_checkpoint("synthetic-3")
    assert path is not None
    ckpt = load_checkpoint(path)
    fast = _episode(TapFingerScheduler.from_contents(ckpt, greedy=True), "synthetic-3", 7)
    ref = _episode(
        TapFingerScheduler.from_contents(ckpt, greedy=True, fast=False), "synthetic-3", 7
    )
    assert fast.tasks == ref.tasks
