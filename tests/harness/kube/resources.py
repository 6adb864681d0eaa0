"""The resource table: which REST resources the stand-in serves, as discovery names them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

DEFAULT_USER = "system:serviceaccount:genai:genai-ops-bot"
"""The identity named in 403 messages: the bot's service account in `manifests/`."""

# --------------------------------------------------------------------------------------------
# Resource table
# --------------------------------------------------------------------------------------------

_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One REST resource, as discovery would describe it.

    `field_labels` are the field selectors the API server accepts for this resource on top of
    `metadata.name`/`metadata.namespace`; any other label is a 400 in a real cluster, so a
    selector that works here also works there.
    """

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    field_labels: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        """`v1` for the core group, `group/version` otherwise (the objects' `apiVersion`)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`pods` or `nodeclaims.karpenter.sh`: how the API server names it in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_POD_FIELDS = frozenset(
    {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    }
)
_EVENT_FIELDS = frozenset(
    {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Node", "nodes", False, frozenset({"spec.unschedulable"})),
    ResourceType("", "v1", "Pod", "pods", True, _POD_FIELDS),
    ResourceType("", "v1", "Event", "events", True, _EVENT_FIELDS),
    ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ResourceType("", "v1", "PersistentVolume", "persistentvolumes", False),
    ResourceType("", "v1", "Service", "services", True),
    ResourceType("", "v1", "Endpoints", "endpoints", True),
    ResourceType("", "v1", "ConfigMap", "configmaps", True),
    ResourceType("", "v1", "Namespace", "namespaces", False, frozenset({"status.phase"})),
    ResourceType("apps", "v1", "Deployment", "deployments", True),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", True),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    ResourceType("karpenter.sh", "v1", "NodeClaim", "nodeclaims", False),
    ResourceType("karpenter.sh", "v1", "NodePool", "nodepools", False),
    ResourceType("karpenter.k8s.aws", "v1", "EC2NodeClass", "ec2nodeclasses", False),
)


def iter_kinds() -> Iterator[tuple[str, str]]:
    """(apiVersion, kind) pairs served by default, for tests that enumerate them."""
    for rtype in RESOURCE_TYPES:
        yield rtype.api_version, rtype.kind
