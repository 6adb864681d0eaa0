"""A real incident's timeline, from the store: every event in order with who did it, the
durations, the alert's values and each diagnostics run. Slack-free; the postmortem
(:mod:`bot.alerts.postmortem`) and ``/genai incident`` present it.

Every duration runs from Alertmanager's ``startsAt`` (the incident's ``began_at``), as the
card's do, so a notification delayed by ``group_wait`` or a retry does not shorten them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.alerts.view import AlertItem, AlertView, order_labels
from bot.postmortem import Measure, Moment, ordered
from bot.report import Report, Status
from bot.store.db import Database
from bot.store.escalations import CHANNEL
from bot.store.history import HistoryStore, IncidentHistory
from bot.store.models import Action, Incident
from bot.store.states import ActionKind
from bot.times import as_utc, clock, parse_time
from bot.words import plural

# What a button carries and `/genai incident` takes: 10 lowercase base32 characters.
PUBLIC_ID = re.compile(r"^[a-z2-7]{10}$")
ALERTMANAGER = "Alertmanager"
BOT = "the bot"
TTA, TTR = "Time to acknowledge (TTA)", "Time to resolve (TTR)"
_ROWS_SHOWN = (Status.FAIL, Status.WARN, Status.UNKNOWN)  # a diagnosis's findings worth keeping


@dataclass(frozen=True)
class DiagRun:
    """One Run diagnostics: who, when, what it ran and what it found."""

    at: datetime
    by: str
    scenario: str
    title: str  # what ran, on what: "diag oom: inference/llama-70b-0"
    verdict: str  # "fail — Likely cause: …", "could not run (no pod label): …"
    findings: list[str]  # the report's rows that were not ok: "fail CUDA OOM in logs: 2 lines"

    @property
    def outcome(self) -> str:
        """The verdict with the scenario it is about, for a timeline line."""
        return self.verdict if self.scenario == "none" else f"{self.scenario}: {self.verdict}"


@dataclass(frozen=True)
class Reported:
    """What one firing notification said (its summary and description)."""

    at: datetime
    text: str


@dataclass(frozen=True)
class Timeline:
    history: IncidentHistory
    view: AlertView  # the incident with its latest notification
    moments: list[Moment]
    measures: list[Measure]
    diagnoses: list[DiagRun]
    reported: list[Reported]  # the values over time, firing notifications only
    max_alerts: int  # the most alerts one notification carried (truncated ones counted)

    @property
    def incident(self) -> Incident:
        return self.history.incident

    @property
    def tta(self) -> Measure:
        return next(m for m in self.measures if m.label == TTA)

    @property
    def ttr(self) -> Measure:
        return next(m for m in self.measures if m.label == TTR)

    @property
    def is_critical(self) -> bool:
        return (self.incident.severity or "").strip().lower() == "critical"

    def targets(self) -> list[str]:
        """Each alert's own labels (what tells the GPUs, pods or models of a group apart),
        from every notification, first seen first."""
        seen: dict[str, None] = {}
        for event in self.history.events:
            for raw in event.alerts if isinstance(event.alerts, list) else []:
                if isinstance(raw, Mapping):
                    item = AlertItem.from_dict(raw)
                    own = self.view.varying_labels(item)
                    if own:
                        seen.setdefault(", ".join(f"{k}={v}" for k, v in own[:4]), None)
        return list(seen)

    def labels(self) -> list[tuple[str, str]]:
        return order_labels(self.view.labels)

    def expression(self) -> str | None:
        """The rule's PromQL, from the alert's generatorURL (``g0.expr``)."""
        for url in self.view.generator_urls():
            exprs = parse_qs(urlsplit(url).query).get("g0.expr")
            if exprs and exprs[0].strip():
                return exprs[0].strip()
        return None


def load(db: Database, public_id: str) -> Timeline | None:
    """The timeline of incident ``public_id``; None when there is no such incident."""
    history = HistoryStore(db).of(public_id)
    return None if history is None else build(history)


def build(h: IncidentHistory) -> Timeline:
    inc = h.incident
    view = AlertView.from_incident(inc, h.events[-1] if h.events else None)
    runs = {a.id: _diag_run(h, a) for a in h.actions if a.kind is ActionKind.DIAG and a.allowed}
    diagnoses = list(runs.values())
    return Timeline(history=h, view=view, moments=ordered(_moments(h, runs)),
                    measures=_measures(h, diagnoses), diagnoses=diagnoses,
                    reported=_reported(h), max_alerts=_max_alerts(h))


# ---------------------------------------------------------------------- the events


def _moments(h: IncidentHistory, diagnoses: Mapping[int, DiagRun]) -> Iterable[Moment]:
    """Every event, each to read "<what> by <who>" as a drill's timeline does; ordered by
    the caller (events at one instant keep this order)."""
    inc = h.incident
    count = max(1, _max_alerts(h))
    fired = f"{inc.alertname} started firing"
    fired += f" ({plural(count, 'alert')}, startsAt)" if count > 1 else " (startsAt)"
    yield Moment(as_utc(inc.began_at), fired)
    if inc.started_at is not None:  # else the bot's hearing of it is the start above
        yield Moment(as_utc(inc.opened_at), "notified", f"{ALERTMANAGER} (webhook)")
    if h.posted_at is not None:
        yield Moment(h.posted_at, "alert card posted", BOT)
    elif inc.digest_id is not None:
        yield Moment(as_utc(inc.opened_at), "counted in the channel's storm digest", BOT)
    escalated_steps = set()
    for a in h.actions:
        if a.kind is ActionKind.ESCALATE:
            escalated_steps.add(str(a.detail.get("step", "")))
        moment = _action_moment(a, diagnoses)
        if moment is not None:
            yield moment
    for e in h.escalations:  # a step with no audit row of its own still shows
        if str(e.step) not in escalated_steps:
            yield Moment(as_utc(e.fired_at), f"escalated (step {e.step}) to "
                                             f"{_names(e.notified)}", "bot")
    if not inc.is_open and not any(a.kind is ActionKind.RESOLVE and a.allowed
                                   and a.detail.get("changed") for a in h.actions):
        if inc.resolved_by:
            yield Moment(as_utc(inc.resolved_at or inc.opened_at), "resolved", inc.resolved_by)
        else:
            yield Moment(as_utc(inc.finished_at or inc.opened_at), "resolved (endsAt)",
                         ALERTMANAGER)
    if h.next is not None:
        yield Moment(as_utc(h.next.began_at), f"re-fired as incident {h.next.public_id}")


def _names(value: Any) -> str:
    """Whom a step notified: ids as text (a timeline never pings), @channel by name."""
    names = value if isinstance(value, list | tuple) else [value] if value else []
    return ", ".join("@channel" if n == CHANNEL else str(n) for n in names) or "nobody"


def _action_moment(a: Action, diagnoses: Mapping[int, DiagRun]) -> Moment | None:
    at, d = as_utc(a.at), a.detail
    if not a.allowed:
        role = d.get("role", "")
        return Moment(at, f"{a.kind.value} refused" + (f" ({role})" if role else "")
                      + ", asked", a.user_id)
    until = parse_time(d.get("until"))
    ends = clock(until) if until else "?"
    match a.kind:
        case ActionKind.ACK:
            text = "acknowledged" if d.get("first", True) else \
                f"acknowledged again (first by {d.get('acked_by', 'someone')})"
        case ActionKind.SILENCE:
            text = f"silence failed ({d['error']})" if "error" in d else \
                f"silenced until {ends} (silence {d.get('silence_id')})"
        case ActionKind.UNSILENCE:
            text = f"unsilenced (silence {d.get('silence_id')} expired)"
        case ActionKind.SILENCE_EXTEND:
            text = f"silence extended to {ends}"
        case ActionKind.SILENCE_EXPIRE:
            text = f"silence {d.get('silence_id')} expired (/genai silences)"
        case ActionKind.DIAG:
            run = diagnoses.get(a.id)
            text = f"diagnostics run ({run.outcome})" if run else "diagnostics run"
        case ActionKind.FINDINGS:
            text = (f"findings added ({plural(int(d.get('findings', 0)), 'finding')}, "
                    f"{plural(int(d.get('action_items', 0)), 'action item')})")
        case ActionKind.ESCALATE:
            text = (f"escalated (step {d.get('step', '?')}) to "
                    f"{_names(d.get('who') or d.get('notified'))}")
        case ActionKind.RESOLVE:
            # A Resolve on an incident already resolved changed nothing: not an event.
            if not d.get("changed"):
                return None
            text = "resolved"
        case _:
            text = a.kind.value
    return Moment(at, text, a.user_id)


# ---------------------------------------------------------------------- diagnostics


def _verdict(d: Mapping[str, Any], report: Report | None) -> str:
    """What a Run diagnostics concluded, from its audit detail (and its report's rows)."""
    if d.get("scenario") == "none":
        return "no scenario fits this alert: the runbook's steps"
    if "missing_label" in d:
        return f"could not run (no {d['missing_label']} label): the runbook's steps"
    if "error" in d:
        return f"failed ({d['error']}): the runbook's steps"
    summary = str(d.get("summary") or d.get("title") or "")
    if report is not None and not report.rows:
        # Nothing was checked (no such pod, say): its "ok" would read as a clean bill.
        return summary or "nothing checked"
    return str(d.get("status", "unknown")) + (f" — {summary}" if summary else "")


def _diag_run(h: IncidentHistory, a: Action) -> DiagRun:
    report = h.diag_reports.get(a.id)
    findings = []
    if report is not None:
        for row in report.rows:
            if row.status in _ROWS_SHOWN:
                line = f"{row.status.value} {row.check}: {row.value}"
                findings.append(line + (f" ({row.detail})" if row.detail else ""))
    scenario = str(a.detail.get("scenario", "?"))
    title = str(a.detail.get("title") or (report.title if report else "") or scenario)
    return DiagRun(as_utc(a.at), a.user_id, scenario, title, _verdict(a.detail, report),
                   findings)


# ---------------------------------------------------------------------- durations, values


def _measures(h: IncidentHistory, diagnoses: list[DiagRun]) -> list[Measure]:
    inc = h.incident
    start = as_utc(inc.began_at)
    pending = "not yet" if inc.is_open else "never"

    def since(at: datetime | None) -> float | None:
        # Never negative: Alertmanager's clock and ours may disagree by a little.
        return None if at is None else max(0.0, (as_utc(at) - start).total_seconds())

    first_diag = diagnoses[0] if diagnoses else None
    resolver = None if inc.is_open else inc.resolved_by or ALERTMANAGER
    return [
        Measure("Time to detect (TTD)", since(h.posted_at), None,
                pending="not posted alone" if inc.digest_id is not None else "not posted"),
        Measure(TTA, since(inc.acked_at), inc.acked_by, pending=pending),
        Measure("Time to diagnosis", since(first_diag.at if first_diag else None),
                first_diag.by if first_diag else None, pending=pending),
        Measure(TTR, since(inc.finished_at), resolver, pending="still firing"),
    ]


def _reported(h: IncidentHistory) -> list[Reported]:
    """The summary and description of each firing notification, when they changed: the
    values over time. A resolved notification repeats the last firing annotations (stale),
    so it adds nothing here."""
    out: list[Reported] = []
    last = None
    for event in h.events:
        if event.status != "firing":
            continue
        view = AlertView.from_incident(h.incident, event)
        text = " — ".join(t for t in (view.summary(), view.description()) if t)
        if text and text != last:
            out.append(Reported(as_utc(event.received_at), text))
            last = text
    return out


def _max_alerts(h: IncidentHistory) -> int:
    best = 0
    for event in h.events:
        alerts = event.alerts if isinstance(event.alerts, list) else []
        best = max(best, len(alerts) + int(event.truncated_alerts or 0))
    return best
