"""`/genai cost`: real Prometheus (OpenCost gauges, DCGM, a backfilled day of history), the
Kubernetes stand-in, moto's Cost Explorer (seeded), and a recorded Kubecost Allocation API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.config import Settings, load_settings
from bot.errors import UsageError
from bot.render.text import render_text
from bot.report import Report, Row, Status
from bot.slack.render.report import render_blocks
from bot.sources.aws import AwsClients
from bot.sources.costs import DayCost, parse_allocation, parse_cost_and_usage
from bot.sources.kubernetes import KubernetesSource, NodeInfo
from bot.sources.prometheus import PrometheusSource, Sample
from commands import cost
from commands.base import Context
from commands.cost.common import Failed
from commands.cost.explorer import explorer_rows
from commands.cost.gpu_spend import gpu_rows, idle_rows
from commands.cost.namespaces import namespace_rows
from commands.cost.savings import Figures, hint_lines
from commands.cost.spot import CAPACITY_TYPE, spot_rows
from tests.harness.blockkit import validate_blocks
from tests.harness.exporter import SyntheticExporter
from tests.harness.kube import KubeStandin, node
from tests.harness.procs import PrometheusProcess, backfill_openmetrics, require_binary
from tests.harness.rbac import assert_all_allowed

GPU_LABEL = {"nvidia.com/gpu.present": "true"}
# p4d.24xlarge: $32.77/h on demand, of which 8 GPUs × $3.60 (the rest is CPU and memory);
# the spot node at about 60% off. OpenCost labels node gauges with node, instance_type, region.
NODES = {  # name: (capacity type, node_total_hourly_cost, node_gpu_hourly_cost per GPU)
    "gpu-node-0": ("on-demand", 32.77, 3.60),
    "gpu-node-1": ("on-demand", 32.77, 3.60),
    "gpu-node-2": ("spot", 13.11, 1.44),
}
ALLOCATIONS = [  # namespace, pod, node, GPUs
    ("inference", "vllm-llama-70b-0", "gpu-node-0", 8),
    ("inference", "vllm-llama-7b-0", "gpu-node-1", 4),
    ("training", "finetune-0", "gpu-node-2", 8),
    ("research", "notebook-0", "gpu-node-1", 2),
]
HISTORY_PER_HOUR = 40.0  # a retired node's cost over the past day, backfilled

KUBECOST_ANSWER: dict[str, Any] = {  # recorded shape of GET /model/allocation
    "code": 200,
    "status": "success",
    "data": [{
        "inference": {
            "name": "inference", "properties": {"cluster": "genai", "namespace": "inference"},
            "window": {"start": "2026-11-27T00:00:00Z", "end": "2026-11-28T00:00:00Z"},
            "start": "2026-11-27T00:00:00Z", "end": "2026-11-28T00:00:00Z", "minutes": 1440,
            "cpuCores": 12.5, "cpuCost": 9.41, "gpuCount": 12, "gpuCost": 1036.8,
            "networkCost": 0.12, "pvCost": 3.2, "ramCost": 4.87, "sharedCost": 0,
            "externalCost": 0, "totalCost": 1054.4, "totalEfficiency": 0.41,
        },
        "training": {
            "name": "training", "properties": {"cluster": "genai", "namespace": "training"},
            "cpuCost": 2.1, "gpuCost": 276.48, "ramCost": 1.3, "pvCost": 0.5,
            "networkCost": 0.0, "totalCost": 280.38,
        },
        "research": {
            "name": "research", "properties": {"cluster": "genai", "namespace": "research"},
            "cpuCost": 0.6, "gpuCost": 172.8, "ramCost": 0.4, "pvCost": 0.0,
            "networkCost": 0.0, "totalCost": 173.8,
        },
        "__idle__": {"name": "__idle__", "cpuCost": 20.0, "gpuCost": 0.0, "ramCost": 8.0,
                     "totalCost": 28.0},
    }],
}


def _ce_days(n: int) -> list[dict[str, Any]]:
    days = []
    for i in range(n):
        groups = [
            ("Amazon Elastic Compute Cloud - Compute", 1500.0 + 10 * i),
            ("Amazon Elastic Container Service for Kubernetes", 2.40),
            ("Amazon Simple Storage Service", 12.50),
        ]
        days.append({
            "TimePeriod": {"Start": f"2026-11-{20 + i:02d}", "End": f"2026-11-{21 + i:02d}"},
            "Total": {},
            "Groups": [{"Keys": [k], "Metrics": {"UnblendedCost": {"Amount": f"{v:.10f}",
                                                                   "Unit": "USD"}}}
                       for k, v in groups],
            "Estimated": i == n - 1,
        })
    return days


class _JsonServer:
    """A tiny HTTP server answering every request with (status, body); records paths."""

    def __init__(self, status: int, body: Any, content_type: str = "application/json") -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.paths.append(self.path)
                data = json.dumps(outer.body).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class CostCluster:
    exporter: SyntheticExporter
    prometheus: PrometheusProcess
    kube: KubeStandin
    kubecost: _JsonServer


def _fill(exporter: SyntheticExporter, kube: KubeStandin) -> None:
    for i, (name, (ctype, total, per_gpu)) in enumerate(NODES.items()):
        kube.add(node(name, labels=GPU_LABEL, capacity_type=ctype,
                      zone=f"ap-northeast-2{'abc'[i]}"))
        labels = {"node": name, "instance_type": "p4d.24xlarge", "region": "ap-northeast-2",
                  "provider_id": f"aws:///ap-northeast-2{'abc'[i]}/i-0{i}", "arch": "amd64"}
        exporter.set_gauge("node_total_hourly_cost", labels, total)
        exporter.set_gauge("node_gpu_hourly_cost", labels, per_gpu)
        exporter.set_gauge("node_gpu_count", labels, 8)
        idle = name == "gpu-node-1"
        for g in range(8):
            # gpu-node-1 runs a newer dcgm-exporter (`hostname`) without a relabelled `node`.
            exporter.set_gpu(name, g, util=5 if idle else 60,
                             host_label="hostname" if idle else "Hostname",
                             node="" if idle else None)
    kube.add(node("cpu-node-0", instance_type="m6i.xlarge"))
    exporter.set_gauge("kubecost_cluster_management_cost", {"provisioner_name": "EKS"}, 0.10)
    for ns, pod_name, host, gpus in ALLOCATIONS:
        exporter.set_gauge("container_gpu_allocation",
                           {"namespace": ns, "pod": pod_name, "container": "main",
                            "node": host}, gpus)


def _backfill(tmp: Path) -> Path:
    """25 hours of a retired node's cost, ending 10 minutes ago (stale by now)."""
    now = int(time.time())
    end = (now - 600) // 60 * 60
    lines = ["# HELP node_total_hourly_cost Total node cost per hour.",
             "# TYPE node_total_hourly_cost gauge"]
    lines += [f'node_total_hourly_cost{{node="retired-0"}} {HISTORY_PER_HOUR} {t}'
              for t in range(end - 25 * 3600, end + 1, 60)]
    source = tmp / "history.om"
    source.write_text("\n".join(lines) + "\n# EOF\n")
    tsdb = tmp / "tsdb"
    backfill_openmetrics(source, tsdb)
    return tsdb


@pytest.fixture(scope="module")
def cc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CostCluster]:
    require_binary("prometheus", "the cost report reads real Prometheus")
    require_binary("promtool", "a day of cost history is backfilled")
    tsdb = _backfill(tmp_path_factory.mktemp("cost"))
    exporter = SyntheticExporter().start()
    kube = KubeStandin().start()
    kubecost = _JsonServer(200, KUBECOST_ANSWER)
    prom: PrometheusProcess | None = None
    try:
        _fill(exporter, kube)
        prom = PrometheusProcess([exporter.target], tsdb_path=tsdb).start()
        prom.wait_for_scrape()
        prom.wait_for_samples("node_total_hourly_cost", count=2)
        yield CostCluster(exporter, prom, kube, kubecost)
    finally:
        if prom is not None:
            prom.stop()
        exporter.stop()
        kube.stop()
        kubecost.stop()


def _ctx(settings: Settings, prometheus_url: str) -> Context:
    return Context(settings=settings, prometheus=PrometheusSource(prometheus_url, 5.0),
                   kubernetes=KubernetesSource(settings.kubernetes),
                   aws=AwsClients(settings.aws))


def _settings(kube_url: str, aws: dict[str, Any] | None = None,
              **cost_settings: Any) -> Settings:
    return load_settings(kubernetes={"mode": "url", "url": kube_url, "timeout_s": 5},
                         cost=cost_settings, aws=aws or {})


def _rows(report: Report) -> dict[str, Row]:
    return {r.check: r for r in report.rows}


def _valid(report: Report) -> None:
    assert validate_blocks(render_blocks(report)) == []
    assert render_text(report)


def test_cost_report_from_opencost_kubecost_and_cost_explorer(cc: CostCluster,
                                                              moto_server: str) -> None:
    answer = requests.post(f"{moto_server}/moto-api/static/ce/cost-and-usage-results",
                           json={"results": [{"ResultsByTime": _ce_days(7)}]}, timeout=5)
    assert answer.status_code == 201
    settings = _settings(cc.kube.url, cost_explorer=True, kubecost_url=cc.kubecost.url,
                         aws={"endpoint_url": moto_server, "region": "ap-northeast-2"})
    ctx = _ctx(settings, cc.prometheus.url)
    started = time.monotonic()
    report = cost.run(ctx, ["7d"])
    took = time.monotonic() - started
    assert ctx.prometheus.queries_issued == 2, "two Prometheus queries, whatever the fleet"
    rows = _rows(report)

    rate = rows["Daily run-rate"]  # (2 × 32.77 + 13.11 + 0.10 management) × 24
    assert rate.status is Status.FAIL and rate.value == "$1,890.00/day"
    assert "189% of the budget" in rate.detail and rate.threshold == "< $1,000.00/day"
    assert report.summary == "Run-rate $1,890.00/day against a budget of $1,000.00/day"

    gpu = rows["GPU cost"]  # 2 × 8 × 3.60 + 8 × 1.44 = 69.12 $/h of 78.65
    assert gpu.value == "$69.12/h, 88% of node cost"
    assert gpu.detail.startswith("$1,658.88/day; 24 GPUs priced")

    ns = rows["Top namespaces (GPU)"]
    assert ns.value == "inference $1,036.80/day"
    assert ns.detail == ("inference $1,036.80/day (70%); training $276.48/day (19%); "
                         "research $172.80/day (12%)")

    kc = rows["Top namespaces (Kubecost, 7d)"]
    assert kc.status is Status.OK and kc.value == "inference $1,054.40"
    assert kc.detail.startswith("inference $1,054.40 (GPU $1,036.80); training $280.38")
    assert kc.detail.endswith("idle $28.00")
    assert cc.kubecost.paths[-1].startswith("/model/allocation?window=7d&aggregate=namespace")

    idle = rows["Idle GPUs"]  # gpu-node-1's 8 GPUs at 5%, labelled `hostname` only
    assert idle.status is Status.WARN
    assert idle.value == "8 of 24 GPUs, $691.20/day"
    assert idle.detail == "gpu-node-1: 8 × $3.60/h"

    spot = rows["Spot / on-demand (GPU nodes)"]
    assert spot.value == "1 spot / 2 on-demand" and spot.status is Status.OK
    assert spot.detail == ("on-demand $1,572.96/day; spot $314.64/day; "
                           "on-demand GPU part $1,382.40/day")

    ce = rows["AWS daily cost (Cost Explorer)"]  # last day 1560 + 2.40 + 12.50
    assert ce.status is Status.FAIL
    assert ce.value == "$1,574.90 on 2026-11-26 (estimated)"
    assert ce.detail.startswith("$10,814.30 over 7 days: 2026-11-20 $1,514.90; ")
    top = rows["AWS top services"]
    assert top.value == "Amazon Elastic Compute Cloud - Compute $10,710.00"

    hints = next(s for s in report.sections if s.title.startswith("Savings hints")).lines
    assert hints[0] == ("Spot instances for the on-demand GPU nodes (60%–90%): about "
                        "$829.44–$1,244.16/day of $1,382.40/day of on-demand GPU spend")
    assert hints[1] == ("Autoscaling away idle GPUs (30%–50%): about $207.36–$345.60/day of "
                        "$691.20/day of idle-GPU spend")
    assert hints[2].startswith("Model quantization (INT8/FP8) (20%–40%): about "
                               "$331.78–$663.55/day")
    assert hints[3].startswith("Request batching (20%–30%): about $331.78–$497.66/day")
    assert hints[4].startswith("Consolidating idle GPU nodes (10%–20%): about $69.12–$138.24")
    assert "estimates" in hints[-1].lower() or "Estimates" in hints[-1]
    _valid(report)
    assert took < 10
    assert_all_allowed(cc.kube.requests)  # the deployed ClusterRole allows every call


def test_window_spend_from_history(cc: CostCluster) -> None:
    """The 1d spend sums the fleet's $/h over a day of (backfilled) history."""
    ctx = _ctx(_settings(cc.kube.url), cc.prometheus.url)
    report = cost.run(ctx, [])
    rows = _rows(report)
    spend = rows["Spend, last 1d"]
    dollars = float(spend.value.strip("$").replace(",", ""))
    # 40 $/h until 5 minutes (lookback) after the history ends 10 minutes ago, + a live minute
    assert 945 < dollars < 962, spend
    assert spend.status is Status.WARN  # about $960/day: over 80% of $1,000
    assert "over 23.9 h of data" in spend.detail or "over 24.0 h of data" in spend.detail
    ce = next(s for s in report.sections if s.title == "AWS Cost Explorer")
    assert ce.rows == [] and "GENAI_COST__COST_EXPLORER=true" in ce.lines[0]
    assert "$0.01 per request" in ce.lines[0]
    assert not any(r.check.startswith("Top namespaces (Kubecost") for r in report.rows)
    _valid(report)


def test_prometheus_down_makes_its_rows_unknown(cc: CostCluster) -> None:
    ctx = _ctx(_settings(cc.kube.url), "http://127.0.0.1:1")
    report = cost.run(ctx, ["30d"])
    rows = _rows(report)
    for name in ("Daily run-rate", "Spend, last 30d", "GPU cost", "Top namespaces (GPU)",
                 "Idle GPUs"):
        assert rows[name].status is Status.UNKNOWN, name
        assert "cannot connect to http://127.0.0.1:1" in rows[name].detail, name
    spot = rows["Spot / on-demand (GPU nodes)"]  # Kubernetes still answers
    assert spot.value == "1 spot / 2 on-demand"
    assert spot.detail.startswith("no prices (prometheus: cannot connect")
    assert report.summary.startswith("Run-rate unknown: prometheus: cannot connect")
    hints = next(s for s in report.sections if s.title.startswith("Savings hints")).lines
    assert hints[0].endswith("no estimate, needs node capacity types and GPU prices")
    _valid(report)


def test_kubecost_unreachable_only_its_row_unknown(cc: CostCluster) -> None:
    ctx = _ctx(_settings(cc.kube.url, kubecost_url="http://127.0.0.1:1", timeout_s=2),
               cc.prometheus.url)
    rows = _rows(cost.run(ctx, ["1d"]))
    kc = rows["Top namespaces (Kubecost, 1d)"]
    assert kc.status is Status.UNKNOWN
    assert kc.detail == "kubecost: cannot connect to http://127.0.0.1:1/model/allocation"
    assert rows["Daily run-rate"].status is Status.FAIL
    assert rows["Top namespaces (GPU)"].status is Status.OK


@pytest.mark.parametrize("error_type, expected", [
    ("ThrottlingException", "throttled by AWS (ThrottlingException)"),
    ("AccessDeniedException", "access denied (AccessDeniedException)"),
])
def test_cost_explorer_failure_only_its_rows_unknown(cc: CostCluster, error_type: str,
                                                     expected: str) -> None:
    fake = _JsonServer(400, {"__type": error_type, "message": "nope"},
                       content_type="application/x-amz-json-1.1")
    try:
        settings = _settings(cc.kube.url, cost_explorer=True,
                             aws={"endpoint_url": fake.url, "timeout_s": 3})
        report = cost.run(_ctx(settings, cc.prometheus.url), ["1d"])
    finally:
        fake.stop()
    rows = _rows(report)
    for name in ("AWS daily cost (Cost Explorer)", "AWS top services"):
        assert rows[name].status is Status.UNKNOWN
        assert rows[name].detail == f"cost explorer: GetCostAndUsage: {expected}" + (
            "; try again" if "throttled" in expected else "; check the IAM role policy")
    assert rows["Daily run-rate"].status is Status.FAIL
    assert fake.paths, "the client did call the endpoint"
    _valid(report)


def test_window_argument_is_checked() -> None:
    assert cost.parse_window([]) == "1d"
    assert cost.parse_window(["30d"]) == "30d"
    with pytest.raises(UsageError, match="Usage: /genai cost"):
        cost.parse_window(["2w"])


def test_parsers_follow_the_real_shapes() -> None:
    allocs = parse_allocation(KUBECOST_ANSWER)
    assert [a.name for a in allocs] == ["inference", "training", "research", "__idle__"]
    assert allocs[0].gpu == pytest.approx(1036.8)
    with pytest.raises(ValueError, match="code 500"):
        parse_allocation({"code": 500, "message": "boom"})
    days = parse_cost_and_usage([{"ResultsByTime": _ce_days(2)}])
    assert [round(d.total, 2) for d in days] == [1514.9, 1524.9]
    ungrouped = parse_cost_and_usage([{"ResultsByTime": [
        {"TimePeriod": {"Start": "2026-11-01"}, "Total": {"UnblendedCost": {"Amount": "3.5"}},
         "Groups": []}]}])
    assert ungrouped[0].total == 3.5


# -- unknown is never $0 ------------------------------------------------------------------------

NO_PRICE = "no node_gpu_hourly_cost series: is OpenCost running?"


@pytest.fixture(scope="module")
def unpriced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CostCluster]:
    """OpenCost prices the nodes but exports no GPU price (node_gpu_hourly_cost) and no
    cluster management cost; DCGM sees gpu-node-0's 8 GPUs idle."""
    require_binary("prometheus", "the cost report reads real Prometheus")
    exporter = SyntheticExporter().start()
    kube = KubeStandin().start()
    kubecost = _JsonServer(200, KUBECOST_ANSWER)
    prom: PrometheusProcess | None = None
    try:
        for i, (name, ctype) in enumerate((("gpu-node-0", "on-demand"), ("gpu-node-1", "spot"))):
            kube.add(node(name, labels=GPU_LABEL, capacity_type=ctype))
            exporter.set_gauge("node_total_hourly_cost", {"node": name}, 32.77 - 19.66 * i)
            exporter.set_gauge("node_gpu_count", {"node": name}, 8)
            for g in range(8):
                exporter.set_gpu(name, g, util=5 if i == 0 else 60)
        exporter.set_gauge("container_gpu_allocation",
                           {"namespace": "inference", "pod": "vllm-0", "container": "main",
                            "node": "gpu-node-0"}, 8)
        prom = PrometheusProcess([exporter.target]).start()
        prom.wait_for_scrape()
        prom.wait_for_samples("node_total_hourly_cost", count=2)
        yield CostCluster(exporter, prom, kube, kubecost)
    finally:
        if prom is not None:
            prom.stop()
        exporter.stop()
        kube.stop()
        kubecost.stop()


def test_missing_gpu_prices_read_unknown_never_zero(unpriced: CostCluster) -> None:
    """Without node_gpu_hourly_cost the idle GPUs' dollars, the GPU cost, the namespaces'
    shares and the on-demand GPU part are unknown with the reason: never $0.00/day, and no
    hint says "nothing to save"."""
    report = cost.run(_ctx(_settings(unpriced.kube.url), unpriced.prometheus.url), ["1d"])
    rows = _rows(report)

    idle = rows["Idle GPUs"]
    assert idle.status is Status.UNKNOWN, idle
    assert idle.value == "8 of 16 GPUs, unknown $/day"
    assert "$0.00" not in idle.value and NO_PRICE in idle.detail

    gpu = rows["GPU cost"]
    assert gpu.status is Status.UNKNOWN and gpu.detail == NO_PRICE
    ns = rows["Top namespaces (GPU)"]
    assert ns.status is Status.UNKNOWN
    assert "inference 8 GPUs" in ns.detail and NO_PRICE in ns.detail
    spot = rows["Spot / on-demand (GPU nodes)"]
    assert spot.value == "1 spot / 1 on-demand"
    assert f"on-demand GPU part unknown ({NO_PRICE})" in spot.detail

    rate = rows["Daily run-rate"]  # (32.77 + 13.11) × 24, management cost not reported
    assert rate.value == "≥ $1,101.12/day"
    assert "cluster management unknown" in rate.detail

    hints = next(s for s in report.sections if s.title.startswith("Savings hints")).lines
    assert not any("nothing to save" in line or "$0" in line for line in hints), hints
    assert all("no estimate" in line for line in hints[:5]), hints
    assert f"No estimate where: {NO_PRICE}" in hints
    assert "$0.00/day" not in render_text(report)
    _valid(report)


def _sample(value: float, **labels: str) -> Sample:
    return Sample(labels=labels, value=value)


def _offline_ctx() -> Context:
    return _ctx(load_settings(), "http://127.0.0.1:1")


def test_partly_priced_gpus_are_a_floor_and_unknown() -> None:
    """Some nodes priced, some not: the sums are floors (≥), the rows unknown, no shares."""
    now = {
        "node_gpu_price": [_sample(3.6, node="a")],
        "node_gpus": [_sample(8, node="a"), _sample(8, node="b")],
        "node_total": [_sample(32.77, node="a"), _sample(32.77, node="b")],
        "gpu": [_sample(28.8)],
        "gpus_seen": [_sample(16)],
        "idle": [_sample(2, node="a"), _sample(3, Hostname="b")],
        "ns": [_sample(28.8, namespace="inference")],
        "ns_unpriced": [_sample(1, namespace="research")],
    }
    figures = Figures()
    [idle] = idle_rows(now, figures)
    assert idle.status is Status.UNKNOWN
    assert idle.value == "5 of 16 GPUs, ≥ $172.80/day"
    assert idle.detail.endswith("no node_gpu_hourly_cost for b")
    [gpu] = gpu_rows(now, figures)
    assert gpu.status is Status.UNKNOWN and gpu.value.startswith("≥ $28.80/h")
    [ns] = namespace_rows(now)
    assert ns.status is Status.UNKNOWN and "%" not in ns.detail
    assert "research 1 GPU on nodes without node_gpu_hourly_cost" in ns.detail
    nodes = [NodeInfo("a", True, labels={CAPACITY_TYPE: "on-demand"}),
             NodeInfo("b", True, labels={CAPACITY_TYPE: "on-demand"})]
    [spot] = spot_rows(_offline_ctx(), nodes, now, figures)
    assert spot.detail.startswith("on-demand $1,572.96/day")
    assert "on-demand GPU part unknown (no node_gpu_hourly_cost for b)" in spot.detail
    assert all(isinstance(f, Failed) for f in (figures.gpu_day, figures.idle_day,
                                                figures.ondemand_gpu_day))
    hints = hint_lines(figures)
    assert not any("nothing to save" in h for h in hints)
    # Only a measured zero is "nothing to save".
    assert "nothing to save now" in hint_lines(Figures(0.0, 0.0, 0.0))[0]


def test_cost_explorer_days_without_amounts_are_not_zero_days() -> None:
    ctx = _offline_ctx()
    days = [DayCost("2026-11-26", 1500.0, {"EC2": 1500.0}),
            DayCost("2026-11-27", 0.0, {}, estimated=True)]
    daily, _top = explorer_rows(ctx, "7d", days)
    assert daily.value == "$1,500.00 on 2026-11-26"
    assert daily.detail.startswith("$1,500.00 over 1 day: ")
    assert daily.detail.endswith("2026-11-27 not reported yet")
    empty = explorer_rows(ctx, "1d", [DayCost("2026-11-27", 0.0, {}, estimated=True)])
    assert [r.status for r in empty] == [Status.UNKNOWN, Status.UNKNOWN]
    assert empty[0].detail == "Cost Explorer reported no amounts for the last 1d"


def test_cost_is_split_into_modules_under_400_lines() -> None:
    package = Path(cost.__file__).parent
    assert cost.COMMAND.name == "cost" and cost.COMMAND.run is cost.run
    for module in package.glob("*.py"):
        assert len(module.read_text().splitlines()) <= 400, module
