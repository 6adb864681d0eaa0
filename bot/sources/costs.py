"""Cost backends other than Prometheus: AWS Cost Explorer and the Kubecost Allocation API.

Every call has a timeout and every failure becomes a `SourceError` with a short reason, so
the cost report can mark just that row `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import requests

from bot.config import CostSettings
from bot.errors import NotFound, SourceError, Timeout, Unavailable
from bot.sources.aws import AwsClients, aws_call

CE_MAX_PAGES = 5  # a 30-day DAILY query grouped by SERVICE fits in one or two pages


@dataclass(frozen=True, slots=True)
class DayCost:
    """One day of AWS spend (UnblendedCost), total and per service."""

    start: str  # YYYY-MM-DD
    total: float
    services: dict[str, float] = field(default_factory=dict)
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class Allocation:
    """One Kubecost allocation (here: a namespace) summed over the window."""

    name: str
    total: float
    gpu: float


def _amount(metrics: Any, name: str = "UnblendedCost") -> float:
    if not isinstance(metrics, dict):
        return 0.0
    metric = metrics.get(name)
    if not isinstance(metric, dict):
        return 0.0
    try:
        return float(metric.get("Amount", 0.0))
    except (TypeError, ValueError):
        return 0.0


def parse_cost_and_usage(pages: list[dict[str, Any]]) -> list[DayCost]:
    """`ResultsByTime` of one or more pages -> days in time order. With a GroupBy, AWS leaves
    `Total` empty and puts the money in `Groups`; without one, it is in `Total`."""
    days: dict[str, DayCost] = {}
    for page in pages:
        for item in page.get("ResultsByTime", []) or []:
            start = str((item.get("TimePeriod") or {}).get("Start", "?"))
            services: dict[str, float] = {}
            for group in item.get("Groups", []) or []:
                keys = group.get("Keys") or ["?"]
                services[str(keys[0])] = services.get(str(keys[0]), 0.0) + _amount(
                    group.get("Metrics"))
            total = sum(services.values()) if services else _amount(item.get("Total"))
            previous = days.get(start)
            if previous is not None:  # a day split across pages: merge its groups
                merged = dict(previous.services)
                for name, value in services.items():
                    merged[name] = merged.get(name, 0.0) + value
                services = merged
                total += previous.total
            days[start] = DayCost(start=start, total=total, services=services,
                                  estimated=bool(item.get("Estimated", False)))
    return [days[k] for k in sorted(days)]


def parse_allocation(body: Any) -> list[Allocation]:
    """The Allocation API answer `{"code": 200, "data": [{"<name>": {"totalCost": …,
    "gpuCost": …}, …}, …]}` (one dict per step of the window) -> allocations, costliest
    first. Raises ValueError when the shape is not that."""
    if not isinstance(body, dict):
        raise ValueError("answer is not a JSON object")
    code = body.get("code", 200)
    if code != 200:
        raise ValueError(f"code {code}: {str(body.get('message', ''))[:120]}".strip())
    data = body.get("data")
    if data is None:
        return []
    steps = data if isinstance(data, list) else [data]
    totals: dict[str, list[float]] = {}
    for step in steps:
        if not isinstance(step, dict):
            continue
        for name, alloc in step.items():
            if not isinstance(alloc, dict):
                continue
            acc = totals.setdefault(str(name), [0.0, 0.0])
            acc[0] += float(alloc.get("totalCost", 0.0) or 0.0)
            acc[1] += float(alloc.get("gpuCost", 0.0) or 0.0)
    out = [Allocation(name=n, total=v[0], gpu=v[1]) for n, v in totals.items()]
    return sorted(out, key=lambda a: (-a.total, a.name))


class CostSources:
    """Cost Explorer (through the shared boto3 clients) and the optional Kubecost API."""

    def __init__(self, settings: CostSettings, aws: AwsClients | None) -> None:
        self.settings = settings
        self.aws = aws
        self._http = requests.Session()

    # -- AWS Cost Explorer ------------------------------------------------------------------

    def cost_and_usage(self, start: date, end: date) -> list[DayCost]:
        """DAILY UnblendedCost grouped by SERVICE over [start, end). $0.01 per request."""
        if self.aws is None:
            raise SourceError("cost explorer", "no AWS clients configured")
        ce = self.aws.client("ce")
        kwargs: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        }
        pages: list[dict[str, Any]] = []
        for _ in range(CE_MAX_PAGES):
            page: dict[str, Any] = aws_call("cost explorer", "GetCostAndUsage",
                                            ce.get_cost_and_usage, **kwargs)
            pages.append(page)
            token = page.get("NextPageToken")
            if not token:
                break
            kwargs["NextPageToken"] = token
        return parse_cost_and_usage(pages)

    # -- Kubecost Allocation API ------------------------------------------------------------

    def allocation(self, window: str, aggregate: str = "namespace") -> list[Allocation]:
        """`GET /model/allocation?window=<w>&aggregate=<a>` on `cost.kubecost_url`."""
        if not self.settings.kubecost_url:
            raise SourceError("kubecost", "cost.kubecost_url is not set")
        url = self.settings.kubecost_url.rstrip("/") + "/model/allocation"
        timeout = (min(3.0, self.settings.timeout_s), self.settings.timeout_s)
        try:
            resp = self._http.get(url, params={"window": window, "aggregate": aggregate,
                                               "accumulate": "true"}, timeout=timeout)
        except requests.Timeout:
            raise Timeout("kubecost", f"timed out after {self.settings.timeout_s:g}s") from None
        except requests.ConnectionError:
            raise Unavailable("kubecost", f"cannot connect to {url}") from None
        except requests.RequestException as exc:
            raise Unavailable("kubecost", type(exc).__name__) from None
        if resp.status_code != 200:
            kind = NotFound if resp.status_code == 404 else (
                Unavailable if resp.status_code >= 500 else SourceError)
            raise kind("kubecost", f"allocation API answered HTTP {resp.status_code}")
        try:
            return parse_allocation(resp.json())
        except (ValueError, TypeError) as exc:
            raise SourceError("kubecost", f"unexpected allocation answer: {exc}") from None
