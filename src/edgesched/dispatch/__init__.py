"""The inference dispatch world (ASET's setting): network topology, compute clusters, model
variants, applications, a fast simulator of client query streams, the static dispatch policies
and the ASET environment. Imports :mod:`edgesched.core` only."""

from __future__ import annotations

from edgesched.dispatch.scenario import DEFAULT_SCENARIO, load, load_preset, presets
from edgesched.dispatch.simulator import DispatchSim, RunResult, simulate
from edgesched.dispatch.world import World

__all__ = [
    "DEFAULT_SCENARIO",
    "DispatchSim",
    "RunResult",
    "World",
    "load",
    "load_preset",
    "presets",
    "simulate",
]
