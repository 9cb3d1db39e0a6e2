"""End to end: a few seconds of training, checkpoints, resume, loading, determinism, commands."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from edgesched.cli import main
from edgesched.core.errors import ConfigError
from edgesched.placement.run import simulate
from edgesched.placement.scenario import with_overrides
from edgesched.rl.tapfinger.checkpoint import build_net, load_checkpoint, save_checkpoint
from edgesched.rl.tapfinger.mappo import TrainConfig, parse_budget, train
from edgesched.rl.tapfinger.network import ValueNorm
from edgesched.rl.tapfinger.scheduler import TapFingerScheduler

TINY = TrainConfig(
    scenario="synthetic-3",
    tasks=12,
    num_envs=2,
    rollout=8,
    epochs=1,
    minibatches=2,
    hidden=16,
    heads=2,
    layers=1,
    steps=32,
    eval_every=1,
    eval_seeds=[900],
    checkpoint_every=1,
)


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "progress.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train")
    return train(TINY, out, progress_bar=False)


def test_training_writes_checkpoint_and_log(trained: Path) -> None:
    """Two updates of 16 rounds: a weights-only checkpoint and two CSV rows."""
    ckpt = torch.load(trained, weights_only=True)
    assert ckpt["progress"]["update"] == 2 and ckpt["progress"]["steps"] == 32
    rows = _rows(trained.parent)
    assert [r["update"] for r in rows] == ["1", "2"]
    assert float(rows[-1]["eval_jct"]) >= 1.0


def test_resume_continues_the_run(trained: Path, tmp_path: Path) -> None:
    """Resuming restores the counters and appends to the same log."""
    out = tmp_path / "resumed"
    out.mkdir()
    (out / "progress.csv").write_text((trained.parent / "progress.csv").read_text())
    path = train(dataclasses.replace(TINY, steps=64), out, resume=trained, progress_bar=False)
    assert load_checkpoint(path)["progress"]["update"] == 4
    assert [r["update"] for r in _rows(out)] == ["1", "2", "3", "4"]


def test_same_seed_same_weights(trained: Path, tmp_path: Path) -> None:
    """Training is a pure function of its config and seed."""
    again = train(TINY, tmp_path, progress_bar=False)
    a, b = load_checkpoint(trained)["model"], load_checkpoint(again)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_loaded_checkpoint_decides_like_the_saved_network(trained: Path, tmp_path: Path) -> None:
    """A network saved and loaded back takes the same decisions in the same world."""
    net, _ = build_net(load_checkpoint(trained))
    with torch.no_grad():
        for p in net.parameters():  # move away from the trained weights
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path / "saved.pt"
    save_checkpoint(path, net, ValueNorm(), TINY, None, {"update": 0}, None, None)
    sc, _ = with_overrides("synthetic-3", tasks=12)
    original = TapFingerScheduler.from_contents(
        {
            "net_config": net.cfg.to_dict(),
            "model": net.state_dict(),
            "value_norm": ValueNorm().state_dict(),
        }
    )
    a = simulate(sc, original, seed=7, record=False)
    b = simulate(sc, TapFingerScheduler(path), seed=7, record=False)
    assert a.tasks == b.tasks


def test_evaluation_is_deterministic(trained: Path) -> None:
    """The same checkpoint and seed give the same run, sampling included."""
    sc, _ = with_overrides("synthetic-3", tasks=12)
    a = simulate(sc, TapFingerScheduler(trained), seed=3, record=False)
    b = simulate(sc, TapFingerScheduler(trained), seed=3, record=False)
    assert a.tasks == b.tasks


def test_checkpoint_is_checked_against_the_scenario(trained: Path) -> None:
    """A checkpoint for a (16, 16) grid refuses a (16, 8)-grid scenario."""
    sc, _ = with_overrides("testbed-3", tasks=5)
    with pytest.raises(ConfigError, match="grid"):
        TapFingerScheduler(trained).check(sc)


def test_budget_parsing() -> None:
    """Budgets read as seconds, minutes or hours."""
    assert parse_budget("2m") == 120.0
    with pytest.raises(ConfigError):
        parse_budget("soon")


def test_train_and_evaluate_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`edgesched train tapfinger` writes a checkpoint that `edgesched evaluate` runs."""
    out = tmp_path / "run"
    assert main(["train", "tapfinger", "synthetic-3", "--steps", "16", "--out", str(out)]) == 0
    ckpt = out / "checkpoint.pt"
    record = json.loads((out / "training.json").read_text())
    assert ckpt.is_file() and record["agent"] == "tapfinger" and record["progress"]["steps"] >= 16
    capsys.readouterr()  # the training's own output
    assert (
        main(
            [
                "evaluate",
                "tapfinger",
                "synthetic-3",
                "--checkpoint",
                str(ckpt),
                "--seeds",
                "1",
                "--jobs",
                "1",
                "--no-progress",
                "--out",
                str(tmp_path / "eval"),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert any(line.startswith("tapfinger ") for line in table.splitlines())
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert list(summary["schedulers"]) == ["tapfinger"]
    assert summary["checkpoint"] == str(ckpt)
    assert 0 < summary["schedulers"]["tapfinger"]["mean_jct"] < float("inf")
    assert (
        main(
            [
                "train",
                "tapfinger",
                "synthetic-3",
                "--variant",
                "nope",
                "--out",
                str(tmp_path / "bad"),
            ]
        )
        == 2
    )


def test_shipped_checkpoints_load() -> None:
    """synthetic-3, hetero-6 and testbed-3 each ship their own warm-started network, which
    loads, fits the preset, decides greedily and has a model card naming its training."""
    from edgesched.placement.scenario import load_scenario
    from edgesched.rl.tapfinger.scheduler import shipped_checkpoint

    for name in ("synthetic-3", "hetero-6", "testbed-3"):
        path = shipped_checkpoint(name)
        assert path is not None and path.name == f"{name}.pt"
        assert path.stat().st_size < 5_000_000
        card = (path.parent / f"{name}.md").read_text()
        assert "--warm-start optimus-np" in card
        contents = load_checkpoint(path)
        assert contents["train_config"]["scenario"] == name
        assert contents["train_config"]["warm_start"] == "optimus-np"
        sched = TapFingerScheduler(path)
        sched.check(load_scenario(name)[0])
        assert sched.greedy
    assert shipped_checkpoint("synthetic-6") is None
