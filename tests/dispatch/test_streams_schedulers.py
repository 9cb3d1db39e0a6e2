"""Each static policy picks what its definition says, on a three-cluster world.

The small world (see conftest): one access point; co-a at 1 ms, co-b at 3 ms, the cloud at
6 ms; one accelerator each; one classification application requiring accuracy 0.75, so the
qualifying variants are resnet50 (fastest), efficientnet_b0 (smallest), resnet152 and
vit_b_16 (most accurate).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from edgesched.dispatch.streams.schedulers import STATIC_NAMES, make
from edgesched.dispatch.streams.simulator import StreamSim
from edgesched.dispatch.streams.world import StreamWorld


def decide(
    world: StreamWorld,
    policy: str,
    loads: tuple[float, float, float] = (0.0, 0.0, 0.0),
    backlog_s: tuple[float, float, float] = (0.0, 0.0, 0.0),
    seed: int = 0,
) -> tuple[str, str] | None:
    """(site, variant) the policy picks for a new stream, or None for a rejection."""
    sched = make(policy)
    sim = StreamSim(world, seed)
    sim.attach(sched)
    sim.set_committed(list(loads))
    sim.backlog_s[:] = backlog_s
    cands = sim.candidates[0][0]
    k = sched.route(sim, cands, sim.room(cands))
    if k < 0:
        return None
    return (
        world.cluster_sites[int(cands.cluster[k])],
        world.catalogue.variants[int(cands.variant[k])],
    )


def test_candidates_are_filtered_by_accuracy(make_world: Callable[..., StreamWorld]) -> None:
    """Only variants of the task at or above the required accuracy are candidates."""
    world = make_world()
    sim = StreamSim(world, 0)
    sim.attach(make("closest"))
    names = {world.catalogue.variants[v] for v in sim.candidates[0][0].variant}
    assert names == {"resnet50", "efficientnet_b0", "resnet152", "vit_b_16"}


def test_closest_picks_least_network_delay(make_world: Callable[..., StreamWorld]) -> None:
    """closest: co-a (1 ms) with its fastest variant; co-b once co-a is full."""
    world = make_world()
    assert decide(world, "closest") == ("co-a", "resnet50")
    assert decide(world, "closest", loads=(0.95, 0.0, 0.0)) == ("co-b", "resnet50")


def test_fastest_weighs_queueing(make_world: Callable[..., StreamWorld]) -> None:
    """fastest: co-a when idle, co-b when co-a has 50 ms of work queued."""
    world = make_world()
    assert decide(world, "fastest") == ("co-a", "resnet50")
    assert decide(world, "fastest", backlog_s=(0.05, 0.0, 0.0)) == ("co-b", "resnet50")
    # with both edges backed up, the cloud's faster GPU and empty queue win
    assert decide(world, "fastest", backlog_s=(0.05, 0.05, 0.0)) == ("cloud", "resnet50")


def test_least_loaded_picks_lowest_utilisation(make_world: Callable[..., StreamWorld]) -> None:
    """least-loaded: the cluster with the least committed load."""
    world = make_world()
    assert decide(world, "least-loaded", loads=(0.5, 0.2, 0.3)) == ("co-b", "resnet50")
    assert decide(world, "least-loaded", loads=(0.5, 0.4, 0.3)) == ("cloud", "resnet50")
    # ties go to the closest
    assert decide(world, "least-loaded") == ("co-a", "resnet50")


def test_most_accurate_picks_the_best_variant(make_world: Callable[..., StreamWorld]) -> None:
    """most-accurate: vit_b_16 on the closest cluster with room for it."""
    world = make_world()
    assert decide(world, "most-accurate") == ("co-a", "vit_b_16")
    # vit_b_16 at 10 fps needs 0.07 of an edge GPU; co-a at 0.9 cannot take it
    assert decide(world, "most-accurate", loads=(0.9, 0.0, 0.0)) == ("co-b", "vit_b_16")


def test_cheapest_picks_the_smallest_variant(make_world: Callable[..., StreamWorld]) -> None:
    """cheapest: efficientnet_b0 (21 MB), the smallest model meeting 0.75."""
    world = make_world()
    assert decide(world, "cheapest") == ("co-a", "efficientnet_b0")


def test_cloud_first_and_edge_first(make_world: Callable[..., StreamWorld]) -> None:
    """cloud-first prefers the cloud; edge-first the edge tier, then the closest."""
    world = make_world()
    assert decide(world, "cloud-first") == ("cloud", "resnet50")
    assert decide(world, "cloud-first", loads=(0.0, 0.0, 0.95)) == ("co-a", "resnet50")
    assert decide(world, "edge-first") == ("co-a", "resnet50")
    assert decide(world, "edge-first", loads=(0.95, 0.0, 0.0)) == ("co-b", "resnet50")
    assert decide(world, "edge-first", loads=(0.95, 0.95, 0.0)) == ("cloud", "resnet50")


def _draws(
    world: StreamWorld, policy: str, loads: tuple[float, float, float], n: int = 3000
) -> Counter:
    sched = make(policy)
    sim = StreamSim(world, 11)
    sim.attach(sched)
    sim.set_committed(list(loads))
    cands = sim.candidates[0][0]
    room = sim.room(cands)
    return Counter(
        world.cluster_sites[int(cands.cluster[sched.route(sim, cands, room)])] for _ in range(n)
    )


def test_random_is_uniform_over_clusters_with_room(make_world: Callable[..., StreamWorld]) -> None:
    """random: never a full cluster; the others about equally often."""
    world = make_world()
    got = _draws(world, "random", (0.95, 0.0, 0.0))
    assert "co-a" not in got
    assert got["co-b"] / 3000 == pytest.approx(0.5, abs=0.04)


def test_random_latency_weights_by_inverse_delay(make_world: Callable[..., StreamWorld]) -> None:
    """random-latency: probability proportional to 1 / network delay."""
    world = make_world()
    got = _draws(world, "random-latency", (0.0, 0.0, 0.0))
    net = world.uplink_ms[0] + world.net_ms[0, :, 0]
    expect = (1 / net) / (1 / net).sum()
    for site, p in zip(world.cluster_sites, expect, strict=True):
        assert got[site] / 3000 == pytest.approx(p, abs=0.04)


def test_random_capacity_weights_by_free_capacity(make_world: Callable[..., StreamWorld]) -> None:
    """random-capacity: probability proportional to free capacity."""
    world = make_world()
    got = _draws(world, "random-capacity", (0.9, 0.0, 0.45))
    free = np.array([0.05, 0.95, 0.5])
    for site, p in zip(world.cluster_sites, free / free.sum(), strict=True):
        assert got[site] / 3000 == pytest.approx(p, abs=0.04)


@pytest.mark.parametrize("policy", STATIC_NAMES)
def test_every_policy_rejects_when_nothing_has_room(
    make_world: Callable[..., StreamWorld], policy: str
) -> None:
    """No cluster with room: the stream is rejected."""
    world = make_world()
    assert decide(world, policy, loads=(0.95, 0.95, 0.95)) is None


@pytest.mark.parametrize("policy", STATIC_NAMES)
def test_every_policy_respects_room(make_world: Callable[..., StreamWorld], policy: str) -> None:
    """With only the cloud free, every policy that routes goes to the cloud."""
    world = make_world()
    got = decide(world, policy, loads=(0.95, 0.95, 0.0))
    assert got is not None and got[0] == "cloud"
