"""The `node()` builder: a Node as an EKS/Karpenter GPU node looks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from .meta import _DEFAULT_SHAPE, INSTANCE_TYPES, _condition, _ip_for, _meta
from .resources import JSON
from .util import _hexdigest, ts


def node(
    name: str,
    ready: bool | None = True,
    labels: Mapping[str, str] | None = None,
    reason: str | None = None,
    unschedulable: bool = False,
    capacity: Mapping[str, str] | None = None,
    zone: str = "us-east-1a",
    instance_type: str = "p4d.24xlarge",
    *,
    message: str | None = None,
    allocatable: Mapping[str, str] | None = None,
    nodepool: str | None = "gpu",
    capacity_type: str = "on-demand",
    taints: Sequence[Mapping[str, str]] | None = None,
    pressure: Sequence[str] = (),
    created: datetime | None = None,
    annotations: Mapping[str, str] | None = None,
) -> JSON:
    """A Node as an EKS/Karpenter GPU node looks.

    `ready=None` is the `Unknown` status of a node whose kubelet stopped reporting.
    `capacity=None` takes cpu/memory/GPUs from the instance type (p4d: 8 GPUs); a given
    `capacity` is merged over that. GPU nodes get the GPU operator's `nvidia.com/gpu.*`
    labels and the usual `nvidia.com/gpu:NoSchedule` taint. `pressure` names conditions
    (e.g. "MemoryPressure") that are True. Labels given win over the defaults.
    """
    shape = INSTANCE_TYPES.get(instance_type, _DEFAULT_SHAPE)
    cap: dict[str, str] = {
        "cpu": str(shape.cpu),
        "memory": f"{shape.memory_gib * 1024 * 1024 - 524288}Ki",
        "pods": "110" if shape.cpu < 48 else "250",
        "ephemeral-storage": "104845292Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    }
    if shape.gpus:
        cap["nvidia.com/gpu"] = str(shape.gpus)
    if capacity is not None:
        cap.update(capacity)
    gpus = int(cap.get("nvidia.com/gpu", "0") or 0)
    alloc = dict(cap)
    alloc["cpu"] = f"{shape.cpu * 1000 - 90}m" if "cpu" not in (capacity or {}) else cap["cpu"]
    if allocatable:
        alloc.update(allocatable)
    region = zone[:-1] if zone and zone[-1].isalpha() else zone
    all_labels: dict[str, str] = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": shape.arch,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": shape.arch,
        "node.kubernetes.io/instance-type": instance_type,
        "beta.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "failure-domain.beta.kubernetes.io/region": region,
        "karpenter.sh/capacity-type": capacity_type,
    }
    if nodepool:
        all_labels["karpenter.sh/nodepool"] = nodepool
        all_labels["karpenter.sh/initialized"] = "true"
        all_labels["karpenter.sh/registered"] = "true"
    if gpus:
        all_labels.update(
            {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.count": str(gpus),
                "nvidia.com/gpu.product": shape.gpu_product or "NVIDIA-A100-SXM4-40GB",
                "nvidia.com/gpu.deploy.dcgm-exporter": "true",
            }
        )
    all_labels.update(labels or {})
    if taints is None:
        taint_list: list[JSON] = []
        if gpus:
            taint_list.append({"key": "nvidia.com/gpu", "effect": "NoSchedule"})
        if unschedulable:
            taint_list.append(
                {
                    "key": "node.kubernetes.io/unschedulable",
                    "effect": "NoSchedule",
                    "timeAdded": ts(),
                }
            )
        if ready is not True:
            key = (
                "node.kubernetes.io/not-ready"
                if ready is False
                else ("node.kubernetes.io/unreachable")
            )
            taint_list.append({"key": key, "effect": "NoSchedule", "timeAdded": ts()})
            taint_list.append({"key": key, "effect": "NoExecute", "timeAdded": ts()})
    else:
        taint_list = [dict(t) for t in taints]
    if ready is True:
        ready_cond = _condition(
            "Ready",
            True,
            reason or "KubeletReady",
            message or "kubelet is posting ready status",
            heartbeat=True,
        )
    elif ready is False:
        ready_cond = _condition(
            "Ready",
            False,
            reason or "KubeletNotReady",
            message
            or "container runtime network not ready: NetworkReady=false "
            "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin "
            "not initialized",
            heartbeat=True,
        )
    else:
        ready_cond = _condition(
            "Ready",
            None,
            reason or "NodeStatusUnknown",
            message or "Kubelet stopped posting node status.",
            heartbeat=True,
        )
    pressure_conds = []
    for ctype, ok_reason in (
        ("MemoryPressure", "KubeletHasSufficientMemory"),
        ("DiskPressure", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "KubeletHasSufficientPID"),
    ):
        if ready is None:
            pressure_conds.append(
                _condition(
                    ctype,
                    None,
                    "NodeStatusUnknown",
                    "Kubelet stopped posting node status.",
                    heartbeat=True,
                )
            )
        elif ctype in pressure:
            pressure_conds.append(
                _condition(
                    ctype, True, f"KubeletHas{ctype}", f"kubelet has {ctype}", heartbeat=True
                )
            )
        else:
            pressure_conds.append(_condition(ctype, False, ok_reason, "", heartbeat=True))
    instance_id = "i-0" + _hexdigest(name, n=16)
    spec: JSON = {"providerID": f"aws:///{zone}/{instance_id}"}
    if taint_list:
        spec["taints"] = taint_list
    if unschedulable:
        spec["unschedulable"] = True
    ip = _ip_for(name)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(name, labels=all_labels, annotations=annotations, created=created),
        "spec": spec,
        "status": {
            "capacity": cap,
            "allocatable": alloc,
            "conditions": [*pressure_conds, ready_cond],
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "InternalDNS", "address": f"ip-{ip.replace('.', '-')}.ec2.internal"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": _hexdigest("machine", name, n=32),
                "systemUUID": "ec2" + _hexdigest("uuid", name, n=29),
                "bootID": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
                "kernelVersion": "5.10.227-219.884.amzn2.x86_64",
                "osImage": "Amazon Linux 2",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": "v1.31.2-eks-94953ac",
                "kubeProxyVersion": "v1.31.2-eks-94953ac",
                "operatingSystem": "linux",
                "architecture": shape.arch,
            },
        },
    }
