"""`/genai logs errors|latency|tokens [window]`: the guide's three Logs Insights queries.

The queries are the guide's, verbatim. Results come back as a fixed-width table in a code
block (one or more sections, each under Slack's 3000-character section limit), with a summary
of what Insights scanned. For `errors` the lines are also grouped into known failure patterns
that point at the matching runbook.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.errors import SourceError, UsageError
from bot.report import Report, Section
from bot.sources.logs_insights import LogsInsights, QueryResult
from bot.words import noun, plural
from commands.base import Command, Context

USAGE = "/genai logs errors|latency|tokens [1h]"
DEFAULT_WINDOW = "1h"
MAX_WINDOW = timedelta(days=7)
MAX_ROWS = 40
MAX_CELL = 32
MAX_MESSAGE_CELL = 72
# Below Slack's 3000-character section text, leaving room for the ``` fence and escaping.
MAX_CHUNK = 2800

QUERIES: dict[str, str] = {
    # 에러 로그 분석
    "errors": (
        "fields @timestamp, @message, kubernetes.pod_name\n"
        "| filter @message like /error|Error|ERROR/\n"
        "| sort @timestamp desc\n"
        "| limit 100"
    ),
    # 추론 지연 시간 분석
    "latency": (
        "fields @timestamp, latency_ms, model, input_tokens\n"
        "| filter latency_ms > 5000\n"
        "| stats avg(latency_ms) as avg_latency,\n"
        "        max(latency_ms) as max_latency,\n"
        "        count(*) as count\n"
        "  by model\n"
        "| sort avg_latency desc"
    ),
    # 토큰 사용량 분석
    "tokens": (
        "fields @timestamp, model, input_tokens, output_tokens\n"
        "| stats sum(input_tokens) as total_input,\n"
        "        sum(output_tokens) as total_output\n"
        "  by bin(1h), model"
    ),
}

TITLES = {
    "errors": "Error log lines",
    "latency": "Slow inference (latency_ms > 5000) by model",
    "tokens": "Token usage by hour and model",
}

# Known failure signatures in error lines → the runbook (and diag scenario) that handles them.
PATTERNS: list[tuple[str, re.Pattern[str], str | None]] = [
    ("CUDA out of memory", re.compile(r"CUDA out of memory|CUDA error: out of memory|"
                                      r"OutOfMemoryError", re.I), "gpu-oom"),
    ("NCCL error", re.compile(r"\bNCCL\b", re.I), "network-latency"),
    ("connection timed out / refused", re.compile(
        r"timed out|timeout|connection refused|connection reset", re.I), "network-latency"),
    ("model load failure", re.compile(
        r"(?:error|fail(?:ed|ure)?) (?:while )?loading|failed to load|load(?:ing)? model.*"
        r"(?:error|fail)|safetensors|no such file", re.I), "model-load-failure"),
]
RUNBOOK_SCENARIO = {"gpu-oom": "oom", "network-latency": "network",
                    "model-load-failure": "model-load"}

_WINDOW = re.compile(r"^(\d{1,4})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_window(text: str) -> timedelta:
    match = _WINDOW.match(text.strip().lower())
    if not match:
        raise UsageError(f"bad window {text!r}: use e.g. 15m, 1h, 6h, 24h or 7d. "
                         f"Usage: {USAGE}")
    amount = int(match.group(1))
    window = timedelta(**{_UNITS[match.group(2)]: amount})
    if amount == 0:
        raise UsageError(f"window {text!r} is empty. Usage: {USAGE}")
    if window > MAX_WINDOW:
        raise UsageError(f"window {text!r} is longer than 7d. Usage: {USAGE}")
    return window


def parse_args(args: list[str]) -> tuple[str, str, timedelta]:
    if not args or args[0].lower() not in QUERIES:
        got = f"unknown query {args[0]!r}. " if args else ""
        raise UsageError(f"{got}Usage: {USAGE}")
    if len(args) > 2:
        raise UsageError(f"unexpected argument {args[2]!r}. Usage: {USAGE}")
    label = args[1].lower() if len(args) == 2 else DEFAULT_WINDOW
    return args[0].lower(), label, parse_window(label)


# ---- presentation -------------------------------------------------------------------------


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())  # one line per row: newlines and tabs would break columns
    return text if len(text) <= width else text[: width - 1] + "…"


def _number(text: str) -> str:
    """Insights returns every value as a string; show integers grouped and floats rounded."""
    try:
        value = float(text)
    except ValueError:
        return text
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _timestamp(text: str) -> str:
    """Insights gives ``2024-05-01 10:00:00.000`` (UTC); some emulators give epoch ms."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return text[:19]


def _message_json(message: str) -> dict[str, object] | None:
    start = message.find("{")
    if start < 0:
        return None
    try:
        parsed = json.loads(message[start:])
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _pod(row: dict[str, str]) -> str:
    """``kubernetes.pod_name`` as Insights discovers it, else read from the Fluent Bit record."""
    if row.get("kubernetes.pod_name"):
        return row["kubernetes.pod_name"]
    record = _message_json(row.get("@message", "")) or {}
    kube = record.get("kubernetes")
    return str(kube.get("pod_name", "")) if isinstance(kube, dict) else ""


def _short_message(message: str) -> str:
    """The readable part of a structlog JSON line: event and error, else the raw line."""
    record = _message_json(message)
    if record is None:
        return message
    # Fluent Bit may wrap the app's line in {"log": "...", "kubernetes": {...}}.
    inner = record.get("log")
    if isinstance(inner, str):
        nested = _message_json(inner)
        record = nested if nested is not None else {"event": inner}
    parts = [str(record[k]) for k in ("event", "message", "msg", "error", "exception")
             if record.get(k)]
    model = record.get("model")
    if model:
        parts.append(f"model={model}")
    return " · ".join(dict.fromkeys(parts)) or message


def _table(fields: list[str], headers: list[str], rows: list[list[str]]) -> list[str]:
    """Fixed-width lines: header, rule, rows. Numeric-looking columns align right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    right = [all(re.fullmatch(r"-?[\d,]+(?:\.\d+)?", r[i] or "0") for r in rows) and
             fields[i] not in ("@timestamp", "bin(1h)") for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w)
                         for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _escaped_len(text: str) -> int:
    # & < > become entities in Slack; count them so a chunk never overflows after escaping.
    return len(text) + 4 * sum(text.count(c) for c in "&<>")


def _chunks(lines: list[str]) -> list[str]:
    """Split a table into code blocks that each fit a section; each repeats the header."""
    head, body = lines[:2], lines[2:]
    base = sum(_escaped_len(h) + 1 for h in head)
    out: list[str] = []
    current: list[str] = []
    size = base
    for line in body:
        cost = _escaped_len(line) + 1
        if current and size + cost > MAX_CHUNK:
            out.append("\n".join(head + current))
            current, size = [], base
        current.append(line)
        size += cost
    out.append("\n".join(head + current))
    return out


HEADERS = {"@timestamp": "time (UTC)", "@message": "message",
           "kubernetes.pod_name": "pod", "bin(1h)": "hour (UTC)"}


def table_sections(kind: str, result: QueryResult) -> list[Section]:
    fields = list(result.fields)
    rows = result.rows
    cells: Callable[[dict[str, str]], list[str]]
    if kind == "errors":
        fields = ["@timestamp", "kubernetes.pod_name", "@message"]

        def cells(row: dict[str, str]) -> list[str]:
            return [_timestamp(row.get("@timestamp", "")), _cut(_pod(row), MAX_CELL),
                    _cut(_short_message(row.get("@message", "")), MAX_MESSAGE_CELL)]
    else:
        if kind == "tokens":
            rows = sorted(rows, key=lambda r: (r.get("bin(1h)", ""), r.get("model", "")),
                          reverse=True)

        def cells(row: dict[str, str]) -> list[str]:
            return [_timestamp(row.get(f, "")) if f == "bin(1h)" else
                    _cut(_number(row.get(f, "")), MAX_CELL) for f in fields]

    shown = [cells(r) for r in rows[:MAX_ROWS]]
    lines = _table(fields, [HEADERS.get(f, f) for f in fields], shown)
    if len(rows) > MAX_ROWS:
        lines.append(f"… and {len(rows) - MAX_ROWS} more")
    chunks = _chunks(lines)
    return [Section(title=TITLES[kind] if i == 0 else "", code=chunk)
            for i, chunk in enumerate(chunks)]


def error_patterns(rows: list[dict[str, str]], top: int = 5) -> list[str]:
    """The most frequent failure signatures, each with its runbook where there is one."""
    known: Counter[str] = Counter()
    runbook: dict[str, str | None] = {}
    other: Counter[str] = Counter()
    for row in rows:
        message = row.get("@message", "")
        for name, pattern, rb in PATTERNS:
            if pattern.search(message):
                known[name] += 1
                runbook[name] = rb
                break
        else:
            # Digits, hex ids and quoted values differ between otherwise identical lines.
            text = _short_message(message)
            other[_cut(re.sub(r"0x[0-9a-f]+|\d+", "N", text, flags=re.I), 80)] += 1
    lines = []
    for name, count in known.most_common(top):
        rb = runbook[name]
        hint = ""
        if rb:
            hint = f" → runbook {rb} (/genai diag {RUNBOOK_SCENARIO[rb]} <pod>)"
        lines.append(f'"{name}" ×{count}{hint}')
    for text, count in other.most_common(max(0, top - len(lines))):
        lines.append(f'"{text}" ×{count}')
    return lines


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"  # pragma: no cover


def summary_line(result: QueryResult, label: str, log_group: str) -> str:
    s = result.statistics

    def stat(key: str) -> str:
        # A statistic Insights did not report is unknown ("?"), not 0 records or 0 B.
        return f"{s[key]:,.0f}" if key in s else "?"

    if not s:
        stats = "Insights reported no scan statistics"
    else:
        records = noun(round(s["recordsMatched"]), "record") if "recordsMatched" in s \
            else "records"
        size = _bytes(s["bytesScanned"]) if "bytesScanned" in s else "?"
        stats = (f"{stat('recordsMatched')} {records} matched of {stat('recordsScanned')} "
                 f"scanned · {size} scanned")
    return f"{plural(len(result.rows), 'row')} · {stats} · last {label} · {log_group}"


def nothing_scanned(result: QueryResult) -> bool:
    """Insights read no record at all: no lines is then no logs, not "no matches"."""
    return result.statistics.get("recordsScanned", -1.0) == 0


def run(ctx: Context, args: list[str]) -> Report:
    kind, label, window = parse_args(args)
    title = f"Logs: {kind} (last {label})"
    if ctx.aws is None:
        return Report.message(title, "AWS is not configured for this bot, so CloudWatch Logs "
                                     "Insights cannot be queried.")
    insights = LogsInsights(ctx.aws, ctx.settings.logs)
    end = datetime.now(UTC)
    try:
        result = insights.run(QUERIES[kind], end - window, end)
    except SourceError as exc:
        return Report.message(title, f"Logs Insights query failed: {exc.reason}")
    summary = summary_line(result, label, insights.log_group)
    if not result.rows and nothing_scanned(result):
        # An empty log group is not a clean one: say that nothing could be looked at.
        return Report(title=title,
                      summary=f"No log records at all in the last {label}: nothing to search. "
                              f"Is Fluent Bit shipping to {insights.log_group}?",
                      sections=[Section(lines=[summary])], footer=insights.log_group)
    if not result.rows:
        return Report(title=title, summary=f"No matching log lines in the last {label}.",
                      sections=[Section(lines=[summary])], footer=insights.log_group)
    sections = table_sections(kind, result)
    if kind == "errors":
        patterns = error_patterns(result.rows)
        if patterns:
            sections.insert(0, Section(title="Most frequent errors", lines=patterns))
    return Report(title=title, summary=summary, sections=sections,
                  footer=f"CloudWatch Logs Insights · {insights.log_group}")


COMMAND = Command(
    name="logs",
    usage=USAGE,
    summary="the guide's CloudWatch Logs Insights queries: error lines, slow models, tokens",
    run=run,
    examples=("/genai logs errors 1h", "/genai logs latency 6h", "/genai logs tokens 24h"),
)
