"""Learning: the TapFinger network, multi-agent PPO, checkpoints and learned schedulers.

``load(name, checkpoint)`` builds a learned scheduler by registry name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesched.core.registry import Registry

LEARNED: Registry[Any] = Registry("learned scheduler")


def _tapfinger(checkpoint: Path, **kwargs: Any) -> Any:
    from edgesched.rl.tapfinger import load_scheduler

    return load_scheduler(checkpoint, **kwargs)


LEARNED.register(
    "tapfinger",
    _tapfinger,
    description="TapFinger (Li et al., TPDS 2023): HAN + pointer, multi-agent PPO",
)


def load(name: str, checkpoint: Path, **kwargs: Any) -> Any:
    """A learned scheduler by registry name, from a checkpoint."""
    factory: Callable[..., Any] = LEARNED.factory(name)
    return factory(checkpoint, **kwargs)
