"""Hostile command lines and output locations: each is refused with exit 2, one paragraph that
names the option or path, no traceback, and nothing written."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

#: Seconds a refusal may take. Every case fails before any work, but each command imports
#: torch (seconds of CPU): on this shared two-core machine under load that alone has taken
#: ten seconds, so the bound that catches a hang is looser than the conftest's default.
CASE_TIMEOUT = 30.0


@pytest.fixture
def refused(refused):
    """The conftest's helper with :data:`CASE_TIMEOUT`."""

    def run(args, **kwargs):
        kwargs.setdefault("timeout", CASE_TIMEOUT)
        return refused(args, **kwargs)

    return run


# A fast placement run: one hand-written scheduler, one seed, in this process.
QUICK = ["compare", "synthetic-3", "--schedulers", "random", "--seeds", "1", "--jobs", "1"]

SEEDS = [
    pytest.param("1000000000", id="count-too-big"),
    pytest.param("0-99999999999", id="range-too-long"),
    pytest.param(",".join(map(str, range(10_001))), id="list-too-long"),
    pytest.param("5,99999999999", id="seed-too-big"),
    pytest.param("9" * 5000, id="five-thousand-digits"),
]


@pytest.mark.parametrize("seeds", SEEDS)
def test_compare_seeds(refused, seeds):
    """Seed counts and values are bounded before anything runs."""
    refused([*QUICK[:4], "--seeds", seeds], names=["--seeds"])


def test_evaluate_huge_seeds(refused):
    """evaluate bounds its --seeds too."""
    refused(["evaluate", "tapfinger", "synthetic-3", "--seeds", "0-4000000000"], names=["--seeds"])


@pytest.mark.parametrize("jobs", ["0", "100000"])
def test_compare_jobs(refused, jobs):
    """--jobs is a whole number from 1 to a sane bound."""
    refused([*QUICK[:6], "--jobs", jobs], names=["--jobs"])


def test_evaluate_jobs_zero(refused):
    """evaluate --jobs 0 is refused (it used to crash in the pool)."""
    refused(["evaluate", "tapfinger", "synthetic-3", "--jobs", "0"], names=["--jobs"])


def test_jobs_not_a_number(refused):
    """argparse's own refusal is exit 2 without a traceback."""
    refused([*QUICK[:6], "--jobs", "two"], names=["--jobs"])


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--lambda", "nan"), ("--duration", "-inf")],
)
def test_dispatch_numbers(refused, flag, value):
    """--lambda and --duration are finite and positive."""
    refused(["compare", "aset-full-edge", "--seeds", "1", flag, value], names=[flag])


def test_out_is_a_file(refused, tmp_path):
    """--out naming a regular file is refused and the file left alone."""
    target = tmp_path / "taken.txt"
    target.write_text("mine\n")
    refused([*QUICK, "--out", target], names=["--out", "taken.txt"], out=target)
    assert target.read_text() == "mine\n"


def test_out_below_a_file(refused, tmp_path):
    """--out below a regular file names the file that is in the way."""
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    refused([*QUICK, "--out", blocker / "sub" / "res"], names=["--out", "blocker"], out=blocker)


def test_out_not_empty(refused, tmp_path):
    """An output folder that holds something is never written into."""
    out = tmp_path / "res"
    out.mkdir()
    (out / "keep.txt").write_text("keep")
    refused([*QUICK, "--out", out], names=["--out", "res"], out=out)


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("/sys/edgesched-hostile/res", id="sysfs"),
        pytest.param("/proc/x/res", id="proc"),
    ],
)
def test_out_unwritable_filesystem(refused, where):
    """A location the kernel refuses (even to root) is one paragraph naming it."""
    if Path(where).parent.exists():
        pytest.skip(f"{Path(where).parent} exists here")
    refused([*QUICK, "--out", where], names=["--out", where])
    assert not Path(where).parent.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_read_only_folder(refused, tmp_path):
    """A read-only parent folder is refused before anything runs."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        refused([*QUICK, "--out", ro / "res"], names=["--out", "ro"], out=ro)
    finally:
        ro.chmod(0o755)


def _no_big_files() -> None:  # in the child, before exec: writes past 4 KiB fail with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_output_fills_up(tmp_path):
    """A write failing mid-run (file size limit: the disk-full path) is exit 2 naming the
    file, and the results folder is absent (its staged copy removed)."""
    out = tmp_path / "res"
    proc = subprocess.run(
        [sys.executable, "-m", "edgesched.cli", *QUICK, "--no-progress", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CASE_TIMEOUT * 2,
        preexec_fn=_no_big_files,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    shown = f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 2, shown
    assert "Traceback" not in proc.stderr, shown
    assert "too large" in proc.stderr.lower() and str(tmp_path) in proc.stderr, shown
    assert sorted(p.name for p in tmp_path.iterdir()) == [], shown


@pytest.mark.parametrize(
    "budget",
    [
        pytest.param("infh", id="infinite"),
        pytest.param("nan", id="nan"),
        pytest.param("1000h", id="over-seven-days"),
    ],
)
def test_train_budget(refused, budget):
    """--budget is a finite duration of at most seven days."""
    refused(["train", "tapfinger", "synthetic-3", "--budget", budget], names=["--budget"])


@pytest.mark.parametrize(
    ("agent", "steps"),
    [("tapfinger", "0"), ("aset", "99999999999999")],
)
def test_train_steps(refused, agent, steps):
    """--steps is a whole number from 1 to a sane bound, for every agent."""
    refused(["train", agent, "--steps", steps], names=["--steps"])


def test_train_seed_negative(refused):
    """--seed is a whole number >= 0."""
    refused(["train", "aset", "--steps", "10", "--seed", "-1"], names=["--seed"])


def test_train_out_is_a_file(refused, tmp_path):
    """train refuses an --out that is a file (TapFinger writes there while it trains)."""
    target = tmp_path / "ckpt.txt"
    target.write_text("mine")
    refused(
        ["train", "tapfinger", "--steps", "8", "--out", target],
        names=["--out", "ckpt.txt"],
        out=target,
    )


def test_resume_folder_without_checkpoint(refused, tmp_path):
    """--resume FOLDER needs the folder's checkpoint.pt."""
    folder = tmp_path / "empty-run"
    folder.mkdir()
    refused(
        ["train", "tapfinger", "--steps", "8", "--resume", folder],
        names=["--resume", "checkpoint.pt"],
        out=folder,
    )


def test_train_without_agent(refused):
    """`edgesched train` alone names the agents."""
    refused(["train"], names=["tapfinger", "aset", "ecsrl"])


def test_unknown_option(refused):
    """An unknown option is argparse's exit 2, naming it."""
    refused([*QUICK, "--sedes", "3"], names=["--sedes"])


def test_checkpoint_mismatch_before_baselines(refused):
    """A checkpoint of another agent is refused before the baselines beside it run."""
    import edgesched

    ecsrl = Path(edgesched.__file__).parent / "rl" / "checkpoints" / "ecsrl" / "ecsrl-17k.zip"
    refused(
        [*QUICK[:2], "--schedulers", "random,tapfinger", "--seeds", "1", "--checkpoint", ecsrl],
        names=["ecsrl-17k.zip"],
    )
