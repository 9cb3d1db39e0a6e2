"""Fidelity and ranking: the simulator against the live runtime on live-host.

Runs ``live-vs-sim`` (same request sequence, simulated with the measured profile and served
live) for the given schedulers and prints one JSON line: per scheduler the simulated and live
throughput rate, p50/p99 delay and energy per request with their relative differences, whether
each meets the targets (rate and p50 within 15 %, p99 within 25 %), and the rankings by
throughput rate and energy per request with Kendall's tau.

    python benchmarks/live_fidelity.py --profile profile.yaml [--schedulers a,b,c]
        [--duration 30] [--checkpoint ecsrl.zip]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import yaml

from edgesched.live import livesim


def rel(sim: float | None, live: float | None) -> float | None:
    if sim is None or live is None or not live:
        return None
    return (sim - live) / abs(live)


def sim_without_host(args: argparse.Namespace, names: list[str]) -> dict[str, dict[str, float]]:
    """The simulator's metrics with the same profile less its host_overhead (the model
    before the host term), on the same requests."""
    from edgesched.core.rng import RandomStreams
    from edgesched.dispatch.devices.simulator import generate_requests
    from edgesched.live.scenarios import load_world

    prof = yaml.safe_load(args.profile.read_text())
    prof.pop("host_overhead", None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "profile.yaml"
        path.write_text(yaml.safe_dump(prof))
        world = load_world(
            "live-host", profile=path, rate_per_min=args.lam, duration_s=args.duration
        )
    requests = generate_requests(world, RandomStreams(args.seed))
    out = {}
    for n in names:
        ckpt = args.checkpoint if n == "ecsrl" else None
        out[n] = livesim.simulate(world, n, ckpt, args.seed, requests)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", type=Path, required=True)
    ap.add_argument("--schedulers", default="fastest-expected,least-loaded,round-robin")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lambda", dest="lam", type=float, help="requests per minute")
    args = ap.parse_args()
    names = args.schedulers.split(",")
    load_before = os.getloadavg()
    extra = ["--seed", str(args.seed), "--duration", str(args.duration)]
    if args.lam is not None:
        extra += ["--lambda", str(args.lam)]
    report = livesim.compare(
        "live-host",
        names,
        profile=args.profile,
        checkpoint=args.checkpoint,
        seed=args.seed,
        duration_s=args.duration,
        rate_per_min=args.lam,
        serve_args=extra,
        progress=False,
        log=lambda *_: None,
    )
    load_after = os.getloadavg()
    before_host = sim_without_host(args, names)
    rows = {}
    keys = ("throughput_rate", "p50_delay_ms", "p99_delay_ms", "energy_per_request_j")
    for name, row in report["schedulers"].items():
        sim, live = row["sim"], row["live"]
        d = {k: rel(sim.get(k), live.get(k)) for k in keys}
        rows[name] = {
            "sim": {k: sim.get(k) for k in d},
            "live": {k: live.get(k) for k in d},
            "live_outcomes": live["outcomes"],
            "live_parts_p50_ms": live.get("parts_p50_ms"),
            "live_cores_busy": live.get("cores_busy"),
            "rel_diff": d,
            "sim_without_host_term": {k: before_host[name].get(k) for k in keys},
            "rel_diff_without_host_term": {
                k: rel(before_host[name].get(k), live.get(k)) for k in keys
            },
            "meets": all(x is not None for x in d.values())
            and abs(d["throughput_rate"] or 0) <= 0.15
            and abs(d["p50_delay_ms"] or 0) <= 0.15
            and abs(d["p99_delay_ms"] or 0) <= 0.25,
        }
    print(
        json.dumps(
            {
                "benchmark": "live_fidelity",
                "requests": report["requests"],
                "duration_s": args.duration,
                "profile_host_overhead": yaml.safe_load(args.profile.read_text()).get(
                    "host_overhead"
                ),
                "load_average_before": load_before,
                "load_average_after": load_after,
                "schedulers": rows,
                "ranking": report["ranking"],
            }
        )
    )


if __name__ == "__main__":
    main()
