"""Device-setting presets (YAML files shipped in ``edgesched/dispatch/devices/presets/``) and
loading a scenario by preset name or path, with the load options of `edgesched compare` (a
request rate, a duration, a measured host profile: :mod:`edgesched.dispatch.devices.profile`).

Only the YAML files directly in ``presets/`` are scenarios; ``presets/data/`` holds the data
tables they name in their ``data:`` section."""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

from edgesched.core.arrivals import read_arrival_trace
from edgesched.core.config import load_model, preset_descriptions, read_yaml, scenario_file
from edgesched.core.errors import ConfigError
from edgesched.dispatch.devices.profile import apply_profile, read_profile
from edgesched.dispatch.devices.world import (
    DeviceScenario,
    DeviceWorld,
    build_world,
    load_scenario,
    with_arrivals,
    with_requests,
)

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
    profile: str | Path | None = None,
    arrivals: str | Path | None = None,
) -> DeviceWorld:
    """A device-setting preset name or YAML path, built into a :class:`DeviceWorld` with the
    given request rate (per minute) and duration (None: the scenario's), and the processing
    times and slow-down of a measured ``profile`` (``edgesched profile --out``) in place of
    the scenario's for the device classes it measured. ``arrivals``: a CSV arrival trace
    (:func:`edgesched.core.arrivals.read_arrival_trace`) in place of the Poisson arrivals; it
    sets the count and the duration, so it excludes a rate and a duration.

    Raises:
        ConfigError: unknown preset and no such file, a file of another setting, any problem
            in the file, the profile or the trace, a trace with a rate or a duration.
    """
    if arrivals is None:
        return _load(scenario, rate_per_min, duration_s, profile)
    if rate_per_min is not None or duration_s is not None:
        raise ConfigError(
            "--arrivals sets when every request arrives (their count and the duration); it "
            "cannot be combined with --lambda or --duration."
        )
    trace = read_arrival_trace(arrivals)
    return with_arrivals(_load(scenario, None, None, profile), trace)


def _load(
    scenario: str | Path,
    rate_per_min: float | None,
    duration_s: float | None,
    profile: str | Path | None,
) -> DeviceWorld:
    path, is_preset = scenario_file(scenario, preset_dir(), "device-setting scenario")
    name = path.stem if is_preset else None
    if profile is None:
        return load_scenario(path, name=name, rate_per_min=rate_per_min, duration_s=duration_s)
    prof = read_profile(profile)
    data, node = read_yaml(path)
    if not isinstance(data, dict) or data.get("setting") != "devices":
        raise ConfigError(f"{path}: not a device-setting scenario (`setting: devices`).")
    model = load_model(DeviceScenario, path, data, node)
    if name is not None and model.name is None:
        model = model.model_copy(update={"name": name})
    model = with_requests(model, rate_per_min=rate_per_min, duration_s=duration_s)
    with tempfile.TemporaryDirectory(prefix="edgesched-profile-") as tmp:
        merged = apply_profile(model, path.parent, prof, Path(tmp))
        return build_world(merged, str(path), path.parent)
