"""`edgesched compare` and `edgesched train ecsrl` on device-setting scenarios, end to end."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from edgesched.cli import main
from edgesched.dispatch.devices.schedulers import BASELINES
from edgesched.experiments.backend import CompareOptions
from edgesched.experiments.worlds import resolve
from edgesched.experiments.worlds.devices import DevicesBackend, read_records

METRICS = (
    "throughput_rate",
    "energy_per_request_j",
    "mean_slowdown",
    "offload_fraction",
    "p99_delay_ms",
)


def small_preset(tmp_path: Path, **over: Any) -> Path:
    """ecsrl-17k's devices and mix with 150 requests in 3 s."""
    root = Path(__file__).resolve().parents[2]
    data = yaml.safe_load(
        (root / "src/edgesched/dispatch/devices/presets/ecsrl-17k.yaml").read_text()
    )
    data["requests"]["count"] = 150
    data["requests"]["duration_s"] = 3
    data["name"] = "ecsrl-small"
    data.update(over)
    path = tmp_path / "ecsrl-small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_device_scenarios_go_to_the_ecsrl_backend(tmp_path: Path) -> None:
    """The preset and a `setting: devices` file resolve to DevicesBackend; ASET's do not."""
    assert isinstance(resolve("ecsrl-17k"), DevicesBackend)
    assert isinstance(resolve(str(small_preset(tmp_path))), DevicesBackend)
    assert not isinstance(resolve("aset-full-edge"), DevicesBackend)
    from edgesched.experiments.worlds.streams import StreamsBackend

    assert "ecsrl-17k" not in StreamsBackend().presets()


def test_compare_writes_results_summary_and_plot(tmp_path: Path, capsys: Any) -> None:
    """The command returns 0 and writes one row per request per run, a NaN-free summary with
    the five metrics per dispatcher, and the plot."""
    out = tmp_path / "out"
    args = ["--seeds", "2", "--out", str(out), "--jobs", "1", "--no-progress"]
    code = main(["compare", str(small_preset(tmp_path)), *args])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {
        "requests.parquet",
        "results.parquet",
        "summary.json",
        "throughput_vs_energy.png",
    }
    text = (out / "summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    summary = json.loads(text)
    assert summary["setting"] == "devices" and summary["seeds"] == [0, 1]
    assert {"version", "git_commit", "config"} <= set(summary)
    names = set(summary["schedulers"])
    assert set(BASELINES) <= names
    for row in summary["schedulers"].values():
        for m in METRICS:
            assert isinstance(row[m], float) and math.isfinite(row[m])
        assert 0.0 <= row["throughput_rate"] <= 1.0
    assert summary["schedulers"]["always-cloud"]["offload_fraction"] == 1.0
    table = read_records(out)
    assert table.num_rows == 150 * 2 * len(names)
    assert pq.read_table(out / "requests.parquet").num_rows == 150 * 2
    cols = table.to_pydict()
    assert all(d is not None for d in cols["deadline_us"])
    parts = ("network_us", "wan_queue_us", "queue_us", "processing_us")
    for i in range(0, table.num_rows, 97):
        if cols["outcome"][i] != "rejected":
            assert abs(sum(cols[k][i] for k in parts) - cols["delay_us"][i]) <= 4
    # the records agree with the summary: successes per dispatcher
    for name, row in summary["schedulers"].items():
        ok = sum(
            1
            for s_, o in zip(cols["scheduler"], cols["outcome"], strict=True)
            if s_ == name and o == "success"
        )
        assert ok == row["success_count"]
    assert "throughput" in capsys.readouterr().out


def test_compare_preset_with_a_shorter_duration(tmp_path: Path) -> None:
    """`edgesched compare ecsrl-17k --duration 2` scales the request count with the rate."""
    out = tmp_path / "out"
    args = ["--seeds", "1", "--duration", "2", "--out", str(out), "--jobs", "1", "--no-progress"]
    code = main(["compare", "ecsrl-17k", *args, "--schedulers", "round-robin,energy-greedy"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests_per_run"] == round(17_000 / 300 * 2)
    assert set(summary["schedulers"]) == {"round-robin", "energy-greedy"}


@pytest.mark.parametrize(
    "extra",
    [
        ["--pattern", "fast"],
        ["--trace", "trace.csv"],
        ["--lambda", "-5"],
        ["--duration", "0"],
        ["--schedulers", "round-robin,closest"],
        ["--checkpoint", "missing.zip"],
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, extra: list[str], capsys: Any
) -> None:
    """Options this setting cannot use, bad values and unknown dispatchers: exit 2, no folder."""
    out = tmp_path / "out"
    code = main(["compare", str(small_preset(tmp_path)), "--seeds", "1", "--out", str(out), *extra])
    assert code == 2
    assert not out.exists()
    assert list(tmp_path.glob(".out*")) == []
    assert "edgesched: error:" in capsys.readouterr().err


def test_bad_scenario_file_exits_2(tmp_path: Path, capsys: Any) -> None:
    """A device-setting file with a bad field is refused naming the field."""
    path = small_preset(tmp_path, cloud={"device": "cloud-gpu", "count": -1})
    out = tmp_path / "out"
    assert main(["compare", str(path), "--out", str(out)]) == 2
    assert "cloud.count" in capsys.readouterr().err
    assert not out.exists()


def test_options_refused_before_anything_runs() -> None:
    """prepare() refuses --pattern and --trace with a ConfigError."""
    from edgesched.core.errors import ConfigError

    backend = DevicesBackend()
    with pytest.raises(ConfigError, match="--pattern"):
        backend.prepare("ecsrl-17k", CompareOptions(pattern="fast"))
    with pytest.raises(ConfigError, match="--trace"):
        backend.prepare("ecsrl-17k", CompareOptions(trace=Path("t.csv")))


def test_train_ecsrl_smoke(tmp_path: Path) -> None:
    """`edgesched train ecsrl FILE --steps 64` writes a checkpoint the backend accepts."""
    out = tmp_path / "ckpt"
    path = small_preset(tmp_path)
    assert main(["train", "ecsrl", str(path), "--steps", "64", "--out", str(out)]) == 0
    info = json.loads((out / "training.json").read_text())
    assert info["agent"] == "ecsrl" and info["steps"] == 64
    prepared = DevicesBackend().prepare(str(path), CompareOptions(checkpoint=out / "ecsrl.zip"))
    assert "ecsrl" in DevicesBackend().schedulers(prepared)


@pytest.mark.parametrize(
    ("agent", "scenario"), [("ecsrl", "ecsrl-17k"), ("aset", "aset-full-edge")]
)
def test_evaluate_runs_every_dispatch_agent_with_its_shipped_checkpoint(
    agent: str, scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`edgesched evaluate AGENT SCENARIO` finds the learned scheduler and its shipped
    checkpoint the way compare does, and runs only it."""
    out = tmp_path / "eval"
    args = ["evaluate", agent, scenario, "--seeds", "1000-1000", "--jobs", "1", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["schedulers"]) == [agent]
    assert summary["checkpoint"].endswith(".zip")


def test_evaluate_refuses_another_worlds_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent evaluated on a scenario of another world: exit 2, nothing written."""
    out = tmp_path / "never"
    assert main(["evaluate", "ecsrl", "synthetic-3", "--out", str(out)]) == 2
    assert "ecsrl schedules devices scenarios" in capsys.readouterr().err
    assert not out.exists()


def test_records_csv_and_none(tmp_path: Path) -> None:
    """--records csv writes the CSV records (parts adding up to the delay), none no records;
    the summary is the same either way."""
    args = ["--seeds", "1", "--jobs", "1", "--no-progress", "--schedulers", "least-loaded"]
    preset = str(small_preset(tmp_path))
    assert main(["compare", preset, *args, "--records", "csv", "--out", str(tmp_path / "c")]) == 0
    assert main(["compare", preset, *args, "--records", "none", "--out", str(tmp_path / "n")]) == 0
    assert {p.name for p in (tmp_path / "n").iterdir()} == {
        "summary.json",
        "throughput_vs_energy.png",
    }
    with (tmp_path / "c" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 150
    row = rows[0]
    parts = sum(float(row[k]) for k in ("network_ms", "wan_queue_ms", "queue_ms", "processing_ms"))
    assert parts == pytest.approx(float(row["delay_ms"]), abs=0.01)
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "cn")
    assert a["schedulers"] == b["schedulers"]


def test_compare_replays_an_arrival_trace(tmp_path: Path) -> None:
    """--arrivals: one request per trace row, the summary's count and duration the trace's."""
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp_s\n" + "\n".join(f"{0.02 * i:.2f}" for i in range(1, 101)) + "\n")
    out = tmp_path / "out"
    args = ["--seeds", "1", "--jobs", "1", "--no-progress", "--schedulers", "least-loaded"]
    code = main(["compare", "ecsrl-17k", *args, "--arrivals", str(trace), "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests_per_run"] == 100 and summary["duration_s"] == pytest.approx(2.0)
    arrival = pq.read_table(out / "requests.parquet").column("arrival_us").to_pylist()
    assert arrival == [20_000 * i for i in range(1, 101)]


def test_bad_arrival_trace_is_refused_naming_file_line_and_column(
    tmp_path: Path, capsys: Any
) -> None:
    """A malformed trace row ends compare with exit 2 and a message naming where."""
    trace = tmp_path / "bad.csv"
    trace.write_text("timestamp_s\n0.5\n-1\n")
    code = main(["compare", "ecsrl-17k", "--arrivals", str(trace), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.csv, line 3, column 'timestamp_s'" in err and "'-1'" in err
    assert not (tmp_path / "o").exists()
