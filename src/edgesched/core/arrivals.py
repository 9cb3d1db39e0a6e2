"""Arrival processes: Poisson per timestep, piecewise-constant rates, continuous-time Poisson,
and trace replay (see :mod:`edgesched.core.tables` for reading traces)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

import numpy as np


class PiecewiseRate:
    """A rate that is constant between breakpoints.

    ``steps`` is a list of ``(start, rate)`` with increasing starts, the first at 0; the rate
    holds from its start until the next one (or forever). Times are in whatever unit the caller
    uses (timesteps in the placement world, seconds in the dispatch world).

    Example:
        >>> r = PiecewiseRate([(0, 2.0), (10, 4.0)])
        >>> r.rate_at(3), r.rate_at(10)
        (2.0, 4.0)
    """

    __slots__ = ("rates", "starts")

    def __init__(self, steps: Sequence[tuple[float, float]]) -> None:
        if not steps:
            raise ValueError("a piecewise rate needs at least one (start, rate) step")
        starts = [float(s) for s, _ in steps]
        if starts[0] != 0:
            raise ValueError(f"the first step must start at 0, got {starts[0]}")
        if any(b <= a for a, b in itertools.pairwise(starts)):
            raise ValueError(f"step starts must increase strictly, got {starts}")
        rates = [float(r) for _, r in steps]
        if any(r < 0 for r in rates):
            raise ValueError(f"rates must be >= 0, got {rates}")
        self.starts = starts
        self.rates = rates

    @classmethod
    def constant(cls, rate: float) -> PiecewiseRate:
        return cls([(0.0, rate)])

    def rate_at(self, t: float) -> float:
        return self.rates[bisect.bisect_right(self.starts, t) - 1]

    def poisson_timesteps(self, rng: np.random.Generator, total: int) -> list[int]:
        """Arrival timesteps of ``total`` tasks: Poisson(rate_at(t)) arrivals per timestep t,
        the last timestep cut short so that exactly ``total`` arrive."""
        if total <= 0:
            return []
        if max(self.rates[-1], 0.0) == 0.0:
            raise ValueError("the last rate is 0: the workload would never finish arriving")
        out: list[int] = []
        t = 0
        chunk = 256
        while len(out) < total:
            rates = np.array([self.rate_at(t + i) for i in range(chunk)])
            counts = rng.poisson(rates)
            for i, c in enumerate(counts.tolist()):
                if c:
                    out.extend([t + i] * c)
                    if len(out) >= total:
                        break
            t += chunk
        return out[:total]

    def poisson_times(self, rng: np.random.Generator, horizon: float) -> np.ndarray:
        """Event times of an inhomogeneous Poisson process on ``[0, horizon)``, rate per unit
        time, drawn segment by segment (exact for piecewise-constant rates)."""
        times: list[np.ndarray] = []
        bounds = [*self.starts, float("inf")]
        for i, rate in enumerate(self.rates):
            lo, hi = bounds[i], min(bounds[i + 1], horizon)
            if hi <= lo or rate <= 0:
                continue
            n = rng.poisson(rate * (hi - lo))
            times.append(np.sort(rng.uniform(lo, hi, size=n)))
        return np.concatenate(times) if times else np.empty(0)
