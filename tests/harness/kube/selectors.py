"""Label and field selectors, parsed and matched the way the API server does."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .resources import JSON
from .status import _bad_request


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    """One term of a label selector (`key op values`)."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Same truth table as k8s.io/apimachinery/pkg/labels: `!=`/`notin` match absence."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("gt", "lt"):
            try:
                have, want = int(value or ""), int(self.values[0])
            except ValueError:
                return False
            return have > want if self.op == "gt" else have < want
        raise AssertionError(self.op)


_LABEL_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|<|>|[A-Za-z0-9._/\-]+)")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def parse_label_selector(selector: str) -> list[LabelRequirement]:
    """Parse a label selector the way the API server does, or raise a 400 `ApiError`."""
    tokens: list[str] = []
    pos = 0
    text = selector.strip()
    while pos < len(text):
        match = _LABEL_TOKEN.match(text, pos)
        if not match:
            raise _bad_request(
                f"unable to parse requirement: found '{text[pos:]}', expected: identifier"
            )
        tokens.append(match.group(1))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    specials = {"!=", "==", "=", "!", "(", ")", ",", "<", ">"}
    reqs: list[LabelRequirement] = []
    i = 0

    def expect_ident(what: str) -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i] in specials:
            found = tokens[i] if i < len(tokens) else "EOS"
            raise _bad_request(f"unable to parse requirement: found '{found}', expected: {what}")
        i += 1
        return tokens[i - 1]

    def check_key(key: str) -> str:
        if not _LABEL_KEY.match(key):
            raise _bad_request(
                f'unable to parse requirement: <nil>: Invalid value: "{key}": name part must '
                "consist of alphanumeric characters, '-', '_' or '.'"
            )
        return key

    while i < len(tokens):
        if tokens[i] == "!":
            i += 1
            reqs.append(LabelRequirement(check_key(expect_ident("identifier")), "!"))
        else:
            key = check_key(expect_ident("identifier"))
            if i >= len(tokens) or tokens[i] == ",":
                reqs.append(LabelRequirement(key, "exists"))
            else:
                op = tokens[i]
                i += 1
                if op in ("=", "==", "!="):
                    value = ""
                    if i < len(tokens) and tokens[i] not in specials:
                        value = tokens[i]
                        i += 1
                    reqs.append(LabelRequirement(key, "!=" if op == "!=" else "=", (value,)))
                elif op in ("in", "notin"):
                    if i >= len(tokens) or tokens[i] != "(":
                        raise _bad_request(
                            "unable to parse requirement: found "
                            f"'{tokens[i] if i < len(tokens) else 'EOS'}', expected: '('"
                        )
                    i += 1
                    values: list[str] = []
                    while True:
                        if i < len(tokens) and tokens[i] not in specials:
                            values.append(tokens[i])
                            i += 1
                        if i < len(tokens) and tokens[i] == ",":
                            i += 1
                            continue
                        if i < len(tokens) and tokens[i] == ")":
                            i += 1
                            break
                        raise _bad_request(
                            "unable to parse requirement: found "
                            f"'{tokens[i] if i < len(tokens) else 'EOS'}', expected: ',', ')'"
                        )
                    reqs.append(LabelRequirement(key, op, tuple(values)))
                elif op in ("<", ">"):
                    num = expect_ident("integer")
                    if not re.fullmatch(r"-?\d+", num):
                        raise _bad_request(
                            f"unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                            f"must be an integer, got {num!r}"
                        )
                    reqs.append(LabelRequirement(key, "gt" if op == ">" else "lt", (num,)))
                else:
                    raise _bad_request(
                        f"unable to parse requirement: found '{op}', expected: "
                        "in, notin, =, ==, !=, gt, lt"
                    )
        if i < len(tokens):
            if tokens[i] != ",":
                raise _bad_request(
                    f"unable to parse requirement: found '{tokens[i]}', expected: ','"
                )
            i += 1
            if i >= len(tokens):
                raise _bad_request("unable to parse requirement: found 'EOS', expected: identifier")
    return reqs


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One term of a field selector; only equality and inequality exist for fields."""

    field: str
    negate: bool
    value: str


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            buf.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def _unescape_field_value(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(selector: str) -> list[FieldRequirement]:
    """Parse `a=b,c!=d` (values may escape `,`, `=` and `\\`), as fields.ParseSelector does."""
    reqs: list[FieldRequirement] = []
    if not selector.strip():
        return reqs
    for term in _split_unescaped(selector, ","):
        if not term:
            continue
        for i in range(len(term)):
            rest = term[i:]
            op = next((o for o in ("!=", "==", "=") if rest.startswith(o)), None)
            if op:
                key, value = term[:i].strip(), term[i + len(op) :]
                reqs.append(FieldRequirement(key, op == "!=", _unescape_field_value(value)))
                break
        else:
            raise _bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
    return reqs


def _field_value(obj: JSON, label: str) -> str:
    """The string the API server compares a field selector with ("" when unset)."""
    if label == "source":  # events: the field label `source` is `source.component`
        node: Any = (obj.get("source") or {}).get("component")
    else:
        node = obj
        for part in label.split("."):
            node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def _selected(
    obj: JSON, labels: Sequence[LabelRequirement], fields: Sequence[FieldRequirement]
) -> bool:
    obj_labels = (obj.get("metadata") or {}).get("labels") or {}
    if not all(r.matches(obj_labels) for r in labels):
        return False
    for term in fields:
        equal = _field_value(obj, term.field) == term.value
        if equal == term.negate:
            return False
    return True
