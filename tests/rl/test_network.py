"""Masks, conflict-loser log-probabilities and PPO loss masking, on tiny inputs."""

from __future__ import annotations

import pytest
import torch

from edgesched.placement.env import parallel_env
from edgesched.rl.tapfinger.graph import build_graph, collate
from edgesched.rl.tapfinger.mappo import ppo_loss
from edgesched.rl.tapfinger.network import NetConfig, TapFingerNet, ValueNorm, act, evaluate


def _setup(variant: str = "tapfinger", seed: int = 3):
    env = parallel_env("synthetic-3", tasks=24)
    env.reset(seed=seed)
    lay = env.lay
    torch.manual_seed(0)
    net = TapFingerNet(
        NetConfig(
            lay.cluster_dim,
            lay.pending_dim,
            lay.R + lay.T + 1,
            [int(a) for a in lay.grid],
            hidden=16,
            heads=2,
            layers=1,
            variant=variant,
        )
    )
    g = build_graph(env.sim, lay)
    return env, net, g, collate([g] * 4)


@pytest.mark.parametrize("variant", ["tapfinger", "no-han", "no-pointer", "vanilla"])
def test_sampled_actions_respect_masks(variant: str) -> None:
    """Sampled slots are feasible or skip; allocations lie in [minimum, free]."""
    env, net, _g, b = _setup(variant)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        a = act(net, b, generator=gen)
        k = env.lay.K
        for i, s in enumerate(a.slot.tolist()):
            if s == k:
                assert a.alloc[i].sum() == 0
                continue
            assert b.slot_ok[i, s]
            assert (a.alloc[i] >= b.slot_min[i, s]).all()
            assert (a.alloc[i] <= b.hi[i]).all()


def test_vanilla_chooses_first_in_first_out() -> None:
    """The vanilla variant starts the earliest-arrived feasible task (or skips)."""
    env, net, _g, b = _setup("vanilla")
    a = act(net, b, generator=torch.Generator().manual_seed(1))
    for i, s in enumerate(a.slot.tolist()):
        if s < env.lay.K:
            ranks = b.slot_rank[i].masked_fill(~b.slot_ok[i], 2**62)
            assert s == int(ranks.argmin())


def test_loser_log_prob_drops_allocation_term() -> None:
    """A conflict loser's log-probability is its task term alone; a winner's adds the
    allocation term; a skip has no allocation term."""
    env, net, _g, b = _setup()
    a = act(net, b, generator=torch.Generator().manual_seed(2))
    lost = torch.zeros_like(a.slot, dtype=torch.bool)
    started = (a.slot < env.lay.K).nonzero().flatten()
    assert len(started) >= 2
    lost[started[0]] = True
    logp, _, _ = evaluate(net, b, a.slot, a.alloc, lost)
    assert torch.allclose(logp[started[0]], a.logp_task[started[0]], atol=1e-5)
    assert torch.allclose(
        logp[started[1]], a.logp_task[started[1]] + a.logp_alloc[started[1]], atol=1e-5
    )
    assert not torch.allclose(a.logp_alloc[started[1]], torch.tensor(0.0))
    skips = a.slot == env.lay.K
    assert torch.allclose(logp[skips], a.logp_task[skips], atol=1e-5)


def test_loss_leaves_out_inactive_agents() -> None:
    """Agents with nothing to decide get no policy or entropy gradient."""
    logp = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    ent = torch.tensor([1.0, 5.0, 2.0], requires_grad=True)
    old = torch.tensor([-1.1, -1.0, -0.4])
    adv = torch.tensor([1.0, 100.0, -1.0])
    active = torch.tensor([True, False, True])
    pg, e, _, _ = ppo_loss(logp, old, adv, ent, active, clip=0.2)
    (pg - e).backward()
    assert logp.grad is not None and ent.grad is not None
    assert logp.grad[1] == 0 and ent.grad[1] == 0
    assert logp.grad[0] != 0 and logp.grad[2] != 0
    assert torch.isclose(e, torch.tensor(1.5))


def test_loss_clips_the_ratio() -> None:
    """A ratio beyond 1 + clip with a positive advantage gets no gradient."""
    logp = torch.tensor([0.0, -3.0], requires_grad=True)
    old = torch.tensor([-1.0, -3.0])  # ratio e for the first
    adv = torch.tensor([1.0, -1.0])
    pg, _, _, clipped = ppo_loss(
        logp, old, adv, torch.zeros(2), torch.ones(2, dtype=torch.bool), clip=0.2
    )
    pg.backward()
    assert logp.grad is not None and logp.grad[0] == 0 and logp.grad[1] != 0
    assert clipped == 0.5


def test_value_norm_round_trip() -> None:
    """normalize and denormalize are inverse; normalised targets are centred."""
    vn = ValueNorm(beta=0.9)
    x = torch.tensor([-100.0, -120.0, -80.0, -110.0])
    for _ in range(200):
        vn.update(x)
    assert torch.allclose(vn.denormalize(vn.normalize(x)), x, atol=1e-3)
    assert abs(float(vn.normalize(x).mean())) < 1e-2


@pytest.mark.parametrize("variant", ["tapfinger", "no-han"])
def test_a_graph_decides_alike_alone_and_in_a_batch(variant: str) -> None:
    """Rollouts batch 16 worlds, PPO 128 rounds, the scheduler one world: a graph's logits
    and value must not depend on the graphs batched with it (PyG's HANConv takes HAN's
    semantic attention over every node of its input; ours per graph)."""
    from edgesched.rl.tapfinger.vec import VecWorlds

    _, net, _, _ = _setup(variant)
    vec = VecWorlds("synthetic-3", 6, seeds=list(range(6)), tasks=24)
    graphs = []
    for _ in range(3):  # rounds of different sizes (pending, running, free)
        gs = vec.graphs()
        graphs += gs
        a = act(net, collate(gs))
        n = vec.lay.N
        vec.step(
            gs,
            a.slot.numpy().reshape(6, n),
            a.alloc.numpy().reshape(6, n, -1),
            a.logp_task.exp().numpy().reshape(6, n),
        )
    with torch.no_grad():
        together = net(collate(graphs))
        alone = [net(collate([g])) for g in graphs]
    logits = torch.cat([f.task_logits for f in alone])
    finite = torch.isfinite(logits)
    assert torch.equal(finite, torch.isfinite(together.task_logits))
    assert torch.allclose(together.task_logits[finite], logits[finite], atol=1e-5, rtol=1e-5)
    assert torch.allclose(together.value, torch.cat([f.value for f in alone]), atol=1e-5)
