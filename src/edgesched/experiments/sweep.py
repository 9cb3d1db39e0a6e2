"""`edgesched sweep SPEC.yaml`: a grid over scenario fields x schedulers x seeds, cached per cell.

A sweep file (:class:`SweepSpec`) names a base scenario (a preset or a path, relative to the
sweep file), the scenario fields to vary (``grid``: every combination; ``points``: a list of
explicit settings; both: every point with every combination), the schedulers and the seeds.
Fields are dotted paths into the scenario's YAML, with list indices as numbers
(``workload.arrivals.rate``, ``clusters.0.count``, ``load.lam``, ``requests.count``).

Every (point, scheduler, seed) cell runs the world's own cell function and summary
(:mod:`edgesched.experiments.worlds`), and its metrics are cached as JSON under
``OUT/cells/KEY.json``, KEY a digest of the scenario's content, the scheduler, the checkpoint's
content (learned schedulers only: it does not change a hand-written one), the seed and the
edgesched version. A rerun, after an interruption or with more points or seeds, runs only the
cells not in the cache. ``OUT/results.csv`` holds one row per cell, and
``OUT/plots/METRIC__vs__FIELD.png`` each metric against each swept field, one line per
scheduler, the band one standard deviation over seeds (and over the other fields' values).

A cell that fails by its own error is reported with its point, scheduler and seed, and the
others complete; with the Ray executor a cell whose worker or node was lost is retried.

Variants are loaded from a temporary copy beside the base scenario's file, so that its files
named by relative path (progress and processing tables) are found as for the base.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import itertools
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from edgesched import __version__
from edgesched.core.config import StrictModel, _line_of, load_model, read_yaml
from edgesched.core.errors import ConfigError
from edgesched.core.registry import load_entry
from edgesched.experiments.backend import CompareOptions, Prepared, WorldBackend
from edgesched.experiments.executors import make_executor
from edgesched.experiments.worlds import all_presets, resolve

#: Each world's summary function: ``summarise(prepared, results) -> summary``.
SUMMARISE = {
    "placement": "edgesched.experiments.worlds.placement:summarise",
    "devices": "edgesched.experiments.worlds.devices:summarise",
    "streams": "edgesched.experiments.worlds.streams:summarise",
}

#: The metrics plotted when the sweep file names none.
DEFAULT_METRICS = {
    "placement": ["mean_jct", "p95_jct", "utilisation"],
    "devices": ["throughput_rate", "energy_per_request_j", "p99_delay_ms"],
    "streams": ["success_ratio", "violation_ratio", "p99_delay_ms"],
}

#: Summary values that compare a scheduler with the others of one run: meaningless per cell.
_RELATIVE = {"ratio_to_best", "ratio_to_lower_bound", "dominated_by"}


class SweepSpec(StrictModel):
    """A sweep file.

    Attributes:
        base: the base scenario: a preset name or a YAML path (relative to the sweep file).
        grid: field -> values; every combination is a point.
        points: explicit points (field -> value), each combined with every grid combination.
        schedulers: scheduler names (default: those `compare` runs on the base scenario).
        seeds: a count N (seeds 0..N-1) or a list of seeds.
        checkpoint: a learned scheduler's checkpoint (default: the shipped one).
        metrics: the metrics to plot (default: the world's main ones).
    """

    base: str
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    points: list[dict[str, Any]] = Field(default_factory=list)
    schedulers: list[str] | None = None
    seeds: int | list[int] = 3
    checkpoint: str | None = None
    metrics: list[str] | None = None

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def expand(self) -> list[dict[str, Any]]:
        """Every point: each explicit point merged with each grid combination."""
        fields = list(self.grid)
        combos = [
            dict(zip(fields, vs, strict=True)) for vs in itertools.product(*self.grid.values())
        ]
        return [{**p, **c} for p in (self.points or [{}]) for c in combos]

    def swept(self) -> list[str]:
        """The swept fields, in the file's order."""
        names = list(self.grid)
        for p in self.points:
            names += [k for k in p if k not in names]
        return names


@dataclass
class Cell:
    """One (point, scheduler, seed) of a sweep."""

    point: dict[str, Any]
    scheduler: str
    seed: int
    key: str
    prepared: Prepared = field(repr=False)

    def label(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.point.items()) or "base"
        return (
            f"scenario {self.prepared.name} ({where}), scheduler {self.scheduler}, seed {self.seed}"
        )


@dataclass
class SweepPlan:
    spec: SweepSpec
    world: str
    cells: list[Cell]
    fields: list[str]
    metrics: list[str]
    cache: Path

    def missing(self) -> list[Cell]:
        return [c for c in self.cells if not (self.cache / f"{c.key}.json").is_file()]


@dataclass
class SweepResult:
    out_dir: Path
    ran: int
    cached: int
    failed: list[tuple[Cell, str]]
    rows: list[dict[str, Any]]


# ----------------------------------------------------------------------------- planning


def _set_field(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a dotted field (list indices as numbers); its parent must exist in ``data``."""
    parts = dotted.split(".")
    node: Any = data
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise ConfigError(
                f"the base scenario has no field {'.'.join(parts[: parts.index(part) + 1])!r}"
            )
    last = parts[-1]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"the base scenario has no field {dotted!r}")


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


#: The package files whose content makes up :func:`code_fingerprint` (code, presets, tables).
_CODE_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".csv", ".json", ".html"})


@functools.cache
def code_fingerprint(root: Path | None = None) -> str:
    """A digest of the installed package's code and data files (``root``: the package folder,
    default this one), so that a cached cell is never reused by code that differs from the code
    that computed it, whether or not the version number was raised (an edited checkout, a
    branch, a node with another install). Computed once per process (a few milliseconds)."""
    root = Path(__file__).resolve().parents[1] if root is None else root
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in _CODE_SUFFIXES and "__pycache__" not in path.parts and path.is_file():
            h.update(path.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def cell_key(scenario: Any, scheduler: str, checkpoint: bytes | None, seed: int) -> str:
    """The cache key of a cell: scenario content, scheduler, checkpoint content, seed, the
    edgesched version and :func:`code_fingerprint` (``checkpoint`` None for a hand-written
    scheduler)."""
    ck = hashlib.sha256(checkpoint).hexdigest() if checkpoint is not None else None
    return _digest([scenario, scheduler, ck, seed, __version__, code_fingerprint()])[:32]


def _preset_path(backend: WorldBackend, name: str) -> Path:
    folders = {
        "placement": "edgesched.placement.scenario:_preset_dir",
        "devices": "edgesched.dispatch.devices.scenario:preset_dir",
        "streams": "edgesched.dispatch.streams.scenario:preset_dir",
    }
    folder: Path = load_entry(folders[backend.world])()
    return folder / f"{name}.yaml"


def _load_variant(
    backend: WorldBackend, base: Path, data: dict[str, Any], options: CompareOptions
) -> Prepared:
    """Load a variant from a temporary file beside the base (relative references resolve)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{base.stem}.sweep-", suffix=".yaml", dir=base.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(data, f, sort_keys=False)
        return backend.prepare(tmp, options)
    finally:
        Path(tmp).unlink(missing_ok=True)


def plan(spec_path: Path, out: Path) -> SweepPlan:
    """Validate the sweep file and every point's scenario; list the cells (nothing runs).

    Raises:
        ConfigError: with the sweep file, line and field of the first problem.
    """
    data, node = read_yaml(spec_path)
    spec = load_model(SweepSpec, spec_path, data, node)

    def where(*loc: str | int) -> str:
        line = _line_of(node, loc)
        return f"{spec_path}, line {line}" if line is not None else str(spec_path)

    base_ref = spec.base
    spec_dir = spec_path.parent
    presets = {name for _, name, _ in all_presets()}
    ref = base_ref if base_ref in presets else str(spec_dir / base_ref)  # absolute stays
    try:
        backend = resolve(ref)
    except ConfigError as exc:
        raise ConfigError(f"{where('base')}: field 'base': {exc}") from None
    base_file = _preset_path(backend, ref) if ref in backend.presets() else Path(ref)
    base_data, _ = read_yaml(base_file)
    if backend.world != "placement" and ref in backend.presets():
        base_data.setdefault("name", base_file.stem)
    options = CompareOptions(checkpoint=Path(spec.checkpoint) if spec.checkpoint else None)
    if options.checkpoint is not None and not options.checkpoint.is_absolute():
        options = CompareOptions(checkpoint=spec_dir / options.checkpoint)
    seeds = spec.seed_list()
    if not seeds:
        raise ConfigError(f"{where('seeds')}: field 'seeds': expected at least one seed.")
    cells: list[Cell] = []
    learned = set(backend.learned())
    ck_bytes: bytes | None = None
    for point in spec.expand():
        variant = json.loads(json.dumps(base_data))
        for name, value in point.items():
            loc = ("grid", name) if name in spec.grid else ("points",)
            try:
                _set_field(variant, name, value)
            except ConfigError as exc:
                raise ConfigError(f"{where(*loc)}: field '{loc[0]}.{name}': {exc}.") from None
        shown = ", ".join(f"{k}={v!r}" for k, v in point.items()) or "the base scenario"
        try:
            prepared = _load_variant(backend, base_file, variant, options)
        except ConfigError as exc:
            raise ConfigError(
                f"{where('grid') if spec.grid else where('points')}: at {shown}: {exc}"
            ) from None
        names = spec.schedulers or backend.schedulers(prepared)
        try:
            backend.check_schedulers(prepared, names)
        except ConfigError as exc:
            line = where("schedulers") if spec.schedulers else where("base")
            raise ConfigError(f"{line}: field 'schedulers': at {shown}: {exc}") from None
        if prepared.checkpoint is not None and ck_bytes is None:
            ck_bytes = Path(prepared.checkpoint).read_bytes()
        for sched in names:
            for seed in seeds:
                ck = ck_bytes if sched in learned else None
                cells.append(Cell(point, sched, seed, cell_key(variant, sched, ck, seed), prepared))
    metrics = spec.metrics or DEFAULT_METRICS[backend.world]
    return SweepPlan(spec, backend.world, cells, spec.swept(), metrics, out / "cells")


# ----------------------------------------------------------------------------- running


def sweep_cell(
    world: str, prepared: Prepared, scheduler: str, seed: int, cache_file: str | None
) -> dict[str, Any]:
    """Run one cell with its world's cell function and summary; its metrics, or its error.

    With ``cache_file`` (a folder this process can write) the metrics are cached there as
    soon as the cell finishes.
    """
    from edgesched.experiments.worlds import backend_of_world

    start = time.perf_counter()
    try:
        result = backend_of_world(world).cell_function()(prepared, scheduler, seed)
        summarise: Callable[..., dict[str, Any]] = load_entry(SUMMARISE[world])
        row = summarise(prepared, [result])["schedulers"][scheduler]
    except Exception as exc:  # a cell's own error is reported, the others go on
        return {"error": f"{type(exc).__name__}: {exc}"}
    metrics = {
        k: v
        for k, v in row.items()
        if k not in _RELATIVE and (isinstance(v, (int, float)) or v is None)
    }
    out = {"metrics": metrics, "seconds": time.perf_counter() - start}
    if cache_file is not None:
        _write_atomic(Path(cache_file), out)
    return out


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    tmp.replace(path)


def estimate(p: SweepPlan, jobs: int) -> tuple[int, float, str]:
    """(cells to run, estimated seconds, how it was estimated): the mean time of the cached
    cells, else one cell timed now."""
    missing = p.missing()
    times = [
        json.loads((p.cache / f"{c.key}.json").read_text()).get("seconds", 0.0)
        for c in p.cells
        if (p.cache / f"{c.key}.json").is_file()
    ]
    if times:
        per, how = sum(times) / len(times), f"mean of {len(times)} cached cell(s)"
    elif missing:
        c = missing[0]
        per = sweep_cell(p.world, c.prepared, c.scheduler, c.seed, None).get("seconds", 0.0)
        how = "one cell timed now"
    else:
        per, how = 0.0, "nothing to run"
    return len(missing), per * len(missing) / max(1, jobs), how


def run_sweep(
    spec_path: Path,
    out: Path,
    *,
    executor: str = "local",
    address: str | None = None,
    jobs: int | None = None,
    progress: bool | None = None,
) -> SweepResult:
    """Run the missing cells, then write results.csv and the plots."""
    runner = make_executor(executor, address)
    p = plan(spec_path, out)
    out.mkdir(parents=True, exist_ok=True)
    missing = p.missing()
    local = executor == "local"
    failed: list[tuple[Cell, str]] = []

    def keep(i: int, res: dict[str, Any]) -> None:
        if "error" in res:
            return
        path = p.cache / f"{missing[i].key}.json"
        if not path.is_file():
            _write_atomic(path, res)

    results = (
        []
        if not missing
        else runner.run(
            sweep_cell,
            [
                (
                    p.world,
                    c.prepared,
                    c.scheduler,
                    c.seed,
                    str(p.cache / f"{c.key}.json") if local else None,
                )
                for c in missing
            ],
            jobs=jobs,
            desc=f"sweep {spec_path.stem}",
            progress=progress,
            on_result=keep,
        )
    )
    for c, res in zip(missing, results, strict=True):
        if "error" in res:
            failed.append((c, res["error"]))
    rows = write_outputs(p, out)
    return SweepResult(out, len(missing) - len(failed), len(p.cells) - len(missing), failed, rows)


# ----------------------------------------------------------------------------- outputs


def write_outputs(p: SweepPlan, out: Path) -> list[dict[str, Any]]:
    """results.csv (one row per cached cell) and the plots."""
    rows: list[dict[str, Any]] = []
    for c in p.cells:
        path = p.cache / f"{c.key}.json"
        if path.is_file():
            metrics = json.loads(path.read_text())["metrics"]
            rows.append(
                {
                    **{f: c.point.get(f) for f in p.fields},
                    "scheduler": c.scheduler,
                    "seed": c.seed,
                    **metrics,
                }
            )
    names = list(dict.fromkeys(k for r in rows for k in r))
    with (out / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        w.writerows(rows)
    if rows:
        plot_sweep(out / "plots", rows, p.fields, p.metrics)
    write_record(p, out)
    return rows


def write_record(p: SweepPlan, out: Path) -> None:
    """``sweep.json``: the sweep file as read, the planned cell count, each point's full
    scenario configuration and the run's metadata (version, commit), for `edgesched report`."""
    from edgesched.experiments.output import json_safe, run_metadata, write_json

    configs: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []
    for c in p.cells:
        if c.point not in seen:
            seen.append(c.point)
            model = getattr(c.prepared.world, "scenario", c.prepared.world)
            configs.append({"point": c.point, "config": model.model_dump(mode="json")})
    record = {
        "world": p.world,
        "spec": p.spec.model_dump(mode="json"),
        "fields": p.fields,
        "metrics": p.metrics,
        "cells": len(p.cells),
        "seeds": p.spec.seed_list(),
        "configs": configs,
        **run_metadata(),
    }
    write_json(out / "sweep.json", json_safe(record))


def plot_sweep(
    folder: Path, rows: list[dict[str, Any]], fields: list[str], metrics: list[str]
) -> None:
    """Each metric against each swept field, one line per scheduler, mean ± std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    schedulers = list(dict.fromkeys(r["scheduler"] for r in rows))
    for fld in fields:
        xs = sorted({r[fld] for r in rows if r.get(fld) is not None})
        for metric in metrics:
            fig, ax = plt.subplots(figsize=(6, 4))
            for s in schedulers:
                mean, std = [], []
                for x in xs:
                    vals = [
                        float(r[metric])
                        for r in rows
                        if r["scheduler"] == s
                        and r.get(fld) == x
                        and r.get(metric) is not None
                        and not math.isnan(float(r[metric]))
                    ]
                    mean.append(np.mean(vals) if vals else np.nan)
                    std.append(np.std(vals) if vals else np.nan)
                m, sd = np.array(mean), np.array(std)
                ax.plot(xs, m, marker="o", label=s)
                ax.fill_between(xs, m - sd, m + sd, alpha=0.2)
            ax.set_xlabel(fld)
            ax.set_ylabel(metric)
            ax.legend(fontsize=7)
            fig.tight_layout()
            fig.savefig(folder / f"{metric}__vs__{fld}.png", dpi=80)
            plt.close(fig)
