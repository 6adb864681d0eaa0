"""Two clusters the tests and the demo reuse: a healthy one and one in trouble.

Each fills a synthetic exporter (scraped by the real Prometheus) and the Kubernetes stand-in.
"""

from __future__ import annotations

from tests.harness.exporter import SyntheticExporter, p99_buckets
from tests.harness.kube import KubeStandin, node, pod

GPU_LABEL = {"nvidia.com/gpu.present": "true"}


def healthy(exporter: SyntheticExporter, kube: KubeStandin) -> None:
    for i in range(3):
        kube.add(node(f"gpu-node-{i}", labels=GPU_LABEL, zone=f"ap-northeast-2{'abc'[i]}"))
        for g in range(8):
            exporter.set_gpu(f"gpu-node-{i}", g, util=55 + g, fb_used=40_000, fb_free=41_000,
                             temp=62, power=310)
    kube.add(node("cpu-node-0", instance_type="m6i.xlarge"))
    for name, host in [("vllm-llama-2-7b-0", "gpu-node-0"), ("vllm-llama-2-7b-1", "gpu-node-1"),
                       ("vllm-mistral-7b-0", "gpu-node-2")]:
        kube.add(pod(name, node=host, labels={"app": "inference"}))
    exporter.set_model("llama-2-7b", rps=40, error_ratio=0.002, latency_buckets=p99_buckets(1.5))
    exporter.set_model("mistral-7b", rps=20, error_ratio=0.001, latency_buckets=p99_buckets(0.8))


def unhealthy(exporter: SyntheticExporter, kube: KubeStandin) -> None:
    """One node NotReady, an OOM crash loop, an unschedulable pod, errors over 1%, P99 over
    5 s, idle GPUs, and one GPU (on a newer exporter, `hostname`) at 95% memory."""
    for i in range(3):
        ready = i != 2
        kube.add(node(f"gpu-node-{i}", labels=GPU_LABEL, ready=ready,
                      reason=None if ready else "KubeletNotReady"))
        for g in range(8):
            exporter.set_gpu(f"gpu-node-{i}", g, util=12, fb_used=20_000, fb_free=61_000,
                             host_label="hostname" if i == 1 else "Hostname")
    exporter.set_gpu("gpu-node-1", 3, util=12, fb_used=77_000, fb_free=4_000,
                     host_label="hostname")
    kube.add(pod("vllm-llama-2-7b-0", node="gpu-node-0", labels={"app": "inference"}))
    kube.add(pod("vllm-llama-2-7b-1", node="gpu-node-1", labels={"app": "inference"},
                 waiting_reason="CrashLoopBackOff", last_terminated_reason="OOMKilled",
                 last_exit_code=137, restarts=6,
                 env={"MAX_BATCH_SIZE": "32", "MAX_NUM_SEQS": "256"},
                 args=["--model", "meta-llama/Llama-2-7b-hf",
                       "--gpu-memory-utilization", "0.95", "--max-model-len", "32768"]))
    kube.set_log("inference", "vllm-llama-2-7b-1", previous=True, text=(
        "INFO 11-28 03:01:12 llm_engine.py:237] Initializing an LLM engine (v0.6.3)\n"
        "ERROR 11-28 03:02:40 engine.py:135] torch.OutOfMemoryError: CUDA out of memory. "
        "Tried to allocate 2.00 GiB. GPU 3 has a total capacity of 79.15 GiB of which "
        "1.02 GiB is free.\n"))
    kube.add(pod("vllm-llama-70b-0", phase="Pending", labels={"app": "inference"},
                 unschedulable_reason="0/3 nodes are available: 3 Insufficient nvidia.com/gpu."))
    exporter.set_model("llama-2-7b", rps=40, error_ratio=0.03, latency_buckets=p99_buckets(7.0))
    exporter.set_model("mistral-7b", rps=20, error_ratio=0.001, latency_buckets=p99_buckets(0.8))
    exporter.set_restarts("inference", "vllm-llama-2-7b-1", 6)
