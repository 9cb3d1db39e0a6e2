"""The live runtime's subcommands: ``serve``, ``profile``, ``loadtest``, ``live-vs-sim``.

:func:`register` adds them to the ``edgesched`` command (``edgesched.cli`` calls it with its
``command`` decorator); ``python -m edgesched.live SUBCOMMAND`` runs them on their own. Every
handler validates its input before starting anything; bad input raises
:class:`~edgesched.core.errors.ConfigError` (one paragraph, exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgesched.core.errors import ConfigError

Configure = Callable[[argparse.ArgumentParser], None]
Handler = Callable[[argparse.Namespace], int]
CommandDecorator = Callable[[str, str, Configure], Callable[[Handler], Handler]]


def _positive(kind: type, what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            x = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}: expected a number, got {text!r}") from None
        if x <= 0:
            raise argparse.ArgumentTypeError(f"{what}: expected a number > 0, got {text!r}")
        return x

    return parse


def _runtime_args(p: argparse.ArgumentParser) -> None:
    """The options shared by `serve` and `live-vs-sim`: how the live world runs."""
    p.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="a profile from `edgesched profile`: its processing times and "
        "slow-down coefficients replace those of the device classes it measured",
    )
    p.add_argument(
        "--tiny",
        action="store_true",
        help="tiny test-sized models (small inputs and widths) instead of the real "
        "architectures at real input sizes",
    )
    p.add_argument(
        "--noop-models",
        action="store_true",
        help="every variant runs a no-op model (measures the gateway itself)",
    )
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin edge device k's worker to core k mod cores",
    )
    p.add_argument(
        "--no-network-emulation",
        action="store_true",
        help="skip the scenario's emulated LAN/WAN delays (the schedulers still "
        "see them in their estimates)",
    )
    p.add_argument(
        "--no-admission",
        action="store_true",
        help="do not reject at once the requests no device is expected to serve "
        "within their deadline",
    )
    p.add_argument(
        "--late-rule",
        choices=["answer", "drop"],
        default="answer",
        help="a request waiting in the cloud queue past its deadline: answer it "
        "late when it finishes (default), or drop it then (answered late)",
    )
    p.add_argument(
        "--max-inflight",
        type=_positive(int, "--max-inflight"),
        default=1024,
        metavar="N",
        help="requests in the gateway at once; more are rejected (default: 1024)",
    )
    p.add_argument("--seed", type=int, default=0, help="the scheduler's random stream (default: 0)")
    p.add_argument(
        "--duration",
        type=_positive(float, "--duration"),
        metavar="S",
        help="the scenario's duration in seconds (the request count follows at its rate; "
        "ECSRL's observation reads the elapsed fraction of it)",
    )
    p.add_argument(
        "--lambda",
        dest="lam",
        type=_positive(float, "--lambda"),
        metavar="X",
        help="the scenario's requests per minute (default: the scenario's)",
    )


def _options(args: argparse.Namespace) -> Any:
    from edgesched.live.runtime import LiveOptions

    return LiveOptions(
        tiny=args.tiny,
        pin=not args.no_pin,
        emulate_network=not args.no_network_emulation,
        admission=not args.no_admission,
        late_rule=args.late_rule,
        max_inflight=args.max_inflight,
        seed=args.seed,
        noop=args.noop_models,
    )


# ----------------------------------------------------------------------------- serve


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scenario",
        help="a device-setting preset (live-host, ecsrl-17k) or a "
        "scenario YAML file with `setting: devices`; or a streams preset (live-streams) or file",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        help="the scheduler that decides every request: a device-setting baseline or ecsrl "
        "(default: fastest-expected); for a streams scenario a static policy or aset, which "
        "picks the policy per window (default: fastest)",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        help="a learned scheduler's checkpoint (ecsrl: a MaskablePPO .zip trained "
        "on this scenario)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=8000,
        help="port to listen on; 0 picks a free one (default: 8000)",
    )
    p.add_argument(
        "--port-file",
        type=Path,
        metavar="FILE",
        help="write the port listened on into FILE once the gateway is ready",
    )
    p.add_argument(
        "--drain",
        type=_positive(float, "--drain"),
        default=30.0,
        metavar="S",
        help="on SIGTERM, seconds to let requests in flight finish (default: 30)",
    )
    _runtime_args(p)


def _serve(args: argparse.Namespace) -> int:
    from edgesched.experiments.worlds import resolve
    from edgesched.live.app import bind, run_server

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: expected 0..65535.")
    world_name = resolve(str(args.scenario)).world
    if world_name == "streams":
        return _serve_streams(args)
    if world_name != "devices":
        raise ConfigError(
            f"{args.scenario}: a {world_name} scenario; the live runtime serves the devices "
            "and streams settings."
        )
    from edgesched.live.runtime import LiveRuntime
    from edgesched.live.scenarios import load_world

    world = load_world(
        args.scenario, profile=args.profile, rate_per_min=args.lam, duration_s=args.duration
    )
    from edgesched.live.scenarios import make_scheduler

    args.scheduler = args.scheduler or "fastest-expected"
    scheduler = make_scheduler(args.scheduler, args.checkpoint)
    if hasattr(scheduler, "check_world"):
        scheduler.check_world(world)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise ConfigError(f"--host {args.host} --port {args.port}: cannot listen: {exc}.") from None
    runtime = LiveRuntime(world, scheduler, _options(args))
    run_server(
        runtime,
        sock,
        announce=_announcer(args, world.name, world.n_machines),
        drain_s=args.drain,
    )
    return 0


def _announcer(args: argparse.Namespace, name: str, workers: int) -> Callable[..., None]:
    def announce(addr: tuple[Any, ...]) -> None:
        host, port = addr[0], addr[1]
        print(
            f"edgesched live: {name} with {args.scheduler} on http://{host}:{port}/ "
            f"({workers} workers; metrics at /metrics)",
            flush=True,
        )
        if args.port_file is not None:
            args.port_file.write_text(str(port), encoding="utf-8")

    return announce


def _serve_streams(args: argparse.Namespace) -> int:
    """`serve` of a streams scenario: a static policy or ASET routes the streams."""
    from edgesched.live.app import bind, run_server
    from edgesched.live.streams import StreamRuntime, create_streams_app, make_stream_scheduler

    if args.profile is not None:
        raise ConfigError(
            "--profile applies to device-setting scenarios; a streams scenario takes its "
            "processing times from its data section (data.processing)."
        )
    if args.lam is not None and not 0 <= args.lam <= 10_000:
        raise ConfigError(f"--lambda {args.lam}: expected clients per minute in [0, 10000].")
    from edgesched.dispatch.streams.scenario import load

    world = load(args.scenario, lam=args.lam, duration_s=args.duration)
    args.scheduler = args.scheduler or "fastest"
    scheduler = make_stream_scheduler(args.scheduler, args.checkpoint, world)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise ConfigError(f"--host {args.host} --port {args.port}: cannot listen: {exc}.") from None
    runtime = StreamRuntime(world, scheduler, _options(args))
    run_server(
        runtime,
        sock,
        announce=_announcer(args, world.name, world.n_acc),
        drain_s=args.drain,
        app=create_streams_app(runtime, manage=False),
    )
    return 0


# ----------------------------------------------------------------------------- profile


def _profile_args(p: argparse.ArgumentParser) -> None:
    from edgesched.live.profiler import CLASSES

    p.add_argument(
        "--variants",
        nargs="+",
        metavar="V",
        help="the model variants to measure (default: live-host's resnet18 "
        "resnet50 ssd_mobilenet_v2 yolov5n)",
    )
    p.add_argument(
        "--classes",
        nargs="+",
        metavar="C",
        default=list(CLASSES),
        help="the device classes to measure: host-core (a worker pinned to one "
        "core) and host-cloud (a worker on every core) (default: both)",
    )
    p.add_argument(
        "--max-concurrency",
        type=int,
        default=3,
        metavar="K",
        help="measure with 1..K co-running workloads (default: 3)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=10,
        metavar="N",
        help="timed runs per measurement; the median counts (default: 10)",
    )
    p.add_argument("--tiny", action="store_true", help="tiny test-sized models")
    p.add_argument(
        "--host-overhead",
        metavar="SCENARIO",
        help="also measure the serving host's own costs on SCENARIO (e.g. live-host): served "
        "live with the no-op model at its rate, the gateway's and load generator's time and "
        "CPU per request, which the simulator adds (the profile's host_overhead)",
    )
    p.add_argument(
        "--host-seconds",
        type=_positive(float, "--host-seconds"),
        default=20.0,
        metavar="S",
        help="seconds of requests for --host-overhead (default: 20)",
    )
    p.add_argument(
        "--host-lambda",
        type=_positive(float, "--host-lambda"),
        metavar="X",
        help="requests per minute for --host-overhead (default: the scenario's)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("profile.yaml"),
        metavar="FILE",
        help="the profile to write; its tables and heat map go beside it (default: profile.yaml)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _profile(args: argparse.Namespace) -> int:
    from edgesched.live import profiler

    variants = args.variants or profiler.default_variants()
    if args.out.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"--out {args.out}: expected a .yaml file name.")
    prof = profiler.measure(
        variants,
        classes=args.classes,
        max_concurrency=args.max_concurrency,
        repeats=args.repeats,
        tiny=args.tiny,
        progress=not args.no_progress,
    )
    if args.host_overhead is not None:
        prof["host_overhead"] = profiler.measure_host(
            args.host_overhead,
            seconds=args.host_seconds,
            rate_per_min=args.host_lambda,
            progress=not args.no_progress,
        )
        h = prof["host_overhead"]
        print(
            f"host ({h['scenario']}, {h['requests']} requests): {h['request_ms']:.2f} ms a "
            f"request (p99 {h['request_ms_p99']:.2f}), {h['cpu_ms_per_request']:.3f} ms CPU a "
            f"request over {h['cores']} cores"
        )
    paths = profiler.write(args.out, prof)
    for cls, dev in prof["devices"].items():
        times = ", ".join(f"{v} {row[cls]:.2f} ms" for v, row in prof["processing_ms"].items())
        print(f"{cls}: {times}; slow-down coefficient {dev['degradation']:.3f}")
    print("wrote " + ", ".join(str(x) for x in paths))
    return 0


# ----------------------------------------------------------------------------- loadtest


def _loadtest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="the gateway, e.g. http://127.0.0.1:8000")
    p.add_argument(
        "--rate",
        type=_positive(float, "--rate"),
        metavar="R",
        help="Poisson arrivals per second (default: the scenario's rate)",
    )
    p.add_argument(
        "--duration",
        type=_positive(float, "--duration"),
        metavar="S",
        help="seconds to send for (default: the scenario's; with --arrivals: the whole trace)",
    )
    p.add_argument(
        "--mix",
        metavar="TASK=SHARE,...",
        help="task shares, e.g. classification=0.7,detection=0.3 (default: the scenario's)",
    )
    p.add_argument(
        "--arrivals",
        type=Path,
        metavar="CSV",
        help="replay arrival times: a `timestamp_s` column (seconds from the "
        "start, one row per request) or `second,count` rows",
    )
    p.add_argument("--seed", type=int, default=0, help="the draws' seed (default: 0)")
    p.add_argument(
        "--connections",
        type=_positive(int, "--connections"),
        default=512,
        metavar="N",
        help="HTTP connections at most (default: 512)",
    )
    p.add_argument(
        "--timeout",
        type=_positive(float, "--timeout"),
        metavar="S",
        help="seconds to wait for an answer before counting the request failed "
        "(default: 5 x the longest deadline, at least 30)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where records.csv, summary.json and delay.png go "
        "(default: runs/loadtest__{timestamp}/)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _loadtest(args: argparse.Namespace) -> int:
    import time

    from edgesched.live import loadgen

    arrivals = loadgen.read_arrivals(args.arrivals) if args.arrivals is not None else None
    if arrivals is not None and args.rate is not None:
        raise ConfigError("--rate and --arrivals: give one of them (the trace sets the times).")
    info = loadgen.fetch_scenario(args.url)
    mix = loadgen.parse_mix(args.mix, [t["task"] for t in info["tasks"]]) if args.mix else None
    rate = args.rate if args.rate is not None else info["rate_per_min"] / 60.0
    duration = (
        args.duration
        if args.duration is not None
        else (None if arrivals is not None else info["duration_s"])
    )
    planned = loadgen.plan(
        info, rate=rate, duration=duration, arrivals=arrivals, mix=mix, seed=args.seed
    )
    if not planned:
        raise ConfigError("nothing to send: the plan has no request (raise --rate or --duration).")
    out = args.out or Path("runs") / f"loadtest__{time.strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: the folder exists and is not empty.")
    run = loadgen.run(
        args.url,
        planned,
        info,
        progress=not args.no_progress,
        timeout_s=args.timeout,
        connections=args.connections,
        seed=args.seed,
    )
    summary = loadgen.summarize(run)
    loadgen.write(out, run, summary)
    o = summary["outcomes"]
    print(f"sent {summary['sent']}: " + ", ".join(f"{k} {v}" for k, v in o.items()))
    p = {k: summary[f"{k}_delay_ms"] for k in ("p50", "p95", "p99")}
    print(
        f"throughput rate {summary['throughput_rate']:.4f}; delay "
        + ", ".join(f"{k} {v:.1f} ms" if v is not None else f"{k} -" for k, v in p.items())
        + f"; energy per request {summary['energy_per_request_j']:.4f} J"
    )
    print(f"results written to {out}/")
    return 0


# ----------------------------------------------------------------------------- live-vs-sim


def _livesim_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scenario",
        nargs="?",
        default="live-host",
        help="a device-setting preset or file (default: live-host)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="the measured profile (`edgesched profile`), used on both sides",
    )
    p.add_argument(
        "--scheduler",
        default="fastest-expected",
        metavar="A,B,...",
        help="comma-separated schedulers (default: fastest-expected)",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        help="the ecsrl checkpoint (trained on this scenario)",
    )
    p.add_argument("--seed", type=int, default=0, help="the request sequence's seed")
    p.add_argument(
        "--duration",
        type=_positive(float, "--duration"),
        metavar="S",
        help="seconds of requests (default: the scenario's)",
    )
    p.add_argument(
        "--lambda",
        dest="lam",
        type=_positive(float, "--lambda"),
        metavar="X",
        help="requests per minute (default: the scenario's)",
    )
    p.add_argument("--tiny", action="store_true", help="tiny test-sized models on the live side")
    p.add_argument("--no-pin", action="store_true", help="do not pin the edge workers")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where report.json and report.txt go (default: "
        "runs/live-vs-sim__{scenario}__{timestamp}/)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _livesim(args: argparse.Namespace) -> int:
    import time

    from edgesched.dispatch.devices.schedulers import names
    from edgesched.live import livesim

    scheds = [s.strip() for s in args.scheduler.split(",") if s.strip()]
    for s in scheds:
        if s not in names():
            raise ConfigError(f"--scheduler {s!r}: unknown; known: {', '.join(names())}.")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise ConfigError(f"--checkpoint {args.checkpoint}: no such file.")
    extra = ["--seed", str(args.seed)]
    if args.tiny:
        extra.append("--tiny")
    if args.no_pin:
        extra.append("--no-pin")
    if args.duration is not None:
        extra += ["--duration", str(args.duration)]
    if args.lam is not None:
        extra += ["--lambda", str(args.lam)]
    report = livesim.compare(
        args.scenario,
        scheds,
        profile=args.profile,
        checkpoint=args.checkpoint,
        seed=args.seed,
        rate_per_min=args.lam,
        duration_s=args.duration,
        serve_args=extra,
        progress=not args.no_progress,
    )
    out = args.out or Path("runs") / (
        f"live-vs-sim__{report['scenario']}__{time.strftime('%Y%m%d-%H%M%S')}"
    )
    livesim.write(out, report)
    print(livesim.table(report))
    print(f"\nresults written to {out}/")
    return 0


# ----------------------------------------------------------------------------- registration


SUBCOMMANDS: list[tuple[str, str, Configure, Handler]] = [
    (
        "serve",
        "serve a scenario live: an HTTP gateway dispatching real inference requests "
        "with a scheduler to model workers",
        _serve_args,
        _serve,
    ),
    (
        "profile",
        "measure each model variant's latency on this host alone and co-located, as a "
        "profile the simulator loads",
        _profile_args,
        _profile,
    ),
    (
        "loadtest",
        "send open-loop inference requests to a live gateway and summarise the outcomes and delays",
        _loadtest_args,
        _loadtest,
    ),
    (
        "live-vs-sim",
        "run one request sequence in the simulator and live, side by side",
        _livesim_args,
        _livesim,
    ),
]


def register(command: CommandDecorator) -> None:
    """Add the live subcommands to ``edgesched`` through its ``command`` decorator."""
    for name, text, configure, handler in SUBCOMMANDS:
        command(name, text, configure)(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edgesched.live``: the live subcommands on their own."""
    parser = argparse.ArgumentParser(
        prog="python -m edgesched.live", description="edgesched's live runtime"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text, configure, handler in SUBCOMMANDS:
        p = sub.add_parser(name, help=text, description=text)
        configure(p)
        p.set_defaults(handler=handler)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
