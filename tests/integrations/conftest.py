"""Fixtures of the Kubernetes operator's tests: kmock's API server on loopback with the
scenario's clusters as labelled nodes, and in-process simulated runs (operator rounds plus
the simulated kubelet)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgesched.integrations.kubernetes.api import Api, Retry
from edgesched.integrations.kubernetes.kubelet import SimulatedKubelet
from edgesched.integrations.kubernetes.operator import Operator, OperatorOptions
from edgesched.integrations.kubernetes.submit import submit, trace_submissions
from edgesched.integrations.kubernetes.testing import ApiServer
from edgesched.placement.scenario import PlacementScenario, load_scenario
from edgesched.placement.workload import TraceTask, read_trace

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "deploy" / "kubernetes" / "scenario.yaml"
TRACE = ROOT / "tests" / "data" / "k8s-trace-100.csv"
CHECKPOINT = ROOT / "src" / "edgesched" / "rl" / "checkpoints" / "tapfinger" / "synthetic-3.pt"
FAST = Retry(attempts=8, base=0.01, cap=0.1, timeout=10.0)


@pytest.fixture(scope="session")
def scenario() -> PlacementScenario:
    return load_scenario(SCENARIO)[0]


@pytest.fixture(scope="session")
def trace(scenario: PlacementScenario) -> list[TraceTask]:
    return read_trace(TRACE, scenario)


@pytest.fixture()
def server(scenario: PlacementScenario, tmp_path: Path) -> Iterator[ApiServer]:
    with ApiServer() as srv:
        srv.add_nodes(scenario.capacities())
        srv.kubeconfig(tmp_path / "kubeconfig")
        yield srv


def connect(server: ApiServer, tmp_path: Path, agent: str) -> Api:
    return Api.connect(str(tmp_path / "kubeconfig"), agent=agent, retry=FAST)


@dataclass
class Run:
    """An in-process simulated run: the kubelet ticks in a thread; operators run rounds."""

    server: ApiServer
    tmp: Path
    scenario: PlacementScenario
    kubelet: SimulatedKubelet
    stop: threading.Event
    thread: threading.Thread

    def operator(self, scheduler: str, **options: object) -> Operator:
        opts = OperatorOptions(
            scheduler,
            CHECKPOINT if scheduler == "tapfinger" else None,
            str(SCENARIO),
            simulated=True,
            exit_when_done=True,
            **options,  # type: ignore[arg-type]
        )
        api = connect(self.server, self.tmp, "edgesched-operator")
        return Operator(api, opts, connect(self.server, self.tmp, "edgesched-clock"))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


@pytest.fixture()
def run(
    server: ApiServer, scenario: PlacementScenario, trace: list[TraceTask], tmp_path: Path
) -> Iterator[Run]:
    """The first 20 tasks of the trace submitted (seed 0) and a simulated kubelet ticking."""
    api = connect(server, tmp_path, "edgesched-submit")
    submit(
        api,
        "default",
        trace_submissions(scenario, 0, trace[:20], simulated=True),
        wait=False,
        progress=False,
    )
    kubelet = SimulatedKubelet(connect(server, tmp_path, "kubelet"), scenario)
    stop = threading.Event()
    thread = threading.Thread(target=kubelet.run, args=(stop,), daemon=True)
    thread.start()
    r = Run(server, tmp_path, scenario, kubelet, stop, thread)
    yield r
    r.close()
