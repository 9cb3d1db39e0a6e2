"""Device-setting presets (YAML files shipped in ``edgesched/dispatch/devices/presets/``) and
loading a scenario by preset name or path, with the load options of `edgesched compare`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from edgesched.core.config import preset_descriptions, scenario_file
from edgesched.dispatch.devices.world import DeviceWorld, load_scenario

DEFAULT_SCENARIO = "ecsrl-17k"


def preset_dir() -> Path:
    """The folder of the device-setting presets."""
    return Path(str(resources.files("edgesched.dispatch.devices") / "presets"))


def presets() -> dict[str, str]:
    """Preset name -> one-line description."""
    return preset_descriptions(preset_dir(), DEFAULT_SCENARIO)


def load(
    scenario: str | Path = DEFAULT_SCENARIO,
    *,
    rate_per_min: float | None = None,
    duration_s: float | None = None,
) -> DeviceWorld:
    """A device-setting preset name or YAML path, built into a :class:`DeviceWorld` with the
    given request rate (per minute) and duration (None: the scenario's).

    Raises:
        ConfigError: unknown preset and no such file, or any problem in the file.
    """
    path, is_preset = scenario_file(scenario, preset_dir(), "device-setting scenario")
    return load_scenario(
        path,
        name=path.stem if is_preset else None,
        rate_per_min=rate_per_min,
        duration_s=duration_s,
    )
