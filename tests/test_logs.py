"""/genai logs: the guide's Logs Insights queries.

- `errors` runs through real moto (server mode, real HTTP through boto3).
- moto 5.2 does not compute `stats`, so `latency` and `tokens` run against a small local
  stand-in for the Logs JSON API (POST / with ``X-Amz-Target: Logs_20140328.*``) that answers
  StartQuery with a query id and GetQueryResults with a response in AWS's exact shape
  (tests/fixtures/logs_insights/*.json). boto3 does the real wire protocol both ways.
  The stand-in is `tests.harness.logs_insights.LogsStandin`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from bot.config import KubernetesSettings, load_settings
from bot.errors import SourceError, UsageError
from bot.render.text import render_text
from bot.report import Report
from bot.slack.render.report import render_blocks
from bot.sources.aws import AwsClients
from bot.sources.kubernetes import KubernetesSource
from bot.sources.logs_insights import LogsInsights
from bot.sources.prometheus import PrometheusSource
from commands.base import Context
from commands.logs import COMMAND, QUERIES, parse_window
from tests.harness.blockkit import validate_blocks
from tests.harness.logs_insights import LogsStandin

if TYPE_CHECKING:
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

FIXTURES = Path(__file__).parent / "fixtures" / "logs_insights"
GUIDE_GROUP = "/eks/genai-platform/inference"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def context(endpoint: str, log_group: str = GUIDE_GROUP, timeout_s: float = 10.0,
            poll_s: float = 0.05) -> Context:
    settings = load_settings(
        aws={"endpoint_url": endpoint},
        logs={"log_group": log_group, "query_timeout_s": timeout_s, "poll_interval_s": poll_s},
    )
    return Context(settings=settings, prometheus=PrometheusSource("http://127.0.0.1:1"),
                   kubernetes=KubernetesSource(KubernetesSettings()),
                   aws=AwsClients(settings.aws))


def assert_valid_blocks(report: Report) -> None:
    assert validate_blocks(render_blocks(report)) == []


def code_of(report: Report) -> str:
    return "\n".join(s.code for s in report.sections if s.code)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)


# ---- errors through moto -------------------------------------------------------------------


def _event(ts: datetime, record: dict[str, Any]) -> InputLogEventTypeDef:
    return {"timestamp": int(ts.timestamp() * 1000), "message": json.dumps(record)}


@pytest.fixture
def log_group(moto_server: str) -> Iterator[str]:
    """The guide's log group (suffixed: the moto server is shared by the whole session),
    with structlog lines as Fluent Bit ships them: 12 CUDA OOMs, 2 NCCL errors, 30 normal."""
    group = f"{GUIDE_GROUP}-{uuid.uuid4().hex[:8]}"
    logs = boto3.client("logs", endpoint_url=moto_server, region_name="ap-northeast-2")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="vllm-llama-70b")
    now = datetime.now(UTC)
    events: list[InputLogEventTypeDef] = []
    for i in range(30):
        events.append(_event(now - timedelta(minutes=50) + timedelta(seconds=60 * i), {
            "event": "inference_complete", "level": "info", "model": "llama-3-70b-instruct",
            "input_tokens": 812 + i, "output_tokens": 256, "latency_ms": 1200 + 37 * i,
            "user_id": f"u-{i % 4}", "kubernetes": {"pod_name": f"vllm-llama-70b-{i % 3}"}}))
    for i in range(12):
        events.append(_event(now - timedelta(minutes=40) + timedelta(seconds=90 * i), {
            "event": "inference_failed", "level": "error", "model": "llama-3-70b-instruct",
            "error": f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {2 + i % 3}"
                     ".00 GiB", "user_id": "u-1",
            "kubernetes": {"pod_name": "vllm-llama-70b-1"}}))
    for i in range(2):
        events.append(_event(now - timedelta(minutes=20) + timedelta(seconds=30 * i), {
            "event": "collective_failed", "level": "error", "model": "mixtral-8x7b",
            "error": "NCCL WARN Call to connect returned Connection refused",
            "kubernetes": {"pod_name": "vllm-mixtral-0"}}))
    # Outside the 1h window: must not appear.
    events.append(_event(now - timedelta(hours=3), {
        "event": "inference_failed", "level": "error", "error": "ancient ERROR from yesterday",
        "kubernetes": {"pod_name": "old-pod"}}))
    events.sort(key=lambda e: int(e["timestamp"]))
    logs.put_log_events(logGroupName=group, logStreamName="vllm-llama-70b", logEvents=events)
    yield group


def test_errors_through_moto_show_the_error_lines_and_the_oom_runbook(
        moto_server: str, log_group: str) -> None:
    report = COMMAND.run(context(moto_server, log_group), ["errors", "1h"])
    table = code_of(report)
    assert table.splitlines()[0].split() == ["time", "(UTC)", "pod", "message"]
    assert "CUDA out of memory" in table and "NCCL WARN" in table
    assert "vllm-llama-70b-1" in table  # pod name read from the Fluent Bit record
    assert "ancient" not in table  # outside the window
    assert "@ptr" not in render_text(report)
    # newest first (the guide's `sort @timestamp desc`): the NCCL lines are the latest errors
    first_row = table.splitlines()[2]
    assert "NCCL" in first_row
    patterns = next(s for s in report.sections if s.title == "Most frequent errors").lines
    assert patterns[0] == ('"CUDA out of memory" ×12 → runbook gpu-oom '
                           "(/genai diag oom <pod>)")
    assert any(line.startswith('"NCCL error" ×2 → runbook network-latency') for line in patterns)
    assert log_group in report.summary and "last 1h" in report.summary
    assert_valid_blocks(report)


@pytest.mark.xfail(strict=True, reason="moto 5.2.5 parses only fields/sort/limit of a Logs "
                   "Insights query and ignores `filter`, so normal lines come back too")
def test_errors_through_moto_leave_out_normal_lines(moto_server: str, log_group: str) -> None:
    report = COMMAND.run(context(moto_server, log_group), ["errors", "1h"])
    assert "inference_complete" not in code_of(report)


def test_errors_on_an_empty_window_say_so(moto_server: str, log_group: str) -> None:
    logs = boto3.client("logs", endpoint_url=moto_server, region_name="ap-northeast-2")
    group = log_group + "-empty"
    logs.create_log_group(logGroupName=group)
    report = COMMAND.run(context(moto_server, group), ["errors", "15m"])
    assert report.summary == "No matching log lines in the last 15m."
    assert not code_of(report)
    assert_valid_blocks(report)


def test_unknown_log_group_is_named(moto_server: str) -> None:
    report = COMMAND.run(context(moto_server, "/eks/no-such-group"), ["errors"])
    text = render_text(report)
    assert "/eks/no-such-group" in text and "does not exist" in text
    assert_valid_blocks(report)


# ---- stats queries against recorded responses ----------------------------------------------


def test_latency_stats_are_a_table_from_the_recorded_response(aws_env: None) -> None:
    with LogsStandin(lambda: fixture("latency")) as standin:
        report = COMMAND.run(context(standin.url), ["latency", "6h"])
    start = standin.calls[0][1]
    assert standin.ops() == ["StartQuery", "GetQueryResults"]
    assert start["queryString"] == QUERIES["latency"] and start["logGroupName"] == GUIDE_GROUP
    assert start["endTime"] - start["startTime"] == 6 * 3600
    lines = code_of(report).splitlines()
    assert lines[0].split() == ["model", "avg_latency", "max_latency", "count"]
    assert lines[2].split() == ["llama-3-70b-instruct", "8,734.6", "14,982", "18"]
    assert lines[4].split() == ["llama-3-8b-instruct", "5,204", "5,204", "1"]
    # columns line up: every value of a right-aligned column ends at the same offset
    assert len({len(line) for line in lines[:5]}) == 1
    assert report.summary == ("3 rows · 23 records matched of 48,213 scanned · 19.0 MB scanned"
                              f" · last 6h · {GUIDE_GROUP}")
    assert_valid_blocks(report)


def test_tokens_stats_sorted_by_hour_and_cut_at_forty_rows(aws_env: None) -> None:
    with LogsStandin(lambda: fixture("tokens")) as standin:
        report = COMMAND.run(context(standin.url), ["tokens", "24h"])
    code = code_of(report)
    assert "… and 8 more" in code
    rows = [line for line in code.splitlines() if line.startswith("2025-")]
    assert len(rows) == 40
    assert rows[0].split()[:3] == ["2025-01-14", "23:00:00", "llama-3-8b-instruct"]
    assert code.splitlines()[0].split()[:4] == ["hour", "(UTC)", "model", "total_input"]
    for section in report.sections:
        assert section.code is None or len(section.code) < 2900
    assert_valid_blocks(report)


def test_query_running_past_the_timeout_is_stopped(aws_env: None) -> None:
    running = {"results": [], "statistics": {"recordsMatched": 0.0, "recordsScanned": 1.0e6,
                                             "bytesScanned": 4.0e8}, "status": "Running"}
    with LogsStandin(lambda: running) as standin:
        ctx = context(standin.url, timeout_s=0.3, poll_s=0.05)
        assert ctx.aws is not None
        source = LogsInsights(ctx.aws, ctx.settings.logs)
        end = datetime.now(UTC)
        began = time.monotonic()
        with pytest.raises(SourceError, match=r"timed out after 0\.3 s; narrow the window"):
            source.run(QUERIES["tokens"], end - timedelta(days=7), end)
        assert time.monotonic() - began < 5
        report = COMMAND.run(ctx, ["tokens", "7d"])
    assert standin.ops().count("StopQuery") == 2
    assert standin.calls[-1] == ("StopQuery", {"queryId": "12ab3456-12ab-123a-789e-1234567890ab"})
    assert "timed out" in render_text(report)


def test_failed_query_is_reported(aws_env: None) -> None:
    with LogsStandin(lambda: {"results": [], "status": "Failed"}) as standin:
        report = COMMAND.run(context(standin.url), ["latency"])
    assert "query ended Failed" in render_text(report)


# ---- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["everything"], ["errors", "2w"], ["errors", "8d"],
                                  ["errors", "0h"], ["errors", "1h", "extra"]])
def test_bad_arguments_give_the_usage(args: list[str]) -> None:
    with pytest.raises(UsageError, match="Usage: /genai logs errors\\|latency\\|tokens"):
        COMMAND.run(context("http://127.0.0.1:1"), args)


def test_windows() -> None:
    assert parse_window("15m") == timedelta(minutes=15)
    assert parse_window("24h") == timedelta(hours=24)
    assert parse_window("7d") == timedelta(days=7)


# -- no data is never ok ----------------------------------------------------------------------


def test_statistics_insights_did_not_report_are_not_zero(aws_env: None) -> None:
    """Without `statistics` the summary said "0 records matched of 0 scanned · 0 B scanned"."""
    answer = {k: v for k, v in fixture("latency").items() if k != "statistics"}
    with LogsStandin(lambda: answer) as standin:
        report = COMMAND.run(context(standin.url), ["latency", "6h"])
    assert report.summary == ("3 rows · Insights reported no scan statistics · last 6h · "
                              f"{GUIDE_GROUP}")
    partial = {**answer, "statistics": {"recordsMatched": 23.0}}
    with LogsStandin(lambda: partial) as standin:
        report = COMMAND.run(context(standin.url), ["latency", "6h"])
    assert report.summary.startswith("3 rows · 23 records matched of ? scanned · ? scanned")


def test_nothing_scanned_is_not_no_matching_lines(aws_env: None) -> None:
    """An empty log group (Fluent Bit not shipping) answered `errors` with "No matching log
    lines", which reads as "no errors". Nothing scanned is said as such."""
    empty = {"results": [], "status": "Complete",
             "statistics": {"recordsMatched": 0.0, "recordsScanned": 0.0, "bytesScanned": 0.0}}
    with LogsStandin(lambda: empty) as standin:
        report = COMMAND.run(context(standin.url), ["errors", "1h"])
    assert report.summary == ("No log records at all in the last 1h: nothing to search. Is "
                              f"Fluent Bit shipping to {GUIDE_GROUP}?")
    assert "No matching" not in render_text(report)
    assert_valid_blocks(report)


def test_one_row_and_one_record_are_singular(aws_env: None) -> None:
    one = fixture("latency")
    one = {**one, "results": one["results"][:1],
           "statistics": {**one["statistics"], "recordsMatched": 1.0}}
    with LogsStandin(lambda: one) as standin:
        report = COMMAND.run(context(standin.url), ["latency", "6h"])
    assert report.summary.startswith("1 row · 1 record matched of 48,213 scanned · ")
