"""Arrival processes: Poisson per timestep, piecewise-constant rates, continuous-time Poisson,
and arrival traces (:func:`read_arrival_trace`: the CSV format the dispatch worlds'
``--arrivals`` and the live load generator read; see :mod:`edgesched.core.tables` for the
placement world's task traces)."""

from __future__ import annotations

import bisect
import csv
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesched.core.errors import ConfigError
from edgesched.core.tables import MAX_TABLE_BYTES


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


# ----------------------------------------------------------------------------- arrival traces

#: The most requests one trace holds (and one ``second,count`` row).
MAX_TRACE_REQUESTS = 10_000_000
#: The latest arrival a trace may name (s from the start).
MAX_TRACE_S = 1e7


@dataclass(frozen=True)
class ArrivalTrace:
    """The arrivals of a CSV trace: exact timestamps, or per-second counts.

    Two layouts, each with a header line (the format the live load generator reads too):

    - a ``timestamp_s`` column (other columns are ignored): one row per request, its arrival
      in seconds from the start; replayed exactly;
    - ``second,count``: ``count`` requests in the second starting at ``second``, spread
      uniformly over it by the caller's random stream.

    Attributes:
        path: the file read.
        timestamps: the sorted arrival times (s) of a ``timestamp_s`` trace, else None.
        seconds, counts: the rows of a ``second,count`` trace, in file order (empty for a
            ``timestamp_s`` one).
    """

    path: Path
    timestamps: np.ndarray | None
    seconds: np.ndarray
    counts: np.ndarray

    @property
    def count(self) -> int:
        """How many requests the trace holds."""
        if self.timestamps is not None:
            return int(self.timestamps.size)
        return int(self.counts.sum())

    @property
    def end_s(self) -> float:
        """The end of the trace: its last timestamp, or the end of its last second."""
        if self.timestamps is not None:
            return float(self.timestamps[-1])
        return float(np.max(self.seconds[self.counts > 0]) + 1.0)

    def times(self, rng: np.random.Generator) -> np.ndarray:
        """The sorted arrival times (s): the timestamps as they are, or each second's count
        drawn uniformly within it from ``rng`` (row by row, in file order)."""
        if self.timestamps is not None:
            return self.timestamps.copy()
        parts = [s + rng.random(int(c)) for s, c in zip(self.seconds, self.counts, strict=True)]
        return np.sort(np.concatenate(parts)) if parts else np.empty(0)


def read_arrival_trace(path: str | Path) -> ArrivalTrace:
    """Read an arrival trace (see :class:`ArrivalTrace`).

    Raises:
        ConfigError: no such file, not UTF-8 CSV, an unknown header, or a bad row; the
            message names the file, the line and the column, and what was expected.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text("timestamp_s\\n0.25\\n0.5\\n")
        >>> read_arrival_trace(p).timestamps.tolist()
        [0.25, 0.5]
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--arrivals {path}: no such file.")
    if path.stat().st_size > MAX_TABLE_BYTES:
        raise ConfigError(f"{path}: larger than 64 MiB; not an arrival trace.")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x}); expected a CSV "
            "arrival trace."
        ) from None
    except csv.Error as exc:
        raise ConfigError(f"{path}: not a readable CSV arrival trace ({exc}).") from None
    if not rows:
        raise ConfigError(f"{path}: empty; expected a header `timestamp_s` or `second,count`.")
    header = [h.strip() for h in rows[0]]
    body = [(i, row) for i, row in enumerate(rows[1:], start=2) if any(c.strip() for c in row)]
    if "timestamp_s" in header:
        col = header.index("timestamp_s")
        stamps = [_cell(path, i, row, col, "timestamp_s", float) for i, row in body]
        if len(stamps) > MAX_TRACE_REQUESTS:
            raise ConfigError(f"{path}: more than {MAX_TRACE_REQUESTS} requests.")
        if not stamps:
            raise ConfigError(f"{path}: no arrivals (a header and no rows).")
        return ArrivalTrace(path, np.sort(np.array(stamps)), np.empty(0), np.empty(0, int))
    if header[:2] == ["second", "count"] and len(header) == 2:
        seconds = [_cell(path, i, row, 0, "second", float) for i, row in body]
        counts = [_cell(path, i, row, 1, "count", int) for i, row in body]
        if sum(counts) > MAX_TRACE_REQUESTS:
            raise ConfigError(f"{path}: more than {MAX_TRACE_REQUESTS} requests.")
        if not sum(counts):
            raise ConfigError(f"{path}: no arrivals (every count is 0).")
        return ArrivalTrace(path, None, np.array(seconds), np.array(counts, dtype=np.int64))
    raise ConfigError(
        f"{path}, line 1: unknown header {','.join(header)!r}; expected a `timestamp_s` "
        "column (one row per request, seconds from the start), or `second,count`."
    )


def _cell(path: Path, line: int, row: list[str], col: int, name: str, kind: type) -> Any:
    """One number of a trace row, checked: a finite time in [0, MAX_TRACE_S), or a count in
    [0, MAX_TRACE_REQUESTS]."""
    text = row[col].strip() if col < len(row) else ""
    expected = (
        f"seconds in [0, {MAX_TRACE_S:g})"
        if kind is float
        else f"a whole number in [0, {MAX_TRACE_REQUESTS}]"
    )
    try:
        value = float(text)
        ok = math.isfinite(value) and (
            0 <= value < MAX_TRACE_S
            if kind is float
            else value.is_integer() and 0 <= value <= MAX_TRACE_REQUESTS
        )
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{path}, line {line}, column '{name}': {text!r} is not {expected}.")
    return kind(value)
