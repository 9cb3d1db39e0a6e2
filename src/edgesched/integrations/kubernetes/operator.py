"""The operator: every decision round, the API's state becomes the placement world's, a
registered placement scheduler decides, and the placed tasks start as pods.

One round (one world timestep), in order:

1. *observe*: list the nodes, every pod, and the namespace's EdgeTasks (three list calls);
2. *reconcile*: pods that ended fill in their EdgeTask's status (phase, finish, JCT) and free
   their resources; pods whose EdgeTask is gone are deleted;
3. *decide*: :class:`~edgesched.integrations.kubernetes.mirror.Mirror` rebuilds the world of
   the timestep and runs its decision rounds with the scheduler, through the interface the
   simulator uses (``reset`` once, then ``decide`` per round);
4. *commit*: the starts, the pending slots and the random streams go to the journal
   (:mod:`~edgesched.integrations.kubernetes.journal`) before anything is started;
5. *carry out*: each start's EdgeTask gets status ``Scheduled`` (cluster, node, allocation,
   start) and a pod, owned by it, bound to the chosen node (``spec.nodeName``), with the
   decided CPUs and GPUs (``nvidia.com/gpu``) as requests and limits. Creation is idempotent by
   name and owner, so carrying out a round twice (after a crash) starts nothing twice.

Time runs in one of two modes. In wall-clock mode a timestep is ``round_seconds`` long and a
task arrives at the timestep of its creation. In simulated time (tests, benchmarks) timestep
``t`` is a logical clock: an EdgeTask arrives at its ``spec.arrivalTimestep``, the operator
moves the clock after carrying out a round, and waits, before deciding the next one, until the
simulated kubelet (:mod:`~edgesched.integrations.kubernetes.kubelet`) has acknowledged it, so
pods end exactly after their simulated durations and a run gives the simulator's schedule.

kopf runs beside the round loop (:func:`run`): it puts a finalizer on every EdgeTask and, when
one is deleted, deletes its pod before letting it go.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesched.core.errors import ConfigError
from edgesched.core.rng import RandomStreams
from edgesched.experiments.backend import make_scheduler
from edgesched.integrations.kubernetes.api import Api, ApiError
from edgesched.integrations.kubernetes.journal import Journal
from edgesched.integrations.kubernetes.mirror import (
    DONE,
    STARTED,
    WAITING,
    Mirror,
    Start,
    TaskRecord,
)
from edgesched.integrations.kubernetes.model import (
    API_VERSION,
    CLUSTER_LABEL,
    FAILED,
    FINAL_PHASES,
    JOURNAL_NAME,
    KIND,
    KUBELET_NAME,
    RESOURCE_NAMES,
    RUNNING,
    SCHEDULED,
    START_ANNOTATION,
    SUCCEEDED,
    TASK_LABEL,
    UNSCHEDULABLE,
    check_resources,
    format_time,
    parse_nodes,
    parse_spec,
    parse_time,
    pod_finished_at,
    pod_requests,
    pod_terminated,
    whole,
)
from edgesched.placement.scenario import PlacementScenario, load_scenario
from edgesched.placement.schedulers import SCHEDULERS, PlacementScheduler

log = logging.getLogger("edgesched.k8s")


@dataclass
class OperatorOptions:
    """What ``edgesched k8s operator`` runs.

    Attributes:
        scheduler: a registered placement scheduler (non-elastic).
        checkpoint: a learned scheduler's checkpoint.
        scenario: the placement scenario giving the world's rules (pending slots, mode,
            allocation grid, task types, timestep); its clusters are replaced by the nodes.
        namespace: where the EdgeTasks and their pods live.
        seed: the run's random streams (policy, conflicts).
        round_seconds: wall-clock mode: seconds per timestep (default the scenario's).
        simulated: run on the logical clock acknowledged by the simulated kubelet.
        exit_when_done: stop once every EdgeTask has ended (simulated time, for runs).
        kubeconfig: a kubeconfig file (default: in-cluster, then ``KUBECONFIG``).
        liveness: kopf's liveness endpoint (``http://0.0.0.0:8080/healthz``), or None.
    """

    scheduler: str
    checkpoint: Path | None = None
    scenario: str = "hetero-6"
    namespace: str = "default"
    seed: int = 0
    round_seconds: float | None = None
    simulated: bool = False
    exit_when_done: bool = False
    kubeconfig: str | None = None
    liveness: str | None = None


@dataclass
class Observed:
    """One round's reading of the API."""

    nodes: list[Any]
    used: dict[str, list[float]]
    tasks: dict[str, dict[str, Any]]  # EdgeTask name -> object (not being deleted)
    pods: dict[str, dict[str, Any]]  # EdgeTask name -> its pod
    deleting: list[str] = field(default_factory=list)


def build_scheduler(options: OperatorOptions, scenario: PlacementScenario) -> PlacementScheduler:
    """The registered scheduler, checked against the scenario; elastic ones are refused."""
    sched = make_scheduler(SCHEDULERS, options.scheduler, options.checkpoint)
    if sched.elastic:
        raise ConfigError(
            f"--scheduler {options.scheduler}: it re-allocates running tasks, which the "
            "operator does not do (a pod's requests cannot change without restarting it); use "
            f"a non-preemptive scheduler ({', '.join(non_elastic())})."
        )
    sched.check(scenario)
    return sched


def non_elastic() -> list[str]:
    """The registered schedulers the operator can run (the learned ones are non-elastic)."""
    return [
        n
        for n in SCHEDULERS.names()
        if SCHEDULERS.tags(n).get("checkpoint") or not SCHEDULERS.make(n).elastic
    ]


class Operator:
    """The round loop (see the module docstring)."""

    def __init__(self, api: Api, options: OperatorOptions, clock_api: Api | None = None) -> None:
        scenario, _ = load_scenario(options.scenario)
        check_resources(scenario)
        self.api = api
        self.clock_api = clock_api or api
        self.options = options
        self.scenario = scenario
        self.ns = options.namespace
        self.R = len(scenario.resources)
        self.resources = list(scenario.resources)
        self.round_seconds = options.round_seconds or scenario.timestep_seconds
        if not (math.isfinite(self.round_seconds) and self.round_seconds > 0):
            raise ConfigError(f"--round-seconds {self.round_seconds}: expected a number > 0.")
        self.scheduler = build_scheduler(options, scenario)
        self.mirror = Mirror(scenario, options.seed)
        self.policy = RandomStreams(options.seed)["policy"]
        self.needs_reset = True
        self.reset_for: list[str] = []
        self.round_times: list[float] = []  # seconds per decision round (observe .. commit)
        self.full_times: list[float] = []  # ... and until its pods exist
        self.placed = 0
        self.journal = self._load_journal()
        log.info("operator ready: %s on %s", options.scheduler, self.scenario.name)

    # ------------------------------------------------------------------ journal

    def _load_journal(self) -> Journal:
        where = f"ConfigMap {self.ns}/{JOURNAL_NAME}"
        data = self.api.read_config(self.ns, JOURNAL_NAME)
        o = self.options
        if data and data.get("journal"):
            journal = Journal.loads(data["journal"], where)
            journal.check(o.scheduler, o.seed, self.scenario.name, o.simulated, where)
            log.info("resuming from %s at timestep %s", where, journal.next_t)
            return journal
        return Journal(o.scheduler, o.seed, self.scenario.name, o.simulated, time.time())

    def _write_journal(self) -> None:
        self.api.write_config(self.ns, JOURNAL_NAME, {"journal": self.journal.dumps()})

    # ------------------------------------------------------------------ observe

    def observe(self) -> Observed:
        nodes = parse_nodes(self.api.nodes(), self.resources)
        pods = self.api.pods(None)
        raw_tasks = self.api.edgetasks(self.ns)
        used: dict[str, list[float]] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if not node or pod_terminated(pod):
                continue
            u = used.setdefault(node, [0.0] * self.R)
            for r, v in enumerate(pod_requests(pod, self.resources)):
                u[r] += v
        tasks: dict[str, dict[str, Any]] = {}
        deleting = []
        for obj in raw_tasks:
            meta = obj.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                deleting.append(meta["name"])
            else:
                tasks[meta["name"]] = obj
        mine: dict[str, dict[str, Any]] = {}
        for pod in pods:
            meta = pod.get("metadata") or {}
            task = (meta.get("labels") or {}).get(TASK_LABEL)
            if task is None or meta.get("namespace", self.ns) != self.ns:
                continue
            owner = tasks.get(task)
            if owner is None or not _owned_by(pod, owner):
                if task in deleting or owner is None:
                    mine[task] = pod  # an orphan of ours: deleted in reconcile
                continue
            mine[task] = pod
        return Observed(nodes, used, tasks, mine, deleting)

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, seen: Observed, t: int) -> list[TaskRecord]:
        """Statuses from pods; the mirror's task records."""
        records = []
        pending = {s.task for s in self.journal.starts()}
        for name, pod in list(seen.pods.items()):
            if name not in seen.tasks:  # its EdgeTask is gone or going: the pod goes too
                self.api.delete_pod(self.ns, pod["metadata"]["name"])
                del seen.pods[name]
        for name, obj in seen.tasks.items():
            status = obj.get("status") or {}
            phase = status.get("phase")
            try:
                spec = parse_spec(obj)
            except ConfigError as exc:
                if phase != FAILED:
                    self.api.patch_edgetask_status(
                        self.ns, name, {"phase": FAILED, "message": str(exc)}
                    )
                continue
            arrival = self._arrival(obj, spec, status, t)
            rec = TaskRecord(name, spec, arrival)
            found = seen.pods.get(name)
            if found is not None:
                self._from_pod(rec, obj, found, status, t)
            elif phase in FINAL_PHASES:
                rec.state = DONE
                rec.cluster = status.get("cluster")
                rec.alloc = _alloc(status, self.resources)
                rec.start, rec.finish = status.get("start"), status.get("finish")
            elif phase in (SCHEDULED, RUNNING) and name not in pending:
                self.api.patch_edgetask_status(
                    self.ns,
                    name,
                    {"phase": FAILED, "message": "its pod was deleted before it ended"},
                )
                continue
            records.append(rec)
        return records

    def _arrival(self, obj: Mapping[str, Any], spec: Any, status: Mapping[str, Any], t: int) -> int:
        if self.options.simulated:
            if spec.arrivalTimestep is not None:
                return int(spec.arrivalTimestep)
            return int(status.get("arrival", t))
        created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
        if created is None:
            return int(status.get("arrival", t))
        return max(0, math.floor((created - self.journal.epoch) / self.round_seconds))

    def _from_pod(
        self,
        rec: TaskRecord,
        obj: Mapping[str, Any],
        pod: Mapping[str, Any],
        status: Mapping[str, Any],
        t: int,
    ) -> None:
        meta = pod.get("metadata") or {}
        rec.cluster = (meta.get("labels") or {}).get(CLUSTER_LABEL)
        rec.alloc = whole(pod_requests(pod, self.resources))
        ann = meta.get("annotations") or {}
        rec.start = int(status.get("start", ann.get(START_ANNOTATION, t)))
        rec.seq = int(status.get("seq", 0))
        if not pod_terminated(pod):
            rec.state = STARTED
            if (pod.get("status") or {}).get("phase") == "Running" and status.get(
                "phase"
            ) == SCHEDULED:
                self.api.patch_edgetask_status(self.ns, rec.name, {"phase": RUNNING})
            return
        rec.state = DONE
        if status.get("phase") in FINAL_PHASES and status.get("finish") is not None:
            rec.finish = int(status["finish"])
            return
        if self.options.simulated:
            finish = t - 1  # the kubelet ended it in the timestep before this round
            end = time.time()
        else:
            end = pod_finished_at(pod) or time.time()
            finish = max(rec.start, math.floor((end - self.journal.epoch) / self.round_seconds))
        rec.finish = finish
        ok = (pod.get("status") or {}).get("phase") == "Succeeded"
        created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
        patch: dict[str, Any] = {
            "phase": SUCCEEDED if ok else FAILED,
            "finish": finish,
            "jct": finish - rec.arrival + 1,
            "finishTime": format_time(end),
        }
        if created is not None:
            patch["jctSeconds"] = round(end - created, 3)
        if not ok:
            patch["message"] = "its pod failed"
        self.api.patch_edgetask_status(self.ns, rec.name, patch)

    # ------------------------------------------------------------------ carry out

    def carry_out(self, starts: Sequence[Start], t: int, seen: Observed) -> None:
        """Status ``Scheduled`` and a pod for each start (idempotent)."""
        for s in starts:
            obj = seen.tasks.get(s.task)
            if obj is None:  # deleted meanwhile
                continue
            spec = parse_spec(obj)
            arrival = self._arrival(obj, spec, obj.get("status") or {}, t)
            alloc = dict(zip(self.resources, s.alloc, strict=True))
            self.api.patch_edgetask_status(
                self.ns,
                s.task,
                {
                    "phase": SCHEDULED,
                    "message": None,
                    "cluster": s.cluster,
                    "node": s.node,
                    "allocation": alloc,
                    "arrival": arrival,
                    "start": t,
                    "seq": s.seq,
                    "startTime": format_time(time.time()),
                },
            )
            self.api.create_pod(self.ns, self.pod_body(obj, spec, s, t))
            self.placed += 1

    def pod_body(self, obj: Mapping[str, Any], spec: Any, s: Start, t: int) -> dict[str, Any]:
        meta = obj.get("metadata") or {}
        amounts = {
            RESOURCE_NAMES[r]: str(a) for r, a in zip(self.resources, s.alloc, strict=True) if a
        }
        container: dict[str, Any] = {
            "name": "task",
            "image": spec.image,
            "resources": {"requests": dict(amounts), "limits": dict(amounts)},
        }
        if spec.command:
            container["command"] = list(spec.command)
        if spec.args:
            container["args"] = list(spec.args)
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": s.task,
                "namespace": self.ns,
                "labels": {TASK_LABEL: s.task, CLUSTER_LABEL: s.cluster},
                "annotations": {START_ANNOTATION: str(t)},
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": KIND,
                        "name": s.task,
                        "uid": meta.get("uid"),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {"nodeName": s.node, "restartPolicy": "Never", "containers": [container]},
        }

    # ------------------------------------------------------------------ one round

    def round(self, t: int) -> int | None:
        """Decide timestep ``t`` (or a later one, skipping a stretch with nothing in the
        system); return the timestep decided, or None when there is nothing to decide."""
        j = self.journal
        if j.round_t is not None:  # committed before a crash, not yet carried out
            seen = self.observe()
            self.carry_out(j.starts(), j.round_t, seen)
            self._finish_round(j.round_t)
            return j.round_t
        begin = time.perf_counter()
        seen = self.observe()
        if not seen.nodes:
            log.warning(
                "no schedulable node carries the label %s: nothing to decide", CLUSTER_LABEL
            )
            return None
        records = self.reconcile(seen, t)
        self.mirror.forget(set(seen.tasks))
        skipped_to = self._skip_idle(records, t)
        if skipped_to is None:
            return None
        t = skipped_to
        built = self.mirror.build(t, seen.nodes, seen.used, records, j.slots, j.conflict)
        for name in built.skipped:
            status = (seen.tasks[name].get("status") or {}) if name in seen.tasks else {}
            if status.get("phase") != UNSCHEDULABLE:
                self.api.patch_edgetask_status(
                    self.ns,
                    name,
                    {
                        "phase": UNSCHEDULABLE,
                        "message": "no eligible cluster exists, or no duration and an "
                        "unknown task type",
                    },
                )
        if self.needs_reset or self.reset_for != built.clusters:
            # once per process, and again when the set of clusters changes (a scheduler may
            # size itself by the clusters); the random state continues from the journal
            self.scheduler.reset(built.sim, self.policy)
            if j.policy is not None:
                self.policy.bit_generator.state = j.policy
                self.scheduler.set_state(j.scheduler_state)
            self.needs_reset = False
            self.reset_for = list(built.clusters)
        starts = self.mirror.decide(built, self.scheduler, j.seq)
        sim = built.sim
        j.round_t = t
        j.round_starts = [s.as_json() for s in starts]
        j.slots = built.slots()
        j.policy = dict(self.policy.bit_generator.state)
        j.conflict = dict(sim.streams["conflict"].bit_generator.state)
        j.scheduler_state = self.scheduler.get_state()
        j.seq += len(starts)
        j.rounds += sim.rounds
        j.conflicts += sim.conflicts
        j.next_t = t + 1
        self._write_journal()  # the commit point
        self.round_times.append(time.perf_counter() - begin)
        log.info("timestep %d: %d started, decided in %.3f s", t, len(starts), self.round_times[-1])
        self.carry_out(starts, t, seen)
        self._finish_round(t)
        self.full_times.append(time.perf_counter() - begin)
        return t

    def _finish_round(self, t: int) -> None:
        j = self.journal
        j.round_t = None
        j.round_starts = []
        j.next_t = t + 1
        if self.options.simulated:
            j.clock = t + 1
        self._write_journal()

    def _skip_idle(self, records: Sequence[TaskRecord], t: int) -> int | None:
        """Simulated time: jump over timesteps with nothing in the system (as the simulator
        does); None when no task waits or runs."""
        if not self.options.simulated:
            return t
        if any(r.state == STARTED for r in records) or any(
            r.state == WAITING and r.arrival <= t for r in records
        ):
            return t
        future = [r.arrival for r in records if r.state == WAITING]
        return min(future) if future else None

    def done(self) -> bool:
        """Every EdgeTask has ended (and there is at least one)."""
        tasks = self.api.edgetasks(self.ns)
        phases = [(t.get("status") or {}).get("phase") for t in tasks]
        return bool(tasks) and all(p in FINAL_PHASES or p == UNSCHEDULABLE for p in phases)

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Decision rounds until ``stop`` is set (or, with ``exit_when_done``, every task has
        ended)."""
        if self.options.simulated:
            self._run_simulated(stop)
        else:
            self._run_wall(stop)

    def _run_simulated(self, stop: threading.Event) -> None:
        j = self.journal
        while not stop.is_set():
            if j.clock is not None and not self._kubelet_caught_up(j.clock, stop):
                return
            t = j.next_t if j.next_t is not None else 0
            decided = self.round(t)
            if decided is None:
                if self.options.exit_when_done and self.done():
                    return
                stop.wait(0.05)

    def _kubelet_caught_up(self, clock: int, stop: threading.Event) -> bool:
        """Wait until the simulated kubelet has carried out every timestep before ``clock``."""
        while not stop.is_set():
            data = self.clock_api.read_config(self.ns, KUBELET_NAME) or {}
            if int(data.get("clock", -1)) >= clock:
                return True
            stop.wait(0.002)
        return False

    def _run_wall(self, stop: threading.Event) -> None:
        j = self.journal
        while not stop.is_set():
            now_t = math.floor((time.time() - j.epoch) / self.round_seconds)
            if j.next_t is None or j.next_t <= now_t or j.round_t is not None:
                try:
                    self.round(max(now_t, j.next_t or 0))
                except ApiError as exc:  # the API is down for longer than the retries
                    log.warning("decision round failed, trying again next round: %s", exc)
            wake = j.epoch + (math.floor((time.time() - j.epoch) / self.round_seconds) + 1) * (
                self.round_seconds
            )
            stop.wait(max(0.0, wake - time.time()))


def _owned_by(pod: Mapping[str, Any], task: Mapping[str, Any]) -> bool:
    uid = (task.get("metadata") or {}).get("uid")
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == KIND and ref.get("controller") and ref.get("uid") == uid:
            return True
    return False


def _alloc(status: Mapping[str, Any], resources: Sequence[str]) -> tuple[int, ...]:
    a = status.get("allocation") or {}
    return tuple(int(a.get(r, 0)) for r in resources)


# ----------------------------------------------------------------------------- with kopf


def connection_info(configuration: Any) -> Any:
    """kopf's credentials, from the official client's configuration (one source of truth)."""
    import kopf

    auth = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get(
        "BearerToken"
    )
    scheme, token = None, None
    if auth:
        scheme, _, token = auth.partition(" ")
        if not token:
            scheme, token = "Bearer", scheme
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        scheme=scheme,
        token=token,
    )


def run(options: OperatorOptions) -> int:
    """The operator until it is stopped (SIGINT, SIGTERM) or, with ``exit_when_done``, until
    every EdgeTask has ended: kopf (finalizers, deletions) beside the round loop (a thread,
    as the official client is synchronous)."""
    import asyncio

    import kopf

    from edgesched.integrations.kubernetes.model import GROUP, PLURAL, VERSION

    api = Api.connect(options.kubeconfig)
    clock_api = (
        Api.connect(options.kubeconfig, agent="edgesched-clock") if options.simulated else None
    )
    operator = Operator(api, options, clock_api)
    stop = threading.Event()
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def _login(**_: Any) -> Any:
        return connection_info(api.configuration)

    settings = kopf.OperatorSettings()
    settings.posting.level = logging.WARNING  # events for warnings and errors only
    settings.persistence.finalizer = f"{GROUP}/delete-pod"
    settings.watching.server_timeout = 120
    settings.watching.client_timeout = 150
    # The namespace is given: no listing of namespaces or resources (fewer permissions)
    settings.scanning.disabled = True

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def _deleted(name: str, namespace: str | None, **_: Any) -> None:
        if api.delete_pod(namespace or options.namespace, name):
            log.info("EdgeTask %s/%s deleted: its pod is deleted", namespace, name)

    @kopf.on.probe(id="rounds", registry=registry)
    def _probe(**_: Any) -> int:
        return len(operator.round_times)

    async def main() -> None:
        stop_flag: asyncio.Event = asyncio.Event()
        rounds = asyncio.create_task(asyncio.to_thread(operator.run, stop))
        watcher = asyncio.create_task(
            kopf.operator(
                registry=registry,
                namespaces=[options.namespace],
                standalone=True,
                stop_flag=stop_flag,
                settings=settings,
                liveness_endpoint=options.liveness,
            )
        )
        try:
            await asyncio.wait({rounds, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()
            stop_flag.set()
            await asyncio.gather(rounds, watcher, return_exceptions=True)
        rounds.result()  # the round loop's error, if it had one

    try:
        asyncio.run(main())
    finally:
        stop.set()
        api.close()
        if clock_api is not None:
            clock_api.close()
    return 0
