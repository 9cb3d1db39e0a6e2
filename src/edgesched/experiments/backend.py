"""What `edgesched compare` needs from a world; each world's backend implements it.

The command line resolves a scenario to its world, asks that world's backend to prepare it
(all validation happens here, before anything runs or is written), runs every
(scheduler, seed) cell through :func:`edgesched.experiments.runner.run_cells`, then lets the
backend write its results and print its table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class CompareOptions:
    """Options of `edgesched compare` that only some worlds use (None: the world's default)."""

    trace: Path | None = None
    checkpoint: Path | None = None
    lam: float | None = None
    pattern: str | None = None
    duration: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class CompareBackend(Protocol):
    """One world's part of `edgesched compare`."""

    world: str

    def presets(self) -> dict[str, str]:
        """Preset names of this world with a one-line description each."""
        ...

    def prepare(self, scenario: str, options: CompareOptions) -> Any:
        """Load and validate the scenario (a preset name or a YAML path) with the options.

        Returns a picklable object handed to :meth:`run_cell`. Raises ConfigError on bad
        input. Options the world does not use must be refused with a ConfigError.
        """
        ...

    def scenario_name(self, prepared: Any) -> str: ...

    def schedulers(self, prepared: Any) -> list[str]:
        """Every scheduler `compare` runs by default on this scenario."""
        ...

    def check_schedulers(self, prepared: Any, names: list[str]) -> None:
        """Raise ConfigError for a name this world cannot run."""
        ...

    def cell_function(self) -> Any:
        """A module-level function ``f(prepared, scheduler, seed) -> result`` (picklable)."""
        ...

    def write(
        self, out_dir: Path, prepared: Any, cells: list[tuple[str, int]], results: list[Any]
    ) -> dict[str, Any]:
        """Write results.csv, summary.json and plots into ``out_dir``; return the summary."""
        ...

    def table(self, summary: dict[str, Any]) -> str:
        """The console table of a summary."""
        ...
