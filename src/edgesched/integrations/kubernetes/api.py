"""The operator's calls to the Kubernetes API, over the official client, with retries.

Every call goes through :meth:`Api.call`: conflicts (409, where the caller does not handle
them itself), throttling (429), server errors (500, 502, 503, 504), time-outs and broken
connections are retried with exponential backoff. Lists are filtered on the client side
(labels, owners) and followed across ``continue`` pages, so a server that ignores selectors
gives the same answers as one that honours them. Creation is idempotent by name and owner:
an object that already exists is read back and accepted only when it belongs to the caller.
Bodies are read as plain JSON (``_preload_content=False``), not as the client's model classes.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from edgesched.core.errors import EdgeschedError
from edgesched.integrations.kubernetes.model import GROUP, PLURAL, VERSION

#: HTTP statuses retried with backoff.
RETRIED = (409, 429, 500, 502, 503, 504)
MERGE_PATCH = "application/merge-patch+json"
USER_AGENT = "edgesched-operator"


class ApiError(EdgeschedError):
    """The API refused a call for good (after the retries, or a status that is never
    retried)."""

    def __init__(self, what: str, status: int | None, reason: str) -> None:
        super().__init__(f"{what}: {status or 'no answer'} {reason}".strip())
        self.status = status


class AlreadyExists(ApiError):
    """A create found an object of that name (409 AlreadyExists)."""


class NotFound(ApiError):
    """404."""


@dataclass
class Retry:
    """Backoff: the n-th retry waits ``base * 2**n`` seconds (at most ``cap``), +-25 % jitter."""

    attempts: int = 8
    base: float = 0.05
    cap: float = 2.0
    timeout: float = 10.0  # seconds per request (connect and read)

    def wait(self, n: int) -> float:
        return min(self.cap, self.base * 2**n) * random.uniform(0.75, 1.25)


@dataclass
class Counters:
    calls: int = 0
    retries: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class Api:
    """The API calls the operator, the submitter, the report and the simulated kubelet make.

    Args:
        client: a ``kubernetes.client.ApiClient`` configured for the cluster.
        retry: the backoff policy.
    """

    def __init__(self, client: Any, retry: Retry | None = None) -> None:
        from kubernetes import client as k8s

        self.client = client
        self.core = k8s.CoreV1Api(client)
        self.custom = k8s.CustomObjectsApi(client)
        self.retry = retry or Retry()
        self.counters = Counters()

    @classmethod
    def connect(
        cls, kubeconfig: str | None = None, *, agent: str = USER_AGENT, retry: Retry | None = None
    ) -> Api:
        """The in-cluster configuration when running in a pod, else the kubeconfig (the
        ``KUBECONFIG`` variable or ``~/.kube/config`` when ``kubeconfig`` is None)."""
        from kubernetes import client as k8s
        from kubernetes import config

        configuration = k8s.Configuration()
        try:
            if kubeconfig is not None:
                raise config.ConfigException("a kubeconfig was given")
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        api_client = k8s.ApiClient(configuration)
        api_client.user_agent = agent
        return cls(api_client, retry)

    @property
    def configuration(self) -> Any:
        return self.client.configuration

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ the one call path

    def call(
        self, what: str, fn: Callable[..., Any], *args: Any, create: bool = False, **kwargs: Any
    ) -> Any:
        """``fn(*args, **kwargs)`` with retries; the decoded JSON body.

        Raises:
            AlreadyExists: a create (``create=True``) met an existing object (409).
            NotFound: 404.
            ApiError: any other refusal, or the retries ran out.
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        policy = self.retry
        last: tuple[int | None, str] = (None, "")
        for attempt in range(policy.attempts):
            self.counters.calls += 1
            try:
                resp = fn(*args, _preload_content=False, _request_timeout=policy.timeout, **kwargs)
                data = resp.data
                self._count("ok")
                return json.loads(data) if data else {}
            except ApiException as exc:
                status = exc.status
                reason = _reason(exc)
                self._count(str(status))
                if status == 409 and create:
                    raise AlreadyExists(what, status, reason) from None
                if status == 404:
                    raise NotFound(what, status, reason) from None
                if status not in RETRIED:
                    raise ApiError(what, status, reason) from None
                last = (status, reason)
            except (HTTPError, OSError) as exc:  # time-outs, refused or reset connections
                self._count(type(exc).__name__)
                last = (None, type(exc).__name__)
            if attempt + 1 < policy.attempts:
                self.counters.retries += 1
                time.sleep(policy.wait(attempt))
        raise ApiError(f"{what} (after {policy.attempts} attempts)", *last)

    def _count(self, key: str) -> None:
        by = self.counters.by_status
        by[key] = by.get(key, 0) + 1

    def _list(self, what: str, fn: Callable[..., Any], *args: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 500}
            if token:
                kwargs["_continue"] = token
            page = self.call(what, fn, *args, **kwargs)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    # ------------------------------------------------------------------ nodes and pods

    def nodes(self) -> list[dict[str, Any]]:
        return self._list("list nodes", self.core.list_node)

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Pods of a namespace, or of every namespace when None."""
        if namespace is None:
            return self._list("list pods", self.core.list_pod_for_all_namespaces)
        items = self._list("list pods", self.core.list_namespaced_pod, namespace)
        return [p for p in items if (p.get("metadata") or {}).get("namespace") in (None, namespace)]

    def ensure(
        self,
        what: str,
        create: Callable[[], Any],
        read: Callable[[], Any],
        accept: Callable[[Mapping[str, Any]], bool],
    ) -> dict[str, Any]:
        """Create an object, or accept the existing one of that name when ``accept`` says it
        is ours (a create whose answer was lost, or a restart repeating it). A 409 for an
        object that then reads as absent is retried.

        Raises:
            ApiError: an object of that name exists and is not ours.
        """
        for attempt in range(self.retry.attempts):
            try:
                return self.call(what, create, create=True)
            except AlreadyExists:
                try:
                    existing = self.call(what.replace("create", "read", 1), read)
                except NotFound:
                    time.sleep(self.retry.wait(attempt))
                    continue
                if accept(existing):
                    return existing
                raise ApiError(what, 409, "an object of that name exists and is not ours") from None
        raise ApiError(what, 409, "conflicts did not end")

    def create_pod(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a pod, or accept the one of that name that the same owner already has."""
        name = body["metadata"]["name"]
        return self.ensure(
            f"create pod {namespace}/{name}",
            lambda **kw: self.core.create_namespaced_pod(namespace, cast(Any, dict(body)), **kw),
            lambda **kw: self.core.read_namespaced_pod(name, namespace, **kw),
            lambda existing: same_owner(existing, body),
        )

    def delete_pod(self, namespace: str, name: str) -> bool:
        """Delete a pod; False when it was already gone."""
        try:
            self.call(
                f"delete pod {namespace}/{name}", self.core.delete_namespaced_pod, name, namespace
            )
            return True
        except NotFound:
            return False

    def patch_pod_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.call(
            f"patch pod {namespace}/{name} status",
            self.core.patch_namespaced_pod_status,
            name,
            namespace,
            {"status": dict(status)},
            _content_type=MERGE_PATCH,
        )

    # ------------------------------------------------------------------ EdgeTasks

    def edgetasks(self, namespace: str) -> list[dict[str, Any]]:
        items = self._list(
            "list edgetasks",
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
        )
        return [t for t in items if (t.get("metadata") or {}).get("namespace") in (None, namespace)]

    def create_edgetask(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create an EdgeTask; an existing one of that name with the same spec is accepted
        (so a repeated submit creates nothing twice)."""
        name = body["metadata"]["name"]
        c = self.custom
        return self.ensure(
            f"create edgetask {namespace}/{name}",
            lambda **kw: c.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, dict(body), **kw
            ),
            lambda **kw: c.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, **kw
            ),
            lambda existing: existing.get("spec") == body.get("spec"),
        )

    def patch_edgetask_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.call(
            f"patch edgetask {namespace}/{name} status",
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": dict(status)},
            _content_type=MERGE_PATCH,
        )

    def delete_edgetask(self, namespace: str, name: str) -> bool:
        try:
            self.call(
                f"delete edgetask {namespace}/{name}",
                self.custom.delete_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
            )
            return True
        except NotFound:
            return False

    # ------------------------------------------------------------------ ConfigMaps

    def read_config(self, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's data, or None when there is none."""
        try:
            cm = self.call(
                f"read configmap {namespace}/{name}",
                self.core.read_namespaced_config_map,
                name,
                namespace,
            )
        except NotFound:
            return None
        return dict(cm.get("data") or {})

    def write_config(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        """Create or update a ConfigMap's data (a merge patch of its keys)."""
        try:
            self.call(
                f"patch configmap {namespace}/{name}",
                self.core.patch_namespaced_config_map,
                name,
                namespace,
                {"data": dict(data)},
                _content_type=MERGE_PATCH,
            )
        except NotFound:
            body = {"metadata": {"name": name, "namespace": namespace}, "data": dict(data)}
            try:
                self.call(
                    f"create configmap {namespace}/{name}",
                    self.core.create_namespaced_config_map,
                    namespace,
                    body,
                    create=True,
                )
            except AlreadyExists:  # created meanwhile (or by our own lost answer): patch it
                self.write_config(namespace, name, data)


def same_owner(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether an existing object has the controller owner (kind, name, uid) ``wanted`` has."""

    def owner(obj: Mapping[str, Any]) -> tuple[Any, ...] | None:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("controller"):
                return (ref.get("kind"), ref.get("name"), ref.get("uid"))
        return None

    mine = owner(wanted)
    return mine is not None and owner(existing) == mine


def _reason(exc: Any) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return str(exc.reason or "")
    return str(body.get("reason") or exc.reason or "")
