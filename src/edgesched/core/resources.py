"""Resource vectors of any length R, as tuples of ints.

Tuples are immutable, hashable (usable as cache keys) and faster than small numpy arrays in
the per-decision loops of the simulators.
"""

from __future__ import annotations

from collections.abc import Sequence

Vector = tuple[int, ...]


def vec(values: Sequence[int]) -> Vector:
    """An immutable resource vector."""
    return tuple(int(v) for v in values)


def fits(need: Vector, free: Sequence[int]) -> bool:
    """True when ``need <= free`` on every resource."""
    return all(n <= f for n, f in zip(need, free, strict=True))


def at_least(alloc: Vector, minimum: Vector) -> bool:
    """True when ``alloc >= minimum`` on every resource."""
    return all(a >= m for a, m in zip(alloc, minimum, strict=True))


def add(a: Sequence[int], b: Sequence[int]) -> Vector:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def sub(a: Sequence[int], b: Sequence[int]) -> Vector:
    return tuple(x - y for x, y in zip(a, b, strict=True))


def copies(free: Sequence[int], need: Sequence[int]) -> float:
    """How many copies of ``need`` fit in ``free``: min over resources with need > 0 of
    free/need (infinity when nothing is needed)."""
    ratios = [f / n for f, n in zip(free, need, strict=True) if n > 0]
    return min(ratios) if ratios else float("inf")


def is_zero(v: Sequence[int]) -> bool:
    return not any(v)
