"""Rollout workers on Ray (`edgesched train ... --executor ray --workers N`): the checkpoint's
weights and the training curve are identical to the local executor's; bad combinations are
refused before anything is written."""

from __future__ import annotations

import csv
import math
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

ray = pytest.importorskip("ray")

from edgesched.core.errors import ConfigError  # noqa: E402
from edgesched.experiments.train import TrainOptions, train  # noqa: E402
from edgesched.rl import sb3  # noqa: E402
from edgesched.rl.ray_vec import shards  # noqa: E402

#: Columns of ``progress.csv`` that measure wall time (they differ between any two runs).
WALL = {"time/fps", "time/time_elapsed"}


@pytest.fixture(scope="module", autouse=True)
def cluster(ray_cluster: Any) -> Any:
    """The session's Ray cluster (the trainer finds it connected and leaves it running)."""
    return ray_cluster


def weights(path: Path) -> tuple[bytes, bytes]:
    with zipfile.ZipFile(path) as zf:
        return zf.read(sb3.WEIGHTS), zf.read(sb3.META)


def curve(out: Path) -> list[dict[str, str]]:
    """The rows of ``logs/progress.csv``, wall-time columns aside (the CSV's column order is
    not fixed between runs: Stable-Baselines3 orders new keys through a set)."""
    with (out / "logs" / "progress.csv").open() as f:
        rows = [{k: v for k, v in row.items() if k not in WALL} for row in csv.DictReader(f)]
    assert rows
    return rows


def test_shards_cover_every_environment_once() -> None:
    assert shards(4, 3) == [range(0, 2), range(2, 3), range(3, 4)]
    assert [i for part in shards(7, 2) for i in part] == list(range(7))


def test_aset_training_is_identical_on_ray(tmp_path: Path) -> None:
    """`edgesched train aset --steps 300` with 2 Ray rollout workers: the same policy.pth
    bytes, checkpoint metadata and curve as the local run."""
    quiet: dict[str, Any] = {"steps": 300, "seed": 3, "log": lambda _: None}
    local = train("aset", None, TrainOptions(out=tmp_path / "l", **quiet))
    remote = train(
        "aset", None, TrainOptions(out=tmp_path / "r", executor="ray", workers=2, **quiet)
    )
    assert weights(local.out_dir / "aset.zip") == weights(remote.out_dir / "aset.zip")
    assert curve(local.out_dir) == curve(remote.out_dir)
    assert remote.info["rollouts"] == {"executor": "ray", "workers": 2}
    assert "rollouts" not in local.info


def test_ecsrl_several_updates_identical_on_uneven_shards(tmp_path: Path) -> None:
    """MaskablePPO (action masks fetched from the actors) over 3 updates, 3 environments on
    2 workers (shards of 2 and 1): identical weights and curves, losses included."""
    from edgesched.dispatch.devices.env import EcsrlEnv
    from edgesched.dispatch.devices.scenario import DEFAULT_SCENARIO, load

    world = load(DEFAULT_SCENARIO)

    def run(out: Path, **rollouts: Any) -> Path:
        sb3.train(
            "ecsrl",
            "maskable-ppo",
            lambda: EcsrlEnv(world),
            steps=288,
            out=out,
            seed=5,
            n_envs=3,
            rollout=32,
            hyper={"n_epochs": 2, "policy_kwargs": {"net_arch": [16]}},
            info={},
            log=lambda _: None,
            **rollouts,
        )
        return out

    local = run(tmp_path / "l")
    remote = run(tmp_path / "r", executor="ray", workers=2)
    assert weights(local / "ecsrl.zip") == weights(remote / "ecsrl.zip")
    rows = curve(local)
    assert rows == curve(remote)
    assert len(rows) == 3 and any("train/loss" in r and r["train/loss"] for r in rows)


#: A TapFinger run of three updates on worlds of two tasks, whose episodes end every few
#: rounds, often several in the same round (so restarts and their seeds' order count).
TAPFINGER = {
    "tasks": 2,
    "num_envs": 3,
    "rollout": 16,
    "epochs": 1,
    "minibatches": 2,
    "hidden": 16,
    "heads": 2,
    "layers": 1,
    "eval_every": 1,
    "eval_seeds": [900],
    "checkpoint_every": 1,
}

TINY = str(Path(__file__).parents[1] / "data" / "tiny.yaml")

#: TapFinger's wall-time columns of ``progress.csv`` and ``progress`` entries.
TAPFINGER_WALL = {"wall_s", "steps_per_s"}


def tapfinger_run(out: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The checkpoint (its progress without wall time) and the curve (without wall time)."""
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    ckpt["progress"] = {k: v for k, v in ckpt["progress"].items() if k not in TAPFINGER_WALL}
    with (out / "progress.csv").open() as f:
        rows = [{k: v for k, v in r.items() if k not in TAPFINGER_WALL} for r in csv.DictReader(f)]
    return ckpt, rows


def same_tensors(a: Any, b: Any) -> bool:
    """Nested dicts/lists of tensors and plain values, equal exactly."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same_tensors(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_tensors(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return bool(a == b)


def test_tapfinger_training_is_identical_on_ray(tmp_path: Path) -> None:
    """`edgesched train tapfinger` with 3 worlds on 2 Ray workers (shards of 2 and 1), over
    three updates in which episodes end and worlds restart: the checkpoint (weights,
    optimizer, value normaliser, both generators, progress) and the curve (losses,
    evaluations, training JCTs) equal the local run's, wall time aside."""
    quiet: dict[str, Any] = {"steps": 144, "seed": 2, "log": lambda _: None}
    local = train("tapfinger", TINY, TrainOptions(out=tmp_path / "l", fields=TAPFINGER, **quiet))
    remote = train(
        "tapfinger",
        TINY,
        TrainOptions(out=tmp_path / "r", fields=TAPFINGER, executor="ray", workers=2, **quiet),
    )
    ckpt_l, rows_l = tapfinger_run(local.out_dir)
    ckpt_r, rows_r = tapfinger_run(remote.out_dir)
    assert ckpt_l.keys() == ckpt_r.keys() >= {"model", "optimizer", "np_rng", "torch_rng"}
    assert same_tensors(ckpt_l, ckpt_r)
    assert rows_l == rows_r and len(rows_l) == 3
    assert sum(int(r["episodes"]) for r in rows_l) > 0  # restarts were exercised
    assert remote.info["rollouts"] == {"executor": "ray", "workers": 2}
    assert "rollouts" not in local.info


@pytest.mark.parametrize(
    ("agent", "options", "match"),
    [
        ("aset", {"workers": 2}, "--workers applies to --executor ray"),
        ("aset", {"address": "auto"}, "--address applies to --executor ray"),
        ("aset", {"executor": "ray", "workers": 0}, r"--workers 0: .* from 1 to 4"),
        ("ecsrl", {"executor": "ray", "workers": 5}, r"--workers 5: .* from 1 to 4"),
        ("tapfinger", {"executor": "ray", "workers": 17}, r"--workers 17: .* from 1 to 16"),
        ("tapfinger", {"workers": 2}, "--workers applies to --executor ray"),
    ],
)
def test_bad_rollout_options_are_refused(
    tmp_path: Path, agent: str, options: dict[str, Any], match: str
) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=match):
        train(agent, None, TrainOptions(steps=10, out=out, log=lambda _: None, **options))
    assert not out.exists()
