"""An event loop: one object owns the clock and the event queue."""

from __future__ import annotations

import heapq
import itertools
from typing import Any


class EventLoop:
    """A discrete-event queue keyed ``(time, priority, seq)``.

    Equal-time events pop by priority (lower first), then in the order they were scheduled,
    so a run never depends on how payloads compare.

    Example:
        >>> loop = EventLoop()
        >>> loop.schedule(2.0, "b")
        >>> loop.schedule(1.0, "a")
        >>> loop.pop(), loop.now
        ('a', 1.0)
    """

    __slots__ = ("_heap", "_seq", "now")

    def __init__(self, start: float = 0.0) -> None:
        self.now: float = start
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, time: float, payload: Any, priority: int = 0) -> None:
        """Queue ``payload`` at ``time`` (never before the current time)."""
        if time < self.now:
            raise ValueError(f"cannot schedule an event at {time} before now ({self.now})")
        heapq.heappush(self._heap, (time, priority, next(self._seq), payload))

    def peek_time(self) -> float | None:
        """Time of the next event, or None when the queue is empty."""
        return self._heap[0][0] if self._heap else None

    def pop(self) -> Any:
        """Advance the clock to the next event and return its payload."""
        time, _, _, payload = heapq.heappop(self._heap)
        self.now = time
        return payload
