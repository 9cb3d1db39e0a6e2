"""The stepping core of the placement world's learning views: decisions in, rounds and
timesteps out, with the rewards of the RL formulation. The two environments
(:mod:`edgesched.placement.env`) and TapFinger's trainer share it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesched.core.errors import ConfigError, SchedulerError
from edgesched.placement.observation import Layout
from edgesched.placement.scenario import PlacementScenario, with_overrides
from edgesched.placement.sim import Decision, PlacementSim
from edgesched.placement.workload import workload


class Episode:
    """One episode at a time of a scenario: decisions in, rounds and timesteps out."""

    def __init__(
        self,
        scenario: PlacementScenario,
        source: Path | None,
        max_timesteps: int | None = None,
        invalid: str = "skip",
    ) -> None:
        if invalid not in ("skip", "raise"):
            raise ConfigError(f"invalid={invalid!r}: expected 'skip' or 'raise'.")
        self.invalid = invalid
        self.invalid_actions = 0
        self.scenario = scenario
        self.source = source
        self.lay = Layout(scenario)
        self.max_timesteps = max_timesteps
        self.sim: PlacementSim | None = None

    @classmethod
    def build(
        cls,
        scenario: str | Path | PlacementScenario,
        *,
        tasks: int | None = None,
        mode: str | None = None,
        rate: float | None = None,
        max_timesteps: int | None = None,
        invalid: str = "skip",
    ) -> Episode:
        """The episodes of a scenario (a preset, a YAML path or a model) with overrides (see
        :func:`edgesched.placement.scenario.with_overrides`); the environments' one
        constructor, which both pass their options to.

        Args:
            tasks, mode, rate: scenario overrides.
            max_timesteps: truncate an episode after that many world timesteps.
            invalid: ``"skip"`` (an action outside the masks is a skip) or ``"raise"``.
        """
        sc, source = with_overrides(scenario, tasks, mode, rate)
        return cls(sc, source, max_timesteps, invalid)

    def start(self, seed: int) -> None:
        """A new episode with the tasks and noise of world seed ``seed``."""
        specs = workload(self.scenario, seed, source=self.source)
        self.sim = PlacementSim(self.scenario, specs, seed, record=False)
        self.sim.begin_timestep()
        self._skip_idle()  # never runs a timestep: a first arrival always fits somewhere

    def can_decide(self, n: int) -> bool:
        """True when cluster n has a pending task that fits its free resources and the grid."""
        assert self.sim is not None
        cl = self.sim.clusters[n]
        free = cl.free
        grid = self.scenario.allocation_grid
        for task in cl.pending:
            if task is not None and all(
                m <= f and m <= a for m, f, a in zip(task.min, free, grid, strict=True)
            ):
                return True
        return False

    def decision(self, n: int, slot: int, index: int, prob: float) -> Decision | None:
        """The world decision of agent n's action; None for a skip.

        An action outside the masks (an empty slot, an allocation below the minimum or above
        the free resources) is a skip when ``invalid == "skip"``; with ``"raise"`` it goes to
        the world, whose feasibility check raises SchedulerError.
        """
        sim = self.sim
        assert sim is not None
        if slot >= self.lay.K or index == 0:
            return None
        cl = sim.clusters[n]
        task = cl.pending[slot]
        if task is None:
            if self.invalid == "raise":
                raise SchedulerError(f"cluster {n} chose empty pending slot {slot}")
            self.invalid_actions += 1
            return None
        alloc = self.lay.alloc_of(index)
        if self.invalid == "skip" and not all(
            m <= a <= f for m, a, f in zip(task.min, alloc, cl.free, strict=True)
        ):
            self.invalid_actions += 1
            return None
        return Decision(task.id, alloc, prob)

    def round(self, decisions: list[Decision | None]) -> tuple[bool, np.ndarray, list[bool]]:
        """Apply one round; advance the world when it ends the timestep.

        Returns:
            (world advanced, rewards, per-cluster lost-conflict flags); rewards has one entry
            per cluster (the spec's per-agent reward) and a last one, minus the tasks in the
            system (the single-agent reward).
        """
        sim = self.sim
        assert sim is not None
        started = sim.apply_round(decisions)
        lost = [d is not None and sim.tasks[d.task].cluster != n for n, d in enumerate(decisions)]
        rewards = np.zeros(self.lay.N + 1, dtype=np.float64)
        if started and sim.multi_task:
            return False, rewards, lost
        rewards += self._end_timestep()
        rewards += self._skip_idle()
        return True, rewards, lost

    def _end_timestep(self) -> np.ndarray:
        sim = self.sim
        assert sim is not None
        r = np.array(
            [-sim.in_system(n) for n in range(self.lay.N)] + [-(sim.arrived - sim.completed)],
            dtype=np.float64,
        )
        sim.end_timestep()
        if not sim.done:
            sim.begin_timestep()
        return r

    def _skip_idle(self) -> np.ndarray:
        """Run timesteps in which no cluster has anything to decide; their summed rewards."""
        sim = self.sim
        assert sim is not None
        total = np.zeros(self.lay.N + 1, dtype=np.float64)
        while not sim.done and not any(self.can_decide(n) for n in range(self.lay.N)):
            total += self._end_timestep()
        return total

    @property
    def truncated(self) -> bool:
        sim = self.sim
        assert sim is not None
        return (
            self.max_timesteps is not None
            and not sim.done
            and sim.t - sim.first_t >= self.max_timesteps
        )
