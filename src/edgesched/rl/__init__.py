"""Learning: the learned schedulers TapFinger, ASET and ECSRL, their networks, trainers and
shipped checkpoints.

A learned scheduler is found like a hand-written one, by name in its world's scheduler
registry, with its checkpoint as an argument (``make("tapfinger", checkpoint=PATH)``).
:data:`LEARNED` says, per agent, which world it belongs to, where its shipped checkpoints are
and how it trains; nothing here is imported before it is used, so ``import edgesched.rl``
does not load torch.

Example:
    >>> LEARNED.names()
    ['tapfinger', 'aset', 'ecsrl']
    >>> agent("aset").world, agent("aset").shipped("aset-full-edge").name
    ('streams', 'aset-full-edge.zip')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesched.core.registry import Registry, load_entry

#: The worlds' scheduler registries, by world name (a learned agent is registered in one).
WORLD_REGISTRIES = {
    "placement": "edgesched.placement.schedulers:SCHEDULERS",
    "streams": "edgesched.dispatch.streams.schedulers:SCHEDULERS",
    "devices": "edgesched.dispatch.devices.schedulers:SCHEDULERS",
}


@dataclass(frozen=True)
class Agent:
    """A learned scheduler: its world, and where its shipped checkpoints and trainer live.

    Attributes:
        name: the name in the world's scheduler registry.
        world: ``placement``, ``streams`` or ``devices``.
        shipped_at: ``"module:attr"`` of ``shipped_checkpoint(scenario) -> Path | None``.
        trainer: ``"module:attr"`` of the trainer, called as ``fn(scenario, out=DIR, seed=N,
            steps=N | None, log=callable, **options)``; it writes the checkpoint into ``out``
            and returns what ``training.json`` records.
        options: ``"module:attr"`` of the dataclass whose documented fields are the trainer's
            own options (``edgesched train NAME --help`` lists them), or None.
        default_scenario: the scenario ``edgesched train NAME`` uses by default.
        description: one line for ``--help``.
    """

    name: str
    world: str
    shipped_at: str
    trainer: str
    options: str | None
    default_scenario: str
    description: str

    def load(self, checkpoint: Path | str, **kwargs: Any) -> Any:
        """The learned scheduler from ``checkpoint``, built through its world's registry."""
        return load_entry(WORLD_REGISTRIES[self.world]).make(
            self.name, checkpoint=checkpoint, **kwargs
        )

    def shipped(self, scenario: str) -> Path | None:
        """The pretrained checkpoint shipped for a preset name, or None."""
        found: Path | None = load_entry(self.shipped_at)(scenario)
        return found

    def train(self, scenario: str, **kwargs: Any) -> dict[str, Any]:
        """Train on ``scenario`` (see ``trainer``); returns what ``training.json`` records."""
        record: dict[str, Any] = load_entry(self.trainer)(scenario, **kwargs)
        return record


LEARNED: Registry[Agent] = Registry("learned scheduler")
for _agent in (
    Agent(
        "tapfinger",
        "placement",
        "edgesched.rl.tapfinger.scheduler:shipped_checkpoint",
        "edgesched.rl.tapfinger.mappo:train_tapfinger",
        "edgesched.rl.tapfinger.config:TrainConfig",
        "synthetic-3",
        "TapFinger (HAN + pointer, multi-agent PPO) on a placement scenario",
    ),
    Agent(
        "aset",
        "streams",
        "edgesched.rl.aset:shipped_checkpoint",
        "edgesched.rl.aset:train_aset",
        None,
        "aset-full-edge",
        "ASET policy selector (PPO) on a streams scenario",
    ),
    Agent(
        "ecsrl",
        "devices",
        "edgesched.rl.ecsrl:shipped_checkpoint",
        "edgesched.rl.ecsrl:train_ecsrl",
        None,
        "ecsrl-17k",
        "ECSRL dispatcher (MaskablePPO) on a device-setting scenario",
    ),
):
    LEARNED.register(_agent.name, (lambda a=_agent: a), description=_agent.description)


def agent(name: str) -> Agent:
    """The learned agent ``name`` (ConfigError listing the known ones)."""
    return LEARNED.make(name)


def load(name: str, checkpoint: Path | str, **kwargs: Any) -> Any:
    """A learned scheduler by name, from a checkpoint."""
    return agent(name).load(checkpoint, **kwargs)
