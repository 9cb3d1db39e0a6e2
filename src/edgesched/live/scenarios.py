"""Scenarios of the live runtime: any device-setting preset (``live-host`` is this host as a
small edge cluster; ``edgesched scenarios``) or ``setting: devices`` YAML file, with a measured
profile (the devices world's :func:`edgesched.dispatch.devices.scenario.load`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgesched.core.errors import ConfigError
from edgesched.dispatch.devices import scenario as device_scenarios
from edgesched.dispatch.devices.world import DeviceWorld


def load_world(
    ref: str | Path,
    *,
    profile: str | Path | None = None,
    rate_per_min: float | None = None,
    duration_s: float | None = None,
) -> DeviceWorld:
    """A device-setting scenario (preset or file) as a world, with a measured profile.

    Raises:
        ConfigError: an unknown scenario, a bad file or profile.
    """
    return device_scenarios.load(
        ref, profile=profile, rate_per_min=rate_per_min, duration_s=duration_s
    )


def make_scheduler(name: str, checkpoint: Path | None) -> Any:
    """A device-setting scheduler by name from its world's registry (ConfigError if
    unknown); ``checkpoint`` goes to a learned one."""
    from edgesched.dispatch.devices.schedulers import make, names

    if name not in names():
        raise ConfigError(
            f"--scheduler {name!r}: unknown device-setting scheduler; known: {', '.join(names())}."
        )
    if checkpoint is not None:
        if not checkpoint.is_file():
            raise ConfigError(f"--checkpoint {checkpoint}: no such file.")
        return make(name, checkpoint=checkpoint)
    return make(name)
