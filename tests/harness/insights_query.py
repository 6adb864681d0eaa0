"""A small interpreter of the CloudWatch Logs Insights query language: enough for the
operations guide's three queries, and for near misses of them (so a test can show that its
log events tell the guide's query from a changed one).

Commands are joined by `|`; whitespace outside literals does not matter:

    fields F, ...                      what a non-`stats` query returns (plus `@ptr`)
    filter F like /regex/              `re.search`, case-sensitive as in Insights
    filter F >|>=|<|<=|=|!= N          numeric; a record without a number in F does not match
    sort F asc|desc                    records without F go last
    limit N
    stats AGG(F|*) [as NAME], ... [by F|bin(N<unit>), ...]     AGG: avg max min sum count

Anything else raises `MalformedQuery` with the position of the offending token. Records and
the commands' semantics are in `tests.harness.insights_records`.
"""

from __future__ import annotations

import base64
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .insights_records import (
    Aggregate,
    Fields,
    Filter,
    Group,
    Limit,
    LogEvent,
    Sort,
    Stage,
    Stats,
    number,
    render,
)

DEFAULT_LIMIT = 10_000  # StartQuery's default `limit`
AGGREGATES = ("avg", "max", "min", "sum", "count")
BIN_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "=": operator.eq, "!=": operator.ne}


class MalformedQuery(ValueError):
    """A query this interpreter cannot run; `start`/`end` locate it in the query text."""

    def __init__(self, message: str, start: int = 0, end: int = 0) -> None:
        super().__init__(message)
        self.message, self.start, self.end = message, start, end


# ---- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # regex, string, number, name, op
    text: str
    start: int
    end: int


_TOKEN = re.compile(r"""
      (?P<regex>/(?:\\.|[^/\\\n])*/)
    | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
    | (?P<number>\d+(?:\.\d+)?[A-Za-z]*)
    | (?P<name>[@A-Za-z_][\w.@]*)
    | (?P<op>>=|<=|!=|[<>=|,()*])
""", re.VERBOSE)
_SPACE = re.compile(r"\s*")


def tokenize(query: str) -> list[Token]:
    """Every character of `query` outside whitespace belongs to exactly one token."""
    tokens: list[Token] = []
    pos = _SPACE.match(query).end()  # type: ignore[union-attr]
    while pos < len(query):
        match = _TOKEN.match(query, pos)
        if match is None or match.lastgroup is None:
            raise MalformedQuery(f"unexpected character {query[pos]!r} at offset {pos}",
                                 pos, pos + 1)
        tokens.append(Token(match.lastgroup, match.group(), pos, match.end()))
        pos = _SPACE.match(query, match.end()).end()  # type: ignore[union-attr]
    return tokens


def normalise(query: str) -> str:
    """The query's tokens joined by single spaces: two texts have the same normal form when
    they differ only in whitespace outside literals (`a,b` and `a , b` do; `> =` and `>=`,
    `/a b/` and `/a  b/` do not)."""
    return " ".join(t.text for t in tokenize(query))


# ---- parsing --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.pos = 0

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def fail(self, expected: str) -> MalformedQuery:
        token = self.peek()
        if token is None:
            end = len(self.query)
            return MalformedQuery(f"expected {expected} at the end of the query", end, end)
        return MalformedQuery(f"expected {expected}, got {token.text!r} at offset "
                              f"{token.start}", token.start, token.end)

    def take(self, kind: str | None = None, text: str | None = None,
             expected: str = "") -> Token:
        token = self.peek()
        if token is None or (kind and token.kind != kind) or (text and token.text != text):
            raise self.fail(expected or (repr(text) if text else f"a {kind}"))
        self.pos += 1
        return token

    def at(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token is not None and token.text.lower() == text

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.pos += 1
            return True
        return False

    def names(self) -> tuple[str, ...]:
        names = [self.take("name", expected="a field").text]
        while self.accept(","):
            names.append(self.take("name", expected="a field").text)
        return tuple(names)

    # one method per command, each consuming the command's tokens after its verb

    def fields(self) -> Fields:
        return Fields(self.names())

    def filter(self) -> Filter:
        field = self.take("name", expected="a field").text
        if self.accept("like"):
            token = self.take("regex", expected="a /regex/")
            try:
                pattern = re.compile(token.text[1:-1])
            except re.error as exc:
                raise MalformedQuery(f"bad regex {token.text}: {exc}", token.start,
                                     token.end) from None
            return Filter(field, lambda v: pattern.search(render(v)) is not None)
        op = self.take("op", expected="like or a comparison").text
        if op not in COMPARISONS:
            raise MalformedQuery(f"unsupported operator {op!r}")
        bound = self.take("number", expected="a number")
        threshold = number(bound.text)
        if threshold is None:
            raise MalformedQuery(f"not a number: {bound.text!r}", bound.start, bound.end)
        compare = COMPARISONS[op]
        return Filter(field, lambda v: (n := number(v)) is not None and compare(n, threshold))

    def sort(self) -> Sort:
        field = self.take("name", expected="a field").text
        if self.accept("desc"):
            return Sort(field, descending=True)
        if self.accept("asc"):
            return Sort(field, descending=False)
        raise self.fail("asc or desc")

    def limit(self) -> Limit:
        token = self.take("number", expected="a row count")
        if not token.text.isdigit() or int(token.text) == 0:
            raise MalformedQuery(f"bad limit {token.text!r}", token.start, token.end)
        return Limit(int(token.text))

    def stats(self) -> Stats:
        aggregates = [self.aggregate()]
        while self.accept(","):
            aggregates.append(self.aggregate())
        groups: list[Group] = []
        if self.accept("by"):
            groups.append(self.group())
            while self.accept(","):
                groups.append(self.group())
        return Stats(tuple(aggregates), tuple(groups))

    def aggregate(self) -> Aggregate:
        function = self.take("name", expected="an aggregate function")
        if function.text.lower() not in AGGREGATES:
            raise MalformedQuery(f"unsupported function {function.text!r}", function.start,
                                 function.end)
        self.take(text="(")
        star = self.accept("*")
        argument = "*" if star else self.take("name", expected="a field or *").text
        if star and function.text.lower() != "count":
            raise MalformedQuery(f"{function.text}(*) is not a function")
        self.take(text=")")
        name = f"{function.text}({argument})"
        if self.accept("as"):
            name = self.take("name", expected="a name").text
        return Aggregate(function.text.lower(), argument, name)

    def group(self) -> Group:
        if self.at("bin") and self.at("(", ahead=1):
            self.pos += 2
            period = self.take("number", expected="a period like 1h")
            match = re.fullmatch(r"(\d+)([a-z]+)", period.text)
            if not match or match.group(2) not in BIN_UNITS_MS or int(match.group(1)) == 0:
                raise MalformedQuery(f"bad bin period {period.text!r}", period.start,
                                     period.end)
            self.take(text=")")
            return Group(f"bin({period.text})", None,
                         int(match.group(1)) * BIN_UNITS_MS[match.group(2)])
        field = self.take("name", expected="a field or bin(...)").text
        return Group(field, field)


@dataclass(frozen=True)
class Query:
    text: str
    stages: tuple[Stage, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        chosen = [s.names for s in self.stages if isinstance(s, Fields)]
        return chosen[-1] if chosen else ("@timestamp", "@message")

    @property
    def has_stats(self) -> bool:
        return any(isinstance(s, Stats) for s in self.stages)


def parse_query(text: str) -> Query:
    parser = _Parser(text)
    stages: list[Stage] = []
    while True:
        verb = parser.take("name", expected="a command")
        command = verb.text.lower()
        if command not in ("fields", "filter", "sort", "limit", "stats"):
            raise MalformedQuery(f"unsupported command {verb.text!r}", verb.start, verb.end)
        stages.append(getattr(parser, command)())
        if parser.peek() is None:
            break
        parser.take(text="|", expected="| or the end of the query")
    if sum(isinstance(s, Stats) for s in stages) > 1:
        raise MalformedQuery("more than one stats command")
    return Query(text, tuple(stages))


# ---- running --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    rows: list[dict[str, str]]  # field → value as GetQueryResults gives it, in field order
    matched: int
    scanned: int
    bytes_scanned: int


def evaluate(query: Query | str, events: Iterable[LogEvent], start_s: int, end_s: int,
             limit: int | None = None) -> Outcome:
    """Run `query` over the events in [start_s, end_s] (epoch seconds, both included, as
    StartQuery's startTime/endTime). `matched` counts the records past the filters, before
    `stats` and `limit`."""
    plan = parse_query(query) if isinstance(query, str) else query
    scanned = sorted((e for e in events if start_s <= e.timestamp_ms // 1000 <= end_s),
                     key=lambda e: e.timestamp_ms)
    records = [e.record(base64.b64encode(f"standin:{i}:{e.timestamp_ms}".encode()).decode())
               for i, e in enumerate(scanned)]
    matched: int | None = None
    for stage in plan.stages:
        if isinstance(stage, Stats | Limit) and matched is None:
            matched = len(records)
        if not isinstance(stage, Fields):
            records = stage.apply(records)
    if matched is None:
        matched = len(records)
    records = records[: min(limit or DEFAULT_LIMIT, DEFAULT_LIMIT)]
    shown = None if plan.has_stats else (*plan.fields, "@ptr")
    rows = [{k: render(r[k]) for k in (shown or r) if r.get(k) is not None} for r in records]
    return Outcome(rows=rows, matched=matched, scanned=len(scanned),
                   bytes_scanned=sum(len(e.message.encode()) for e in scanned))
