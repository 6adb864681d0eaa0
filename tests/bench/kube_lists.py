"""Kubernetes list calls: the official client's models against raw JSON into our pydantic
models (`bot/sources/k8s_models.py`), on the same stand-in, in the same run.

Both sides make the same HTTP call through the same `kubernetes` client; the only difference
is what turns the body into objects. Each side also derives the rows `/genai status` needs
(`NodeInfo` / `PodInfo` for ours; the same fields read off `V1Node` / `V1Pod` for the client),
so neither is timed on work the other skips.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.config import KubernetesSettings
from bot.sources.kubernetes import KubernetesSource
from tests.harness.kube import KubeStandin, node, pod

SIZES = (1000, 5000)
RUNS = 5
SELECTOR = "nvidia.com/gpu.present=true"


def _client_nodes(src: KubernetesSource) -> int:
    items = src.core.list_node(label_selector=SELECTOR, _request_timeout=30).items
    ready = [n.metadata.name for n in items
             if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
    return len(ready)


def _client_pods(src: KubernetesSource) -> int:
    items = src.core.list_namespaced_pod("inference", _request_timeout=30).items
    running = [p.metadata.name for p in items if p.status.phase == "Running" and all(
        cs.state.running is not None for cs in p.status.container_statuses or [])]
    return len(running)


def _ours_nodes(src: KubernetesSource) -> int:
    return sum(n.ready for n in src.list_nodes(SELECTOR))


def _ours_pods(src: KubernetesSource) -> int:
    return sum(p.healthy for p in src.list_pods("inference"))


def _best(fn: Callable[[KubernetesSource], int], src: KubernetesSource) -> tuple[float, int]:
    fn(src)  # warm-up: connection, imports
    times = []
    result = 0
    for _ in range(RUNS):
        started = time.perf_counter()
        result = fn(src)
        times.append(time.perf_counter() - started)
    return min(times), result


def run() -> tuple[list[str], list[list[Any]]]:
    header = ["objects", "list", "client models s", "raw JSON + pydantic s", "client / ours",
              "same answer"]
    rows: list[list[Any]] = []
    for size in SIZES:
        with KubeStandin() as kube:
            for i in range(size):
                name = f"gpu-node-{i:05d}"
                kube.add(node(name, labels={"nvidia.com/gpu.present": "true"}))
                kube.add(pod(f"vllm-{i:05d}", node=name, labels={"app": "inference"}))
            src = KubernetesSource(KubernetesSettings(mode="url", url=kube.url, timeout_s=30))
            for what, client, ours in (("nodes", _client_nodes, _ours_nodes),
                                       ("pods", _client_pods, _ours_pods)):
                c_s, c_n = _best(client, src)
                o_s, o_n = _best(ours, src)
                rows.append([size, what, f"{c_s:.3f}", f"{o_s:.3f}", f"{c_s / o_s:.1f}×",
                             "yes" if c_n == o_n == size else f"no ({c_n} vs {o_n})"])
    return header, rows
