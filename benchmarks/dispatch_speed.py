"""Dispatch simulator speed: simulated queries per second and the wall time of a 600 s run.

Prints one JSON object: ``{"queries_per_s": {"closest": x, "fastest": x}, "run_600s_s": x}``
where ``queries_per_s`` is measured on ``aset-full-edge`` (or ``--scenario``) at lambda 100
(the best of three 120 s runs) and ``run_600s_s`` is one 600 s run at lambda 60 with
``closest``. Under a minute.
"""

from __future__ import annotations

import argparse
import json
import time

from edgesched.dispatch.streams.scenario import load
from edgesched.dispatch.streams.schedulers import make
from edgesched.dispatch.streams.simulator import StreamSim


def queries_per_s(
    policy: str, *, scenario: str = "aset-full-edge", lam: float = 100.0, duration_s: float = 120.0
) -> float:
    """Simulated queries per wall-clock second, best of three seeds."""
    world = load(scenario, lam=lam, duration_s=duration_s)
    best = 0.0
    for seed in range(3):
        start = time.perf_counter()
        result = StreamSim(world, seed).run(make(policy))
        best = max(best, result.queries / (time.perf_counter() - start))
    return best


def run_600s(scenario: str = "aset-full-edge") -> float:
    """Wall seconds of one 600 s run at lambda 60 with closest."""
    world = load(scenario, lam=60.0, duration_s=600.0)
    start = time.perf_counter()
    StreamSim(world, 0).run(make("closest"))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="aset-full-edge", help="streams preset or YAML")
    scenario = parser.parse_args().scenario
    out = {
        "scenario": scenario,
        "queries_per_s": {
            p: round(queries_per_s(p, scenario=scenario)) for p in ("closest", "fastest")
        },
        "run_600s_s": round(run_600s(scenario), 3),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
