"""The Kubernetes operator against kmock's API server: the simulator's schedule, crash
safety, retries, deletions, over-commitment, the commands."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from edgesched.core.errors import ConfigError
from edgesched.integrations.kubernetes.api import ApiError
from edgesched.integrations.kubernetes.model import (
    TASK_LABEL,
    parse_nodes,
    pod_requests,
    quantity,
)
from edgesched.integrations.kubernetes.submit import collect, report, submit, trace_submissions
from edgesched.integrations.kubernetes.testing import (
    api_schedule,
    pod_creations,
    reference_schedule,
    schedule_diff,
)

from .conftest import CHECKPOINT, FAST, SCENARIO, TRACE, Run, connect


def finish(op: object) -> None:
    op.run(threading.Event())  # type: ignore[attr-defined]


def check_run(run: Run, trace: list, scheduler: str) -> None:
    want = reference_schedule(SCENARIO, trace[:20], scheduler, 0, CHECKPOINT)
    got = api_schedule(run.server)
    assert schedule_diff(want, got) == []
    assert sorted(run.kubelet.completed) == sorted(want)  # each pod ended exactly once
    assert run.kubelet.overcommits == 0
    assert all(n == 1 for n in pod_creations(run.server).values())


# optimus-np is checked by the retry test, tiresias-np by the report test, min also by the
# restart test; the 100-task runs of all four are in benchmarks/k8s_operator.py
@pytest.mark.parametrize("scheduler", ["min", "tapfinger"])
def test_operator_gives_the_simulators_schedule(run: Run, trace: list, scheduler: str) -> None:
    """Pods ending after their simulated durations, every task gets the cluster, allocation,
    start and finish `edgesched compare` simulates."""
    finish(run.operator(scheduler))
    check_run(run, trace, scheduler)


def test_a_round_committed_before_a_crash_is_carried_out_once(run: Run, trace: list) -> None:
    """Pod creation fails for good after the round's commit; a new operator (a restart)
    carries out the journaled starts: nothing lost, nothing started twice."""
    run.server.fail("POST", r"/pods$", 500, times=10_000)
    op = run.operator("min")
    with pytest.raises(ApiError):
        finish(op)
    assert op.journal.round_t is not None  # committed, not carried out
    run.server.call(lambda e: e.failures.clear())
    finish(run.operator("min"))
    check_run(run, trace, "min")


def test_conflicts_server_errors_and_lost_answers_are_retried(run: Run, trace: list) -> None:
    """409 on status patches, 500 after the pod was created (a lost answer), 503 on lists:
    the run still gives the simulator's schedule and each pod is created once."""
    run.server.fail("PATCH", r"/edgetasks/[^/]+/status$", 409, times=5)
    run.server.fail("POST", r"/pods$", 500, times=5, commit=True)
    run.server.fail("GET", r"/edgetasks$", 503, times=3)
    op = run.operator("optimus-np")
    finish(op)
    check_run(run, trace, "optimus-np")
    assert op.api.counters.retries >= 13
    assert op.api.counters.by_status.get("500", 0) == 5


def test_retries_give_up_with_a_clear_error(run: Run) -> None:
    """A server that keeps failing ends the call with the status, after the attempts."""
    run.server.fail("GET", r"/nodes$", 500, times=100)
    op_api = connect(run.server, run.tmp, "edgesched-operator")
    with pytest.raises(ApiError, match=r"list nodes \(after 8 attempts\): 500"):
        op_api.nodes()
    assert op_api.counters.calls == FAST.attempts


def test_a_deleted_edgetask_loses_its_pod(run: Run) -> None:
    """An EdgeTask deleted while its pod runs (the operator not watching: no finalizer):
    the next round deletes the orphaned pod and frees its resources."""
    op = run.operator("min")
    op.round(0)
    running = [p["metadata"]["name"] for p in run.server.objects("pods")]
    assert running
    victim = running[0]
    api = connect(run.server, run.tmp, "test")
    assert api.delete_edgetask("default", victim)
    op.round(op.journal.next_t or 1)
    assert victim not in [p["metadata"]["name"] for p in run.server.objects("pods")]


def test_nodes_are_never_overcommitted_with_two_nodes_per_cluster(
    server, scenario, trace: list, tmp_path: Path
) -> None:
    """With each cluster split over two nodes, a decision that fits the pool but no single
    node is skipped; the kubelet never has to refuse a pod, every task completes."""
    import threading as th

    from edgesched.integrations.kubernetes.kubelet import SimulatedKubelet

    from .conftest import Run

    server.call(lambda e: [e.objects.__delitem__(k) for k in list(e.objects)])
    server.add_nodes(scenario.capacities(), per_cluster=2)
    api = connect(server, tmp_path, "edgesched-submit")
    submit(
        api,
        "default",
        trace_submissions(scenario, 1, trace[:20], simulated=True),
        wait=False,
        progress=False,
    )
    kubelet = SimulatedKubelet(connect(server, tmp_path, "kubelet"), scenario)
    stop = th.Event()
    thread = th.Thread(target=kubelet.run, args=(stop,), daemon=True)
    thread.start()
    r = Run(server, tmp_path, scenario, kubelet, stop, thread)
    try:
        finish(r.operator("optimus-np", seed=1))
    finally:
        r.close()
    assert kubelet.overcommits == 0
    assert len(set(kubelet.completed)) == len(kubelet.completed) == 20
    nodes = {n.name: n.allocatable for n in parse_nodes(api.nodes(), ["cpu", "gpu"])}
    for node, peak in kubelet.peak.items():
        assert all(p <= a for p, a in zip(peak, nodes[node], strict=True))


def test_report_is_compares_table_with_the_simulators_numbers(run: Run, trace: list) -> None:
    """`k8s report` reads the statuses into the run result `compare` tabulates: the same
    rows, mean JCT, makespan, utilisation and lower bound as the simulated run."""
    from edgesched.placement.run import simulate

    finish(run.operator("tiresias-np"))
    api = connect(run.server, run.tmp, "edgesched-report")
    got, _ = collect(api, "default", run.scenario)
    want = simulate(run.scenario, "tiresias-np", 0, trace=trace[:20], record=False)
    assert got.scheduler == "tiresias-np"
    assert sorted(got.tasks) == sorted(want.tasks)
    assert got.makespan == want.makespan
    assert got.lower_bound_mean_jct == pytest.approx(want.lower_bound_mean_jct)
    assert got.stats() == pytest.approx(want.stats())
    from edgesched.experiments.backend import Prepared
    from edgesched.experiments.worlds.placement import PlacementInputs, format_table, summarise

    inputs = PlacementInputs(SCENARIO, None, None)
    prepared = Prepared(world=run.scenario, name="edge-6", extra={"inputs": inputs})
    assert report(api, "default", run.scenario, SCENARIO) == format_table(
        summarise(prepared, [want])
    )


def test_submit_twice_creates_nothing_twice(server, scenario, trace: list, tmp_path: Path) -> None:
    """Creation is idempotent by name and spec; a different spec under a taken name fails."""
    api = connect(server, tmp_path, "edgesched-submit")
    items = trace_submissions(scenario, 0, trace[:5], simulated=True)
    submit(api, "default", items, wait=False, progress=False)
    submit(api, "default", items, wait=False, progress=False)
    assert len(server.objects("edgetasks")) == 5
    other = trace_submissions(scenario, 1, trace[5:6], simulated=True)
    with pytest.raises(ApiError, match="not ours"):
        submit(api, "default", other, wait=False, progress=False)


def test_an_elastic_scheduler_is_refused(run: Run) -> None:
    """optimus re-allocates running tasks; the operator cannot, and says which it can run."""
    with pytest.raises(ConfigError, match=r"re-allocates running tasks.*optimus-np"):
        run.operator("optimus")


def test_quantities_nodes_and_requests_are_read_as_the_api_writes_them() -> None:
    """CPU quantities in millicores, GPUs as nvidia.com/gpu; unlabelled, cordoned and
    NotReady nodes are no part of any cluster."""
    assert quantity("3500m") == 3.5 and quantity("2") == 2 and quantity(4) == 4
    with pytest.raises(ValueError):
        quantity("lots")
    nodes = [
        {
            "metadata": {"name": "a", "labels": {"edgesched.io/cluster": "c"}},
            "status": {"allocatable": {"cpu": "3500m", "nvidia.com/gpu": "2"}},
        },
        {"metadata": {"name": "b"}, "status": {"allocatable": {"cpu": "8"}}},
        {
            "metadata": {"name": "d", "labels": {"edgesched.io/cluster": "c"}},
            "spec": {"unschedulable": True},
            "status": {"allocatable": {"cpu": "8"}},
        },
        {
            "metadata": {"name": "e", "labels": {"edgesched.io/cluster": "c"}},
            "status": {
                "allocatable": {"cpu": "8"},
                "conditions": [{"type": "Ready", "status": "False"}],
            },
        },
    ]
    parsed = parse_nodes(nodes, ["cpu", "gpu"])
    assert [(n.name, n.allocatable) for n in parsed] == [("a", (3, 2))]
    pod = {
        "spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "500m", "nvidia.com/gpu": "1"}}},
                {"resources": {"limits": {"cpu": "1"}}},
            ],
            "initContainers": [{"resources": {"requests": {"cpu": "4"}}}],
        }
    }
    assert pod_requests(pod, ["cpu", "gpu"]) == [4.0, 1.0]
    assert TASK_LABEL == "edgesched.io/task"


@pytest.mark.slow
def test_killed_three_times_nothing_is_lost_or_doubled(run: Run, trace: list) -> None:
    """The operator (kopf and all, in its own process) is SIGKILLed three times during the
    run and started again: every task completes exactly once, on the simulator's schedule,
    and no node ever holds more than its allocatable."""
    from edgesched.integrations.kubernetes.testing import run_with_kills

    kills = run_with_kills(
        run.server,
        run.tmp / "kubeconfig",
        "min",
        SCENARIO,
        [2, 5, 8],
        log=run.tmp / "operator.log",
        timeout=300,
    )
    assert kills == 3
    check_run(run, trace, "min")
    assert run.kubelet.peak  # the kubelet saw the pods it admitted


def test_wall_clock_mode_runs_tasks_and_fills_their_status(
    server, scenario, trace: list, tmp_path: Path
) -> None:
    """Without simulated time, tasks arrive when created and rounds run every
    --round-seconds; a pod that ends (here: a test-side kubelet ending each pod once it has
    run 0.5 s) fills in phase, finish, JCT in timesteps and in seconds."""
    import time

    from edgesched.integrations.kubernetes.model import format_time
    from edgesched.integrations.kubernetes.operator import Operator, OperatorOptions

    api = connect(server, tmp_path, "edgesched-submit")
    items = trace_submissions(scenario, 0, trace[:6], simulated=False)
    submit(api, "default", items, wait=False, progress=False)
    options = OperatorOptions("optimus-np", None, str(SCENARIO), round_seconds=0.25)
    op = Operator(connect(server, tmp_path, "edgesched-operator"), options)
    stop = threading.Event()
    thread = threading.Thread(target=op.run, args=(stop,), daemon=True)
    thread.start()
    kubelet = connect(server, tmp_path, "kubelet")
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            for pod in kubelet.pods("default"):
                name = pod["metadata"]["name"]
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                first = seen.setdefault(name, time.monotonic())
                if time.monotonic() - first > 0.5:
                    state = {"terminated": {"exitCode": 0, "finishedAt": format_time(time.time())}}
                    kubelet.patch_pod_status(
                        "default",
                        name,
                        {
                            "phase": "Succeeded",
                            "containerStatuses": [{"name": "task", "state": state}],
                        },
                    )
            phases = [(t.get("status") or {}).get("phase") for t in server.objects("edgetasks")]
            if phases.count("Succeeded") == 6:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    statuses = [t["status"] for t in server.objects("edgetasks")]
    assert [s["phase"] for s in statuses] == ["Succeeded"] * 6
    for s in statuses:
        assert s["arrival"] <= s["start"] <= s["finish"]
        assert s["jct"] == s["finish"] - s["arrival"] + 1
        assert s["jctSeconds"] > 0.4
    assert len(op.round_times) >= 3


def test_cli_submit_creates_the_traces_edgetasks_and_report_waits_for_results(
    server, scenario, trace: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`edgesched k8s submit` creates what trace_submissions says (eligible sets of the seed,
    arrival timesteps); `report` with nothing ended is a usage error, not a traceback."""
    from edgesched.cli import main

    rows = TRACE.read_text().splitlines()[:6]
    small = tmp_path / "trace.csv"
    small.write_text("\n".join(rows) + "\n")
    kc = str(tmp_path / "kubeconfig")
    common = ["--scenario", str(SCENARIO), "--kubeconfig", kc]
    assert (
        main(["k8s", "submit", str(small), "--seed", "3", "--simulated", "--no-progress", *common])
        == 0
    )
    made = {o["metadata"]["name"]: o["spec"] for o in server.objects("edgetasks")}
    want = {
        i.body["metadata"]["name"]: i.body["spec"]
        for i in trace_submissions(scenario, 3, trace[:5], simulated=True)
    }
    assert made == want
    assert main(["k8s", "report", *common]) == 2
    assert "no EdgeTask has succeeded yet" in capsys.readouterr().err


def test_cli_refuses_an_elastic_scheduler_before_connecting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A bad --scheduler is exit status 2 with the reason, before any API call."""
    from edgesched.cli import main

    status = main(
        [
            "k8s",
            "operator",
            "--scheduler",
            "tiresias",
            "--scenario",
            str(SCENARIO),
            "--kubeconfig",
            str(tmp_path / "missing"),
        ]
    )
    assert status == 2
    assert "re-allocates running tasks" in capsys.readouterr().err


def test_no_labelled_node_means_no_decision(server, scenario, trace: list, tmp_path: Path) -> None:
    """Before any node carries edgesched.io/cluster, a round decides nothing and starts no
    pod (and does not fail); labelled nodes appearing later are used."""
    from edgesched.integrations.kubernetes.operator import Operator, OperatorOptions

    server.call(lambda e: [e.objects.__delitem__(k) for k in list(e.objects)])
    api = connect(server, tmp_path, "edgesched-submit")
    submit(
        api,
        "default",
        trace_submissions(scenario, 0, trace[:3], simulated=True),
        wait=False,
        progress=False,
    )
    options = OperatorOptions("min", None, str(SCENARIO), simulated=True)
    op = Operator(connect(server, tmp_path, "edgesched-operator"), options)
    assert op.round(0) is None
    assert server.objects("pods") == []
    server.add_nodes(scenario.capacities())
    assert op.round(0) == 0
    assert server.objects("pods")
