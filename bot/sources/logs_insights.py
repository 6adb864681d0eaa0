"""CloudWatch Logs Insights: start a query, poll its results, give back plain rows.

Insights is asynchronous: ``StartQuery`` returns a query id and ``GetQueryResults`` says
``Scheduled``/``Running`` until the query ends as ``Complete``, ``Failed``, ``Cancelled`` or
``Timeout``. We poll every ``logs.poll_interval_s`` for at most ``logs.query_timeout_s``; a
query still running then is stopped (``StopQuery``) so it does not keep scanning, and billing,
after nobody waits for it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from bot.config import LogsSettings
from bot.errors import NotFound, SourceError, Timeout
from bot.sources.aws import AwsClients, aws_call

SOURCE = "cloudwatch logs"
DONE = frozenset({"Complete", "Failed", "Cancelled", "Timeout"})
# Insights adds a pointer to the full record to every row of a non-stats query; it is an
# opaque handle for GetLogRecord, not something a person reads.
HIDDEN_FIELDS = frozenset({"@ptr"})


@dataclass
class QueryResult:
    rows: list[dict[str, str]]
    fields: list[str]
    statistics: dict[str, float] = field(default_factory=dict)
    status: str = "Complete"


def parse_results(response: dict[str, Any]) -> QueryResult:
    """Turn a GetQueryResults response into rows keyed by field, in the query's field order.

    A row lists only the fields it has a value for, so the columns are the union over rows,
    in order of first appearance."""
    fields: list[str] = []
    rows: list[dict[str, str]] = []
    for result in response.get("results", []):
        row: dict[str, str] = {}
        for cell in result:
            name = str(cell.get("field", ""))
            if not name or name in HIDDEN_FIELDS:
                continue
            row[name] = str(cell.get("value", ""))
            if name not in fields:
                fields.append(name)
        rows.append(row)
    statistics = {str(k): float(v) for k, v in dict(response.get("statistics", {})).items()
                  if isinstance(v, int | float)}
    return QueryResult(rows=rows, fields=fields, statistics=statistics,
                       status=str(response.get("status", "Unknown")))


class LogsInsights:
    def __init__(self, clients: AwsClients, settings: LogsSettings,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clients = clients
        self.settings = settings
        self._sleep = sleep
        self._clock = clock

    @property
    def log_group(self) -> str:
        return self.settings.log_group

    def run(self, query: str, start: datetime, end: datetime,
            limit: int | None = None) -> QueryResult:
        """Run ``query`` over [start, end] on the configured log group and wait for it."""
        client = self.clients.client("logs")
        kwargs: dict[str, Any] = {
            "logGroupName": self.log_group,
            "startTime": int(start.timestamp()),
            "endTime": int(end.timestamp()),
            "queryString": query,
        }
        if limit is not None:
            kwargs["limit"] = limit
        try:
            started = aws_call(SOURCE, "StartQuery", self._start, client=client, **kwargs)
        except _GroupMissing:
            raise NotFound(SOURCE, f"log group {self.log_group} does not exist in region "
                                   f"{self.clients.settings.region}; check logs.log_group "
                                   "and the Fluent Bit output") from None
        query_id = str(started["queryId"])
        deadline = self._clock() + self.settings.query_timeout_s
        while True:
            response = aws_call(SOURCE, "GetQueryResults", client.get_query_results,
                                queryId=query_id)
            status = str(response.get("status", ""))
            if status in DONE:
                break
            if self._clock() >= deadline:
                self._stop(client, query_id)
                raise Timeout(SOURCE, f"query timed out after "
                                      f"{self.settings.query_timeout_s:g} s; narrow the window")
            self._sleep(self.settings.poll_interval_s)
        if status != "Complete":
            raise SourceError(SOURCE, f"query ended {status} on {self.log_group}")
        return parse_results(response)

    @staticmethod
    def _start(client: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(client.start_query(**kwargs))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise _GroupMissing from None
            raise

    @staticmethod
    def _stop(client: Any, query_id: str) -> None:
        # The query may have just finished; the timeout is the news, not the stop.
        with contextlib.suppress(SourceError):
            aws_call(SOURCE, "StopQuery", client.stop_query, queryId=query_id)


class _GroupMissing(Exception):
    pass
