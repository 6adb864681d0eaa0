"""Builders for the other core objects: `event`, `pvc`, `service`, `endpoints`, `namespace`."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .meta import _meta, _ports
from .resources import JSON
from .util import _hexdigest, _now, micro_ts, ts


def event(
    involved_name: str,
    reason: str,
    message: str,
    namespace: str = "inference",
    involved_kind: str = "Pod",
    type: str = "Warning",
    count: int = 1,
    *,
    name: str | None = None,
    source_component: str = "kubelet",
    source_host: str | None = None,
    involved_api_version: str | None = None,
    involved_namespace: str | None = None,
    field_path: str | None = None,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
    legacy_timestamps: bool | None = None,
) -> JSON:
    """A core/v1 Event about an object.

    Trap this reproduces: events written through `events.k8s.io/v1` (the scheduler does this)
    read back through core/v1 with `firstTimestamp`/`lastTimestamp` null, `eventTime` set
    and an empty `source`. `legacy_timestamps=None` picks that automatically for
    `source_component="default-scheduler"`; kubelet and Karpenter events use the old shape.
    For cluster-scoped objects (Node, NodeClaim) the event lives in namespace `default`.
    """
    last = last_seen or _now()
    first = first_seen or (last - timedelta(seconds=30 * max(count - 1, 0)))
    legacy = (
        legacy_timestamps
        if legacy_timestamps is not None
        else (source_component != "default-scheduler")
    )
    api_version = involved_api_version or (
        "karpenter.sh/v1" if involved_kind in ("NodeClaim", "NodePool") else "v1"
    )
    involved: JSON = {
        "kind": involved_kind,
        "name": involved_name,
        "apiVersion": api_version,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{involved_kind}/{involved_name}")),
    }
    if involved_kind not in ("Node", "NodeClaim", "NodePool", "Namespace"):
        involved["namespace"] = involved_namespace or namespace
    if field_path:
        involved["fieldPath"] = field_path
    body: JSON = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": _meta(
            name or f"{involved_name}.{_hexdigest(involved_name, reason, message, last)}",
            namespace,
            created=first,
        ),
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": type,
    }
    if legacy:
        source: JSON = {"component": source_component}
        if source_host:
            source["host"] = source_host
        body.update(
            {
                "source": source,
                "firstTimestamp": ts(first),
                "lastTimestamp": ts(last),
                "count": count,
                "eventTime": None,
                "reportingComponent": source_component,
                "reportingInstance": source_host or "",
            }
        )
    else:
        body.update(
            {
                "source": {},
                "firstTimestamp": None,
                "lastTimestamp": None,
                "eventTime": micro_ts(first),
                "reportingComponent": source_component,
                "reportingInstance": f"{source_component}-{_hexdigest(source_component, n=5)}",
                "action": "Scheduling" if source_component == "default-scheduler" else reason,
            }
        )
        if count > 1:
            body["series"] = {"count": count, "lastObservedTime": micro_ts(last)}
    return body


def pvc(
    name: str,
    namespace: str = "inference",
    phase: str = "Bound",
    storage: str = "500Gi",
    storage_class: str = "gp3",
    access_modes: Sequence[str] = ("ReadWriteOnce",),
    volume_name: str | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    conditions: Sequence[Mapping[str, Any]] | None = None,
    created: datetime | None = None,
) -> JSON:
    """A PersistentVolumeClaim (model weights volume). Pending claims have no volume."""
    spec: JSON = {
        "accessModes": list(access_modes),
        "resources": {"requests": {"storage": storage}},
        "storageClassName": storage_class,
        "volumeMode": "Filesystem",
    }
    status: JSON = {"phase": phase}
    annotations: dict[str, str] = {}
    if phase == "Bound":
        spec["volumeName"] = volume_name or f"pvc-{uuid.uuid5(uuid.NAMESPACE_URL, name)}"
        status.update({"accessModes": list(access_modes), "capacity": {"storage": storage}})
        annotations = {
            "pv.kubernetes.io/bind-completed": "yes",
            "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
        }
    elif volume_name:
        spec["volumeName"] = volume_name
    if conditions:
        status["conditions"] = [dict(c) for c in conditions]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(name, namespace, labels, annotations, created),
        "spec": spec,
        "status": status,
    }



def service(
    name: str,
    namespace: str = "inference",
    selector: Mapping[str, str] | None = None,
    ports: Sequence[int | Mapping[str, Any]] = (8000,),
    type: str = "ClusterIP",
    cluster_ip: str | None = None,
    *,
    labels: Mapping[str, str] | None = None,
) -> JSON:
    """A Service; `cluster_ip="None"` makes it headless. Selector defaults to `app: name`."""
    ip = cluster_ip or (
        "172.20." + ".".join(str(b) for b in hashlib.sha1(name.encode()).digest()[:2])
    )
    spec: JSON = {
        "type": type,
        "selector": dict(selector) if selector is not None else {"app": name},
        "ports": _ports(ports, service=True),
        "clusterIP": ip,
        "clusterIPs": [ip],
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, namespace, labels),
        "spec": spec,
        "status": {"loadBalancer": {}},
    }


def endpoints(
    name: str,
    namespace: str = "inference",
    ready: Sequence[str | tuple[str, str]] = (),
    not_ready: Sequence[str | tuple[str, str]] = (),
    ports: Sequence[int | Mapping[str, Any]] = (8000,),
    *,
    node: str | None = None,
) -> JSON:
    """Endpoints of a Service. Addresses are an IP or `(ip, pod_name)`.

    With neither ready nor not-ready addresses there is no `subsets` key at all: that is
    how a Service without backing pods looks, and a bot must not crash on it.
    """

    def address(entry: str | tuple[str, str]) -> JSON:
        ip, pod_name = (entry, None) if isinstance(entry, str) else entry
        out: JSON = {"ip": ip}
        if node:
            out["nodeName"] = node
        if pod_name:
            out["targetRef"] = {
                "kind": "Pod",
                "namespace": namespace,
                "name": pod_name,
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{pod_name}")),
            }
        return out

    body: JSON = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": _meta(name, namespace, {"app": name}),
    }
    if ready or not_ready:
        subset: JSON = {"ports": _ports(ports, service=False)}
        if ready:
            subset["addresses"] = [address(a) for a in ready]
        if not_ready:
            subset["notReadyAddresses"] = [address(a) for a in not_ready]
        body["subsets"] = [subset]
    return body


def namespace(name: str, phase: str = "Active", labels: Mapping[str, str] | None = None) -> JSON:
    """A Namespace, with the `kubernetes.io/metadata.name` label every namespace gets."""
    all_labels = {"kubernetes.io/metadata.name": name, **(labels or {})}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(name, labels=all_labels),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": phase},
    }
