"""Shared machinery of every world: clock and events, random streams, resources, arrivals,
metrics, registries and typed configuration. Imports nothing else of edgesched."""

from __future__ import annotations

from edgesched.core.errors import ConfigError, EdgeschedError, SchedulerError
from edgesched.core.events import EventLoop
from edgesched.core.registry import Registry
from edgesched.core.rng import RandomStreams

__all__ = [
    "ConfigError",
    "EdgeschedError",
    "EventLoop",
    "RandomStreams",
    "Registry",
    "SchedulerError",
]
