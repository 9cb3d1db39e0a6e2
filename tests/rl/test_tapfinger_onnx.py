"""The ONNX Runtime actor equals the fused PyTorch one (one export of the shipped
checkpoint, into a temporary cache)."""

from __future__ import annotations

import pytest
import torch

from edgesched.rl.tapfinger.checkpoint import build_net, load_checkpoint
from edgesched.rl.tapfinger.fast import FastActor
from edgesched.rl.tapfinger.scheduler import TapFingerScheduler, shipped_checkpoint
from tests.rl.test_tapfinger_fast import TOL, _episode, _graphs

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def onnx_setup(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("EDGESCHED_TAPFINGER_CACHE", str(tmp_path_factory.mktemp("onnx-cache")))
    from edgesched.rl.tapfinger.onnx_actor import OnnxActor, cache_dir

    path = shipped_checkpoint("synthetic-3")
    assert path is not None
    ckpt = load_checkpoint(path)
    net, _ = build_net(ckpt)
    actor = OnnxActor(net)  # exports once into the temporary cache
    assert actor.path.parent == cache_dir() and actor.path.is_file()
    yield ckpt, net, actor
    mp.undo()


def test_onnx_outputs_equal_fused(onnx_setup) -> None:
    """Task logits, slot embeddings and context agree within the stated tolerance, with and
    without running tasks, at sizes other than the traced ones."""
    _, net, actor = onnx_setup
    fast = FastActor(net)
    _lay, graphs = _graphs("synthetic-3", 5, 12)
    assert any(len(g.running) == 0 for g in graphs) and any(len(g.running) for g in graphs)
    for g in graphs:
        with torch.no_grad():
            for mine, theirs in zip(actor.forward(g), fast.forward(g), strict=True):
                torch.testing.assert_close(mine, theirs, **TOL)


def test_onnx_episode_identical_to_reference(onnx_setup) -> None:
    """The shipped checkpoint gives the same episode through ONNX Runtime as through the
    reference network (the export is found in the cache, not redone)."""
    ckpt, _, actor = onnx_setup
    mtime = actor.path.stat().st_mtime_ns
    onnx = _episode(TapFingerScheduler.from_contents(ckpt, onnx=True), "synthetic-6", 1002)
    ref = _episode(TapFingerScheduler.from_contents(ckpt, fast=False), "synthetic-6", 1002)
    assert onnx.tasks == ref.tasks
    assert (onnx.rounds, onnx.conflicts) == (ref.rounds, ref.conflicts)
    assert actor.path.stat().st_mtime_ns == mtime
