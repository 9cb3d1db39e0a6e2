"""TapFinger's network: HAN encoder, pointer over pending slots, masked allocation head and a
centralised critic (SPEC-placement, RL formulation), plus the ablation variants.

Per agent (cluster n) the actor embeds its K pending slots (HAN node embeddings joined with
its own cluster's embedding), runs a transformer encoder over them, and points at one slot
(empty and infeasible slots masked) or at *skip*; then an allocation head, one categorical per
resource over 0..A_r, masked to the feasible box [minimum, free resources]. The product of
the per-resource categoricals is a distribution over the allocation grid. The critic reads the
agent's cluster embedding and its world's shortcut-node embedding (which every cluster
reaches) and predicts a normalised value (unbounded output; see :class:`ValueNorm`).

Variants (``--variant``):

- ``tapfinger``: all of the above;
- ``no-han``: an MLP over stacked features instead of the HAN encoder;
- ``no-pointer``: a uniformly random feasible pending task (the network only learns when to
  skip, and the allocation);
- ``vanilla``: the MLP encoder and first-in-first-out task choice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.distributions import Categorical
from torch_geometric.nn import HANConv

from edgesched.rl.tapfinger.graph import (
    CLUSTER,
    METADATA,
    NODE_TYPES,
    PENDING,
    RUNNING,
    SHORTCUT,
    Batch,
)

VARIANTS = ("tapfinger", "no-han", "no-pointer", "vanilla")
NEG = -1e9  # the logit of a masked choice (finite, so entropies stay finite)


@dataclass
class NetConfig:
    """Sizes of the network; saved in every checkpoint.

    Attributes:
        cluster_dim, pending_dim, running_dim: input feature sizes of the node types
            (pending features include the empty flag; running features exclude the valid flag).
        grid: the allocation grid's maxima A_r.
        hidden: embedding size.
        heads: attention heads (HAN and transformer); must divide ``hidden``.
        layers: HAN layers.
        variant: one of VARIANTS.
    """

    cluster_dim: int
    pending_dim: int
    running_dim: int
    grid: list[int] = field(default_factory=lambda: [16, 16])
    hidden: int = 64
    heads: int = 4
    layers: int = 2
    variant: str = "tapfinger"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mlp(sizes: list[int], last_act: bool = False) -> nn.Sequential:
    """Linear layers with ReLU between them (and after the last when ``last_act``)."""
    mods: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        mods.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_act:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def semantic_attention(
    stacked: torch.Tensor, q: torch.Tensor, k_lin: nn.Module, graph: torch.Tensor, n_graphs: int
) -> torch.Tensor:
    """HAN's semantic-level attention, one set of weights per graph of a batch.

    ``stacked`` (E, n, C) holds what each of the E edge types reaching a node type brings to
    its n nodes; ``graph`` (n,) names each node's graph. A type's weight in a graph is the
    softmax over types of ``q . mean(tanh(k_lin(.)))``, the mean taken over that graph's
    nodes: PyG's ``HANConv`` takes it over every node of the input, which for a batch of
    several graphs lets each graph's output depend on the others.
    """
    e, n, c = stacked.shape
    if n == 0:
        return stacked.new_zeros(0, c)
    key = torch.tanh(k_lin(stacked))  # (E, n, C)
    if n_graphs == 1:  # PyG's arithmetic exactly (greedy decisions hinge on exact ties)
        score = (q * key.mean(1)).sum(-1)  # (E,)
        return (torch.softmax(score, dim=0).view(e, 1, 1) * stacked).sum(0)
    total = key.new_zeros(e, n_graphs, c).index_add_(1, graph, key)
    count = torch.bincount(graph, minlength=n_graphs).clamp(min=1).to(key.dtype)
    score = (q * (total / count.view(1, -1, 1))).sum(-1)  # (E, G)
    weight = torch.softmax(score, dim=0)[:, graph]  # (E, n)
    return (weight.unsqueeze(-1) * stacked).sum(0)


class GraphwiseHANConv(HANConv):
    """PyG's ``HANConv`` (its parameters and its neighbour-level attention, through its own
    ``propagate``) with the semantic-level attention taken per graph of the batch
    (:func:`semantic_attention`), so that a graph's output does not depend on the graphs
    batched with it. On a single graph it equals ``HANConv``."""

    def forward(
        self,
        x_dict: dict[str, torch.Tensor],
        edge_index_dict: dict[tuple[str, str, str], torch.Tensor],
        node_graph: dict[str, torch.Tensor],
        n_graphs: int,
    ) -> dict[str, torch.Tensor | None]:
        heads = self.heads
        z = {
            t: self.proj[t](x).view(-1, heads, self.out_channels // heads)
            for t, x in x_dict.items()
        }
        reaching: dict[str, list[torch.Tensor]] = {t: [] for t in x_dict}
        for (src, rel, dst), edges in edge_index_dict.items():
            key = f"{src}__{rel}__{dst}"
            a_src = (z[src] * self.lin_src[key]).sum(dim=-1)
            a_dst = (z[dst] * self.lin_dst[key]).sum(dim=-1)
            msg = self.propagate(edges, x=(z[src], z[dst]), alpha=(a_src, a_dst))
            reaching[dst].append(torch.relu(msg))
        return {
            t: semantic_attention(torch.stack(xs), self.q, self.k_lin, node_graph[t], n_graphs)
            if xs
            else None
            for t, xs in reaching.items()
        }


class HanEncoder(nn.Module):
    """Input projections, then ``layers`` HANConv layers with a residual and LayerNorm.

    HANConv aggregates neighbours only; the residual keeps a node's own features (a pending
    task's type and minimum would otherwise be lost after the first layer). A node type that
    receives no messages keeps its embedding.
    """

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        dims = {
            CLUSTER: cfg.cluster_dim,
            PENDING: cfg.pending_dim,
            RUNNING: cfg.running_dim,
            SHORTCUT: 1,
        }
        h = cfg.hidden
        self.inp = nn.ModuleDict({t: nn.Linear(dims[t], h) for t in NODE_TYPES})
        self.convs = nn.ModuleList(
            [GraphwiseHANConv(h, h, METADATA, heads=cfg.heads) for _ in range(cfg.layers)]
        )
        self.norms = nn.ModuleList(
            [nn.ModuleDict({t: nn.LayerNorm(h) for t in NODE_TYPES}) for _ in range(cfg.layers)]
        )

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        data = batch.data
        h = {t: torch.relu(self.inp[t](data[t].x)) for t in NODE_TYPES}
        edges = data.edge_index_dict
        for conv, norms in zip(self.convs, self.norms, strict=True):
            assert isinstance(norms, nn.ModuleDict)
            out = conv(h, edges, batch.node_graph, batch.n_graphs)
            h = {t: norms[t](h[t] + out[t]) if out.get(t) is not None else h[t] for t in NODE_TYPES}
        return h


class MlpEncoder(nn.Module):
    """The No-HAN encoder: MLPs over stacked raw features, no message passing except a mean
    over a world's clusters for the critic's global view."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.cluster = mlp([cfg.cluster_dim + cfg.running_dim, h, h], last_act=True)
        self.pending = mlp([cfg.pending_dim, h, h], last_act=True)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        data = batch.data
        hc = self.cluster(torch.cat([data[CLUSTER].x, batch.running_graph_mean], dim=1))
        hs = torch.zeros(batch.n_graphs, hc.shape[1])
        hs.index_add_(0, batch.agent_graph, hc)
        counts = torch.bincount(batch.agent_graph, minlength=batch.n_graphs).clamp(min=1)
        return {
            CLUSTER: hc,
            PENDING: self.pending(batch.pending_x),
            SHORTCUT: hs / counts.unsqueeze(1),
        }


class Forward(NamedTuple):
    """What one forward pass gives per agent."""

    task_logits: torch.Tensor  # (A, K+1), masked; index K is skip
    slot_h: torch.Tensor  # (A, K, H) slot embeddings after the transformer
    ctx: torch.Tensor  # (A, H) the agent's own cluster embedding
    value: torch.Tensor  # (A,) normalised value


class TapFingerNet(nn.Module):
    """Actor (pointer + allocation head) and centralised critic over a shared encoder."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        if cfg.variant not in VARIANTS:
            raise ValueError(f"unknown variant {cfg.variant!r}; expected one of {VARIANTS}")
        self.cfg = cfg
        h = cfg.hidden
        self.encoder: nn.Module = (
            HanEncoder(cfg) if cfg.variant in ("tapfinger", "no-pointer") else MlpEncoder(cfg)
        )
        self.slot_in = nn.Linear(2 * h, h)
        self.transformer = nn.TransformerEncoderLayer(
            h, cfg.heads, dim_feedforward=2 * h, dropout=0.0, batch_first=True
        )
        self.ptr_slot = nn.Linear(h, h, bias=False)
        self.ptr_ctx = nn.Linear(h, h)
        self.ptr_v = nn.Linear(h, 1, bias=False)
        self.skip = mlp([h, h, 1])
        self.dims = [a + 1 for a in cfg.grid]
        self.alloc = mlp([2 * h, h, sum(self.dims)])
        self.critic = mlp([2 * h, h, h, 1])

    def forward(self, batch: Batch) -> Forward:
        """Task logits (masked), slot embeddings, context and value of every agent."""
        hd = self.encoder(batch)
        ctx = hd[CLUSTER]
        slot_h = hd[PENDING][batch.slot_node]  # (A, K, H)
        a, k, h = slot_h.shape
        x = self.slot_in(torch.cat([slot_h, ctx.unsqueeze(1).expand(a, k, h)], dim=2))
        pad = batch.slot_empty.clone()
        pad[pad.all(dim=1)] = False  # an agent with no task attends over its empty slots
        x = self.transformer(x, src_key_padding_mask=pad)
        variant = self.cfg.variant
        if variant in ("tapfinger", "no-han"):
            slot_logits = self.ptr_v(
                torch.tanh(self.ptr_slot(x) + self.ptr_ctx(ctx).unsqueeze(1))
            ).squeeze(2)
            ok = batch.slot_ok
        elif variant == "no-pointer":
            slot_logits = torch.zeros(a, k)
            ok = batch.slot_ok
        else:  # vanilla: first in, first out among the feasible slots
            slot_logits = torch.zeros(a, k)
            rank = batch.slot_rank.masked_fill(~batch.slot_ok, torch.iinfo(torch.long).max)
            first = rank.argmin(dim=1, keepdim=True)
            ok = torch.zeros_like(batch.slot_ok).scatter_(1, first, True) & batch.slot_ok
        slot_logits = slot_logits.masked_fill(~ok, NEG)
        logits = torch.cat([slot_logits, self.skip(ctx)], dim=1)
        value = self.critic(torch.cat([ctx, hd[SHORTCUT][batch.agent_graph]], dim=1))
        return Forward(logits, x, ctx, value.squeeze(1))

    def alloc_logits(self, fwd: Forward, batch: Batch, slot: torch.Tensor) -> list[torch.Tensor]:
        """Per-resource logits of the allocation of the chosen slot, masked to [min, free].

        For agents that skip (slot == K) the slot is taken as 0; callers ignore the result.
        """
        a = len(slot)
        s = slot.clamp(max=batch.slot_ok.shape[1] - 1)
        rows = torch.arange(a)
        e = fwd.slot_h[rows, s]
        out = self.alloc(torch.cat([e, fwd.ctx], dim=1)).split(self.dims, dim=1)
        lo = batch.slot_min[rows, s]  # (A, R)
        res = []
        for r, logits in enumerate(out):
            amount = torch.arange(self.dims[r]).unsqueeze(0)
            ok = (amount >= lo[:, r : r + 1]) & (amount <= batch.hi[:, r : r + 1])
            ok[~ok.any(dim=1), 0] = True  # skipping agents: any valid placeholder
            res.append(logits.masked_fill(~ok, NEG))
        return res


class Act(NamedTuple):
    """Sampled (or greedy) actions of every agent, with what PPO stores."""

    slot: torch.Tensor  # (A,) K means skip
    alloc: torch.Tensor  # (A, R)
    logp_task: torch.Tensor  # (A,)
    logp_alloc: torch.Tensor  # (A,) 0 for skips
    value: torch.Tensor  # (A,) normalised


@torch.no_grad()
def act(
    net: TapFingerNet, batch: Batch, generator: torch.Generator | None = None, greedy: bool = False
) -> Act:
    """Choose a slot (or skip) and an allocation for every agent."""
    fwd = net(batch)
    k = fwd.task_logits.shape[1] - 1
    if greedy:
        slot = fwd.task_logits.argmax(dim=1)
    else:
        slot = torch.multinomial(
            torch.softmax(fwd.task_logits, dim=1), 1, generator=generator
        ).squeeze(1)
    logp_task = torch.log_softmax(fwd.task_logits, dim=1).gather(1, slot[:, None]).squeeze(1)
    allocs, logp_alloc = [], torch.zeros(len(slot))
    for logits in net.alloc_logits(fwd, batch, slot):
        if greedy:
            x = logits.argmax(dim=1)
        else:
            x = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator).squeeze(1)
        allocs.append(x)
        logp_alloc += torch.log_softmax(logits, dim=1).gather(1, x[:, None]).squeeze(1)
    skip = slot == k
    alloc = torch.stack(allocs, dim=1).masked_fill(skip.unsqueeze(1), 0)
    return Act(slot, alloc, logp_task, logp_alloc.masked_fill(skip, 0.0), fwd.value)


def evaluate(
    net: TapFingerNet, batch: Batch, slot: torch.Tensor, alloc: torch.Tensor, lost: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-probability, entropy and normalised value of stored actions (PPO's update).

    The log-probability is the task term plus the allocation term, except for skips and for
    conflict losers (``lost``), whose allocation term is dropped (SPEC-placement).
    """
    fwd = net(batch)
    k = fwd.task_logits.shape[1] - 1
    task = Categorical(logits=fwd.task_logits)
    logp = task.log_prob(slot)
    entropy = task.entropy()
    keep = (slot != k) & ~lost
    for r, logits in enumerate(net.alloc_logits(fwd, batch, slot)):
        dist = Categorical(logits=logits)
        logp = logp + torch.where(keep, dist.log_prob(alloc[:, r]), 0.0)
        entropy = entropy + torch.where(slot != k, dist.entropy(), 0.0)
    return logp, entropy, fwd.value


class ValueNorm(nn.Module):
    """Running mean and variance of value targets; the critic predicts normalised values."""

    def __init__(self, beta: float = 0.999) -> None:
        super().__init__()
        self.beta = beta
        self.mean: torch.Tensor
        self.mean_sq: torch.Tensor
        self.debias: torch.Tensor
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("mean_sq", torch.zeros(()))
        self.register_buffer("debias", torch.zeros(()))

    def update(self, x: torch.Tensor) -> None:
        """Fold a batch of targets into the running statistics (debiased EMA)."""
        b = self.beta
        self.mean.mul_(b).add_(x.mean() * (1 - b))
        self.mean_sq.mul_(b).add_((x**2).mean() * (1 - b))
        self.debias.mul_(b).add_(1 - b)

    def _stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.debias.clamp(min=1e-5)
        mean = self.mean / d
        var = (self.mean_sq / d - mean**2).clamp(min=1e-2)
        return mean, var.sqrt()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats()
        return (x - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats()
        return x * std + mean
