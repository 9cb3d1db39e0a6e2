"""Snapshots of a streams run and the per-window oracle built on them."""

from __future__ import annotations

import numpy as np
import pytest

from edgesched.dispatch.streams.scenario import load
from edgesched.dispatch.streams.schedulers import STATIC_NAMES, OracleWindow, PolicySelector, make
from edgesched.dispatch.streams.simulator import StreamSim


def _tail(sim: StreamSim) -> list[np.ndarray]:
    """The window counts of the rest of the run, and the run's totals and histogram."""
    out = []
    while not sim.done:
        out.append(sim.step_window().counts.copy())
    result = sim.result()
    return [*out, result.counts, result.hist, result.window_counts]


@pytest.mark.parametrize("policy", ["closest", "random-capacity", "fastest"])
def test_snapshot_then_restore_continues_identically(policy: str) -> None:
    """Run on from a snapshot, restore it, run on again: every number is the same (random
    policies and processing jitter included), and the query log too."""
    world = load("aset-full-edge-abundant", lam=100, duration_s=40)
    sim = StreamSim(world, 5, record_queries=True)
    sim.attach(make(policy))
    for _ in range(3):
        sim.step_window()
    state = sim.snapshot()
    first = _tail(sim)
    assert sim.log is not None
    log_first = sim.log.arrays()
    sim.restore(state)
    assert sim.window == 3
    second = _tail(sim)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    for k, v in sim.log.arrays().items():
        np.testing.assert_array_equal(v, log_first[k])


def test_restored_run_matches_an_uninterrupted_one() -> None:
    """A run that detours through another policy for a window and is restored ends as a run
    that never detoured."""
    world = load("aset-full-edge-abundant", lam=80, duration_s=30)
    plain = StreamSim(world, 2).run(make("random"))
    sel = PolicySelector()
    sel.choice = STATIC_NAMES.index("random")
    sim = StreamSim(world, 2)
    sim.attach(sel)
    sim.step_window()
    state = sim.snapshot()
    sel.choice = STATIC_NAMES.index("most-accurate")
    sim.step_window()
    sim.restore(state)
    sel.choice = STATIC_NAMES.index("random")
    result = sim.run()
    np.testing.assert_array_equal(result.counts, plain.counts)
    np.testing.assert_array_equal(result.hist, plain.hist)


def test_oracle_never_scores_below_a_static_policy_in_a_window() -> None:
    """At every window, from the oracle's own state, no static policy run for that window
    succeeds on a larger share of its queries than the oracle's window did."""
    world = load("aset-full-edge", lam=80, duration_s=60)
    oracle = OracleWindow()
    sim = StreamSim(world, 3)
    sim.attach(oracle)
    probe = PolicySelector()
    probe.reset(world, sim.rs["policy"])
    windows = 0
    while not sim.done:
        state = sim.snapshot()
        static = []
        for k in range(len(STATIC_NAMES)):
            sim.restore(state)
            probe.choice = k
            sim.scheduler = probe
            static.append(sim.step_window().ratios()[0])
        sim.restore(state)
        sim.scheduler = oracle
        got = sim.step_window().ratios()[0]
        assert got >= max(static) - 1e-12
        assert got == pytest.approx(oracle.scores.max())
        windows += 1
    assert windows == 12
    assert len(set(sim.result().choices.tolist())) >= 1
