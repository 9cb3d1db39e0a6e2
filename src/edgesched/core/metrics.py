"""Recording what a run did: time series and summary statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class TimeSeries:
    """Named columns sampled at increasing times, appended one row at a time.

    Example:
        >>> ts = TimeSeries(["in_system"])
        >>> ts.append(0, (3,)); ts.append(1, (2,))
        >>> ts.column("in_system")
        [3, 2]
    """

    __slots__ = ("_rows", "columns", "times")

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.times: list[float] = []
        self._rows: list[tuple[Any, ...]] = []

    def append(self, time: float, values: Sequence[Any]) -> None:
        self.times.append(time)
        self._rows.append(tuple(values))

    def __len__(self) -> int:
        return len(self.times)

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self._rows]

    def as_dict(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"time": list(self.times)}
        for i, name in enumerate(self.columns):
            out[name] = [row[i] for row in self._rows]
        return out


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (linear interpolation); NaN for no values."""
    if len(values) == 0:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=float), q))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation; (NaN, NaN) for no values."""
    if len(values) == 0:
        return float("nan"), float("nan")
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std())
