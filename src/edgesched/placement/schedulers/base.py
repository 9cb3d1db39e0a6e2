"""The one scheduler interface of the placement world.

Hand-written and learned schedulers are the same kind of object: the simulator, the RL
environments and the experiment runner drive them only through these three methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesched.core.resources import Vector

if TYPE_CHECKING:
    from edgesched.placement.scenario import PlacementScenario
    from edgesched.placement.sim import Decision, PlacementSim


class PlacementScheduler:
    """Decides, per round, which pending task each cluster starts and with what allocation.

    Attributes:
        name: the registry name.
        elastic: True when :meth:`reallocate` may change running tasks' allocations at the
            start of a timestep (paying the switching overhead).
    """

    name = "base"
    elastic = False

    def check(self, scenario: PlacementScenario) -> None:
        """Raise ConfigError when this scheduler cannot run ``scenario`` (checked before any
        run starts)."""

    def reset(self, sim: PlacementSim, rng: np.random.Generator) -> None:
        """Called once before the first timestep; ``rng`` is the run's policy stream."""
        self.rng = rng

    def reallocate(self, sim: PlacementSim) -> dict[int, Vector] | None:
        """New allocations of running tasks (task id -> allocation, all-zero pauses)."""
        return None

    def decide(self, sim: PlacementSim) -> Sequence[Decision | None]:
        """One decision (or None to skip) per cluster for this round."""
        raise NotImplementedError

    def get_state(self) -> dict[str, Any]:
        """The scheduler's own random state between timesteps, beyond the policy stream
        given to :meth:`reset`, as JSON values; {} when it keeps none. A run resumed in
        another process (the Kubernetes operator after a restart) calls :meth:`reset`, then
        :meth:`set_state` with this."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (after :meth:`reset`)."""
