"""Fixtures of the live runtime's tests: a private model cache, tiny scenarios and a gateway
subprocess on an ephemeral loopback port, stopped by its process id."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test (and every process it starts) exports its tiny models into one cache."""
    path = tmp_path_factory.mktemp("models")
    old = os.environ.get("EDGESCHED_MODEL_CACHE")
    os.environ["EDGESCHED_MODEL_CACHE"] = str(path)
    yield path
    if old is None:
        del os.environ["EDGESCHED_MODEL_CACHE"]
    else:
        os.environ["EDGESCHED_MODEL_CACHE"] = old


def tiny_scenario(tmp: Path, **cloud: object) -> Path:
    """live-host with small queues (cloud overrides as keyword arguments)."""
    from edgesched.dispatch.devices.scenario import preset_dir

    text = (preset_dir() / "live-host.yaml").read_text()
    text = text.replace("devices: data/", f"devices: {preset_dir()}/data/")
    text = text.replace("processing: data/", f"processing: {preset_dir()}/data/")
    for key, value in cloud.items():
        text = text.replace(f"  {key}: ", f"  {key}: {value} #", 1)
    path = tmp / "tiny.yaml"
    path.write_text(text)
    return path


class Gateway:
    """A running ``python -m edgesched.live serve`` subprocess."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM by pid, then SIGKILL by pid if it does not end in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)


@contextlib.contextmanager
def gateway(tmp: Path, scenario: str | Path = "live-host", *args: str) -> Iterator[Gateway]:
    port_file = tmp / f"port-{time.monotonic_ns()}"
    log = tmp / f"gateway-{time.monotonic_ns()}.log"
    cmd = [
        sys.executable,
        "-m",
        "edgesched.live",
        "serve",
        str(scenario),
        "--tiny",
        "--port",
        "0",
        "--port-file",
        str(port_file),
        *args,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    gw = None
    try:
        deadline = time.monotonic() + 90
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        gw = Gateway(proc, f"http://127.0.0.1:{port_file.read_text().strip()}", log)
        yield gw
    finally:
        if gw is not None:
            gw.stop()
        elif proc.poll() is None:
            proc.kill()
            proc.wait(10)
