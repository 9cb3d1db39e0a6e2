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
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesched.core.errors import ConfigError
from edgesched.experiments.output import (
    MAX_SEED,
    claim_output,
    run_metadata,
    staged_output,
    timestamp,
)
from edgesched.rl import agent as learned_agent

#: The most environment steps one training run takes.
MAX_STEPS = 10**10

#: The file a resumable trainer keeps its latest checkpoint in.
CHECKPOINT = "checkpoint.pt"


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
    #: ``"ray"``: rollout workers as Ray actors (:mod:`edgesched.rl.ray_vec`; TapFinger's:
    #: :mod:`edgesched.rl.tapfinger.ray_worlds`).
    executor: str = "local"
    workers: int | None = None
    address: str | None = None


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
    if options.steps is not None and not 1 <= options.steps <= MAX_STEPS:
        raise ConfigError(
            f"--steps {options.steps}: expected a whole number from 1 to {MAX_STEPS}."
        )
    if not 0 <= options.seed <= MAX_SEED:
        raise ConfigError(f"--seed {options.seed}: expected a whole number from 0 to {MAX_SEED}.")
    rollouts = _rollouts(options)
    _validate_scenario(spec.world, name)
    default_out = Path("runs") / f"train-{agent}__{Path(name).stem}__{timestamp()}"
    kwargs: dict[str, Any] = {"seed": options.seed, "steps": options.steps, "log": options.log}
    if not resumable:
        out_dir = options.out or default_out
        with staged_output(out_dir) as staging:
            info = spec.train(name, out=staging, **kwargs, **rollouts)
            _write_record(staging, info)
        return TrainResult(out_dir=out_dir, info=info)
    resume = options.resume
    if resume is not None and resume.is_dir():  # the --out of an earlier (interrupted) run
        resume = resume / CHECKPOINT
        if not resume.is_file():
            raise ConfigError(f"--resume {options.resume}: no {CHECKPOINT} in this folder.")
    out = options.out or (resume.parent if resume is not None else default_out)
    own = resume is not None and out.resolve() == resume.parent.resolve()
    with claim_output(out, reuse=own):
        existed = out.exists()
        try:
            info = spec.train(
                name,
                out=out,
                budget=options.budget,
                resume=resume,
                **kwargs,
                **rollouts,
                **options.fields,
            )
            _write_record(out, info)
        except BaseException as exc:
            _after_failure(out, own=own, existed=existed, exc=exc, agent=agent)
            raise
    return TrainResult(out_dir=out, info=info)


def _rollouts(options: TrainOptions) -> dict[str, Any]:
    """The trainer's executor options (none for the local default); a ConfigError for a
    combination that does not apply (the worker count is checked by the trainer)."""
    if options.executor not in ("local", "ray"):
        raise ConfigError(f"--executor {options.executor!r}: expected local or ray.")
    if options.executor == "local":
        for flag, value in (("--workers", options.workers), ("--address", options.address)):
            if value is not None:
                raise ConfigError(f"{flag} applies to --executor ray (nothing was written).")
        return {}
    from edgesched.rl.ray_vec import import_ray

    import_ray()  # not installed: a ConfigError naming the extra, before anything is written
    return {"executor": "ray", "workers": options.workers, "address": options.address}


def _after_failure(out: Path, *, own: bool, existed: bool, exc: BaseException, agent: str) -> None:
    """A run that wrote no checkpoint leaves nothing; one that did says how to go on."""
    if own:
        return
    if (out / CHECKPOINT).is_file():
        if isinstance(exc, KeyboardInterrupt):
            print(
                f"edgesched: training stopped; go on with `edgesched train {agent} --resume {out}`",
                file=sys.stderr,
            )
        return
    if existed:  # an empty folder the user made: empty it again
        for child in out.iterdir() if out.is_dir() else ():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    else:  # its parents, if made for it, go with the claim
        shutil.rmtree(out, ignore_errors=True)


def _write_record(out: Path, info: dict[str, Any]) -> None:
    record = {**info, **run_metadata()}
    (out / "training.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
