"""Escalation of unacknowledged incidents, by the policy of their severity.

Each step of a policy (``escalation.policies``) mentions its groups and users in the
incident's thread once the incident has gone unacknowledged for the step's ``after`` since
it began firing (Alertmanager's startsAt). Acknowledge, Silence and Resolve stop the policy.
:meth:`Escalator.tick` runs on every replica; the store fires each step exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from bot.config.sections import EscalationSettings, EscalationStep
from bot.store.escalations import CHANNEL, EscalationStore, Waiting
from bot.times import as_utc

log = structlog.get_logger(__name__)


def notified(step: EscalationStep) -> list[str]:
    """Whom a step mentions: its ids in order, then :data:`CHANNEL` if it pings the channel."""
    return list(dict.fromkeys(step.notify)) + ([CHANNEL] if step.channel else [])


class Escalator:
    def __init__(self, store: EscalationStore, settings: EscalationSettings,
                 notify: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.settings = settings
        self.notify = notify  # wakes the outbox after a commit that queued messages

    def policy_for(self, severity: str | None) -> list[EscalationStep]:
        """The steps for ``severity`` (case and spaces ignored); empty: it never escalates."""
        return self.settings.policies.get((severity or "").strip().lower(), [])

    def due(self, incident: Waiting, now: datetime) -> list[tuple[int, EscalationStep]]:
        """The steps (numbered from 1) whose time has come and that have not fired. All that
        are due fire at once: after a restart that kept the bot down past two steps, both
        groups are told, each once."""
        at = as_utc(now)
        return [(number, step)
                for number, step in enumerate(self.policy_for(incident.severity), start=1)
                if number not in incident.fired
                and incident.began_at + timedelta(minutes=step.minutes) <= at]

    def tick(self, now: datetime) -> None:
        """Fire every step that has come due (the ticker's task)."""
        if not self.settings.policies:
            return
        count = 0
        for incident in self.store.waiting(self.settings.policies.keys(),
                                           drills=self.settings.drills):
            steps = self.policy_for(incident.severity)
            for number, step in self.due(incident, now):
                who = notified(step)
                note = f"step {number} of {len(steps)}, {step.after} after it began firing"
                if self.store.fire(incident.incident_id, number, who, note=note,
                                   detail={"after": step.after, "severity": incident.severity},
                                   now=now):
                    count += 1
                    log.info("incident_escalated", incident=incident.public_id, step=number,
                             notified=who)
        if count:
            self.notify()
