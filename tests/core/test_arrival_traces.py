"""Arrival traces (core.arrivals.read_arrival_trace): both layouts, exact replay in the device
setting, and bad files refused naming file, line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesched.core.arrivals import read_arrival_trace
from edgesched.core.errors import ConfigError
from edgesched.dispatch.devices.scenario import load
from edgesched.dispatch.devices.simulator import DeviceSim


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_timestamps_are_replayed_exactly_by_the_device_simulator(tmp_path: Path) -> None:
    """Every request arrives at its trace timestamp (in any row order), whatever the seed; the
    task mix is drawn as the scenario says."""
    rng = np.random.default_rng(7)
    stamps = np.round(rng.uniform(0, 20, 400), 6)
    text = "timestamp_s,client\n" + "".join(f"{t},c{i % 3}\n" for i, t in enumerate(stamps))
    path = write(tmp_path, text)
    world = load("ecsrl-17k", arrivals=path)
    assert world.scenario.requests.count == 400
    assert world.scenario.requests.duration_s == pytest.approx(stamps.max())
    for seed in (0, 1):
        sim = DeviceSim(world, seed)
        assert np.array_equal(sim.req.arrival_ms, np.sort(stamps) * 1000.0)
        assert 0.35 < float(np.mean(sim.req.task == 0)) < 0.65


def test_per_second_counts_are_spread_within_their_second(tmp_path: Path) -> None:
    """`second,count` rows give that many arrivals inside each second, drawn per seed."""
    path = write(tmp_path, "second,count\n0,3\n2,0\n5,2\n")
    trace = read_arrival_trace(path)
    assert trace.count == 5 and trace.end_s == 6.0
    t = trace.times(np.random.default_rng(0))
    assert np.all(t[:3] < 1) and np.all((t[3:] >= 5) & (t[3:] < 6))
    world = load("ecsrl-17k", arrivals=path)
    a, b = (DeviceSim(world, s).req.arrival_ms for s in (0, 1))
    assert a.size == 5 and not np.array_equal(a, b)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("timestamp_s\n0.1\nabc\n", "line 3, column 'timestamp_s'"),
        ("timestamp_s\n0.1\n-2\n", "line 3, column 'timestamp_s'"),
        ("timestamp_s\n0.1\nnan\n", "line 3, column 'timestamp_s'"),
        ("a,timestamp_s\n1\n", "line 2, column 'timestamp_s'"),
        ("second,count\n0,2\n1,2.5\n", "line 3, column 'count'"),
        ("second,count\n0,2\nx,1\n", "line 3, column 'second'"),
        ("when\n1\n", "line 1"),
        ("timestamp_s\n", "no arrivals"),
        ("", "empty"),
    ],
)
def test_bad_traces_are_refused(tmp_path: Path, text: str, where: str) -> None:
    """A bad header or row is a ConfigError naming the file, the line and the column."""
    path = write(tmp_path, text, "bad.csv")
    with pytest.raises(ConfigError, match=f"bad.csv.*{where}"):
        read_arrival_trace(path)


def test_a_trace_excludes_a_rate_or_duration(tmp_path: Path) -> None:
    """--arrivals with --lambda or --duration is refused (the trace sets both)."""
    path = write(tmp_path, "timestamp_s\n0.5\n")
    with pytest.raises(ConfigError, match="--arrivals"):
        load("ecsrl-17k", arrivals=path, duration_s=5)


def test_streams_setting_replays_client_arrivals(tmp_path: Path) -> None:
    """In ASET's setting a trace row is one client: the clients start at the trace's times
    exactly, at the loaded access points, and the run covers the trace in whole windows."""
    from edgesched.core.rng import RandomStreams
    from edgesched.dispatch.streams.scenario import load as load_streams
    from edgesched.dispatch.streams.simulator import generate_clients

    stamps = [0.5, 1.25, 3.0, 7.75, 11.0]
    path = write(tmp_path, "timestamp_s\n" + "\n".join(map(str, stamps)) + "\n")
    world = load_streams("aset-full-edge", arrivals=path)
    window = world.scenario.window_s
    assert world.scenario.load.duration_s % window == 0
    assert world.scenario.load.duration_s >= 11.0
    clients = generate_clients(world, RandomStreams(0))
    assert clients["t0"].tolist() == stamps
    assert set(clients["ap"].tolist()) <= set(range(len(world.access_points)))
    with pytest.raises(ConfigError, match="--arrivals"):
        load_streams("aset-full-edge", arrivals=path, lam=20)
