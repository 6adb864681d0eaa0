"""`exec_in_pod` through the real `kubernetes` client's WebSocket exec against the stand-in.

The stand-in speaks RFC 6455 and `v4.channel.k8s.io` itself, so these tests cover the
client's `stream()` as it runs in a cluster: handshake, channels, the Status on channel 3.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
import websocket
import yaml
from pydantic import SecretStr

from bot.config import KubernetesSettings
from bot.errors import SourceError
from bot.sources.kube_exec import EXEC_FORBIDDEN, exec_in_pod
from bot.sources.kubernetes import KubernetesSource
from tests.harness.kube import KubeStandin, namespace, pod

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-exec-token"
NODE = "ip-10-0-1-10.ec2.internal"
NVIDIA_SMI = ["nvidia-smi", "--query-gpu=index,memory.used,memory.total", "--format=csv"]
CSV = (
    "index, memory.used [MiB], memory.total [MiB]\n0, 39012 MiB, 40960 MiB\n1, 512 MiB, 40960 MiB\n"
)


def _two_containers(name: str) -> dict[str, object]:
    return pod(
        name,
        node=NODE,
        containers=[
            {"name": "server", "image": "vllm/vllm-openai:v0.6.3"},
            {"name": "proxy", "image": "envoyproxy/envoy:v1.31"},
        ],
        container_statuses=[
            {
                "name": n,
                "ready": True,
                "restartCount": 0,
                "image": "x",
                "imageID": "",
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            }
            for n in ("server", "proxy")
        ],
    )


@pytest.fixture
def kube() -> Iterator[KubeStandin]:
    # A token, so the test also shows the client carries it over the WebSocket handshake.
    with KubeStandin(token=TOKEN) as standin:
        standin.add_all(
            [
                namespace("inference"),
                pod("llama-7b-5d9c8-aaaaa", node=NODE),
                _two_containers("llama-70b-7f6d4-bbbbb"),
                pod(
                    "llama-7b-5d9c8-crash",
                    node=NODE,
                    waiting_reason="CrashLoopBackOff",
                    last_terminated_reason="OOMKilled",
                    restarts=5,
                ),
            ]
        )
        yield standin


@pytest.fixture
def source(kube: KubeStandin) -> KubernetesSource:
    return KubernetesSource(
        KubernetesSettings(mode="url", url=kube.url, token=SecretStr(TOKEN), timeout_s=2.0)
    )


def _exec_requests(kube: KubeStandin) -> list[tuple[str, str, str, str, int | None]]:
    return [
        (r.method, r.verb, r.rbac_resource, r.name, r.status)
        for r in kube.requests
        if r.subresource == "exec"
    ]


def test_nvidia_smi_csv_is_returned(kube: KubeStandin, source: KubernetesSource) -> None:
    seen: list[tuple[str, list[str]]] = []

    def nvidia_smi(container: str, command: list[str]) -> tuple[str, str, int]:
        seen.append((container, command))
        return CSV, "", 0

    kube.set_exec("inference", "llama-7b-5d9c8-aaaaa", nvidia_smi)
    out = exec_in_pod(source, "inference", "llama-7b-5d9c8-aaaaa", None, NVIDIA_SMI, 2.0)
    assert out == CSV
    assert seen == [("server", NVIDIA_SMI)]  # every repeated `command` arrived, in order
    # A WebSocket exec is a GET: RBAC `get`, plus `create` since 1.35 (recorded after it).
    assert _exec_requests(kube) == [
        ("GET", "get", "pods/exec", "llama-7b-5d9c8-aaaaa", 101),
        ("GET", "create", "pods/exec", "llama-7b-5d9c8-aaaaa", 101),
    ]


def test_large_output_spans_many_messages(kube: KubeStandin, source: KubernetesSource) -> None:
    big = "".join(f"{i}, {i * 7} MiB, 81920 MiB\n" for i in range(5000))  # ~120 KiB
    kube.set_exec("inference", "llama-7b-5d9c8-aaaaa", lambda c, cmd: (big, "", 0))
    assert (
        exec_in_pod(source, "inference", "llama-7b-5d9c8-aaaaa", "server", NVIDIA_SMI, 2.0) == big
    )


def test_non_zero_exit_gives_code_and_first_stderr_line(
    kube: KubeStandin, source: KubernetesSource
) -> None:
    stderr = (
        "\nNVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"
        "Make sure that the latest NVIDIA driver is installed and running.\n"
    )
    kube.set_exec("inference", "llama-7b-5d9c8-aaaaa", lambda c, cmd: ("", stderr, 9))
    with pytest.raises(SourceError) as err:
        exec_in_pod(source, "inference", "llama-7b-5d9c8-aaaaa", None, NVIDIA_SMI, 2.0)
    assert err.value.reason == (
        "exec nvidia-smi in inference/llama-7b-5d9c8-aaaaa: exited with code 9: "
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    )


def test_missing_binary_is_the_runtime_message(source: KubernetesSource) -> None:
    # No handler registered: the command fails to start, as in an image without nvidia-smi.
    with pytest.raises(SourceError) as err:
        exec_in_pod(source, "inference", "llama-7b-5d9c8-aaaaa", None, NVIDIA_SMI, 2.0)
    assert "executable file not found in $PATH" in err.value.reason
    assert "\n" not in err.value.reason


def test_forbidden_points_at_the_exec_overlay(kube: KubeStandin, source: KubernetesSource) -> None:
    kube.fail(r"/pods/[^/]+/exec$", 403)
    with pytest.raises(SourceError) as err:
        exec_in_pod(source, "inference", "llama-7b-5d9c8-aaaaa", None, NVIDIA_SMI, 2.0)
    assert (
        err.value.reason == f"exec nvidia-smi in inference/llama-7b-5d9c8-aaaaa: {EXEC_FORBIDDEN}"
    )
    assert TOKEN not in str(err.value)
    # The first check refused it: no synthetic `create` check follows.
    assert _exec_requests(kube) == [("GET", "get", "pods/exec", "llama-7b-5d9c8-aaaaa", 403)]


def test_missing_pod(source: KubernetesSource) -> None:
    with pytest.raises(SourceError) as err:
        exec_in_pod(source, "inference", "llama-7b-gone", None, NVIDIA_SMI, 2.0)
    assert err.value.reason == (
        'exec nvidia-smi in inference/llama-7b-gone: pod not found (pods "llama-7b-gone" not found)'
    )


def test_container_required_and_unknown(kube: KubeStandin, source: KubernetesSource) -> None:
    kube.set_exec("inference", "llama-70b-7f6d4-bbbbb", lambda c, cmd: (c, "", 0))
    with pytest.raises(SourceError) as err:
        exec_in_pod(source, "inference", "llama-70b-7f6d4-bbbbb", None, NVIDIA_SMI, 2.0)
    assert err.value.reason.endswith(
        "a container name must be specified for pod llama-70b-7f6d4-bbbbb, "
        "choose one of: [server proxy]"
    )
    with pytest.raises(SourceError) as err:
        exec_in_pod(source, "inference", "llama-70b-7f6d4-bbbbb", "vllm", NVIDIA_SMI, 2.0)
    assert err.value.reason.endswith("container vllm is not valid for pod llama-70b-7f6d4-bbbbb")
    assert exec_in_pod(source, "inference", "llama-70b-7f6d4-bbbbb", "proxy", ["true"], 2.0) == (
        "proxy"
    )


def test_no_command_is_a_bad_request(source: KubernetesSource) -> None:
    with pytest.raises(SourceError) as err:
        exec_in_pod(source, "inference", "llama-7b-5d9c8-aaaaa", None, [], 2.0)
    assert err.value.reason.endswith("you must specify at least one command for the container")


def test_crashlooping_container_cannot_be_exec_into(source: KubernetesSource) -> None:
    with pytest.raises(SourceError) as err:
        exec_in_pod(source, "inference", "llama-7b-5d9c8-crash", None, NVIDIA_SMI, 2.0)
    assert err.value.reason.endswith(
        'Internal error occurred: unable to upgrade connection: container not found ("server")'
    )


def test_stuck_command_times_out(kube: KubeStandin, source: KubernetesSource) -> None:
    release = threading.Event()

    def hang(container: str, command: list[str]) -> tuple[str, str, int]:
        release.wait(10)
        return "", "", 0

    kube.set_exec("inference", "llama-7b-5d9c8-aaaaa", hang)
    start = time.monotonic()
    try:
        with pytest.raises(SourceError) as err:
            exec_in_pod(source, "inference", "llama-7b-5d9c8-aaaaa", None, NVIDIA_SMI, 1.0)
    finally:
        release.set()
    assert time.monotonic() - start < 1.8
    assert err.value.reason == (
        "exec nvidia-smi in inference/llama-7b-5d9c8-aaaaa: timed out after 1 s"
    )


def test_stuck_handshake_times_out(kube: KubeStandin, source: KubernetesSource) -> None:
    # websocket-client connects with a blocking socket: only our own deadline ends this.
    kube.delay(r"/exec$", 3.0)
    start = time.monotonic()
    with pytest.raises(SourceError) as err:
        exec_in_pod(source, "inference", "llama-7b-5d9c8-aaaaa", None, NVIDIA_SMI, 0.5)
    assert time.monotonic() - start < 1.2
    assert err.value.reason.endswith("timed out after 0.5 s (connecting)")


def test_unreachable_api_server() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = KubernetesSource(KubernetesSettings(mode="url", url=f"http://127.0.0.1:{port}"))
    with pytest.raises(SourceError) as err:
        exec_in_pod(source, "inference", "llama-7b-5d9c8-aaaaa", None, NVIDIA_SMI, 2.0)
    assert err.value.reason == (
        "exec nvidia-smi in inference/llama-7b-5d9c8-aaaaa: cannot connect to the API server"
    )


def test_standin_exec_handshake_is_strict(kube: KubeStandin) -> None:
    url = f"{kube.url}/api/v1/namespaces/inference/pods/llama-7b-5d9c8-aaaaa/exec"
    query = "?command=nvidia-smi&stdout=true&stderr=true"
    auth = [f"Authorization: Bearer {TOKEN}"]
    plain = urllib3.PoolManager().request(
        "GET", url + query, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert plain.status == 400
    assert json.loads(plain.data)["message"] == "Upgrade request required"
    ws = websocket.WebSocket()
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        # Only a protocol the stand-in does not speak: refused, as wsstream refuses it.
        ws.connect(  # type: ignore[no-untyped-call]
            url.replace("http", "ws", 1) + query, header=auth, subprotocols=["v5.channel.k8s.io"]
        )
    assert err.value.status_code == 400
    assert b"requested protocol(s) are not supported" in (err.value.resp_body or b"")
    ws = websocket.WebSocket()
    ws.connect(  # type: ignore[no-untyped-call]
        url.replace("http", "ws", 1) + "?command=true&stdout=true",
        header=auth,
        subprotocols=["v5.channel.k8s.io", "v4.channel.k8s.io"],  # the client checks the pick
    )
    assert ws.getsubprotocol() == "v4.channel.k8s.io"
    ws.close(timeout=0)


def test_exec_overlay_grants_every_recorded_check(
    kube: KubeStandin, source: KubernetesSource
) -> None:
    kube.set_exec("inference", "llama-7b-5d9c8-aaaaa", lambda c, cmd: (CSV, "", 0))
    exec_in_pod(source, "inference", "llama-7b-5d9c8-aaaaa", None, NVIDIA_SMI, 2.0)
    role = yaml.safe_load((ROOT / "manifests/overlays/exec/role.yaml").read_text())
    granted = {
        (verb, resource)
        for rule in role["rules"]
        for verb in rule["verbs"]
        for resource in rule["resources"]
    }
    used = {(r.verb, r.rbac_resource) for r in kube.requests if r.subresource == "exec"}
    assert used == {("get", "pods/exec"), ("create", "pods/exec")}
    assert used <= granted
    assert role["metadata"]["namespace"] == "inference"
