"""`edgesched compare` on placement scenarios, end to end, and its refusals of bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from edgesched.cli import main
from tests.conftest import DATA


def run(args: list[str]) -> int:
    return main(args)


def test_compare_writes_results_summary_and_plots(tmp_path: Path, capsys):
    """Every file the issue names, with the columns and keys it names."""
    out = tmp_path / "out"
    rc = run(
        [
            "compare",
            str(DATA / "tiny.yaml"),
            "--seeds",
            "2",
            "--out",
            str(out),
            "--jobs",
            "1",
            "--schedulers",
            "min,optimus,tiresias",
        ]
    )
    assert rc == 0
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert {"scheduler", "seed", "task", "cluster", "arrival", "start", "finish", "jct"} <= set(
        header
    )
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 3 * 2 * 24
    summary = json.loads((out / "summary.json").read_text())
    for key in ("scenario", "seeds", "version", "git_commit", "config", "lower_bound_mean_jct"):
        assert key in summary
    assert summary["seeds"] == [0, 1]
    for v in summary["schedulers"].values():
        assert {
            "mean_jct",
            "mean_jct_std",
            "median_jct",
            "p95_jct",
            "makespan",
            "utilisation",
        } <= set(v)
        assert v["mean_jct"] >= summary["lower_bound_mean_jct"]
    for png in ("jct_distribution.png", "tasks_in_system.png", "utilisation.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "lower bound" in printed and "optimus" in printed


def test_serial_and_parallel_give_identical_results(tmp_path: Path):
    """A run is a pure function of its cell: the executor does not change a byte."""
    a, b = tmp_path / "a", tmp_path / "b"
    common = [
        str(DATA / "tiny.yaml"),
        "--seeds",
        "3,5",
        "--schedulers",
        "random,min,tetris",
        "--no-progress",
    ]
    assert run(["compare", *common, "--out", str(a), "--jobs", "1"]) == 0
    assert run(["compare", *common, "--out", str(b), "--jobs", "2"]) == 0
    assert (a / "results.csv").read_bytes() == (b / "results.csv").read_bytes()
    assert (a / "timeseries.csv").read_bytes() == (b / "timeseries.csv").read_bytes()


def test_trace_replaces_the_workload(tmp_path: Path):
    """Every row of the trace becomes one task, arrival converted to timesteps."""
    out = tmp_path / "t"
    rc = run(
        [
            "compare",
            "synthetic-3",
            "--trace",
            str(DATA / "trace.csv"),
            "--seeds",
            "1",
            "--schedulers",
            "min,sjf-oracle",
            "--out",
            str(out),
            "--jobs",
            "1",
        ]
    )
    assert rc == 0
    rows = (out / "results.csv").read_text().splitlines()[1:]
    tasks = {r.split(",")[2]: r.split(",") for r in rows if r.startswith("min,")}
    assert set(tasks) == {"a", "b", "c", "d", "e"}
    assert tasks["c"][5] == "1" and int(tasks["c"][8]) >= 10  # 12 s -> t 1; 100 s = 10 steps


BAD_YAML_TYPE = "capacity: [16, lots]"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["compare", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["compare", "synthetic-3", "--schedulers", "optimux"], "Did you mean 'optimus'"),
        (["compare", "synthetic-3", "--seeds", "3-1"], "--seeds '3-1'"),
        (["compare", "synthetic-3", "--lambda", "60"], "--lambda does not apply to"),
        (["compare", "synthetic-3", "--jobs", "0"], "--jobs 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_message(args, expected, tmp_path: Path, capsys):
    out = tmp_path / "never"
    assert run([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())


def _bad_yaml(tmp_path: Path, old: str, new: str) -> Path:
    text = (DATA / "tiny.yaml").read_text()
    assert old in text
    p = tmp_path / "bad.yaml"
    p.write_text(text.replace(old, new))
    return p


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("capacity: [8, 4]", "capacity: [8, lots]", "line 7: field 'clusters.0.capacity.1'"),
        ("capacity: [8, 4]", "capacity: [8, -4]", "greater than or equal to 0"),
        ("switch_factor: 0.5", "switch_factor: high", "line 10: field 'switch_factor'"),
    ],
)
def test_bad_scenario_yaml_is_reported_by_line_and_field(
    tmp_path: Path, capsys, old, new, expected
):
    bad = _bad_yaml(tmp_path, old, new)
    out = tmp_path / "out"
    assert run(["compare", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(bad) in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("arrival_s,cpus,gpus\n0,1,1\n", "no column 'duration_s'"),
        (
            "arrival_s,duration_s,cpus,gpus\n0,10,1,1\n5,ten,1,1\n",
            "line 3, column 'duration_s': 'ten' is not a number",
        ),
        ("arrival_s,duration_s,cpus,gpus\n0,10,99,1\n", "line 2: the task needs (99, 1)"),
    ],
)
def test_bad_trace_is_reported_by_line_and_column(tmp_path: Path, capsys, content, expected):
    trace = tmp_path / "trace.csv"
    trace.write_text(content)
    out = tmp_path / "out"
    assert run(["compare", "synthetic-3", "--trace", str(trace), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not out.exists()


def test_existing_output_folder_is_not_overwritten(tmp_path: Path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert run(["compare", str(DATA / "tiny.yaml"), "--out", str(out)]) == 2
    assert (out / "keep.txt").read_text() == "mine" and len(list(out.iterdir())) == 1


def test_scenarios_lists_every_preset(capsys):
    assert run(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name in (
        "synthetic-3",
        "synthetic-6",
        "hetero-6",
        "testbed-3",
        "testbed-6",
        "sjf-probe",
        "synthetic-3-reference",
    ):
        assert name in out


@pytest.mark.parametrize(
    "preset", ["synthetic-6", "hetero-6", "testbed-3", "sjf-probe", "synthetic-3-reference"]
)
def test_every_preset_runs(preset: str, tmp_path: Path):
    """Each shipped preset loads and runs one seed of a cheap baseline."""
    assert (
        run(
            [
                "compare",
                preset,
                "--seeds",
                "1",
                "--schedulers",
                "min",
                "--jobs",
                "1",
                "--out",
                str(tmp_path / preset),
                "--no-progress",
            ]
        )
        == 0
    )


def _parsers(parser):
    """Every (sub)parser of the command line, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_help_explains_every_option():
    """Every option and argument of every command (train AGENT included) has a help text of
    its own, and --help prints it."""
    from edgesched.cli import build_parser

    seen = 0
    for parser in _parsers(build_parser()):
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            assert action.help, f"{parser.prog}: {action.option_strings or action.dest}"
            assert action.help.split("(")[0].strip()[:30] in " ".join(text.split())
            seen += 1
    assert seen > 50  # compare, evaluate, train x 3 agents (tapfinger: every config field)


def test_train_tapfinger_reaches_every_config_field():
    """Every TrainConfig field is an option of `edgesched train tapfinger`."""
    import dataclasses

    from edgesched.cli import build_parser
    from edgesched.rl.tapfinger.config import TrainConfig

    train = next(p for p in _parsers(build_parser()) if p.prog.endswith("train tapfinger"))
    dests = {a.dest for a in train._actions}
    for f in dataclasses.fields(TrainConfig):
        assert f.name in dests or f"cfg_{f.name}" in dests or f.name == "budget_s"


@pytest.mark.parametrize("agent", ["aset", "ecsrl"])
def test_tapfinger_only_training_flags_are_refused_for_other_agents(agent, tmp_path, capsys):
    """--budget means nothing to the Stable-Baselines3 agents: refused, not ignored."""
    out = tmp_path / "never"
    assert main(["train", agent, "--budget", "5m", "--out", str(out)]) == 2
    assert "unrecognized arguments: --budget" in capsys.readouterr().err
    assert not out.exists()
