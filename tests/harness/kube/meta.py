"""Shared parts of the object builders: instance shapes, metadata, conditions, IPs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .resources import JSON
from .util import _now, ts


@dataclass(frozen=True, slots=True)
class InstanceShape:
    """What an EC2 instance type brings as a node; used for realistic default capacity."""

    cpu: int
    memory_gib: int
    gpus: int
    gpu_product: str = ""
    arch: str = "amd64"


INSTANCE_TYPES: dict[str, InstanceShape] = {
    "p4d.24xlarge": InstanceShape(96, 1152, 8, "NVIDIA-A100-SXM4-40GB"),
    "p4de.24xlarge": InstanceShape(96, 1152, 8, "NVIDIA-A100-SXM4-80GB"),
    "p5.48xlarge": InstanceShape(192, 2048, 8, "NVIDIA-H100-80GB-HBM3"),
    "g5.xlarge": InstanceShape(4, 16, 1, "NVIDIA-A10G"),
    "g5.2xlarge": InstanceShape(8, 32, 1, "NVIDIA-A10G"),
    "g5.12xlarge": InstanceShape(48, 192, 4, "NVIDIA-A10G"),
    "g5.48xlarge": InstanceShape(192, 768, 8, "NVIDIA-A10G"),
    "g6.xlarge": InstanceShape(4, 16, 1, "NVIDIA-L4"),
    "g6.12xlarge": InstanceShape(48, 192, 4, "NVIDIA-L4"),
    "g6e.12xlarge": InstanceShape(48, 384, 4, "NVIDIA-L40S"),
    "m5.large": InstanceShape(2, 8, 0),
    "m6i.xlarge": InstanceShape(4, 16, 0),
    "m7g.xlarge": InstanceShape(4, 16, 0, arch="arm64"),
}

_DEFAULT_SHAPE = InstanceShape(96, 1152, 8, "NVIDIA-A100-SXM4-40GB")


def _ip_for(name: str) -> str:
    match = re.match(r"ip-(\d+)-(\d+)-(\d+)-(\d+)", name)
    if match:
        return ".".join(match.groups())
    h = hashlib.sha1(name.encode()).digest()
    return f"10.0.{h[0]}.{max(h[1], 1)}"


def _condition(
    type_: str,
    status: bool | None,
    reason: str = "",
    message: str = "",
    when: datetime | None = None,
    heartbeat: bool = False,
) -> JSON:
    cond: JSON = {
        "type": type_,
        "status": {True: "True", False: "False", None: "Unknown"}[status],
        "lastTransitionTime": ts(when),
    }
    if heartbeat:
        cond["lastHeartbeatTime"] = ts()
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _meta(
    name: str,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    created: datetime | None = None,
) -> JSON:
    meta: JSON = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    meta["creationTimestamp"] = ts(created or (_now() - timedelta(hours=6)))
    return meta



def _env_list(env: Mapping[str, str] | Sequence[Mapping[str, Any]] | None) -> list[JSON]:
    if env is None:
        return []
    if isinstance(env, Mapping):
        return [{"name": k, "value": str(v)} for k, v in env.items()]
    return [dict(e) for e in env]


def _ports(ports: Sequence[int | Mapping[str, Any]], service: bool) -> list[JSON]:
    out: list[JSON] = []
    for p in ports:
        if isinstance(p, Mapping):
            out.append(dict(p))
        elif service:
            out.append({"name": "http", "port": p, "targetPort": p, "protocol": "TCP"})
        else:
            out.append({"name": "http", "port": p, "protocol": "TCP"})
    if len(out) > 1:
        for i, entry in enumerate(out):
            if entry.get("name") == "http" and i:
                entry["name"] = f"port-{entry['port']}"
    return out
