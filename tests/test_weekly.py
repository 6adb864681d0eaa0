"""/genai weekly against real Prometheus (two weeks backfilled), moto (ECR, EBS) and the
Kubernetes stand-in.

Prometheus: a week of history cannot be scraped live, so two weeks of 5-minute samples are
written as OpenMetrics and turned into TSDB blocks with promtool before Prometheus starts.

moto 5.2: `describe_image_scan_findings` needs a `start_image_scan` first (otherwise
ScanNotFoundException) and then returns a fixed single-HIGH finding unless a result is seeded
through moto's own API `POST /moto-api/static/ecr/scan-finding-results` (matched on repository
and tag or digest), which is how CRITICAL counts are made here. moto stamps a snapshot's
StartTime with "now" and has no API to change it; the stale snapshot is backdated in moto's
in-process backend (ThreadedMotoServer shares this process).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
import requests

from bot.config import AwsSettings, KubernetesSettings, Settings, load_settings
from bot.render.text import render_text
from bot.report import Report, Row, Status
from bot.slack.render.report import render_blocks
from bot.sources.aws import AwsClients
from bot.sources.inventory import parse_ecr_image
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from commands.base import Context
from commands.weekly import COMMAND, sparkline
from tests.harness.blockkit import validate_blocks
from tests.harness.failing_aws import FailingAws
from tests.harness.kube import KubeStandin, pod, pvc
from tests.harness.procs import PrometheusProcess, backfill_openmetrics, require_binary
from tests.harness.rbac import assert_all_allowed

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"  # moto's default account
STEP_S = 300
HOURS = 14 * 24


# -- Prometheus: two weeks of history -----------------------------------------------------------


def _history(now: float) -> str:
    """OpenMetrics text: last week and this week differ so each check has something to say."""
    times = [now - k * STEP_S for k in range(HOURS * 3600 // STEP_S, -1, -1)]
    week = 7 * 24 * 3600

    def this_week(t: float) -> bool:
        return t > now - week

    families: dict[str, list[tuple[dict[str, str], Any]]] = {
        # $10/h per node last week, $14/h this week: +40% (two nodes).
        "node_total_hourly_cost": [
            ({"node": n}, lambda t: 14.0 if this_week(t) else 10.0) for n in ("gpu-a", "gpu-b")],
        "node_gpu_hourly_cost": [({"node": n}, lambda t: 4.0) for n in ("gpu-a", "gpu-b")],
        "container_gpu_allocation": [
            ({"namespace": "inference", "node": "gpu-a", "pod": "llama"}, lambda t: 1.0),
            # research doubles (+100%); training is new this week; batch falls.
            ({"namespace": "research", "node": "gpu-b", "pod": "r1"},
             lambda t: 2.0 if this_week(t) else 1.0),
            ({"namespace": "training", "node": "gpu-b", "pod": "t1"},
             lambda t: 0.5 if this_week(t) else None),
            ({"namespace": "batch", "node": "gpu-a", "pod": "b1"},
             lambda t: 0.5 if this_week(t) else 1.0),
        ],
        # Utilisation climbs from 50% to 95% over the last week.
        "DCGM_FI_DEV_GPU_UTIL": [
            ({"Hostname": h, "gpu": "0"},
             lambda t: 50.0 + 45.0 * max(0.0, 1 - (now - t) / week)) for h in ("gpu-a", "gpu-b")]
        + [({"Hostname": "gpu-c", "gpu": "0"},  # a third GPU node for the last two days
            lambda t: 95.0 if t > now - 2 * 24 * 3600 else None)],
        # Pending pods: none a week ago, 1 from three days ago, 3 in the last day.
        "kube_pod_status_phase": [
            ({"namespace": "inference", "pod": f"p{i}", "phase": "Pending"},
             lambda t, i=i: 1.0 if t > now - (3 - i) * 24 * 3600 + 1 else 0.0)
            for i in range(3)],
    }
    lines: list[str] = []
    for name, series in families.items():
        lines.append(f"# TYPE {name} gauge")
        for labels, fn in series:
            rendered = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            for t in times:
                value = fn(t)
                if value is not None:
                    lines.append(f"{name}{{{rendered}}} {value} {t:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusProcess]:
    require_binary("prometheus", "the weekly checklist reads real Prometheus")
    require_binary("promtool", "two weeks of history are backfilled with promtool")
    work = tmp_path_factory.mktemp("weekly-prom")
    source = work / "history.om"
    source.write_text(_history(time.time() - 5))
    backfill_openmetrics(source, work / "data", max_block_duration="24h")
    prom = PrometheusProcess([], tsdb_path=work / "data").start()
    try:
        prom.wait_until("count(last_over_time(node_total_hourly_cost[1h]))", lambda r: bool(r))
        yield prom
    finally:
        prom.stop()


# -- AWS (moto) and Kubernetes ------------------------------------------------------------------


@dataclass
class World:
    kube: KubeStandin
    images: dict[str, str]
    volumes: dict[str, str]


def _manifest(n: str) -> str:
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7,
                   "digest": "sha256:" + uuid.uuid5(uuid.NAMESPACE_URL, n).hex * 2},
        "layers": [],
    })


def _seed_findings(moto: str, repo: str, image_id: dict[str, str], counts: dict[str, int]) -> None:
    result = {
        "registryId": ACCOUNT, "repositoryName": repo, "imageId": image_id,
        "imageScanStatus": {"status": "COMPLETE", "description": "done"},
        "imageScanFindings": {"findings": [], "findingSeverityCounts": counts},
    }
    resp = requests.post(f"{moto}/moto-api/static/ecr/scan-finding-results",
                         json={"results": [result], "region": REGION, "account_id": ACCOUNT},
                         timeout=10)
    assert resp.status_code == 201, resp.text


def _backdate_snapshot(snapshot_id: str, hours: float) -> None:
    from moto.core.utils import utcnow
    from moto.ec2.models import ec2_backends

    snap = ec2_backends[ACCOUNT][REGION].snapshots[snapshot_id]
    snap.start_time = utcnow() - timedelta(hours=hours)


def _pv(name: str, volume_id: str, in_tree: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = (
        {"awsElasticBlockStore": {"volumeID": f"aws://{REGION}a/{volume_id}", "fsType": "ext4"}}
        if in_tree else
        {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": volume_id, "fsType": "ext4"}})
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "uid": str(uuid.uuid4()), "resourceVersion": "1"},
            "spec": {"capacity": {"storage": "100Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "gp3",
                     **source},
            "status": {"phase": "Bound"}}


@pytest.fixture(scope="module")
def world(moto_server: str) -> Iterator[World]:
    suffix = uuid.uuid4().hex[:6]
    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=moto_server)
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_server)
    images: dict[str, str] = {}
    digests: dict[str, str] = {}
    for repo, tag in (("vllm", "v1"), ("router", "v2"), ("clean", "v3"), ("unscanned", "v4")):
        name = f"llm-{suffix}/{repo}"
        uri = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
        put = ecr.put_image(repositoryName=name, imageManifest=_manifest(name + tag),
                            imageTag=tag)
        digests[repo] = put["image"]["imageId"]["imageDigest"]
        images[repo] = f"{uri}:{tag}"
        if repo != "unscanned":
            ecr.start_image_scan(repositoryName=name, imageId={"imageTag": tag})
    # The router runs pinned by digest: the findings are looked up by digest.
    images["router"] = images["router"].rsplit(":", 1)[0] + "@" + digests["router"]
    _seed_findings(moto_server, f"llm-{suffix}/vllm", {"imageTag": "v1"},
                   {"CRITICAL": 2, "HIGH": 5, "MEDIUM": 9})
    _seed_findings(moto_server, f"llm-{suffix}/router", {"imageDigest": digests["router"]},
                   {"HIGH": 1})
    _seed_findings(moto_server, f"llm-{suffix}/clean", {"imageTag": "v3"}, {"LOW": 3})
    images["hub"] = "vllm/vllm-openai:v0.6.3"

    volumes: dict[str, str] = {}
    for key in ("fresh", "stale", "none", "intree"):
        volumes[key] = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=100)["VolumeId"]
    ec2.create_snapshot(VolumeId=volumes["fresh"])
    old = ec2.create_snapshot(VolumeId=volumes["stale"])["SnapshotId"]
    _backdate_snapshot(old, 48)
    ec2.create_snapshot(VolumeId=volumes["intree"])
    # An older snapshot of a fresh volume must not hide its newest one.
    _backdate_snapshot(ec2.create_snapshot(VolumeId=volumes["fresh"])["SnapshotId"], 100)

    kube = KubeStandin().start()
    for i, key in enumerate(("vllm", "router", "clean", "unscanned", "hub")):
        kube.add(pod(f"{key}-5d9c8-x{i}", image=images[key]))
    kube.add(pod("vllm-5d9c8-y9", image=images["vllm"]))  # same image twice: scanned once
    kube.add(pod("old-5d9c8-z1", phase="Pending", waiting_reason="ImagePullBackOff",
                 image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/llm-{suffix}/gone:v0"))
    for key in ("fresh", "stale", "none", "intree"):
        kube.add(pvc(f"weights-{key}", volume_name=f"pv-{key}"))
        kube.add(_pv(f"pv-{key}", volumes[key], in_tree=key == "intree"))
    kube.add(pvc("scratch", phase="Pending"))
    try:
        yield World(kube, images, volumes)
    finally:
        kube.stop()


def _context(prom_url: str, kube_url: str, aws_url: str) -> Context:
    settings: Settings = load_settings(aws={"endpoint_url": aws_url, "region": REGION})
    return Context(
        settings=settings,
        prometheus=PrometheusSource(prom_url, timeout_s=5),
        kubernetes=KubernetesSource(KubernetesSettings(mode="url", url=kube_url, timeout_s=5)),
        aws=AwsClients(AwsSettings(endpoint_url=aws_url, region=REGION, timeout_s=5)),
    )


def _weekly(ctx: Context) -> Report:
    report = COMMAND.run(ctx, [])
    assert validate_blocks(render_blocks(report)) == []
    assert render_text(report)
    return report


def _rows(report: Report) -> dict[str, Row]:
    return {r.check: r for r in report.rows}


def _section_rows(report: Report, title: str) -> list[Row]:
    return next(s.rows for s in report.sections if s.title == title)


# -- tests ----------------------------------------------------------------------------------------


def _pct(text: str) -> int:
    match = re.search(r"\(\+(\d+)%\)", text)
    assert match, text
    return int(match.group(1))


def test_weekly_reports_all_four_sections(prometheus: PrometheusProcess, world: World,
                                          moto_server: str) -> None:
    report = _weekly(_context(prometheus.url, world.kube.url, moto_server))
    assert [s.title for s in report.sections] == [
        "Cost analysis", "Capacity planning", "Security patches", "Backup verification"]
    assert_all_allowed(world.kube.requests)  # the deployed ClusterRole allows every call
    rows = _rows(report)

    cost = rows["Cluster cost week over week"]
    assert cost.status is Status.WARN, cost
    # The backfill ends a little before "now" and the 7-day windows move while the session
    # runs, so the figures are checked within a few percent, not to the dollar.
    assert cost.value.startswith("$4,") and "vs $3,3" in cost.value
    assert 35 <= _pct(cost.value) <= 45, cost.value
    anomalies = rows["GPU cost anomalies"]
    assert anomalies.status is Status.WARN and anomalies.value == "2 namespaces", anomalies
    assert anomalies.detail.startswith("research ")
    assert 90 <= _pct(anomalies.detail.split(";")[0]) <= 110, anomalies.detail
    assert "training" in anomalies.detail and "(new)" in anomalies.detail
    assert "inference" not in anomalies.detail and "batch" not in anomalies.detail

    util = rows["GPU utilisation trend"]
    assert util.status is Status.WARN and "scale up" in util.detail, util
    start, end = util.value.split(" → ")
    assert 45 <= float(start.rstrip("%")) <= 60 and float(end.split("%")[0]) >= 90
    assert any(c in util.value for c in "▁▂▃▄▅▆▇█")
    pending = rows["Pending pods trend"]
    assert pending.status is Status.WARN and pending.value.startswith("0 → 3 "), pending
    nodes = rows["GPU nodes trend"]
    assert nodes.status is Status.OK and nodes.value.startswith("2 → 3 "), nodes
    assert "+1 node over the week" in nodes.detail  # one node, not "1 nodes"

    scan = rows["Image scan findings"]
    assert scan.status is Status.FAIL and scan.value == "2 critical, 6 high", scan
    assert scan.detail.startswith(world.images["vllm"] + ": 2 critical, 5 high")
    assert world.images["router"] + ": 0 critical, 1 high" in scan.detail
    assert world.images["clean"] not in scan.detail
    unscanned = rows["Images not scanned"]
    assert unscanned.status is Status.WARN and unscanned.value == "2 of 5 images", unscanned
    assert "vllm/vllm-openai:v0.6.3: not scanned: not in ECR" in unscanned.detail
    assert world.images["unscanned"] + ": not scanned: no scan yet" in unscanned.detail
    assert "gone" not in unscanned.detail  # the Pending pod runs nothing

    backup = rows["EBS snapshots"]
    assert backup.status is Status.FAIL and backup.value == "2/4 volumes fresh", backup
    assert f"weights-stale ({world.volumes['stale']}): newest 48 h old" in backup.detail
    assert f"weights-none ({world.volumes['none']}): no snapshot" in backup.detail
    assert "scratch: not checked: claim is Pending" in backup.detail
    assert "weights-fresh" not in backup.detail and "weights-intree" not in backup.detail
    assert report.status is Status.FAIL


@pytest.fixture
def failing_aws() -> Iterator[str]:
    with FailingAws() as server:
        yield server.url


def test_aws_denied_and_throttled_turn_only_their_sections_unknown(
        prometheus: PrometheusProcess, world: World, failing_aws: str) -> None:
    report = _weekly(_context(prometheus.url, world.kube.url, failing_aws))
    security = _section_rows(report, "Security patches")
    assert [r.status for r in security] == [Status.UNKNOWN]
    assert "access denied" in security[0].detail and "IAM" in security[0].detail
    backup = _section_rows(report, "Backup verification")
    assert [r.status for r in backup] == [Status.UNKNOWN]
    assert "throttled" in backup[0].detail and "RequestLimitExceeded" in backup[0].detail
    for title in ("Cost analysis", "Capacity planning"):
        assert all(r.status is not Status.UNKNOWN for r in _section_rows(report, title))


def test_prometheus_down_leaves_the_aws_sections_alone(world: World, moto_server: str) -> None:
    report = _weekly(_context("http://127.0.0.1:1", world.kube.url, moto_server))
    for title, n in (("Cost analysis", 2), ("Capacity planning", 3)):
        rows = _section_rows(report, title)
        assert len(rows) == n and all(r.status is Status.UNKNOWN for r in rows)
        assert all("cannot connect" in r.detail for r in rows)
    assert _rows(report)["Image scan findings"].status is Status.FAIL
    assert _rows(report)["EBS snapshots"].status is Status.FAIL


def test_kubernetes_down_makes_security_and_backup_unknown(prometheus: PrometheusProcess,
                                                           moto_server: str) -> None:
    report = _weekly(_context(prometheus.url, "http://127.0.0.1:1", moto_server))
    for title in ("Security patches", "Backup verification"):
        rows = _section_rows(report, title)
        assert rows and all(r.status is Status.UNKNOWN for r in rows)
        assert all("kubernetes" in r.detail or "API server" in r.detail for r in rows)
    assert _rows(report)["Cluster cost week over week"].status is Status.WARN


def test_ecr_image_references_parse() -> None:
    ref = parse_ecr_image(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/model:v1.2")
    assert ref is not None and (ref.registry_id, ref.region, ref.repository, ref.tag) == (
        ACCOUNT, REGION, "team/model", "v1.2")
    assert ref.image_id == {"imageTag": "v1.2"}
    digest = "sha256:" + "a" * 64
    pinned = parse_ecr_image(f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/m@{digest}")
    assert pinned is not None and pinned.image_id == {"imageDigest": digest}
    bare = parse_ecr_image(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/m")
    assert bare is not None and bare.image_id == {"imageTag": "latest"}
    for other in ("vllm/vllm-openai:v0.6.3", "nvcr.io/nvidia/tritonserver:24.01-py3",
                  "public.ecr.aws/nginx/nginx:1.27", "localhost:5000/x:1"):
        assert parse_ecr_image(other) is None


def test_sparkline_shapes() -> None:
    assert sparkline([]) == ""
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert len(sparkline([float(i) for i in range(169)])) == 28
    assert sparkline([0, 0, 0]) == "▁▁▁"



# -- no data is never ok ----------------------------------------------------------------------


def _scan_status_result(repo: str, tag: str, status: str) -> dict[str, Any]:
    return {"registryId": ACCOUNT, "repositoryName": repo, "imageId": {"imageTag": tag},
            "imageScanStatus": {"status": status, "description": "seeded"},
            "imageScanFindings": {"findings": [], "findingSeverityCounts": {}}}


def _namespace_context(kube_url: str, aws_url: str, namespace: str) -> Context:
    settings = load_settings(aws={"endpoint_url": aws_url, "region": REGION},
                             thresholds={"inference_namespace": namespace})
    return Context(
        settings=settings,
        prometheus=PrometheusSource("http://127.0.0.1:1", timeout_s=1),
        kubernetes=KubernetesSource(KubernetesSettings(mode="url", url=kube_url, timeout_s=5)),
        aws=AwsClients(AwsSettings(endpoint_url=aws_url, region=REGION, timeout_s=5)),
    )


def test_images_without_scan_results_are_not_scanned_clean(moto_server: str) -> None:
    """"0 of 1 images scanned clean" with ✅ was the bug: an image without findings is
    unknown (scan unreadable) or a gap to fix (never scanned), never clean."""
    from commands.weekly import security_rows

    suffix = uuid.uuid4().hex[:6]
    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=moto_server)
    images: dict[str, str] = {}
    for repo in ("never", "broken"):
        name = f"noscan-{suffix}/{repo}"
        uri = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
        ecr.put_image(repositoryName=name, imageManifest=_manifest(name), imageTag="v1")
        images[repo] = f"{uri}:v1"
    ecr.start_image_scan(repositoryName=f"noscan-{suffix}/broken", imageId={"imageTag": "v1"})
    resp = requests.post(f"{moto_server}/moto-api/static/ecr/scan-finding-results", json={
        "results": [_scan_status_result(f"noscan-{suffix}/broken", "v1", "FINDINGS_UNAVAILABLE")],
        "region": REGION, "account_id": ACCOUNT}, timeout=10)
    assert resp.status_code == 201, resp.text
    kube = KubeStandin().start()
    try:
        for repo, image in images.items():
            kube.add(pod(f"{repo}-5d9c8-x1", namespace=f"ns-{repo}", image=image))
        for repo, expected in (("never", Status.WARN), ("broken", Status.UNKNOWN)):
            rows = security_rows(_namespace_context(kube.url, moto_server, f"ns-{repo}"))
            findings, unscanned = rows
            assert findings.status is Status.UNKNOWN, findings
            assert findings.value == "unknown" and "clean" not in findings.detail
            assert findings.detail == "0 of 1 image scanned: see Images not scanned"
            assert unscanned.status is expected and unscanned.value == "1 of 1 image"
        assert unscanned.detail == f"{images['broken']}: not scanned: scan findings unavailable"
    finally:
        kube.stop()


def test_claims_without_an_ebs_volume_are_unknown_not_zero_of_zero(moto_server: str) -> None:
    from commands.weekly import backup_rows

    kube = KubeStandin().start()
    try:
        efs = _pv("pv-efs", "fs-0123")
        efs["spec"].pop("csi")
        efs["spec"]["csi"] = {"driver": "efs.csi.aws.com", "volumeHandle": "fs-0123"}
        kube.add(pvc("shared-weights", namespace="ns-efs", volume_name="pv-efs"))
        kube.add(efs)
        [row] = backup_rows(_namespace_context(kube.url, moto_server, "ns-efs"))
    finally:
        kube.stop()
    assert row.status is Status.UNKNOWN and row.value == "unknown", row
    assert "0/0" not in row.value
    assert row.detail == ("no EBS volume behind the 1 PVC in ns-efs: shared-weights: not "
                          "checked: not EBS (CSI driver efs.csi.aws.com)")


@pytest.fixture(scope="module")
def young_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusProcess]:
    """Two days of cost history: there is no last week to compare with."""
    require_binary("prometheus", "the weekly checklist reads real Prometheus")
    require_binary("promtool", "two days of history are backfilled with promtool")
    work = tmp_path_factory.mktemp("weekly-young")
    now = time.time() - 5
    times = [now - k * STEP_S for k in range(2 * 24 * 3600 // STEP_S, -1, -1)]
    series = {
        "node_total_hourly_cost": '{node="gpu-a"} 14.0',
        "node_gpu_hourly_cost": '{node="gpu-a"} 4.0',
        "container_gpu_allocation": '{namespace="inference",node="gpu-a",pod="llama"} 1.0',
    }
    lines: list[str] = []
    for name, sample in series.items():
        lines.append(f"# TYPE {name} gauge")
        lines += [f"{name}{sample} {t:.3f}" for t in times]
    (work / "history.om").write_text("\n".join([*lines, "# EOF"]) + "\n")
    backfill_openmetrics(work / "history.om", work / "data", max_block_duration="24h")
    prom = PrometheusProcess([], tsdb_path=work / "data").start()
    try:
        prom.wait_until("count(last_over_time(node_total_hourly_cost[1h]))", lambda r: bool(r))
        yield prom
    finally:
        prom.stop()


def test_cost_without_last_week_is_unknown_not_ok(young_prometheus: PrometheusProcess) -> None:
    """No last week is no comparison: neither "ok" for the cluster cost nor every namespace
    "new" (a false anomaly) for the GPU cost."""
    from commands.weekly import cost_rows

    ctx = Context(settings=load_settings(),
                  prometheus=PrometheusSource(young_prometheus.url, timeout_s=5),
                  kubernetes=KubernetesSource(KubernetesSettings()))
    week, anomalies = cost_rows(ctx)
    assert week.status is Status.UNKNOWN, week
    assert week.value.endswith(" this week") and "no node_total_hourly_cost data for last week" \
        in week.detail
    assert anomalies.status is Status.UNKNOWN, anomalies
    assert anomalies.value == "no data for last week" and "(new)" not in anomalies.detail
    assert anomalies.detail.startswith("1 namespace with GPU cost this week; ")
