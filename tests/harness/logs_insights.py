"""A stand-in for the CloudWatch Logs JSON API's Logs Insights operations.

moto 5.2 ignores a query's `filter` and computes no `stats`, so `/genai logs` runs against
this: POST / with ``X-Amz-Target: Logs_20140328.<Operation>`` (StartQuery, GetQueryResults,
StopQuery), boto3 doing the real wire protocol, answers in AWS's shape (see the recorded
responses in tests/fixtures/logs_insights/*.json).

- It runs only the queries it is given (the tests give the operations guide's three),
  compared token for token, whitespace aside (`insights_query.normalise`). Any other query
  text gets the 400 ``MalformedQueryException`` AWS gives a query it cannot run, with a
  message naming the first token that differs, and is kept in `refused`. Leaving the `with`
  block with a refusal the test did not expect (`expect_refusals`) fails the test, however
  the caller reported the error: a changed query fails loudly.
- It holds the log events of one log group (`events`; a test may replace them before it
  queries) and runs the query over those in [startTime, endTime]
  (`insights_query.evaluate`): `filter`, `sort`, `limit`, `stats`, and the `statistics`
  (recordsMatched, recordsScanned, bytesScanned). StartQuery on another log group is a
  ``ResourceNotFoundException``, as from AWS.
- `results=` replaces the computed answer with a canned one (a recorded response, a query
  that stays ``Running``, one that ends ``Failed``); `running_polls=` answers ``Running``
  that many times before the computed answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .insights_query import MalformedQuery, Query, evaluate, normalise, parse_query, tokenize
from .insights_records import LogEvent
from .loopback import LoopbackHandler, LoopbackServer

__all__ = ["QUERY_ID_PREFIX", "LogEvent", "LogsStandin"]

QUERY_ID_PREFIX = "12ab3456-12ab-123a-789e-"
JSON_11 = "application/x-amz-json-1.1"


class _AwsError(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.body = {"__type": code, "message": message, **extra}


@dataclass
class _Started:
    query: Query
    start_s: int
    end_s: int
    limit: int | None
    polls: int = 0


def difference(query: str, accepted: Iterable[str]) -> MalformedQuery:
    """Why `query` is none of `accepted`: the first token where it leaves the nearest one."""
    got = tokenize(query)
    best: tuple[int, str] = (-1, "")
    for text in accepted:
        want = [t.text for t in tokenize(text)]
        same = next((i for i, (a, b) in enumerate(zip(want, (t.text for t in got),
                                                      strict=False)) if a != b),
                    min(len(want), len(got)))
        if same > best[0]:
            expected = repr(want[same]) if same < len(want) else "the end of the query"
            best = (same, expected)
    index, expected = best
    if index < 0:
        return MalformedQuery("LogsStandin was given no query to run")
    found = repr(got[index].text) if index < len(got) else "the end of the query"
    start = got[index].start if index < len(got) else len(query)
    end = got[index].end if index < len(got) else len(query)
    return MalformedQuery(
        f"LogsStandin runs only the queries it was given (the operations guide's): token "
        f"{index + 1} is {found} where the nearest one has {expected}", start, end)


class LogsStandin(LoopbackServer):
    """Answers StartQuery / GetQueryResults / StopQuery; records every call it gets."""

    methods = ("POST",)
    protocol_version = "HTTP/1.0"
    thread_name = "logs-insights-standin"

    def __init__(self, queries: Iterable[str], *, log_group: str,
                 events: Iterable[LogEvent] = (),
                 results: Callable[[], dict[str, Any]] | None = None,
                 running_polls: int = 0, expect_refusals: bool = False) -> None:
        super().__init__()
        # Parsed now: a query the stand-in is told to run but could not is the test's bug.
        self.queries = {normalise(q): parse_query(q) for q in queries}
        self.log_group = log_group
        self.events = list(events)
        self.results = results
        self.running_polls = running_polls
        self.expect_refusals = expect_refusals
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refused: list[tuple[str, str]] = []  # (query text, the error's message)
        self.query_ids: list[str] = []
        self._started: dict[str, _Started] = {}
        self._lock = threading.Lock()

    def ops(self) -> list[str]:
        """The operations called so far, oldest first."""
        return [op for op, _ in self.calls]

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        super().__exit__(exc_type, exc, tb)
        if exc_type is None and self.refused and not self.expect_refusals:
            raise AssertionError("LogsStandin refused queries (is the query still the "
                                 "guide's?):\n" + "\n".join(f"{m}\n  in: {q!r}"
                                                            for q, m in self.refused))

    # -- the API --------------------------------------------------------------------------

    def on_request(self, request: LoopbackHandler) -> None:
        body = json.loads(request.read_body() or b"{}")
        op = request.headers.get("X-Amz-Target", "").removeprefix("Logs_20140328.")
        handlers = {"StartQuery": self._start_query, "GetQueryResults": self._get_results,
                    "StopQuery": self._stop_query}
        with self._lock:
            self.calls.append((op, body))
            try:
                if op not in handlers:
                    raise _AwsError("UnknownOperationException", f"no operation {op!r}")
                status, answer = 200, handlers[op](body)
            except _AwsError as error:
                status, answer = 400, error.body
        request.reply(status, json.dumps(answer).encode(), JSON_11)

    def _start_query(self, body: dict[str, Any]) -> dict[str, Any]:
        groups = ([body["logGroupName"]] if "logGroupName" in body
                  else list(body.get("logGroupNames") or []))
        if not groups or any(g != self.log_group for g in groups):
            raise _AwsError("ResourceNotFoundException", "The specified log group does not "
                                                         "exist.")
        if "queryString" not in body or "startTime" not in body or "endTime" not in body:
            raise _AwsError("InvalidParameterException", "queryString, startTime and "
                                                         "endTime are required")
        if int(body["endTime"]) < int(body["startTime"]):
            raise _AwsError("InvalidParameterException", "endTime is before startTime")
        query = self._check(str(body["queryString"]))
        query_id = f"{QUERY_ID_PREFIX}{len(self.query_ids) + 1:012d}"
        self.query_ids.append(query_id)
        self._started[query_id] = _Started(query, int(body["startTime"]), int(body["endTime"]),
                                           body.get("limit"))
        return {"queryId": query_id}

    def _check(self, text: str) -> Query:
        try:
            query = self.queries.get(normalise(text))
            if query is None:
                raise difference(text, (q.text for q in self.queries.values()))
        except MalformedQuery as error:
            self.refused.append((text, error.message))
            raise _AwsError("MalformedQueryException", error.message, queryCompileError={
                "location": {"start": error.start, "end": error.end},
                "message": error.message}) from None
        return query

    def _query(self, body: dict[str, Any]) -> _Started:
        started = self._started.get(str(body.get("queryId")))
        if started is None:
            raise _AwsError("ResourceNotFoundException", "Query does not exist.")
        return started

    def _get_results(self, body: dict[str, Any]) -> dict[str, Any]:
        started = self._query(body)
        started.polls += 1
        if self.results is not None:
            return self.results()
        if started.polls <= self.running_polls:
            return {"results": [], "status": "Running", "statistics": {
                "recordsMatched": 0.0, "recordsScanned": 0.0, "bytesScanned": 0.0}}
        outcome = evaluate(started.query, self.events, started.start_s, started.end_s,
                           started.limit)
        return {
            "results": [[{"field": k, "value": v} for k, v in row.items()]
                        for row in outcome.rows],
            "statistics": {"recordsMatched": float(outcome.matched),
                           "recordsScanned": float(outcome.scanned),
                           "bytesScanned": float(outcome.bytes_scanned)},
            "status": "Complete",
        }

    def _stop_query(self, body: dict[str, Any]) -> dict[str, Any]:
        self._query(body)
        return {"success": True}
