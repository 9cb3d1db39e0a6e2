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


#: Largest checkpoint file read (the shipped one is well under 1 MiB).
MAX_CHECKPOINT_BYTES = 256 * 2**20
_REQUIRED = {
    "net_config": dict,
    "train_config": dict,
    "model": dict,
    "value_norm": dict,
    "progress": dict,
}


#: Bounds on a checkpoint's network description (checked before any tensor is allocated).
NET_BOUNDS = {
    "cluster_dim": 10_000,
    "pending_dim": 10_000,
    "running_dim": 10_000,
    "hidden": 4096,
    "heads": 64,
    "layers": 16,
}


def _check_net_config(path: Path, net: dict[str, Any]) -> None:
    for key, hi in NET_BOUNDS.items():
        value = net.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
            raise ConfigError(f"{path}: field net_config.{key} {value!r}: expected 1..{hi}.")
    grid = net.get("grid", [16, 16])
    if (
        not isinstance(grid, list)
        or not 1 <= len(grid) <= 16
        or not all(isinstance(a, int) and not isinstance(a, bool) and 1 <= a <= 1024 for a in grid)
    ):
        raise ConfigError(
            f"{path}: field net_config.grid {grid!r}: expected 1..16 whole numbers in 1..1024."
        )


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents (tensors and plain values only; no code is unpickled).

    Every malformed file (not a torch file, truncated, a pickle of anything but tensors and
    plain values, missing or ill-typed entries, weights that do not fit the network the
    checkpoint describes) raises a ConfigError naming the file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the checkpoint ({exc.strerror}).") from None
    if size > MAX_CHECKPOINT_BYTES:
        raise ConfigError(f"{path}: {size} bytes; a TapFinger checkpoint is at most 256 MiB.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses every object that is not plain data
        lines = str(exc).strip().splitlines()
        why = lines[0][:300] if lines else type(exc).__name__
        raise ConfigError(
            f"{path}: not a TapFinger checkpoint ({CHECKPOINT_FORMAT}): "
            f"torch.load(weights_only=True) refused it ({why})."
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path}: not a TapFinger checkpoint ({CHECKPOINT_FORMAT}).")
    for key, kind in _REQUIRED.items():
        if not isinstance(ckpt.get(key), kind):
            raise ConfigError(
                f"{path}: field {key} is missing or not a {kind.__name__} "
                f"(a malformed TapFinger checkpoint)."
            )
    _check_net_config(path, ckpt["net_config"])
    try:
        build_net(ckpt)
    except Exception as exc:  # wrong keys, shapes or configuration values
        lines = str(exc).strip().splitlines()
        why = " ".join(lines[:2])[:300] if lines else type(exc).__name__
        raise ConfigError(
            f"{path}: fields net_config/model/value_norm do not describe a TapFinger "
            f"network ({why})."
        ) from None
    return ckpt


def build_net(ckpt: dict[str, Any]) -> tuple[TapFingerNet, ValueNorm]:
    """The network and value normaliser of a checkpoint, weights loaded."""
    net = TapFingerNet(NetConfig(**ckpt["net_config"]))
    net.load_state_dict(ckpt["model"])
    vnorm = ValueNorm()
    vnorm.load_state_dict(ckpt["value_norm"])
    net.eval()
    return net, vnorm
