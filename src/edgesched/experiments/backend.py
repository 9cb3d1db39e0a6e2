"""What `edgesched compare` needs from a world, and the part every world shares.

The command line resolves a scenario to its world's backend
(:func:`edgesched.experiments.worlds.resolve`), which prepares it (all validation happens
there, before anything runs or is written), runs every (scheduler, seed) cell through
:func:`edgesched.experiments.runner.run_cells`, then writes its results and prints its table.

Schedulers are found by name in the world's registry, hand-written and learned alike; a
learned one (tagged ``checkpoint=True``) is built with the comparison's checkpoint: the one
given with ``--checkpoint``, else the one shipped for the scenario.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgesched.core.errors import ConfigError
from edgesched.core.registry import Registry, load_entry

#: The options of `edgesched compare` that change a scenario's load, by flag.
LOAD_FLAGS = {
    "trace": "--trace",
    "lam": "--lambda",
    "pattern": "--pattern",
    "duration": "--duration",
    "profile": "--profile",
    "arrivals": "--arrivals",
    "records": "--records",
}


@dataclass(frozen=True)
class CompareOptions:
    """Options of `edgesched compare` that only some worlds use (None: the world's default)."""

    trace: Path | None = None
    checkpoint: Path | None = None
    lam: float | None = None
    pattern: str | None = None
    duration: float | None = None
    profile: Path | None = None
    arrivals: Path | None = None
    records: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    """A validated scenario of one world with the options of one comparison (picklable).

    Attributes:
        world: what the world's simulator runs (a placement scenario, a streams or devices
            world).
        name: the scenario's name.
        checkpoint: the learned scheduler's checkpoint (given or shipped), or None.
        given: whether ``checkpoint`` was given by the user (then it must fit).
        extra: world-specific inputs (placement: the trace and the scenario's file).
    """

    world: Any
    name: str
    checkpoint: Path | None = None
    given: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def make_scheduler(registry: Registry[Any], name: str, checkpoint: Path | None) -> Any:
    """A scheduler by name; a learned one gets ``checkpoint``."""
    if registry.tags(name).get("checkpoint"):
        return registry.make(name, checkpoint=checkpoint)
    return registry.make(name)


class WorldBackend:
    """One world's part of `edgesched compare`: the shared skeleton.

    A world sets :attr:`world`, :attr:`registry` and :attr:`load_options`, and implements
    :meth:`presets`, :meth:`accepts`, :meth:`load`, :meth:`cell_function`, :meth:`write` and
    :meth:`table`.
    """

    world: ClassVar[str]
    #: ``"module:attr"`` of the world's scheduler registry.
    registry: ClassVar[str]
    #: The fields of :class:`CompareOptions` (see :data:`LOAD_FLAGS`) this world accepts.
    load_options: ClassVar[tuple[str, ...]] = ()
    #: How to change this world's load, for the message refusing another world's option.
    load_hint: ClassVar[str] = ""

    # ---------------------------------------------------------------- world-specific

    def presets(self) -> dict[str, str]:
        """Preset names of this world with a one-line description each."""
        raise NotImplementedError

    def accepts(self, data: Any) -> bool:
        """Whether parsed scenario YAML belongs to this world."""
        raise NotImplementedError

    def load(self, scenario: str, options: CompareOptions) -> Prepared:
        """Load and validate the scenario (a preset name or a YAML path) with the options;
        the checkpoint is filled in by :meth:`prepare`."""
        raise NotImplementedError

    def cell_function(self) -> Any:
        """A module-level function ``f(prepared, scheduler, seed) -> result`` (picklable)."""
        raise NotImplementedError

    def write(
        self, out_dir: Path, prepared: Prepared, cells: list[tuple[str, int]], results: list[Any]
    ) -> dict[str, Any]:
        """Write results, summary.json and plots into ``out_dir``; return the summary."""
        raise NotImplementedError

    def table(self, summary: dict[str, Any]) -> str:
        """The console table of a summary."""
        raise NotImplementedError

    def check(self, prepared: Prepared, name: str) -> None:
        """Raise ConfigError when hand-written scheduler ``name`` cannot run the scenario."""

    def usable(self, prepared: Prepared, name: str) -> bool:
        """Whether a hand-written scheduler runs by default on this scenario."""
        try:
            self.check(prepared, name)
        except ConfigError:
            return False
        return True

    def derived(self) -> dict[str, str]:
        """Rows computed from other rows rather than run (name -> why), refused in
        ``--schedulers``."""
        return {}

    # ---------------------------------------------------------------- shared

    def schedulers_registry(self) -> Registry[Any]:
        found: Registry[Any] = load_entry(self.registry)
        return found

    def learned(self) -> list[str]:
        """The names of the world's learned schedulers."""
        return self.schedulers_registry().names(checkpoint=True)

    def validate_scenario(self, scenario: str) -> None:
        """Load the scenario with default options (ConfigError on any problem)."""
        self.load(scenario, CompareOptions())

    def shipped(self, learned: str, name: str) -> Path | None:
        """The shipped checkpoint of ``learned`` for the scenario ``name``, or None."""
        from edgesched.rl import agent

        return agent(learned).shipped(name)

    def prepare(self, scenario: str, options: CompareOptions) -> Prepared:
        """Refuse options of other worlds, load the scenario and find the checkpoint.

        Raises:
            ConfigError: bad input; nothing has run.
        """
        for option, flag in LOAD_FLAGS.items():
            if option not in self.load_options and getattr(options, option) is not None:
                raise ConfigError(
                    f"{flag} does not apply to {scenario!r}, a {self.world} scenario "
                    f"({self.load_hint})."
                )
        prepared = self.load(scenario, options)
        if options.checkpoint is not None:
            if not options.checkpoint.is_file():
                raise ConfigError(f"--checkpoint {options.checkpoint}: no such file.")
            return dataclasses.replace(prepared, checkpoint=options.checkpoint, given=True)
        learned = self.learned()
        shipped = self.shipped(learned[0], prepared.name) if learned else None
        return dataclasses.replace(prepared, checkpoint=shipped)

    def scenario_name(self, prepared: Prepared) -> str:
        return prepared.name

    def fits(self, prepared: Prepared, name: str) -> None:
        """Build learned scheduler ``name`` from the checkpoint and check that it fits the
        scenario (ConfigError saying why not)."""
        if prepared.checkpoint is None:
            raise ConfigError(
                f"--schedulers {name}: no checkpoint is shipped for {prepared.name}; train one "
                f"with `edgesched train {name} SCENARIO` and pass --checkpoint PATH."
            )
        make_scheduler(self.schedulers_registry(), name, prepared.checkpoint).check(prepared.world)

    def schedulers(self, prepared: Prepared) -> list[str]:
        """Every scheduler `compare` runs by default: the usable hand-written ones, and the
        learned one when its checkpoint was given or a shipped one fits. Entries tagged
        ``default=False`` (variants such as the TapFinger authors' baselines) run only when
        named."""
        registry = self.schedulers_registry()
        learned = set(self.learned())
        names = [
            n
            for n in registry.names()
            if n not in learned
            and registry.tags(n).get("default", True)
            and self.usable(prepared, n)
        ]
        for name in self.learned():
            if prepared.checkpoint is None:
                continue
            if not prepared.given:
                try:
                    self.fits(prepared, name)
                except ConfigError:
                    continue
            names.append(name)
        return names

    def check_schedulers(self, prepared: Prepared, names: list[str]) -> None:
        """Raise ConfigError for a name this world cannot run (before anything runs)."""
        registry = self.schedulers_registry()
        derived = self.derived()
        for name in names:
            if name in derived:
                raise ConfigError(f"--schedulers {name}: {derived[name]}")
            registry.entry(name)  # an unknown name: the registry's message
            if registry.tags(name).get("checkpoint"):
                self.fits(prepared, name)
            else:
                self.check(prepared, name)
