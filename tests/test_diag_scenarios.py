"""`/genai diag` end to end through the real parts: the Kubernetes stand-in over HTTP to the
real client, real Prometheus scraping DCGM series with pod labels, and moto's EC2 offerings.
One fixture per failure mode of the guide, plus a healthy pod that must get no false alarm.
The last test replays every API call made here against the ClusterRole in manifests/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.render.text import render_text
from bot.report import Report, Status
from bot.slack.render.report import render_blocks
from bot.sources.aws import AwsClients
from bot.sources.k8s_models import Pod
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from commands import diag
from commands.base import Context
from commands.diag import karpenter as karpenter_diag
from tests.harness import kube as k
from tests.harness.blockkit import validate_blocks
from tests.harness.diag_fixtures import (
    CUDA_OOM,
    DL_403,
    HEALTHY,
    HEALTHY_2,
    INIT,
    MOUNT,
    NS,
    OOM_KILLED,
    PENDING,
    PINNED,
    fill_cluster,
)
from tests.harness.exporter import SyntheticExporter
from tests.harness.kube import KubeRequest, KubeStandin
from tests.harness.procs import PrometheusProcess, require_binary
from tests.harness.rbac import allowed, assert_all_allowed, clusterrole_rules

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"  # the stand-in's nodes and NodeClaims live in us-east-1 zones
MIB = 81920


def fill_calm(kube: KubeStandin) -> None:
    """A cluster where Karpenter is fine: a pool offered everywhere, a Ready claim."""
    kube.add_all([
        k.nodepool("gpu", instance_types=["p4d.24xlarge"], zones=["us-east-1a", "us-east-1b"]),
        k.nodeclaim("gpu-abcde", nodepool="gpu", instance_type="p4d.24xlarge"),
        k.pod("karpenter-6d4b8c7f9-fghij", namespace="kube-system", gpus=0,
              labels={"app.kubernetes.io/name": "karpenter"}, container_name="controller"),
    ])
    kube.set_log("kube-system", "karpenter-6d4b8c7f9-fghij",
                 '{"level":"INFO","message":"disrupting nodeclaim(s) via delete"}')


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeStandin]:
    with KubeStandin() as standin:
        fill_cluster(standin)
        standin.requests_clear()
        yield standin


@pytest.fixture(scope="module")
def calm() -> Iterator[KubeStandin]:
    with KubeStandin() as standin:
        fill_calm(standin)
        yield standin


@pytest.fixture(scope="module")
def prom() -> Iterator[PrometheusProcess]:
    require_binary("prometheus", "the oom diagnosis reads DCGM from real Prometheus")
    exporter = SyntheticExporter().start()
    exporter.set_gpu("gpu-node-a", 0, fb_used=MIB * 0.5, fb_free=MIB * 0.5, pod=HEALTHY,
                     host_label="hostname")
    exporter.set_gpu("gpu-node-a", 1, fb_used=MIB * 0.97, fb_free=MIB * 0.03, pod=CUDA_OOM,
                     host_label="Hostname")
    prom = PrometheusProcess([exporter.target]).start()
    try:
        prom.wait_for_scrape()
        prom.wait_for_samples("DCGM_FI_DEV_FB_USED", count=2)
        yield prom
    finally:
        prom.stop()
        exporter.stop()


def context(kube_url: str, prom_url: str = "http://127.0.0.1:1", aws_url: str | None = None,
            **diag_settings: Any) -> Context:
    settings: Settings = load_settings(
        kubernetes={"mode": "url", "url": kube_url, "timeout_s": 3},
        aws={"endpoint_url": aws_url or "http://127.0.0.1:1", "region": REGION, "timeout_s": 5},
        diag=diag_settings,
    )
    return Context(settings=settings, prometheus=PrometheusSource(prom_url, timeout_s=3),
                   kubernetes=KubernetesSource(settings.kubernetes),
                   aws=AwsClients(settings.aws))


def run(ctx: Context, *args: str) -> Report:
    report = diag.run(ctx, list(args))
    assert not validate_blocks(render_blocks(report)), "the report must fit Block Kit"
    render_text(report)
    return report


def row(report: Report, check: str) -> Any:
    found = [r for r in report.rows if r.check.startswith(check)]
    assert found, f"no row {check!r} in {[r.check for r in report.rows]}"
    return found[0]


def remedies(report: Report) -> str:
    return "\n".join(f"{s.title}\n" + "\n".join(s.lines) + f"\n{s.code or ''}"
                     for s in report.sections if s.title not in ("", "Findings"))


def assert_no_false_alarm(report: Report) -> None:
    bad = [(r.check, r.status, r.detail) for r in report.rows
           if r.status not in (Status.OK, Status.UNKNOWN)]
    assert not bad, bad
    assert not remedies(report)
    assert report.summary.startswith("No fault found")


# -- oom ------------------------------------------------------------------------------------


def test_oom_names_cuda_oom_and_halves_this_pods_values(kube: KubeStandin,
                                                        prom: PrometheusProcess) -> None:
    report = run(context(kube.url, prom.url), "oom", CUDA_OOM)
    assert "CUDA out of memory" in report.summary
    logs = row(report, "CUDA OOM in logs")
    assert logs.status is Status.FAIL
    assert "previous: torch.OutOfMemoryError: CUDA out of memory" in logs.detail
    assert "RuntimeError: CUDA error: out of memory" in logs.detail
    dcgm = row(report, "GPU memory (DCGM)")
    assert dcgm.status is Status.WARN and "gpu-node-a/gpu1 97%" in dcgm.detail
    assert "MAX_BATCH_SIZE=32" in row(report, "Server settings").detail
    fix = remedies(report)
    assert 'value: "16"  # was 32' in fix
    assert 'value: "int8"' in fix and "fp8" in fix
    assert 'value: "128"  # was 256' in fix
    assert "--gpu-memory-utilization=0.85  # was 0.95" in fix
    assert "--max-model-len=16384  # was 32768" in fix
    # exec is off by default: an info line says how to turn it on, no exec call is made
    notes = " ".join(line for s in report.sections for line in s.lines)
    assert "GENAI_DIAG__EXEC_ENABLED=true" in notes and "overlays/exec" in notes
    assert not any(r.subresource == "exec" for r in kube.requests)


def test_oom_killed_is_host_memory_not_gpu(kube: KubeStandin, prom: PrometheusProcess) -> None:
    report = run(context(kube.url, prom.url), "oom", OOM_KILLED)
    term = row(report, "Last termination")
    assert term.status is Status.FAIL and term.value == "OOMKilled, exit 137"
    assert "16Gi" in term.detail and "not GPU memory" in term.detail
    assert "OOMKilled" in report.summary and "CUDA" not in report.summary
    fix = remedies(report)
    assert 'memory: "64Gi"  # was 16Gi' in fix and "MAX_BATCH_SIZE" not in fix


def test_oom_on_a_node_picks_its_restarting_gpu_pod(kube: KubeStandin,
                                                    prom: PrometheusProcess) -> None:
    report = run(context(kube.url, prom.url), "oom", "gpu-node-b")
    assert report.title == f"diag oom: {NS}/{OOM_KILLED}"
    notes = " ".join(line for s in report.sections for line in s.lines)
    assert f"gpu-node-b is a node: diagnosing its GPU pod {OOM_KILLED}" in notes
    assert HEALTHY_2 in notes


def test_oom_healthy_pod_gets_no_false_alarm(kube: KubeStandin, prom: PrometheusProcess) -> None:
    report = run(context(kube.url, prom.url), "oom", HEALTHY)
    assert_no_false_alarm(report)
    assert row(report, "GPU memory (DCGM)").value == "50% max"
    assert row(report, "CUDA OOM in logs").status is Status.OK


def test_oom_with_exec_enabled_reads_nvidia_smi_in_the_pod(prom: PrometheusProcess) -> None:
    """exec on: nvidia-smi runs in the pod's container through pods/exec (its own stand-in,
    as pods/exec is granted by the exec overlay, not by the base ClusterRole)."""
    calls: list[tuple[str | None, list[str]]] = []

    def nvidia_smi(container: str | None, command: list[str]) -> tuple[str, str, int]:
        calls.append((container, command))
        return "0, 76800 MiB, 81920 MiB\n1, 40000 MiB, 81920 MiB\n", "", 0

    with KubeStandin() as kube:
        fill_cluster(kube)
        kube.set_exec(NS, HEALTHY, nvidia_smi)
        report = run(context(kube.url, prom.url, exec_enabled=True), "oom", HEALTHY)
        smi = row(report, "nvidia-smi (exec)")
        assert smi.status is Status.WARN and smi.value == "94% max"
        assert "gpu0 76800/81920 MiB (94%)" in smi.detail
        assert calls and calls[0][1][0] == "nvidia-smi"
        assert {r.verb for r in kube.requests if r.subresource == "exec"} <= {"get", "create"}
        kube.set_exec(NS, HEALTHY, lambda c, cmd: ("", "nvidia-smi: not found", 127))
        failed = row(run(context(kube.url, prom.url, exec_enabled=True), "oom", HEALTHY),
                     "nvidia-smi (exec)")
        assert failed.status is Status.UNKNOWN and "exited with code 127" in failed.detail


# -- model-load ------------------------------------------------------------------------------


def test_model_load_403_gets_cache_and_init_container(kube: KubeStandin) -> None:
    report = run(context(kube.url), "model-load", DL_403)
    assert "403 Forbidden" in report.summary
    assert row(report, "403 Forbidden").status is Status.FAIL
    assert "s3://models/qwen-72b" in row(report, "403 Forbidden").detail
    assert row(report, "Event BackOff").status is Status.WARN
    assert row(report, "Event BackOff").value == "×12"
    fix = remedies(report)
    assert "persistentVolumeClaim" in fix and "model-downloader" in fix
    assert "More memory" not in fix  # 64Gi meets the guide and nothing ran out of memory


def test_model_load_pending_pvc_and_failed_mount(kube: KubeStandin) -> None:
    report = run(context(kube.url), "model-load", MOUNT)
    assert row(report, "Event FailedMount").status is Status.FAIL
    pvc = row(report, "PVC model-cache-mixtral")
    assert pvc.status is Status.FAIL and pvc.value == "Pending" and "efs-sc" in pvc.detail
    assert "PVC model-cache-mixtral is Pending" in report.summary


def test_model_load_oom_asks_for_more_memory(kube: KubeStandin) -> None:
    report = run(context(kube.url), "model-load", OOM_KILLED)
    assert row(report, "Memory request/limit").status is Status.FAIL
    assert "OOMKilled" in report.summary
    assert 'memory: "64Gi"' in remedies(report)


def test_model_load_failed_init_container(kube: KubeStandin) -> None:
    report = run(context(kube.url), "model-load", INIT)
    init = row(report, "Init container model-downloader")
    assert init.status is Status.FAIL and init.value == "Error, exit 1"
    assert "Could not connect to the endpoint URL" in init.detail and "3 restarts" in init.detail
    assert "init container model-downloader failed (exit 1)" in report.summary


def test_diag_needs_the_responder_role() -> None:
    from bot.dispatch import Invocation, parse
    from bot.roles import Caller, Role

    refused = parse("diag oom x", Caller("U1", Role.VIEWER))
    assert isinstance(refused, Report) and refused.title == "Not allowed"
    assert isinstance(parse("diag oom x", Caller("U2", Role.RESPONDER)), Invocation)


def test_model_load_healthy_pod_gets_no_false_alarm(kube: KubeStandin) -> None:
    assert_no_false_alarm(run(context(kube.url), "model-load", HEALTHY))


# -- network ---------------------------------------------------------------------------------


def test_network_nccl_timeouts_spread_and_efa(kube: KubeStandin) -> None:
    report = run(context(kube.url), "network", "deepseek")
    assert report.title == f"diag network: service {NS}/deepseek"
    assert "NCCL" in report.summary and "no ready endpoints" in report.summary
    nccl = row(report, "NCCL in logs")
    assert nccl.status is Status.FAIL and "Watchdog caught collective operation timeout" in \
        nccl.detail
    assert row(report, "Endpoints deepseek").value == "0 ready, 2 not ready"
    spread = row(report, "Replica spread")
    assert spread.status is Status.WARN and "us-east-1a: 2" in spread.detail
    assert row(report, "Timeouts").status is Status.WARN
    assert row(report, "EFA").status is Status.WARN
    fix = remedies(report)
    assert 'value: "1800"  # was 600' in fix and "vpc.amazonaws.com/efa: 4" in fix
    assert "podAntiAffinity" in fix and "app: deepseek" in fix
    # the bot runs outside any cluster here: DNS is unknown, never a false "fail"
    dns = row(report, "DNS deepseek.inference.svc.cluster.local")
    assert dns.status is Status.UNKNOWN and "is it running in the cluster?" in dns.detail


def test_network_healthy_pod_gets_no_false_alarm(kube: KubeStandin) -> None:
    report = run(context(kube.url), "network", HEALTHY)
    assert_no_false_alarm(report)
    spread = row(report, "Replica spread")
    assert spread.value == "2 replicas in 2 zones" and "anti-affinity preferred" in \
        spread.detail
    assert row(report, "Endpoints llama-7b").value == "2 ready, 0 not ready"


# -- karpenter -------------------------------------------------------------------------------


def test_karpenter_names_missing_types_and_zones(kube: KubeStandin, moto_server: str) -> None:
    report = run(context(kube.url, aws_url=moto_server), "karpenter", "gpu-spot")
    pending = row(report, "Pending pods")
    assert pending.status is Status.FAIL and PENDING in pending.detail
    assert "Insufficient nvidia.com/gpu" in pending.detail
    assert PINNED not in pending.detail  # only gpu-ondemand may take it
    every_pool = row(run(context(kube.url, aws_url=moto_server), "karpenter"), "Pending pods")
    assert PINNED in every_pool.detail and PENDING in every_pool.detail
    claims = row(report, "NodeClaims")
    assert claims.status is Status.FAIL and "LaunchFailed" in claims.detail
    assert "InsufficientCapacityError" in row(report, "Karpenter controller logs").detail
    offers = row(report, "EC2 offerings (gpu-spot)")
    # moto: p4de.24xlarge is offered in us-east-1b and 1c only
    assert offers.status is Status.FAIL and "p4de.24xlarge: not in us-east-1a" in offers.detail
    fix = remedies(report)
    assert "p4de.24xlarge is not offered in us-east-1a" in fix
    assert "p5.48xlarge" in fix and "Spread over several AZs" in fix
    assert "Fall back to on-demand" in fix and '["spot", "on-demand"]' in fix


def test_karpenter_healthy_pool_gets_no_false_alarm(calm: KubeStandin, moto_server: str) -> None:
    report = run(context(calm.url, aws_url=moto_server), "karpenter")
    assert_no_false_alarm(report)
    assert row(report, "EC2 offerings (gpu)").value == "1 type in 2 AZs"


def test_karpenter_unknown_nodepool_suggests(kube: KubeStandin) -> None:
    report = run(context(kube.url), "karpenter", "gpu-spto")
    assert report.private and "gpu-spot" in " ".join(report.sections[0].lines)


# -- targets, permissions, backends ----------------------------------------------------------


def test_missing_pod_suggests_closest_names(kube: KubeStandin) -> None:
    report = run(context(kube.url), "oom", "llama-7b-5d9c8-x2k4")
    text = " ".join(report.sections[0].lines)
    assert report.private and report.title == "Pod not found"
    assert HEALTHY in text.split("Closest pods here:")[1]


def test_missing_namespace_points_to_the_pod_elsewhere(kube: KubeStandin) -> None:
    report = run(context(kube.url), "model-load", HEALTHY, "-n", "infrence")
    text = " ".join(report.sections[0].lines)
    assert report.private and "'infrence' has no pods" in text
    assert f"{HEALTHY} (-n inference)" in text
    assert f"/genai diag model-load {HEALTHY} -n inference" in text


def test_forbidden_logs_name_the_missing_permission(kube: KubeStandin) -> None:
    kube.fail(r"/pods/[^/]+/log$", 403)
    try:
        reports = {s: run(context(kube.url), s, t) for s, t in (
            ("oom", CUDA_OOM), ("model-load", HEALTHY), ("network", HEALTHY))}
    finally:
        kube.clear_faults()
    missing = "missing permission: get pods/log in namespace inference"
    for scenario, check in (("oom", "CUDA OOM in logs"), ("model-load", "Logs"),
                            ("network", "NCCL in logs")):
        logs = row(reports[scenario], check)
        assert logs.status is Status.UNKNOWN and missing in logs.detail, (scenario, logs)


def test_forbidden_pod_is_a_clear_private_answer(kube: KubeStandin) -> None:
    kube.fail(rf"/pods/{HEALTHY}$", 403)
    try:
        report = run(context(kube.url), "oom", HEALTHY)
    finally:
        kube.clear_faults()
    assert report.private and report.rows[0].status is Status.UNKNOWN
    assert "missing permission: get pods in namespace inference" in report.rows[0].detail


def test_backends_down_are_unknown_with_the_cause(kube: KubeStandin) -> None:
    report = run(context(kube.url, "http://127.0.0.1:1"), "oom", HEALTHY)
    dcgm = row(report, "GPU memory (DCGM)")
    assert dcgm.status is Status.UNKNOWN and "127.0.0.1:1" in dcgm.detail
    down = run(context("http://127.0.0.1:1"), "network", HEALTHY)
    assert down.rows[0].status is Status.UNKNOWN
    assert "cannot connect to the API server" in down.rows[0].detail
    aws_down = run(context(kube.url), "karpenter", "gpu-spot")
    assert row(aws_down, "EC2 offerings").status is Status.UNKNOWN


@pytest.mark.parametrize(("args", "error"), [
    ([], "Usage"), (["cpu", "x"], "unknown scenario 'cpu'"), (["oom"], "needs a pod"),
    (["oom", "a", "b"], "unexpected argument 'b'"), (["oom", "a", "-n"], "-n needs"),
])
def test_usage_errors(args: list[str], error: str) -> None:
    from bot.errors import UsageError

    with pytest.raises(UsageError, match=error):
        diag.parse(args, NS)


def test_alert_labels_pick_the_target() -> None:
    assert diag.target_from_labels("oom", {"pod": "p", "namespace": NS}, NS) == ("p", NS)
    # kube-state-metrics names the workload's pod in any namespace
    assert diag.target_from_labels("model-load", {"pod": "p", "namespace": "ml"}, NS) == (
        "p", "ml")
    # on a DCGM series, dcgm-exporter's own pod (namespace monitoring) is not the model's
    with pytest.raises(diag.MissingLabel):
        diag.target_from_labels("model-load", {"pod": "dcgm-x", "namespace": "monitoring",
                                               "UUID": "GPU-1"}, NS)
    assert diag.target_from_labels("oom", {"pod": "dcgm-x", "namespace": "monitoring",
                                           "exported_pod": "p", "exported_namespace": "ml"},
                                   NS) == ("p", "ml")
    assert diag.target_from_labels("oom", {"pod": "dcgm-x", "namespace": "monitoring",
                                           "Hostname": "gpu-node-a"}, NS) == ("gpu-node-a", NS)
    with pytest.raises(diag.MissingLabel):
        diag.target_from_labels("model-load", {"Hostname": "gpu-node-a"}, NS)
    assert diag.target_from_labels("karpenter", {"nodepool": "gpu"}, NS) == ("gpu", NS)
    assert diag.target_from_labels("karpenter", {}, NS) == (None, NS)
    # A one-pod group names its pod only on the alerts: what they all share counts too.
    from bot.alerts.view import AlertView
    from bot.store import AlertEvent, Incident

    view = AlertView.from_incident(
        Incident(public_id="p000000000", alertname="A", status="firing",
                 labels={"alertname": "A"}, annotations={}),
        AlertEvent(alerts=[{"status": "firing", "labels": {"pod": "p", "gpu": "0"}},
                           {"status": "firing", "labels": {"pod": "p", "gpu": "1"}}],
                   truncated_alerts=0))
    assert view.target_labels() == {"alertname": "A", "pod": "p"}


# -- least privilege -------------------------------------------------------------------------


def test_the_rbac_check_itself_refuses_what_is_not_granted() -> None:
    rules = clusterrole_rules()
    probe = KubeRequest("GET", "/x", {}, "watch", "", "pods", "", NS, "")
    assert not allowed(probe, rules)
    probe.verb, probe.subresource = "get", "exec"
    assert not allowed(probe, rules)
    probe.subresource = "log"
    assert allowed(probe, rules)


def test_zz_every_diag_call_is_allowed_by_the_clusterrole(kube: KubeStandin,
                                                          calm: KubeStandin) -> None:
    """Runs last in this module: every request of the tests above, replayed against RBAC."""
    seen = kube.requests + calm.requests
    assert len(seen) > 50
    assert {r.rbac_resource for r in seen} >= {
        "pods", "pods/log", "events", "persistentvolumeclaims", "services", "endpoints",
        "nodes", "nodeclaims", "nodepools"}
    assert_all_allowed(seen)


def test_pools_of_reads_node_selector_and_required_affinity() -> None:
    def pools(spec: dict[str, Any]) -> set[str] | None:
        obj = k.pod("p", phase="Pending")
        obj["spec"].update(spec)
        return karpenter_diag.pools_of(Pod.model_validate(obj))

    term = {"matchExpressions": [{"key": "karpenter.sh/nodepool", "operator": "In",
                                  "values": ["a", "b"]}]}
    assert pools({}) is None
    assert pools({"nodeSelector": {"karpenter.sh/nodepool": "a"}}) == {"a"}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [term]}}}
    assert pools({"affinity": affinity}) == {"a", "b"}
    assert pools({"affinity": affinity, "nodeSelector": {"karpenter.sh/nodepool": "b"}}) == {"b"}
    free = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [term, {"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z"]}]}]}}}
    assert pools({"affinity": free}) is None  # the second term allows any pool


# -- no data is never ok ----------------------------------------------------------------------


def test_a_log_that_could_not_be_read_is_unknown_not_none() -> None:
    """A log read half (the current one) or not at all said "none" with ✅: the unread log
    may hold the CUDA OOM, the load error or the NCCL timeout."""
    from commands.diag import model_load, network, oom
    from commands.diag.common import Findings, Got

    denied = "kubernetes: missing permission: get pods/log in namespace inference"
    found = Findings()
    oom.check_logs(found, Got("INFO serving"), Got(None, denied), 500)
    [cuda] = found.rows
    assert cuda.status is Status.UNKNOWN, cuda
    assert cuda.detail == f"none in the last 500 lines of the current log; {denied}"
    found = Findings()
    oom.check_logs(found, Got(None), Got(None), 1)  # waiting to start: no log at all
    assert [(r.status, r.detail) for r in found.rows] == [
        (Status.UNKNOWN, "no log yet: the container has not started")]

    found = Findings()
    model_load.check_logs(found, Got(None, denied), Got("loading weights"), oom_killed=False)
    [logs] = found.rows
    assert logs.status is Status.UNKNOWN and logs.detail.endswith(f"previous log: {denied}")

    found = Findings()
    hits = network.check_nccl_logs(found, [("tp-0", Got("ok")), ("tp-0", Got(None)),
                                           ("tp-1", Got(None, denied))], 200)
    [nccl] = found.rows
    assert not hits and nccl.status is Status.UNKNOWN, nccl
    assert nccl.detail == ("no NCCL timeout or error in the last 200 lines of 1 log from 2 "
                           f"replicas; {denied}")


def test_gpu_memory_without_totals_shows_no_zero_mib() -> None:
    from bot.sources.prometheus import Sample
    from commands.diag import oom
    from commands.diag.common import Findings, Got

    found = Findings()
    ratio = Sample(labels={"__stat": "ratio", "Hostname": "gpu-a", "gpu": "0"}, value=0.5)
    oom.check_gpu_memory(found, context("http://127.0.0.1:1"), Got([ratio]), None)
    [memory] = found.rows
    assert memory.detail == "gpu-a/gpu0 50%" and "0/0 MiB" not in memory.detail


def test_karpenter_pool_unknowns_are_not_ready_or_offered(moto_server: str) -> None:
    """A pool whose types are offered in no AZ of the region (and that pins no zone) read
    "every type is offered in every zone" of 0 AZs; a pool without a Ready condition read
    "Ready"."""
    from bot.sources.k8s_models import NodePool
    from commands.diag.common import Findings

    nowhere = k.nodepool("nowhere", instance_types=("p9.nowhere",), zones=None)
    silent = k.nodepool("silent")
    silent["status"]["conditions"] = [c for c in silent["status"]["conditions"]
                                      if c["type"] != "Ready"]
    found = Findings()
    karpenter_diag.check_pools(found, context("http://127.0.0.1:1", aws_url=moto_server),
                               [NodePool.model_validate(p) for p in (nowhere, silent)])
    rows = {r.check: r for r in found.rows}
    offers = rows["EC2 offerings (nowhere)"]
    assert offers.status is Status.FAIL and offers.value == "1 type offered nowhere", offers
    assert "p9.nowhere not offered in the region" in found.causes
    pool = rows["NodePool silent"]
    assert pool.status is Status.UNKNOWN and pool.value == "unknown", pool
