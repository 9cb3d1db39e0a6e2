"""The `edgesched` command.

Every subcommand validates its input before doing any work; bad input ends with a
one-paragraph message on standard error and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from edgesched import __version__
from edgesched.core.errors import ConfigError, EdgeschedError

EXIT_USAGE = 2

Command = Callable[[argparse.Namespace], int]
_COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Command]] = []


def command(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]):
    """Register a subcommand: its name, one-line help, argument set-up and handler."""

    def add(fn: Command) -> Command:
        _COMMANDS.append((name, help, configure, fn))
        return fn

    return add


# ----------------------------------------------------------------------------- scenarios


def _scenarios_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--world",
        choices=["placement", "streams", "devices"],
        help="list one world only: placement (TapFinger's), streams (ASET's) or devices (ECSRL's)",
    )


@command(
    "scenarios",
    "list the shipped scenario presets with a one-line description each",
    _scenarios_args,
)
def _scenarios(args: argparse.Namespace) -> int:
    from edgesched.experiments.worlds import all_presets

    rows = [r for r in all_presets() if args.world in (None, r[0])]
    width = max(len(name) for _, name, _ in rows)
    for world, name, text in rows:
        print(f"{name:<{width}}  [{world}]  {text}")
    return 0


# ----------------------------------------------------------------------------- compare

#: The most worker processes a command starts.
MAX_JOBS = 256


def _check_jobs(jobs: int | None) -> None:
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise ConfigError(f"--jobs {jobs}: expected a whole number from 1 to {MAX_JOBS}.")


def _check_positive(flag: str, value: float | None) -> None:
    """A number option that must be finite and > 0 (its upper bound is the scenario's)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} {value}: expected a finite number > 0.")


def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scenario",
        nargs="?",
        default="synthetic-3",
        help="a preset name (see `edgesched scenarios`) or the path of a scenario YAML file "
        "(default: synthetic-3)",
    )
    p.add_argument(
        "--schedulers",
        metavar="A,B,...",
        help="comma-separated scheduler names (default: every scheduler of the scenario's world)",
    )
    p.add_argument(
        "--seeds",
        default="5",
        metavar="SEEDS",
        help="a count N (seeds 0..N-1), a range A-B, or a list a,b,c (default: 5)",
    )
    p.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="placement: replace the workload by a CSV trace with columns arrival_s, "
        "duration_s, cpus, gpus and optional type, name",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        help="a learned scheduler's checkpoint to use instead of the shipped one",
    )
    p.add_argument(
        "--lambda",
        dest="lam",
        type=float,
        metavar="X",
        help="dispatch: clients per minute per access point (default: the scenario's)",
    )
    p.add_argument(
        "--pattern",
        choices=["fast", "steady"],
        help="dispatch: a load pattern changing every 150 s instead of a constant lambda",
    )
    p.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="dispatch: simulated seconds per run (default: the scenario's)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        metavar="PROFILE.yaml",
        help="devices: a host profile (`edgesched profile --out`) replacing the processing "
        "times and slow-down of the device classes it measured",
    )
    p.add_argument(
        "--arrivals",
        type=Path,
        metavar="FILE",
        help="dispatch: a CSV arrival trace replacing the scenario's arrivals: a header with a "
        "timestamp_s column (one row per request, seconds from the start) or second,count "
        "rows (the format `edgesched loadtest --arrivals` reads); excludes --lambda, "
        "--pattern and --duration",
    )
    p.add_argument(
        "--records",
        choices=["parquet", "csv", "none"],
        help="devices: the per-request records: results.parquet (zstd, the default), "
        "results.csv (about 10 times larger), or none (the summary only)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="results folder, which must not exist or be empty "
        "(default: runs/{scenario}__{timestamp}/)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes (default: one per core; 1 runs in this process)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _executor_args(p)


def _executor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="where cells run: worker processes here (local, the default) or Ray tasks (ray: "
        "a local Ray cluster of --jobs CPUs, or the cluster at --address); same results",
    )
    p.add_argument(
        "--address",
        metavar="auto|HOST:PORT",
        help="ray: an existing Ray cluster to run on (default: start a local one for the run)",
    )


@command(
    "compare",
    "run every scheduler on a scenario over several seeds, print a table, "
    "write results, summary and plots",
    _compare_args,
)
def _compare(args: argparse.Namespace) -> int:
    from edgesched.experiments.backend import CompareOptions
    from edgesched.experiments.compare import compare
    from edgesched.experiments.output import parse_seeds

    seeds = parse_seeds(args.seeds)
    _check_jobs(args.jobs)
    _check_positive("--lambda", args.lam)
    _check_positive("--duration", args.duration)
    names = None
    if args.schedulers:
        names = [s.strip() for s in args.schedulers.split(",") if s.strip()]
        if not names:
            raise ConfigError("--schedulers: expected at least one scheduler name.")
    options = CompareOptions(
        trace=args.trace,
        checkpoint=args.checkpoint,
        lam=args.lam,
        pattern=args.pattern,
        duration=args.duration,
        profile=args.profile,
        arrivals=args.arrivals,
        records=args.records,
    )
    result = compare(
        args.scenario,
        schedulers=names,
        seeds=seeds,
        out=args.out,
        jobs=args.jobs,
        options=options,
        progress=False if args.no_progress else None,
        executor=args.executor,
        address=args.address,
    )
    print(result.table)
    print(f"\nresults written to {result.out_dir}/")
    return 0


# ----------------------------------------------------------------------------- train


def _train_args(p: argparse.ArgumentParser) -> None:
    from edgesched.rl import LEARNED, agent

    sub = p.add_subparsers(dest="agent", metavar="AGENT")
    for name in LEARNED.names():
        spec = agent(name)
        a = sub.add_parser(name, help=spec.description, description=spec.description)
        a.add_argument(
            "scenario",
            nargs="?",
            default=None,
            help=f"a preset name or a scenario YAML file (default: {spec.default_scenario})",
        )
        a.add_argument(
            "--steps",
            type=int,
            metavar="N",
            help="environment steps to train for"
            + (" (default: the --budget)" if spec.options else " (default: the agent's)"),
        )
        a.add_argument("--seed", type=int, default=0, metavar="N", help="training seed (default 0)")
        a.add_argument(
            "--out",
            type=Path,
            metavar="DIR",
            help="checkpoint folder, which must not exist or be empty "
            f"(default: runs/train-{name}__{{scenario}}__{{timestamp}}/)",
        )
        a.add_argument(
            "--executor",
            choices=["local", "ray"],
            default="local",
            help="where environments step: in this process (local, the default) or in Ray "
            "actors (ray); same checkpoint and curves",
        )
        a.add_argument("--workers", type=int, metavar="N", help="ray: rollout workers (default 1)")
        a.add_argument(
            "--address",
            metavar="auto|HOST:PORT",
            help="ray: an existing Ray cluster (default: start a local one for the run)",
        )
        if spec.options is not None:
            a.add_argument(
                "--budget",
                metavar="TIME",
                help="wall-time budget such as 90s, 30m or 1.5h (default 30m unless --steps)",
            )
            a.add_argument(
                "--resume", type=Path, metavar="PATH", help="continue training from this checkpoint"
            )
            _config_args(a, spec.options)


#: TrainConfig fields that have their own flags above (or are set from the positional).
_OWN_FLAGS = {"scenario", "seed", "steps", "budget_s"}


def _config_args(p: argparse.ArgumentParser, target: str) -> None:
    """One option per documented field of a training config dataclass."""
    import dataclasses

    from edgesched.core.registry import load_entry

    group = p.add_argument_group("training configuration (saved in every checkpoint)")
    for f in dataclasses.fields(load_entry(target)):
        if f.name in _OWN_FLAGS:
            continue
        default = f.default_factory() if callable(f.default_factory) else f.default
        kind = str(f.type)
        flag = "--" + f.name.replace("_", "-")
        text = f"{f.metadata.get('help', '')} (default: {default})"
        if kind.startswith("list"):
            group.add_argument(
                flag, dest=f"cfg_{f.name}", type=int, nargs="+", metavar="N", help=text
            )
        else:
            conv = int if kind.startswith("int") else float if kind.startswith("float") else str
            group.add_argument(
                flag, dest=f"cfg_{f.name}", type=conv, metavar=f.name.upper(), help=text
            )


@command("train", "train a learned scheduler on a scenario and write its checkpoint", _train_args)
def _train(args: argparse.Namespace) -> int:
    from edgesched.experiments.train import TrainOptions, train

    if args.agent is None:
        raise ConfigError("train: name the agent to train (tapfinger, aset or ecsrl).")
    fields = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_") and v is not None}
    result = train(
        args.agent,
        args.scenario,
        TrainOptions(
            steps=args.steps,
            seed=args.seed,
            out=args.out,
            budget=getattr(args, "budget", None),
            resume=getattr(args, "resume", None),
            fields=fields,
            executor=args.executor,
            workers=args.workers,
            address=args.address,
        ),
    )
    print(f"checkpoint written to {result.out_dir}/ ({result.info.get('wall_s')} s)")
    return 0


# ----------------------------------------------------------------------------- evaluate


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("agent", metavar="AGENT", help="the learned scheduler: tapfinger, aset or ecsrl")
    p.add_argument(
        "scenario", metavar="SCENARIO", help="a preset name or scenario YAML of its world"
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        help="the checkpoint to evaluate (default: the one shipped for the scenario)",
    )
    p.add_argument(
        "--seeds",
        default="1000-1019",
        metavar="SEEDS",
        help="a count N, a range A-B or a list a,b,c (default: 1000-1019, seeds "
        "training never uses)",
    )
    p.add_argument(
        "--baselines",
        action="store_true",
        help="also run every baseline of the scenario on the same seeds",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="results folder (default: runs/{scenario}__{timestamp}/)",
    )
    p.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: one per core)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


@command(
    "evaluate",
    "evaluate a learned scheduler's checkpoint on a scenario over unseen seeds",
    _evaluate_args,
)
def _evaluate(args: argparse.Namespace) -> int:
    from edgesched.experiments.backend import CompareOptions
    from edgesched.experiments.compare import compare
    from edgesched.experiments.output import parse_seeds
    from edgesched.experiments.worlds import resolve
    from edgesched.rl import agent

    spec = agent(args.agent)  # unknown agent: ConfigError listing the known ones
    world = resolve(args.scenario).world
    if world != spec.world:
        raise ConfigError(
            f"{args.scenario} is a {world} scenario; {args.agent} schedules {spec.world} scenarios."
        )
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise ConfigError(f"--checkpoint {args.checkpoint}: no such file.")
    _check_jobs(args.jobs)
    seeds = parse_seeds(args.seeds)
    names = None if args.baselines else [args.agent]
    result = compare(
        args.scenario,
        schedulers=names,
        seeds=seeds,
        out=args.out,
        jobs=args.jobs,
        options=CompareOptions(checkpoint=args.checkpoint),
        progress=False if args.no_progress else None,
    )
    print(result.table)
    print(f"\nresults written to {result.out_dir}/")
    return 0


# ----------------------------------------------------------------------------- sweep


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", type=Path, help="a sweep file (see docs/scale-out.md)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the sweep's folder: its cell cache, results.csv and plots; a rerun with the "
        "same folder runs only the missing cells (default: runs/sweep__{spec name}/)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the cell count and a time estimate"
    )
    p.add_argument("--jobs", type=int, metavar="N", help="worker processes or Ray CPUs")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _executor_args(p)


@command(
    "sweep",
    "run a grid of scenario variants x schedulers x seeds, cached per cell; one table, plots",
    _sweep_args,
)
def _sweep(args: argparse.Namespace) -> int:
    from edgesched.experiments.runner import default_jobs
    from edgesched.experiments.sweep import estimate, plan, run_sweep

    _check_jobs(args.jobs)
    out = args.out or Path("runs") / f"sweep__{args.spec.stem}"
    if args.dry_run:
        p = plan(args.spec, out)
        jobs = args.jobs or default_jobs(len(p.cells))
        todo, seconds, how = estimate(p, jobs)
        print(
            f"{len(p.cells)} cells ({todo} to run, {len(p.cells) - todo} cached); about "
            f"{seconds:.0f} s on {jobs} worker(s) ({how})"
        )
        return 0
    result = run_sweep(
        args.spec,
        out,
        executor=args.executor,
        address=args.address,
        jobs=args.jobs,
        progress=False if args.no_progress else None,
    )
    print(f"{result.ran} cell(s) run, {result.cached} cached; results in {result.out_dir}/")
    for cell, error in result.failed:
        print(f"failed: {cell.label()}: {error}", file=sys.stderr)
    return 1 if result.failed else 0


# ----------------------------------------------------------------------------- reproduce


def _reproduce_args(p: argparse.ArgumentParser) -> None:
    from edgesched.experiments.reproduce import PAPERS

    p.add_argument(
        "paper",
        choices=PAPERS.names(),
        help="the paper whose headline claims to reproduce: "
        + "; ".join(f"{n}, {PAPERS.description(n)}" for n in PAPERS.names()),
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="fewer seeds, shorter runs and short trainings: a few minutes on a laptop "
        "(default: the paper's seeds and sizes)",
    )
    size.add_argument(
        "--size",
        choices=["full", "quick", "smoke"],
        help="full (default), quick (= --quick) or smoke (one seed, the smallest runs: for tests)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="results folder; an interrupted run's folder is continued "
        "(default: runs/reproduce-{paper}-{size}__{timestamp}/)",
    )
    p.add_argument("--jobs", type=int, metavar="N", help="worker processes or Ray CPUs")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print each step with its cell count and a time estimate (one cell of each "
        "sweep timed now; trainings by their budget); nothing is written",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    _executor_args(p)


@command(
    "reproduce",
    "run every experiment behind a paper's headline claims; claims table with verdicts, "
    "figures, HTML report",
    _reproduce_args,
)
def _reproduce(args: argparse.Namespace) -> int:
    from edgesched.experiments.reproduce import claims_table
    from edgesched.experiments.reproduce.runner import reproduce

    _check_jobs(args.jobs)
    size = args.size or ("quick" if args.quick else "full")
    if args.dry_run:
        from edgesched.experiments.output import text_table
        from edgesched.experiments.reproduce.runner import estimate

        found = estimate(args.paper, size, args.jobs)
        rows = [[e.id, str(e.cells), f"{e.seconds:.0f}", e.how] for e in found]
        total = sum(e.seconds for e in found if e.seconds == e.seconds)
        print("\n".join(text_table(["step", "cells", "seconds", "how"], rows, (0, 3))))
        print(f"\nabout {total / 60:.1f} minutes in all (this machine, now)")
        return 0
    result = reproduce(
        args.paper,
        size=size,
        out=args.out,
        executor=args.executor,
        address=args.address,
        jobs=args.jobs,
        progress=False if args.no_progress else None,
    )
    print(claims_table(result.claims))
    print(f"\nclaims, figures and report.html written to {result.out_dir}/ ({result.wall_s:.0f} s)")
    return 0


# ----------------------------------------------------------------------------- report


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "folders",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="results folders of compare, sweep, reproduce or loadtest",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="the HTML file (default: RUN_DIR/report.html for one folder, report.html here "
        "for several)",
    )


@command(
    "report",
    "one self-contained HTML page (tables, figures, configuration, version) of results folders",
    _report_args,
)
def _report(args: argparse.Namespace) -> int:
    from edgesched.experiments.report import write_report

    out = args.out or (
        args.folders[0] / "report.html" if len(args.folders) == 1 else Path("report.html")
    )
    write_report(list(args.folders), out)
    print(f"report written to {out}")
    return 0


# ----------------------------------------------------------------------------- live runtime

from edgesched.live.cli import register as _register_live  # noqa: E402

_register_live(command)

from edgesched.integrations.kubernetes.cli import register as _register_k8s  # noqa: E402

_register_k8s(command)


# ----------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgesched",
        description="Learning-based scheduling of AI workloads on distributed edge clusters: "
        "simulate, compare, train and run schedulers.",
    )
    parser.add_argument("--version", action="version", version=f"edgesched {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an error, also print the Python traceback (for bug reports)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text, configure, fn in _COMMANDS:
        p = sub.add_parser(name, help=text, description=text)
        configure(p)
        p.add_argument(  # also after the command name: `edgesched compare --debug`
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="on an error, also print the Python traceback",
        )
        p.set_defaults(func=fn)
    return parser


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGINT, SIGTERM or SIGHUP) raised as an exception in the main thread,
    so that every ``finally`` runs: staged folders are removed, worker processes killed, a
    training run checkpointed. The command then exits with status 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: The signals that stop a command cleanly.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _StopHandler:
    """Raise :class:`Interrupted` on the first stop signal; later ones are noted and ignored,
    so that the clean-up the first one started can finish."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.armed = True

    def __call__(self, signum: int, frame: object) -> None:
        if self.received is not None:
            return
        self.received = signum
        if self.armed:
            raise Interrupted(signum)


def _failure(args: argparse.Namespace, exc: BaseException, debug: bool) -> int:
    """One paragraph on standard error for a failed command; its exit status."""
    command = args.command
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, ConfigError):
        print(f"edgesched: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, OSError):
        named = exc.filename or getattr(args, "out", None)
        where = f"{named}: " if named else ""
        why = exc.strerror or str(exc) or type(exc).__name__
        print(
            f"edgesched: error: {command}: {where}{why} (the output folder, if any, was not "
            "written).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if isinstance(exc, MemoryError):
        print(
            f"edgesched: error: {command}: ran out of memory; the input is too large for this "
            "machine (nothing was written).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        print("edgesched: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if isinstance(exc, EdgeschedError):
        print(f"edgesched: error: {exc}", file=sys.stderr)
        return 1
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    hint = "" if debug else " Re-run with `edgesched --debug ...` for the traceback."
    print(
        f"edgesched: internal error in `{command}`: {type(exc).__name__}"
        f"{': ' + text if text else ''}. This is a bug; please report it.{hint}",
        file=sys.stderr,
    )
    return 1


def _exit_now(status: int) -> None:
    """End the process at once: every clean-up ran in the ``finally`` blocks, and the
    interpreter's own teardown takes seconds once torch is loaded, which a stopped command
    should not spend."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: exit status 0 on success, 2 for bad input or an unusable output
    location, 1 for an internal error, 128 + N when stopped by signal N (SIGINT, SIGTERM,
    SIGHUP)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own usage errors (status 2) and --help (0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    stop = _StopHandler()
    previous = {}
    for sig in STOP_SIGNALS:
        try:
            previous[sig] = signal.signal(sig, stop)
        except ValueError:  # not the main thread (main() called from a thread)
            break
    try:
        try:
            status = int(args.func(args))
            stop.armed = False
        except BaseException as exc:
            stop.armed = False
            if stop.received is None:
                return _failure(args, exc, debug)
            if debug:
                traceback.print_exception(exc, file=sys.stderr)
        if stop.received is not None:
            name = signal.Signals(stop.received).name
            print(f"edgesched: stopped by {name}", file=sys.stderr)
            if argv is None:  # the program itself, not a call from Python
                _exit_now(128 + stop.received)
            return 128 + stop.received
        return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
