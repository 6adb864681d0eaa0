"""The `pod()` builder: a Pod in a common state, as kubelet and the scheduler report it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .meta import _condition, _env_list, _ip_for, _meta
from .resources import JSON
from .util import _hexdigest, _now, ts


def pod(
    name: str,
    namespace: str = "inference",
    phase: str = "Running",
    labels: Mapping[str, str] | None = None,
    node: str | None = None,
    containers: Sequence[Mapping[str, Any]] | None = None,
    container_statuses: Sequence[Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | Sequence[Mapping[str, Any]] | None = None,
    args: Sequence[str] | None = None,
    resources: Mapping[str, Any] | None = None,
    init_container_statuses: Sequence[Mapping[str, Any]] | None = None,
    volumes: Sequence[Mapping[str, Any]] | None = None,
    *,
    waiting_reason: str | None = None,
    waiting_message: str | None = None,
    last_terminated_reason: str | None = None,
    last_exit_code: int | None = None,
    restarts: int = 0,
    unschedulable_reason: str | None = None,
    container_name: str = "server",
    image: str = "vllm/vllm-openai:v0.6.3",
    command: Sequence[str] | None = None,
    gpus: int = 1,
    volume_mounts: Sequence[Mapping[str, Any]] | None = None,
    init_containers: Sequence[Mapping[str, Any]] | None = None,
    ready: bool | None = None,
    reason: str | None = None,
    message: str | None = None,
    owner: tuple[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    created: datetime | None = None,
    pod_ip: str | None = None,
) -> JSON:
    """A Pod in a common state, the way kubelet and the scheduler report it.

    - Running & healthy: the defaults (one `server` container asking for `gpus` GPUs).
    - CrashLoopBackOff after OOM: `waiting_reason="CrashLoopBackOff",
      last_terminated_reason="OOMKilled", restarts=5` (exit code defaults to 137 for OOM).
    - Pending, unschedulable: `phase="Pending", unschedulable_reason="0/3 nodes are
      available: 3 Insufficient nvidia.com/gpu."` (PodScheduled=False, no node).
    - Pending, image pull: `phase="Pending", waiting_reason="ImagePullBackOff"`.
    - Evicted: `phase="Failed", reason="Evicted", message=...`.
    `containers`/`container_statuses` given explicitly replace the generated ones.
    `owner=("ReplicaSet", "llama-7b-5d9c8")` adds an ownerReference. Without `labels` the
    pod is labelled `app=<name minus the two last dash parts>` (`llama-7b-5d9c8-x2k4p` ->
    `llama-7b`), as a Deployment's pods would be.
    """
    created = created or (_now() - timedelta(hours=2))
    scheduled = not unschedulable_reason
    if containers is None:
        res: JSON = dict(resources) if resources is not None else {}
        if resources is None and gpus:
            res = {
                "limits": {"nvidia.com/gpu": str(gpus), "memory": "64Gi"},
                "requests": {"nvidia.com/gpu": str(gpus), "cpu": "8", "memory": "64Gi"},
            }
        container: JSON = {
            "name": container_name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
            "resources": res,
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
        if command:
            container["command"] = list(command)
        if args:
            container["args"] = list(args)
        if env is not None:
            container["env"] = _env_list(env)
        if volume_mounts:
            container["volumeMounts"] = [dict(m) for m in volume_mounts]
        container_list = [container]
    else:
        container_list = [dict(c) for c in containers]
    spec: JSON = {
        "containers": container_list,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "tolerations": [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
    }
    if init_containers:
        spec["initContainers"] = [dict(c) for c in init_containers]
    if volumes:
        spec["volumes"] = [dict(v) for v in volumes]
    if node and scheduled:
        spec["nodeName"] = node

    started = created + timedelta(seconds=20)
    if container_statuses is None:
        statuses: list[JSON] = []
        if scheduled and (phase != "Pending" or waiting_reason):
            for c in container_list:
                state: JSON
                if waiting_reason:
                    state = {"waiting": {"reason": waiting_reason}}
                    if waiting_message or waiting_reason == "CrashLoopBackOff":
                        state["waiting"]["message"] = waiting_message or (
                            f"back-off 5m0s restarting failed container={c['name']} "
                            f"pod={name}_{namespace}({uuid.uuid5(uuid.NAMESPACE_URL, name)})"
                        )
                elif phase == "Succeeded":
                    state = {
                        "terminated": {
                            "exitCode": 0,
                            "reason": "Completed",
                            "startedAt": ts(started),
                            "finishedAt": ts(),
                        }
                    }
                elif phase == "Failed":
                    state = {
                        "terminated": {
                            "exitCode": last_exit_code if last_exit_code is not None else 1,
                            "reason": last_terminated_reason or "Error",
                            "startedAt": ts(started),
                            "finishedAt": ts(),
                        }
                    }
                else:
                    state = {"running": {"startedAt": ts(started)}}
                c_ready = ready if ready is not None else ("running" in state)
                status: JSON = {
                    "name": c["name"],
                    "image": c.get("image", image),
                    "imageID": f"docker.io/{c.get('image', image).split(':')[0]}@sha256:"
                    + hashlib.sha256(c.get("image", image).encode()).hexdigest(),
                    "containerID": "containerd://" + _hexdigest(name, c["name"], n=64),
                    "ready": c_ready,
                    "started": "running" in state,
                    "restartCount": restarts,
                    "state": state,
                    "lastState": {},
                }
                if waiting_reason in ("ContainerCreating", "ImagePullBackOff", "ErrImagePull"):
                    status.pop("containerID")
                if (last_terminated_reason or last_exit_code is not None) and (phase != "Failed"):
                    code = last_exit_code
                    if code is None:
                        code = 137 if last_terminated_reason == "OOMKilled" else 1
                    status["lastState"] = {
                        "terminated": {
                            "exitCode": code,
                            "reason": last_terminated_reason or "Error",
                            "startedAt": ts(_now() - timedelta(minutes=3)),
                            "finishedAt": ts(_now() - timedelta(minutes=1)),
                            "containerID": "containerd://" + _hexdigest(name, "prev", n=64),
                        }
                    }
                statuses.append(status)
    else:
        statuses = [dict(s) for s in container_statuses]

    all_ready = bool(statuses) and all(s.get("ready") for s in statuses)
    conditions: list[JSON]
    if not scheduled:
        conditions = [
            _condition(
                "PodScheduled", False, "Unschedulable", unschedulable_reason or "", when=created
            )
        ]
    else:
        not_ready = [s["name"] for s in statuses if not s.get("ready")]
        msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else ""
        conditions = [
            _condition(
                "PodReadyToStartContainers", phase != "Pending" or bool(statuses), when=started
            ),
            _condition("Initialized", True, when=created),
            _condition(
                "Ready", all_ready, "" if all_ready else "ContainersNotReady", msg, when=started
            ),
            _condition(
                "ContainersReady",
                all_ready,
                "" if all_ready else "ContainersNotReady",
                msg,
                when=started,
            ),
            _condition("PodScheduled", True, when=created),
        ]
    status_obj: JSON = {"phase": phase, "conditions": conditions, "qosClass": "Burstable"}
    if scheduled and node:
        status_obj["hostIP"] = _ip_for(node)
        status_obj["hostIPs"] = [{"ip": _ip_for(node)}]
    if scheduled and phase != "Pending":
        ip = pod_ip or _ip_for(f"{namespace}/{name}").replace("10.0.", "10.1.")
        status_obj["podIP"] = ip
        status_obj["podIPs"] = [{"ip": ip}]
    if scheduled:
        status_obj["startTime"] = ts(created)
    if statuses:
        status_obj["containerStatuses"] = statuses
    if init_container_statuses is not None:
        status_obj["initContainerStatuses"] = [dict(s) for s in init_container_statuses]
    if reason:
        status_obj["reason"] = reason
    if message:
        status_obj["message"] = message

    meta = _meta(
        name,
        namespace,
        labels if labels is not None else {"app": name.rsplit("-", 2)[0]},
        annotations,
        created,
    )
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1"
                if owner[0] in ("ReplicaSet", "StatefulSet", "DaemonSet")
                else "v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{owner[0]}/{owner[1]}")),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status_obj}
