"""The diag scenarios' cluster: every failure mode of the guide in one Kubernetes stand-in,
in namespace `inference` (and Karpenter's in `kube-system`), plus two healthy replicas that
must get no false alarm. Shared by the diag command tests and the run-diagnostics-on-an-alert
test."""

from __future__ import annotations

import json
from typing import Any

from . import kube as k
from .kube import KubeStandin

NS = "inference"

HEALTHY = "llama-7b-5d9c8-x2k4p"
HEALTHY_2 = "llama-7b-5d9c8-h7m2q"
CUDA_OOM = "llama-70b-7f9c4-oom2x"
OOM_KILLED = "embed-3b-44c1d-kill9"
DL_403 = "qwen-72b-6b7d9-ld4fx"
MOUNT = "mixtral-8x7b-9f8e7-mnt5z"
NCCL_PODS = ("deepseek-tp-0", "deepseek-tp-1")
PENDING = "llama-405b-5c5c5-pend1"
PINNED = "embed-1b-7c7c7-pin4q"
INIT = "gemma-7b-2a3b4-init7"

VLLM_HEALTHY = ["--model", "meta-llama/Llama-2-7b-hf", "--gpu-memory-utilization", "0.85",
                "--max-model-len=4096"]
ANTI_AFFINITY = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
    "weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "llama-7b"}},
                                       "topologyKey": "topology.kubernetes.io/zone"}}]}}
ICE_LOG = json.dumps({
    "level": "ERROR", "time": "2026-11-28T13:50:01.123Z", "logger": "controller",
    "message": "failed launching nodeclaim",
    "error": "creating instance, insufficient capacity, InsufficientCapacityError: "
             "InsufficientInstanceCapacity for p4de.24xlarge in us-east-1a"})


def pinned_elsewhere() -> dict[str, Any]:
    """A pending pod that only the `gpu-ondemand` pool may take (required node affinity)."""
    obj = k.pod(PINNED, phase="Pending", labels={"app": "embed"},
                unschedulable_reason="0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
    obj["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["gpu-ondemand"]}]}]}}}
    return obj


def healthy_pod(name: str, node: str) -> dict[str, Any]:
    p = k.pod(name, node=node, env={"MAX_BATCH_SIZE": "16", "QUANTIZATION": "int8",
                                    "MAX_NUM_SEQS": "128", "REQUEST_TIMEOUT": "300"},
              args=VLLM_HEALTHY)
    p["spec"]["affinity"] = ANTI_AFFINITY
    return p


def fill_cluster(kube: KubeStandin) -> None:
    """Every failure mode in one cluster, in namespace `inference` (and Karpenter's)."""
    kube.add_all([
        k.node("gpu-node-a", zone="us-east-1a"), k.node("gpu-node-b", zone="us-east-1b"),
        k.node("gpu-node-c", zone="us-east-1a"),
        # healthy: two replicas in two zones, behind a service with ready endpoints
        healthy_pod(HEALTHY, "gpu-node-a"), healthy_pod(HEALTHY_2, "gpu-node-b"),
        k.service("llama-7b"),
        k.endpoints("llama-7b", ready=[("10.1.0.1", HEALTHY), ("10.1.0.2", HEALTHY_2)]),
        # GPU OOM: CUDA OOM in the crashed container, vLLM run with the default-ish knobs
        k.pod(CUDA_OOM, node="gpu-node-a", waiting_reason="CrashLoopBackOff",
              last_terminated_reason="Error", last_exit_code=1, restarts=4,
              env={"MAX_BATCH_SIZE": "32", "MAX_NUM_SEQS": "256"},
              args=["--model", "meta-llama/Llama-2-70b-hf", "--gpu-memory-utilization",
                    "0.95", "--max-model-len=32768"]),
        # host memory: OOMKilled at a 16Gi limit while loading
        k.pod(OOM_KILLED, node="gpu-node-b", waiting_reason="CrashLoopBackOff",
              last_terminated_reason="OOMKilled", restarts=3,
              resources={"limits": {"nvidia.com/gpu": "1", "memory": "16Gi"},
                         "requests": {"nvidia.com/gpu": "1", "memory": "16Gi"}}),
        # model download refused
        k.pod(DL_403, node="gpu-node-a", waiting_reason="CrashLoopBackOff",
              last_terminated_reason="Error", last_exit_code=1, restarts=6),
        k.event(DL_403, "BackOff", "Back-off restarting failed container server in pod "
                f"{DL_403}", count=12),
        # model cache PVC never bound: the mount fails
        k.pod(MOUNT, phase="Pending", node="gpu-node-b", waiting_reason="ContainerCreating",
              volumes=[{"name": "model-cache",
                        "persistentVolumeClaim": {"claimName": "model-cache-mixtral"}}]),
        k.pvc("model-cache-mixtral", phase="Pending", storage_class="efs-sc"),
        k.event(MOUNT, "FailedMount", "Unable to attach or mount volumes: unmounted volumes="
                "[model-cache], unattached volumes=[model-cache]: timed out waiting for the "
                "condition", count=5),
        # the init container that downloads the model cannot reach the store
        k.pod(INIT, phase="Pending", node="gpu-node-c", waiting_reason="PodInitializing",
              init_containers=[{"name": "model-downloader", "image": "amazon/aws-cli"}],
              init_container_statuses=[{
                  "name": "model-downloader", "ready": False, "restartCount": 3,
                  "image": "amazon/aws-cli", "imageID": "", "started": False,
                  "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                  "lastState": {"terminated": {
                      "exitCode": 1, "reason": "Error",
                      "message": "fatal error: Could not connect to the endpoint URL: "
                                 "https://models.s3.us-east-1.amazonaws.com/"}}}]),
        # NCCL: tensor-parallel pair, both in one zone, no EFA, service without ready endpoints
        *[k.pod(n, node="gpu-node-" + ("a" if i == 0 else "c"), labels={"app": "deepseek"},
                env={"NCCL_DEBUG": "INFO", "NCCL_TIMEOUT": "600"})
          for i, n in enumerate(NCCL_PODS)],
        k.service("deepseek"),
        k.endpoints("deepseek", not_ready=[("10.1.1.1", NCCL_PODS[0]),
                                           ("10.1.1.2", NCCL_PODS[1])]),
        # Karpenter: a spot pool of one type in one zone where EC2 does not offer it
        k.nodepool("gpu-spot", instance_types=["p4de.24xlarge"], capacity_types=["spot"],
                   zones=["us-east-1a"]),
        k.nodeclaim("gpu-spot-x7k2p", nodepool="gpu-spot", instance_type="p4de.24xlarge",
                    zone="us-east-1a", capacity_type="spot", launched=False),
        k.pod(PENDING, phase="Pending", labels={"app": "llama-405b"},
              unschedulable_reason="0/3 nodes are available: 3 Insufficient nvidia.com/gpu."),
        pinned_elsewhere(),
        k.event(PENDING, "FailedScheduling", "0/3 nodes are available: 3 Insufficient "
                "nvidia.com/gpu. preemption: 0/3 nodes are available: 3 No preemption "
                "victims found for incoming pod.", source_component="default-scheduler"),
        k.pod("karpenter-6d4b8c7f9-abcde", namespace="kube-system", gpus=0,
              labels={"app.kubernetes.io/name": "karpenter"}, container_name="controller",
              image="public.ecr.aws/karpenter/controller:1.1.1"),
    ])
    kube.set_log(NS, HEALTHY, "INFO 11-28 13:00:01 api_server.py:212] Started server\n"
                 "INFO 11-28 13:00:02 metrics.py:351] Avg prompt throughput: 210 tokens/s")
    kube.set_log(NS, HEALTHY_2, "INFO 11-28 13:00:01 api_server.py:212] Started server")
    kube.set_log(NS, CUDA_OOM, "INFO Loading model weights took 128.4 GB\n"
                 "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 "
                 "has a total capacity of 79.15 GiB of which 1.12 GiB is free.\n"
                 "RuntimeError: CUDA error: out of memory", previous=True)
    kube.set_log(NS, CUDA_OOM, "INFO 11-28 13:40:00 Initializing an LLM engine")
    kube.set_log(NS, OOM_KILLED, "INFO Loading safetensors checkpoint shards: 40% "
                 "Completed | 2/5", previous=True)
    kube.set_log(NS, DL_403, "INFO Downloading Qwen/Qwen2-72B-Instruct\n"
                 "ERROR Model download failed: 403 Forbidden: s3://models/qwen-72b/"
                 "config.json", previous=True)
    kube.set_log(NS, NCCL_PODS[0], "NCCL INFO Channel 00/02 : 0 1\n"
                 "deepseek-tp-0:1:1 [0] NCCL WARN Timeout waiting for connection from rank 1\n"
                 "[Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=12, "
                 "OpType=ALLREDUCE, Timeout(ms)=600000) ran for 600012 milliseconds")
    kube.set_log(NS, NCCL_PODS[1], "NCCL INFO Channel 00/02 : 0 1")
    kube.set_log("kube-system", "karpenter-6d4b8c7f9-abcde",
                 '{"level":"INFO","message":"found provisionable pod(s)","Pods":"inference/'
                 f'{PENDING}"}}\n' + ICE_LOG)
