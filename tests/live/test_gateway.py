"""The gateway as a user runs it: a subprocess on loopback, HTTP, SIGTERM, the status page."""

from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from .conftest import Gateway, gateway


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway for the tests that only read from it."""
    with gateway(tmp_path_factory.mktemp("gw")) as gw:
        yield gw


PAYLOAD = base64.b64encode(b"\x07" * 2000).decode()


def body(**over: object) -> dict[str, object]:
    b: dict[str, object] = {
        "task": "classification",
        "payload": PAYLOAD,
        "min_accuracy": 0.5,
        "deadline_ms": 5000,
    }
    b.update(over)
    return b


def test_infer_answers_result_device_timing_and_outcome(tmp_path: Path) -> None:
    """POST /v1/infer answers the result, where it ran, the time parts and one outcome;
    /healthz, /metrics and /v1/status agree with what was served."""
    with gateway(tmp_path) as gw:
        r = httpx.post(gw.url + "/v1/infer", json=body(id="mine"), timeout=30)
        assert r.status_code == 200
        data = r.json()
        assert data["id"] == "mine" and data["outcome"] == "success"
        assert data["device"].startswith("host-core") and data["variant"] == "resnet18"
        t = data["timing_ms"]
        assert t["network_emulated"] is True and t["network"] == pytest.approx(2.016, abs=0.01)
        assert t["total"] >= t["network"] + t["compute"]
        assert httpx.get(gw.url + "/healthz").json()["status"] == "ok"
        metrics = httpx.get(gw.url + "/metrics").text
        line = f'edgesched_requests_total{{device="{data["device"]}",outcome="success"}} 1.0'
        assert line in metrics
        status = httpx.get(gw.url + "/v1/status").json()
        assert status["outcomes"]["success"] == 1 and len(status["machines"]) == 2


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"task": "translation"}, "task"),
        ({"payload": "not base64!"}, "payload"),
        ({"deadline_ms": -1}, "deadline_ms"),
        ({"min_accuracy": 2}, "min_accuracy"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_requests_are_422_naming_the_field(
    shared: Gateway, over: dict[str, object], field: str
) -> None:
    """A malformed request is HTTP 422 with a message naming its field, never a 500."""
    r = httpx.post(shared.url + "/v1/infer", json=body(**over), timeout=30)
    assert r.status_code == 422
    assert field in r.json()["detail"]


def test_openapi_describes_every_route(shared: Gateway) -> None:
    """The OpenAPI description lists the API's routes."""
    spec = httpx.get(shared.url + "/openapi.json").json()
    for route in ("/v1/infer", "/v1/status", "/v1/scenario", "/metrics", "/healthz"):
        assert route in spec["paths"]


def test_sigterm_drains_in_flight_requests_then_stops_workers(tmp_path: Path) -> None:
    """Requests in flight when SIGTERM arrives are answered; then the gateway and every
    worker process it started have exited."""
    with gateway(tmp_path) as gw:
        workers = [c.pid for c in psutil.Process(gw.proc.pid).children(recursive=True)]
        assert len(workers) >= 2
        answers: list[int] = []

        def send() -> None:
            # needs the cloud: the emulated WAN (20 ms each way, 20 ms per 50 kB) keeps it
            # in flight long enough for the signal to land first
            r = httpx.post(
                gw.url + "/v1/infer",
                json=body(min_accuracy=0.75, payload=base64.b64encode(b"\x01" * 50_000).decode()),
                timeout=30,
            )
            answers.append(r.status_code)
            assert r.json()["outcome"] == "success"

        threads = [threading.Thread(target=send) for _ in range(8)]
        for th in threads:
            th.start()
        # SIGTERM once the gateway holds some of them (bounded: threads and clients start
        # slowly on a loaded host); those not yet connected then fail to connect
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if httpx.get(gw.url + "/v1/status", timeout=5).json()["inflight"] >= 1:
                break
            time.sleep(0.01)
        gw.proc.send_signal(signal.SIGTERM)
        for th in threads:
            th.join(30)
        assert answers and answers == [200] * len(answers)
        assert gw.proc.wait(30) == 0
        # every child (workers, and multiprocessing's resource tracker, which exits when
        # the gateway's end of its pipe closes) is gone within seconds
        deadline = time.monotonic() + 10
        while (alive := [p for p in workers if _running(p)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_loadtest_counts_add_up(tmp_path: Path) -> None:
    """Every request the load generator sent has one outcome, in its summary, its records
    and the gateway's own count."""
    with gateway(tmp_path) as gw:
        out = tmp_path / "lt"
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "edgesched.live",
                "loadtest",
                gw.url,
                "--rate",
                "40",
                "--duration",
                "2",
                "--out",
                str(out),
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
        summary = json.loads((out / "summary.json").read_text())
        rows = (out / "records.csv").read_text().strip().splitlines()[1:]
        assert summary["sent"] == sum(summary["outcomes"].values()) == len(rows) > 40
        status = httpx.get(gw.url + "/v1/status").json()
        assert status["answered"] == summary["sent"]
        assert (out / "delay.png").stat().st_size > 1000


def test_status_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    """The status page, run by a real browser, fills one row per device from the live
    status (its script ran and updated the page)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    with gateway(tmp_path) as gw:
        httpx.post(gw.url + "/v1/infer", json=body(), timeout=30)
        res = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp_path / 'chrome'}",
                "--virtual-time-budget=4000",
                "--dump-dom",
                gw.url + "/",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
        dom = res.stdout
        for name in ("host-core-0", "cloud-0"):
            assert f'id="dev-{name}"' in dom
        assert 'data-updates="' in dom
        assert "success: 1" in dom
