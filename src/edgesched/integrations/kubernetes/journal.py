"""The operator's journal: what it must remember across a crash, kept in the API.

One ConfigMap (``edgesched-operator``) holds one JSON document. Each decision round writes it
twice: once when the round's starts are decided (the commit point: the starts, the pending
slots, the random streams' states and the next timestep), and once when every start has its
pod (the round is cleared and, in simulated time, the clock moves on). A restart reads it back;
a round that was committed but not carried out is carried out then, with the same starts, so
no task is started twice and none is lost. Everything else (which tasks run where, which have
ended) is read from the API itself every round.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from edgesched.core.errors import ConfigError
from edgesched.integrations.kubernetes.mirror import Start

FORMAT = 1


@dataclass
class Journal:
    """The operator's remembered state (see the module docstring)."""

    scheduler: str
    seed: int
    scenario: str
    simulated: bool
    epoch: float  # wall-clock time of timestep 0 (wall-clock mode)
    next_t: int | None = None  # the next timestep to decide
    clock: int | None = None  # simulated time: timesteps before it are carried out
    round_t: int | None = None  # a committed round not yet carried out ...
    round_starts: list[dict[str, Any]] = field(default_factory=list)  # ... and its starts
    slots: dict[str, list[str | None]] = field(default_factory=dict)
    policy: dict[str, Any] | None = None  # the policy stream's bit-generator state
    conflict: dict[str, Any] | None = None  # the conflict stream's state
    scheduler_state: dict[str, Any] = field(default_factory=dict)
    seq: int = 0  # sequence number of the next start
    rounds: int = 0
    conflicts: int = 0
    format: int = FORMAT

    def starts(self) -> list[Start]:
        return [Start.from_json(d) for d in self.round_starts]

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str, where: str) -> Journal:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ConfigError(
                    f"{where}: journal format {data.get('format')!r}, expected {FORMAT}; "
                    "delete the ConfigMap to start over."
                )
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: unreadable journal ({exc}).") from None

    def check(self, scheduler: str, seed: int, scenario: str, simulated: bool, where: str) -> None:
        """Refuse to continue a journal that another configuration wrote."""
        mine = (scheduler, seed, scenario, simulated)
        theirs = (self.scheduler, self.seed, self.scenario, self.simulated)
        if mine != theirs:
            raise ConfigError(
                f"{where} was written by scheduler {self.scheduler!r}, seed {self.seed}, "
                f"scenario {self.scenario!r}, simulated={self.simulated}; this operator runs "
                f"{scheduler!r}, seed {seed}, scenario {scenario!r}, simulated={simulated}. "
                "Use the same options, or delete the ConfigMap to start a new run."
            )
