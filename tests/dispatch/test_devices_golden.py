"""Golden runs of the device simulator: every baseline on ecsrl-17k-legacy (the preset before
the recalibration of issue 11, on the legacy tables) at the preset's rate and at about nine
times it, fixed seeds, numbers pinned (unchanged since before issue 11).

If a change of the world moves these numbers on purpose, say why in the commit and re-pin.
"""

from __future__ import annotations

import pytest

from edgesched.dispatch.devices.scenario import load
from edgesched.dispatch.devices.schedulers import make
from edgesched.dispatch.devices.simulator import DeviceSim

DURATION = {3400: 20, 30000: 6}  # seconds per run at each rate (requests per minute)

GOLDEN = {
    # (scheduler, rate, seed): ((successes, violations, rejections), energy J, summed delay ms)
    ("round-robin", 3400, 3): ((1133, 0, 0), 252.44757514569085, 38878.017957612086),
    ("least-loaded", 3400, 3): ((1133, 0, 0), 201.66675286856008, 35541.122687648414),
    ("random", 3400, 3): ((1133, 0, 0), 309.8367922522055, 43765.55795895825),
    ("fastest-expected", 3400, 3): ((1133, 0, 0), 173.63307844190786, 23470.792724137675),
    ("always-cloud", 3400, 3): ((78, 1055, 0), 732.9173664111613, 1710861.8831660948),
    ("energy-greedy", 3400, 3): ((1133, 0, 0), 173.57526520067995, 23486.442178654266),
    ("round-robin", 30000, 5): ((2006, 994, 0), 796.3157106199023, 7350401.606077251),
    ("least-loaded", 30000, 5): ((1423, 1577, 0), 1101.233897701159, 20747941.273284033),
    ("random", 30000, 5): ((1827, 1173, 0), 893.0810902928465, 10721811.980210928),
    ("fastest-expected", 30000, 5): ((2421, 579, 0), 496.15739371206655, 1874678.6526687809),
    ("always-cloud", 30000, 5): ((14, 2986, 0), 1966.6046366578585, 81217039.2549071),
    ("energy-greedy", 30000, 5): ((2421, 579, 0), 494.1554319778236, 1874244.7671210687),
}


@pytest.mark.parametrize(("scheduler", "rate", "seed"), sorted(GOLDEN))
def test_ecsrl17k_legacy_golden(scheduler: str, rate: int, seed: int) -> None:
    """Pinned outcome counts, attributed energy and summed delay of a device-setting run."""
    world = load("ecsrl-17k-legacy", rate_per_min=rate, duration_s=DURATION[rate])
    r = DeviceSim(world, seed).run(make(scheduler))
    counts, energy, delay = GOLDEN[(scheduler, rate, seed)]
    assert tuple(int((r.outcome == i).sum()) for i in range(3)) == counts
    assert float(r.energy_j.sum()) == pytest.approx(energy, rel=1e-9)
    assert float(r.delay_ms[r.served].sum()) == pytest.approx(delay, rel=1e-9)
