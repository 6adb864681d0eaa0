"""What the four diagnoses share: finding the target, fetching evidence concurrently, matching
log lines, and turning findings into a Report."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog

from bot.errors import NotFound, SourceError
from bot.report import Report, Row, Section, Status
from bot.sources.k8s_models import Container, Pod
from commands.base import Context

log = structlog.get_logger(__name__)

T = TypeVar("T")

GPU = "nvidia.com/gpu"
MAX_EVIDENCE = 3  # log lines or events quoted per finding
MAX_LINE = 240


class TargetNotFound(Exception):
    """The pod (or service, or NodePool) does not exist; the lines say what does."""

    def __init__(self, title: str, *lines: str) -> None:
        super().__init__(title)
        self.title = title
        self.lines = list(lines)


@dataclass
class Got(Generic[T]):
    """A source call's answer, or why there is none (the row then says `unknown`)."""

    value: T | None
    error: str = ""
    missing: bool = False  # the backend said there is no such thing (NotFound)


def _safe(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Got[T]:
    try:
        return Got(fn(*args, **kwargs))
    except SourceError as exc:
        return Got(None, str(exc), missing=isinstance(exc, NotFound))
    except Exception as exc:  # one failing fetch must not sink the diagnosis
        log.exception("diag_fetch_failed", fn=getattr(fn, "__name__", "?"))
        return Got(None, f"internal error ({type(exc).__name__}); see the bot's log")


def fetch(ctx: Context, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[Got[T]]:
    """Start a source call on the fan-out pool: a diagnosis costs its slowest call."""
    return ctx.fanout.submit(_safe, fn, *args, **kwargs)


@dataclass
class Findings:
    """Rows, the causes they point at, and the remedies that apply, in the order found."""

    rows: list[Row] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    remedies: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, check: str, status: Status, value: str = "", detail: str = "",
            threshold: str = "") -> None:
        self.rows.append(Row(check=check, status=status, value=value, threshold=threshold,
                             detail=clip(detail, 600)))

    def unknown(self, check: str, error: str) -> None:
        self.row(check, Status.UNKNOWN, "unknown", error)

    def cause(self, text: str) -> None:
        if text not in self.causes:
            self.causes.append(text)

    def remedy(self, title: str, text: str, code: str | None = None) -> None:
        if all(r.title != title for r in self.remedies):
            self.remedies.append(Section(title=title, lines=[text], code=code))


def report(scenario: str, target: str, found: Findings, footer: str) -> Report:
    if found.causes:
        summary = "Likely cause: " + "; ".join(found.causes)
    elif any(r.status is Status.UNKNOWN for r in found.rows):
        summary = "No fault found in what could be read; some checks are unknown"
    else:
        summary = "No fault found"
    sections = [Section(title="Findings", rows=found.rows)]
    if found.notes:
        sections.append(Section(lines=found.notes))
    sections += found.remedies
    return Report(title=f"diag {scenario}: {target}", summary=summary, sections=sections,
                  footer=footer)


def clip(text: str, limit: int = MAX_LINE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def closest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Names starting with `name` (a Deployment's pods), then the nearest by spelling."""
    pool = sorted(set(candidates))
    prefixed = [c for c in pool if c.startswith(name)]
    near = difflib.get_close_matches(name, pool, n=n, cutoff=0.5)
    return list(dict.fromkeys(prefixed + near))[:n]


def find_pod(ctx: Context, name: str, namespace: str, scenario: str) -> Pod:
    """The pod, or TargetNotFound naming the closest pods (also in other namespaces)."""
    try:
        return ctx.kubernetes.pod(namespace, name)
    except NotFound:
        pass
    lines = [f"There is no pod {name!r} in namespace {namespace!r}."]
    try:
        here = [p.metadata.name for p in ctx.kubernetes.pods_in(namespace)]
        elsewhere = [] if here else ctx.kubernetes.pods_anywhere()
    except SourceError as exc:
        lines.append(f"(Could not list pods to suggest names: {exc.reason}.)")
        raise TargetNotFound("Pod not found", *lines) from None
    if here:
        near = closest(name, here)
        if near:
            lines.append("Closest pods here: " + ", ".join(near))
    else:
        lines.append(f"Namespace {namespace!r} has no pods (does it exist?).")
        by_name = {p.metadata.name: p.metadata.namespace for p in elsewhere}
        near = closest(name, by_name)
        if near:
            lines.append("Closest pods elsewhere: "
                         + ", ".join(f"{n} (-n {by_name[n]})" for n in near))
            lines.append(f"Try: /genai diag {scenario} {near[0]} -n {by_name[near[0]]}")
    raise TargetNotFound("Pod not found", *lines)


def main_container(pod: Pod) -> Container | None:
    """The model server: the container that asks for GPUs, else the first one."""
    containers = pod.spec.containers
    gpu = [c for c in containers if GPU in c.resources.limits or GPU in c.resources.requests]
    return (gpu or containers)[0] if containers else None


def matching(text: str | None, patterns: Sequence[re.Pattern[str]]) -> list[str]:
    """Lines matching any pattern, newest last, deduplicated."""
    if not text:
        return []
    hits = [clip(line) for line in text.splitlines() if any(p.search(line) for p in patterns)]
    return list(dict.fromkeys(hits))


def quote(lines: Sequence[str], n: int = MAX_EVIDENCE) -> str:
    shown = list(lines)[-n:]
    more = len(lines) - len(shown)
    return " | ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def arg_value(container: Container, flag: str) -> str | None:
    """A CLI flag's value in command+args, as `--flag value` or `--flag=value`."""
    words = container.command + container.args
    for i, word in enumerate(words):
        if word == flag and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


_QUANTITY = re.compile(r"^([0-9.]+)([A-Za-z]*)$")
_UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20,
          "Gi": 2**30, "Ti": 2**40}


def bytes_of(quantity: str | None) -> float | None:
    """A Kubernetes memory quantity in bytes (`64Gi`, `500M`); None when absent or odd."""
    m = _QUANTITY.match(quantity or "")
    if not m or m.group(2) not in _UNITS:
        return None
    return float(m.group(1)) * _UNITS[m.group(2)]


def gib(value: float) -> str:
    return f"{value / 2**30:g}Gi"
