"""The hostile-input suite: every case runs the real ``edgesched`` command line (``main()`` in
this process by default, a subprocess with ``env`` or EDGESCHED_HOSTILE_SUBPROCESS=1).

Use the ``refused`` fixture (a bound :func:`assert_refused`)::

    def test_binary_yaml(refused, tmp_path):
        bad = tmp_path / "bad.yaml"
        bad.write_bytes(b"\\xff\\xfe\\x00")
        refused(["compare", str(bad)], names=["bad.yaml"])

``assert_refused(args, *, cwd, names=(), out=None, marker=None, timeout=10.0, env=None)`` runs
``edgesched *args`` with ``cwd`` as the working directory (so the default
``runs/`` folder lands there) and a ``timeout`` in seconds (a hang fails the test), then
asserts:

- exit status 2;
- no ``Traceback`` on standard error;
- every string of ``names`` (the file, the field, ...) appears on standard error
  (case-insensitive);
- the ``marker`` file (default ``cwd / "PWNED"``, what the hostile pickles would write) does
  not exist;
- nothing was written under ``out`` (when given: it does not exist, or is exactly as it was
  before the run) nor under ``cwd / "runs"``.

It returns the ``subprocess.CompletedProcess`` for further checks. The ``marker`` fixture is
the marker path for this test (``tmp_path / "PWNED"``); ``edgesched(args, cwd=..., timeout=...)``
just runs the command and returns the completed process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

#: Seconds a hostile case may take (a hang fails the test); EDGESCHED_HOSTILE_TIMEOUT raises
#: it on a machine so loaded that starting Python and torch alone takes seconds.
TIMEOUT = float(os.environ.get("EDGESCHED_HOSTILE_TIMEOUT", "10"))


#: Set EDGESCHED_HOSTILE_SUBPROCESS=1 to run every case as its own process (slower: each
#: start costs an interpreter and the imports; the default runs ``main()`` in this process,
#: which exercises the same code and error boundary).
SUBPROCESS = os.environ.get("EDGESCHED_HOSTILE_SUBPROCESS") == "1"


class _Hang(BaseException):
    """Raised by the alarm of an in-process case (a BaseException: no handler of the command
    line may swallow it)."""


def _in_process(
    args: Sequence[str | Path], *, cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``edgesched.cli.main(args)`` in ``cwd`` with its output captured and a wall-clock
    alarm; an exception escaping ``main`` is written to the captured stderr as a traceback
    (which the checks then refuse)."""
    import contextlib
    import io
    import signal
    import traceback

    from edgesched.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()

    def alarm(*_: Any) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except _Hang:
                pytest.fail(f"edgesched {' '.join(map(str, args))}: no answer within {timeout} s")
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(here)
    return subprocess.CompletedProcess(list(map(str, args)), code, out.getvalue(), err.getvalue())


def edgesched(
    args: Sequence[str | Path],
    *,
    cwd: Path,
    timeout: float = TIMEOUT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``edgesched *args`` in ``cwd`` (in this process unless ``env`` is given or
    EDGESCHED_HOSTILE_SUBPROCESS=1); a case still running after ``timeout`` fails the test."""
    if not SUBPROCESS and env is None:
        return _in_process(args, cwd=cwd, timeout=timeout)
    full_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    try:
        return subprocess.run(
            [sys.executable, "-m", "edgesched.cli", *map(str, args)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"edgesched {' '.join(map(str, args))}: no answer within {timeout} s")


def _snapshot(path: Path) -> list[tuple[str, int]] | None:
    if not path.exists():
        return None
    if path.is_file():
        return [(path.name, path.stat().st_size)]
    return sorted(
        (str(p.relative_to(path)), p.stat().st_size if p.is_file() else -1) for p in path.rglob("*")
    )


def assert_refused(
    args: Sequence[str | Path],
    *,
    cwd: Path,
    names: Sequence[str] = (),
    out: Path | None = None,
    marker: Path | None = None,
    timeout: float = TIMEOUT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``edgesched *args`` and assert it is refused cleanly (see the module docstring)."""
    marker = cwd / "PWNED" if marker is None else marker
    runs = cwd / "runs"
    before_out = None if out is None else _snapshot(out)
    before_runs = _snapshot(runs)
    proc = edgesched(args, cwd=cwd, timeout=timeout, env=env)
    shown = (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    assert not marker.exists(), f"the payload ran: {marker} exists\n{shown}"
    assert "Traceback" not in proc.stderr, shown
    assert proc.returncode == 2, shown
    for name in names:
        assert name.lower() in proc.stderr.lower(), f"{name!r} not named\n{shown}"
    if out is not None:
        assert _snapshot(out) == before_out, f"{out} was written\n{shown}"
    assert _snapshot(runs) == before_runs, f"{runs} was written\n{shown}"
    return proc


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """Where a hostile payload would leave its mark (it must never appear)."""
    return tmp_path / "PWNED"


@pytest.fixture
def refused(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`assert_refused` with ``cwd`` bound to this test's ``tmp_path``."""

    def run(args: Sequence[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("cwd", tmp_path)
        return assert_refused(args, **kwargs)

    return run
