"""The placement world (TapFinger's setting): clusters, tasks, progress models, simulator,
baseline schedulers and scenario presets."""

from __future__ import annotations

from edgesched.placement.scenario import PlacementScenario, load_scenario, presets
from edgesched.placement.sim import Decision, PlacementSim, RunResult

__all__ = ["Decision", "PlacementScenario", "PlacementSim", "RunResult", "load_scenario", "presets"]
