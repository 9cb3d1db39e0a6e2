"""Core machinery: random streams, events, registry, arrivals, tables, config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import PositiveInt

from edgesched.core.arrivals import PiecewiseRate
from edgesched.core.config import StrictModel, load_model
from edgesched.core.errors import ConfigError
from edgesched.core.events import EventLoop
from edgesched.core.registry import Registry
from edgesched.core.rng import RandomStreams
from edgesched.core.tables import read_table


def test_streams_depend_on_seed_and_purpose_only():
    """A stream's draws do not depend on which other streams were used before."""
    a = RandomStreams(3)
    a["noise"].random(100)
    x = a["arrivals"].random(5)
    y = RandomStreams(3)["arrivals"].random(5)
    assert np.array_equal(x, y)
    assert not np.array_equal(y, RandomStreams(4)["arrivals"].random(5))


def test_event_loop_orders_by_time_priority_then_insertion():
    """Equal times pop by priority, then in scheduling order."""
    loop = EventLoop()
    loop.schedule(1.0, "late-low", priority=1)
    loop.schedule(1.0, "first")
    loop.schedule(1.0, "second")
    loop.schedule(0.5, "earliest")
    assert [loop.pop() for _ in range(4)] == ["earliest", "first", "second", "late-low"]
    with pytest.raises(ValueError):
        loop.schedule(0.1, "past")


def test_registry_unknown_name_suggests_close_match():
    """An unknown name is a ConfigError that lists the known ones."""
    reg = Registry[int]("thing")
    reg.register("optimus", lambda: 1)
    with pytest.raises(ConfigError, match="Did you mean 'optimus'"):
        reg.make("optimu")
    with pytest.raises(ValueError):
        reg.register("optimus", lambda: 2)


def test_poisson_timesteps_count_and_rate():
    """Exactly `total` arrivals, non-decreasing, at about the requested rate."""
    rate = PiecewiseRate.constant(2.0)
    ts = rate.poisson_timesteps(np.random.default_rng(0), 4000)
    assert len(ts) == 4000 and ts == sorted(ts)
    assert 1.9 < 4000 / (ts[-1] + 1) < 2.1


def test_piecewise_rate_changes_at_breakpoints():
    """The rate in force is that of the last step started."""
    r = PiecewiseRate([(0, 1.0), (5, 0.0), (8, 3.0)])
    assert [r.rate_at(t) for t in (0, 4.9, 5, 7, 8, 100)] == [1.0, 1.0, 0.0, 0.0, 3.0, 3.0]
    times = r.poisson_times(np.random.default_rng(1), 20.0)
    assert not np.any((times >= 5) & (times < 8))
    with pytest.raises(ValueError):
        PiecewiseRate([(1, 1.0)])


def test_read_table_reports_line_and_column(tmp_path: Path):
    """A non-numeric cell names its line and column."""
    p = tmp_path / "t.csv"
    p.write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(ConfigError, match=r"line 3, column 'b': 'x' is not a number"):
        read_table(p, {"a": "float", "b": "float"})
    p.write_text("a\n1\n")
    with pytest.raises(ConfigError, match="no column 'b'"):
        read_table(p, {"a": "float", "b": "float"})


class _Cfg(StrictModel):
    name: str
    size: PositiveInt


def test_config_error_names_file_line_and_field(tmp_path: Path):
    """A wrong type is reported with the file, the line of the field and the field's name."""
    p = tmp_path / "c.yaml"
    p.write_text("name: x\n\nsize: big\n")
    with pytest.raises(ConfigError) as err:
        load_model(_Cfg, p)
    msg = str(err.value)
    assert f"{p}, line 3" in msg and "field 'size'" in msg and "'big'" in msg
    p.write_text("name: x\nsize: 3\nextra: 1\n")
    with pytest.raises(ConfigError, match="line 3: field 'extra'"):
        load_model(_Cfg, p)
    p.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_model(_Cfg, p)
