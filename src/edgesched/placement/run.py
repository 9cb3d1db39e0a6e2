"""One run of the placement world: a pure function of (scenario, scheduler, seed, trace)."""

from __future__ import annotations

from pathlib import Path

from edgesched.placement.scenario import PlacementScenario
from edgesched.placement.schedulers import PlacementScheduler, make
from edgesched.placement.sim import PlacementSim, RunResult
from edgesched.placement.workload import TraceTask, workload


def simulate(
    scenario: PlacementScenario,
    scheduler: str | PlacementScheduler,
    seed: int,
    *,
    trace: list[TraceTask] | None = None,
    source: Path | None = None,
    record: bool = True,
) -> RunResult:
    """Run one episode and return its result.

    Example:
        >>> from edgesched.placement import load_scenario
        >>> scenario, _ = load_scenario("synthetic-3")
        >>> result = simulate(scenario, "min", seed=0)
        >>> len(result.tasks)
        192
    """
    sched = make(scheduler) if isinstance(scheduler, str) else scheduler
    specs = workload(scenario, seed, trace, source)
    sim = PlacementSim(scenario, specs, seed, record=record)
    return sim.run(sched)
