"""Dispatch scenario presets (YAML files shipped in ``edgesched/dispatch/scenarios/``) and
loading a scenario by preset name or path, with the load options of `edgesched compare`."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

from edgesched.core.config import preset_descriptions, scenario_file
from edgesched.core.errors import ConfigError
from edgesched.dispatch.world import World, load_scenario

DEFAULT_SCENARIO = "aset-full-edge"


def preset_dir() -> Path:
    return Path(str(resources.files("edgesched.dispatch") / "scenarios"))


def presets() -> dict[str, str]:
    """Preset name -> one-line description, the default scenario first."""
    return preset_descriptions(preset_dir(), DEFAULT_SCENARIO)


def with_load(
    world: World,
    *,
    lam: float | None = None,
    pattern: str | None = None,
    duration_s: float | None = None,
) -> World:
    """The same world with another load (clients per minute per access point, pattern,
    duration); None keeps the scenario's value.

    Raises:
        ConfigError: a negative lambda, an unknown pattern or a non-positive duration.
    """
    load = world.scenario.load
    update: dict[str, object] = {}
    if lam is not None:
        if not 0 <= lam <= 10_000:
            raise ConfigError(f"--lambda {lam}: expected clients per minute in [0, 10000].")
        update["lam"] = float(lam)
    if pattern is not None:
        if pattern not in ("fast", "steady"):
            raise ConfigError(f"--pattern {pattern!r}: expected 'fast' or 'steady'.")
        update["pattern"] = pattern
    if duration_s is not None:
        if not 0 < duration_s <= 86_400:
            raise ConfigError(f"--duration {duration_s}: expected seconds in (0, 86400].")
        update["duration_s"] = float(duration_s)
    if not update:
        return world
    scenario = world.scenario.model_copy(update={"load": load.model_copy(update=update)})
    return dataclasses.replace(world, scenario=scenario)


def load(
    scenario: str | Path = DEFAULT_SCENARIO,
    *,
    lam: float | None = None,
    pattern: str | None = None,
    duration_s: float | None = None,
) -> World:
    """A preset name or a scenario YAML path, built into a :class:`World`.

    Raises:
        ConfigError: unknown preset and no such file, or any problem in the file.
    """
    path, _ = scenario_file(scenario, preset_dir(), "dispatch scenario")
    world = load_scenario(path, name=path.stem)
    return with_load(world, lam=lam, pattern=pattern, duration_s=duration_s)


def load_preset(name: str = DEFAULT_SCENARIO, **options: float | str | None) -> World:
    """A shipped preset with optional ``lam``, ``pattern`` and ``duration_s``."""
    return load(name, **options)  # type: ignore[arg-type]
