"""TapFinger checkpoints: tensors and plain values only, written atomically and read with
``torch.load(..., weights_only=True)`` (no code is unpickled)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgesched.core.errors import ConfigError
from edgesched.rl.tapfinger.network import NetConfig, TapFingerNet, ValueNorm

CHECKPOINT_FORMAT = "edgesched-tapfinger-1"


def save_checkpoint(
    path: Path,
    net: TapFingerNet,
    vnorm: ValueNorm,
    cfg: Any,
    optimizer: torch.optim.Optimizer | None,
    progress: dict[str, Any],
    np_rng: np.random.Generator | None,
    gen: torch.Generator | None,
) -> None:
    """Write a checkpoint loadable with ``torch.load(..., weights_only=True)``."""
    ckpt: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "net_config": net.cfg.to_dict(),
        "train_config": dataclasses.asdict(cfg),
        "model": net.state_dict(),
        "value_norm": vnorm.state_dict(),
        "progress": progress,
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if np_rng is not None:
        ckpt["np_rng"] = np_rng.bit_generator.state
    if gen is not None:
        ckpt["torch_rng"] = gen.get_state()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents (tensors and plain values only; no code is unpickled)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path}: not a TapFinger checkpoint ({CHECKPOINT_FORMAT}).")
    return ckpt


def build_net(ckpt: dict[str, Any]) -> tuple[TapFingerNet, ValueNorm]:
    """The network and value normaliser of a checkpoint, weights loaded."""
    net = TapFingerNet(NetConfig(**ckpt["net_config"]))
    net.load_state_dict(ckpt["model"])
    vnorm = ValueNorm()
    vnorm.load_state_dict(ckpt["value_norm"])
    net.eval()
    return net, vnorm
