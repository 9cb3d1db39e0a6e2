"""`edgesched train AGENT SCENARIO`: every learned agent of :data:`edgesched.rl.LEARNED`.

The scenario and options are validated before any work; the agent's trainer writes its
checkpoint and curves, and this module alone writes ``training.json`` (the trainer's record
plus the run's metadata). Agents that train for a number of steps write into a staged folder
that appears only when complete; TapFinger writes checkpoints while it trains, so that an
interrupted run can go on with ``--resume`` (with ``--resume`` and no ``--out``, in the
checkpoint's folder).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesched.core.errors import ConfigError
from edgesched.experiments.output import check_output_dir, run_metadata, staged_output, timestamp
from edgesched.rl import agent as learned_agent


@dataclass(frozen=True)
class TrainOptions:
    """Options of `edgesched train` (None: the trainer's default).

    ``fields`` are the agent's own options (for TapFinger, :class:`TrainConfig` fields).
    """

    steps: int | None = None
    seed: int = 0
    out: Path | None = None
    log: Callable[[str], Any] = print
    budget: str | None = None
    resume: Path | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    out_dir: Path
    info: dict[str, Any]


def _validate_scenario(world: str, scenario: str) -> None:
    """Load the scenario of a world (a ConfigError before anything is written)."""
    from edgesched.experiments.worlds import backend_of_world

    backend_of_world(world).validate_scenario(scenario)


def train(agent: str, scenario: str | None, options: TrainOptions) -> TrainResult:
    """Train ``agent`` on ``scenario`` (None: the agent's default scenario).

    Raises:
        ConfigError: unknown agent, bad scenario or options (nothing is written).
    """
    spec = learned_agent(agent)
    name = scenario or spec.default_scenario
    resumable = spec.options is not None
    if not resumable:
        for flag, value in (("--budget", options.budget), ("--resume", options.resume)):
            if value is not None:
                raise ConfigError(
                    f"{flag} applies to tapfinger; {agent} trains for a number of --steps "
                    "(nothing was written)."
                )
        if options.fields:
            raise ConfigError(
                f"{agent}: no option {', '.join(options.fields)} (nothing was written)."
            )
    if options.steps is not None and options.steps < 1:
        raise ConfigError(f"--steps {options.steps}: expected a whole number >= 1.")
    if options.seed < 0:
        raise ConfigError(f"--seed {options.seed}: expected a whole number >= 0.")
    _validate_scenario(spec.world, name)
    default_out = Path("runs") / f"train-{agent}__{Path(name).stem}__{timestamp()}"
    kwargs: dict[str, Any] = {"seed": options.seed, "steps": options.steps, "log": options.log}
    if not resumable:
        out_dir = options.out or default_out
        with staged_output(out_dir) as staging:
            info = spec.train(name, out=staging, **kwargs)
            _write_record(staging, info)
        return TrainResult(out_dir=out_dir, info=info)
    resume = options.resume
    out = options.out or (resume.parent if resume is not None else default_out)
    if resume is None or out.resolve() != resume.parent.resolve():
        check_output_dir(out)
    info = spec.train(
        name, out=out, budget=options.budget, resume=resume, **kwargs, **options.fields
    )
    _write_record(out, info)
    return TrainResult(out_dir=out, info=info)


def _write_record(out: Path, info: dict[str, Any]) -> None:
    record = {**info, **run_metadata()}
    (out / "training.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
