"""Streams-setting presets (YAML files shipped in ``edgesched/dispatch/streams/presets/``) and
loading a scenario by preset name or path, with the load options of `edgesched compare`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from edgesched.core.config import preset_descriptions, scenario_file
from edgesched.dispatch.streams.world import StreamWorld, load_scenario

DEFAULT_SCENARIO = "aset-full-edge"


def preset_dir() -> Path:
    """The folder of the streams-setting presets."""
    return Path(str(resources.files("edgesched.dispatch.streams") / "presets"))


def presets() -> dict[str, str]:
    """Preset name -> one-line description, the default scenario first."""
    return preset_descriptions(preset_dir(), DEFAULT_SCENARIO)


def load(
    scenario: str | Path = DEFAULT_SCENARIO,
    *,
    lam: float | None = None,
    pattern: str | None = None,
    duration_s: float | None = None,
) -> StreamWorld:
    """A preset name or a scenario YAML path, built into a :class:`StreamWorld` with the given load
    (None: the scenario's).

    Raises:
        ConfigError: unknown preset and no such file, or any problem in the file.
    """
    path, _ = scenario_file(scenario, preset_dir(), "streams scenario")
    return load_scenario(path, name=path.stem, lam=lam, pattern=pattern, duration_s=duration_s)
