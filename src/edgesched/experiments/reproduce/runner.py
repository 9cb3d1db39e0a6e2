"""The runner of `edgesched reproduce` (see :mod:`edgesched.experiments.reproduce`)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgesched.core.errors import ConfigError
from edgesched.core.registry import load_entry
from edgesched.experiments.output import claim_output, json_safe, run_metadata, write_json
from edgesched.experiments.report import write_report
from edgesched.experiments.reproduce import MANIFEST, STEP_FILE, finish, paper
from edgesched.experiments.reproduce.base import (
    SIZES,
    Claim,
    Compare,
    Experiment,
    Measure,
    Paper,
    Step,
    Training,
)


@dataclass
class ReproduceResult:
    out_dir: Path
    claims: list[Claim]
    wall_s: float


def reproduce(
    name: str,
    *,
    size: str = "full",
    out: Path | None = None,
    executor: str = "local",
    address: str | None = None,
    jobs: int | None = None,
    progress: bool | None = None,
    log: Callable[[str], Any] = print,
) -> ReproduceResult:
    """Run every step of paper ``name`` at ``size`` into ``out``, then claims, figures and
    the HTML report.

    A folder left by an interrupted run of the same paper and size is continued (finished
    steps are kept, sweeps run only their missing cells); any other non-empty folder is
    refused.

    Raises:
        ConfigError: unknown paper or size, or an unusable output folder (nothing has run).
    """
    from edgesched.experiments.executors import make_executor

    spec = paper(name)
    if size not in SIZES:
        raise ConfigError(f"--size {size!r}: expected one of {', '.join(SIZES)}.")
    make_executor(executor, address)  # refuses a bad executor or address before any work
    steps = spec.steps(size)
    out = out or Path("runs") / f"reproduce-{name}-{size}__{_stamp()}"
    start = time.perf_counter()
    with claim_output(out, reuse=True):
        manifest = _begin(out, spec, size, steps, executor)
        for i, step in enumerate(steps, 1):
            sub = out / "experiments" / step.id
            if (sub / STEP_FILE).is_file():
                log(f"[{i}/{len(steps)}] {step.title}: recorded, kept")
                continue
            log(f"[{i}/{len(steps)}] {step.title}")
            t0 = time.perf_counter()
            info = _run_step(step, sub, out, executor, address, jobs, progress, log)
            info["wall_s"] = round(time.perf_counter() - t0, 3)
            write_json(sub / STEP_FILE, json_safe(info))
        manifest["status"] = "complete"
        manifest["wall_s"] = round(time.perf_counter() - start + manifest.get("wall_s", 0.0), 3)
        claims = finish(out)
        write_json(out / MANIFEST, manifest)
        write_report([out], out / "report.html")
    return ReproduceResult(out, claims, time.perf_counter() - start)


def _stamp() -> str:
    from edgesched.experiments.output import timestamp

    return timestamp()


def _begin(out: Path, spec: Paper, size: str, steps: list[Step], executor: str) -> dict[str, Any]:
    """Start the manifest, or take up an interrupted run of the same paper and size."""
    path = out / MANIFEST
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
        if old.get("paper") != spec.name or old.get("size") != size:
            raise ConfigError(
                f"--out {out}: holds a reproduce run of {old.get('paper')!r} at size "
                f"{old.get('size')!r}; choose another folder (nothing was written)."
            )
        if old.get("status") == "complete":
            raise ConfigError(
                f"--out {out}: this reproduce run is complete; render it again with "
                f"`edgesched report {out}` or choose another folder (nothing was written)."
            )
        return dict(old)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            f"--out {out}: already exists and is not an empty folder; choose a new folder "
            "(nothing was written)."
        )
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "paper": spec.name,
        "title": spec.title,
        "size": size,
        "status": "running",
        "executor": executor,
        "steps": [s.id for s in steps],
        **run_metadata(),
    }
    write_json(path, manifest)
    return manifest


def _run_step(
    step: Step,
    sub: Path,
    out: Path,
    executor: str,
    address: str | None,
    jobs: int | None,
    progress: bool | None,
    log: Callable[[str], Any],
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "id": step.id,
        "title": step.title,
        "kind": {
            Experiment: "sweep",
            Training: "training",
            Measure: "measure",
            Compare: "compare",
        }[type(step)],
        "spec": json_safe(dataclasses.asdict(step)),
        **run_metadata(),
    }
    sub.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(step, Training):
            info.update(_train(step, sub, log))
        elif isinstance(step, Measure):
            ck = step.args.get("checkpoint")
            args = {**step.args}
            if isinstance(ck, str):
                found = _checkpoint(ck, out)
                if found is None:
                    raise _Unavailable(f"no checkpoint {ck} in this version")
                args["checkpoint"] = found
            load_entry(step.fn)(sub, **args)
            info["status"] = "complete"
        elif isinstance(step, Compare):
            info.update(_compare(step, sub, executor, address, jobs, progress))
        else:
            info.update(_sweep(step, sub, out, executor, address, jobs, progress))
    except _Unavailable as exc:
        info["status"] = "unavailable"
        info["reason"] = str(exc)
        log(f"    not available in this version: {exc}")
    return info


class _Unavailable(Exception):
    """A step this version cannot run (a preset, scheduler or checkpoint not registered)."""


def _train(step: Training, sub: Path, log: Callable[[str], Any]) -> dict[str, Any]:
    from edgesched.experiments.train import CHECKPOINT, TrainOptions, train
    from edgesched.rl import LEARNED

    if step.agent not in LEARNED:
        raise _Unavailable(f"no learned agent {step.agent!r}")
    run = sub / "run"
    try:
        result = train(
            step.agent,
            step.scenario,
            TrainOptions(
                steps=step.steps,
                seed=step.seed,
                out=run,
                budget=step.budget,
                fields=dict(step.fields),
                log=lambda m: log(f"    {m}"),
            ),
        )
    except ConfigError as exc:  # a training option this version does not have
        raise _Unavailable(str(exc)) from None
    # the run's last checkpoint (TapFinger also keeps best.pt, chosen on its evaluation seeds)
    found = sorted(
        (p for p in run.iterdir() if p.suffix in (".pt", ".zip")),
        key=lambda p: (p.name != CHECKPOINT, p.name),
    )
    return {
        "status": "complete",
        "checkpoint": str(found[0].relative_to(sub)) if found else None,
        "training": {k: v for k, v in result.info.items() if isinstance(v, int | float | str)},
    }


def _checkpoint(ref: str | None, out: Path) -> Path | None:
    """The checkpoint an experiment names: ``train:ID``, ``shipped:A,B`` (the first preset
    with a shipped checkpoint, for the agent given as ``shipped:AGENT/A,B``) or a path."""
    if ref is None:
        return None
    if ref.startswith("train:"):
        sub = out / "experiments" / ref[6:]
        try:
            info = json.loads((sub / STEP_FILE).read_text())
        except (OSError, ValueError):
            return None
        if info.get("status") != "complete" or not info.get("checkpoint"):
            return None
        return sub / info["checkpoint"]
    if ref.startswith("shipped:"):
        from edgesched.rl import LEARNED, agent

        who, _, names = ref[8:].partition("/")
        if who not in LEARNED:
            return None
        for name in names.split(","):
            found = agent(who).shipped(name)
            if found is not None:
                return found
        return None
    return Path(ref)


def _sweep(
    step: Experiment,
    sub: Path,
    out: Path,
    executor: str,
    address: str | None,
    jobs: int | None,
    progress: bool | None,
) -> dict[str, Any]:
    from edgesched.experiments.sweep import run_sweep

    spec_path, _, info = _plan_sweep(step, sub, _checkpoint(step.checkpoint, out))
    result = run_sweep(
        spec_path, sub, executor=executor, address=address, jobs=jobs, progress=progress
    )
    if result.failed:
        cell, error = result.failed[0]
        raise ConfigError(
            f"reproduce: {len(result.failed)} cell(s) of {step.id} failed, first {cell.label()}: "
            f"{error}; rerun with the same --out to retry them."
        )
    return info


def _runnable(backend: Any, prepared: Any, wanted: list[str]) -> tuple[list[str], dict[str, str]]:
    """The wanted schedulers (``*``: every registered one) this version runs on the
    scenario, and why each other one does not."""
    registry = backend.schedulers_registry()
    if "*" in wanted:
        i = wanted.index("*")
        wanted[i : i + 1] = [n for n in registry.names() if n not in wanted]
    learned = set(backend.learned())
    run: list[str] = []
    missing: dict[str, str] = {}
    derived = backend.derived()
    for n in wanted:
        if n in derived:
            continue  # computed from the others' results (best-static), never run
        if n not in registry:
            missing[n] = "not registered in this version"
            continue
        try:
            if n in learned:
                backend.fits(prepared, n)
            else:
                backend.check(prepared, n)
        except ConfigError as exc:
            missing[n] = str(exc)
            continue
        run.append(n)
    return run, missing


def _plan_sweep(step: Experiment, sub: Path, ck: Path | None) -> tuple[Path, Any, dict[str, Any]]:
    """Write the step's sweep file with the schedulers this version can run; its plan and
    what ``experiment.json`` records (``_Unavailable`` when nothing can run)."""
    from edgesched.experiments.backend import CompareOptions
    from edgesched.experiments.sweep import plan
    from edgesched.experiments.worlds import all_presets, resolve

    if step.base not in {name for _, name, _ in all_presets()}:
        raise _Unavailable(f"no preset {step.base!r}")
    backend = resolve(step.base)
    if step.checkpoint is not None and ck is None:
        raise _Unavailable(f"no checkpoint {step.checkpoint}")
    prepared = backend.prepare(step.base, CompareOptions(checkpoint=ck))
    registry = backend.schedulers_registry()
    run, missing = _runnable(backend, prepared, list(step.schedulers))
    if not run:
        raise _Unavailable("none of its schedulers runs here: " + "; ".join(missing.values()))
    data: dict[str, Any] = {"base": step.base, "schedulers": run, "seeds": list(step.seeds)}
    if step.points:
        data["points"] = [dict(p) for p in step.points]
    if step.grid:
        data["grid"] = {k: list(v) for k, v in step.grid.items()}
    if ck is not None:
        data["checkpoint"] = str(ck.resolve())
    sub.mkdir(parents=True, exist_ok=True)
    spec_path = sub / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump(data, sort_keys=False))
    p = plan(spec_path, sub)
    configs: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []
    for cell in p.cells:
        if cell.point in seen:
            continue
        seen.append(cell.point)
        world = cell.prepared.world
        model = getattr(world, "scenario", world)
        configs.append({"point": cell.point, "config": model.model_dump(mode="json")})
    return (
        spec_path,
        p,
        {
            "status": "complete",
            "base": step.base,
            "schedulers": run,
            "tags": {n: json_safe(registry.tags(n)) for n in run},
            "unavailable": missing,
            "seeds": list(step.seeds),
            "fields": p.fields,
            "checkpoint": str(ck) if ck is not None else None,
            "configs": configs,
            "cells": len(p.cells),
        },
    )


def _compare(
    step: Compare,
    sub: Path,
    executor: str,
    address: str | None,
    jobs: int | None,
    progress: bool | None,
) -> dict[str, Any]:
    """One `edgesched compare` into ``sub/run`` with the schedulers this version runs."""
    from edgesched.experiments.backend import CompareOptions
    from edgesched.experiments.compare import compare
    from edgesched.experiments.worlds import all_presets, resolve

    if step.scenario not in {name for _, name, _ in all_presets()}:
        raise _Unavailable(f"no preset {step.scenario!r}")
    backend = resolve(step.scenario)
    options = CompareOptions(lam=step.lam, pattern=step.pattern, duration=step.duration)
    prepared = backend.prepare(step.scenario, options)
    run, missing = _runnable(backend, prepared, list(step.schedulers))
    if not run:
        raise _Unavailable("none of its schedulers runs here: " + "; ".join(missing.values()))
    result = compare(
        step.scenario,
        schedulers=run,
        seeds=list(step.seeds),
        out=sub / "run",
        jobs=jobs,
        options=options,
        progress=progress,
        executor=executor,
        address=address,
    )
    return {
        "status": "complete",
        "schedulers": run,
        "unavailable": missing,
        "seeds": list(step.seeds),
        "configs": [{"point": {}, "config": result.summary.get("config")}],
    }


# ----------------------------------------------------------------------------- estimate


@dataclass
class StepEstimate:
    id: str
    title: str
    cells: int
    seconds: float
    how: str


def estimate(name: str, size: str = "full", jobs: int | None = None) -> list[StepEstimate]:
    """How long each step of paper ``name`` at ``size`` would take here (nothing is written
    but a temporary folder): a sweep's cell count x one cell timed now (see
    :func:`edgesched.experiments.sweep.estimate`) over ``jobs`` workers; a training its
    budget; a measurement is timed by running it. A checkpoint still to be trained is
    replaced by the agent's shipped one for the timing."""
    import tempfile

    from edgesched.experiments.runner import default_jobs
    from edgesched.experiments.sweep import estimate as sweep_estimate

    spec = paper(name)
    if size not in SIZES:
        raise ConfigError(f"--size {size!r}: expected one of {', '.join(SIZES)}.")
    out: list[StepEstimate] = []
    with tempfile.TemporaryDirectory(prefix="edgesched-estimate-") as tmp:
        root = Path(tmp)
        for step in spec.steps(size):
            sub = root / "experiments" / step.id
            if isinstance(step, Training):
                secs = _budget_s(step.budget) if step.budget else float("nan")
                how = f"budget {step.budget}" if step.budget else f"{step.steps} steps"
                out.append(StepEstimate(step.id, step.title, 0, secs, how))
                continue
            if isinstance(step, Compare):
                cells = len(step.seeds) * len(step.schedulers)
                out.append(StepEstimate(step.id, step.title, cells, float("nan"), "not timed"))
                continue
            if isinstance(step, Measure):
                sub.mkdir(parents=True)
                t0 = time.perf_counter()
                args = {**step.args}
                ck = _checkpoint(args.get("checkpoint"), root)
                if ck is None and "checkpoint" in args:
                    out.append(StepEstimate(step.id, step.title, 0, 0.0, "not available"))
                    continue
                if ck is not None:
                    args["checkpoint"] = ck
                load_entry(step.fn)(sub, **args)
                out.append(
                    StepEstimate(step.id, step.title, 0, time.perf_counter() - t0, "timed now")
                )
                continue
            ck = _checkpoint(step.checkpoint, root)
            if ck is None and step.checkpoint and step.checkpoint.startswith("train:"):
                ck = _checkpoint("shipped:tapfinger/" + step.base, root) or _checkpoint(
                    "shipped:tapfinger/synthetic-3", root
                )
            try:
                _, p, _ = _plan_sweep(step, sub, ck)
            except _Unavailable as exc:
                out.append(StepEstimate(step.id, step.title, 0, 0.0, f"not available: {exc}"))
                continue
            n_jobs = jobs or default_jobs(len(p.cells))
            cells, secs, how = sweep_estimate(p, n_jobs)
            out.append(StepEstimate(step.id, step.title, cells, secs, f"{how}, {n_jobs} job(s)"))
    return out


def _budget_s(text: str) -> float:
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    return float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
