"""The one table from a typed outbox message to the Slack message that shows it.

Rendering happens at send time, from the incident as it is then: a late edit never shows a
stale state, and the card's Silence choices are the configured ones. A renderer that finds
nothing to show (the incident is gone) returns None and the row is dropped. A digested
incident has no card: its card edits and routine notes are dropped (its storm digest shows
it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bot.alerts.diagnosis import steps_report
from bot.alerts.view import AlertView
from bot.buttons import Button
from bot.messages import (
    Diagnosis,
    DigestPost,
    DigestUpdate,
    DrillPrompt,
    IncidentPost,
    IncidentUpdate,
    NoteKind,
    OutboxMessage,
    PromptClosed,
    ReportPost,
    ThreadNote,
)
from bot.report import Action, Report, Section
from bot.runbooks import Runbook, RunbookIndex
from bot.slack.render.card import incident_message
from bot.slack.render.digest import digest_message
from bot.slack.render.notes import action_note, escalation_note, resolved_note
from bot.slack.render.report import report_message
from bot.slack.render.runbook import runbook_thread
from bot.store.digests import DigestStore
from bot.store.escalations import EscalationStore
from bot.store.incidents import IncidentStore
from bot.times import utcnow

SlackMessage = dict[str, Any]


@dataclass(frozen=True)
class _Found:
    view: AlertView
    runbook: Runbook
    digested: bool = False  # counted in a storm digest: no card of its own


class MessageRenderer:
    """Renders any :data:`~bot.messages.OutboxMessage`; see :data:`_TABLE`."""

    def __init__(self, incidents: IncidentStore, runbooks: RunbookIndex,
                 silence_durations: Sequence[str], public_url: str | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.incidents = incidents
        self.escalations = EscalationStore(incidents.db)  # the card's "Escalated to" lines
        self.digests = DigestStore(incidents.db)
        self.runbooks = runbooks
        self.silence_durations = list(silence_durations)
        self.public_url = public_url
        self.clock = clock

    def page_of(self, runbook: Runbook) -> str | None:
        """The bot's own page of ``runbook``, when people can reach the bot."""
        if self.public_url is None:
            return None
        return f"{self.public_url}/runbooks/{quote(runbook.alert or runbook.id)}"

    def __call__(self, message: OutboxMessage) -> SlackMessage | None:
        render: Callable[[MessageRenderer, Any], SlackMessage | None] = _TABLE[type(message)]
        return render(self, message)

    def incident(self, public_id: str) -> _Found | None:
        found = self.incidents.with_latest_event(public_id)
        if found is None:
            return None
        view = AlertView.from_incident(*found)
        return _Found(view, self.runbooks.for_alert(view.alertname),
                      found[0].digest_id is not None)


# What the digest's counts show already: a note for each of a storm's incidents would be
# the spam the digest is there to stop (an escalation still goes to the digest's thread).
_DIGEST_SHOWS = frozenset({NoteKind.ACK, NoteKind.SILENCE, NoteKind.UNSILENCE,
                           NoteKind.RESOLVED, NoteKind.RUNBOOK})


def _digest(r: MessageRenderer, m: DigestPost | DigestUpdate) -> SlackMessage | None:
    now = r.clock()
    summary = r.digests.summary(m.digest, now)
    if summary is None:
        return None
    return digest_message(summary, now=now, silence_durations=r.silence_durations)


def _card(r: MessageRenderer, m: IncidentPost | IncidentUpdate) -> SlackMessage | None:
    found = r.incident(m.incident)
    if found is None or found.digested:
        return None
    return incident_message(found.view, found.runbook, now=r.clock(),
                            silence_durations=r.silence_durations,
                            runbook_page=r.page_of(found.runbook),
                            escalations=r.escalations.fired(m.incident))


def _note(r: MessageRenderer, m: ThreadNote) -> SlackMessage | None:
    found = r.incident(m.incident)
    if found is None or (found.digested and m.note in _DIGEST_SHOWS):
        return None
    if m.note is NoteKind.RUNBOOK:
        return runbook_thread(found.view, found.runbook, r.page_of(found.runbook))
    if m.note is NoteKind.RESOLVED:
        return resolved_note(found.view, now=r.clock())
    if m.note is NoteKind.ESCALATED:
        return escalation_note(found.view, m.mentions, m.detail, digested=found.digested)
    return action_note(m.note, m.user, found.view, detail=m.detail)


def _diagnosis(r: MessageRenderer, m: Diagnosis) -> SlackMessage | None:
    found = r.incident(m.incident)
    if found is None:
        return None
    if m.report is None:  # written by 0.1: the runbook's steps
        report = steps_report(found.view.alertname, found.runbook, m.missing_label)
    else:
        report = m.report.model_copy(deep=True)
    report.footer = " · ".join(p for p in (report.footer, f"incident {m.incident}") if p)
    return report_message(report)


def _report(_r: MessageRenderer, m: ReportPost) -> SlackMessage:
    return report_message(m.report)


def _drill_prompt(_r: MessageRenderer, m: DrillPrompt) -> SlackMessage:
    when = m.scheduled_for.strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Scheduled drill ({m.job}) for {when}: {m.title}."]
    if m.late:
        lines.append("Posted late: the bot was down at the scheduled time.")
    lines.append("Join to take part; an admin starts it (the alert is injected for real, "
                 "marked [DRILL], in this channel only) or skips it.")
    return report_message(Report(
        title=f"🎯 Game Day: {m.title}", sections=[Section(lines=lines)],
        actions=[Action(action_id=Button.DRILL_JOIN, label="Join", value=f"p:{m.prompt}"),
                 Action(action_id=Button.DRILL_START, label="Start now", value=m.prompt,
                        style="primary"),
                 Action(action_id=Button.DRILL_SKIP, label="Skip", value=m.prompt)],
    ))


def _prompt_closed(_r: MessageRenderer, m: PromptClosed) -> SlackMessage:
    # The buttons go: a second click has nothing left to press.
    return report_message(Report(title=f"🎯 Game Day: {m.title}",
                                 sections=[Section(lines=[m.outcome])]))


_TABLE: dict[type[Any], Callable[[MessageRenderer, Any], SlackMessage | None]] = {
    IncidentPost: _card,
    IncidentUpdate: _card,
    ThreadNote: _note,
    Diagnosis: _diagnosis,
    ReportPost: _report,
    DrillPrompt: _drill_prompt,
    PromptClosed: _prompt_closed,
    DigestPost: _digest,
    DigestUpdate: _digest,
}
