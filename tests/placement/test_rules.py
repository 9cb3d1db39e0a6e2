"""One test per rule of SPEC-placement.md, on hand-built worlds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgesched.core.errors import SchedulerError
from edgesched.placement.progress import (
    ConstantSpeed,
    TableSpeed,
    TanhGpu,
    TanhGpuSqrt,
    read_completion_table,
)
from edgesched.placement.schedulers import make
from edgesched.placement.sim import Decision, PlacementSim, lower_bound_mean_jct
from edgesched.placement.workload import TaskSpec
from tests.conftest import make_scenario

CONST4 = ConstantSpeed(4)
TANH = TanhGpu(gpu_index=1, scale=16)


def spec(
    j: int,
    arrival: int = 0,
    eligible: tuple[int, ...] = (0,),
    model=CONST4,
    need: tuple[int, ...] = (2, 1),
) -> TaskSpec:
    return TaskSpec(f"t{j}", "x", 0, arrival, need, eligible, model)


def sim_of(specs, **over) -> PlacementSim:
    return PlacementSim(make_scenario(**over), specs, seed=0)


def step(sim: PlacementSim, decisions=None) -> int:
    """One timestep with the given first-round decisions (then rounds of nothing)."""
    sim.begin_timestep()
    started = sim.apply_round(decisions or [None] * sim.n_clusters)
    sim.end_timestep()
    return started


# ---------------------------------------------------------------- progress models


def test_constant_speed_takes_its_duration():
    """Resource-insensitive tasks progress 1/duration per timestep whatever the allocation."""
    assert CONST4.steps_to_finish((2, 1)) == 4
    assert CONST4.speed((16, 16), 0.5) == 0.25


def test_tanh_gpu_from_17_timesteps_down_to_2():
    """tanh(g/16): 17 timesteps at 1 GPU, 2 at 9 or more, CPUs beyond the minimum ignored."""
    assert TANH.steps_to_finish((2, 1)) == 17
    assert TANH.steps_to_finish((2, 8)) == 3
    assert all(TANH.steps_to_finish((2, g)) == 2 for g in range(9, 17))
    assert TANH.speed((2, 4), 0) == TANH.speed((16, 4), 0)


def test_tanh_gpu_sqrt_slows_with_progress():
    """The authors' variant multiplies by sqrt(1.2 - p)."""
    m = TanhGpuSqrt(gpu_index=1)
    assert m.speed((2, 4), 0.0) == pytest.approx(math.tanh(0.25) * math.sqrt(1.2))
    assert m.speed((2, 4), 0.9) == pytest.approx(math.tanh(0.25) * math.sqrt(0.3))
    assert m.depends_on_progress


def test_table_speed_uses_timestep_and_startup_and_clamps():
    """speed = timestep / (completion + 14 s); allocations off the table clamp to its edge."""
    table = read_completion_table()
    ic = table["image_classification_training"]
    m = TableSpeed(ic, cpu_index=0, gpu_index=1, timestep_seconds=5, startup_seconds=14)
    assert m.speed((1, 1), 0) == pytest.approx(5 / (101.60 + 14))
    assert m.speed((32, 16), 0) == m.speed((16, 8), 0)
    assert len(table) == 3 and all(len(t) == 16 * 8 for t in table.values())


def test_noise_stays_within_bounds():
    """dp = max(0, speed + U[-eps, eps]) every timestep."""
    sim = sim_of([spec(0, model=ConstantSpeed(50))], noise=0.1)
    step(sim, [Decision(0, (2, 1)), None])
    task = sim.tasks[0]
    last = task.progress
    seen = [last]
    while not sim.done and len(seen) < 30:
        step(sim)
        seen.append(task.progress - last)
        last = task.progress
    deltas = np.array(seen)
    assert np.all(deltas >= 0) and np.all(deltas <= 0.02 + 0.1 + 1e-12)
    assert deltas.std() > 0.01  # it really is noisy


def test_task_without_minimum_makes_no_progress():
    """A paused task (allocation below its minimum) does not progress."""
    sim = sim_of([spec(0)])
    step(sim, [Decision(0, (2, 1)), None])
    p = sim.tasks[0].progress
    sim.begin_timestep()
    sim.apply_reallocation({0: (0, 0)})
    sim.end_timestep()
    assert sim.tasks[0].progress == p
    with pytest.raises(SchedulerError):
        sim.begin_timestep()
        sim.apply_reallocation({0: (1, 1)})


# ---------------------------------------------------------------- pending sets


def test_pending_refilled_in_arrival_order_up_to_k_slots():
    """Free slots fill from the FIFO queue in arrival order; the rest wait in the queue."""
    specs = [spec(j, arrival=0 if j < 4 else 1) for j in range(6)]
    sim = sim_of(specs, pending_slots=3)
    sim.begin_timestep()
    cl = sim.clusters[0]
    assert [t.id for t in cl.pending] == [0, 1, 2] and cl.queue_len == 1
    sim.apply_round([Decision(1, (2, 1)), None])
    assert cl.pending[1] is None  # no refill inside a timestep
    sim.end_timestep()
    sim.begin_timestep()
    assert [t.id for t in cl.pending] == [0, 3, 2] and cl.queue_len == 2


def test_started_task_leaves_every_other_pending_set_and_queue():
    """A task pending at cluster 0 and queued at cluster 1 leaves both when 0 starts it."""
    specs = [spec(0, eligible=(1,)), spec(1, eligible=(0, 1)), spec(2, eligible=(0, 1))]
    sim = sim_of(specs, pending_slots=1)
    sim.begin_timestep()
    c0, c1 = sim.clusters
    assert c0.pending[0].id == 1 and c1.pending[0].id == 0 and c1.queue_len == 2
    sim.apply_round([Decision(1, (2, 1)), None])
    assert c0.pending == [None] and c1.queue_len == 1
    with pytest.raises(SchedulerError):
        sim.apply_round([None, Decision(1, (2, 1))])
    sim.end_timestep()
    sim.begin_timestep()
    assert c0.pending[0].id == 2


def test_decision_outside_pending_or_capacity_is_refused():
    """The world refuses infeasible decisions instead of running them."""
    sim = sim_of([spec(0), spec(1, eligible=(1,))])
    sim.begin_timestep()
    with pytest.raises(SchedulerError):
        sim.apply_round([Decision(1, (2, 1)), None])  # not pending at cluster 0
    with pytest.raises(SchedulerError):
        sim.apply_round([Decision(0, (9, 1)), None])  # more than the free CPUs
    with pytest.raises(SchedulerError):
        sim.apply_round([Decision(0, (2, 0)), None])  # below the minimum


# ---------------------------------------------------------------- rounds and conflicts


def test_multi_task_rounds_repeat_until_nothing_starts():
    """Multi-task mode starts several tasks per cluster in one timestep."""
    sim = sim_of([spec(j) for j in range(3)])
    res = sim.run(make("min"))
    assert {row[4] for row in res.tasks} == {0}


def test_single_task_mode_runs_one_round_per_timestep():
    """Single-task mode starts at most one task per cluster per timestep."""
    sim = sim_of([spec(j) for j in range(3)], mode="single-task")
    res = sim.run(make("min"))
    assert sorted(row[4] for row in res.tasks) == [0, 1, 2]


def test_conflict_goes_to_the_cluster_that_could_hold_more_copies():
    """Deterministic choosers: the prior softmax(min_k B/b) decides."""
    sim = sim_of([spec(0, eligible=(0, 1)), spec(1, eligible=(1,))])
    sim.begin_timestep()
    sim.apply_round([None, Decision(1, (6, 1))])  # cluster 1 now has (2, 3) free
    sim.apply_round([Decision(0, (2, 1)), Decision(0, (2, 1))])
    assert sim.tasks[0].cluster == 0 and sim.conflicts == 1


def test_conflict_weighs_choice_probabilities():
    """posterior ~ P_i(task) * prior_i: a confident chooser beats a slightly freer one."""
    sim = sim_of([spec(0, eligible=(0, 1)), spec(1, eligible=(0,))])
    sim.begin_timestep()
    sim.apply_round([Decision(1, (2, 1)), None])  # cluster 0: (6, 3) free = 3 copies; 1: 4
    sim.apply_round([Decision(0, (2, 1), prob=0.9), Decision(0, (2, 1), prob=0.2)])
    assert sim.tasks[0].cluster == 0
    # and the plain prior when equally confident: cluster 1 holds 4 copies, cluster 0 three
    sim2 = sim_of([spec(0, eligible=(0, 1)), spec(1, eligible=(0,))])
    sim2.begin_timestep()
    sim2.apply_round([Decision(1, (2, 1)), None])
    sim2.apply_round([Decision(0, (2, 1), prob=0.5), Decision(0, (2, 1), prob=0.5)])
    assert sim2.tasks[0].cluster == 1


def test_conflict_ties_are_broken_by_the_run_stream():
    """Equal posteriors: the winner varies with the seed, and is the same for the same seed."""
    winners = []
    for seed in range(16):
        sim = PlacementSim(make_scenario(), [spec(0, eligible=(0, 1))], seed=seed)
        sim.begin_timestep()
        sim.apply_round([Decision(0, (2, 1)), Decision(0, (2, 1))])
        winners.append(sim.tasks[0].cluster)
    assert set(winners) == {0, 1}


# ---------------------------------------------------------------- switching, JCT, bound


def test_switching_overhead_halves_progress_of_reallocated_task():
    """A changed allocation multiplies that timestep's progress by the switch factor."""
    sim = sim_of([spec(0, model=TANH)], switch_factor=0.5)
    step(sim, [Decision(0, (2, 1)), None])
    p1 = sim.tasks[0].progress
    assert p1 == pytest.approx(math.tanh(1 / 16))  # first timestep: no overhead
    sim.begin_timestep()
    sim.apply_reallocation({0: (2, 4)})
    sim.end_timestep()
    assert sim.tasks[0].progress - p1 == pytest.approx(0.5 * math.tanh(4 / 16))
    p2 = sim.tasks[0].progress
    step(sim)
    assert sim.tasks[0].progress - p2 == pytest.approx(math.tanh(4 / 16))


def test_jct_counts_both_ends():
    """A 4-timestep task that starts on arrival has JCT 4."""
    sim = sim_of([spec(0, arrival=3)])
    res = sim.run(make("min"))
    _name, _, _cluster, arrival, start, finish, jct = res.tasks[0]
    assert (arrival, start, finish, jct) == (3, 3, 6, 4)


def test_lower_bound_uses_fastest_allocation_on_best_eligible_cluster():
    """Each task alone at its fastest allocation on its best cluster, from arrival."""
    sc = make_scenario(
        clusters=[{"capacity": [8, 1]}, {"capacity": [8, 4]}], allocation_grid=[8, 4]
    )
    specs = [
        spec(0, eligible=(0,), model=TANH),
        spec(1, eligible=(0, 1), model=TANH),
        spec(2, model=CONST4),
    ]
    sim = PlacementSim(sc, specs, seed=0)
    lb = lower_bound_mean_jct(sc, sim.tasks)
    assert lb == pytest.approx(
        (TANH.steps_to_finish((2, 1)) + TANH.steps_to_finish((2, 4)) + 4) / 3
    )


def test_utilisation_and_makespan():
    """One (2, 1) task for 4 timesteps on an (8, 4) cluster of two: makespan 4."""
    res = sim_of([spec(0)]).run(make("min"))
    assert res.makespan == 4
    assert res.utilisation[0] == pytest.approx([2 / 8, 1 / 4])
    assert res.utilisation[1] == [0.0, 0.0]


# ---------------------------------------------------------------- baselines


def test_min_gives_exactly_the_minimum():
    res = sim_of([spec(j, model=TANH) for j in range(3)]).run(make("min"))
    assert all(row[6] == 17 for row in res.tasks)


def test_random_never_exceeds_grid_or_free():
    """Random draws allocations from the feasible grid points only."""
    sc = make_scenario(allocation_grid=[4, 2])
    sim = PlacementSim(sc, [spec(j, model=TANH) for j in range(6)], seed=1)
    seen = []
    sim.run(
        make("random"), on_timestep=lambda s: seen.extend(t.alloc for t in s.tasks if t.running)
    )
    assert seen and all(2 <= a[0] <= 4 and 1 <= a[1] <= 2 for a in seen)


def test_sjf_oracle_starts_the_shortest_first():
    sc = make_scenario(clusters=[{"capacity": [2, 1]}], allocation_grid=[2, 1])
    specs = [
        spec(0, model=ConstantSpeed(9)),
        spec(1, model=ConstantSpeed(2)),
        spec(2, model=ConstantSpeed(5)),
    ]
    res = PlacementSim(sc, specs, seed=0).run(make("sjf-oracle"))
    starts = {row[0]: row[4] for row in res.tasks}
    assert starts["t1"] < starts["t2"] < starts["t0"]


def test_optimus_gives_spare_gpus_to_sensitive_tasks_only():
    """Greedy marginal gain: extra GPUs go where the fitted model says they help."""
    specs = [spec(0, model=TANH), spec(1, model=CONST4)]
    sim = sim_of(specs, clusters=[{"capacity": [8, 4]}])
    sched = make("optimus")
    sched.reset(sim, np.random.default_rng(0))
    sim.begin_timestep()
    _, starts = sched.plan(sim, 0, elastic=True)
    allocs = dict(starts)
    assert allocs[1] == (2, 1) and allocs[0] == (2, 3)


def test_tiresias_preempts_tasks_past_the_threshold():
    """A running task with attained GPU service over the threshold yields to a new one."""
    sc = make_scenario(clusters=[{"capacity": [2, 1]}], allocation_grid=[2, 1])
    specs = [
        spec(0, model=ConstantSpeed(10)),
        spec(1, arrival=6, model=ConstantSpeed(2)),
        spec(2, arrival=50, model=ConstantSpeed(2)),
    ]
    sim = PlacementSim(sc, specs, seed=0)
    paused_seen = []
    sim.run(make("tiresias"), on_timestep=lambda s: paused_seen.append(s.tasks[0].paused))
    assert any(paused_seen)  # threshold = median(10, 2, 2) = 2 GPU-timesteps
    np_sim = PlacementSim(sc, specs, seed=0)
    np_paused = []
    np_sim.run(make("tiresias-np"), on_timestep=lambda s: np_paused.append(s.tasks[0].paused))
    assert not any(np_paused)


def test_tanh_type_without_a_gpu_minimum_is_refused():
    """A tanh-gpu task at 0 GPUs would never finish: the scenario is refused."""
    from pydantic import ValidationError

    from tests.conftest import scenario_dict

    d = scenario_dict()
    d["workload"]["types"][1]["min"] = [2, 0]
    with pytest.raises(ValidationError, match="at least 1 gpu"):
        make_scenario(workload=d["workload"])


def test_three_resources_run_under_generic_baselines():
    """Nothing assumes R = 2: a (cpu, gpu, mem) world runs; Optimus refuses clearly."""
    from edgesched.core.errors import ConfigError
    from edgesched.placement.run import simulate
    from tests.conftest import scenario_dict

    d = scenario_dict(
        resources=["cpu", "gpu", "mem"],
        clusters=[{"count": 2, "capacity": [8, 4, 32]}],
        allocation_grid=[8, 4, 32],
    )
    for t in d["workload"]["types"]:
        t["min"] = [2, 1, 8]
    sc = make_scenario(
        **{k: d[k] for k in ("resources", "clusters", "allocation_grid", "workload")}
    )
    for name in ("min", "random", "tiresias", "tetris", "sjf-oracle"):
        res = simulate(sc, name, seed=0)
        assert len(res.tasks) == 12 and len(res.utilisation[0]) == 3
    with pytest.raises(ConfigError, match="cpu and gpu"):
        make("optimus").check(
            make_scenario(
                resources=["a", "b"],
                workload={
                    "tasks": 2,
                    "arrivals": {"rate": 1},
                    "types": [
                        {
                            "name": "x",
                            "probability": 1,
                            "min": [1, 1],
                            "progress": {"model": "constant", "duration": 2},
                        }
                    ],
                },
            )
        )
