"""``edgesched k8s operator|submit|report``: the Kubernetes operator's commands.

:func:`register` adds the ``k8s`` command to ``edgesched`` (``edgesched.cli`` calls it with its
``command`` decorator). Nothing here imports kopf or the Kubernetes client until a command
runs, and a missing one is a one-paragraph error naming the extra to install.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from edgesched.core.errors import ConfigError

Configure = Callable[[argparse.ArgumentParser], None]
Handler = Callable[[argparse.Namespace], int]
CommandDecorator = Callable[[str, str, Configure], Callable[[Handler], Handler]]

DEFAULT_SCENARIO = "hetero-6"


def _need_libraries() -> None:
    missing = [m for m in ("kopf", "kubernetes") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"k8s: {', '.join(missing)} not installed; install the extra: "
            "pip install 'edgesched[k8s]'."
        )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--namespace",
        default="default",
        metavar="N",
        help="the namespace of the EdgeTasks and their pods (default: default)",
    )
    p.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="a kubeconfig file (default: the in-cluster configuration, else $KUBECONFIG or "
        "~/.kube/config)",
    )
    p.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        metavar="SCENARIO",
        help="the placement scenario whose rules apply (pending slots, mode, allocation grid, "
        "task types, timestep); its clusters are replaced by the nodes labelled "
        f"edgesched.io/cluster (default: {DEFAULT_SCENARIO})",
    )


def _args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="k8s_command", metavar="SUBCOMMAND")
    op = sub.add_parser(
        "operator",
        help="run the operator: place pending EdgeTasks with a placement scheduler",
        description="Every decision round, turn the API's state into the placement world's, "
        "ask the scheduler, and start the placed EdgeTasks as pods on their cluster's nodes.",
    )
    op.add_argument(
        "--scheduler",
        required=True,
        metavar="NAME",
        help="a registered non-elastic placement scheduler (optimus-np, tiresias-np, min, "
        "random, sjf-oracle, tetris, tapfinger with --checkpoint)",
    )
    op.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        help="the learned scheduler's checkpoint (default: the one shipped for the scenario)",
    )
    op.add_argument(
        "--round-seconds",
        type=float,
        metavar="S",
        help="seconds per decision round, one world timestep (default: the scenario's "
        "timestep_seconds)",
    )
    op.add_argument(
        "--seed", type=int, default=0, metavar="N", help="the run's random streams (default 0)"
    )
    op.add_argument(
        "--simulated",
        action="store_true",
        help="simulated time: rounds follow a logical clock acknowledged by the simulated "
        "kubelet (tests, benchmarks), EdgeTasks arrive at spec.arrivalTimestep",
    )
    op.add_argument(
        "--exit-when-done",
        action="store_true",
        help="simulated time: stop once every EdgeTask has ended",
    )
    op.add_argument(
        "--liveness",
        metavar="URL",
        help="serve kopf's liveness probe here, e.g. http://0.0.0.0:8080/healthz (default: none)",
    )
    op.add_argument("--verbose", action="store_true", help="log every round")
    _common(op)
    sb = sub.add_parser(
        "submit",
        help="create EdgeTasks from a placement trace at its arrival times",
        description="Create one EdgeTask per trace row (columns arrival_s, duration_s, cpus, "
        "gpus, optional type, name), at the row's arrival time after the first, with the "
        "eligible clusters `edgesched compare --trace` draws for the same seed.",
    )
    sb.add_argument("trace", type=Path, help="the trace CSV")
    sb.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="the seed whose eligible clusters the tasks get (default 0)",
    )
    sb.add_argument(
        "--image",
        default="busybox:1.36",
        metavar="IMAGE",
        help="the tasks' container image; each sleeps for its duration (default busybox:1.36)",
    )
    sb.add_argument(
        "--clusters",
        metavar="A,B,...",
        help="the names of the scenario's clusters in order (default cluster-0, cluster-1, ...)",
    )
    sb.add_argument(
        "--prefix", default="task", metavar="P", help="EdgeTask names P-00000, ... (default task)"
    )
    sb.add_argument(
        "--simulated",
        action="store_true",
        help="create every EdgeTask at once with its arrival timestep (for --simulated "
        "operators) instead of waiting for its arrival time",
    )
    sb.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _common(sb)
    rp = sub.add_parser(
        "report",
        help="the JCT table of the ended EdgeTasks, as `edgesched compare` prints it",
        description="Read the EdgeTasks' statuses and print mean, median and p95 JCT (in "
        "timesteps), makespan, utilisation and the lower bound, as `edgesched compare` does.",
    )
    _common(rp)


def _api(args: argparse.Namespace, agent: str) -> object:
    from edgesched.integrations.kubernetes.api import Api

    return Api.connect(args.kubeconfig, agent=agent)


def register(command: CommandDecorator) -> None:
    """Add ``edgesched k8s`` to the command line."""

    @command("k8s", "the Kubernetes operator: run it, submit a trace, report JCTs", _args)
    def _k8s(args: argparse.Namespace) -> int:
        if args.k8s_command is None:
            raise ConfigError("k8s: name a subcommand: operator, submit or report.")
        _need_libraries()
        from edgesched.placement.scenario import load_scenario

        scenario, source = load_scenario(args.scenario)
        if args.k8s_command == "operator":
            return _operator(args, scenario)
        if args.k8s_command == "submit":
            return _submit(args, scenario)
        from edgesched.integrations.kubernetes.submit import report

        api = _api(args, "edgesched-report")
        print(report(api, args.namespace, scenario, source))  # type: ignore[arg-type]
        return 0


def _operator(args: argparse.Namespace, scenario: object) -> int:
    from edgesched.integrations.kubernetes.operator import OperatorOptions, run

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    checkpoint = args.checkpoint
    if checkpoint is None:
        from edgesched.placement.schedulers import SCHEDULERS

        if SCHEDULERS.tags(args.scheduler).get("checkpoint"):
            from edgesched.rl import agent

            shipped = agent(args.scheduler).shipped(getattr(scenario, "name", ""))
            if shipped is None:
                raise ConfigError(
                    f"--scheduler {args.scheduler}: no checkpoint is shipped for "
                    f"{getattr(scenario, 'name', '')}; give --checkpoint."
                )
            checkpoint = shipped
    from edgesched.integrations.kubernetes.operator import build_scheduler

    build_scheduler(OperatorOptions(args.scheduler, checkpoint), scenario)  # type: ignore[arg-type]
    options = OperatorOptions(
        scheduler=args.scheduler,
        checkpoint=checkpoint,
        scenario=args.scenario,
        namespace=args.namespace,
        seed=args.seed,
        round_seconds=args.round_seconds,
        simulated=args.simulated,
        exit_when_done=args.exit_when_done,
        kubeconfig=args.kubeconfig,
        liveness=args.liveness,
    )
    return run(options)


def _submit(args: argparse.Namespace, scenario: object) -> int:
    from edgesched.integrations.kubernetes.submit import submit, trace_submissions
    from edgesched.placement.workload import read_trace

    trace = read_trace(args.trace, scenario)  # type: ignore[arg-type]
    clusters = [c.strip() for c in args.clusters.split(",")] if args.clusters else None
    items = trace_submissions(
        scenario,  # type: ignore[arg-type]
        args.seed,
        trace,
        image=args.image,
        simulated=args.simulated,
        prefix=args.prefix,
        clusters=clusters,
        namespace=args.namespace,
    )
    api = _api(args, "edgesched-submit")
    n = submit(
        api,  # type: ignore[arg-type]
        args.namespace,
        items,
        wait=not args.simulated,
        progress=not args.no_progress,
    )
    print(f"{n} EdgeTasks submitted to namespace {args.namespace}")
    return 0
