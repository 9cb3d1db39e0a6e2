"""TapFinger's decision path, fused: the actor of one world in a few dense tensor operations.

The reference network (:class:`~edgesched.rl.tapfinger.network.TapFingerNet`, PyG
``HANConv`` over a ``HeteroData`` batch) spends most of a decision round in PyG's message
passing machinery and in building the ``HeteroData``; the graphs of one decision round are
tiny (a few clusters, a few dozen pending and running nodes), so the same arithmetic on dense
per-edge-type adjacency matrices is several times faster on one CPU thread.

Nothing here has parameters of its own: :func:`han_conv_dense` reads a ``HANConv``'s
parameters, and :class:`FastActor` reads the modules of a ``TapFingerNet``, so every
checkpoint (existing or new, of any input sizes, hidden size, head count, layer count and
variant) loads unchanged and its fast path decides as its reference path does. Sampling uses
the same ``torch.multinomial`` calls on tensors of the same shapes, so a seeded generator
draws the same numbers. The reference path stays the one used for training (it batches many
worlds and carries gradients); ``tests/rl/test_tapfinger_fast.py`` checks the two agree.

``han_conv_dense`` is ``HANConv.forward`` (PyG 2.x) on dense adjacency: for an edge type
``src -> dst`` with adjacency counts ``A`` (dst x src), the attention logit of a pair is
``leaky_relu(<x_dst, a_dst> + <x_src, a_src>)`` per head, the softmax runs over each
destination's neighbours (PyG's ``softmax``, with its ``1e-16`` in the denominator, so a
node without neighbours aggregates zero), and node types that receive several edge types
combine them by HAN's semantic attention. Repeated edges count as often as they appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import HANConv

from edgesched.rl.tapfinger.graph import (
    CLUSTER,
    EDGE_TYPES,
    NODE_TYPES,
    PENDING,
    RUNNING,
    SHORTCUT,
    Graph,
)
from edgesched.rl.tapfinger.network import NEG, HanEncoder, MlpEncoder, TapFingerNet

EdgeType = tuple[str, str, str]


@dataclass
class DenseGraph:
    """A small heterogeneous graph laid out for :class:`DenseHANConv`.

    Nodes of all types are numbered together (type by type, in ``sizes`` order). Each *row*
    is one (destination node, edge type) pair; rows are grouped by destination type (in
    ``sizes`` order) and, within a type, by edge type (in edge-type order), so the rows of one
    destination type are ``len(blocks[type])`` consecutive blocks of its node count. A row
    lists its sources in edge order, padded to the largest in-degree ``J``: rows with the same
    neighbours in the same order are computed by the same operations in the same order, so
    symmetric clusters get bitwise equal outputs, as through PyG (the world's Bayes rule
    breaks exact ties by a random draw, so this matters for identical decisions).

    Attributes:
        sizes: node count per type.
        nbr: (R, J) global source node of each row's j-th edge (0 for padding).
        pad: (R, J, 1) 0 on edges, -inf on padding.
        row_node: (R,) the global node index of each row's destination.
        row_edge: (R,) the edge-type index of each row.
        blocks: per destination type, the edge types (indices) that reach it, in order.
        edge_row, edge_j: (E,) each edge's row and position in it (by row, then edge order).
    """

    sizes: dict[str, int]
    nbr: Tensor
    pad: Tensor
    row_node: Tensor
    row_edge: Tensor
    blocks: dict[str, list[int]]
    edge_row: Tensor
    edge_j: Tensor
    edge_src: Tensor


def dense_graph(
    sizes: dict[str, int],
    edge_index: dict[EdgeType, np.ndarray],
    edge_types: Sequence[EdgeType],
) -> DenseGraph:
    """Lay out a graph for :class:`DenseHANConv` from node counts and (2, E) edge indices
    (row 0 source, row 1 destination, as PyG stores them); edge types missing from
    ``edge_index`` have no edges. Repeated edges count as often as they appear."""
    offset, m = {}, 0
    for t in sizes:
        offset[t] = m
        m += sizes[t]
    blocks: dict[str, list[int]] = {t: [] for t in sizes}
    for i, (_, _, dst) in enumerate(edge_types):
        blocks[dst].append(i)
    row_node, row_edge, rows, cols = [], [], [], []
    r0 = 0
    for t, n in sizes.items():
        for i in blocks[t]:
            row_node.append(np.arange(offset[t], offset[t] + n))
            row_edge.append(np.full(n, i))
            ei = edge_index.get(edge_types[i])
            if ei is not None and ei.shape[1]:
                rows.append(r0 + ei[1])
                cols.append(offset[edge_types[i][0]] + ei[0])
            r0 += n
    if rows:
        row = np.concatenate(rows)
        col = np.concatenate(cols)
        order = np.argsort(row, kind="stable")  # by row, edge order within a row
        row, col = row[order], col[order]
        deg = np.bincount(row, minlength=r0)
        start = np.concatenate([[0], np.cumsum(deg)[:-1]])
        j = np.arange(len(row)) - start[row]
        width = int(deg.max())
    else:
        row = col = j = np.zeros(0, dtype=np.int64)
        width = 1
    nbr = np.zeros((r0, width), dtype=np.int64)
    pad = np.full((r0, width, 1), -np.inf, dtype=np.float32)
    nbr[row, j] = col
    pad[row, j] = 0.0
    return DenseGraph(
        sizes=dict(sizes),
        nbr=torch.from_numpy(nbr),
        pad=torch.from_numpy(pad),
        row_node=torch.from_numpy(_cat(row_node)),
        row_edge=torch.from_numpy(_cat(row_edge)),
        blocks=blocks,
        edge_row=torch.from_numpy(row.astype(np.int64)),
        edge_j=torch.from_numpy(j.astype(np.int64)),
        edge_src=torch.from_numpy(col.astype(np.int64)),
    )


def _weights(layer: nn.Module) -> tuple[Tensor, Tensor]:
    """A linear layer's weight and bias."""
    w, b = layer.weight, layer.bias
    assert isinstance(w, Tensor) and isinstance(b, Tensor)
    return w, b


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _semantic(out: Tensor, q: Tensor, k_weight: Tensor, k_bias: Tensor) -> Tensor:
    """HAN's semantic attention over the (E, N, C) outputs of the edge types that reach one
    node type (PyG's ``group``)."""
    if out.shape[0] == 1:  # a softmax over one score is exactly 1: PyG's result is out[0]
        return out[0]
    if out.numel() == 0:
        return out.view(0, out.shape[-1])
    score = (q * torch.tanh(F.linear(out, k_weight, k_bias)).mean(1)).sum(-1)
    attn = torch.softmax(score, dim=0)
    return torch.sum(attn.view(out.shape[0], 1, -1) * out, dim=0)


class DenseHANConv:
    """A PyG ``HANConv``'s forward pass on a :class:`DenseGraph`, over the conv's own
    parameters: every edge type's neighbour attention in one padded softmax.

    For the row of destination ``d`` and edge type ``t`` and a source ``s``, the logit is
    ``leaky_relu(<x_d, a_dst_t> + <x_s, a_src_t>)`` per head; the softmax runs over the row
    (PyG's ``softmax``, with its 1e-16 in the denominator, so a row without edges aggregates
    zero), the row aggregates the sources' projections, a ReLU follows, and destination
    types that several edge types reach combine them by HAN's semantic attention.

    Args:
        conv: the PyG layer, read when this is built (build a new one after changing its
            weights).
        edge_types: the edge types of the graphs it will see, in the order PyG visits them
            (the ``edge_index_dict`` order).
    """

    def __init__(self, conv: HANConv, edge_types: Sequence[EdgeType]) -> None:
        self.heads = conv.heads
        self.dim = conv.out_channels // conv.heads
        self.slope = float(conv.negative_slope)
        self.proj = {t: _weights(conv.proj[t]) for t in conv.proj}
        keys = ["__".join(e) for e in edge_types]
        self.n_edge = len(keys)
        lin = [conv.lin_src[k] for k in keys] + [conv.lin_dst[k] for k in keys]
        self.lin = torch.cat(lin).detach().permute(1, 2, 0).contiguous()  # (H, D, 2E)
        self.q, self.k_weight, self.k_bias = conv.q, conv.k_lin.weight, conv.k_lin.bias
        self.blocks = {t: sum(e[2] == t for e in edge_types) for t in conv.proj}

    def __call__(self, x: dict[str, Tensor], g: DenseGraph) -> dict[str, Tensor | None]:
        """Outputs per node type of ``x`` (None for a type no edge type reaches); ``x``
        holds every node type, in the order ``g`` was laid out in."""
        return self.run(x, g.nbr, g.pad, g.row_node, g.row_edge, g.edge_row, g.edge_j, g.edge_src)

    def run(
        self,
        x: dict[str, Tensor],
        nbr: Tensor,
        pad: Tensor,
        row_node: Tensor,
        row_edge: Tensor,
        edge_row: Tensor,
        edge_j: Tensor,
        edge_src: Tensor,
    ) -> dict[str, Tensor | None]:
        """:meth:`__call__` on the layout's tensors (the form that exports to ONNX)."""
        heads, dim = self.heads, self.dim
        z = torch.cat([F.linear(v, *self.proj[t]) for t, v in x.items()]).view(
            -1, heads, dim
        )  # (M, H, D)
        # every node as a source and as a destination of every edge type: (M, E, H) each
        a_src, a_dst = (
            torch.matmul(z.transpose(0, 1), self.lin).permute(1, 2, 0).split(self.n_edge, dim=1)
        )
        e = a_dst[row_node, row_edge].unsqueeze(1) + a_src[nbr, row_edge.unsqueeze(1)]
        e = F.leaky_relu(e, self.slope) + pad  # (R, J, H), -inf on padding
        top = e.amax(dim=1, keepdim=True).clamp(min=-3e38)  # finite also for rows without edges
        w = torch.exp(e - top)
        alpha = w / (w.sum(dim=1, keepdim=True) + 1e-16)
        # out[r, h, :] = sum_j alpha[r, j, h] * z[nbr[r, j], h, :], summed edge by edge in
        # edge order (index_add_ on CPU runs sequentially), as PyG's scatter does
        msg = alpha[edge_row, edge_j].unsqueeze(2) * z[edge_src]  # (E, H, D)
        out = z.new_zeros(row_node.shape[0], heads, dim).index_add(0, edge_row, msg)
        out = F.relu(out.reshape(-1, heads * dim))
        res: dict[str, Tensor | None] = {}
        r0 = 0
        for t, v in x.items():
            n = v.shape[0]
            k = self.blocks[t]
            if k == 0:
                res[t] = None
                continue
            block = out[r0 : r0 + k * n].view(k, n, heads * dim)
            res[t] = _semantic(block, self.q, self.k_weight, self.k_bias)
            r0 += k * n
        return res


def han_conv_dense(
    conv: HANConv, x: dict[str, Tensor], edge_index: dict[EdgeType, Tensor]
) -> dict[str, Tensor | None]:
    """``conv(x, edge_index)`` computed densely (see :class:`DenseHANConv`); edge types
    are taken in ``edge_index``'s order, as PyG takes them.

    The outputs equal PyG's up to float rounding (summation order); the tests bound the
    difference on random graphs.
    """
    types = list(edge_index)
    g = dense_graph(
        {t: len(v) for t, v in x.items()}, {k: v.numpy() for k, v in edge_index.items()}, types
    )
    return DenseHANConv(conv, types)(x, g)


def encoder_layer(layer: nn.TransformerEncoderLayer, x: Tensor, pad: Tensor) -> Tensor:
    """``layer(x, src_key_padding_mask=pad)`` of a post-norm ReLU encoder layer without
    dropout, written out (PyTorch's fused kernel costs more than the arithmetic at this size).

    Rows whose keys are all padded are undefined (as in PyTorch); callers unpad them first.
    """
    attn = layer.self_attn
    b, k, e = x.shape
    heads = attn.num_heads
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    q, kk, v = qkv.view(b, k, 3, heads, e // heads).permute(2, 0, 3, 1, 4).unbind(0)
    o = F.scaled_dot_product_attention(q, kk, v, attn_mask=~pad.view(b, 1, 1, k))
    o = F.linear(o.transpose(1, 2).reshape(b, k, e), attn.out_proj.weight, attn.out_proj.bias)
    n1, n2 = layer.norm1, layer.norm2
    x = F.layer_norm(x + o, n1.normalized_shape, n1.weight, n1.bias, n1.eps)
    f = F.linear(
        F.relu(F.linear(x, layer.linear1.weight, layer.linear1.bias)),
        layer.linear2.weight,
        layer.linear2.bias,
    )
    return F.layer_norm(x + f, n2.normalized_shape, n2.weight, n2.bias, n2.eps)


class FastAct(NamedTuple):
    """One world's decision: per agent the slot (K = skip), the allocation, and the
    probability of the chosen slot (for the world's Bayes rule)."""

    slot: list[int]
    alloc: list[list[int]]
    p_task: list[float]


def _sequential(seq: nn.Module) -> list[tuple[Tensor, Tensor] | None]:
    """An ``nn.Sequential`` of Linear and ReLU layers as weights (None stands for a ReLU)."""
    out: list[tuple[Tensor, Tensor] | None] = []
    for m in seq.children():
        if isinstance(m, nn.Linear):
            out.append((m.weight, m.bias))
        elif isinstance(m, nn.ReLU):
            out.append(None)
        else:
            raise ValueError(f"the fast path covers Linear and ReLU layers, not {m}")
    return out


def _run(layers: list[tuple[Tensor, Tensor] | None], x: Tensor) -> Tensor:
    for layer in layers:
        x = F.relu(x) if layer is None else F.linear(x, layer[0], layer[1])
    return x


class FastActor:
    """The actor of a :class:`TapFingerNet` for one world's graph, without PyG.

    Args:
        net: the reference network, read when this is built (build a new one after
            changing its weights); every variant, size and input dimension is covered.
    """

    def __init__(self, net: TapFingerNet) -> None:
        self.net = net
        self.variant = net.cfg.variant
        self.dims = list(net.dims)
        self.amount = [torch.arange(d).unsqueeze(0) for d in self.dims]
        self.shortcut_x = torch.ones(1, 1)
        tr = net.transformer
        if tr.norm_first or tr.activation is not F.relu or tr.self_attn.dropout:
            raise ValueError("the fast path covers post-norm ReLU encoder layers without dropout")
        enc = net.encoder
        self.han = isinstance(enc, HanEncoder)
        if self.han:
            assert isinstance(enc, HanEncoder)
            self.inp = {t: _weights(enc.inp[t]) for t in NODE_TYPES}
            self.convs = [DenseHANConv(c, EDGE_TYPES) for c in enc.convs]
            self.norms = [
                {t: norms[t] for t in NODE_TYPES}  # type: ignore[index]
                for norms in enc.norms
            ]
        else:
            assert isinstance(enc, MlpEncoder)
            self.mlp_cluster = _sequential(enc.cluster)
            self.mlp_pending = _sequential(enc.pending)
        self.skip = _sequential(net.skip)
        self.alloc = _sequential(net.alloc)

    def layout(self, g: Graph) -> DenseGraph:
        """One world's graph laid out for the dense HAN layers."""
        n, q = len(g.cluster), len(g.running)
        shortcut = np.stack([np.arange(n), np.zeros(n, dtype=np.int64)])
        edges = dict(
            zip(
                EDGE_TYPES,
                (
                    g.pend_edges,
                    g.pend_edges[::-1],
                    g.run_edges,
                    g.run_edges[::-1],
                    shortcut,
                    shortcut[::-1],
                ),
                strict=True,
            )
        )
        sizes = {CLUSTER: n, PENDING: len(g.pending), RUNNING: q, SHORTCUT: 1}
        return dense_graph(sizes, edges, EDGE_TYPES)

    def inputs(self, g: Graph) -> tuple[Tensor, ...]:
        """The tensors :meth:`core` reads from one world's graph."""
        base = (
            torch.from_numpy(g.cluster),
            torch.from_numpy(g.pending),
            torch.from_numpy(g.running),
            torch.from_numpy(g.slot_node),
            torch.from_numpy(g.slot_task < 0),
            torch.from_numpy(g.slot_ok),
        )
        if not self.han:
            return (*base, torch.from_numpy(g.slot_rank), torch.from_numpy(g.run_edges[0]))
        d = self.layout(g)
        return (*base, d.nbr, d.pad, d.row_node, d.row_edge, d.edge_row, d.edge_j, d.edge_src)

    def encode(
        self, cluster: Tensor, pending: Tensor, running: Tensor, *rest: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Cluster (N, H) and pending (P, H) embeddings (``rest``: the layout's tensors for
        the HAN encoder, the running tasks' clusters for the MLP one)."""
        if not self.han:
            (run_src,) = rest
            rmean = torch.zeros(len(cluster), running.shape[1])
            if len(running):
                rmean.index_add_(0, run_src, running)
                counts = torch.bincount(run_src, minlength=len(cluster)).clamp(min=1)
                rmean = rmean / counts.unsqueeze(1)
            hc = _run(self.mlp_cluster, torch.cat([cluster, rmean], dim=1))
            return hc, _run(self.mlp_pending, pending)
        x = {CLUSTER: cluster, PENDING: pending, RUNNING: running, SHORTCUT: self.shortcut_x}
        h = {t: F.relu(F.linear(x[t], *self.inp[t])) for t in NODE_TYPES}
        for conv, norms in zip(self.convs, self.norms, strict=True):
            out = conv.run(h, *rest)
            nxt = {}
            for t in NODE_TYPES:
                o = out[t]
                if o is None:
                    nxt[t] = h[t]
                else:
                    ln = norms[t]
                    nxt[t] = F.layer_norm(h[t] + o, ln.normalized_shape, ln.weight, ln.bias, ln.eps)
            h = nxt
        return h[CLUSTER], h[PENDING]

    def forward(self, g: Graph) -> tuple[Tensor, Tensor, Tensor]:
        """Masked task logits (A, K+1; index K is skip), slot embeddings after the
        transformer (A, K, H) and the agents' cluster embeddings (A, H), as the reference
        network's ``Forward`` gives them."""
        return self.core(*self.inputs(g))

    def core(
        self,
        cluster: Tensor,
        pending: Tensor,
        running: Tensor,
        slot_node: Tensor,
        slot_empty: Tensor,
        slot_ok: Tensor,
        *rest: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`forward` on the graph's tensors (:meth:`inputs`); no data-dependent
        branches for the HAN variants, so it exports to ONNX."""
        net = self.net
        if self.han:
            ctx, pend = self.encode(cluster, pending, running, *rest)
        else:
            ctx, pend = self.encode(cluster, pending, running, rest[1])
        slot_h = pend[slot_node]  # (A, K, H)
        a, k, h = slot_h.shape
        x = F.linear(
            torch.cat([slot_h, ctx.unsqueeze(1).expand(a, k, h)], dim=2),
            net.slot_in.weight,
            net.slot_in.bias,
        )
        # an agent with no task attends over its empty slots
        pad = slot_empty & ~slot_empty.all(dim=1, keepdim=True)
        x = encoder_layer(net.transformer, x, pad)
        variant = self.variant
        if variant in ("tapfinger", "no-han"):
            u = F.linear(x, net.ptr_slot.weight) + F.linear(
                ctx, net.ptr_ctx.weight, net.ptr_ctx.bias
            ).unsqueeze(1)
            slot_logits = F.linear(torch.tanh(u), net.ptr_v.weight).squeeze(2)
            ok = slot_ok
        elif variant == "no-pointer":
            slot_logits = torch.zeros(a, k)
            ok = slot_ok
        else:  # vanilla: first in, first out among the feasible slots
            slot_logits = torch.zeros(a, k)
            rank = rest[0].masked_fill(~slot_ok, torch.iinfo(torch.long).max)
            first = rank.argmin(dim=1, keepdim=True)
            ok = torch.zeros_like(slot_ok).scatter_(1, first, True) & slot_ok
        logits = torch.cat([slot_logits.masked_fill(~ok, NEG), _run(self.skip, ctx)], dim=1)
        return logits, x, ctx

    def alloc_logits(self, g: Graph, x: Tensor, ctx: Tensor, slot: Tensor) -> list[Tensor]:
        """Per-resource allocation logits of the chosen slots, masked to [minimum, free]
        (for skipping agents, slot 0 and any valid placeholder, as in the reference)."""
        a, k = x.shape[0], x.shape[1]
        s = slot.clamp(max=k - 1)
        rows = torch.arange(a)
        out = _run(self.alloc, torch.cat([x[rows, s], ctx], dim=1)).split(self.dims, dim=1)
        lo = torch.from_numpy(g.slot_min)[rows, s]
        hi = torch.from_numpy(g.hi)
        res = []
        for r, lg in enumerate(out):
            amount = self.amount[r]
            ok = (amount >= lo[:, r : r + 1]) & (amount <= hi[:, r : r + 1])
            ok[~ok.any(dim=1), 0] = True
            res.append(lg.masked_fill(~ok, NEG))
        return res

    @torch.inference_mode()
    def act(
        self, g: Graph, generator: torch.Generator | None = None, greedy: bool = False
    ) -> FastAct:
        """Choose a slot (or skip) and an allocation for every cluster of ``g``: the same
        draws as :func:`~edgesched.rl.tapfinger.network.act` on ``collate([g])``."""
        logits, x, ctx = self.forward(g)
        k = logits.shape[1] - 1
        if greedy:
            slot = logits.argmax(dim=1)
        else:
            slot = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator)
            slot = slot.squeeze(1)
        p_task = torch.log_softmax(logits, dim=1).gather(1, slot[:, None]).squeeze(1).exp()
        allocs = []
        for lg in self.alloc_logits(g, x, ctx, slot):
            if greedy:
                allocs.append(lg.argmax(dim=1))
            else:
                draw = torch.multinomial(torch.softmax(lg, dim=1), 1, generator=generator)
                allocs.append(draw.squeeze(1))
        alloc = torch.stack(allocs, dim=1).masked_fill((slot == k).unsqueeze(1), 0)
        return FastAct(slot.tolist(), alloc.tolist(), p_task.tolist())
