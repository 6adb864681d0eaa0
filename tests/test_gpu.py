"""`/genai gpu [node]` against real Prometheus: a small scraped fleet, and a backfilled fleet
of 1,000 nodes x 8 GPUs x 6 h (5-minute samples) for the scale and query-count checks."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.config import KubernetesSettings, load_settings
from bot.report import Report, Status
from bot.slack.render.report import render_blocks
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from commands import gpu, promql
from commands.base import Context
from tests.bench.fleet import GPUS_PER_NODE, fleet_prometheus, gpu_values, node_name
from tests.harness.blockkit import validate_blocks
from tests.harness.exporter import SyntheticExporter
from tests.harness.procs import PrometheusProcess, require_binary

MIB = 81920


def context(url: str) -> Context:
    return Context(settings=load_settings(), prometheus=PrometheusSource(url, timeout_s=5),
                   kubernetes=KubernetesSource(KubernetesSettings()))


@pytest.fixture(scope="module")
def small() -> Iterator[PrometheusProcess]:
    require_binary("prometheus", "/genai gpu reads real Prometheus")
    exporter = SyntheticExporter().start()
    # node="" leaves the relabelled node label out: only Hostname / hostname identify hosts.
    for g in range(4):
        exporter.set_gpu("dgx-a100-1", g, util=70, temp=60, host_label="Hostname", node="")
        exporter.set_gpu("dgx-h100-2", g, util=70, temp=60, host_label="hostname", node="")
    exporter.set_gpu("dgx-a100-1", 1, util=70, temp=85, host_label="Hostname", node="")
    exporter.set_gpu("dgx-h100-2", 2, util=70, fb_used=MIB * 0.95, fb_free=MIB * 0.05,
                     host_label="hostname", node="")
    exporter.set_gpu("dgx-h100-2", 3, util=5, host_label="hostname", node="")
    exporter.set_gpu("dgx-a100-1", 3, util=70, xid=79, host_label="Hostname", node="")
    prom = PrometheusProcess([exporter.target]).start()
    try:
        prom.wait_for_scrape()
        prom.wait_for_samples("DCGM_FI_DEV_GPU_UTIL", count=2)
        yield prom
    finally:
        prom.stop()
        exporter.stop()


def rows(report: Report) -> list[tuple[str, Status, str, str, str]]:
    return [(r.check, r.status, r.value, r.threshold, r.detail) for r in report.rows]


def test_fleet_ranks_risky_gpus_first(small: PrometheusProcess) -> None:
    ctx = context(small.url)
    report = gpu.run(ctx, [])
    got = rows(report)
    assert [r[0] for r in got] == ["dgx-h100-2/gpu2", "dgx-a100-1/gpu1", "dgx-h100-2/gpu3",
                                   "dgx-a100-1/gpu3"]
    oom, hot, idle, xid = got
    assert oom[1] is Status.FAIL and oom[3] == "near-OOM" and "mem 95%" in oom[2]
    assert hot[1] is Status.WARN and hot[3] == "hot" and "85 °C" in hot[2]
    assert idle[1] is Status.WARN and idle[3] == "idle" and "1 h avg util 5%" in idle[4]
    assert xid[1] is Status.FAIL and xid[3] == "XID" and "last XID 79" in xid[4]
    assert "util 70% · mem 50% · 60 °C · 300 W" in xid[2]
    assert report.summary.startswith("8 GPUs on 2 nodes · 1 hot · 1 near-OOM · 1 idle · 1 XID")
    assert "cluster util 6 h " in report.summary
    assert any(ch in report.summary for ch in gpu.SPARK)
    assert not validate_blocks(render_blocks(report))
    assert ctx.prometheus.queries_issued == 3


def test_node_lists_all_its_gpus(small: PrometheusProcess) -> None:
    ctx = context(small.url)
    for node, label_gpus in (("dgx-h100-2", ["gpu2", "gpu3", "gpu0", "gpu1"]),
                             ("dgx-a100-1", ["gpu1", "gpu3", "gpu0", "gpu2"])):
        report = gpu.run(ctx, [node])
        assert report.title == f"GPUs on {node}"
        assert [r.check for r in report.rows] == [f"{node}/{g}" for g in label_gpus]
        healthy = report.rows[2]
        assert healthy.status is Status.OK and "XID" not in healthy.detail


def test_unknown_node_suggests_names(small: PrometheusProcess) -> None:
    report = gpu.run(context(small.url), ["dgx-a10-1"])
    assert report.private and report.title == "Unknown node"
    text = " ".join(line for s in report.sections for line in s.lines)
    assert "'dgx-a10-1'" in text and "dgx-a100-1" in text


def test_prometheus_down_is_unknown_with_reason() -> None:
    report = gpu.run(context("http://127.0.0.1:1"), [])
    [row] = report.rows
    assert row.status is Status.UNKNOWN
    assert "cannot connect to http://127.0.0.1:1" in row.detail
    assert not validate_blocks(render_blocks(report))


def assert_matches_ground_truth(report: Report, nodes: int) -> None:
    """Prometheus picked the offenders; ranking every GPU in Python from the values the
    fleet was written with must give the same counts and the same rows, up to ties. (At 100
    nodes the 25 rows mix all four risks; at 1,000 they are all near-OOM.) Idle GPUs are
    compared by rank only: their 1 h average follows the written wave, not `util`."""
    lim = gpu.Limits(mem_ratio=load_settings().thresholds.gpu_mem_max_ratio)
    every = []
    for n in range(nodes):
        for g in range(GPUS_PER_NODE):
            util, mem, temp, power, xid = gpu_values(n, g)
            every.append(gpu.Gpu(host=node_name(n), index=str(g), values={
                "util": util, "mem": mem, "temp": temp, "power": power, "xid": xid,
                "avg1h": util}))
    risky = sorted((g for g in every if gpu.risks(g, lim)), key=lambda g: gpu.rank_key(g, lim))
    counts = {risk: sum(risk in gpu.risks(g, lim) for g in every)
              for risk in ("hot", "near-OOM", "idle", "XID")}
    assert report.summary.startswith(
        f"{nodes * 8} GPUs on {nodes} nodes · {counts['hot']} hot · "
        f"{counts['near-OOM']} near-OOM · {counts['idle']} idle · {counts['XID']} XID")
    def rank(g: gpu.Gpu) -> tuple[int, float | None]:
        category, score, _host, _index = gpu.rank_key(g, lim)
        return category, None if category == 2 else score

    expected = [rank(g) for g in risky[:gpu.MAX_ROWS]]
    got = []
    for row in report.rows:
        host, index = row.check.rsplit("/gpu", 1)
        n = int(host.removeprefix("gpu-node-"))
        util, mem, temp, power, xid = gpu_values(n, int(index))
        truth = gpu.Gpu(host=host, index=index, values={
            "util": util, "mem": mem, "temp": temp, "power": power, "xid": xid, "avg1h": util})
        got.append(rank(truth))
    assert got == expected
    more = f"… and {len(risky) - gpu.MAX_ROWS} more GPUs over a threshold"
    assert any(line.startswith(more) for s in report.sections for line in s.lines)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="genai-test-fleet-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_scale_1000_nodes_fits_slack_and_query_count_is_flat(workdir: Path) -> None:
    require_binary("promtool", "the fleet is backfilled with promtool")
    require_binary("prometheus", "/genai gpu reads real Prometheus")
    issued: dict[int, int] = {}
    for nodes in (100, 1000):
        with fleet_prometheus(nodes, workdir) as (prom, _timings):
            ctx = context(prom.url)
            report = gpu.run(ctx, [])
            issued[nodes] = ctx.prometheus.queries_issued
            blocks = render_blocks(report)
            assert validate_blocks(blocks) == []
            assert len(blocks) <= 50
            assert report.summary.startswith(f"{nodes * 8} GPUs on {nodes} nodes")
            assert len(report.rows) == gpu.MAX_ROWS
            assert report.rows[0].threshold.startswith("near-OOM")
            assert_matches_ground_truth(report, nodes)
            node_report = gpu.run(ctx, ["gpu-node-0042"])
            assert len(node_report.rows) == 8
    assert issued[100] == issued[1000] == 3


def test_host_regex_matches_exactly_the_names_given(small: PrometheusProcess) -> None:
    """The details query selects the offenders' nodes by regex: metacharacters and quotes in
    a name must neither widen the match nor break the query."""
    src = PrometheusSource(small.url, timeout_s=5)

    def hosts(names: list[str]) -> set[str]:
        query = f"DCGM_FI_DEV_GPU_UTIL{{Hostname=~{promql.label_regex(names)}}}"
        return {s.labels["Hostname"] for s in src.query(query)}

    assert hosts(["dgx-a100-1", "dgx.a100.1"]) == {"dgx-a100-1"}
    assert hosts(["dgx.*"]) == set()
    assert hosts(['x"}) or vector(1) or up{a="']) == set()


# -- unknown is never 0 -------------------------------------------------------------------------

# A dcgm-exporter whose counters CSV leaves out XID errors, and whose gpu1 exports no
# framebuffer memory.
PARTIAL_DCGM = "".join(
    f'{name}{{gpu="{g}",Hostname="dgx-lite-1"}} {value}\n'
    for g in range(2)
    for name, value in (("DCGM_FI_DEV_GPU_UTIL", 70), ("DCGM_FI_DEV_GPU_TEMP", 60),
                        ("DCGM_FI_DEV_POWER_USAGE", 300),
                        *((("DCGM_FI_DEV_FB_USED", 40000), ("DCGM_FI_DEV_FB_FREE", 40000))
                          if g == 0 else ())))


class _StaticMetrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PARTIAL_DCGM.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def partial() -> Iterator[PrometheusProcess]:
    require_binary("prometheus", "/genai gpu reads real Prometheus")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StaticMetrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    prom = PrometheusProcess([f"127.0.0.1:{server.server_address[1]}"]).start()
    try:
        prom.wait_for_scrape()
        prom.wait_for_samples("DCGM_FI_DEV_GPU_UTIL", count=2)
        yield prom
    finally:
        prom.stop()
        server.shutdown()
        server.server_close()


def test_gpus_without_memory_or_xid_readings_are_unknown_not_zero(
        partial: PrometheusProcess) -> None:
    """No XID series, and no FB_USED/FB_FREE for gpu1: "0 near-OOM", "0 XID" and "No GPU
    over a threshold." would read as healthy. The risks nobody can judge are unknown."""
    ctx = context(partial.url)
    fleet = gpu.run(ctx, [])
    assert fleet.summary.startswith("2 GPUs on 1 node · 0 hot · 0 near-OOM (of 1 read) · "
                                    "0 idle · XID unknown"), fleet.summary
    assert [(r.check, r.status, r.value) for r in fleet.rows] == [
        ("near-OOM check", Status.UNKNOWN, "unknown on 1 of 2 GPUs"),
        ("XID check", Status.UNKNOWN, "unknown on 2 of 2 GPUs")]
    assert "DCGM_FI_DEV_FB_USED" in fleet.rows[0].detail
    lines = [line for s in fleet.sections for line in s.lines]
    assert lines == ["No GPU over a threshold where it could be read."]
    assert fleet.status is Status.UNKNOWN
    assert ctx.prometheus.queries_issued == 2  # nothing flagged: no details query
    assert not validate_blocks(render_blocks(fleet))

    node = gpu.run(ctx, ["dgx-lite-1"])
    assert node.summary.startswith("2 GPUs on 1 node · ")  # not "1 nodes"
    gpu0, gpu1 = node.rows
    assert [gpu0.status, gpu1.status] == [Status.UNKNOWN, Status.UNKNOWN]
    assert "mem 50%" in gpu0.value and "mem ?" in gpu1.value
    assert gpu0.detail.endswith("unknown: XID (no DCGM_FI_DEV_XID_ERRORS)")
    assert gpu1.detail.endswith("unknown: near-OOM (no DCGM_FI_DEV_FB_USED / "
                                "DCGM_FI_DEV_FB_FREE), XID (no DCGM_FI_DEV_XID_ERRORS)")


def test_status_gpu_memory_with_unread_gpus_is_unknown_not_ok(
        partial: PrometheusProcess) -> None:
    """/genai status: the worst of the GPUs that export memory is not the fleet's worst when
    others export none; 50% of 1 GPU read must not be "ok"."""
    from commands import status

    [row] = status.check_gpu_memory(context(partial.url))
    assert row.status is Status.UNKNOWN, row
    assert row.value == "50% max"
    assert row.detail == ("worst dgx-lite-1/gpu0; 0 of 1 GPU over 90%; 1 of 2 GPUs export no "
                          "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE")
