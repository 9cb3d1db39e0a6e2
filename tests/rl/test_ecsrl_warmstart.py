"""ECSRL's warm start: the teacher rule over the observation, and cloning it into the actor."""

from __future__ import annotations

import numpy as np
import pytest

from edgesched.dispatch.devices.env import PER_ACTION, EcsrlEnv, obs_size, observe
from edgesched.dispatch.devices.scenario import load
from edgesched.dispatch.devices.simulator import DeviceSim
from edgesched.rl.ecsrl import TEACHER_MARGIN, clone_teacher, teacher_action

T, A = 2, 5  # ecsrl-17k: two tasks; 4 edge devices and the cloud
CLOUD = A - 1


def obs_of(
    allowed: list[int], ratio: list[float], energy: list[float], late: list[float]
) -> np.ndarray:
    """An observation with the given per-action columns (the others zero)."""
    out = np.zeros(T + 2 + PER_ACTION * A + 2, dtype=np.float32)
    block = out[T + 2 : T + 2 + PER_ACTION * A].reshape(A, PER_ACTION)
    block[:, 0], block[:, 2], block[:, 3], block[:, 4] = allowed, ratio, energy, late
    return out


def test_teacher_takes_the_cheapest_edge_device_with_margin() -> None:
    """Among edge devices on time within the margin and turning no one late, the least
    energy; a cheaper one beyond the margin, or one turning another late, is passed over."""
    ratio = [0.5, TEACHER_MARGIN + 0.1, 0.3, 0.6, 0.2]
    energy = [3.0, 1.0, 0.5, 2.0, 0.1]
    late = [0, 0, 1, 0, 0]
    assert teacher_action(obs_of([1, 1, 1, 1, 1], ratio, energy, late), T, A) == 3


def test_teacher_falls_back_on_the_deadline_then_the_cloud() -> None:
    """No device within the margin: the cheapest on time at the edge; none at the edge: the
    cloud when it is on time."""
    ratio = [0.95, 0.9, 1.2, 1.5, 0.5]
    assert teacher_action(obs_of([1] * 5, ratio, [1, 2, 0, 0, 0], [0] * 5), T, A) == 0
    ratio = [1.1, 1.2, 1.3, 1.4, 0.5]
    assert teacher_action(obs_of([1] * 5, ratio, [1, 2, 0, 0, 0], [1] * 4 + [0]), T, A) == CLOUD


def test_teacher_keeps_late_requests_off_the_uplink() -> None:
    """A request late everywhere goes to the edge device turning the fewest others late (then
    the least energy), not to the cloud; with no edge device allowed, to the cloud."""
    ratio = [2.0, 2.0, 3.0, 1.5, 1.2]
    late = [2, 1, 1, 3, 1]
    energy = [0.1, 0.9, 0.4, 0.1, 0.0]
    assert teacher_action(obs_of([1] * 5, ratio, energy, late), T, A) == 2
    assert teacher_action(obs_of([0, 0, 0, 0, 1], ratio, energy, late), T, A) == CLOUD


def test_cloning_makes_the_actor_follow_the_teacher(tmp_path: object) -> None:
    """After cloning, the actor's most likely allowed action is the teacher's on most
    decisions of an unseen run, far more often than before."""
    pytest.importorskip("sb3_contrib")
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.manual_seed(0)
    world = load("ecsrl-17k", duration_s=6)
    venv = DummyVecEnv([lambda: EcsrlEnv(world) for _ in range(2)])
    venv.seed(0)
    model = MaskablePPO("MlpPolicy", venv, n_steps=64, seed=0, device="cpu", gamma=0.9)

    def agreement() -> float:
        sim = DeviceSim(world, seed=7)
        same = n = 0
        while (r := sim.next_request()) is not None:
            obs, _ = observe(sim, r)
            mask = sim.mask(r)
            want = teacher_action(obs, len(world.tasks), world.n_actions)
            got, _ = model.policy.predict(obs, action_masks=mask, deterministic=True)
            same += int(got) == want
            n += 1
            sim.dispatch(want)
        return same / n

    before = agreement()
    logged: list[str] = []
    record = clone_teacher(
        model,
        venv,
        n_tasks=len(world.tasks),
        steps_per_round=1400,
        epochs=40,
        log=logged.append,
    )
    after = agreement()
    assert obs_size(world) == model.observation_space.shape[0]
    assert record["rounds"] == 3 and len(logged) == 3
    assert after >= 0.85 and after > before + 0.1, (before, after)
