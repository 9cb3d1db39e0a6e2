"""The TapFinger authors' baselines behave as docs/placement.md documents, on hand-built
worlds."""

from __future__ import annotations

import numpy as np
import pytest

from edgesched.placement.progress import ConstantSpeed, TanhGpu
from edgesched.placement.schedulers import make, names
from edgesched.placement.schedulers.authors import admission_cap, fit_speed_curve, speed_form
from edgesched.placement.sim import PlacementSim
from tests.conftest import make_scenario
from tests.placement.test_rules import spec

TYPES_FIRST_BIG = [
    {
        "name": "big",
        "probability": 0.5,
        "min": [4, 2],
        "progress": {"model": "constant", "duration": 4},
    },
    {
        "name": "small",
        "probability": 0.5,
        "min": [2, 1],
        "progress": {"model": "constant", "duration": 4},
    },
]


def _ready(name: str, sim: PlacementSim):
    sched = make(name)
    sched.reset(sim, np.random.default_rng(0))
    sim.begin_timestep()
    return sched


def _rounds(sched, sim: PlacementSim) -> list[list]:
    """Play one timestep's rounds; the decisions of each round."""
    changes = sched.reallocate(sim)
    if changes:
        sim.apply_reallocation(changes)
    out = []
    while True:
        d = sched.decide(sim)
        out.append(d)
        if not sim.apply_round(d):
            return out


def test_authors_baselines_are_registered_but_not_defaults() -> None:
    """The four names are registered; the textbook names stay what they were."""
    for name in ("optimus-tapfinger", "tiresias-tapfinger", "random-tapfinger", "min-tapfinger"):
        assert name in names()
        assert make(name).name == name
    assert make("optimus").name == "optimus" and make("tiresias").name == "tiresias"


def test_admission_cap_uses_the_first_type_minimum() -> None:
    """At most min_r(capacity_r // min_r) tasks run per cluster, the minimum of the first task
    type: 2 on (8, 4) with a first type of minimum (4, 2), although four (2, 1) tasks fit."""
    sc = make_scenario(
        clusters=[{"capacity": [8, 4]}],
        workload={"tasks": 12, "arrivals": {"rate": 1}, "types": TYPES_FIRST_BIG},
    )
    assert admission_cap(sc, (8, 4)) == 2
    sim = PlacementSim(sc, [spec(j, model=ConstantSpeed(4)) for j in range(4)], seed=0)
    for name in ("optimus-tapfinger", "tiresias-tapfinger"):
        sim = PlacementSim(sc, [spec(j, model=ConstantSpeed(4)) for j in range(4)], seed=0)
        sched = _ready(name, sim)
        _rounds(sched, sim)
        assert len(sim.clusters[0].running) == 2, name


def test_one_new_task_per_round_lowest_cluster_keeps_a_shared_task() -> None:
    """Each round a cluster offers its first pending task (slot order) that no lower-numbered
    cluster took in the round: no conflict reaches the world's Bayes rule."""
    specs = [spec(j, eligible=(0, 1)) for j in range(3)]
    sim = PlacementSim(make_scenario(), specs, seed=0)
    sched = _ready("optimus-tapfinger", sim)
    rounds = _rounds(sched, sim)
    first = [d.task if d else None for d in rounds[0]]
    assert first == [0, 1]
    assert [d.task if d else None for d in rounds[1]] == [2, None]
    assert sim.conflicts == 0


def test_optimus_gain_is_per_unit_held() -> None:
    """The greedy divides a unit's gain by the units of that resource the task holds: with
    f(c, g) = g, task A (p = 0) and task B (p = 0.7) each get a second GPU; the gain per
    added unit would give A the second and third."""
    sim = PlacementSim(make_scenario(clusters=[{"capacity": [8, 4]}]), [spec(0), spec(1)], seed=0)
    sched = _ready("optimus-tapfinger", sim)
    a, b = sim.tasks
    b.progress = 0.7
    sched._coef[id(a.model)] = (1.0, 0.0, 0.0, 0.0, 0.0)  # remaining = (1 - p) / g
    assert sched.allocate(sim, 0, [a], b) == [[2, 2], [2, 2]]


def test_optimus_starts_and_reallocates_from_minimum_each_timestep() -> None:
    """Every timestep, running tasks go back to their minimum and the greedy reruns over them
    and the admitted ones; every allocation stays within capacity and the grid."""
    specs = [spec(j, arrival=j, eligible=(0, 1)) for j in range(6)]
    sim = PlacementSim(make_scenario(), specs, seed=0)
    res = sim.run(make("optimus-tapfinger"))
    assert len(res.jcts) == 6


def test_tiresias_gives_gpus_one_by_one_by_median_las_and_shares_cpus() -> None:
    """GPUs go one at a time to the earliest task of the lower half (by attained service plus
    units granted now); CPUs are split equally among the tasks holding GPUs; the task left
    without a GPU gets nothing."""
    sim = PlacementSim(
        make_scenario(clusters=[{"capacity": [8, 4]}]), [spec(j) for j in range(3)], seed=0
    )
    sched = _ready("tiresias-tapfinger", sim)
    a, b, c = sim.tasks
    a.gpu_service, a.start = 10.0, 0
    b.gpu_service, b.start = 0.0, 0
    assert sched.allocate(sim, 0, [a, b], c) == [[0, 0], [4, 2], [4, 2]]


def test_tiresias_task_below_its_minimum_is_not_started() -> None:
    """A new task whose CPU share falls below its minimum is not started (the world cannot
    start it; the authors' code starts it with no progress); its units stay idle."""
    types = [dict(t, min=[1, 1]) for t in TYPES_FIRST_BIG]
    sc = make_scenario(
        clusters=[{"capacity": [3, 4]}],
        allocation_grid=[3, 4],
        workload={"tasks": 12, "arrivals": {"rate": 1}, "types": types},
    )
    sim = PlacementSim(sc, [spec(0), spec(1)], seed=0)
    sched = _ready("tiresias-tapfinger", sim)
    _rounds(sched, sim)
    t0, t1 = sim.tasks
    assert t0.cluster == 0 and t0.alloc == (2, 2)
    assert t1.cluster is None and list(sim.clusters[0].free) == [1, 2]


@pytest.mark.parametrize("name", ["random-tapfinger", "min-tapfinger"])
def test_authors_random_and_min_lowest_cluster_keeps_the_task(name: str) -> None:
    """With one task pending at both clusters, cluster 1 never decides it (the authors'
    conflict rule), where `random` / `min` let both claim it for the Bayes rule."""
    textbook = name.removesuffix("-tapfinger")
    both = 0
    for seed in range(20):
        for n, expect_conflict_free in ((name, True), (textbook, False)):
            sim = PlacementSim(make_scenario(), [spec(0, eligible=(0, 1))], seed=seed)
            sched = make(n)
            sched.reset(sim, np.random.default_rng(seed))
            sim.begin_timestep()
            d = sched.decide(sim)
            if expect_conflict_free:
                assert d[1] is None
            elif d[0] is not None and d[1] is not None:
                both += 1
    assert both > 0  # the textbook versions do send conflicts to the world


def test_optimus_fit_sees_the_grid_transposed() -> None:
    """As in the authors' code, each speed is fitted at the transposed allocation: for a
    GPU-sensitive task the fitted model credits CPUs, not GPUs."""
    k = fit_speed_curve(TanhGpu(gpu_index=1, scale=16), (2, 1), 0, 1, (8, 8))
    more_cpus = speed_form((8.0, 2.0), *k)
    more_gpus = speed_form((2.0, 8.0), *k)
    assert more_cpus > more_gpus
