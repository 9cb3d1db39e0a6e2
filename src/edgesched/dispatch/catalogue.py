"""The data tables both dispatch settings share: model variants (task, accuracy, memory),
device classes (memory, power model, workload limit, degradation) and batch-1 processing times
per variant and device class.

The shipped defaults are package data under ``edgesched/dispatch/data/``: recalibrated from
published Jetson figures, every value with its source (the processing table's ``basis`` and
``source`` columns, the device table's ``sources``). A named data set (:data:`DATASETS`, a
folder under ``data/``) replaces the files it holds: ``legacy`` is the tables before that
recalibration, so older results reproduce. A scenario selects one with ``data.dataset`` and may
replace any of the three files in its ``data`` section.

The processing table is read in either of two layouts: *long* (``variant,device,ms`` plus the
optional ``basis`` and ``source``: one value per line, with where it comes from) or *wide*
(``variant`` and one column per device class, as measured profiles and older files have).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from edgesched.core.config import StrictModel, load_model
from edgesched.core.errors import ConfigError
from edgesched.core.tables import read_table

#: Upper bounds of the table values (a variant's footprint, a batch-1 processing time).
MAX_MEMORY_MB = 10_000_000
MAX_PROCESSING_MS = 10_000_000


#: The named data sets: a folder under ``data/`` whose files replace the defaults.
DATASETS = {
    "legacy": "the processing-time and device tables before the recalibration of issue 11 "
    "(unsourced Jetson times several times faster than published stock-framework figures)",
}

#: What a processing-table value's ``basis`` says.
BASES = {
    "pytorch": "a published stock-PyTorch latency, as is",
    "tensorrt": "a published TensorRT latency, as is",
    "derived": "computed from published figures (the source says how)",
    "assumption": "no published figure: this project's assumption (the source says which)",
}


def data_path(name: str, dataset: str | None = None) -> Path:
    """Path of a shipped data file of the dispatch world: the named data set's copy when it
    has one, else the default."""
    root = Path(str(resources.files("edgesched.dispatch") / "data"))
    if dataset is not None and (root / dataset / name).is_file():
        return root / dataset / name
    return root / name


def resolve(base: Path | None, name: str) -> Path:
    """``name`` as given when absolute, else relative to ``base`` (a scenario's folder)."""
    p = Path(name)
    return p if p.is_absolute() or base is None else base / p


class DataFiles(StrictModel):
    """Replacement data files, relative to the scenario file."""

    #: a named shipped data set (:data:`DATASETS`) in place of the defaults
    dataset: Literal["legacy"] | None = None
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
    sources: dict[
        Literal["memory_gb", "idle_w", "active_w", "max_w", "max_workloads", "degradation"],
        Annotated[str, Field(min_length=1, max_length=1000)],
    ] = Field(default_factory=dict)


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
    #: (variant, device) -> (basis, source) of each processing time whose table says so
    processing_sources: dict[tuple[str, str], tuple[str, str]]

    @classmethod
    def load(
        cls,
        variants: Path | None = None,
        processing: Path | None = None,
        devices: Path | None = None,
        dataset: str | None = None,
    ) -> Catalogue:
        """Read the three data files (those not given: the data set's, else the defaults).

        Raises:
            ConfigError: naming file, line and column of a bad value, an unknown variant or
                device class, a value given twice, or a basis that is not one of
                :data:`BASES`.
        """
        devices = devices or data_path("devices.yaml", dataset)
        dev = load_model(DevicesFile, devices).devices
        variants = variants or data_path("variants.csv", dataset)
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
        processing = processing or data_path("processing_ms.csv", dataset)
        proc, sources = read_processing(processing, names, list(dev))
        return cls(
            variants=names,
            tasks=[r["task"] for r in rows],
            accuracy=np.array([r["accuracy"] for r in rows]),
            memory_mb=np.array([r["memory_mb"] for r in rows]),
            devices=dev,
            processing_ms=proc,
            processing_sources=sources,
        )

    @classmethod
    def of(cls, data: DataFiles, base: Path | None) -> Catalogue:
        """The catalogue of a scenario's ``data`` section (paths relative to ``base``)."""
        return cls.load(
            resolve(base, data.variants) if data.variants else None,
            resolve(base, data.processing) if data.processing else None,
            resolve(base, data.devices) if data.devices else None,
            data.dataset,
        )


def data_files(data: DataFiles, base: Path | None) -> tuple[Path, Path, Path]:
    """The variant, processing and device files a scenario's ``data`` section reads."""
    return (
        resolve(base, data.variants) if data.variants else data_path("variants.csv", data.dataset),
        resolve(base, data.processing)
        if data.processing
        else data_path("processing_ms.csv", data.dataset),
        resolve(base, data.devices) if data.devices else data_path("devices.yaml", data.dataset),
    )


def _check_ms(path: Path, line: int, column: str, value: float) -> float:
    if not 0 < value <= MAX_PROCESSING_MS:
        raise ConfigError(
            f"{path}, line {line}, column '{column}': processing time must be in "
            f"(0, {MAX_PROCESSING_MS}] ms (found {value})."
        )
    return value


def read_processing(
    path: Path, variants: list[str], devices: list[str]
) -> tuple[dict[str, np.ndarray], dict[tuple[str, str], tuple[str, str]]]:
    """A processing-time table, long or wide (see the module docstring): per device class the
    times of ``variants`` (NaN where not given), and the basis and source of each long row.

    Raises:
        ConfigError: naming file, line and column.
    """
    proc = {d: np.full(len(variants), np.nan) for d in devices}
    sources: dict[tuple[str, str], tuple[str, str]] = {}
    head = _header(path)
    long = "device" in head and "ms" in head
    what = "processing-time table"
    if long:
        prows = read_table(
            path,
            {"variant": "str", "device": "str", "ms": "float"},
            {"basis": "str", "source": "str"},
            what=what,
        )
    else:
        prows = read_table(path, {"variant": "str"}, dict.fromkeys(devices, "float"), what=what)
    for r in prows:
        line = r["_line"]
        if r["variant"] not in variants:
            raise ConfigError(
                f"{path}, line {line}, column 'variant': unknown variant {r['variant']!r}; "
                f"known: {', '.join(variants)}."
            )
        i = variants.index(r["variant"])
        if not long:
            for d in devices:
                value = r.get(d)
                if value is not None:
                    proc[d][i] = _check_ms(path, line, d, value)
            continue
        d = r["device"]
        if d not in proc:
            raise ConfigError(
                f"{path}, line {line}, column 'device': unknown device class {d!r}; known: "
                f"{', '.join(devices)}."
            )
        if not np.isnan(proc[d][i]):
            raise ConfigError(
                f"{path}, line {line}: variant {r['variant']!r} on {d!r} is listed twice."
            )
        proc[d][i] = _check_ms(path, line, "ms", r["ms"])
        basis, source = r.get("basis"), r.get("source")
        if basis is not None and basis not in BASES:
            raise ConfigError(
                f"{path}, line {line}, column 'basis': {basis!r}; expected one of "
                f"{', '.join(BASES)}."
            )
        if basis is not None or source is not None:
            if basis is None or source is None:
                missing = "source" if source is None else "basis"
                raise ConfigError(
                    f"{path}, line {line}, column '{missing}': empty; a value with a basis "
                    "needs its source and the other way round."
                )
            sources[(r["variant"], d)] = (basis, source)
    return proc, sources


def _header(path: Path) -> list[str]:
    """The column names of a CSV file's first line (empty when unreadable: the table reader
    then says why)."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            first = f.readline(MAX_HEADER_CHARS)
    except (OSError, UnicodeDecodeError):
        return []
    return [c.strip() for c in first.split(",")]


MAX_HEADER_CHARS = 65536
