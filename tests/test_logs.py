"""/genai logs: the guide's Logs Insights queries.

- The guide's three queries are pinned below as literals (`GUIDE_QUERIES`, copied from the
  guide); the bot's must be the same token for token, whitespace aside.
- `errors` also runs through real moto (server mode, real HTTP through boto3), but moto 5.2
  ignores `filter` and computes no `stats`.
- So every query runs against `tests.harness.logs_insights.LogsStandin`, a local stand-in
  for the Logs JSON API (POST / with ``X-Amz-Target: Logs_20140328.*``, boto3 doing the real
  wire protocol) that runs only the guide's queries (any other text is a 400
  MalformedQueryException) over log events the test records: the `like` regex, `> 5000`,
  sort, limit and stats are computed by the stand-in, not canned. The events are chosen so
  that a changed filter, threshold, sort, limit or grouping changes the report, and
  `test_the_report_checks_reject_near_misses_of_the_guide_queries` proves it: a stand-in
  told to run the changed query gives a report the same checks reject.
- Recorded AWS responses (tests/fixtures/logs_insights/*.json) cover the presentation of real
  answers; the stand-in's own answers have their shape.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

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
from tests.harness.insights_query import normalise
from tests.harness.logs_insights import LogEvent, LogsStandin

if TYPE_CHECKING:
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

FIXTURES = Path(__file__).parent / "fixtures" / "logs_insights"
GUIDE_GROUP = "/eks/genai-platform/inference"

# The operations guide ("운영 및 트러블슈팅"), section "로깅 전략 › CloudWatch Logs Insights
# 쿼리": its three queries, copied verbatim (only the trailing spaces after `avg_latency,` and
# `count` dropped). They are the source of truth: when the bot's query differs from them in
# a token, the bot is wrong, not these.
GUIDE_QUERIES = {
    # -- 에러 로그 분석
    "errors": """\
fields @timestamp, @message, kubernetes.pod_name
| filter @message like /error|Error|ERROR/
| sort @timestamp desc
| limit 100""",
    # -- 추론 지연 시간 분석
    "latency": """\
fields @timestamp, latency_ms, model, input_tokens
| filter latency_ms > 5000
| stats avg(latency_ms) as avg_latency,
        max(latency_ms) as max_latency,
        count(*) as count
  by model
| sort avg_latency desc""",
    # -- 토큰 사용량 분석
    "tokens": """\
fields @timestamp, model, input_tokens, output_tokens
| stats sum(input_tokens) as total_input,
        sum(output_tokens) as total_output
  by bin(1h), model""",
}


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


def standin(events: list[LogEvent] | None = None, **kwargs: Any) -> LogsStandin:
    """The stand-in for the guide's log group, running the guide's queries (and no other)."""
    return LogsStandin(GUIDE_QUERIES.values(), log_group=GUIDE_GROUP, events=events or [],
                       **kwargs)


def assert_valid_blocks(report: Report) -> None:
    assert validate_blocks(render_blocks(report)) == []


def code_of(report: Report) -> str:
    return "\n".join(s.code for s in report.sections if s.code)


def table_rows(report: Report) -> list[list[str]]:
    """The cells of the report's table rows, header and rule left out."""
    return [line.split() for line in code_of(report).splitlines()[2:]]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)


# ---- the guide's queries, token for token ---------------------------------------------------


def test_the_normal_form_forgives_whitespace_and_nothing_else() -> None:
    assert normalise(GUIDE_QUERIES["errors"]) == (
        "fields @timestamp , @message , kubernetes.pod_name | filter @message like "
        "/error|Error|ERROR/ | sort @timestamp desc | limit 100")
    assert normalise("stats count(*)as n\n  by  model") == normalise(
        "stats count ( * ) as n by model")
    assert normalise("filter latency_ms > 5000") != normalise("filter latency_ms >= 5000")
    assert normalise("filter latency_ms > 5000") != normalise("filter latency_ms > 50 00")
    assert normalise("filter @message like /a b/") != normalise("filter @message like /a  b/")


@pytest.mark.parametrize("kind", ["errors", "latency", "tokens"])
def test_the_bot_runs_the_guides_query(kind: str) -> None:
    assert sorted(QUERIES) == sorted(GUIDE_QUERIES)
    assert normalise(QUERIES[kind]) == normalise(GUIDE_QUERIES[kind])


def sent_query(standin: LogsStandin) -> str:
    """The query text the bot put on the wire, in normal form."""
    starts = [body for op, body in standin.calls if op == "StartQuery"]
    assert len(starts) == 1
    return normalise(starts[0]["queryString"])


# ---- the guide's queries computed over recorded events --------------------------------------
#
# Each scenario records log events chosen so that the guide's query gives one report and any
# near miss of it another; `check` asserts exactly that report.


def fluent_bit(when: datetime, pod: str, log: str, **merged: Any) -> LogEvent:
    """A record as the guide's Fluent Bit ships it: the container's line in `log`, the app's
    JSON fields merged in (Merge_Log On), the pod under `kubernetes`."""
    return LogEvent.at(when, {"log": log, "stream": "stderr", **merged,
                              "kubernetes": {"namespace_name": "inference", "pod_name": pod}})


def app_line(when: datetime, model: str, latency_ms: int, input_tokens: int = 150,
             output_tokens: int = 200) -> LogEvent:
    """The guide's structlog `inference_request` line, merged by Fluent Bit."""
    fields = {"event": "inference_request", "level": "info", "model": model,
              "input_tokens": input_tokens, "output_tokens": output_tokens,
              "latency_ms": latency_ms, "user_id": "user-123"}
    return fluent_bit(when, f"vllm-{model}-0", json.dumps(fields), **fields)


def error_lines(now: datetime) -> list[LogEvent]:
    """One pod per line, so the pod column says which lines the filter let through. Only the
    `log` text has any spelling of "error" in it."""
    def line(minutes_ago: int, pod: str, log: str) -> LogEvent:
        return fluent_bit(now - timedelta(minutes=minutes_ago), pod, log)

    return [
        line(50, "upper-only", "ERROR CUDA out of memory while allocating the KV cache"),
        line(40, "title-only", "Error loading model weights: safetensors header too large"),
        line(30, "lower-only", "upstream error: connection refused by vllm-router"),
        line(25, "mixed-case", "eRRoR flaky sensor reading"),  # the guide's regex is case-sensitive
        line(20, "logrus-erro", "ERRO[0042] shim reaped"),  # ERRO is not ERROR
        line(10, "clean", "inference complete in 812 ms"),
        line(180, "too-old", "ERROR three hours ago"),  # outside the 1h window
    ]


def check_error_lines(report: Report) -> None:
    assert code_of(report).splitlines()[0].split() == ["time", "(UTC)", "pod", "message"]
    # exactly the lines with ERROR, Error or error, newest first (`sort @timestamp desc`)
    assert [row[2] for row in table_rows(report)] == ["lower-only", "title-only", "upper-only"]
    assert "ERROR CUDA out of memory while allocating the KV cache" in code_of(report)
    assert report.summary.startswith("3 rows · 3 records matched of 6 scanned · ")


def many_error_lines(now: datetime) -> list[LogEvent]:
    """130 error lines, vllm-000 the newest: `limit 100` keeps the newest 100."""
    return [fluent_bit(now - timedelta(seconds=20 * (i + 1)), f"vllm-{i:03d}",
                       f"ERROR request {i} failed") for i in range(130)]


def check_many_error_lines(report: Report) -> None:
    rows = table_rows(report)
    assert [row[2] for row in rows[:40]] == [f"vllm-{i:03d}" for i in range(40)]
    assert rows[40:] == [["…", "and", "60", "more"]]
    assert report.summary.startswith("100 rows · 130 records matched of 130 scanned · ")


def slow_requests(now: datetime) -> list[LogEvent]:
    def at(minutes_ago: int, model: str, latency_ms: int) -> LogEvent:
        return app_line(now - timedelta(minutes=minutes_ago), model, latency_ms)

    return [
        at(50, "llama-3-70b-instruct", 5001),
        at(45, "llama-3-70b-instruct", 7000),
        at(40, "llama-3-70b-instruct", 1200),
        at(35, "mixtral-8x7b", 4999),
        at(30, "mixtral-8x7b", 5000),  # not over 5000
        at(25, "mixtral-8x7b", 9000),
        at(20, "llama-3-8b-instruct", 5000),  # its only line: the model is not in the table
        fluent_bit(now - timedelta(minutes=15), "vllm-mixtral-8x7b-0", "inference failed",
                   event="inference_failed", level="error", model="mixtral-8x7b"),
        at(7 * 60, "llama-3-8b-instruct", 20000),  # outside the 6h window
    ]


def check_slow_requests(report: Report) -> None:
    assert code_of(report).splitlines()[0].split() == ["model", "avg_latency", "max_latency",
                                                       "count"]
    # slowest first (`sort avg_latency desc`); 5000 and below left out (`latency_ms > 5000`)
    assert table_rows(report) == [["mixtral-8x7b", "9,000", "9,000", "1"],
                                  ["llama-3-70b-instruct", "6,000.5", "7,000", "2"]]
    assert report.summary.startswith("2 rows · 3 records matched of 8 scanned · ")


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def token_usage(now: datetime) -> list[LogEvent]:
    hour = _hour(now)
    return [
        app_line(hour + timedelta(minutes=5), "llama-3-70b-instruct", 900, 100, 10),
        app_line(hour + timedelta(minutes=30), "mixtral-8x7b", 900, 1000, 100),
        app_line(hour + timedelta(minutes=59, seconds=59), "llama-3-70b-instruct", 900, 200, 20),
        app_line(hour + timedelta(hours=1), "llama-3-70b-instruct", 900, 400, 40),
        app_line(now - timedelta(hours=25), "llama-3-70b-instruct", 900, 99999, 9999),  # too old
    ]


def check_token_usage(report: Report, now: datetime) -> None:
    first, second = (f"{h:%Y-%m-%d %H}:00:00".split() for h in
                     (_hour(now), _hour(now) + timedelta(hours=1)))
    assert code_of(report).splitlines()[0].split() == ["hour", "(UTC)", "model", "total_input",
                                                       "total_output"]
    # summed by hour (10:59:59 and 11:00:00 are two hours) and model, newest hour first
    assert table_rows(report) == [[*second, "llama-3-70b-instruct", "400", "40"],
                                  [*first, "mixtral-8x7b", "1,000", "100"],
                                  [*first, "llama-3-70b-instruct", "300", "30"]]
    assert report.summary.startswith("3 rows · 4 records matched of 4 scanned · ")


@dataclass(frozen=True)
class Scenario:
    kind: str
    window: str
    events: Callable[[datetime], list[LogEvent]]
    check: Callable[[Report, datetime], None]


SCENARIOS = {
    "error lines": Scenario("errors", "1h", error_lines, lambda r, _: check_error_lines(r)),
    "100 newest error lines": Scenario("errors", "1h", many_error_lines,
                                       lambda r, _: check_many_error_lines(r)),
    "slow requests": Scenario("latency", "6h", slow_requests,
                              lambda r, _: check_slow_requests(r)),
    "token usage": Scenario("tokens", "24h", token_usage, check_token_usage),
}


def run_scenario(name: str, runs: LogsStandin | None = None) -> tuple[Report, datetime]:
    """`/genai logs` over the scenario's events, on `runs` or the guide's stand-in."""
    scenario = SCENARIOS[name]
    now = datetime.now(UTC)
    with runs or standin() as server:
        server.events = scenario.events(now)
        report = COMMAND.run(context(server.url), [scenario.kind, scenario.window])
    return report, now


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_guides_query_computed_over_recorded_events(aws_env: None, name: str) -> None:
    server = standin()
    report, now = run_scenario(name, server)
    assert sent_query(server) == normalise(GUIDE_QUERIES[SCENARIOS[name].kind])
    assert server.ops() == ["StartQuery", "GetQueryResults"]
    SCENARIOS[name].check(report, now)
    assert_valid_blocks(report)


def test_error_lines_point_at_their_runbooks(aws_env: None) -> None:
    report, _ = run_scenario("error lines")
    patterns = next(s for s in report.sections if s.title == "Most frequent errors").lines
    assert sorted(patterns) == sorted([
        '"CUDA out of memory" ×1 → runbook gpu-oom (/genai diag oom <pod>)',
        '"model load failure" ×1 → runbook model-load-failure (/genai diag model-load <pod>)',
        '"connection timed out / refused" ×1 → runbook network-latency '
        "(/genai diag network <pod>)"])


# Changes to the guide's queries the checks above must notice: (scenario, old, new).
NEAR_MISSES = [
    ("error lines", "/error|Error|ERROR/", "/error|Error/"),
    ("error lines", "/error|Error|ERROR/", "/error|ERROR/"),
    ("error lines", "/error|Error|ERROR/", "/Error|ERROR/"),
    ("error lines", "/error|Error|ERROR/", "/(?i)error/"),
    ("error lines", "/error|Error|ERROR/", "/error|Error|ERRO/"),
    ("error lines", "sort @timestamp desc", "sort @timestamp asc"),
    ("100 newest error lines", "limit 100", "limit 1000"),
    ("100 newest error lines", "sort @timestamp desc", "sort @timestamp asc"),
    ("slow requests", "> 5000", ">= 5000"),
    ("slow requests", "> 5000", "> 4999"),
    ("slow requests", "> 5000", "> 5001"),
    ("slow requests", "> 5000", "> 1000"),
    ("slow requests", "sort avg_latency desc", "sort avg_latency asc"),
    ("slow requests", "max(latency_ms)", "min(latency_ms)"),
    ("token usage", "bin(1h)", "bin(30m)"),
    ("token usage", "sum(output_tokens)", "sum(input_tokens)"),
    ("token usage", "by bin(1h), model", "by model, bin(1h)"),
]


@pytest.mark.parametrize(("name", "old", "new"), NEAR_MISSES)
def test_the_report_checks_reject_near_misses_of_the_guide_queries(
        aws_env: None, monkeypatch: pytest.MonkeyPatch, name: str, old: str, new: str) -> None:
    """Were the bot's query changed, the stand-in would refuse it; even a stand-in told to
    run the changed query gives a report the scenario's checks reject: the events tell them
    apart."""
    kind = SCENARIOS[name].kind
    changed = GUIDE_QUERIES[kind].replace(old, new)
    assert changed != GUIDE_QUERIES[kind]
    monkeypatch.setitem(QUERIES, kind, changed)
    report, now = run_scenario(name, LogsStandin([changed], log_group=GUIDE_GROUP))
    assert code_of(report), render_text(report)  # the changed query ran
    with pytest.raises(AssertionError):
        SCENARIOS[name].check(report, now)


def test_a_query_other_than_the_guides_is_refused_loudly(
        aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    changed = GUIDE_QUERIES["latency"].replace("> 5000", ">= 5000")
    monkeypatch.setitem(QUERIES, "latency", changed)
    with standin(slow_requests(datetime.now(UTC)), expect_refusals=True) as server:
        report = COMMAND.run(context(server.url), ["latency", "6h"])
        ctx = context(server.url)
        assert ctx.aws is not None
        source = LogsInsights(ctx.aws, ctx.settings.logs)
        end = datetime.now(UTC)
        with pytest.raises(SourceError, match="MalformedQueryException"):
            source.run("fields @message; drop table", end - timedelta(hours=1), end)
        # whitespace is the bot's to choose
        source.run(" ".join(GUIDE_QUERIES["latency"].split()), end - timedelta(hours=1), end)
    assert render_text(report).count(
        "Logs Insights query failed: StartQuery: MalformedQueryException LogsStandin runs only "
        "the queries it was given (the operations guide's): token 12 is '>=' where the nearest "
        "one has '>'") == 1
    assert [query for query, _ in server.refused] == [changed, "fields @message; drop table"]
    assert server.ops().count("GetQueryResults") == 1  # only the guide's query ran


def test_a_refusal_nobody_expected_fails_the_test(aws_env: None) -> None:
    """However the caller reports the 400, leaving the stand-in after a refusal fails."""
    changed = GUIDE_QUERIES["errors"].replace("/error|Error|ERROR/", "/error|Error/")
    with pytest.raises(AssertionError, match=r"(?s)LogsStandin refused queries.*token 11 is "
                                             r"'/error\|Error/' where the nearest one has "
                                             r"'/error\|Error\|ERROR/'"), standin() as server:
        logs = boto3.client("logs", endpoint_url=server.url, region_name="ap-northeast-2")
        with pytest.raises(ClientError, match="MalformedQueryException"):
            logs.start_query(logGroupName=GUIDE_GROUP, startTime=0, endTime=60,
                             queryString=changed)


def test_no_matching_lines_and_no_lines_at_all_are_told_apart(aws_env: None) -> None:
    """An empty log group (Fluent Bit not shipping) answered `errors` with "No matching log
    lines", which reads as "no errors". Nothing scanned is said as such."""
    now = datetime.now(UTC)
    with standin([fluent_bit(now - timedelta(minutes=5), "clean", "all good")]) as server:
        report = COMMAND.run(context(server.url), ["errors", "1h"])
    assert report.summary == "No matching log lines in the last 1h."
    assert render_text(report).count("0 rows · 0 records matched of 1 scanned") == 1
    with standin() as server:
        report = COMMAND.run(context(server.url), ["errors", "1h"])
    assert report.summary == ("No log records at all in the last 1h: nothing to search. Is "
                              f"Fluent Bit shipping to {GUIDE_GROUP}?")
    assert "No matching" not in render_text(report)
    assert_valid_blocks(report)


def test_an_unknown_log_group_is_named_by_the_standin(aws_env: None) -> None:
    with standin() as server:
        report = COMMAND.run(context(server.url, "/eks/no-such-group"), ["errors"])
    text = render_text(report)
    assert "/eks/no-such-group" in text and "does not exist" in text


def test_a_running_query_is_polled_until_complete(aws_env: None) -> None:
    with standin(slow_requests(datetime.now(UTC)), running_polls=2) as server:
        report = COMMAND.run(context(server.url), ["latency", "6h"])
    assert server.ops() == ["StartQuery"] + ["GetQueryResults"] * 3
    check_slow_requests(report)


@pytest.mark.parametrize(("name", "recorded"), [("slow requests", "latency"),
                                                ("token usage", "tokens")])
def test_the_standin_answers_in_the_shape_of_recorded_responses(
        aws_env: None, name: str, recorded: str) -> None:
    scenario = SCENARIOS[name]
    now = datetime.now(UTC)
    with standin(scenario.events(now)) as server:
        logs = boto3.client("logs", endpoint_url=server.url, region_name="ap-northeast-2")
        query_id = logs.start_query(
            logGroupName=GUIDE_GROUP, startTime=int((now - timedelta(days=1)).timestamp()),
            endTime=int(now.timestamp()), queryString=GUIDE_QUERIES[scenario.kind])["queryId"]
        answer = logs.get_query_results(queryId=query_id)
    want = fixture(recorded)
    assert answer["status"] == want["status"] == "Complete"
    assert sorted(answer["statistics"]) == sorted(want["statistics"])
    fields = [[cell["field"] for cell in row] for row in answer["results"]]
    assert fields and all(f == [c["field"] for c in want["results"][0]] for f in fields)
    assert all(isinstance(cell["value"], str) for row in answer["results"] for cell in row)


# ---- recorded AWS responses ------------------------------------------------------------------


def test_latency_stats_are_a_table_from_the_recorded_response(aws_env: None) -> None:
    with standin(results=lambda: fixture("latency")) as server:
        report = COMMAND.run(context(server.url), ["latency", "6h"])
    start = server.calls[0][1]
    assert server.ops() == ["StartQuery", "GetQueryResults"]
    assert sent_query(server) == normalise(GUIDE_QUERIES["latency"])
    assert start["logGroupName"] == GUIDE_GROUP
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
    with standin(results=lambda: fixture("tokens")) as server:
        report = COMMAND.run(context(server.url), ["tokens", "24h"])
    assert sent_query(server) == normalise(GUIDE_QUERIES["tokens"])
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
    with standin(results=lambda: running) as server:
        ctx = context(server.url, timeout_s=0.3, poll_s=0.05)
        assert ctx.aws is not None
        source = LogsInsights(ctx.aws, ctx.settings.logs)
        end = datetime.now(UTC)
        began = time.monotonic()
        with pytest.raises(SourceError, match=r"timed out after 0\.3 s; narrow the window"):
            source.run(QUERIES["tokens"], end - timedelta(days=7), end)
        assert time.monotonic() - began < 5
        report = COMMAND.run(ctx, ["tokens", "7d"])
    assert server.ops().count("StopQuery") == 2
    assert server.calls[-1] == ("StopQuery", {"queryId": server.query_ids[-1]})
    assert "timed out" in render_text(report)


def test_failed_query_is_reported(aws_env: None) -> None:
    with standin(results=lambda: {"results": [], "status": "Failed"}) as server:
        report = COMMAND.run(context(server.url), ["latency"])
    assert "query ended Failed" in render_text(report)


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
    """Documents moto. The guide's filter is tested through the stand-in, which applies it:
    test_the_guides_query_computed_over_recorded_events[error lines]."""
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
    with standin(results=lambda: answer) as server:
        report = COMMAND.run(context(server.url), ["latency", "6h"])
    assert report.summary == ("3 rows · Insights reported no scan statistics · last 6h · "
                              f"{GUIDE_GROUP}")
    partial = {**answer, "statistics": {"recordsMatched": 23.0}}
    with standin(results=lambda: partial) as server:
        report = COMMAND.run(context(server.url), ["latency", "6h"])
    assert report.summary.startswith("3 rows · 23 records matched of ? scanned · ? scanned")


def test_one_row_and_one_record_are_singular(aws_env: None) -> None:
    one = fixture("latency")
    one = {**one, "results": one["results"][:1],
           "statistics": {**one["statistics"], "recordsMatched": 1.0}}
    with standin(results=lambda: one) as server:
        report = COMMAND.run(context(server.url), ["latency", "6h"])
    assert report.summary.startswith("1 row · 1 record matched of 48,213 scanned · ")
