"""Log events as Logs Insights sees them, and the commands of a query run over them.

A record is a log event: `@timestamp` (ms), `@message`, `@ptr`, and, when the message is a
JSON object, its fields flattened with dots (`kubernetes.pod_name`), as Insights discovers
them. Values come back as Insights gives them (`render`): strings, timestamps and bins as
`2025-01-14 00:00:00.000` (UTC), whole numbers without a `.0`. The query language itself,
and what each command means, is in `tests.harness.insights_query`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]


class Millis(int):
    """A timestamp in epoch milliseconds: rendered the way Insights renders `@timestamp`."""


# ---- log events -----------------------------------------------------------------------------


def _flatten(prefix: str, value: Any, out: Record) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _flatten(f"{prefix}.{index}", inner, out)
    elif value is not None:
        out[prefix] = value


@dataclass(frozen=True)
class LogEvent:
    timestamp_ms: int
    message: str

    @classmethod
    def at(cls, when: datetime, message: str | dict[str, Any]) -> LogEvent:
        """An event at `when`; a dict is shipped as its JSON text (Fluent Bit's record)."""
        text = message if isinstance(message, str) else json.dumps(message)
        return cls(int(when.timestamp() * 1000), text)

    def record(self, ptr: str) -> Record:
        """The fields Insights sees: its own, then those discovered in a JSON message."""
        record: Record = {"@timestamp": Millis(self.timestamp_ms), "@message": self.message,
                          "@ptr": ptr}
        try:
            parsed = json.loads(self.message)
        except ValueError:
            return record
        if isinstance(parsed, dict):
            discovered: Record = {}
            _flatten("", parsed, discovered)
            record.update({k: v for k, v in discovered.items() if k not in record})
        return record


# ---- values ---------------------------------------------------------------------------------


def number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def render(value: Any) -> str:
    """A value as GetQueryResults gives it: always a string."""
    if isinstance(value, Millis):
        when = datetime.fromtimestamp(value / 1000, UTC)
        return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{value % 1000:03d}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


# ---- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fields:
    names: tuple[str, ...]


@dataclass(frozen=True)
class Filter:
    field: str
    test: Callable[[Any], bool]

    def apply(self, records: list[Record]) -> list[Record]:
        return [r for r in records if r.get(self.field) is not None and self.test(r[self.field])]


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool

    def apply(self, records: list[Record]) -> list[Record]:
        def key(record: Record) -> tuple[int, float, str]:
            value = number(record[self.field])
            return (0, value, "") if value is not None else (1, 0.0, str(record[self.field]))

        present = [r for r in records if r.get(self.field) is not None]
        missing = [r for r in records if r.get(self.field) is None]
        return sorted(present, key=key, reverse=self.descending) + missing


@dataclass(frozen=True)
class Limit:
    count: int

    def apply(self, records: list[Record]) -> list[Record]:
        return records[: self.count]


@dataclass(frozen=True)
class Aggregate:
    function: str
    argument: str  # a field, or "*" for count(*)
    name: str

    def compute(self, records: list[Record]) -> Any:
        if self.function == "count":
            return len(records) if self.argument == "*" else sum(
                1 for r in records if r.get(self.argument) is not None)
        values = [v for v in (number(r.get(self.argument)) for r in records) if v is not None]
        if not values:
            return None
        if self.function == "sum":
            return sum(values)
        if self.function == "avg":
            return sum(values) / len(values)
        return max(values) if self.function == "max" else min(values)


@dataclass(frozen=True)
class Group:
    name: str  # the result field: `model`, `bin(1h)`
    field: str | None  # None: a bin of @timestamp
    bin_ms: int = 0

    def key(self, record: Record) -> Any:
        if self.field is None:
            return Millis(record["@timestamp"] // self.bin_ms * self.bin_ms)
        return record.get(self.field)


@dataclass(frozen=True)
class Stats:
    aggregates: tuple[Aggregate, ...]
    groups: tuple[Group, ...]

    def apply(self, records: list[Record]) -> list[Record]:
        buckets: dict[tuple[Any, ...], tuple[list[Any], list[Record]]] = {}
        for record in records:
            values = [g.key(record) for g in self.groups]
            buckets.setdefault(tuple(_hashable(v) for v in values), (values, []))[1].append(
                record)
        rows = []
        for values, members in buckets.values():
            row: Record = {g.name: v for g, v in zip(self.groups, values, strict=True)
                           if v is not None}
            for aggregate in self.aggregates:
                result = aggregate.compute(members)
                if result is not None:
                    row[aggregate.name] = result
            rows.append(row)
        return rows


Stage = Fields | Filter | Sort | Limit | Stats
