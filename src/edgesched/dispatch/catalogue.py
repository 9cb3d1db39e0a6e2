"""The data tables both dispatch settings share: model variants (task, accuracy, memory),
device classes (memory, power model, workload limit, degradation) and batch-1 processing times
per variant and device class.

The shipped defaults are package data under ``edgesched/dispatch/data/``; a scenario may
replace any of the three files in its ``data`` section.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field

from edgesched.core.config import StrictModel, load_model
from edgesched.core.errors import ConfigError
from edgesched.core.tables import read_table

#: Upper bounds of the table values (a variant's footprint, a batch-1 processing time).
MAX_MEMORY_MB = 10_000_000
MAX_PROCESSING_MS = 10_000_000


def data_path(name: str) -> Path:
    """Path of a shipped data file of the dispatch world."""
    return Path(str(resources.files("edgesched.dispatch") / "data" / name))


def resolve(base: Path | None, name: str) -> Path:
    """``name`` as given when absolute, else relative to ``base`` (a scenario's folder)."""
    p = Path(name)
    return p if p.is_absolute() or base is None else base / p


class DataFiles(StrictModel):
    """Replacement data files, relative to the scenario file."""

    variants: str | None = None
    processing: str | None = None
    devices: str | None = None


class DeviceModel(StrictModel):
    """A device class: memory, power model (W), workload limit, co-location slow-down."""

    memory_gb: Annotated[float, Field(gt=0, le=10_000)]
    idle_w: Annotated[float, Field(ge=0, le=100_000)]
    active_w: Annotated[float, Field(ge=0, le=100_000)]
    max_w: Annotated[float, Field(gt=0, le=100_000)]
    max_workloads: Annotated[int, Field(ge=1, le=10_000)]
    degradation: Annotated[float, Field(ge=0, le=100)]


class DevicesFile(StrictModel):
    """The device-class table (``devices.yaml``)."""

    devices: dict[str, DeviceModel]


@dataclass(frozen=True)
class Catalogue:
    """Model variants, their accuracy and memory, and processing times per device class."""

    variants: list[str]
    tasks: list[str]
    accuracy: np.ndarray  # [V]
    memory_mb: np.ndarray  # [V]
    devices: dict[str, DeviceModel]
    processing_ms: dict[str, np.ndarray]  # device -> [V] (NaN where not profiled)

    @classmethod
    def load(
        cls,
        variants: Path | None = None,
        processing: Path | None = None,
        devices: Path | None = None,
    ) -> Catalogue:
        """Read the three data files (shipped defaults for those not given)."""
        devices = devices or data_path("devices.yaml")
        dev = load_model(DevicesFile, devices).devices
        variants = variants or data_path("variants.csv")
        rows = read_table(
            variants,
            {"task": "str", "variant": "str", "accuracy": "float", "memory_mb": "float"},
            what="variant table",
        )
        names = [r["variant"] for r in rows]
        for r in rows:
            if names.count(r["variant"]) > 1:
                raise ConfigError(
                    f"{variants}, line {r['_line']}: variant {r['variant']!r} is listed twice."
                )
            if not 0 <= r["accuracy"] <= 1 or not 0 < r["memory_mb"] <= MAX_MEMORY_MB:
                raise ConfigError(
                    f"{variants}, line {r['_line']}: accuracy must be in [0, 1] and memory_mb in "
                    f"(0, {MAX_MEMORY_MB}]."
                )
        processing = processing or data_path("processing_ms.csv")
        prows = read_table(
            processing,
            {"variant": "str"},
            dict.fromkeys(dev, "float"),
            what="processing-time table",
        )
        proc = {d: np.full(len(names), np.nan) for d in dev}
        for r in prows:
            if r["variant"] not in names:
                raise ConfigError(
                    f"{processing}, line {r['_line']}: unknown variant {r['variant']!r}; "
                    f"known: {', '.join(names)}."
                )
            i = names.index(r["variant"])
            for d in dev:
                value = r.get(d)
                if value is not None:
                    if not 0 < value <= MAX_PROCESSING_MS:
                        raise ConfigError(
                            f"{processing}, line {r['_line']}, column '{d}': processing time "
                            f"must be in (0, {MAX_PROCESSING_MS}] ms (found {value})."
                        )
                    proc[d][i] = value
        return cls(
            variants=names,
            tasks=[r["task"] for r in rows],
            accuracy=np.array([r["accuracy"] for r in rows]),
            memory_mb=np.array([r["memory_mb"] for r in rows]),
            devices=dev,
            processing_ms=proc,
        )

    @classmethod
    def of(cls, data: DataFiles, base: Path | None) -> Catalogue:
        """The catalogue of a scenario's ``data`` section (paths relative to ``base``)."""
        return cls.load(
            resolve(base, data.variants) if data.variants else None,
            resolve(base, data.processing) if data.processing else None,
            resolve(base, data.devices) if data.devices else None,
        )
