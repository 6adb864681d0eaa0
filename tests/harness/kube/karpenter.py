"""Builders for Karpenter v1 objects: `nodeclaim` and `nodepool` (cluster-scoped)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .meta import _DEFAULT_SHAPE, INSTANCE_TYPES, _condition, _meta
from .resources import JSON
from .util import _hexdigest, _now


def nodeclaim(
    name: str,
    nodepool: str = "gpu",
    instance_type: str = "p4d.24xlarge",
    zone: str = "us-east-1a",
    capacity_type: str = "on-demand",
    *,
    launched: bool | None = True,
    registered: bool | None = True,
    initialized: bool | None = True,
    launch_message: str | None = None,
    node_name: str | None = None,
    instance_types: Sequence[str] | None = None,
    gpus: int | None = None,
    created: datetime | None = None,
    extra_conditions: Sequence[Mapping[str, Any]] = (),
) -> JSON:
    """A Karpenter v1 NodeClaim (cluster-scoped, `karpenter.sh/v1`).

    Conditions follow Karpenter's lifecycle: Launched, Registered, Initialized, and Ready
    (True only when all three are). `launched=False` with `launch_message` models an
    InsufficientInstanceCapacity launch failure (reason `LaunchFailed`); None is the
    `Unknown`/`AwaitingReconciliation` state of a claim still in progress.
    """
    shape = INSTANCE_TYPES.get(instance_type, _DEFAULT_SHAPE)
    gpu_count = shape.gpus if gpus is None else gpus
    created = created or (_now() - timedelta(minutes=10))

    def cond(
        type_: str, state: bool | None, ok_reason: str, bad_reason: str, bad_message: str
    ) -> JSON:
        if state is True:
            return _condition(type_, True, ok_reason, when=created + timedelta(seconds=60))
        if state is None:
            return _condition(
                type_,
                None,
                "AwaitingReconciliation",
                "object is awaiting reconciliation",
                when=created,
            )
        return _condition(type_, False, bad_reason, bad_message, when=created)

    ice = launch_message or (
        f"creating instance, insufficient capacity, with fleet error(s), "
        f"InsufficientInstanceCapacity: We currently do not have sufficient {instance_type} "
        f"capacity in the Availability Zone you requested ({zone}). Our system will be "
        "working on provisioning additional capacity."
    )
    conditions = [
        cond("Launched", launched, "Launched", "LaunchFailed", ice),
        cond(
            "Registered",
            registered if launched else None,
            "Registered",
            "NodeNotFound",
            "Node not registered with cluster",
        ),
        cond(
            "Initialized",
            initialized if launched and registered else None,
            "Initialized",
            "NotInitialized",
            "Node not initialized",
        ),
    ]
    all_true = launched is True and registered is True and initialized is True
    any_false = False in (launched, registered, initialized)
    conditions.append(
        cond(
            "Ready",
            True if all_true else (False if any_false else None),
            "Ready",
            "UnhealthyDependents",
            "Launched=False" if launched is False else "not ready",
        )
    )
    conditions.extend(dict(c) for c in extra_conditions)
    requests: JSON = {"cpu": "8190m", "memory": "64Gi", "pods": "9"}
    if gpu_count:
        requests["nvidia.com/gpu"] = str(gpu_count)
    status: JSON = {"conditions": conditions}
    if launched:
        instance_id = "i-0" + _hexdigest(name, n=16)
        status.update(
            {
                "providerID": f"aws:///{zone}/{instance_id}",
                "imageID": "ami-0" + _hexdigest("ami", instance_type, n=16),
                "capacity": {
                    "cpu": str(shape.cpu),
                    "memory": f"{shape.memory_gib * 1024 - 1500}Mi",
                    "pods": "250",
                    "ephemeral-storage": "100G",
                    **({"nvidia.com/gpu": str(gpu_count)} if gpu_count else {}),
                },
            }
        )
        status["allocatable"] = dict(status["capacity"])
        if registered:
            status["nodeName"] = (
                node_name
                or f"ip-10-0-{len(name) % 200}-{int(_hexdigest(name, n=2), 16)}.ec2.internal"
            )
    labels = {
        "karpenter.sh/nodepool": nodepool,
        "karpenter.k8s.aws/ec2nodeclass": "gpu",
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/zone": zone,
        "karpenter.sh/capacity-type": capacity_type,
        "kubernetes.io/arch": shape.arch,
        "kubernetes.io/os": "linux",
    }
    if launched:
        labels["karpenter.sh/registered"] = "true" if registered else "false"
    requirements = [
        {"key": "karpenter.sh/nodepool", "operator": "In", "values": [nodepool]},
        {
            "key": "node.kubernetes.io/instance-type",
            "operator": "In",
            "values": list(instance_types or [instance_type]),
        },
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [capacity_type]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]},
    ]
    meta = _meta(
        name,
        labels=labels,
        created=created,
        annotations={
            "karpenter.sh/nodepool-hash": _hexdigest(nodepool, n=16),
            "karpenter.sh/nodepool-hash-version": "v3",
        },
    )
    meta["finalizers"] = ["karpenter.sh/termination"]
    meta["generation"] = 1
    meta["ownerReferences"] = [
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "name": nodepool,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"karpenter.sh/v1/NodePool//{nodepool}")),
            "blockOwnerDeletion": True,
        }
    ]
    spec: JSON = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
        "requirements": requirements,
        "resources": {"requests": requests},
        "expireAfter": "720h",
    }
    if gpu_count:
        spec["taints"] = [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": meta,
        "spec": spec,
        "status": status,
    }


def nodepool(
    name: str = "gpu",
    instance_types: Sequence[str] = ("p4d.24xlarge", "g5.12xlarge", "g5.48xlarge"),
    capacity_types: Sequence[str] = ("on-demand",),
    zones: Sequence[str] | None = ("us-east-1a", "us-east-1b", "us-east-1c"),
    limits: Mapping[str, str] | None = None,
    *,
    ready: bool = True,
    ready_message: str | None = None,
    used: Mapping[str, str] | None = None,
    node_count: int = 0,
    weight: int | None = None,
    gpu_taint: bool = True,
) -> JSON:
    """A Karpenter v1 NodePool. `limits` default to 64 GPUs / 1000 CPUs.

    `used` is `status.resources` (what the pool already provisioned); a pool at its limit
    is the classic "NodePool limit reached" provisioning failure.
    """
    requirements: list[JSON] = [
        {
            "key": "node.kubernetes.io/instance-type",
            "operator": "In",
            "values": list(instance_types),
        },
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(capacity_types)},
    ]
    if zones:
        requirements.append(
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(zones)}
        )
    template_spec: JSON = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name},
        "requirements": requirements,
        "expireAfter": "720h",
    }
    if gpu_taint:
        template_spec["taints"] = [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    spec: JSON = {
        "template": {"metadata": {"labels": {"workload": "inference"}}, "spec": template_spec},
        "limits": dict(limits) if limits is not None else {"cpu": "1000", "nvidia.com/gpu": "64"},
        "disruption": {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": "5m",
            "budgets": [{"nodes": "10%"}],
        },
    }
    if weight is not None:
        spec["weight"] = weight
    resources = {
        "cpu": "0",
        "memory": "0",
        "pods": "0",
        "nodes": str(node_count),
        "nvidia.com/gpu": "0",
    }
    resources.update(used or {})
    conditions = [
        _condition("ValidationSucceeded", True, "ValidationSucceeded"),
        _condition(
            "NodeClassReady",
            ready,
            "NodeClassReady" if ready else "NodeClassNotReady",
            "" if ready else (ready_message or "EC2NodeClass not ready"),
        ),
        _condition(
            "Ready",
            ready,
            "Ready" if ready else "UnhealthyDependents",
            "" if ready else (ready_message or "NodeClassReady=False"),
        ),
    ]
    meta = _meta(
        name,
        annotations={
            "karpenter.sh/nodepool-hash": _hexdigest(name, n=16),
            "karpenter.sh/nodepool-hash-version": "v3",
        },
    )
    meta["generation"] = 1
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": meta,
        "spec": spec,
        "status": {"resources": resources, "nodes": node_count, "conditions": conditions},
    }
