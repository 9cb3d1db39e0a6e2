"""The heterogeneous graph view of the placement world (SPEC-placement, RL formulation).

Node types (features, per node):

- ``cluster``: free resources and capacity (over the largest capacity), queue length / K;
- ``pending``: minimum requirement (over the allocation grid), task-type one-hot, empty-slot
  flag; one node per pending task even when it is pending at several clusters, and one node
  per empty slot (so that every agent has exactly K slot nodes);
- ``running``: allocation (over the grid), type one-hot, elapsed timesteps / 10;
- ``shortcut``: one node per world, joined to every cluster node.

Edges: cluster-pending, cluster-running, cluster-shortcut, in both directions.

A :class:`Graph` is one world at one decision round, as numpy arrays; :func:`collate` joins
several (from several environments, or several rounds of a rollout) into one PyG
``HeteroData`` with the per-agent tensors the network needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import HeteroData

from edgesched.placement.observation import (
    FEATURE_MAX,
    RUNNING_ELAPSED_SCALE,
    Layout,
    cluster_features,
)
from edgesched.placement.sim import PlacementSim

CLUSTER, PENDING, RUNNING, SHORTCUT = "cluster", "pending", "running", "shortcut"
NODE_TYPES = (CLUSTER, PENDING, RUNNING, SHORTCUT)
EDGE_TYPES = (
    (CLUSTER, "holds", PENDING),
    (PENDING, "pending_at", CLUSTER),
    (CLUSTER, "runs", RUNNING),
    (RUNNING, "runs_on", CLUSTER),
    (CLUSTER, "joins", SHORTCUT),
    (SHORTCUT, "reaches", CLUSTER),
)
METADATA = (list(NODE_TYPES), list(EDGE_TYPES))
EMPTY_RANK = np.iinfo(np.int64).max


@dataclass
class Graph:
    """One world at one decision round.

    Attributes:
        cluster, pending, running: node features (N, Fc), (P, Fp), (Q, Fr).
        pend_edges: (2, E) cluster index -> pending node index (one per non-empty and empty
            slot); run_edges: (2, Er) cluster index -> running node index.
        slot_node: (N, K) the pending node of each slot.
        slot_ok: (N, K) bool, the slot holds a task that fits the free resources and grid.
        slot_min: (N, K, R) the slot's minimum requirement (0 for empty slots).
        slot_rank: (N, K) the slot's task id (arrival order), EMPTY_RANK when empty.
        slot_task: (N, K) the slot's task id, -1 when empty.
        hi: (N, R) the largest allocation of each resource (free resources, capped by the grid).
        can_decide: (N,) bool, some slot is feasible.
    """

    cluster: np.ndarray
    pending: np.ndarray
    running: np.ndarray
    pend_edges: np.ndarray
    run_edges: np.ndarray
    slot_node: np.ndarray
    slot_ok: np.ndarray
    slot_min: np.ndarray
    slot_rank: np.ndarray
    slot_task: np.ndarray
    hi: np.ndarray
    can_decide: np.ndarray


def build_graph(sim: PlacementSim, lay: Layout) -> Graph:
    """The graph view of ``sim`` now.

    Built in plain Python lists and turned into arrays once (with R = 2 a numpy call per
    slot costs more than the arithmetic; this is on every decision round's path).
    """
    N, K, R, T = lay.N, lay.K, lay.R, lay.T
    grid = [int(a) for a in lay.grid]
    width = R + T + 1
    empty_row = [0.0] * width
    empty_row[R + T] = 1.0
    node_of: dict[int, int] = {}
    pend_rows: list[list[float]] = []
    src: list[int] = []
    dst: list[int] = []
    slot_node = [[0] * K for _ in range(N)]
    slot_ok = [[False] * K for _ in range(N)]
    slot_min = [[[0] * R for _ in range(K)] for _ in range(N)]
    slot_rank = [[EMPTY_RANK] * K for _ in range(N)]
    slot_task = [[-1] * K for _ in range(N)]
    hi: list[list[int]] = []
    run_rows: list[list[float]] = []
    rsrc: list[int] = []
    t_now = sim.t
    for n, cl in enumerate(sim.clusters):
        free = [min(int(f), g) for f, g in zip(cl.free, grid, strict=True)]
        hi.append(free)
        for s, task in enumerate(cl.pending):
            if task is None:
                idx = len(pend_rows)
                pend_rows.append(empty_row)
            else:
                idx_opt = node_of.get(task.id)
                need = task.min
                if idx_opt is None:
                    row = [0.0] * width
                    for r in range(R):
                        row[r] = need[r] / grid[r]
                    row[R + min(task.type_index, T - 1)] = 1.0
                    idx = node_of[task.id] = len(pend_rows)
                    pend_rows.append(row)
                else:
                    idx = idx_opt
                slot_min[n][s] = list(need)
                slot_rank[n][s] = task.id
                slot_task[n][s] = task.id
                slot_ok[n][s] = all(need[r] <= free[r] for r in range(R))
            slot_node[n][s] = idx
            src.append(n)
            dst.append(idx)
        for task in cl.running:
            row = [0.0] * width
            alloc = task.alloc
            for r in range(R):
                row[r] = alloc[r] / grid[r]
            row[R + min(task.type_index, T - 1)] = 1.0
            row[R + T] = min((t_now - (task.start or 0)) / RUNNING_ELAPSED_SCALE, FEATURE_MAX)
            run_rows.append(row)
            rsrc.append(n)
    running = (
        np.array(run_rows, dtype=np.float32) if run_rows else np.zeros((0, width), dtype=np.float32)
    )
    ok = np.array(slot_ok, dtype=bool)
    return Graph(
        cluster=cluster_features(sim, lay),
        pending=np.array(pend_rows, dtype=np.float32),
        running=running,
        pend_edges=np.array([src, dst], dtype=np.int64),
        run_edges=np.array([rsrc, list(range(len(rsrc)))], dtype=np.int64).reshape(2, -1),
        slot_node=np.array(slot_node, dtype=np.int64),
        slot_ok=ok,
        slot_min=np.array(slot_min, dtype=np.int64).reshape(N, K, R),
        slot_rank=np.array(slot_rank, dtype=np.int64),
        slot_task=np.array(slot_task, dtype=np.int64),
        hi=np.array(hi, dtype=np.int64).reshape(N, R),
        can_decide=np.asarray(ok.any(axis=1)),
    )


@dataclass
class Batch:
    """Several graphs joined: the HeteroData for the encoder plus per-agent tensors.

    Agents are the cluster nodes, in graph order (graph b's cluster n is agent
    ``b * N + n`` when every graph has N clusters).
    """

    data: HeteroData
    slot_node: torch.Tensor  # (A, K) global pending-node index
    slot_ok: torch.Tensor  # (A, K) bool
    slot_empty: torch.Tensor  # (A, K) bool
    slot_min: torch.Tensor  # (A, K, R) long
    slot_rank: torch.Tensor  # (A, K) long
    hi: torch.Tensor  # (A, R) long
    agent_graph: torch.Tensor  # (A,) which graph each agent belongs to
    pending_x: torch.Tensor  # (P, Fp) raw pending features (MLP variants)
    running_graph_mean: torch.Tensor  # (A, Fr) mean running features per cluster
    n_graphs: int
    node_graph: dict[str, torch.Tensor]  # per node type, which graph each node belongs to


def collate(graphs: Sequence[Graph]) -> Batch:
    """Join graphs into one batch (disjoint union, indices offset)."""
    c_off = p_off = r_off = 0
    pend_e, run_e, slot_nodes, agent_graph = [], [], [], []
    for b, g in enumerate(graphs):
        n, p, q = len(g.cluster), len(g.pending), len(g.running)
        pend_e.append(g.pend_edges + np.array([[c_off], [p_off]]))
        run_e.append(g.run_edges + np.array([[c_off], [r_off]]))
        slot_nodes.append(g.slot_node + p_off)
        agent_graph.append(np.full(n, b, dtype=np.int64))
        c_off, p_off, r_off = c_off + n, p_off + p, r_off + q
    cluster = torch.from_numpy(np.concatenate([g.cluster for g in graphs]))
    pending = torch.from_numpy(np.concatenate([g.pending for g in graphs]))
    running = torch.from_numpy(np.concatenate([g.running for g in graphs]))
    pe = torch.from_numpy(np.concatenate(pend_e, axis=1))
    re = torch.from_numpy(np.concatenate(run_e, axis=1))
    ag = torch.from_numpy(np.concatenate(agent_graph))
    se = torch.stack([torch.arange(len(ag)), ag])
    data = HeteroData()
    data[CLUSTER].x = cluster
    data[PENDING].x = pending
    data[RUNNING].x = running
    data[SHORTCUT].x = torch.ones(len(graphs), 1)
    data[EDGE_TYPES[0]].edge_index = pe
    data[EDGE_TYPES[1]].edge_index = pe.flip(0)
    data[EDGE_TYPES[2]].edge_index = re
    data[EDGE_TYPES[3]].edge_index = re.flip(0)
    data[EDGE_TYPES[4]].edge_index = se
    data[EDGE_TYPES[5]].edge_index = se.flip(0)
    # mean running features per cluster, for the MLP variants
    rmean = torch.zeros(len(cluster), running.shape[1])
    if len(running):
        rmean.index_add_(0, re[0], running)
        counts = torch.bincount(re[0], minlength=len(cluster)).clamp(min=1)
        rmean = rmean / counts.unsqueeze(1)
    slot_min = torch.from_numpy(np.concatenate([g.slot_min for g in graphs]))
    return Batch(
        data=data,
        slot_node=torch.from_numpy(np.concatenate(slot_nodes)),
        slot_ok=torch.from_numpy(np.concatenate([g.slot_ok for g in graphs])),
        slot_empty=torch.from_numpy(np.concatenate([g.slot_task for g in graphs]) < 0),
        slot_min=slot_min,
        slot_rank=torch.from_numpy(np.concatenate([g.slot_rank for g in graphs])),
        hi=torch.from_numpy(np.concatenate([g.hi for g in graphs])),
        agent_graph=ag,
        pending_x=pending,
        running_graph_mean=rmean,
        n_graphs=len(graphs),
        node_graph={
            CLUSTER: ag,
            PENDING: torch.from_numpy(
                np.repeat(np.arange(len(graphs)), [len(g.pending) for g in graphs])
            ),
            RUNNING: torch.from_numpy(
                np.repeat(np.arange(len(graphs)), [len(g.running) for g in graphs])
            ),
            SHORTCUT: torch.arange(len(graphs)),
        },
    )
