"""The live subcommands: clear errors (exit 2, one paragraph, no traceback), full --help."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgesched.core.errors import ConfigError
from edgesched.live import cli, loadgen


def live(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgesched.live", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["serve", "no-such-scenario", "--tiny"], "no-such-scenario"),
        (["serve", "live-host", "--scheduler", "fastest"], "--scheduler"),
        (["serve", "live-host", "--profile", "missing.yaml"], "missing.yaml"),
        (["profile", "--variants", "alexnet", "--tiny"], "alexnet"),
        (["loadtest", "http://127.0.0.1:9", "--duration", "1"], "127.0.0.1:9"),
        (["live-vs-sim", "--scheduler", "nope"], "nope"),
    ],
)
def test_bad_input_is_one_paragraph_and_exit_2(args: list[str], names: str) -> None:
    """Bad input names what is wrong, exits 2 and prints no traceback."""
    res = live(*args)
    assert res.returncode == 2
    assert names in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n\n") == 0


def test_every_option_has_its_own_help() -> None:
    """Every option of every live subcommand carries a help text of its own."""
    for name, _, configure, _ in cli.SUBCOMMANDS:
        p = argparse.ArgumentParser(prog=name)
        configure(p)
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and len(action.help) > 10, f"{name} {action.dest}"


def test_register_adds_the_four_subcommands() -> None:
    """register() hands each subcommand to the edgesched command decorator."""
    got: list[str] = []

    def command(name: str, text: str, configure: object):  # type: ignore[no-untyped-def]
        got.append(name)
        return lambda fn: fn

    cli.register(command)
    assert got == ["serve", "profile", "loadtest", "live-vs-sim"]


def test_arrivals_csv_both_formats(tmp_path: Path) -> None:
    """A timestamp_s column, or second,count rows, give sorted arrival times."""
    a = tmp_path / "a.csv"
    a.write_text("timestamp_s,other\n0.5,x\n0.1,y\n")
    assert loadgen.read_arrivals(a).tolist() == [0.1, 0.5]
    b = tmp_path / "b.csv"
    b.write_text("second,count\n0,2\n3,1\n")
    t = loadgen.read_arrivals(b)
    assert t.size == 3 and np.all((t[:2] >= 0) & (t[:2] < 1)) and 3 <= t[2] < 4


def test_arrivals_csv_errors_name_file_and_line(tmp_path: Path) -> None:
    """A bad header or row is a ConfigError naming the file and the line."""
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp_s\n0.1\nabc\n")
    with pytest.raises(ConfigError, match="line 3"):
        loadgen.read_arrivals(bad)
    bad.write_text("when\n1\n")
    with pytest.raises(ConfigError, match="line 1"):
        loadgen.read_arrivals(bad)


def test_plan_follows_the_mix_and_accuracy_rule() -> None:
    """The planned requests follow the mix; offloads need more than the edge accuracy."""
    info = {
        "tasks": [
            {"task": "a", "share": 0.5, "edge_accuracy": 0.6, "cloud_accuracy": 0.8},
            {"task": "b", "share": 0.5, "edge_accuracy": 0.3, "cloud_accuracy": 0.5},
        ],
        "deadline_ms": [100, 200],
        "offload_share": 0.2,
        "accuracy_margin": 0.05,
    }
    reqs = loadgen.plan(info, rate=500, duration=4, mix={"a": 1.0}, seed=1)
    assert all(r.task == "a" for r in reqs) and 1800 < len(reqs) < 2200
    high = np.mean([r.min_accuracy > 0.6 for r in reqs])
    assert 0.15 < high < 0.25
    assert all(100 <= r.deadline_ms <= 200 for r in reqs)
