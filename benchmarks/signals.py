"""How fast a stop signal ends `edgesched compare --jobs 2`, and what outlives it.

Starts ``edgesched compare testbed-6 --seeds 40 --jobs 2`` in a fresh folder, waits until
both workers and the resource tracker run and the cells have been going a while, records
every descendant process, sends the signal, and prints one JSON object per signal: the
seconds from the signal to the command's exit, its exit status, the processes still alive
at the exit and one second later (target: 0), the seconds until the last one was gone,
and any ``.partial`` folder or lock file left behind (target: none).

    python benchmarks/signals.py                 # SIGTERM, three repeats
    python benchmarks/signals.py --signals TERM,INT,HUP --repeats 1
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

COMMAND = ["compare", "testbed-6", "--seeds", "40", "--jobs", "2", "--no-progress"]


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def once(sig: signal.Signals, warm_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        out = cwd / "res"
        with (cwd / "stderr.txt").open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "edgesched.cli", *COMMAND, "--out", str(out)],
                cwd=cwd,
                stdout=subprocess.DEVNULL,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            parent = psutil.Process(proc.pid)
            deadline = time.monotonic() + 60
            kids: list[psutil.Process] = []
            while time.monotonic() < deadline and proc.poll() is None:
                kids = parent.children(recursive=True)
                if len(kids) >= 3:  # two workers and the resource tracker
                    break
                time.sleep(0.05)
            time.sleep(warm_s)
            kids = parent.children(recursive=True)
            if proc.poll() is not None:
                return {"signal": sig.name, "error": "finished before the signal"}
            t0 = time.perf_counter()
            proc.send_signal(sig)
            try:
                status = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                status = None
            exit_s = time.perf_counter() - t0
            at_exit = len(_alive(kids))
            gone_s = None
            while time.perf_counter() - t0 < exit_s + 10:
                if not _alive(kids):
                    gone_s = time.perf_counter() - t0
                    break
                time.sleep(0.01)
            time.sleep(max(0.0, t0 + exit_s + 1.0 - time.perf_counter()))
            survivors = _alive(kids)
            for p in survivors:  # do not leave them running on a shared machine
                p.kill()
            if status is None:
                proc.kill()
                proc.wait()
        left = sorted(p.name for p in cwd.iterdir() if p.name.startswith("."))
        return {
            "signal": sig.name,
            "exit_status": status,
            "expected_status": 128 + sig.value,
            "exit_s": round(exit_s, 3),
            "children_before": len(kids),
            "alive_at_exit": at_exit,
            "surviving_after_1s": len(survivors),
            "all_gone_s": None if gone_s is None else round(gone_s, 3),
            "left_behind": left + (["res"] if out.exists() else []),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signals", default="TERM", help="comma-separated: TERM, INT, HUP")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warm", type=float, default=2.0, help="seconds of work before the signal")
    a = ap.parse_args()
    runs = [
        once(signal.Signals["SIG" + name.strip().upper()], a.warm)
        for name in a.signals.split(",")
        for _ in range(a.repeats)
    ]
    times = [r["exit_s"] for r in runs if "exit_s" in r]
    print(
        json.dumps(
            {
                "command": "edgesched " + " ".join(COMMAND),
                "runs": runs,
                "exit_s_median": round(statistics.median(times), 3) if times else None,
                "exit_s_max": max(times) if times else None,
                "surviving_processes_total": sum(r.get("surviving_after_1s", 0) for r in runs),
                "wrong_status": sum(r.get("exit_status") != r.get("expected_status") for r in runs),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
