"""`edgesched compare` on dispatch scenarios, end to end through the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from edgesched.cli import main
from edgesched.dispatch.streams.schedulers import STATIC_NAMES
from edgesched.experiments.worlds.streams import lambda_table


def _no_nan(text: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"summary.json holds {name}")

    return json.loads(text, parse_constant=refuse)


def test_compare_writes_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default comparison runs every static policy and the per-window oracle, adds
    best-static and the oracle's headroom, writes all files (ASET's figures included)."""
    out = tmp_path / "run"
    code = main(
        [
            "compare",
            "aset-full-edge",
            "--duration",
            "30",
            "--seeds",
            "2",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "results.csv",
        "summary.json",
        "timeseries.csv",
        "ratios_over_time.png",
        "success_vs_lambda.png",
        "success_over_time.png",
        "outcomes_by_policy.png",
    } <= names
    summary = _no_nan((out / "summary.json").read_text())
    assert summary["scenario"] == "aset-full-edge" and summary["seeds"] == [0, 1]
    assert summary["duration_s"] == 30 and summary["lam"] == 60
    for key in ("version", "git_commit", "config"):
        assert key in summary
    rows = summary["schedulers"]
    assert set(STATIC_NAMES) | {"best-static", "oracle-window"} <= set(rows)
    room = summary["headroom"]["oracle_over_best_static_points"]
    gap = rows["oracle-window"]["success_ratio"] - rows["best-static"]["success_ratio"]
    assert room == pytest.approx(100 * gap)
    for row in rows.values():
        total = row["success_ratio"] + row["violation_ratio"] + row["rejection_ratio"]
        assert total == pytest.approx(1.0)
        assert row["p50_delay_ms"] <= row["p99_delay_ms"]
        assert set(row["per_app"]) == {
            "augmented-reality",
            "cognitive-assistance",
            "video-surveillance",
            "traffic-analytics",
        }
    best = rows["best-static"]["per_seed_success_ratio"]
    for name in STATIC_NAMES:
        for seed, value in rows[name]["per_seed_success_ratio"].items():
            assert best[seed] >= value
    with (out / "results.csv").open() as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == len(rows) * 2 * 4  # scheduler x seed x application
    printed = capsys.readouterr().out
    assert "best-static" in printed and "augmented-reality" in printed
    assert "oracle-window over best-static" in printed


def test_pattern_run_gives_success_per_lambda(tmp_path: Path) -> None:
    """Under the fast pattern, the windows at 20, 60 and 100 clients/min each get a point."""
    out = tmp_path / "run"
    code = main(
        [
            "compare",
            "aset-full-edge",
            "--pattern",
            "fast",
            "--duration",
            "310",
            "--seeds",
            "1",
            "--schedulers",
            "closest,most-accurate",
            "--out",
            str(out),
            "--no-progress",
            "--jobs",
            "1",
        ]
    )
    assert code == 0
    summary = _no_nan((out / "summary.json").read_text())
    assert summary["pattern"] == "fast"
    from edgesched.dispatch.streams.scenario import load
    from edgesched.experiments.backend import Prepared
    from edgesched.experiments.worlds.streams import run_cell

    prepared = Prepared(load("aset-full-edge", pattern="fast", duration_s=310), "aset-full-edge")
    table = lambda_table([run_cell(prepared, "most-accurate", 0)])
    assert sorted(table["most-accurate"]) == [20.0, 60.0, 100.0]
    assert table["most-accurate"][100.0] < table["most-accurate"][20.0]


def test_pattern_figure_from_recorded_series(tmp_path: Path) -> None:
    """The two-pattern figure (ASET Fig. 3) is drawn from per-window series as a sweep
    records them (plain lists), one panel per pattern."""
    from edgesched.dispatch.streams.scenario import load
    from edgesched.experiments.backend import Prepared
    from edgesched.experiments.worlds.streams import run_cell
    from edgesched.experiments.worlds.streams_plots import plot_patterns, success_series

    panels, lams = {}, {}
    for pattern in ("fast", "steady"):
        prepared = Prepared(load("aset-full-edge", pattern=pattern, duration_s=20), "x")
        runs = [run_cell(prepared, name, 0) for name in ("closest", "least-loaded")]
        series = success_series(runs)
        assert set(series) == {"closest", "least-loaded"} and series["closest"].shape == (4,)
        panels[pattern] = {k: v.tolist() for k, v in series.items()}
        lams[pattern] = runs[0].window_lam.tolist()
    plot_patterns(tmp_path / "patterns.png", panels, lams, 5.0)
    assert (tmp_path / "patterns.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trace", "x.csv"], "--trace does not apply to"),
        (["--lambda", "-5"], "--lambda -5"),
        (["--duration", "0"], "--duration 0"),
        (["--schedulers", "closest,nope"], "unknown streams dispatch scheduler 'nope'"),
        (["--schedulers", "best-static"], "computed from the static policies"),
        (["--checkpoint", "missing.zip"], "--checkpoint missing.zip: no such file"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Bad options end with status 2, a clear message, and no output folder."""
    out = tmp_path / "run"
    code = main(
        [
            "compare",
            "aset-full-edge",
            "--duration",
            "10",
            "--seeds",
            "1",
            "--out",
            str(out),
            "--no-progress",
            *args,
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_scenario_file_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dispatch scenario file with a bad field: status 2, file, line and field named."""
    path = tmp_path / "mine.yaml"
    path.write_text(
        "world: dispatch\nclusters:\n  - {kind: co, device: edge-gpu, accelerators: 0}\n"
    )
    out = tmp_path / "run"
    code = main(["compare", str(path), "--seeds", "1", "--out", str(out), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "mine.yaml, line 3: field 'clusters.0.accelerators'" in err
    assert not out.exists()
