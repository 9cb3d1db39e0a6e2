"""Speed of the placement world; prints one JSON object (see issue 2 for the targets).

    python benchmarks/placement_speed.py [--repeats N]

- episode_ms: median wall time of one synthetic-3 episode (workload drawn + simulated) per
  scheduler, over N seeds;
- timesteps_per_s: world timesteps per second under min on synthetic-3;
- scaling: one episode at 3..48 clusters of (16, 16) with 64 tasks per cluster and an
  arrival rate of 2/3 task per timestep per cluster (synthetic-3's load), under min;
- big_episode_s: one 48-cluster, 20,000-task episode under min.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

from edgesched.placement.scenario import PlacementScenario, load_scenario
from edgesched.placement.schedulers import make
from edgesched.placement.sim import PlacementSim
from edgesched.placement.workload import workload


def episode(scenario: PlacementScenario, scheduler: str, seed: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    specs = workload(scenario, seed)
    sim = PlacementSim(scenario, specs, seed, record=False)
    sim.run(make(scheduler))
    return time.perf_counter() - t0, sim.t - sim.first_t


def scaled(base: PlacementScenario, clusters: int, tasks: int) -> PlacementScenario:
    data = base.model_dump()
    data["name"] = f"scaled-{clusters}"
    data["clusters"] = [{"count": clusters, "capacity": [16, 16]}]
    data["workload"]["tasks"] = tasks
    data["workload"]["arrivals"] = {"rate": 2.0 / 3.0 * clusters}
    return PlacementScenario.model_validate(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="seeds per synthetic-3 timing")
    args = ap.parse_args()
    base, _ = load_scenario("synthetic-3")
    episode(base, "min", 10_000)  # warm caches and imports
    episode_ms = {}
    for name in ("min", "optimus", "tiresias"):
        times = [episode(base, name, seed)[0] for seed in range(args.repeats)]
        episode_ms[name] = round(statistics.median(times) * 1000, 3)
    steps = secs = 0.0
    for seed in range(args.repeats):
        dt, n = episode(base, "min", seed)
        secs += dt
        steps += n
    scaling = []
    for n in (3, 6, 12, 24, 48):
        dt, _ = episode(scaled(base, n, 64 * n), "min", 0)
        scaling.append({"clusters": n, "tasks": 64 * n, "seconds": round(dt, 4)})
    big_s, _ = episode(scaled(base, 48, 20_000), "min", 0)
    print(
        json.dumps(
            {
                "episode_ms": {"synthetic-3": episode_ms},
                "timesteps_per_s": round(steps / secs, 1),
                "scaling": scaling,
                "big_episode_s": round(big_s, 3),
                "machine": {"python": platform.python_version(), "processor": platform.machine()},
            }
        )
    )


if __name__ == "__main__":
    main()
