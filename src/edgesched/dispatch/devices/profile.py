"""Measured profiles of a host (written by `edgesched profile`) applied to a device scenario.

A profile is a YAML file with three sections: ``devices`` (device classes in the shared
``devices.yaml`` format, their ``degradation`` coefficient measured), ``processing_ms``
(variant -> {class: solo ms}) and ``degradation`` (per-pair coefficients, the format of a
scenario's ``degradation`` list), and optionally ``host_overhead`` (the serving host's own
costs, the scenario's ``host`` section: :class:`~edgesched.dispatch.devices.world.HostModel`).
:func:`apply_profile` replaces the scenario's tables for the classes the profile measured and
keeps the rest, and sets ``host`` when the profile measured it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edgesched.core.config import load_model, read_yaml
from edgesched.core.errors import ConfigError
from edgesched.dispatch.catalogue import Catalogue, DevicesFile, data_files
from edgesched.dispatch.devices.world import DeviceScenario, HostModel, PairDegradation


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
            f"{path}: not a profile: expected the sections 'devices' and 'processing_ms' "
            "written by `edgesched profile`."
        )
    load_model(DevicesFile, path, {"devices": data["devices"]}, None)
    proc = data["processing_ms"]
    if not isinstance(proc, dict):
        raise ConfigError(f"{path}: field 'processing_ms': expected variant -> {{class: ms}}.")
    for v, row in proc.items():
        if not isinstance(row, dict) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in row.values()
        ):
            raise ConfigError(
                f"{path}: field 'processing_ms.{v}': expected {{device class: ms > 0}}."
            )
    pairs = data.get("degradation") or []
    if not isinstance(pairs, list):
        raise ConfigError(f"{path}: field 'degradation': expected a list of pairs.")
    for i, pair in enumerate(pairs):
        try:
            PairDegradation.model_validate(pair)
        except Exception as exc:
            raise ConfigError(f"{path}: field 'degradation.{i}': {exc}") from None
    host = data.get("host_overhead")
    if host is not None:
        if not isinstance(host, dict):
            raise ConfigError(f"{path}: field 'host_overhead': expected a mapping.")
        try:
            HostModel.model_validate({k: host[k] for k in HOST_FIELDS if k in host})
        except Exception as exc:
            raise ConfigError(f"{path}: field 'host_overhead': {exc}") from None
    return data


#: The fields of a profile's ``host_overhead`` the simulator uses (the rest is provenance).
HOST_FIELDS = ("request_ms", "cpu_ms_per_request", "cores")


def apply_profile(
    model: DeviceScenario, base: Path, profile: dict[str, Any], out: Path
) -> DeviceScenario:
    """Write the scenario's device and processing tables with the profile's classes merged
    in, into folder ``out``; returns the scenario pointing at them (``base``: the folder the
    scenario's own ``data:`` paths are relative to)."""
    data = model.data
    variants_file, proc_file, devices_file = data_files(data, base)
    devices = yaml.safe_load(devices_file.read_text(encoding="utf-8"))["devices"]
    table_classes = list(devices)
    devices.update(profile["devices"])
    (out / "devices.yaml").write_text(yaml.safe_dump({"devices": devices}), encoding="utf-8")
    cat = Catalogue.load(variants_file, proc_file, devices_file)
    times = {d: cat.processing_ms[d] for d in table_classes}
    rows: dict[str, dict[str, str]] = {}
    for i, v in enumerate(cat.variants):
        row = {d: repr(float(t[i])) for d, t in times.items() if not np.isnan(t[i])}
        if row:
            rows[v] = {"variant": v, **row}
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
    update: dict[str, Any] = {"data": files, "degradation": tuple(pairs)}
    host = profile.get("host_overhead")
    if host is not None:
        update["host"] = HostModel.model_validate({k: host[k] for k in HOST_FIELDS if k in host})
    return model.model_copy(update=update)
