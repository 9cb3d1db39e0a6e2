"""`edgesched train AGENT SCENARIO`: the trainers of the learned schedulers, by agent name.

A trainer validates its scenario and options before any work, trains, and writes its
checkpoint and a ``training.json`` into the output folder, which appears only when complete.
More agents (``tapfinger``, ...) register here with :data:`TRAINERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesched.core.errors import ConfigError
from edgesched.core.registry import Registry
from edgesched.experiments.output import staged_output, timestamp


@dataclass(frozen=True)
class TrainOptions:
    """Options of `edgesched train` (None: the trainer's default)."""

    steps: int | None = None
    seed: int = 0
    out: Path | None = None
    log: Callable[[str], Any] = print


@dataclass
class TrainResult:
    out_dir: Path
    info: dict[str, Any]


Trainer = Callable[[str | None, TrainOptions], TrainResult]

#: Trainers by agent name.
TRAINERS: Registry[TrainResult] = Registry("trainable agent")


@TRAINERS.register("aset", description="ASET policy selector (PPO) on a dispatch scenario")
def _train_aset(scenario: str | None, options: TrainOptions) -> TrainResult:
    from edgesched.dispatch.aset import DEFAULT_STEPS, train_aset
    from edgesched.dispatch.scenario import DEFAULT_SCENARIO, load

    name = scenario or DEFAULT_SCENARIO
    load(name)  # validate before anything is written
    steps = options.steps if options.steps is not None else DEFAULT_STEPS
    if steps < 1:
        raise ConfigError(f"--steps {steps}: expected a whole number >= 1.")
    if options.seed < 0:
        raise ConfigError(f"--seed {options.seed}: expected a whole number >= 0.")
    stem = Path(name).stem
    out_dir = options.out or Path("runs") / f"train-aset__{stem}__{timestamp()}"
    with staged_output(out_dir) as staging:
        info = train_aset(name, steps=steps, out=staging, seed=options.seed, log=options.log)
    return TrainResult(out_dir=out_dir, info=info)


def train(agent: str, scenario: str | None, options: TrainOptions) -> TrainResult:
    """Train ``agent`` on ``scenario`` (None: the agent's default scenario).

    Raises:
        ConfigError: unknown agent, bad scenario or options (nothing is written).
    """
    return TRAINERS.factory(agent)(scenario, options)


@TRAINERS.register(
    "ecsrl", description="ECSRL dispatcher (MaskablePPO) on a device-setting dispatch scenario"
)
def _train_ecsrl(scenario: str | None, options: TrainOptions) -> TrainResult:
    from edgesched.dispatch.devices import DEFAULT_SCENARIO, load_devices
    from edgesched.dispatch.ecsrl import DEFAULT_STEPS, train_ecsrl

    name = scenario or DEFAULT_SCENARIO
    load_devices(name)  # validate before anything is written
    steps = options.steps if options.steps is not None else DEFAULT_STEPS
    if steps < 1:
        raise ConfigError(f"--steps {steps}: expected a whole number >= 1.")
    if options.seed < 0:
        raise ConfigError(f"--seed {options.seed}: expected a whole number >= 0.")
    stem = Path(name).stem
    out_dir = options.out or Path("runs") / f"train-ecsrl__{stem}__{timestamp()}"
    with staged_output(out_dir) as staging:
        info = train_ecsrl(name, steps=steps, out=staging, seed=options.seed, log=options.log)
    return TrainResult(out_dir=out_dir, info=info)
