"""Per-purpose random streams spawned from one seed.

Every draw of a run comes from a generator owned by the run, one per purpose (arrivals,
connectivity, noise, policy, ...). A stream depends only on the seed and its purpose's name,
never on which other streams were used or in which order, so adding a draw for one purpose
never shifts another.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np


class RandomStreams:
    """Named, independent :class:`numpy.random.Generator` streams of one seed.

    Example:
        >>> a, b = RandomStreams(7), RandomStreams(7)
        >>> bool(a["noise"].random() == b["noise"].random())
        True
        >>> bool(RandomStreams(7)["noise"].random() == RandomStreams(7)["arrivals"].random())
        False
    """

    __slots__ = ("_streams", "seed")

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = int(seed)
        self._streams: dict[str, np.random.Generator] = {}

    def __getitem__(self, purpose: str) -> np.random.Generator:
        gen = self._streams.get(purpose)
        if gen is None:
            key = zlib.crc32(purpose.encode("utf-8"))
            seq = np.random.SeedSequence(entropy=self.seed, spawn_key=(key,))
            gen = np.random.Generator(np.random.PCG64(seq))
            self._streams[purpose] = gen
        return gen

    def state(self) -> dict[str, dict[str, Any]]:
        """The bit-generator state of every stream drawn from so far (for a snapshot)."""
        return {k: dict(g.bit_generator.state) for k, g in self._streams.items()}

    def set_state(self, state: dict[str, dict[str, Any]]) -> None:
        """Put every stream back to ``state`` (from :meth:`state`), in place, so generators
        handed out before keep working; a stream first used after the snapshot is forgotten
        and starts afresh when asked for again.

        Example:
            >>> rs = RandomStreams(3)
            >>> saved = rs.state()
            >>> x = rs["noise"].random()
            >>> rs.set_state(saved)
            >>> bool(rs["noise"].random() == x)
            True
        """
        for k in list(self._streams):
            if k not in state:
                del self._streams[k]
        for k, st in state.items():
            self[k].bit_generator.state = st

    def child_seed(self, purpose: str) -> int:
        """A 32-bit integer seed for a library that takes ints (e.g. a Gymnasium env)."""
        key = zlib.crc32(purpose.encode("utf-8"))
        seq = np.random.SeedSequence(entropy=self.seed, spawn_key=(key, 1))
        return int(seq.generate_state(1)[0])
