"""Storm digests, Slack-free: the tick that follows each digest, and what a responder does
from one.

The intake decides which incidents a digest counts (:mod:`bot.store.digests`). Time alone
does the rest, in :class:`DigestTicker`: once the digest's post is out its ts is kept (and
its incidents point at it), a digest whose channel has been quiet for ``quiet`` closes (the
channel's new incidents are posted one by one again), and whenever what a digest shows has
changed (new incidents, acknowledged, silenced, resolved, closed) one edit is queued for the
current time bucket, so a digest is edited at most once per ``edit_interval`` and its last
edit shows it as it ended.

:class:`DigestActions` acknowledges or silences one alert name of a digest: each incident
through the incident service (so each gets its audit row), one Alertmanager silence for all.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from bot.alerts.incidents import REQUIRED, IncidentService, Outcome
from bot.alerts.silences import parse_duration
from bot.config import AlertSettings
from bot.errors import SourceError
from bot.store import Incident
from bot.store.digests import DigestPolicy, DigestStore
from bot.store.states import ActionKind
from bot.times import utcnow
from bot.words import plural

log = structlog.get_logger(__name__)


def digest_policy(alerts: AlertSettings) -> DigestPolicy:
    return DigestPolicy(threshold=alerts.digest_threshold,
                        window=timedelta(seconds=alerts.digest_window_s),
                        edit_interval=timedelta(seconds=alerts.digest_edit_interval_s),
                        quiet=timedelta(seconds=alerts.digest_quiet_s))


class DigestTicker:
    """The digests' tick task (see the module docstring). Every replica ticks: a close is
    a conditional update and an edit a unique key per time bucket, so nothing happens
    twice; what each replica remembers (the counts it last queued an edit for) only saves
    queries."""

    def __init__(self, digests: DigestStore, policy: DigestPolicy,
                 notify: Callable[[], None] = lambda: None) -> None:
        self.digests = digests
        self.policy = policy
        self.notify = notify  # wakes the outbox after an edit was queued
        self._seen: dict[int, tuple[int, ...]] = {}
        self._lock = threading.Lock()  # the ticker thread, and tests calling tick()

    def tick(self, now: datetime) -> None:
        queued = False
        with self._lock:
            states = self.digests.states(now)
            for state in states:
                if state.slack_ts is None:
                    ts = self.digests.learn_ts(state.id, now)
                    state = replace(state, slack_ts=ts) if ts else state
                elif state.unlinked:  # joined while the ts was being learned
                    self.digests.link(state.id, state.slack_ts)
                quiet_since = now - self.policy.quiet
                if state.is_open and state.last_incident_at <= quiet_since \
                        and self.digests.close(state.id, now, self.policy.quiet):
                    state = replace(state, is_open=False)
                    log.info("digest.closed", digest=state.public_id, channel=state.channel,
                             incidents=state.total)
                if state.slack_ts is None or self._seen.get(state.id) == state.version:
                    continue
                if self.digests.request_edit(state, now, self.policy.edit_interval):
                    self._seen[state.id] = state.version
                    queued = True
            followed = {s.id for s in states}
            self._seen = {k: v for k, v in self._seen.items() if k in followed}
        if queued:
            self.notify()


def severity_matchers(severities: Iterable[str | None]) -> list[dict[str, Any]]:
    """The severity matcher of a digest's silence: the severities its incidents of that
    alert name have (those are what routed them to the channel). A missing label matches
    as the empty string, as in Alertmanager."""
    values = sorted({s or "" for s in severities})
    if len(values) == 1:
        return [{"name": "severity", "value": values[0], "isRegex": False, "isEqual": True}]
    return [{"name": "severity", "value": "|".join(re.escape(v) for v in values),
             "isRegex": True, "isEqual": True}]


def _gone(value: str) -> Outcome:
    return Outcome(False, f"That digest entry ({value!r}) no longer exists; /genai alerts "
                          "lists the open incidents.")


class DigestActions:
    """Acknowledge or silence one alert name of a storm digest. The buttons carry
    ``"<digest id>|<alert name key>"`` (and ``"|<duration>"`` for a silence)."""

    def __init__(self, incidents: IncidentService, digests: DigestStore | None = None) -> None:
        self.service = incidents
        self.digests = digests or DigestStore(incidents.incidents.db)

    def _refusal(self, kind: ActionKind, user_id: str,
                 detail: dict[str, Any]) -> Outcome | None:
        """None if ``user_id`` may; else the refusal, audited once for the digest (the
        incidents are not touched, so they get no row)."""
        caller = self.service.roles.caller(user_id)
        needed = REQUIRED[kind]
        if caller.may(needed):
            return None
        info: dict[str, Any] = {"role": caller.role.label, **detail}
        if caller.lookup_error:
            info["lookup_error"] = caller.lookup_error
        self.service.incidents.record_action(None, kind, user_id, allowed=False, detail=info)
        return Outcome(False, caller.refusal(f"{kind.verb} alerts", needed))

    def _members(self, value: str) -> tuple[str, str, list[Incident]] | None:
        """(channel, alert name, its incidents in the digest) for a button's value."""
        public_id, _, key = value.partition("|")
        found = self.digests.members(public_id, key) if public_id and key else None
        if found is None or not found[1]:
            return None
        digest, members = found
        return digest.channel, members[0].alertname, members

    def acknowledge(self, user_id: str, value: str) -> Outcome:
        found = self._members(value)
        refused = self._refusal(ActionKind.ACK, user_id, _detail(value, found))
        if refused:
            return refused
        if found is None:
            return _gone(value)
        _, name, members = found
        todo = [i.public_id for i in members if i.is_open and i.acked_at is None]
        done = 0
        for public_id in todo:  # one by one: each is audited with its own time to ack
            outcome = self.service.acknowledge(public_id, user_id)
            done += outcome.ok and outcome.changed
        if not done:
            return Outcome(True, f"Every open {name} incident of this digest was already "
                                 "acknowledged.", changed=False)
        return Outcome(True, f"Acknowledged {plural(done, f'{name} incident')} of the digest.")

    def silence(self, user_id: str, value: str) -> Outcome:
        ref, _, duration = value.rpartition("|")
        found = self._members(ref)
        detail = {**_detail(ref, found), "duration": duration}
        refused = self._refusal(ActionKind.SILENCE, user_id, detail)
        if refused:
            return refused
        if duration not in self.service.silence_durations:
            offered = ", ".join(self.service.silence_durations)
            return Outcome(False, f"Silence for {duration!r} is not offered here; choose one "
                                  f"of {offered}.")
        if found is None:
            return _gone(ref)
        channel, name, members = found
        severities = {i.severity for i in members}
        covered = [i for i in self.digests.open_in_channel(channel, name)
                   if i.severity in severities]
        now = utcnow()
        until = now + parse_duration(duration)
        matchers = [{"name": "alertname", "value": name, "isRegex": False, "isEqual": True},
                    *severity_matchers(severities)]
        try:
            silence_id = self.service.alertmanager.create_silence(
                matchers, now, until, created_by=user_id,
                comment=f"genai-ops-bot: {name} silenced for {duration} from the storm digest "
                        f"in Slack ({plural(len(covered), 'open incident')})")
        except SourceError as exc:
            self.service.incidents.record_action(None, ActionKind.SILENCE, user_id, allowed=True,
                                                 detail={**detail, "error": exc.reason})
            return Outcome(False, f"Alertmanager refused the silence: {exc.reason}")
        note = f"for {duration} (silence {silence_id}, every {name} from the storm digest)"
        for inc in covered:  # each audited, and a posted one's card shows it
            self.service.incidents.set_silence(inc.public_id, silence_id, until, user_id, note,
                                               now=now)
        self.service.notify()
        return Outcome(True, f"Silenced {name} for {duration} (silence {silence_id}): "
                             f"{plural(len(covered), 'open incident')}.")


def _detail(value: str, found: tuple[str, str, list[Incident]] | None) -> dict[str, Any]:
    """What the audit log keeps of a digest click."""
    digest = value.partition("|")[0]
    return {"digest": digest, "alertname": found[1]} if found else {"digest": digest,
                                                                     "value": value}
