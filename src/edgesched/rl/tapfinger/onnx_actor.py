"""TapFinger's actor on ONNX Runtime: the fused dense actor (:mod:`.fast`) exported once
per checkpoint and run by ONNX Runtime on one thread.

The deterministic part of a decision (HAN encoder, transformer, pointer: the task logits,
slot embeddings and cluster embeddings) runs in ONNX Runtime, where an operator costs about a
microsecond instead of PyTorch's few from Python; the sampling and the allocation head stay in
PyTorch, with the same ``torch.multinomial`` calls as the other paths, so a seeded run draws
the same numbers. Exporting takes tens of seconds, so the exported model is cached on disk,
named by a digest of the network's configuration and weights and of the torch and exporter
versions (``$EDGESCHED_TAPFINGER_CACHE``, default ``~/.cache/edgesched/tapfinger``); a
checkpoint's first use exports it, later ones (every process) load it. The cache holds
generated files only and can be deleted at any time.

Covers the HAN variants (``tapfinger``, ``no-pointer``); the MLP variants keep the PyTorch
fused path.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from edgesched.rl.tapfinger.fast import FastActor
from edgesched.rl.tapfinger.graph import Graph
from edgesched.rl.tapfinger.network import TapFingerNet

ENV_VAR = "EDGESCHED_TAPFINGER_CACHE"
#: Bumped whenever the exported graph changes, so stale cache entries are never read.
EXPORT_VERSION = "1"
INPUTS = (
    "cluster",
    "pending",
    "running",
    "slot_node",
    "slot_empty",
    "slot_ok",
    "nbr",
    "pad",
    "row_node",
    "row_edge",
    "edge_row",
    "edge_j",
    "edge_src",
)


def cache_dir() -> Path:
    """The folder of exported actors (created if missing)."""
    root = os.environ.get(ENV_VAR)
    path = Path(root) if root else Path.home() / ".cache" / "edgesched" / "tapfinger"
    path.mkdir(parents=True, exist_ok=True)
    return path


def digest(net: TapFingerNet) -> str:
    """A name for the exported actor of ``net``: its configuration, every weight, and the
    versions that shape the export."""
    h = hashlib.sha256()
    h.update(json.dumps(net.cfg.to_dict(), sort_keys=True).encode())
    h.update(f"{torch.__version__} {EXPORT_VERSION}".encode())
    for name, t in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


def example_graph(net: TapFingerNet) -> Graph:
    """A made-up graph with the network's feature sizes for tracing the export: 7 clusters
    of 11 slots, 9 tasks (each pending at 3 clusters), 23 running tasks (17 on cluster 0).
    Every size the export keeps symbolic differs from the others and from 0 and 1, which the
    tracer would otherwise treat as equal or constant."""
    cfg = net.cfg
    rng = np.random.default_rng(0)
    n_cl, k = 7, 11
    rows: list[int] = []
    slot_node = np.zeros((n_cl, k), dtype=np.int64)
    slot_task = np.full((n_cl, k), -1, dtype=np.int64)
    node_of: dict[int, int] = {}
    src, dst = [], []
    n_nodes = 0
    for c in range(n_cl):
        for s in range(k):
            if s < 3:
                task = (c + s) % 9
                if task not in node_of:
                    node_of[task] = n_nodes
                    n_nodes += 1
                idx = node_of[task]
                slot_task[c, s] = task
            else:
                idx = n_nodes
                n_nodes += 1
            slot_node[c, s] = idx
            src.append(c)
            dst.append(idx)
    rows = [0] * 17 + list(range(1, n_cl)) * 1
    q = len(rows)
    f32 = np.float32
    return Graph(
        cluster=rng.random((n_cl, cfg.cluster_dim), dtype=f32),
        pending=rng.random((n_nodes, cfg.pending_dim), dtype=f32),
        running=rng.random((q, cfg.running_dim), dtype=f32),
        pend_edges=np.array([src, dst], dtype=np.int64),
        run_edges=np.array([rows, list(range(q))], dtype=np.int64),
        slot_node=slot_node,
        slot_ok=slot_task >= 0,
        slot_min=np.ones((n_cl, k, len(cfg.grid)), dtype=np.int64),
        slot_rank=np.where(slot_task >= 0, slot_task, np.iinfo(np.int64).max),
        slot_task=slot_task,
        hi=np.full((n_cl, len(cfg.grid)), 2, dtype=np.int64),
        can_decide=np.ones(n_cl, dtype=bool),
    )


class _Core(nn.Module):
    """The exported function: :meth:`FastActor.core` on the graph's tensors."""

    def __init__(self, actor: FastActor) -> None:
        super().__init__()
        self.actor = actor
        self.net = actor.net  # registers the weights, so the exporter sees them

    def forward(
        self,
        cluster: Tensor,
        pending: Tensor,
        running: Tensor,
        slot_node: Tensor,
        slot_empty: Tensor,
        slot_ok: Tensor,
        nbr: Tensor,
        pad: Tensor,
        row_node: Tensor,
        row_edge: Tensor,
        edge_row: Tensor,
        edge_j: Tensor,
        edge_src: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        return self.actor.core(
            cluster,
            pending,
            running,
            slot_node,
            slot_empty,
            slot_ok,
            nbr,
            pad,
            row_node,
            row_edge,
            edge_row,
            edge_j,
            edge_src,
        )


def export(actor: FastActor, g: Graph, path: Path) -> None:
    """Export ``actor``'s core to ``path`` (written atomically), tracing on graph ``g``."""
    from torch.export import Dim

    args = actor.inputs(g)
    n, a = Dim("N", min=1), Dim("P", min=1)
    q, r, j, e, k = Dim("Q", min=0), Dim("R", min=1), Dim("J", min=1), Dim("E"), Dim("K")
    shapes = (
        {0: n},
        {0: a},
        {0: q},
        {0: n, 1: k},
        {0: n, 1: k},
        {0: n, 1: k},
        {0: r, 1: j},
        {0: r, 1: j},
        {0: r},
        {0: r},
        {0: e},
        {0: e},
        {0: e},
    )
    fd, tmp = tempfile.mkstemp(prefix=".tapfinger-", suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(
                _Core(actor).eval(),
                args,
                tmp,
                dynamo=True,
                dynamic_shapes=shapes,
                input_names=list(INPUTS),
                output_names=["logits", "slot_h", "ctx"],
                verbose=False,
            )
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class OnnxActor(FastActor):
    """:class:`FastActor` whose deterministic part runs in ONNX Runtime (see the module
    docstring).

    Args:
        net: the reference network (a HAN variant); exported on the first use of these
            weights (the exported model is cached on disk).
    """

    def __init__(self, net: TapFingerNet) -> None:
        super().__init__(net)
        if not self.han:
            raise ValueError("the ONNX actor covers the HAN variants (tapfinger, no-pointer)")
        import onnxruntime as ort

        self.path = cache_dir() / f"{digest(net)}.onnx"
        if not self.path.is_file():
            export(self, example_graph(net), self.path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.path), opts, providers=["CPUExecutionProvider"]
        )
        self.names = [i.name for i in self.session.get_inputs()]

    def forward(self, g: Graph) -> tuple[Tensor, Tensor, Tensor]:
        feed = dict(zip(INPUTS, (t.numpy() for t in self.inputs(g)), strict=True))
        outs = self.session.run(None, {k: feed[k] for k in self.names})
        logits, x, ctx = (torch.from_numpy(np.asarray(o)) for o in outs)
        return logits, x, ctx
