"""The parts every paper of `edgesched reproduce` shares: steps, records, claims, verdicts.

A paper (:class:`Paper`) lists the steps behind its headline claims for a size (``full``: the
paper's seeds and sizes; ``quick``: a few minutes here; ``smoke``: the test suite's), each an
:class:`Experiment` (one `edgesched sweep` of a preset over points, schedulers and seeds), a
:class:`Training` (one `edgesched train` run, whose checkpoint later experiments evaluate) or a
:class:`Measure` (a measurement written as JSON, such as decision latency). Schedulers, presets
and checkpoints are named, never imported: a name this version does not register is left out
of its step and reported, and every claim that needs it becomes a row "not available in this
version" with the reason.

Claims are computed from the recorded results alone (:class:`Records`, read from the output
folder), so a claims table and its figures can be made again from an old folder.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The sizes of `edgesched reproduce`.
SIZES = ("full", "quick", "smoke")

#: Verdicts of a claim row.
REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
ONLY_AUTHORS = "reproduced only against the authors' baselines"
UNAVAILABLE = "not available in this version"
NOT_CHECKED = "not checked"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, ONLY_AUTHORS, UNAVAILABLE, NOT_CHECKED)


@dataclass(frozen=True)
class Experiment:
    """One sweep: a preset over points (scenario field -> value), schedulers and seeds.

    Attributes:
        id: the step's folder under ``experiments/``.
        title: what it is, for the report.
        base: the preset name.
        schedulers: the schedulers wanted; those this version lacks are left out and recorded.
        seeds: the seeds.
        points: explicit sweep points; ``grid`` every combination of its values.
        checkpoint: the learned scheduler's checkpoint: a path, ``"train:ID"`` (the
            checkpoint of training step ID), ``"shipped:SCENARIO"`` (the one shipped for that
            preset) or None (the one shipped for ``base``, as `compare` finds it).
    """

    id: str
    title: str
    base: str
    schedulers: tuple[str, ...]
    seeds: tuple[int, ...]
    points: tuple[dict[str, Any], ...] = ()
    grid: dict[str, list[Any]] = field(default_factory=dict)
    checkpoint: str | None = None


@dataclass(frozen=True)
class Training:
    """One `edgesched train` run (its checkpoint is ``experiments/ID/checkpoint.pt`` or the
    agent's file)."""

    id: str
    title: str
    agent: str
    scenario: str
    seed: int = 0
    budget: str | None = None
    steps: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Measure:
    """A measurement: ``fn(out_dir, **args)`` (a ``"module:attr"``) writes ``measure.json``."""

    id: str
    title: str
    fn: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Compare:
    """One `edgesched compare` of a preset (for what only compare records, such as ASET's
    per-window series); ``lam``, ``pattern``, ``duration`` as its load options."""

    id: str
    title: str
    scenario: str
    schedulers: tuple[str, ...]
    seeds: tuple[int, ...]
    lam: float | None = None
    pattern: str | None = None
    duration: float | None = None


Step = Experiment | Training | Measure | Compare


@dataclass(frozen=True)
class Claim:
    """One row of the claims table."""

    id: str
    statement: str
    published: str
    source: str
    setting: str
    measured: str
    baselines: str
    verdict: str
    reason: str
    value: float | None = None
    spread: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "statement": self.statement,
            "published": self.published,
            "source": self.source,
            "setting": self.setting,
            "measured": self.measured,
            "value": _finite(self.value),
            "spread": _finite(self.spread),
            "baselines": self.baselines,
            "verdict": self.verdict,
            "reason": self.reason,
        }


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


@dataclass
class Paper:
    """A paper of `edgesched reproduce`: its steps, claims and figures.

    Attributes:
        name: ``tapfinger``, ``aset`` or ``ecsrl``.
        title: the paper's citation.
        steps: ``steps(size) -> list of steps``.
        claims: ``claims(records) -> list of Claim``, from recorded results only.
        figures: ``figures(records, folder) -> list of written files``.
    """

    name: str
    title: str
    steps: Callable[[str], list[Step]]
    claims: Callable[[Records], list[Claim]]
    figures: Callable[[Records, Path], list[Path]]


# ----------------------------------------------------------------------------- records


@dataclass
class StepRecord:
    """What a step left in its folder: ``experiment.json`` and, for a sweep, its rows."""

    id: str
    info: dict[str, Any]
    rows: list[dict[str, Any]]
    folder: Path

    @property
    def available(self) -> bool:
        return bool(self.info.get("status") == "complete")

    def why(self, scheduler: str | None = None) -> str:
        """Why the step, or one of its schedulers, has no results."""
        if not self.available:
            return str(self.info.get("reason") or "the step did not run")
        missing: dict[str, str] = self.info.get("unavailable", {})
        if scheduler is not None and scheduler in missing:
            return f"{scheduler}: {missing[scheduler]}"
        return f"{scheduler}: no results recorded"


class Records:
    """The recorded results of a `reproduce` folder (nothing is run).

    Raises:
        FileNotFoundError: a step's files are missing (checked by the caller first).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.manifest: dict[str, Any] = json.loads((folder / "reproduce.json").read_text())
        self.steps: dict[str, StepRecord] = {}
        for sid in self.manifest.get("steps", []):
            sub = folder / "experiments" / sid
            info = json.loads((sub / "experiment.json").read_text())
            rows: list[dict[str, Any]] = []
            if info.get("kind") == "sweep" and info.get("status") == "complete":
                with (sub / "results.csv").open(newline="") as f:
                    rows = [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(f)]
            elif info.get("kind") == "measure" and info.get("status") == "complete":
                info = {**info, "measure": json.loads((sub / "measure.json").read_text())}
            self.steps[sid] = StepRecord(sid, info, rows, sub)

    def step(self, sid: str) -> StepRecord:
        if sid not in self.steps:
            return StepRecord(
                sid, {"status": "absent", "reason": f"no step {sid}"}, [], self.folder
            )
        return self.steps[sid]

    def values(
        self, sid: str, scheduler: str, metric: str, where: dict[str, Any] | None = None
    ) -> dict[int, float]:
        """Per seed, the metric of ``scheduler`` in step ``sid`` at the point ``where``
        (field -> value; None: every row); empty when nothing was recorded."""
        out: dict[int, float] = {}
        for r in self.step(sid).rows:
            if r.get("scheduler") != scheduler:
                continue
            if where and not all(_same(r.get(k), v) for k, v in where.items()):
                continue
            v = r.get(metric)
            if isinstance(v, int | float) and math.isfinite(v):
                out[int(r["seed"])] = float(v)
        return out

    def schedulers(self, sid: str) -> list[str]:
        return list(dict.fromkeys(str(r["scheduler"]) for r in self.step(sid).rows))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b))
    return str(a) == str(b)


def _parse(text: str) -> Any:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


# ----------------------------------------------------------------------------- statistics


def mean_std(values: dict[int, float]) -> tuple[float, float]:
    xs = list(values.values())
    if not xs:
        return float("nan"), float("nan")
    return float(np.mean(xs)), float(np.std(xs))


def paired(a: dict[int, float], b: dict[int, float], fn: Callable[[float, float], float]) -> dict:
    """``fn(a[seed], b[seed])`` for the seeds both have."""
    return {s: fn(a[s], b[s]) for s in sorted(set(a) & set(b))}


def fmt_pct(x: float, digits: int = 1) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:+.{digits}f} %"


def reduction_claim(
    rec: Records,
    *,
    id: str,
    statement: str,
    published: str,
    published_reduction: float,
    source: str,
    sid: str,
    setting: str,
    ours: str,
    baseline_sets: dict[str, list[str]],
    metric: str = "mean_jct",
    kind: str = "point",
    where: dict[str, Any] | None = None,
) -> Claim:
    """A claim "``ours`` lowers ``metric`` by ``published_reduction`` against a baseline".

    ``baseline_sets`` maps a label (``textbook``, ``authors'``) to the baselines it compares
    against: the claim is judged against the best (lowest mean) of each set. ``kind`` ``point``
    (a published effect): reproduced when our reduction is at least half the published one;
    ``bound`` ("at least X"): reproduced when it reaches the bound. When the first set (the
    textbook one) fails and a later one (the authors') passes, the verdict says so.
    """
    step = rec.step(sid)
    base: dict[str, Any] = dict(
        id=id, statement=statement, published=published, source=source, setting=setting
    )
    mine = rec.values(sid, ours, metric, where)
    if not mine:
        return Claim(
            **base,
            measured="-",
            baselines=", ".join(n for ns in baseline_sets.values() for n in ns),
            verdict=UNAVAILABLE,
            reason=step.why(ours),
        )
    need = published_reduction * (0.5 if kind == "point" else 1.0)
    results: list[tuple[str, str, float, float, bool]] = []
    missing: list[str] = []
    for label, names in baseline_sets.items():
        got = {n: rec.values(sid, n, metric, where) for n in names}
        absent = [n for n, v in got.items() if not v]
        if absent:
            missing.append(f"{label} set: {'; '.join(step.why(n) for n in absent)}")
            continue
        best = min(got, key=lambda n: mean_std(got[n])[0])
        red = paired(mine, got[best], lambda a, b: 1.0 - a / b)
        m_ours, m_best = mean_std(mine)[0], mean_std(got[best])[0]
        value = 1.0 - m_ours / m_best
        results.append((label, best, value, mean_std(red)[1], value >= need))
    if not results:
        return Claim(
            **base,
            measured="-",
            baselines=", ".join(n for ns in baseline_sets.values() for n in ns),
            verdict=UNAVAILABLE,
            reason="; ".join(missing),
        )
    measured = "; ".join(
        f"{-v * 100:+.1f} % ± {sd * 100:.1f} vs {best} ({label})"
        for label, best, v, sd, _ in results
    )
    baselines = "; ".join(f"{label}: {', '.join(baseline_sets[label])}" for label, *_ in results)
    first = results[0]
    rule = (
        f"a reduction of at least {need * 100:.1f} % (half the published effect)"
        if kind == "point"
        else f"a reduction of at least {need * 100:.1f} % (the published bound)"
    )
    if first[4] and all(r[4] for r in results):
        verdict, reason = REPRODUCED, f"{rule} against every baseline set"
    elif first[4]:
        verdict = REPRODUCED
        reason = f"{rule} against the {first[0]} baselines; not against " + ", ".join(
            r[0] for r in results if not r[4]
        )
    elif any(r[4] for r in results[1:]):
        verdict, reason = ONLY_AUTHORS, f"{rule} only against the authors' baselines"
    else:
        verdict = NOT_REPRODUCED
        reason = f"{rule} needed; measured {', '.join(f'{-r[2] * 100:+.1f} %' for r in results)}"
    if missing:
        reason += "; " + "; ".join(missing)
    return Claim(
        **base,
        measured=measured,
        baselines=baselines,
        verdict=verdict,
        reason=reason,
        value=-first[2],
        spread=first[3],
    )


def unavailable(
    *, id: str, statement: str, published: str, source: str, setting: str, reason: str
) -> Claim:
    return Claim(
        id=id,
        statement=statement,
        published=published,
        source=source,
        setting=setting,
        measured="-",
        baselines="-",
        verdict=UNAVAILABLE,
        reason=reason,
    )
