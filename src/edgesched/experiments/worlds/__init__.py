"""Every world's `compare` backend, in one registry, and which world a scenario belongs to.

The backends are ``"module:attr"`` entries, imported on first use.
"""

from __future__ import annotations

from pathlib import Path

from edgesched.core.config import read_yaml
from edgesched.core.errors import ConfigError
from edgesched.core.registry import Registry
from edgesched.experiments.backend import WorldBackend

#: Backends by world name; a YAML file goes to the first whose ``accepts`` takes it.
BACKENDS: Registry[WorldBackend] = Registry("world")
BACKENDS.register(
    "placement",
    "edgesched.experiments.worlds.placement:PlacementBackend",
    description="ML-task placement on edge clusters (TapFinger's setting)",
)
BACKENDS.register(
    "devices",
    "edgesched.experiments.worlds.devices:DevicesBackend",
    description="dispatch of requests to edge devices and the cloud (ECSRL's setting)",
)
BACKENDS.register(
    "streams",
    "edgesched.experiments.worlds.streams:StreamsBackend",
    description="dispatch of query streams over an ISP edge network (ASET's setting)",
)


def backends() -> list[WorldBackend]:
    """Every world's backend, in registry order."""
    return [BACKENDS.make(name) for name in BACKENDS.names()]


def backend_of_world(world: str) -> WorldBackend:
    """The backend of a world by name (ConfigError listing the known worlds)."""
    return BACKENDS.make(world)


def all_presets() -> list[tuple[str, str, str]]:
    """(world, name, description) of every shipped preset."""
    return [(b.world, name, text) for b in backends() for name, text in b.presets().items()]


def resolve(scenario: str) -> WorldBackend:
    """The backend of a preset name or of a YAML file (by its ``world`` and ``setting``).

    Raises:
        ConfigError: unknown preset and no such file, or a file without a known world.
    """
    found = backends()
    for backend in found:
        if scenario in backend.presets():
            return backend
    path = Path(scenario)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: no such scenario file.")
        data, _ = read_yaml(path)
        for backend in found:
            if backend.accepts(data):
                return backend
        world = data.get("world") if isinstance(data, dict) else None
        raise ConfigError(
            f"{path}, line 1: field 'world': expected placement, or dispatch with setting "
            f"streams (the default) or devices (found world {world!r})."
        )
    names = [name for _, name, _ in all_presets()]
    raise ConfigError(
        f"unknown scenario {scenario!r}: not a preset and not a YAML file. "
        f"Presets: {', '.join(names)} (see `edgesched scenarios`)."
    )
