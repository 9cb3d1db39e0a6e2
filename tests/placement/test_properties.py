"""Invariants of the world on random scenarios, under every baseline."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesched.placement.scenario import PlacementScenario
from edgesched.placement.schedulers import make, names
from edgesched.placement.sim import PlacementSim
from edgesched.placement.workload import workload
from tests.conftest import scenario_dict

PROGRESS = st.sampled_from(
    [
        {"model": "constant", "duration": 1},
        {"model": "constant", "duration": 3.5},
        {"model": "tanh-gpu", "scale": 4},
        {"model": "tanh-gpu-sqrt", "scale": 8},
    ]
)


@st.composite
def scenarios(draw: st.DrawFn) -> PlacementScenario:
    n = draw(st.integers(1, 8))
    caps = [[draw(st.integers(2, 12)), draw(st.integers(1, 8))] for _ in range(n)]
    n_types = draw(st.integers(1, 3))
    types = []
    for i in range(n_types):
        types.append(
            {
                "name": f"type{i}",
                "probability": 1.0 / n_types,
                "min": [draw(st.integers(1, 2)), draw(st.integers(0, 1))],
                "progress": draw(PROGRESS),
            }
        )
    for t in types:
        if not any(t["min"]):
            t["min"][0] = 1
        if t["progress"]["model"].startswith("tanh"):
            t["min"][1] = max(t["min"][1], 1)
    d = scenario_dict(
        clusters=[{"capacity": c} for c in caps],
        pending_slots=draw(st.integers(1, 5)),
        mode=draw(st.sampled_from(["multi-task", "single-task"])),
        switch_factor=draw(st.sampled_from([0.5, 1.0])),
        noise=draw(st.sampled_from([0.0, 0.1])),
        allocation_grid=[12, 8],
        connectivity={"model": draw(st.sampled_from(["uniform", "bandwidth"]))},
        workload={
            "tasks": draw(st.integers(1, 40)),
            "arrivals": {"rate": draw(st.floats(0.2, 4.0))},
            "types": types,
        },
    )
    d["workload"]["types"][-1]["probability"] = 1.0 - (n_types - 1) / n_types
    return PlacementScenario.model_validate(d)


def check_invariants(sim: PlacementSim, last_progress: dict[int, float]) -> None:
    arrived = sim.arrived
    waiting = running = completed = 0
    for task in sim.tasks[:arrived]:
        if task.finish is not None:
            completed += 1
        elif task.cluster is not None:
            running += 1
        else:
            waiting += 1
    assert arrived == completed + waiting + running
    assert completed == sim.completed
    for cl in sim.clusters:
        used = [0] * sim.R
        for task in cl.running:
            assert task.cluster == cl.index and cl.index in task.eligible
            for r in range(sim.R):
                used[r] += task.alloc[r]
            progressed = task.progress > last_progress.get(task.id, 0.0)
            at_least_min = all(a >= m for a, m in zip(task.alloc, task.min, strict=True))
            assert not progressed or at_least_min
        for r in range(sim.R):
            assert cl.free[r] >= 0 and used[r] + cl.free[r] == cl.capacity[r]
    for task in sim.tasks:
        if task.cluster is not None:
            last_progress[task.id] = task.progress


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), seed=st.integers(0, 2**16), which=st.integers(0, 100))
def test_world_invariants_hold_for_every_baseline(scenario, seed, which):
    """Capacity never exceeded, eligible clusters only, progress only at or above the minimum,
    arrived = completed + waiting + running, and every task completes exactly once."""
    baselines = names(checkpoint=None)  # the learned one needs a checkpoint
    name = baselines[which % len(baselines)]
    specs = workload(scenario, seed)
    sim = PlacementSim(scenario, specs, seed)
    last: dict[int, float] = {}
    result = sim.run(
        make(name), on_timestep=lambda s: check_invariants(s, last), max_timesteps=5_000
    )
    assert len(result.tasks) == len(specs) == len({row[0] for row in result.tasks})
    for _n, _, _c, arrival, start, finish, jct in result.tasks:
        assert arrival <= start <= finish and jct == finish - arrival + 1
    assert all(t.finish is not None and t.progress >= 1 - 1e-9 for t in sim.tasks)
