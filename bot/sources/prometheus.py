"""Prometheus (and DCGM, kube-state-metrics, OpenCost series stored in it)."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from bot.errors import SourceError, Timeout, Unavailable


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

    def _fetch(self, call: Callable[[], Any]) -> Any:
        """Count the query and turn any client failure into a one-line SourceError."""
        with self._lock:
            self.queries_issued += 1
        try:
            return call()
        except requests.Timeout:
            raise Timeout(self.name, f"timed out after {self.timeout_s:g}s") from None
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
