"""The Kubernetes stand-in, exercised through the real `kubernetes` client.

These tests pin the behaviour later tests rely on: if the stand-in drifted from the API
server (selectors, Status bodies, log errors), bot tests would pass against a fiction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes import dynamic as k8s_dynamic
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from tests.harness.kube import (
    KubeStandin,
    endpoints,
    event,
    namespace,
    node,
    nodeclaim,
    nodepool,
    pod,
    pvc,
    service,
)


def _api_client(url: str, token: str | None = None) -> k8s.ApiClient:
    cfg = k8s.Configuration(host=url)
    cfg.retries = 0
    if token is not None:
        # kubernetes 36 reads the key as "BearerToken" and ignores an `api_key_prefix` stored
        # under the old "authorization" name, so put the prefix in the value, under both names.
        cfg.api_key = {"authorization": f"Bearer {token}", "BearerToken": f"Bearer {token}"}
    return k8s.ApiClient(cfg)


@pytest.fixture
def kube() -> Iterator[KubeStandin]:
    with KubeStandin() as standin:
        standin.add_all(
            [
                namespace("inference"),
                namespace("kube-system"),
                node("ip-10-0-1-10.ec2.internal"),
                node("ip-10-0-1-11.ec2.internal", ready=False, zone="us-east-1b"),
                node("ip-10-0-1-12.ec2.internal", instance_type="g5.xlarge", unschedulable=True),
                node("ip-10-0-2-20.ec2.internal", instance_type="m5.large", nodepool="system"),
                pod("llama-7b-5d9c8-aaaaa", node="ip-10-0-1-10.ec2.internal"),
                pod(
                    "llama-7b-5d9c8-bbbbb",
                    node="ip-10-0-1-10.ec2.internal",
                    waiting_reason="CrashLoopBackOff",
                    last_terminated_reason="OOMKilled",
                    restarts=7,
                ),
                pod(
                    "mistral-6f7d8-ccccc",
                    phase="Pending",
                    unschedulable_reason="0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
                ),
                pod(
                    "coredns-abc12-zzzzz",
                    namespace="kube-system",
                    gpus=0,
                    node="ip-10-0-2-20.ec2.internal",
                    image="coredns/coredns:1.11.1",
                    container_name="coredns",
                ),
                event(
                    "llama-7b-5d9c8-bbbbb",
                    "BackOff",
                    "Back-off restarting failed container server",
                    count=12,
                ),
                event(
                    "mistral-6f7d8-ccccc",
                    "FailedScheduling",
                    "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
                    source_component="default-scheduler",
                ),
                event(
                    "ip-10-0-1-11.ec2.internal",
                    "NodeNotReady",
                    "Node is not ready",
                    namespace="default",
                    involved_kind="Node",
                    source_component="node-controller",
                ),
                pvc("model-weights"),
                pvc("scratch", phase="Pending"),
                service("llama-7b", selector={"app": "llama-7b"}),
                endpoints(
                    "llama-7b",
                    ready=[("10.1.0.5", "llama-7b-5d9c8-aaaaa")],
                    not_ready=[("10.1.0.6", "llama-7b-5d9c8-bbbbb")],
                ),
                endpoints("mistral"),
                nodepool("gpu", used={"nvidia.com/gpu": "16"}, node_count=2),
                nodeclaim("gpu-abcde", node_name="ip-10-0-1-10.ec2.internal"),
                nodeclaim("gpu-fghij", launched=False),
                nodeclaim("cpu-zzzzz", nodepool="system", instance_type="m5.large"),
            ]
        )
        standin.requests_clear()
        yield standin


@pytest.fixture
def core(kube: KubeStandin) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(_api_client(kube.url))


def _log(core: k8s.CoreV1Api, name: str, namespace: str = "inference", **kwargs: object) -> str:
    """Read a pod log as text.

    kubernetes 36.0.x returns the *repr* of the bytes (`"b'...'"`) from
    `read_namespaced_pod_log` (kubernetes-client/python#2596), and older versions parse a log
    that happens to be JSON. Reading the raw response is correct on every version.
    """
    resp = core.read_namespaced_pod_log(name, namespace, _preload_content=False, **kwargs)
    return str(resp.data.decode("utf-8"))


def _names(items: list[object]) -> list[str]:
    return [i.metadata.name for i in items]  # type: ignore[attr-defined]


def test_list_node_filters_by_equality_selector(core: k8s.CoreV1Api) -> None:
    nodes = core.list_node(label_selector="nvidia.com/gpu.present=true")
    assert _names(nodes.items) == [
        "ip-10-0-1-10.ec2.internal",
        "ip-10-0-1-11.ec2.internal",
        "ip-10-0-1-12.ec2.internal",
    ]
    by_name = {n.metadata.name: n for n in nodes.items}
    ready = {
        name: next(c.status for c in n.status.conditions if c.type == "Ready")
        for name, n in by_name.items()
    }
    assert ready == {
        "ip-10-0-1-10.ec2.internal": "True",
        "ip-10-0-1-11.ec2.internal": "False",
        "ip-10-0-1-12.ec2.internal": "True",
    }
    assert by_name["ip-10-0-1-12.ec2.internal"].spec.unschedulable is True
    assert by_name["ip-10-0-1-12.ec2.internal"].status.capacity["nvidia.com/gpu"] == "1"
    assert nodes.metadata.resource_version
    assert core.list_node(label_selector="nvidia.com/gpu.present==true").items


def test_set_based_inequality_and_existence_selectors(core: k8s.CoreV1Api) -> None:
    zone = "topology.kubernetes.io/zone"
    in_b = core.list_node(label_selector=f"{zone} in (us-east-1b, us-east-1c)")
    assert _names(in_b.items) == ["ip-10-0-1-11.ec2.internal"]
    not_a = core.list_node(label_selector=f"{zone} notin (us-east-1a)")
    assert _names(not_a.items) == ["ip-10-0-1-11.ec2.internal"]
    # `!=` also matches nodes without the label, as in the API server.
    non_gpu = core.list_node(label_selector="nvidia.com/gpu.present!=true")
    assert _names(non_gpu.items) == ["ip-10-0-2-20.ec2.internal"]
    without = core.list_node(label_selector="!nvidia.com/gpu.present")
    assert _names(without.items) == ["ip-10-0-2-20.ec2.internal"]
    combined = core.list_node(
        label_selector="nvidia.com/gpu.present,karpenter.sh/nodepool=gpu,"
        "node.kubernetes.io/instance-type notin (g5.xlarge)"
    )
    assert _names(combined.items) == ["ip-10-0-1-10.ec2.internal", "ip-10-0-1-11.ec2.internal"]
    with pytest.raises(ApiException) as err:
        core.list_node(label_selector="a in b")
    assert err.value.status == 400
    assert json.loads(err.value.body)["reason"] == "BadRequest"


def test_list_pods_and_states(core: k8s.CoreV1Api) -> None:
    pods = core.list_namespaced_pod("inference")
    assert pods.kind == "PodList"
    by_name = {p.metadata.name: p for p in pods.items}
    assert sorted(by_name) == [
        "llama-7b-5d9c8-aaaaa",
        "llama-7b-5d9c8-bbbbb",
        "mistral-6f7d8-ccccc",
    ]
    crash = by_name["llama-7b-5d9c8-bbbbb"].status.container_statuses[0]
    assert crash.state.waiting.reason == "CrashLoopBackOff"
    assert crash.last_state.terminated.reason == "OOMKilled"
    assert crash.last_state.terminated.exit_code == 137
    assert crash.restart_count == 7
    pending = by_name["mistral-6f7d8-ccccc"]
    scheduled = next(c for c in pending.status.conditions if c.type == "PodScheduled")
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
    assert "Insufficient nvidia.com/gpu" in scheduled.message
    labelled = core.list_namespaced_pod("inference", label_selector="app=llama-7b")
    assert len(labelled.items) == 2
    on_node = core.list_pod_for_all_namespaces(
        field_selector="spec.nodeName=ip-10-0-1-10.ec2.internal,status.phase=Running"
    )
    assert len(on_node.items) == 2
    unscheduled = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=")
    assert _names(unscheduled.items) == ["mistral-6f7d8-ccccc"]
    assert len(core.list_pod_for_all_namespaces().items) == 4
    assert core.list_namespaced_pod("nowhere").items == []
    one = core.read_namespaced_pod("llama-7b-5d9c8-aaaaa", "inference")
    assert one.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"


def test_pod_logs_previous_tail_and_errors(kube: KubeStandin, core: k8s.CoreV1Api) -> None:
    name = "llama-7b-5d9c8-bbbbb"
    kube.set_log("inference", name, "loading weights\nstarting server\n")
    kube.set_log(
        "inference",
        name,
        "loading weights\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        previous=True,
    )
    prev = _log(core, name, previous=True, tail_lines=1)
    assert prev == "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
    assert _log(core, name, container="server").startswith("loading weights")
    kube.append_log("inference", name, "old line", age_s=3600)
    recent = _log(core, name, since_seconds=60)
    assert "old line" not in recent
    with pytest.raises(ApiException) as err:
        _log(core, "llama-7b-5d9c8-aaaaa", previous=True)
    assert err.value.status == 400
    body = json.loads(err.value.body)
    assert body["message"] == (
        'previous terminated container "server" in pod "llama-7b-5d9c8-aaaaa" not found'
    )
    with pytest.raises(ApiException) as err:
        _log(core, name, container="sidecar")
    assert err.value.status == 400
    request = kube.requests[0]
    assert (request.verb, request.resource, request.subresource) == ("get", "pods", "log")
    assert request.query["previous"].lower() == "true"  # the client sends "True"
    assert request.query["tailLines"] == "1"


def test_event_field_selectors(core: k8s.CoreV1Api) -> None:
    events = core.list_namespaced_event(
        "inference",
        field_selector="involvedObject.name=mistral-6f7d8-ccccc,involvedObject.kind=Pod",
    )
    assert [e.reason for e in events.items] == ["FailedScheduling"]
    # Events written through events.k8s.io (the scheduler) have no legacy timestamps.
    assert events.items[0].last_timestamp is None
    assert events.items[0].event_time is not None
    backoff = core.list_event_for_all_namespaces(field_selector="reason=BackOff").items
    assert backoff[0].count == 12
    assert backoff[0].last_timestamp is not None
    warnings = core.list_event_for_all_namespaces(field_selector="type!=Normal").items
    assert len(warnings) == 3
    node_events = core.list_event_for_all_namespaces(field_selector="involvedObject.kind==Node")
    assert [e.involved_object.name for e in node_events.items] == ["ip-10-0-1-11.ec2.internal"]
    with pytest.raises(ApiException) as err:
        core.list_node(field_selector="status.phase=Running")
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == "field label not supported: status.phase"


def test_pvcs_services_endpoints_namespaces(core: k8s.CoreV1Api) -> None:
    claims = {
        c.metadata.name: c for c in core.list_namespaced_persistent_volume_claim("inference").items
    }
    assert claims["model-weights"].status.phase == "Bound"
    assert claims["scratch"].spec.volume_name is None
    svc = core.read_namespaced_service("llama-7b", "inference")
    assert svc.spec.ports[0].port == 8000
    ep = core.read_namespaced_endpoints("llama-7b", "inference")
    assert ep.subsets[0].addresses[0].target_ref.name == "llama-7b-5d9c8-aaaaa"
    assert ep.subsets[0].not_ready_addresses[0].ip == "10.1.0.6"
    assert core.read_namespaced_endpoints("mistral", "inference").subsets is None
    assert len(core.list_namespaced_service("inference").items) == 1
    assert _names(core.list_namespace().items) == ["inference", "kube-system"]
    assert core.read_namespace("inference").status.phase == "Active"


def test_custom_objects_nodeclaims_and_nodepools(kube: KubeStandin) -> None:
    custom = k8s.CustomObjectsApi(_api_client(kube.url))
    claims = custom.list_cluster_custom_object("karpenter.sh", "v1", "nodeclaims")
    assert claims["kind"] == "NodeClaimList"
    assert [c["metadata"]["name"] for c in claims["items"]] == [
        "cpu-zzzzz",
        "gpu-abcde",
        "gpu-fghij",
    ]
    failed = custom.get_cluster_custom_object("karpenter.sh", "v1", "nodeclaims", "gpu-fghij")
    launched = next(c for c in failed["status"]["conditions"] if c["type"] == "Launched")
    assert (launched["status"], launched["reason"]) == ("False", "LaunchFailed")
    assert "InsufficientInstanceCapacity" in launched["message"]
    gpu_claims = custom.list_cluster_custom_object(
        "karpenter.sh", "v1", "nodeclaims", label_selector="karpenter.sh/nodepool=gpu"
    )
    assert len(gpu_claims["items"]) == 2
    pool = custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", "gpu")
    assert pool["spec"]["limits"]["nvidia.com/gpu"] == "64"
    with pytest.raises(ApiException) as err:
        custom.get_cluster_custom_object("karpenter.sh", "v1", "nodeclaims", "nope")
    assert err.value.status == 404
    assert json.loads(err.value.body)["message"] == 'nodeclaims.karpenter.sh "nope" not found'


def test_not_found_is_a_status_body(core: k8s.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("x", "inference")
    assert err.value.status == 404
    body = json.loads(err.value.body)
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "x" not found',
        "reason": "NotFound",
        "details": {"name": "x", "kind": "pods"},
        "code": 404,
    }


def test_faults_forbidden_and_delays(kube: KubeStandin, core: k8s.CoreV1Api) -> None:
    kube.fail(r"/pods$", status=500, times=1)
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("inference")
    assert err.value.status == 500
    assert json.loads(err.value.body)["reason"] == "InternalError"
    assert core.list_namespaced_pod("inference").items  # `times=1` is used up

    kube.fail(r"/namespaces/inference/pods$", status=403)
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("inference")
    assert err.value.status == 403
    assert json.loads(err.value.body)["message"] == (
        'pods is forbidden: User "system:serviceaccount:genai:genai-ops-bot" cannot list '
        'resource "pods" in API group "" in the namespace "inference"'
    )
    kube.fail(r"/nodeclaims", status=403)
    with pytest.raises(ApiException) as err:
        k8s.CustomObjectsApi(_api_client(kube.url)).list_cluster_custom_object(
            "karpenter.sh", "v1", "nodeclaims"
        )
    assert json.loads(err.value.body)["message"] == (
        'nodeclaims.karpenter.sh is forbidden: User "system:serviceaccount:genai:genai-ops-bot" '
        'cannot list resource "nodeclaims" in API group "karpenter.sh" at the cluster scope'
    )
    kube.fail(r"/log$", status=403, times=1)
    with pytest.raises(ApiException) as err:
        _log(core, "llama-7b-5d9c8-aaaaa")
    assert json.loads(err.value.body)["message"] == (
        'pods "llama-7b-5d9c8-aaaaa" is forbidden: User '
        '"system:serviceaccount:genai:genai-ops-bot" cannot get resource "pods/log" '
        'in API group "" in the namespace "inference"'
    )
    kube.clear_faults()
    kube.delay(r"/nodes$", 2.0)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as timeout:
        core.list_node(_request_timeout=0.3)
    assert isinstance(timeout.value.reason, urllib3.exceptions.ReadTimeoutError)
    kube.clear_faults()
    assert core.list_node().items


def test_bearer_token_is_required_when_set(kube: KubeStandin) -> None:
    kube.token = "s3cret"
    with pytest.raises(ApiException) as err:
        k8s.CoreV1Api(_api_client(kube.url)).list_node()
    assert err.value.status == 401
    assert json.loads(err.value.body)["reason"] == "Unauthorized"
    assert k8s.CoreV1Api(_api_client(kube.url, token="s3cret")).list_node().items


def test_recorded_requests_carry_rbac_attributes(kube: KubeStandin, core: k8s.CoreV1Api) -> None:
    custom = k8s.CustomObjectsApi(_api_client(kube.url))
    core.list_node(label_selector="nvidia.com/gpu.present=true")
    core.read_node("ip-10-0-1-10.ec2.internal")
    core.list_namespaced_event("inference", field_selector="involvedObject.name=x")
    core.read_namespace("inference")
    custom.list_cluster_custom_object("karpenter.sh", "v1", "nodeclaims")
    custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", "gpu")
    seen = [
        (r.verb, r.api_group, r.rbac_resource, r.namespace, r.name, r.status) for r in kube.requests
    ]
    assert seen == [
        ("list", "", "nodes", "", "", 200),
        ("get", "", "nodes", "", "ip-10-0-1-10.ec2.internal", 200),
        ("list", "", "events", "inference", "", 200),
        ("get", "", "namespaces", "inference", "inference", 200),
        ("list", "karpenter.sh", "nodeclaims", "", "", 200),
        ("get", "karpenter.sh", "nodepools", "", "gpu", 200),
    ]
    assert kube.requests[0].query == {"labelSelector": "nvidia.com/gpu.present=true"}
    kube.requests_clear()
    assert kube.requests == []


def test_pagination_and_watch(kube: KubeStandin, core: k8s.CoreV1Api) -> None:
    first = core.list_node(limit=3)
    assert len(first.items) == 3
    assert first.metadata.remaining_item_count == 1
    rest = core.list_node(limit=3, _continue=first.metadata._continue)
    assert _names(rest.items) == ["ip-10-0-2-20.ec2.internal"]
    assert rest.metadata._continue is None

    stream = k8s_watch.Watch().stream(
        core.list_namespaced_pod, "inference", label_selector="app=llama-7b", timeout_seconds=1
    )
    kinds = [(e["type"], e["object"].metadata.name) for e in stream]
    assert kinds == [("ADDED", "llama-7b-5d9c8-aaaaa"), ("ADDED", "llama-7b-5d9c8-bbbbb")]
    assert kube.requests[-1].verb == "watch"


def test_discovery_serves_the_dynamic_client(kube: KubeStandin, tmp_path: Path) -> None:
    # The dynamic client caches discovery in /tmp keyed by host: keep it per test instead.
    dyn = k8s_dynamic.DynamicClient(_api_client(kube.url), cache_file=str(tmp_path / "d.json"))
    claims = dyn.resources.get(api_version="karpenter.sh/v1", kind="NodeClaim").get()
    assert [c.metadata.name for c in claims.items] == ["cpu-zzzzz", "gpu-abcde", "gpu-fghij"]
    pods = dyn.resources.get(api_version="v1", kind="Pod").get(namespace="kube-system")
    assert [p.metadata.name for p in pods.items] == ["coredns-abc12-zzzzz"]
