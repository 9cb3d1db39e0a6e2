"""Which world a scenario belongs to, and the list of every preset."""

from __future__ import annotations

from pathlib import Path

from edgesched.core.config import read_yaml
from edgesched.core.errors import ConfigError
from edgesched.experiments.backend import CompareBackend


def backends() -> dict[str, CompareBackend]:
    """Every world's compare backend, by world name."""
    from edgesched.experiments.placement_compare import PlacementBackend

    found: dict[str, CompareBackend] = {"placement": PlacementBackend()}
    # Backends of one world are tried in this order for a YAML file: a more specific one
    # (with an ``accepts(data)`` method) before the general one.
    try:
        from edgesched.experiments.ecsrl_compare import EcsrlBackend
    except ImportError:  # the device-level dispatch setting is optional until it lands
        pass
    else:
        found["ecsrl"] = EcsrlBackend()
    try:
        from edgesched.experiments.dispatch_compare import DispatchBackend
    except ImportError:  # the dispatch world is optional until it lands
        pass
    else:
        found["dispatch"] = DispatchBackend()
    return found


def all_presets() -> list[tuple[str, str, str]]:
    """(world, name, description) of every shipped preset."""
    rows = []
    for backend in backends().values():
        for name, text in backend.presets().items():
            rows.append((backend.world, name, text))
    return rows


def resolve(scenario: str) -> CompareBackend:
    """The backend of a preset name or of a YAML file (by its ``world`` field).

    Raises:
        ConfigError: unknown preset and no such file, or a file without a known world.
    """
    found = backends()
    for backend in found.values():
        if scenario in backend.presets():
            return backend
    path = Path(scenario)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: no such scenario file.")
        data, _ = read_yaml(path)
        world = data.get("world") if isinstance(data, dict) else None
        worlds = sorted({b.world for b in found.values()})
        for backend in found.values():
            if backend.world != world:
                continue
            accepts = getattr(backend, "accepts", None)
            if accepts is None or accepts(data):
                return backend
        raise ConfigError(
            f"{path}, line 1: field 'world': expected one of {', '.join(worlds)} (found {world!r})."
        )
    names = [name for _, name, _ in all_presets()]
    raise ConfigError(
        f"unknown scenario {scenario!r}: not a preset and not a YAML file. "
        f"Presets: {', '.join(names)} (see `edgesched scenarios`)."
    )
