"""Placement schedulers by name: every baseline, registered here explicitly, and the learned
``tapfinger`` (its module, in :mod:`edgesched.rl`, is imported only when it is built).

No module of this package imports this one back, and nothing registers itself on import.
``checkpoint=True`` tags a learned scheduler, built with ``make(name, checkpoint=PATH)``.

Example:
    >>> make("optimus").name
    'optimus'
    >>> names(checkpoint=True)
    ['tapfinger']
"""

from __future__ import annotations

from typing import Any

from edgesched.core.registry import Registry
from edgesched.placement.schedulers.authors import (
    MinTapFinger,
    OptimusTapFinger,
    RandomTapFinger,
    TiresiasTapFinger,
)
from edgesched.placement.schedulers.base import PlacementScheduler
from edgesched.placement.schedulers.optimus import Optimus, OptimusNP
from edgesched.placement.schedulers.simple import MinScheduler, RandomScheduler, SjfOracle, Tetris
from edgesched.placement.schedulers.tiresias import Tiresias, TiresiasNP

SCHEDULERS: Registry[PlacementScheduler] = Registry("placement scheduler")
SCHEDULERS.register(
    "optimus",
    Optimus,
    description="Optimus: fitted speed model, greedy marginal-gain allocation, elastic "
    "(re-allocates running tasks)",
)
SCHEDULERS.register(
    "optimus-np",
    OptimusNP,
    description="Optimus without re-allocation of running tasks (non-preemptive)",
)
SCHEDULERS.register(
    "random",
    RandomScheduler,
    description="random pending task, allocation uniform over the feasible grid points, "
    "skip included",
)
SCHEDULERS.register(
    "min",
    MinScheduler,
    description="random pending task at exactly its minimum requirement, skip if it does not fit",
)
SCHEDULERS.register(
    "sjf-oracle",
    SjfOracle,
    description="shortest job first with oracle durations, minimum allocation, non-preemptive",
)
SCHEDULERS.register(
    "tetris",
    Tetris,
    description="Tetris-style packer: the pending task whose demand best aligns with free "
    "resources, minimum allocation",
)
SCHEDULERS.register(
    "tiresias",
    Tiresias,
    description="Tiresias: two-level least attained GPU service, minimum allocations, preemptive",
)
SCHEDULERS.register("tiresias-np", TiresiasNP, description="Tiresias without preemption")
SCHEDULERS.register(
    "optimus-tapfinger",
    OptimusTapFinger,
    description="Optimus as the TapFinger authors' evaluation ran it: admission cap, one new "
    "task per round, gain per held unit, curve_fit speed model; elastic",
    default=False,
)
SCHEDULERS.register(
    "tiresias-tapfinger",
    TiresiasTapFinger,
    description="Tiresias as the TapFinger authors' evaluation ran it: GPUs one by one by a "
    "median two-level LAS, CPUs shared among GPU holders; elastic",
    default=False,
)
SCHEDULERS.register(
    "random-tapfinger",
    RandomTapFinger,
    description="random with the TapFinger authors' conflict rule (the lowest cluster that "
    "drew a task keeps it)",
    default=False,
)
SCHEDULERS.register(
    "min-tapfinger",
    MinTapFinger,
    description="min with the TapFinger authors' conflict rule",
    default=False,
)
SCHEDULERS.register(
    "tapfinger",
    "edgesched.rl.tapfinger.scheduler:TapFingerScheduler",
    description="TapFinger (Li et al., TPDS 2023): HAN + pointer, multi-agent PPO",
    checkpoint=True,
)


def make(name: str, **kwargs: Any) -> PlacementScheduler:
    """A fresh scheduler by registry name (raises ConfigError listing known names)."""
    return SCHEDULERS.make(name, **kwargs)


def names(**tags: Any) -> list[str]:
    """Registered names, in registration order (with ``tags``: those whose tags match)."""
    return SCHEDULERS.names(**tags)


__all__ = ["SCHEDULERS", "PlacementScheduler", "make", "names"]
