"""An alerting rule as data, and its expression split into `left <op> number`.

Only a rule whose whole expression is one comparison of an expression with a number can be
tuned by moving the number: `A > 0.9`, `0.9 < A` (flipped to `A > 0.9`). Anything else
(`A > bool 0.9`, `A > B`, `A > 1 or B > 2`, `A == 48`) is refused with the reason.

PromQL's precedence makes this a scan, not a parse: comparisons bind looser than arithmetic
and tighter than `and`/`or`/`unless`, so a comparison operator outside every bracket, string
and comment, with no set operator beside it, splits the expression into its two sides.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum


class NotTunable(ValueError):
    """The rule's expression is not `<expression> <comparison> <number>`; says why."""


class Op(StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="

    @property
    def upward(self) -> bool:
        """True when a higher threshold is stricter (fires less): `>` and `>=`."""
        return self in (Op.GT, Op.GE)

    def holds(self, value: float, threshold: float) -> bool:
        if self is Op.GT:
            return value > threshold
        if self is Op.GE:
            return value >= threshold
        if self is Op.LT:
            return value < threshold
        return value <= threshold

    @property
    def flipped(self) -> Op:
        """The operator with its sides swapped: `0.9 < A` is `A > 0.9`."""
        return {Op.GT: Op.LT, Op.GE: Op.LE, Op.LT: Op.GT, Op.LE: Op.GE}[self]


@dataclass(frozen=True)
class Comparison:
    left: str
    op: Op
    threshold: float

    def expr(self, threshold: float | None = None) -> str:
        """The rule's expression with `threshold` (default: its own) on the right."""
        value = self.threshold if threshold is None else threshold
        return f"{self.left} {self.op.value} {number(value)}"


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule, wherever it was read. Durations in seconds."""

    name: str
    expr: str
    for_s: int
    interval_s: int
    group: str
    origin: str  # "Prometheus" or the manifest's path
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    keep_firing_for_s: int = 0
    interval_assumed: bool = False  # the manifest names no interval: Prometheus' default


_WORD = re.compile(r"[A-Za-z0-9_:]")
_SET_OPS = ("and", "or", "unless")
_CMP = ("==", "!=", ">=", "<=", ">", "<")


def clean(expr: str) -> str:
    """The expression on one line: comments dropped, whitespace outside strings collapsed."""
    out: list[str] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" and c != "`" else 1
            out.append(expr[i:j + 1])
            i = j + 1
        elif c == "#":
            while i < n and expr[i] != "\n":
                i += 1
        elif c.isspace():
            while i < n and expr[i].isspace():
                i += 1
            if out and out[-1] != " ":
                out.append(" ")
        else:
            out.append(c)
            i += 1
    return "".join(out).strip()


def _scan(expr: str) -> tuple[list[tuple[int, str]], list[str]]:
    """Comparison operators at depth 0 as (offset, op), and set operators at depth 0."""
    ops: list[tuple[int, str]] = []
    sets: list[str] = []
    depth = 0
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            i += 1
            while i < n and expr[i] != c:
                i += 2 if expr[i] == "\\" and c != "`" else 1
            i += 1
            continue
        if c == "#":
            while i < n and expr[i] != "\n":
                i += 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            two = expr[i:i + 2]
            if two in _CMP[:4]:
                ops.append((i, two))
                i += 2
                continue
            if c in "<>":
                ops.append((i, c))
            elif c.isalpha() and (i == 0 or not _WORD.match(expr[i - 1])):
                j = i
                while j < n and _WORD.match(expr[j]):
                    j += 1
                if expr[i:j].lower() in _SET_OPS:
                    sets.append(expr[i:j])
                i = j
                continue
        i += 1
    return ops, sets


def parse_number(text: str) -> float | None:
    """A PromQL number literal (decimal, hex, Inf, NaN, signed, in parentheses), else None."""
    t = text.strip()
    while t.startswith("(") and t.endswith(")"):
        t = t[1:-1].strip()
    try:
        if t.lstrip("+-").lower().startswith("0x"):
            return float(int(t, 16))
        return float(t) if "_" not in t else None
    except ValueError:
        return None


def parse_comparison(expr: str) -> Comparison:
    """`left op number` from a rule's expression; raises :class:`NotTunable` saying why."""
    expr = clean(expr)
    ops, sets = _scan(expr)
    if sets:
        raise NotTunable(f"the expression combines conditions with `{sets[0]}`; only "
                         "`<expression> <comparison> <number>` can be tuned")
    if not ops:
        raise NotTunable("the expression has no comparison at its top level")
    if len(ops) > 1:
        raise NotTunable("the expression chains several comparisons")
    at, symbol = ops[0]
    if symbol in ("==", "!="):
        raise NotTunable(f"`{symbol}` matches exact values; there is no threshold to move")
    left, right = expr[:at].strip(), expr[at + len(symbol):].strip()
    if re.match(r"bool\b", right):
        raise NotTunable("a `bool` comparison never filters, so it has no threshold")
    op = Op(symbol)
    value = parse_number(right)
    if value is None:
        flipped = parse_number(left)
        if flipped is None:
            raise NotTunable("the comparison's right side is not a number")
        left, value, op = right, flipped, op.flipped
    if math.isnan(value) or math.isinf(value):
        raise NotTunable("the threshold is not a finite number")
    return Comparison(left=left, op=op, threshold=value)


def number(value: float) -> str:
    """The shortest text that reads back as `value` (PromQL and YAML alike): 0.95, 1000."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(text: str | int | float | None) -> int:
    """Seconds in a Prometheus duration (`5m`, `1h30m`, `0s`); a number is seconds."""
    if text is None or text == "":
        return 0
    if isinstance(text, int | float):
        return round(text)
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(a + b for a, b in parts) != text.strip():
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return round(sum(int(n) * _UNIT_S[unit] for n, unit in parts))


def duration(seconds: int) -> str:
    """A Prometheus duration: 0s, 90s, 5m, 1h30m, 2h."""
    if seconds <= 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out += f"{n}{unit}"
    return out
