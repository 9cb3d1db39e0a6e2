"""Device-setting simulator speed: wall seconds of one ``ecsrl-17k`` run (17,000 requests) per
dispatcher, best of three seeds, and the environment's steps per second.

Prints one JSON object: ``{"run_17k_s": {"round-robin": x, ..., "ecsrl": x},
"env_steps_per_s": x}``. About a minute.
"""

from __future__ import annotations

import json
import time

import numpy as np

from edgesched.dispatch.devices.env import ecsrl_env
from edgesched.dispatch.devices.scenario import load as load_devices
from edgesched.dispatch.devices.schedulers import BASELINES, make
from edgesched.dispatch.devices.simulator import DeviceSim
from edgesched.rl.ecsrl import shipped_checkpoint


def run_s(name: str) -> float:
    """Wall seconds of one 17,000-request run, best of three seeds."""
    world = load_devices("ecsrl-17k")
    best = float("inf")
    for seed in range(3):
        sched = make(name)
        start = time.perf_counter()
        DeviceSim(world, seed).run(sched)
        best = min(best, time.perf_counter() - start)
    return best


def env_steps_per_s(steps: int = 5000) -> float:
    """Environment steps per second with uniformly random allowed actions."""
    env = ecsrl_env()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(steps):
        allowed = np.flatnonzero(env.action_masks())
        env.step(int(rng.choice(allowed)))
    return steps / (time.perf_counter() - start)


def main() -> None:
    names = list(BASELINES) + (["ecsrl"] if shipped_checkpoint() is not None else [])
    out = {
        "run_17k_s": {n: round(run_s(n), 3) for n in names},
        "env_steps_per_s": round(env_steps_per_s()),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
