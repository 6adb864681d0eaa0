"""The Kubernetes API, read-only, through the official client.

Calls ask for the raw JSON (`_preload_content=False`) and validate it into the small models
of `k8s_models`: the client's own deserialisation cost 1 s per 1,000 pods.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from pydantic import BaseModel, ValidationError

from bot.config import KubernetesSettings
from bot.errors import Forbidden, NotFound, SourceError, Timeout, Unavailable
from bot.sources.k8s_models import (
    Endpoints,
    Event,
    EventList,
    K8sList,
    Node,
    NodeClaim,
    NodeClaimList,
    NodeList,
    NodePool,
    NodePoolList,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimList,
    PersistentVolumeList,
    Pod,
    PodList,
    Service,
    ServiceList,
)
from bot.words import plural

M = TypeVar("M", bound=BaseModel)
L = TypeVar("L", bound=K8sList)
LIST_PAGE = 5000


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    ready: bool
    reason: str = ""
    unschedulable: bool = False
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PodInfo:
    name: str
    namespace: str
    phase: str
    healthy: bool
    reason: str = ""
    node: str = ""
    restarts: int = 0


def build_api_client(settings: KubernetesSettings) -> k8s.ApiClient:
    """In-cluster, kubeconfig or an explicit URL. `auto` tries in-cluster, then kubeconfig."""
    cfg = k8s.Configuration()
    try:
        if settings.mode == "url" or (settings.mode == "auto" and settings.url):
            cfg.host = str(settings.url).rstrip("/")
            cfg.verify_ssl = settings.verify_tls
            if settings.token is not None:
                bearer = f"Bearer {settings.token.get_secret_value()}"
                # Client 36 reads the key under "BearerToken", older ones under
                # "authorization"; a prefix set under the old name would be silently dropped.
                cfg.api_key = {"authorization": bearer, "BearerToken": bearer}
        elif settings.mode == "incluster":
            k8s_config.load_incluster_config(client_configuration=cfg)
        elif settings.mode == "kubeconfig":
            k8s_config.load_kube_config(
                config_file=settings.kubeconfig, context=settings.context, client_configuration=cfg
            )
        else:
            try:
                k8s_config.load_incluster_config(client_configuration=cfg)
            except ConfigException:
                k8s_config.load_kube_config(
                    config_file=settings.kubeconfig,
                    context=settings.context,
                    client_configuration=cfg,
                )
    except (ConfigException, OSError) as exc:
        raise SourceError("kubernetes", f"no usable configuration: {exc}") from None
    cfg.retries = 1  # a 3 a.m. answer that is late is worse than an honest "unknown"
    return k8s.ApiClient(cfg)


class KubernetesSource:
    name = "kubernetes"

    def __init__(self, settings: KubernetesSettings, page_size: int = LIST_PAGE) -> None:
        self._settings = settings
        self.page_size = page_size
        self._timeout = (min(3.0, settings.timeout_s), settings.timeout_s)
        self._api: k8s.CoreV1Api | None = None
        self._custom: k8s.CustomObjectsApi | None = None
        self._lock = threading.Lock()

    @property
    def core(self) -> k8s.CoreV1Api:
        # Built lazily so a bot without cluster access still starts and says why per row.
        with self._lock:
            if self._api is None:
                self._api = k8s.CoreV1Api(build_api_client(self._settings))
            return self._api

    @property
    def custom(self) -> k8s.CustomObjectsApi:
        """CRDs (Karpenter's NodeClaims and NodePools), sharing the core API's client."""
        core = self.core
        with self._lock:
            if self._custom is None:
                self._custom = k8s.CustomObjectsApi(core.api_client)
            return self._custom

    def _call(self, what: str, fn: Any, *args: Any, perm: str | None = None,
              **kwargs: Any) -> Any:
        try:
            return fn(*args, _request_timeout=self._timeout, **kwargs)
        except ApiException as exc:
            if exc.status == 403 and perm:
                # Say which grant is missing, so the fix is one line in the ClusterRole.
                raise Forbidden(self.name, f"{what}: missing permission: {perm}") from None
            raise _api_error(exc)(self.name, _api_reason(what, exc)) from None
        except urllib3.exceptions.MaxRetryError as exc:
            reason = exc.reason
            # NewConnectionError subclasses ConnectTimeoutError in urllib3: test it first.
            if isinstance(reason, urllib3.exceptions.NewConnectionError):
                raise Unavailable(self.name, f"{what}: cannot connect to the API server") from None
            if isinstance(reason, urllib3.exceptions.TimeoutError):
                raise Timeout(self.name, f"{what}: timed out") from None
            raise Unavailable(self.name, f"{what}: cannot connect to the API server") from None
        except urllib3.exceptions.TimeoutError:
            raise Timeout(self.name, f"{what}: timed out") from None
        except urllib3.exceptions.HTTPError as exc:
            raise Unavailable(self.name, f"{what}: {type(exc).__name__}") from None

    def _model(self, model: type[M], what: str, fn: Any, *args: Any, perm: str | None = None,
               **kwargs: Any) -> M:
        """Call `fn` for its raw JSON body and validate it as `model`."""
        body = self._raw(what, fn, *args, perm=perm, **kwargs)
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            raise SourceError(self.name, f"{what}: unexpected answer "
                              f"({plural(exc.error_count(), 'field error')})") from None

    def _list(self, model: type[L], what: str, fn: Any, *args: Any, perm: str | None = None,
              **kwargs: Any) -> L:
        """A list call in pages of `page_size`, joined into one list: no answer is unbounded,
        for the API server or for us. Pages are large (kubectl uses 500) because every page
        costs a round trip and, where the server does not page from its cache, a pass over
        the whole collection; most lists are one page."""
        whole = self._model(model, what, fn, *args, perm=perm, limit=self.page_size, **kwargs)
        token = whole.metadata.continue_
        while token:
            page = self._model(model, what, fn, *args, perm=perm, limit=self.page_size,
                               _continue=token, **kwargs)
            whole.items.extend(page.items)
            token = page.metadata.continue_
        return whole

    def _raw(self, what: str, fn: Any, *args: Any, perm: str | None = None,
             **kwargs: Any) -> bytes:
        def fetch(_request_timeout: tuple[float, float]) -> bytes:
            response = fn(*args, _preload_content=False, _request_timeout=_request_timeout,
                          **kwargs)
            try:
                return bytes(response.data)
            finally:
                response.release_conn()

        return bytes(self._call(what, fetch, perm=perm))

    def nodes(self, label_selector: str) -> list[Node]:
        return self._list(NodeList, f"list nodes -l {label_selector}", self.core.list_node,
                           label_selector=label_selector).items

    def pods(self, namespace: str, label_selector: str | None = None) -> list[Pod]:
        kwargs: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        return self._list(PodList, f"list pods -n {namespace}", self.core.list_namespaced_pod,
                           namespace, **kwargs).items

    def list_nodes(self, label_selector: str) -> list[NodeInfo]:
        return [_node_info(n) for n in self.nodes(label_selector)]

    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[PodInfo]:
        return [_pod_info(p) for p in self.pods(namespace, label_selector)]


    # -- diagnostics: single objects, logs, events, Karpenter ---------------------------------

    def pod(self, namespace: str, name: str) -> Pod:
        return self._model(Pod, f"get pod {namespace}/{name}", self.core.read_namespaced_pod,
                           name, namespace, perm=_perm("get", "pods", namespace))

    def pods_anywhere(self, field_selector: str = "", label_selector: str = "") -> list[Pod]:
        """Pods of every namespace (pending pods, a pod name asked in the wrong namespace)."""
        kwargs: dict[str, Any] = {}
        if field_selector:
            kwargs["field_selector"] = field_selector
        if label_selector:
            kwargs["label_selector"] = label_selector
        return self._list(PodList, "list pods in all namespaces",
                           self.core.list_pod_for_all_namespaces,
                           perm=_perm("list", "pods", ""), **kwargs).items

    def pods_in(self, namespace: str, label_selector: str = "") -> list[Pod]:
        """Like `pods`, with the missing permission named on a 403."""
        kwargs: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        return self._list(PodList, f"list pods -n {namespace}", self.core.list_namespaced_pod,
                           namespace, perm=_perm("list", "pods", namespace), **kwargs).items

    def pod_log(self, namespace: str, name: str, container: str | None = None,
                previous: bool = False, tail_lines: int = 500) -> str | None:
        """The log's last `tail_lines` lines; None when there is no previous container."""
        kwargs: dict[str, Any] = {"tail_lines": tail_lines, "previous": previous}
        if container:
            kwargs["container"] = container
        what = f"read {'previous ' if previous else ''}logs of {namespace}/{name}"
        try:
            body = self._raw(what, self._log_or_none, name, namespace,
                             perm=_perm("get", "pods/log", namespace), **kwargs)
        except _NoLog:
            return None
        return body.decode("utf-8", errors="replace")

    def _log_or_none(self, name: str, namespace: str, **kwargs: Any) -> Any:
        try:
            return self.core.read_namespaced_pod_log(name, namespace, **kwargs)
        except ApiException as exc:
            # 400 "previous terminated container ... not found" / "waiting to start": no log.
            if exc.status == 400:
                raise _NoLog from None
            raise

    def events_for(self, namespace: str, name: str, reason: str = "",
                   kind: str = "Pod") -> list[Event]:
        """Events about one object, newest last. The kind matters: a pod and its PVC may share
        a name (StatefulSet claims often do)."""
        selector = (f"involvedObject.kind={kind},involvedObject.name={name}"
                    + (f",reason={reason}" if reason else ""))
        items = self.events(namespace, selector)
        return sorted(items, key=lambda e: e.seen.timestamp() if e.seen else 0.0)

    def events(self, namespace: str, field_selector: str) -> list[Event]:
        return self._list(EventList, f"list events -n {namespace}",
                           self.core.list_namespaced_event, namespace,
                           field_selector=field_selector,
                           perm=_perm("list", "events", namespace)).items

    def pvc(self, namespace: str, name: str) -> PersistentVolumeClaim:
        return self._model(PersistentVolumeClaim, f"get pvc {namespace}/{name}",
                           self.core.read_namespaced_persistent_volume_claim, name, namespace,
                           perm=_perm("get", "persistentvolumeclaims", namespace))

    def pvcs(self, namespace: str) -> list[PersistentVolumeClaim]:
        return self._list(PersistentVolumeClaimList, f"list pvc -n {namespace}",
                          self.core.list_namespaced_persistent_volume_claim, namespace,
                          perm=_perm("list", "persistentvolumeclaims", namespace)).items

    def pvs(self) -> list[PersistentVolume]:
        return self._list(PersistentVolumeList, "list pv", self.core.list_persistent_volume,
                          perm=_perm("list", "persistentvolumes", "")).items

    def service(self, namespace: str, name: str) -> Service:
        return self._model(Service, f"get service {namespace}/{name}",
                           self.core.read_namespaced_service, name, namespace,
                           perm=_perm("get", "services", namespace))

    def services(self, namespace: str) -> list[Service]:
        return self._list(ServiceList, f"list services -n {namespace}",
                           self.core.list_namespaced_service, namespace,
                           perm=_perm("list", "services", namespace)).items

    def endpoints(self, namespace: str, name: str) -> Endpoints:
        return self._model(Endpoints, f"get endpoints {namespace}/{name}",
                           self.core.read_namespaced_endpoints, name, namespace,
                           perm=_perm("get", "endpoints", namespace))

    def node(self, name: str) -> Node:
        return self._model(Node, f"get node {name}", self.core.read_node, name,
                           perm=_perm("get", "nodes", ""))

    def nodeclaims(self, label_selector: str = "") -> list[NodeClaim]:
        kwargs: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        return self._list(NodeClaimList, "list nodeclaims",
                           self.custom.list_cluster_custom_object, *_KARPENTER, "nodeclaims",
                           perm=_perm("list", "nodeclaims.karpenter.sh", ""), **kwargs).items

    def nodepools(self) -> list[NodePool]:
        return self._list(NodePoolList, "list nodepools",
                           self.custom.list_cluster_custom_object, *_KARPENTER, "nodepools",
                           perm=_perm("list", "nodepools.karpenter.sh", "")).items

    def nodepool(self, name: str) -> NodePool:
        return self._model(NodePool, f"get nodepool {name}",
                           self.custom.get_cluster_custom_object, *_KARPENTER, "nodepools",
                           name, perm=_perm("get", "nodepools.karpenter.sh", ""))


_KARPENTER = ("karpenter.sh", "v1")


class _NoLog(Exception):
    """The API server has no such log (no previous container, container not started)."""


def _perm(verb: str, resource: str, namespace: str) -> str:
    where = f"in namespace {namespace}" if namespace else "at cluster scope"
    return f"{verb} {resource} {where}"


def _api_error(exc: ApiException) -> type[SourceError]:
    """The kind of failure an API server answer is."""
    status = exc.status or 0
    if status == 404:
        return NotFound
    if status in (401, 403):
        return Forbidden
    if status == 429 or status >= 500:
        return Unavailable
    return SourceError


def _api_reason(what: str, exc: ApiException) -> str:
    if exc.status == 403:
        return f"{what}: forbidden (RBAC does not allow it)"
    if exc.status == 401:
        return f"{what}: unauthorized (token rejected)"
    if exc.status == 404:
        return f"{what}: not found"
    return f"{what}: API server answered {exc.status} {exc.reason or ''}".rstrip()


def _node_info(node: Node) -> NodeInfo:
    ready, reason = False, "no Ready condition"
    if (cond := node.condition("Ready")) is not None:
        ready = cond.status == "True"
        reason = "" if ready else (cond.reason or f"Ready={cond.status}")
    return NodeInfo(
        name=node.metadata.name,
        ready=ready,
        reason=reason,
        unschedulable=node.spec.unschedulable,
        labels=node.metadata.labels,
    )


def _pod_info(pod: Pod) -> PodInfo:
    """A pod is healthy when it runs and every container runs: CrashLoopBackOff pods are
    phase Running too, so the phase alone would lie."""
    status = pod.status
    phase = status.phase or "Unknown"
    statuses = status.container_statuses
    reasons: list[str] = []
    all_running = bool(statuses)
    for cs in statuses:
        state = cs.state
        if state.running is not None:
            continue
        all_running = False
        if state.waiting is not None:
            reasons.append(state.waiting.reason or "Waiting")
        elif state.terminated is not None:
            reasons.append(state.terminated.reason or f"exit {state.terminated.exit_code}")
        last = cs.last_state.terminated
        if last is not None:
            code = f", exit {last.exit_code}" if last.exit_code is not None else ""
            reasons.append(f"last: {last.reason or 'Terminated'}{code}")
    if phase == "Pending" and not reasons:
        for cond in status.conditions:
            if cond.type == "PodScheduled" and cond.status != "True":
                reasons.append(cond.reason or "Unschedulable")
    if phase != "Running" and not reasons:
        reasons.append(status.reason or phase)
    return PodInfo(
        name=pod.metadata.name,
        namespace=pod.metadata.namespace,
        phase=phase,
        healthy=phase == "Running" and all_running,
        reason=", ".join(dict.fromkeys(reasons)),
        node=pod.spec.node_name,
        restarts=sum(cs.restart_count for cs in statuses),
    )
