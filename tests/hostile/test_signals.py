"""Stop signals and concurrent runs, on real `edgesched` processes.

A stopped command exits 128 + the signal within a few seconds, leaves no ``.partial`` folder,
lock file or results folder, and no process of its own (workers, resource tracker) behind;
two runs aimed at one ``--out`` give one complete folder and one clean refusal; a stopped
TapFinger training leaves a checkpoint that ``--resume`` carries on from.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

#: Seconds for a command to start and reach its work on a loaded two-core machine.
START_S = 60.0
#: Seconds a stopped command may take to exit (the issue's promise).
STOP_S = 5.0

ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgesched.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=ENV,
        start_new_session=True,  # a signal to the test's group never reaches it by accident
    )


def _wait_for(proc: subprocess.Popen[str], ready, what: str) -> None:
    deadline = time.monotonic() + START_S
    while not ready():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"ended (exit {proc.returncode}) before {what}:\n{err[-3000:]}")
        if time.monotonic() > deadline:
            _kill_all(proc)
            pytest.fail(f"no {what} within {START_S} s")
        time.sleep(0.05)


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def _kill_all(proc: subprocess.Popen[str]) -> None:
    """Clean up after a failed test: the command and everything it started, by pid."""
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kids = []
    for p in [*kids]:
        p.kill()
    proc.kill()
    proc.communicate()


def _stop(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    """Send ``sig``; the exit status and standard error (a test failure after STOP_S)."""
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        _kill_all(proc)
        pytest.fail(f"still running {STOP_S} s after {sig.name}")
    return proc.returncode, err


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("sig", "command"),
    [
        pytest.param(
            signal.SIGTERM,
            ["compare", "testbed-6", "--seeds", "40", "--jobs", "2"],
            id="TERM-compare-jobs2",
        ),
        pytest.param(
            signal.SIGINT, ["compare", "testbed-6", "--seeds", "40", "--jobs", "1"], id="INT-serial"
        ),
        pytest.param(
            signal.SIGHUP,
            ["evaluate", "tapfinger", "synthetic-3", "--seeds", "1000-1039", "--jobs", "2"],
            id="HUP-evaluate-jobs2",
        ),
    ],
)
def test_stop_signal(tmp_path, sig, command):
    """Each stop signal ends the run cleanly: 128 + N, no partial folder, no survivor."""
    jobs = int(command[-1])
    proc = _start([*command, "--no-progress", "--out", "res"], tmp_path)
    lock = tmp_path / ".res.lock"  # held from the claim of --out to the end of the run
    parent = psutil.Process(proc.pid)
    if jobs > 1:  # two workers and the resource tracker
        _wait_for(proc, lambda: lock.exists() and len(parent.children(recursive=True)) >= 3, "pool")
        time.sleep(1.0)  # the workers are inside their cells
    else:
        _wait_for(proc, lock.exists, "claim of --out")
        time.sleep(1.0)
    kids = parent.children(recursive=True)
    if jobs > 1:
        assert any("resource_tracker" in " ".join(p.cmdline()) for p in kids), kids
    status, err = _stop(proc, sig)
    assert status == 128 + sig.value, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert sig.name in err
    deadline = time.monotonic() + 3.0  # the resource tracker goes on EOF, within moments
    while _alive(kids) and time.monotonic() < deadline:
        time.sleep(0.02)
    survivors = _alive(kids)
    for p in survivors:
        p.kill()
    assert not survivors, [" ".join(p.cmdline())[:120] for p in survivors]
    assert _leftovers(tmp_path) == [], "a partial folder, lock or results folder was left"


def test_two_runs_one_out(tmp_path):
    """Two runs aimed at one --out: one writes its complete folder, the other is refused
    before it runs (exit 2, a message naming --out) and writes nothing."""
    command = ["compare", "testbed-6", "--seeds", "3", "--jobs", "1", "--no-progress"]
    a = _start([*command, "--out", "res"], tmp_path)
    b = _start([*command, "--out", "res"], tmp_path)
    try:
        outs = [p.communicate(timeout=120) for p in (a, b)]
    except subprocess.TimeoutExpired:
        _kill_all(a)
        _kill_all(b)
        pytest.fail("the two runs did not end within 120 s")
    statuses = sorted([a.returncode, b.returncode])
    shown = "\n".join(
        f"exit {p.returncode}: {o[1][-1500:]}" for p, o in zip((a, b), outs, strict=True)
    )
    assert statuses == [0, 2], shown
    loser = outs[[a.returncode, b.returncode].index(2)][1]
    assert "--out res" in loser and "Traceback" not in loser, shown
    assert "another edgesched run" in loser or "already exists" in loser, shown
    assert _leftovers(tmp_path) == ["res"], shown
    written = _leftovers(tmp_path / "res")
    assert {"results.csv", "summary.json"} <= set(written), written


def _steps_done(folder: Path) -> int:
    with (folder / "progress.csv").open() as fh:
        return int(list(csv.DictReader(fh))[-1]["steps"])


def test_interrupted_training_resumes(tmp_path):
    """SIGTERM during `train tapfinger` leaves a checkpoint; `--resume FOLDER` goes on."""
    tiny = ["--rollout", "4", "--num-envs", "2", "--eval-every", "0"]
    out = tmp_path / "run"
    proc = _start(
        ["train", "tapfinger", "synthetic-3", "--steps", "1000000", *tiny, "--out", "run"],
        tmp_path,
    )
    _wait_for(proc, lambda: (out / "progress.csv").exists(), "first update")
    status, err = _stop(proc, signal.SIGTERM)
    assert status == 128 + signal.SIGTERM, err[-3000:]
    assert "Traceback" not in err and "--resume" in err, err[-3000:]
    assert (out / "checkpoint.pt").is_file()
    assert not list(out.glob("*.tmp")), _leftovers(out)
    done = _steps_done(out)
    target = done + 16  # the checkpoint may hold one more rollout than progress.csv shows
    again = ["train", "tapfinger", "synthetic-3", "--resume", "run", "--steps", str(target)]
    resumed = subprocess.run(
        [sys.executable, "-m", "edgesched.cli", *again],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = json.loads((out / "training.json").read_text())
    assert record["progress"]["steps"] >= target
    assert _steps_done(out) > done  # it trained on from the checkpoint, in the same folder
