"""The live runtime's subcommands: ``serve``, ``profile``, ``loadtest``, ``live-vs-sim``.

:func:`register` adds them to the ``edgesched`` command (``edgesched.cli`` calls it with its
``command`` decorator); ``python -m edgesched.live SUBCOMMAND`` runs them on their own. Every
handler validates its input before starting anything; bad input raises
:class:`~edgesched.core.errors.ConfigError` (one paragraph, exit status 2).
"""

from __future__ import annotations

import argparse
import json
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


def make_scheduler(name: str, checkpoint: Path | None) -> Any:
    """A device-setting scheduler by name from its world's registry (ConfigError if
    unknown); ``checkpoint`` goes to a learned one."""
    from edgesched.dispatch.devices.schedulers import make, names

    if name not in names():
        raise ConfigError(
            f"--scheduler {name!r}: unknown device-setting scheduler; known: {', '.join(names())}."
        )
    if checkpoint is not None:
        if not checkpoint.is_file():
            raise ConfigError(f"--checkpoint {checkpoint}: no such file.")
        return make(name, checkpoint=checkpoint)
    return make(name)


# ----------------------------------------------------------------------------- serve


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scenario",
        help="a device-setting preset (live-host, ecsrl-17k) or a "
        "scenario YAML file with `setting: devices`",
    )
    p.add_argument(
        "--scheduler",
        default="fastest-expected",
        help="the scheduler that decides every request: a baseline or ecsrl "
        "(default: fastest-expected)",
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
    from edgesched.live.app import bind, run_server
    from edgesched.live.runtime import LiveRuntime
    from edgesched.live.scenarios import load_world

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: expected 0..65535.")
    world = load_world(args.scenario, profile=args.profile)
    scheduler = make_scheduler(args.scheduler, args.checkpoint)
    if hasattr(scheduler, "check_world"):
        scheduler.check_world(world)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise ConfigError(f"--host {args.host} --port {args.port}: cannot listen: {exc}.") from None
    runtime = LiveRuntime(world, scheduler, _options(args))

    def announce(addr: tuple[Any, ...]) -> None:
        host, port = addr[0], addr[1]
        print(
            f"edgesched live: {world.name} with {args.scheduler} on http://{host}:{port}/ "
            f"({world.n_machines} workers; status page at /, metrics at /metrics)",
            flush=True,
        )
        if args.port_file is not None:
            args.port_file.write_text(str(port), encoding="utf-8")

    run_server(runtime, sock, announce=announce, drain_s=args.drain)
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


del json
