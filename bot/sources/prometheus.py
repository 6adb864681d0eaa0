"""Prometheus (and DCGM, kube-state-metrics, OpenCost series stored in it)."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from urllib3.util.retry import Retry

from bot.errors import SourceError, Timeout, Unavailable

# Prometheus refuses a range query with more points per series than this.
MAX_POINTS_PER_SERIES = 11_000
_TOO_MANY_SAMPLES = "too many samples"


class TooManySamples(SourceError):
    """Prometheus refused a query that would load more samples than its
    `--query.max-samples` (50 million by default): ask for less at a time."""


class ApiRule(BaseModel):
    """One rule as `/api/v1/rules` lists it (durations in seconds)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: str
    name: str
    query: str
    duration: float = 0.0
    keep_firing_for: float = Field(default=0.0, alias="keepFiringFor")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ApiRuleGroup(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    file: str = ""
    interval: float
    rules: list[ApiRule] = Field(default_factory=list)


class _RulesData(BaseModel):
    groups: list[ApiRuleGroup]


class _RulesAnswer(BaseModel):
    status: str
    data: _RulesData


@dataclass(frozen=True, slots=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix time, value)


class PrometheusSource:
    name = "prometheus"

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        # One quick retry on gateway errors; the library default (3 with backoff) would
        # stretch a dead Prometheus into seconds of silence before the row says "unknown".
        retry = Retry(total=1, backoff_factor=0.1, status_forcelist=(502, 503, 504))
        self._client = PrometheusConnect(url=self.url, timeout=timeout_s, retry=retry)
        self._lock = threading.Lock()
        self.queries_issued = 0  # benchmarks assert this stays flat as the fleet grows

    def _fetch(self, call: Callable[[], Any], timeout_s: float | None = None) -> Any:
        """Count the query and turn any client failure into a one-line SourceError
        (``timeout_s``: the call's own timeout, when not the source's)."""
        with self._lock:
            self.queries_issued += 1
        try:
            return call()
        except requests.Timeout:
            waited = self.timeout_s if timeout_s is None else timeout_s
            raise Timeout(self.name, f"timed out after {waited:g}s") from None
        except requests.ConnectionError:
            raise Unavailable(self.name, f"cannot connect to {self.url}") from None
        except PrometheusApiClientException as exc:
            raise SourceError(self.name, _api_error(str(exc))) from None
        except (requests.RequestException, ValueError) as exc:
            raise SourceError(self.name, _short(str(exc))) from None

    def query(self, expr: str) -> list[Sample]:
        """Instant query. Raises SourceError with a one-line reason on any failure."""
        result = self._fetch(lambda: self._client.custom_query(query=expr, timeout=self.timeout_s))
        samples: list[Sample] = []
        for item in result:
            if not isinstance(item, dict) or "value" not in item:
                continue  # range vectors and scalars are not asked for here
            value = float(item["value"][1])
            if math.isnan(value):
                continue
            samples.append(Sample(labels=dict(item.get("metric", {})), value=value))
        return samples

    def query_range(
        self, expr: str, start: datetime, end: datetime, step_s: float
    ) -> list[Series]:
        """Range query (trends, sparklines). Same error handling as `query`."""
        result = self._fetch(lambda: self._client.custom_query_range(
            query=expr, start_time=start, end_time=end, step=f"{step_s:g}s",
            timeout=self.timeout_s,
        ))
        out: list[Series] = []
        for item in result:
            if isinstance(item, dict) and "values" in item:
                points = [(float(t), float(v)) for t, v in item["values"]
                          if not math.isnan(float(v))]
                out.append(Series(labels=dict(item.get("metric", {})), points=points))
        return out

    def alert_rules(self) -> list[ApiRuleGroup]:
        """`/api/v1/rules?type=alert`: the alerting rules Prometheus evaluates, by group."""
        def call() -> Any:
            resp = requests.get(f"{self.url}/api/v1/rules", params={"type": "alert"},
                                timeout=self.timeout_s)
            if resp.status_code != 200:
                raise PrometheusApiClientException(
                    f"HTTP Status Code {resp.status_code} ({resp.content!r})")
            return resp.json()

        body = self._fetch(call)
        try:
            return _RulesAnswer.model_validate(body).data.groups
        except ValidationError:
            raise SourceError(self.name, "the rules API answered in an unknown shape") from None

    def query_range_chunks(
        self, expr: str, start_s: int, end_s: int, step_s: int, *,
        max_points: int = MAX_POINTS_PER_SERIES, timeout_s: float | None = None,
    ) -> Iterator[list[Series]]:
        """The range query over `start_s..end_s` (both on the step grid), as consecutive
        queries of at most `max_points` steps each, yielded in time order: a long window
        never exceeds Prometheus' points-per-series limit. A chunk refused for the sample
        limit (too many series) is halved and asked again, down to one step."""
        points = max(1, min(max_points, MAX_POINTS_PER_SERIES))
        at = start_s
        while at <= end_s:
            stop = min(end_s, at + (points - 1) * step_s)
            try:
                chunk = self._range_chunk(expr, at, stop, step_s, timeout_s or self.timeout_s)
            except TooManySamples:
                if points == 1:
                    raise
                points = max(1, points // 2)
                continue
            yield chunk
            at = stop + step_s

    def _range_chunk(self, expr: str, start_s: int, end_s: int, step_s: int,
                     timeout_s: float) -> list[Series]:
        def call() -> Any:
            try:
                return self._client.custom_query_range(
                    query=expr, start_time=datetime.fromtimestamp(start_s, UTC),
                    end_time=datetime.fromtimestamp(end_s, UTC), step=f"{step_s}s",
                    timeout=timeout_s)
            except PrometheusApiClientException as exc:
                if _TOO_MANY_SAMPLES in str(exc):
                    raise TooManySamples(self.name, _api_error(str(exc))) from None
                raise

        out: list[Series] = []
        for item in self._fetch(call, timeout_s):
            if isinstance(item, dict) and "values" in item:
                points = [(float(t), float(v)) for t, v in item["values"]
                          if not math.isnan(float(v))]
                out.append(Series(labels=dict(item.get("metric", {})), points=points))
        return out

    def scalar(self, expr: str) -> float | None:
        """The single value of an aggregated query, or None when there is no data."""
        samples = self.query(expr)
        return samples[0].value if samples else None


def _short(message: str, limit: int = 200) -> str:
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_ERROR_FIELD = re.compile(r'"error":"((?:[^"\\]|\\.)*)"')
_STATUS = re.compile(r"HTTP Status Code (\d+)")


def _api_error(message: str) -> str:
    """Turn the client's 'HTTP Status Code 400 (b'{...}')' into 'HTTP 400: <error text>'."""
    status = _STATUS.search(message)
    error = _ERROR_FIELD.search(message)
    head = f"HTTP {status.group(1)}" if status else "error"
    return _short(f"{head}: {error.group(1)}" if error else f"{head}")
