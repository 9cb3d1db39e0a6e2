"""Scenarios of the live runtime: a device-setting preset or file, with a measured profile.

``live-host`` (this package's ``presets/live-host.yaml``) is this host as a small edge
cluster; every device-setting preset (``edgesched scenarios --world dispatch``) and any
``setting: devices`` YAML file can be served too. A profile written by ``edgesched profile``
replaces the processing times and slow-down coefficients of the device classes it measured
(:func:`load_world`).
"""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from edgesched.core.config import load_model, read_yaml
from edgesched.core.errors import ConfigError
from edgesched.dispatch.catalogue import DevicesFile, data_path, resolve
from edgesched.dispatch.devices import scenario as device_scenarios
from edgesched.dispatch.devices.world import (
    DeviceScenario,
    DeviceWorld,
    PairDegradation,
    build_world,
    with_requests,
)

LIVE_PRESETS = ("live-host",)


def preset_dir() -> Path:
    """The live runtime's presets (``live-host``) until they move to the device presets."""
    return Path(str(resources.files("edgesched.live") / "presets"))


def scenario_path(ref: str | Path) -> tuple[Path, str | None]:
    """The YAML file of a scenario reference and its preset name (None for a path).

    Raises:
        ConfigError: neither a preset nor an existing file.
    """
    name = str(ref)
    if name in LIVE_PRESETS:
        return preset_dir() / f"{name}.yaml", name
    shipped = device_scenarios.presets()
    if name in shipped:
        return device_scenarios.preset_dir() / f"{name}.yaml", name
    path = Path(name)
    if path.is_file():
        return path, None
    known = ", ".join([*LIVE_PRESETS, *shipped])
    raise ConfigError(
        f"scenario {name!r}: no such device-setting preset or file; presets: {known}."
    )


def read_profile(path: str | Path) -> dict[str, Any]:
    """Read and check a profile file (``edgesched profile --out``).

    Raises:
        ConfigError: missing file, or a missing or malformed ``devices``, ``processing_ms``
            or ``degradation`` section.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--profile {path}: no such file (write one with `edgesched profile`).")
    data, _node = read_yaml(path)
    if not isinstance(data, dict) or "devices" not in data or "processing_ms" not in data:
        raise ConfigError(
            f"{path}: not a live profile: expected the sections 'devices' and 'processing_ms' "
            "written by `edgesched profile`."
        )
    load_model(DevicesFile, path, {"devices": data["devices"]}, None)
    proc = data["processing_ms"]
    if not isinstance(proc, dict):
        raise ConfigError(f"{path}: field 'processing_ms': expected variant -> {{class: ms}}.")
    for v, row in proc.items():
        if not isinstance(row, dict) or not all(
            isinstance(x, int | float) and x > 0 for x in row.values()
        ):
            raise ConfigError(
                f"{path}: field 'processing_ms.{v}': expected {{device class: ms > 0}}."
            )
    for i, pair in enumerate(data.get("degradation") or []):
        try:
            PairDegradation.model_validate(pair)
        except Exception as exc:
            raise ConfigError(f"{path}: field 'degradation.{i}': {exc}") from None
    return data


def _merged_tables(
    model: DeviceScenario, base: Path, profile: dict[str, Any], out: Path
) -> DeviceScenario:
    """Write the scenario's device and processing tables with the profile's classes merged
    in, into folder ``out``; returns the scenario pointing at them."""
    import csv

    data = model.data
    devices_file = resolve(base, data.devices) if data.devices else data_path("devices.yaml")
    proc_file = (
        resolve(base, data.processing) if data.processing else data_path("processing_ms.csv")
    )
    devices = yaml.safe_load(devices_file.read_text(encoding="utf-8"))["devices"]
    devices.update(profile["devices"])
    (out / "devices.yaml").write_text(yaml.safe_dump({"devices": devices}), encoding="utf-8")
    with proc_file.open(newline="", encoding="utf-8") as f:
        rows = {r["variant"]: r for r in csv.DictReader(f)}
    classes = list(devices)
    for v, row in profile["processing_ms"].items():
        rows.setdefault(v, {"variant": v}).update({k: str(x) for k, x in row.items()})
    with (out / "processing.csv").open("w", newline="", encoding="utf-8") as f:
        wr = csv.DictWriter(f, ["variant", *classes], extrasaction="ignore")
        wr.writeheader()
        for r in rows.values():
            wr.writerow({k: r.get(k, "") for k in ["variant", *classes]})
    measured = set(profile["devices"])
    pairs = [p for p in model.degradation if p.device not in measured]
    pairs += [PairDegradation.model_validate(p) for p in profile.get("degradation") or []]
    files = data.model_copy(
        update={"devices": str(out / "devices.yaml"), "processing": str(out / "processing.csv")}
    )
    return model.model_copy(update={"data": files, "degradation": tuple(pairs)})


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
    path, name = scenario_path(ref)
    data, node = read_yaml(path)
    if not isinstance(data, dict) or data.get("setting") != "devices":
        raise ConfigError(
            f"{path}: the live runtime serves device-setting scenarios (`setting: devices`); "
            "this one is not."
        )
    model = load_model(DeviceScenario, path, data, node)
    if name is not None and model.name is None:
        model = model.model_copy(update={"name": name})
    model = with_requests(model, rate_per_min=rate_per_min, duration_s=duration_s)
    if profile is None:
        return build_world(model, str(path), path.parent)
    prof = read_profile(profile)
    with tempfile.TemporaryDirectory(prefix="edgesched-profile-") as tmp:
        merged = _merged_tables(model, path.parent, prof, Path(tmp))
        return build_world(merged, str(path), path.parent)


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
