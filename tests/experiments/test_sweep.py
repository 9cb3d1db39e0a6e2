"""`edgesched sweep`: the sweep file validated like a scenario, the cell cache and its key,
resumed sweeps, failing cells, and the same results on Ray with a worker killed."""

from __future__ import annotations

import csv
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from edgesched.cli import main
from edgesched.core.errors import ConfigError
from edgesched.experiments import sweep as sweep_mod
from edgesched.experiments.sweep import cell_key, plan, run_sweep
from tests.conftest import DATA

SPEC = f"""\
base: {DATA / "tiny.yaml"}
grid:
  workload.arrivals.rate: [0.5, 1]
  clusters.0.count: [1, 2]
schedulers: [min, tetris]
seeds: 2
"""


def spec_file(tmp_path: Path, text: str = SPEC) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SPEC + "seed: 3\n", "line 7: field 'seed': Extra inputs are not permitted"),
        (SPEC.replace("seeds: 2", "seeds: many"), "line 6: field 'seeds"),
        (SPEC.replace("clusters.0.count", "clusters.5.count"), "line 4: field 'grid.clusters.5"),
        (SPEC.replace("[1, 2]", "[1, -2]"), "at workload.arrivals.rate=0.5, clusters.0.count=-2"),
        (SPEC.replace("min, tetris", "min, nope"), "line 5: field 'schedulers'"),
    ],
)
def test_bad_sweep_file_names_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    """Each problem is a ConfigError with the sweep file's name and what is wrong."""
    path = spec_file(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        plan(path, tmp_path / "out")
    assert str(path) in str(err.value) and expected in str(err.value)


def test_cache_key_changes_with_each_part_and_only_then(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scenario content, scheduler, checkpoint content, seed, version and code each change the
    key; an equal scenario built separately does not."""
    base = cell_key({"a": 1, "b": [1, 2]}, "min", b"ck", 0)
    assert cell_key({"b": [1, 2], "a": 1}, "min", b"ck", 0) == base
    others = [
        cell_key({"a": 2, "b": [1, 2]}, "min", b"ck", 0),
        cell_key({"a": 1, "b": [1, 2]}, "tetris", b"ck", 0),
        cell_key({"a": 1, "b": [1, 2]}, "min", b"ck2", 0),
        cell_key({"a": 1, "b": [1, 2]}, "min", None, 0),
        cell_key({"a": 1, "b": [1, 2]}, "min", b"ck", 1),
    ]
    assert len({base, *others}) == 6
    old = sweep_mod.__version__
    try:
        sweep_mod.__version__ = "9.9.9"
        assert cell_key({"a": 1, "b": [1, 2]}, "min", b"ck", 0) != base
    finally:
        sweep_mod.__version__ = old
    monkeypatch.setattr(sweep_mod, "code_fingerprint", lambda: "other code")
    assert cell_key({"a": 1, "b": [1, 2]}, "min", b"ck", 0) != base


def test_code_fingerprint_follows_the_content_of_code_and_data_files(tmp_path: Path) -> None:
    """An edit to a module or a preset changes the fingerprint; a byte-code cache or a file
    of another kind does not; the installed package has a stable one."""
    pkg = tmp_path / "pkg"
    (pkg / "sub" / "__pycache__").mkdir(parents=True)
    (pkg / "mod.py").write_text("x = 1\n")
    (pkg / "sub" / "preset.yaml").write_text("a: 1\n")
    base = sweep_mod.code_fingerprint.__wrapped__(pkg)
    (pkg / "sub" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (pkg / "notes.txt").write_text("ignored")
    assert sweep_mod.code_fingerprint.__wrapped__(pkg) == base
    (pkg / "sub" / "preset.yaml").write_text("a: 2\n")
    edited = sweep_mod.code_fingerprint.__wrapped__(pkg)
    assert edited != base
    (pkg / "sub" / "preset.yaml").rename(pkg / "preset.yaml")
    assert sweep_mod.code_fingerprint.__wrapped__(pkg) not in (base, edited)
    assert sweep_mod.code_fingerprint() == sweep_mod.code_fingerprint()


def test_sweep_writes_table_and_plots_and_resumes(tmp_path: Path) -> None:
    """16 cells, one row each, a plot per metric and field; with half the cache removed, a
    rerun runs exactly those 8 and the table is unchanged."""
    spec, out = spec_file(tmp_path), tmp_path / "out"
    first = run_sweep(spec, out, jobs=2, progress=False)
    assert (first.ran, first.cached, first.failed) == (16, 0, [])
    table = (out / "results.csv").read_bytes()
    assert len(rows(out)) == 16
    assert {r["scheduler"] for r in rows(out)} == {"min", "tetris"}
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert "mean_jct__vs__workload.arrivals.rate.png" in plots and len(plots) == 6
    cached = sorted((out / "cells").glob("*.json"))
    for path in cached[::2]:
        path.unlink()
    again = run_sweep(spec, out, jobs=1, progress=False)
    assert (again.ran, again.cached) == (8, 8)
    assert (out / "results.csv").read_bytes() == table


def test_extended_sweep_runs_only_new_cells(tmp_path: Path) -> None:
    """One more seed: only its cells run."""
    out = tmp_path / "out"
    run_sweep(spec_file(tmp_path), out, jobs=1, progress=False)
    more = run_sweep(spec_file(tmp_path, SPEC.replace("seeds: 2", "seeds: 3")), out, jobs=1)
    assert (more.ran, more.cached) == (8, 16)


def test_failing_cell_is_reported_and_others_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A cell raising its own error: exit 1, stderr names its scenario, scheduler and seed,
    and the other 15 cells are in the table."""
    real = sweep_mod.SUMMARISE["placement"]
    monkeypatch.setitem(sweep_mod.SUMMARISE, "placement", f"{__name__}:broken_summary")
    monkeypatch.setattr(sys.modules[__name__], "REAL", real, raising=False)
    out = tmp_path / "out"
    code = main(["sweep", str(spec_file(tmp_path)), "--out", str(out), "--jobs", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "workload.arrivals.rate=1, clusters.0.count=2" in err
    assert "scheduler tetris, seed 1" in err and "RuntimeError: broken on purpose" in err
    assert len(rows(out)) == 15


def broken_summary(prepared: Any, results: list[Any]) -> dict[str, Any]:
    """The placement summary, failing for one cell."""
    from edgesched.core.registry import load_entry

    r = results[0]
    world = prepared.world
    point = (world.workload.arrivals.rate, world.clusters[0].count)
    if (r.scheduler, r.seed, point) == ("tetris", 1, (1, 2)):
        raise RuntimeError("broken on purpose")
    summarise = load_entry("edgesched.experiments.worlds.placement:summarise")
    out: dict[str, Any] = summarise(prepared, results)
    return out


def test_dry_run_prints_count_and_estimate(tmp_path: Path, capsys: Any) -> None:
    """The cell count, how many are cached, and a time estimate; nothing is written."""
    out = tmp_path / "out"
    assert main(["sweep", str(spec_file(tmp_path)), "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("16 cells (16 to run, 0 cached); about ")
    assert not (out / "results.csv").exists()


# ----------------------------------------------------------------------------- Ray


#: The marker file of :func:`kill_once` (set by the test; travels with the function, which
#: this module's by-value pickling ships to the workers with the globals it reads).
MARKER = ""


def kill_once(world: str, prepared: Any, scheduler: str, seed: int, cache: Any) -> Any:
    """Kill this Ray worker the first time (no marker yet), then run the cell."""
    marker = MARKER
    if not os.path.exists(marker):
        Path(marker).write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return sweep_mod.sweep_cell(world, prepared, scheduler, seed, cache)


def test_ray_sweep_with_a_killed_worker_gives_the_same_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_cluster: Any
) -> None:
    """On Ray, with one worker killed mid-sweep, every cell completes (retried) and the table
    is byte-identical to the local executor's."""
    spec = spec_file(tmp_path)
    run_sweep(spec, tmp_path / "local", jobs=1, progress=False)
    marker = tmp_path / "killed"
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "MARKER", str(marker))
    monkeypatch.setattr(sweep_mod, "sweep_cell", kill_once)
    ray_cluster.cloudpickle.register_pickle_by_value(module)
    try:
        result = run_sweep(spec, tmp_path / "ray", executor="ray", progress=False)
    finally:
        ray_cluster.cloudpickle.unregister_pickle_by_value(module)
    assert marker.read_text() == "killed"
    assert (result.ran, result.failed) == (16, [])
    local = (tmp_path / "local" / "results.csv").read_bytes()
    assert (tmp_path / "ray" / "results.csv").read_bytes() == local
