"""The synthetic exporter, scraped and queried by the real Prometheus, and real Alertmanager.

The PromQL the bot ships is only trustworthy if the numbers the harness produces come out of
Prometheus as set: these tests pin that (gauges, rate ratios, histogram quantiles, both DCGM
host label spellings), plus the process runners themselves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.exporter import SyntheticExporter, p99_buckets
from tests.harness.procs import (
    AlertmanagerProcess,
    PrometheusProcess,
    backfill_openmetrics,
    find_binary,
    free_port,
    require_binary,
)

JSON = dict[str, object]

ALERTMANAGER_CONFIG = """\
route:
  receiver: "null"
  group_by: [alertname]
  group_wait: 1s
receivers:
  - name: "null"
"""


def _value(result: list[dict[str, object]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])  # type: ignore[index]


def _by(result: list[dict[str, object]], label: str) -> dict[str, float]:
    return {
        r["metric"][label]: float(r["value"][1])  # type: ignore[index]
        for r in result
    }


def _histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus' bucketQuantile for cumulative fractions (linear within the bucket)."""
    items = [*sorted(buckets.items()), (math.inf, 1.0)]
    rank = q * items[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in items:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    raise AssertionError("unreachable")


# -- the exporter alone (no binaries needed) -----------------------------------------------


def test_counters_integrate_rate_and_stay_monotonic() -> None:
    exporter = SyntheticExporter()
    exporter.set_model("m", rps=100.0, error_ratio=0.1)

    def sample(name: str) -> float:
        line = next(x for x in exporter.render().splitlines() if x.startswith(name + "{"))
        return float(line.rsplit(" ", 1)[1])

    t0 = sample("inference_request_total")
    time.sleep(0.2)
    t1 = sample("inference_request_total")
    assert 15 <= t1 - t0 <= 40
    exporter.set_model("m", rps=1.0, error_ratio=0.5, latency_buckets={0.1: 0.5, 7.5: 0.9})
    t2 = sample("inference_request_total")
    assert t2 >= t1
    errors = sample("inference_request_errors_total")
    assert errors <= t2
    text = exporter.render()
    buckets = [
        float(x.rsplit(" ", 1)[1])
        for x in text.splitlines()
        if x.startswith("inference_request_duration_seconds_bucket")
    ]
    assert buckets == sorted(buckets), "cumulative buckets must not decrease"
    assert 'le="7.5"' in text and 'le="+Inf"' in text


@pytest.mark.parametrize("p99", [0.3, 1.0, 3.0, 4.2, 12.0, 90.0])
def test_p99_buckets_interpolate_to_the_target(p99: float) -> None:
    assert _histogram_quantile(0.99, p99_buckets(p99)) == pytest.approx(p99, rel=1e-6)


def test_render_8000_gpus_quickly_and_escape_labels() -> None:
    exporter = SyntheticExporter()
    exporter.set_gpus([f"ip-10-0-{i // 250}-{i % 250}.ec2.internal" for i in range(1000)])
    start = time.perf_counter()
    text = exporter.render()
    assert time.perf_counter() - start < 1.0
    assert text.count("\nDCGM_FI_DEV_GPU_UTIL{") == 8000
    exporter.clear_gpus()
    exporter.set_gauge("node_total_hourly_cost", {"node": 'a"b\\c\nd'}, 32.77)
    assert 'node_total_hourly_cost{node="a\\"b\\\\c\\nd"} 32.77' in exporter.render()
    with pytest.raises(ValueError):
        exporter.set_gauge("DCGM_FI_DEV_GPU_UTIL", {}, 1)


def test_require_binary_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENAI_REQUIRE_INTEGRATION", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-binary"):
        require_binary(["no-such-binary-xyz"], "needed for nothing")
    monkeypatch.setenv("GENAI_REQUIRE_INTEGRATION", "1")
    with pytest.raises(pytest.fail.Exception, match="GENAI_REQUIRE_INTEGRATION"):
        require_binary("no-such-binary-xyz", "needed for nothing")
    assert find_binary("no-such-binary-xyz") is None
    assert 0 < free_port() < 65536


# -- exporter + real Prometheus ------------------------------------------------------------


@pytest.fixture(scope="module")
def scraped() -> Iterator[tuple[SyntheticExporter, PrometheusProcess]]:
    require_binary("prometheus", "the real Prometheus evaluates the bot's PromQL")
    with SyntheticExporter() as exporter:
        exporter.set_gpu("ip-10-0-1-10.ec2.internal", 0, util=30, fb_used=72000, fb_free=8000)
        exporter.set_gpu("ip-10-0-1-10.ec2.internal", 1, util=70, pod="llama-7b-5d9c8-aaaaa")
        exporter.set_gpu(
            "nvidia-dcgm-exporter-x2k4p",
            0,
            util=50,
            host_label="hostname",
            node="ip-10-0-1-11.ec2.internal",
        )
        exporter.set_model("llama-7b", rps=20.0, error_ratio=0.05)
        exporter.set_model_p99("mistral-7b", 3.0, rps=50.0)
        exporter.set_restarts("inference", "llama-7b-5d9c8-bbbbb", 7)
        exporter.set_gauge("node_gpu_hourly_cost", {"node": "ip-10-0-1-10.ec2.internal"}, 4.1)
        with PrometheusProcess([exporter.target]) as prom:
            prom.wait_for_scrape(timeout=20)
            yield exporter, prom


def test_gauges_come_out_as_set(scraped: tuple[SyntheticExporter, PrometheusProcess]) -> None:
    _, prom = scraped
    assert _value(prom.query("avg(DCGM_FI_DEV_GPU_UTIL)")) == pytest.approx(50.0)
    memory = prom.query(
        'DCGM_FI_DEV_FB_USED{gpu="0", node="ip-10-0-1-10.ec2.internal"}'
        " / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"
    )
    assert _value(memory) == pytest.approx(0.9)
    # Old exporters label the host `Hostname`, new ones `hostname`: both must be visible.
    assert _value(prom.query('count(DCGM_FI_DEV_GPU_UTIL{Hostname!=""})')) == 2
    assert _value(prom.query('count(DCGM_FI_DEV_GPU_UTIL{hostname!=""})')) == 1
    assert _by(prom.query("count by (node) (DCGM_FI_DEV_GPU_UTIL)"), "node") == {
        "ip-10-0-1-10.ec2.internal": 2,
        "ip-10-0-1-11.ec2.internal": 1,
    }
    used = prom.query('DCGM_FI_DEV_GPU_UTIL{pod!=""}')
    assert [r["metric"]["pod"] for r in used] == ["llama-7b-5d9c8-aaaaa"]  # type: ignore[index]
    restarts = prom.query("kube_pod_container_status_restarts_total")
    assert _value(restarts) == 7
    assert _value(prom.query("sum(node_gpu_hourly_cost)")) == pytest.approx(4.1)


def test_rates_ratios_and_quantiles(
    scraped: tuple[SyntheticExporter, PrometheusProcess],
) -> None:
    exporter, prom = scraped
    prom.wait_for_samples("inference_request_total", count=4, timeout=20)
    ratio = prom.query(
        "sum by (model)(rate(inference_request_errors_total[1m]))"
        " / sum by (model)(rate(inference_request_total[1m]))"
    )
    assert _by(ratio, "model") == {
        "llama-7b": pytest.approx(0.05, rel=0.05),
        "mistral-7b": pytest.approx(0.0),
    }
    p99 = prom.query(
        "histogram_quantile(0.99, sum by (le, model)"
        "(rate(inference_request_duration_seconds_bucket[1m])))"
    )
    assert _by(p99, "model")["mistral-7b"] == pytest.approx(3.0, rel=0.05)
    # An absolute rate is only right once samples span the window: hence the short window.
    rps = prom.query("sum by (model)(rate(inference_request_total[3s]))")
    assert _by(rps, "model") == {
        "llama-7b": pytest.approx(20.0, rel=0.05),
        "mistral-7b": pytest.approx(50.0, rel=0.05),
    }
    # Changing the rate keeps the counter monotonic: no counter reset seen by Prometheus.
    exporter.set_model("llama-7b", rps=5.0, error_ratio=0.2)
    prom.wait_until(
        'sum(rate(inference_request_errors_total{model="llama-7b"}[2s]))'
        ' / sum(rate(inference_request_total{model="llama-7b"}[2s]))',
        lambda r: bool(r) and abs(float(r[0]["value"][1]) - 0.2) < 0.01,
        timeout=15,
    )
    assert _value(prom.query("sum(resets(inference_request_total[1m]))")) == 0


# -- real Alertmanager, and Prometheus on backfilled blocks --------------------------------


def test_alertmanager_accepts_and_lists_alerts() -> None:
    require_binary(["prometheus-alertmanager", "alertmanager"], "real Alertmanager routing")
    with AlertmanagerProcess(ALERTMANAGER_CONFIG) as am:
        am.post_alerts(
            [
                {
                    "labels": {
                        "alertname": "GPUMemoryHigh",
                        "severity": "warning",
                        "gameday": "true",
                    },
                    "annotations": {"description": "GPU memory is 95%"},
                }
            ]
        )
        alerts = am.wait_for_alerts(lambda a: len(a) == 1, timeout=10)
        assert alerts[0]["labels"]["alertname"] == "GPUMemoryHigh"
        assert alerts[0]["status"]["state"] == "active"
        silence_id = am.create_silence(
            [{"name": "alertname", "value": "GPUMemoryHigh", "isRegex": False}], 600
        )
        assert [s["id"] for s in am.silences()] == [silence_id]
        workdir = am.workdir
    assert not workdir.exists()


def test_prometheus_reads_backfilled_blocks(tmp_path: Path) -> None:
    require_binary("promtool", "backfilling TSDB blocks")
    require_binary("prometheus", "querying backfilled blocks")
    now = int(time.time())
    start = (now - 3 * 3600) // 60 * 60
    lines = ["# HELP node_gpu_hourly_cost GPU cost per hour.", "# TYPE node_gpu_hourly_cost gauge"]
    lines += [
        f'node_gpu_hourly_cost{{node="n1"}} {4.1 + i * 0.01:.2f} {start + i * 60}'
        for i in range(120)
    ]
    source = tmp_path / "cost.om"
    source.write_text("\n".join(lines) + "\n# EOF\n")
    tsdb = tmp_path / "tsdb"
    backfill_openmetrics(source, tsdb)
    assert any(p.is_dir() for p in tsdb.iterdir())
    with PrometheusProcess([], tsdb_path=tsdb) as prom:
        at = start + 60 * 60
        assert _value(prom.query('node_gpu_hourly_cost{node="n1"}', at=at)) == pytest.approx(4.7)
    assert tsdb.exists(), "a caller's TSDB directory is not removed"
