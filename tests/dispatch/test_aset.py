"""ASET: training through the command line, the learned scheduler, the shipped checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgesched.cli import main
from edgesched.core.errors import ConfigError
from edgesched.dispatch.streams.env import obs_size
from edgesched.dispatch.streams.scenario import load
from edgesched.dispatch.streams.schedulers import STATIC_NAMES
from edgesched.dispatch.streams.simulator import StreamSim
from edgesched.rl.aset import AsetScheduler, checkpoint_dir, shipped_checkpoint


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint from 64 training steps through `edgesched train aset`."""
    out = tmp_path_factory.mktemp("train") / "aset"
    code = main(["train", "aset", "aset-full-edge", "--steps", "64", "--out", str(out)])
    assert code == 0
    return out / "aset.zip"


def test_train_writes_checkpoint_and_record(tiny_checkpoint: Path) -> None:
    """Training leaves aset.zip and training.json with its command's settings."""
    info = json.loads((tiny_checkpoint.parent / "training.json").read_text())
    assert info["agent"] == "aset" and info["scenario"] == "aset-full-edge"
    assert info["steps"] == 64 and info["seed"] == 0
    assert info["policies"] == STATIC_NAMES
    assert tiny_checkpoint.stat().st_size < 5 * 1024 * 1024
    curves = (tiny_checkpoint.parent / "logs" / "progress.csv").read_text()
    assert "train/mean_window_success" in curves.splitlines()[0]


def test_aset_scheduler_picks_a_policy_every_window(tiny_checkpoint: Path) -> None:
    """The learned scheduler runs a simulation and records one valid choice per window."""
    world = load("aset-full-edge", duration_s=30)
    result = StreamSim(world, 0).run(AsetScheduler(checkpoint=tiny_checkpoint))
    assert result.choices.shape == (6,)
    assert np.all((result.choices >= 0) & (result.choices < len(STATIC_NAMES)))
    assert result.queries > 0


def test_checkpoint_of_another_shape_is_refused(tiny_checkpoint: Path) -> None:
    """A full-edge checkpoint does not fit the 5-cluster mixed layout."""
    with pytest.raises(ConfigError, match="observations of size"):
        AsetScheduler(checkpoint=tiny_checkpoint).check(load("aset-mixed"))


def test_compare_runs_aset_with_a_checkpoint(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """compare --checkpoint adds an aset row with its policy shares."""
    out = tmp_path / "run"
    code = main(
        [
            "compare",
            "aset-full-edge",
            "--duration",
            "20",
            "--seeds",
            "1",
            "--schedulers",
            "closest,aset",
            "--checkpoint",
            str(tiny_checkpoint),
            "--out",
            str(out),
            "--no-progress",
            "--jobs",
            "1",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    shares = summary["schedulers"]["aset"]["policy_share"]
    # the shares are the windows in which the checkpoint's policy picked each static policy
    world = load("aset-full-edge", duration_s=20)
    picks = StreamSim(world, 0).run(AsetScheduler(checkpoint=tiny_checkpoint)).choices
    expected = {STATIC_NAMES[i]: float(np.mean(picks == i)) for i in set(picks.tolist())}
    assert shares == pytest.approx(expected)
    assert summary["schedulers"]["aset"]["success_ratio"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nope"], "invalid choice: 'nope'"),
        (["train", "aset", "aset-full-edge", "--steps", "0"], "--steps 0"),
        (["train", "aset", "aset-nowhere"], "unknown streams scenario"),
    ],
)
def test_train_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Bad training input: status 2, a clear message, nothing written."""
    out = tmp_path / "ck"
    assert main([*args, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("preset", ["aset-full-edge", "aset-mixed", "aset-cloud", "live-streams"])
def test_shipped_checkpoint_and_model_card(preset: str) -> None:
    """A small checkpoint ships for each layout with its training command in the model card,
    is the one the scheduler takes for that preset, and fits the preset's observation."""
    path = shipped_checkpoint(preset)
    assert path is not None and path.stat().st_size < 5 * 1024 * 1024
    card = (checkpoint_dir() / "MODEL_CARD.md").read_text()
    assert f"edgesched train aset {preset} " in card
    sched = AsetScheduler(scenario=preset)
    assert sched.checkpoint == path
    sched.check(load(preset))
    assert sched.observation == "trends"
    assert shipped_checkpoint("aset-mixed-abundant") is None


def test_abundant_checkpoint_keeps_its_observation() -> None:
    """The first checkpoint ships for the abundant preset, reads the basic observation it
    was trained on, and is refused on the 20-cluster layout."""
    sched = AsetScheduler(scenario="aset-full-edge-abundant")
    assert sched.checkpoint.name == "aset-full-edge-abundant.zip"
    assert sched.observation == "basic"
    sched.check(load("aset-full-edge-abundant"))
    with pytest.raises(ConfigError, match="observations of size"):
        sched.check(load("aset-full-edge"))


def test_trained_checkpoint_records_its_observation(tiny_checkpoint: Path) -> None:
    """`edgesched train aset` writes the trends layout into the checkpoint and
    training.json (lambda 60 only), and the scheduler observes with it."""
    info = json.loads((tiny_checkpoint.parent / "training.json").read_text())
    assert info["observation"] == "trends" and info["train_lambdas"] == [60.0]
    sched = AsetScheduler(checkpoint=tiny_checkpoint)
    assert sched.observation == "trends"
    assert sched.model.observation_space.shape == (obs_size(load("aset-full-edge"), "trends"),)


def test_aset_runs_are_deterministic(tiny_checkpoint: Path) -> None:
    """A run is a pure function of (scenario, checkpoint, seed)."""
    world = load("aset-full-edge", duration_s=30, pattern="fast")
    runs = [StreamSim(world, 9).run(AsetScheduler(checkpoint=tiny_checkpoint)) for _ in "ab"]
    np.testing.assert_array_equal(runs[0].counts, runs[1].counts)
    np.testing.assert_array_equal(runs[0].choices, runs[1].choices)


def test_unreadable_checkpoint_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not a checkpoint is refused before anything runs."""
    bad = tmp_path / "bad.zip"
    bad.write_text("not a zip")
    out = tmp_path / "run"
    code = main(
        [
            "compare",
            "aset-full-edge",
            "--checkpoint",
            str(bad),
            "--seeds",
            "1",
            "--duration",
            "10",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 2
    assert "not a readable ASET checkpoint" in capsys.readouterr().err
    assert not out.exists()
