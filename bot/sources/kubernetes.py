"""The Kubernetes API, read-only, through the official client."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from bot.config import KubernetesSettings
from bot.errors import SourceError


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

    def __init__(self, settings: KubernetesSettings) -> None:
        self._settings = settings
        self._timeout = (min(3.0, settings.timeout_s), settings.timeout_s)
        self._api: k8s.CoreV1Api | None = None
        self._lock = threading.Lock()

    @property
    def core(self) -> k8s.CoreV1Api:
        # Built lazily so a bot without cluster access still starts and says why per row.
        with self._lock:
            if self._api is None:
                self._api = k8s.CoreV1Api(build_api_client(self._settings))
            return self._api

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, _request_timeout=self._timeout, **kwargs)
        except ApiException as exc:
            raise SourceError(self.name, _api_reason(what, exc)) from None
        except urllib3.exceptions.MaxRetryError as exc:
            reason = exc.reason
            # NewConnectionError subclasses ConnectTimeoutError in urllib3: test it first.
            if isinstance(reason, urllib3.exceptions.NewConnectionError):
                raise SourceError(self.name, f"{what}: cannot connect to the API server") from None
            if isinstance(reason, urllib3.exceptions.TimeoutError):
                raise SourceError(self.name, f"{what}: timed out") from None
            raise SourceError(self.name, f"{what}: cannot connect to the API server") from None
        except urllib3.exceptions.TimeoutError:
            raise SourceError(self.name, f"{what}: timed out") from None
        except urllib3.exceptions.HTTPError as exc:
            raise SourceError(self.name, f"{what}: {type(exc).__name__}") from None

    def list_nodes(self, label_selector: str) -> list[NodeInfo]:
        result = self._call(
            f"list nodes -l {label_selector}", self.core.list_node, label_selector=label_selector
        )
        return [_node_info(n) for n in result.items]

    def list_pods(self, namespace: str, label_selector: str | None = None) -> list[PodInfo]:
        kwargs: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        result = self._call(
            f"list pods -n {namespace}", self.core.list_namespaced_pod, namespace, **kwargs
        )
        return [_pod_info(p) for p in result.items]


def _api_reason(what: str, exc: ApiException) -> str:
    if exc.status == 403:
        return f"{what}: forbidden (RBAC does not allow it)"
    if exc.status == 401:
        return f"{what}: unauthorized (token rejected)"
    if exc.status == 404:
        return f"{what}: not found"
    return f"{what}: API server answered {exc.status} {exc.reason or ''}".rstrip()


def _node_info(node: Any) -> NodeInfo:
    ready, reason = False, "no Ready condition"
    for cond in node.status.conditions or [] if node.status else []:
        if cond.type == "Ready":
            ready = cond.status == "True"
            reason = "" if ready else (cond.reason or f"Ready={cond.status}")
    return NodeInfo(
        name=node.metadata.name,
        ready=ready,
        reason=reason,
        unschedulable=bool(node.spec and node.spec.unschedulable),
        labels=dict(node.metadata.labels or {}),
    )


def _pod_info(pod: Any) -> PodInfo:
    """A pod is healthy when it runs and every container runs: CrashLoopBackOff pods are
    phase Running too, so the phase alone would lie."""
    phase = (pod.status.phase if pod.status else None) or "Unknown"
    statuses = (pod.status.container_statuses if pod.status else None) or []
    restarts = sum(cs.restart_count or 0 for cs in statuses)
    reasons: list[str] = []
    all_running = bool(statuses)
    for cs in statuses:
        state = cs.state
        if state is not None and state.running is not None:
            continue
        all_running = False
        if state is not None and state.waiting is not None:
            reasons.append(state.waiting.reason or "Waiting")
        elif state is not None and state.terminated is not None:
            reasons.append(state.terminated.reason or f"exit {state.terminated.exit_code}")
        last = cs.last_state.terminated if cs.last_state else None
        if last is not None:
            code = f", exit {last.exit_code}" if last.exit_code is not None else ""
            reasons.append(f"last: {last.reason or 'Terminated'}{code}")
    if phase == "Pending" and not reasons:
        for cond in (pod.status.conditions if pod.status else None) or []:
            if cond.type == "PodScheduled" and cond.status != "True":
                reasons.append(cond.reason or "Unschedulable")
    if phase != "Running" and not reasons:
        reasons.append((pod.status.reason if pod.status else None) or phase)
    return PodInfo(
        name=pod.metadata.name,
        namespace=pod.metadata.namespace or "",
        phase=phase,
        healthy=phase == "Running" and all_running,
        reason=", ".join(dict.fromkeys(reasons)),
        node=(pod.spec.node_name if pod.spec else None) or "",
        restarts=restarts,
    )
