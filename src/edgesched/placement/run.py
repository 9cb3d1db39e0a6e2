"""One run of the placement world: a pure function of (scenario, scheduler, seed, trace)."""

from __future__ import annotations

from pathlib import Path

from edgesched.core.rng import RandomStreams
from edgesched.placement.scenario import PlacementScenario
from edgesched.placement.schedulers import make
from edgesched.placement.schedulers.base import PlacementScheduler
from edgesched.placement.sim import PlacementSim, RunResult
from edgesched.placement.workload import TaskSpec, TraceTask, from_trace, generate


def workload(
    scenario: PlacementScenario,
    seed: int,
    trace: list[TraceTask] | None = None,
    source: Path | None = None,
) -> list[TaskSpec]:
    """The tasks of seed ``seed``: drawn from the scenario, or the trace's with eligible sets
    drawn from the seed. The same for every scheduler."""
    streams = RandomStreams(seed)
    if trace is not None:
        return from_trace(scenario, trace, streams)
    return generate(scenario, streams, source)


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
