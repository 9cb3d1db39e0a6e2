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
    budget: str | None = None  # wall-time budget such as 30m (tapfinger)
    resume: Path | None = None  # a checkpoint to continue from (tapfinger)
    variant: str | None = None  # network variant (tapfinger)


@dataclass
class TrainResult:
    out_dir: Path
    info: dict[str, Any]


Trainer = Callable[[str | None, TrainOptions], TrainResult]

#: Trainers by agent name.
TRAINERS: Registry[TrainResult] = Registry("trainable agent")


def _train_dispatch_agent(
    agent: str, name: str, validate: Any, default_steps: int, fit: Any, options: TrainOptions
) -> TrainResult:
    """Validate the scenario and options, then train into a staged run folder."""
    for flag, value in (
        ("--budget", options.budget),
        ("--resume", options.resume),
        ("--variant", options.variant),
    ):
        if value is not None:
            raise ConfigError(
                f"{flag} applies to tapfinger; {agent} trains for a number of --steps "
                "(nothing was written)."
            )
    validate(name)  # before anything is written
    steps = options.steps if options.steps is not None else default_steps
    if steps < 1:
        raise ConfigError(f"--steps {steps}: expected a whole number >= 1.")
    if options.seed < 0:
        raise ConfigError(f"--seed {options.seed}: expected a whole number >= 0.")
    out_dir = options.out or Path("runs") / f"train-{agent}__{Path(name).stem}__{timestamp()}"
    with staged_output(out_dir) as staging:
        info = fit(name, steps=steps, out=staging, seed=options.seed, log=options.log)
    return TrainResult(out_dir=out_dir, info=info)


@TRAINERS.register("aset", description="ASET policy selector (PPO) on a dispatch scenario")
def _train_aset(scenario: str | None, options: TrainOptions) -> TrainResult:
    from edgesched.dispatch.scenario import DEFAULT_SCENARIO, load
    from edgesched.rl.aset import DEFAULT_STEPS, train_aset

    name = scenario or DEFAULT_SCENARIO
    return _train_dispatch_agent("aset", name, load, DEFAULT_STEPS, train_aset, options)


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
    from edgesched.rl.ecsrl import DEFAULT_STEPS, train_ecsrl

    name = scenario or DEFAULT_SCENARIO
    return _train_dispatch_agent("ecsrl", name, load_devices, DEFAULT_STEPS, train_ecsrl, options)


@TRAINERS.register(
    "tapfinger", description="TapFinger (HAN + pointer, multi-agent PPO) on a placement scenario"
)
def _train_tapfinger(scenario: str | None, options: TrainOptions) -> TrainResult:
    """Train TapFinger (``--budget``, default 30 minutes, or ``--steps`` decision rounds).

    Unlike the other trainers, the output folder receives checkpoints while training goes,
    so that an interrupted run can be continued with ``--resume``; with ``--resume`` and no
    ``--out`` the run continues in the checkpoint's folder.
    """
    import dataclasses
    import json
    import time

    from edgesched.experiments.output import check_output_dir, run_metadata
    from edgesched.placement.scenario import load_scenario
    from edgesched.rl.mappo import TrainConfig, load_checkpoint, parse_budget, train
    from edgesched.rl.network import VARIANTS

    name = scenario or "synthetic-3"
    sc, _ = load_scenario(name)
    steps, resume, variant = options.steps, options.resume, options.variant
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps {steps}: expected a whole number >= 1.")
    if options.seed < 0:
        raise ConfigError(f"--seed {options.seed}: expected a whole number >= 0.")
    budget_s = parse_budget(options.budget) if options.budget is not None else None
    if steps is None and budget_s is None:
        budget_s = 30 * 60.0
    if resume is not None and not resume.is_file():
        raise ConfigError(f"--resume {resume}: no such file.")
    cfg = TrainConfig(scenario=name, seed=options.seed, steps=steps, budget_s=budget_s)
    if resume is not None:
        saved = load_checkpoint(resume)["train_config"]
        known = {f.name for f in dataclasses.fields(cfg)}
        cfg = dataclasses.replace(
            TrainConfig(**{k: v for k, v in saved.items() if k in known}),
            steps=steps,
            budget_s=budget_s,
        )
        if variant is not None and variant != cfg.variant:
            raise ConfigError(f"--variant {variant}: {resume} holds a {cfg.variant!r} network.")
        if Path(name).stem != Path(cfg.scenario).stem:
            raise ConfigError(f"{name}: {resume} was trained on {cfg.scenario!r}.")
    elif variant is not None:
        if variant not in VARIANTS:
            raise ConfigError(f"--variant {variant}: expected one of {', '.join(VARIANTS)}.")
        cfg.variant = variant
    out = options.out
    if out is None:
        out = (
            resume.parent
            if resume is not None
            else Path("runs") / f"train-tapfinger__{sc.name}__{cfg.variant}__{timestamp()}"
        )
    if resume is None or out.resolve() != resume.parent.resolve():
        check_output_dir(out)
    options.log(f"training tapfinger ({cfg.variant}) on {sc.name} into {out}/")
    start = time.perf_counter()
    path = train(cfg, out, resume=resume)
    info = {
        "agent": "tapfinger",
        "scenario": sc.name,
        "variant": cfg.variant,
        "checkpoint": str(path),
        "wall_s": round(time.perf_counter() - start, 1),
        "progress": load_checkpoint(path)["progress"],
        "config": dataclasses.asdict(cfg),
        **run_metadata(),
    }
    (out / "training.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    return TrainResult(out_dir=out, info=info)
