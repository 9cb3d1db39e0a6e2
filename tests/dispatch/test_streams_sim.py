"""Accounting, delay decomposition, queue semantics and determinism of the simulator."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgesched.dispatch.streams.scenario import load
from edgesched.dispatch.streams.schedulers import STATIC_NAMES, make
from edgesched.dispatch.streams.simulator import (
    REJECTED,
    SUCCESS,
    VIOLATION,
    StreamSim,
    hist_percentile,
)
from edgesched.dispatch.streams.world import StreamWorld


def expected_queries(sim: StreamSim) -> int:
    """Frames of every client that fall before the horizon, counted independently."""
    total = 0
    for t0, fps, n in zip(sim.t0, sim.fps, sim.nframes, strict=True):
        total += min(int(n), math.ceil((sim.horizon - t0) * fps - 1e-9))
    return total


@pytest.mark.parametrize("policy", STATIC_NAMES)
def test_every_query_has_exactly_one_outcome(policy: str) -> None:
    """Queries logged = frames sent = success + violation + rejection, for every policy."""
    world = load("aset-full-edge", lam=100, duration_s=40)
    sim = StreamSim(world, 3, record_queries=True)
    sim.attach(make(policy))
    result = sim.run()
    assert sim.log is not None
    log = sim.log.arrays()
    assert result.queries == expected_queries(sim) == log["outcome"].size
    counts = np.bincount(log["outcome"], minlength=3)
    np.testing.assert_array_equal(counts, result.counts.sum(axis=0))
    # no query twice: (stream, time) pairs are unique
    keys = set(zip(log["stream"].tolist(), np.round(log["time"], 9).tolist(), strict=True))
    assert len(keys) == log["outcome"].size
    assert result.hist.sum() == counts[SUCCESS] + counts[VIOLATION]


@pytest.mark.parametrize("policy", STATIC_NAMES)
def test_delay_parts_add_up_and_accuracy_is_met(policy: str) -> None:
    """delay = uplink + network + queueing + processing; no variant below the requirement."""
    world = load("aset-mixed", lam=80, duration_s=30)
    sim = StreamSim(world, 1, record_queries=True)
    sim.attach(make(policy))
    sim.run()
    assert sim.log is not None
    log = sim.log.arrays()
    served = log["outcome"] != REJECTED
    parts = log["uplink_ms"] + log["network_ms"] + log["queueing_ms"] + log["processing_ms"]
    np.testing.assert_allclose(log["delay_ms"][served], parts[served])
    acc = world.catalogue.accuracy[log["variant"][served]]
    assert np.all(acc >= world.app_min_acc[log["app"][served]])
    late = log["delay_ms"][served] > world.app_max_delay[log["app"][served]]
    np.testing.assert_array_equal(late, log["outcome"][served] == VIOLATION)
    assert np.all(log["uplink_ms"][served] == pytest.approx(8.0))
    assert np.all(log["queueing_ms"][served] >= -1e-9)


def reference_fifo(times: np.ndarray, service: np.ndarray, bound: float) -> tuple[list, list]:
    """One instance's FIFO queue with a wait bound, query by query."""
    free, waits, accepted = -math.inf, [], []
    for t, s in zip(times, service, strict=True):
        start = max(t, free)
        if start - t > bound:
            waits.append(start - t)
            accepted.append(False)
            continue
        waits.append(start - t)
        accepted.append(True)
        free = start + s
    return waits, accepted


@pytest.mark.parametrize("bound_ms", [500.0, 1.0])
def test_vectorised_queues_match_a_query_by_query_fifo(
    make_world: Callable[..., StreamWorld], bound_ms: float
) -> None:
    """Per instance, waits and rejections equal a plain FIFO simulation across slots."""
    world = make_world(
        max_queue_ms=bound_ms,
        max_utilisation=1.0,
        processing_jitter=0.3,
        load={"access_points": ["ap"], "lam": 200, "duration_s": 25},
    )
    sim = StreamSim(world, 5, record_queries=True)
    sim.attach(make("random"))
    sim.run()
    assert sim.log is not None
    log = sim.log.arrays()
    checked = 0
    for inst in np.unique(log["instance"][log["instance"] >= 0]):
        sel = np.nonzero(log["instance"] == inst)[0]
        order = sel[np.argsort(log["time"][sel], kind="stable")]
        # the service a rejected query would have had is not logged; reconstruct accepted
        # ones from the log and check the waits of the accepted ones in order
        t = log["time"][order]
        s = log["processing_ms"][order] / 1000.0
        waits, accepted = reference_fifo(t, s, bound_ms / 1000.0)
        got_acc = log["outcome"][order] != REJECTED
        np.testing.assert_array_equal(got_acc, accepted)
        np.testing.assert_allclose(
            log["queueing_ms"][order][got_acc], np.array(waits)[got_acc] * 1000.0, atol=1e-6
        )
        checked += sel.size
    assert checked > 1000
    if bound_ms == 1.0:
        assert np.sum(log["outcome"] == REJECTED) > 0


def test_queue_bound_turns_long_waits_into_rejections(
    make_world: Callable[..., StreamWorld],
) -> None:
    """A tight queue bound rejects queries; a loose one rejects none at the same load."""
    loads = {"access_points": ["ap"], "lam": 200, "duration_s": 20}
    tight = make_world(max_queue_ms=0.5, max_utilisation=1.0, load=loads)
    loose = make_world(max_queue_ms=5000, max_utilisation=1.0, load=loads)
    r_tight = StreamSim(tight, 0).run(make("closest"))
    r_loose = StreamSim(loose, 0).run(make("closest"))
    assert r_tight.counts[:, REJECTED].sum() > 0
    assert r_loose.counts[:, REJECTED].sum() == 0
    assert r_tight.queries == r_loose.queries


def test_streams_without_room_are_rejected(make_world: Callable[..., StreamWorld]) -> None:
    """With more demand than capacity, whole streams are rejected, and capacity holds."""
    world = make_world(load={"access_points": ["ap"], "lam": 2000, "duration_s": 20})
    sim = StreamSim(world, 0)
    sim.attach(make("least-loaded"))
    result = sim.run()
    assert result.counts[:, REJECTED].sum() > 0
    assert np.all(sim.acc_load <= world.scenario.max_utilisation + 1e-9)


@pytest.mark.parametrize("policy", ["closest", "random-capacity"])
def test_same_seed_same_numbers(policy: str) -> None:
    """Two runs with one seed agree exactly; another seed differs."""
    world = load("aset-full-edge", lam=60, duration_s=30)
    a = StreamSim(world, 7).run(make(policy))
    b = StreamSim(world, 7).run(make(policy))
    c = StreamSim(world, 8).run(make(policy))
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.hist, b.hist)
    np.testing.assert_array_equal(a.window_counts, b.window_counts)
    assert a.queries != c.queries


def test_clients_do_not_depend_on_the_scheduler() -> None:
    """The client population of a seed is the same whatever the policy."""
    world = load("aset-full-edge", lam=60, duration_s=30)
    a = StreamSim(world, 4)
    a.attach(make("closest"))
    b = StreamSim(world, 4)
    b.attach(make("random"))
    np.testing.assert_array_equal(a.t0, b.t0)
    np.testing.assert_array_equal(a.app, b.app)
    assert a.run().queries == b.run().queries


def test_arrival_rate_matches_lambda() -> None:
    """lambda 100 on 4 access points brings about 400 clients per minute."""
    world = load("aset-full-edge", lam=100, duration_s=600)
    sim = StreamSim(world, 0)
    sim.attach(make("closest"))
    assert sim.t0.size == pytest.approx(4000, rel=0.06)


def test_windows_cover_the_horizon() -> None:
    """A 600 s run has 120 windows of 5 s whose counts sum to the totals."""
    world = load("aset-full-edge", lam=20, duration_s=600)
    result = StreamSim(world, 0).run(make("closest"))
    assert result.window_counts.shape[0] == 120
    np.testing.assert_array_equal(result.window_counts.sum(axis=0), result.counts)


def test_histogram_percentiles() -> None:
    """Percentiles of a log-binned histogram are within one bin of the truth."""
    from edgesched.dispatch.streams.simulator import _LOG_BASE, HIST_BINS, HIST_MIN_MS

    rng = np.random.default_rng(0)
    delays = rng.uniform(5, 50, size=20_000)
    bins = (np.log(delays / HIST_MIN_MS) / _LOG_BASE).astype(int)
    hist = np.bincount(bins, minlength=HIST_BINS)
    for q in (50, 99):
        assert hist_percentile(hist, q) == pytest.approx(np.percentile(delays, q), rel=0.006)
    assert math.isnan(hist_percentile(np.zeros(HIST_BINS), 50))


@pytest.mark.parametrize("case", range(6))
def test_invariants_on_random_worlds(tmp_path: Path, case: int) -> None:
    """On random topologies, loads and knobs: one outcome per query, parts add up, the
    committed load never exceeds the cap, and served waits respect the queue bound."""
    rng = np.random.default_rng(case)
    scenario = {
        "world": "dispatch",
        "topology": {
            "metros": int(rng.integers(1, 4)),
            "cos_per_metro": int(rng.integers(1, 4)),
            "cloud": bool(rng.integers(2)),
            "latency_ms": {"access": float(rng.uniform(0.5, 5))},
        },
        "clusters": [
            {
                "kind": "co",
                "device": str(rng.choice(["edge-gpu", "xavier-nx"])),
                "accelerators": int(rng.integers(1, 4)),
            }
        ],
        "load": {"count": 1, "lam": float(rng.uniform(10, 300)), "duration_s": 20},
        "max_utilisation": float(rng.uniform(0.5, 1.0)),
        "max_queue_ms": float(rng.uniform(1, 200)),
        "processing_jitter": float(rng.uniform(0, 0.5)),
    }
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(scenario))
    world = load(path)
    policy = STATIC_NAMES[case % len(STATIC_NAMES)]
    sim = StreamSim(world, case, record_queries=True)
    sim.attach(make(policy))
    cap = world.scenario.max_utilisation + 1e-9
    while not sim.done:
        sim.step_window()
        assert np.all(sim.acc_load <= cap)
    result = sim.result()
    assert sim.log is not None
    log = sim.log.arrays()
    assert result.queries == expected_queries(sim) == log["outcome"].size
    served = log["outcome"] != REJECTED
    parts = log["uplink_ms"] + log["network_ms"] + log["queueing_ms"] + log["processing_ms"]
    np.testing.assert_allclose(log["delay_ms"][served], parts[served])
    assert np.all(log["queueing_ms"][served] <= world.scenario.max_queue_ms + 1e-6)


@pytest.mark.parametrize(
    ("policy", "outcomes", "p50", "p99"),
    [
        ("closest", [182181, 6, 0], 22.103, 41.498),
        ("most-accurate", [154570, 9001, 18616], 40.985, 69.653),
    ],
)
def test_golden_runs(policy: str, outcomes: list[int], p50: float, p99: float) -> None:
    """Pinned numbers of two fixed-seed runs (lambda 100, 60 s): any change is deliberate."""
    world = load("aset-full-edge-abundant", lam=100, duration_s=60)
    result = StreamSim(world, 0).run(make(policy))
    assert result.clients == 402
    assert result.counts.sum(axis=0).tolist() == outcomes
    all_hist = result.hist.sum(axis=0)
    assert hist_percentile(all_hist, 50) == pytest.approx(p50, abs=1e-3)
    assert hist_percentile(all_hist, 99) == pytest.approx(p99, abs=1e-3)
