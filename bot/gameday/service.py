"""The drill lifecycle, Slack-free: start (and inject), join, diagnose, resolve or end,
findings, reports, prompts. The listeners, the commands and the scheduler all call this; it
queues typed messages (reports, prompts), never Block Kit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from bot.buttons import Button
from bot.channels import Channels
from bot.config import GamedaySettings
from bot.errors import SourceError
from bot.gameday.catalog import Catalog, Scenario
from bot.gameday.report import DrillSummary, build_report, to_markdown
from bot.gameday.store import DrillRunning, GamedayStore
from bot.gameday.timings import compute, participants
from bot.messages import DrillPrompt, PromptClosed, ReportPost
from bot.report import Action, Report, Section
from bot.roles import Role, RoleResolver
from bot.sources.alertmanager import AlertmanagerSource
from bot.store import Drill, Incident
from bot.store.db import Database
from bot.store.models import GamedayPrompt
from bot.store.states import DrillEventKind, DrillStatus, PromptStatus
from bot.times import utcnow
from bot.words import plural

log = structlog.get_logger(__name__)


class UnknownScenario(LookupError):
    def __init__(self, name: str, suggestion: str | None) -> None:
        super().__init__(name)
        self.name, self.suggestion = name, suggestion


@dataclass(frozen=True)
class Started:
    drill: Drill
    scenario: Scenario
    injected: bool
    inject_error: str | None


class Gameday:
    def __init__(self, db: Database, settings: GamedaySettings, roles: RoleResolver,
                 alertmanager: AlertmanagerSource, catalog: Catalog, channels: Channels,
                 notify: Callable[[], None] = lambda: None) -> None:
        self.drills = GamedayStore(db)
        self.settings = settings
        self.roles = roles
        self.alertmanager = alertmanager
        self.catalog = catalog
        self.channels = channels
        self.notify = notify

    @property
    def channel(self) -> str:
        return self.channels.gameday

    def scenario(self, name: str) -> Scenario:
        found = self.catalog.get(name)
        if found is None:
            raise UnknownScenario(name, self.catalog.closest(name))
        return found

    # ------------------------------------------------------------------ lifecycle

    def start(self, scenario_id: str, user: str, *, inject: bool = True,
              job: str | None = None, joined: list[str] | None = None) -> Started:
        """Raises UnknownScenario or DrillRunning."""
        scenario = self.scenario(scenario_id)
        drill = self.drills.start(scenario.id, user, utcnow(), job=job, joined=joined)
        error = None
        if inject and scenario.inject is not None:
            error = self._inject(drill, scenario)
        return Started(drill, scenario, inject and scenario.inject is not None and not error,
                       error)

    def _alert(self, drill: Drill, scenario: Scenario, *, ends_in: timedelta) -> dict[str, Any]:
        assert scenario.inject is not None
        now = utcnow()
        return {
            "labels": {**scenario.inject.labels, "gameday": "true", "drill_id": drill.public_id},
            "annotations": {**scenario.inject.annotations,
                            "drill": f"Game Day {drill.public_id}: {scenario.title}"},
            "startsAt": drill.started_at.isoformat(),
            "endsAt": (now + ends_in).isoformat(),
        }

    def _inject(self, drill: Drill, scenario: Scenario) -> str | None:
        assert scenario.inject is not None
        alert = self._alert(drill, scenario,
                            ends_in=timedelta(minutes=scenario.inject.duration_min))
        try:
            self.alertmanager.post_alerts([alert])
        except SourceError as exc:
            self.drills.add_event(drill.id, DrillEventKind.INJECT_FAILED, None, utcnow(),
                                  {"reason": exc.reason})
            return exc.reason
        self.drills.add_event(drill.id, DrillEventKind.INJECTED, None, utcnow(),
                              {"alertname": scenario.inject.alertname})
        return None

    def end(self, drill: Drill, user: str | None, how: str,
            at: datetime | None = None) -> Drill | None:
        """End the drill once; the injected alert is ended in Alertmanager too (endsAt=now),
        so its incident resolves through the normal path."""
        ended = self.drills.end(drill.id, user, at or utcnow(), how)
        if ended is None:
            return None
        scenario = self.catalog.get(ended.scenario)
        injected = any(e.kind is DrillEventKind.INJECTED for e in self.drills.events(ended.id))
        if injected and scenario is not None and scenario.inject is not None:
            try:
                self.alertmanager.post_alerts([self._alert(ended, scenario,
                                                           ends_in=timedelta(0))])
            except SourceError as exc:
                log.warning("gameday_expire_alert_failed", drill=ended.public_id,
                            error=exc.reason)
        return ended

    def on_incident_resolved(self, incident: Incident, user: str) -> None:
        """The Resolve button on the drill's alert resolves (and ends) the drill; the report
        goes to the drill channel."""
        drill_id = str(incident.labels.get("drill_id", ""))
        if not incident.drill or not drill_id:
            return
        drill = self.drills.get(drill_id)
        if drill is None or drill.status is not DrillStatus.RUNNING:
            return
        ended = self.end(drill, user, "resolve", incident.resolved_at)
        if ended is None:
            return
        self.drills.enqueue(self.channel, ReportPost(report=self.report(ended)),
                            f"gameday:{ended.public_id}:report", utcnow())
        self.notify()

    def note_diag(self, user: str, args: list[str]) -> None:
        """A `/genai diag` run while a drill runs counts as a diagnosis step."""
        drill = self.drills.running()
        if drill is not None:
            self.drills.add_event(drill.id, DrillEventKind.DIAG, user, utcnow(),
                                  {"args": args[:5]})

    def join(self, value: str, user: str) -> str:
        """Join a prompt (p:<id>) before the drill, or a drill (d:<id>)."""
        kind, _, pid = value.partition(":")
        if kind == "p":
            prompt = self.drills.join_prompt(pid, user)
            if prompt is None:
                return "That prompt no longer exists."
            if prompt.drill_id is not None and prompt.status is PromptStatus.STARTED:
                drill = self.drills.running()
                if drill is not None and drill.id == prompt.drill_id:
                    self.drills.add_event(drill.id, DrillEventKind.JOINED, user, utcnow())
            return "You joined the drill."
        drill = self.drills.get(pid)
        if drill is None or drill.status is not DrillStatus.RUNNING:
            return "That drill is not running."
        self.drills.add_event(drill.id, DrillEventKind.JOINED, user, utcnow())
        return f"You joined drill {drill.public_id}."

    def refusal(self, user: str, what: str, needed: Role) -> str | None:
        """Why ``user`` may not ``what`` (None if they may)."""
        caller = self.roles.caller(user)
        return None if caller.may(needed) else caller.refusal(what, needed)

    def start_from_prompt(self, prompt_id: str, user: str) -> str:
        refused = self.refusal(user, "start drills", Role.ADMIN)
        if refused:
            return refused
        prompt = self.drills.prompt(prompt_id)
        if prompt is None or prompt.status is not PromptStatus.POSTED:
            return "That prompt was already started or skipped."
        try:
            started = self.start(prompt.scenario, user, job=prompt.job, joined=prompt.joined)
        except DrillRunning as exc:
            return f"Drill {exc.drill.public_id} is already running."
        if not self.drills.decide_prompt(prompt_id, PromptStatus.STARTED, user,
                                         started.drill.id):
            # Another click won between our check and our start: undo ours.
            self.end(started.drill, user, "duplicate start")
            return "That prompt was already started."
        self._close_prompt(prompt, f"Started by {user}: drill {started.drill.public_id}.")
        self.post_briefing(started)
        return f"Drill {started.drill.public_id} started."

    def skip(self, prompt_id: str, user: str) -> str:
        refused = self.refusal(user, "skip drills", Role.ADMIN)
        if refused:
            return refused
        if self.drills.decide_prompt(prompt_id, PromptStatus.SKIPPED, user):
            prompt = self.drills.prompt(prompt_id)
            if prompt is not None:
                self._close_prompt(prompt, f"Skipped by {user}.")
            return "Skipped this drill."
        return "That prompt was already started or skipped."

    def _close_prompt(self, prompt: GamedayPrompt, outcome: str) -> None:
        """Edit the prompt: its buttons go, the outcome shows (a second click has nothing
        left to press)."""
        posted = self.drills.prompt_post(prompt)
        if posted is None:
            return
        channel, ts = posted
        self.drills.enqueue(channel, PromptClosed(prompt=prompt.public_id,
                                                  title=self._title(prompt.scenario),
                                                  outcome=outcome, ts=ts),
                            f"gameday:prompt:{prompt.public_id}:closed", utcnow())
        self.notify()

    def _title(self, scenario_id: str) -> str:
        scenario = self.catalog.get(scenario_id)
        return scenario.title if scenario else scenario_id

    def post_briefing(self, started: Started) -> None:
        self.drills.enqueue(self.channel, ReportPost(report=briefing(started)),
                            f"gameday:{started.drill.public_id}:briefing", utcnow())
        self.notify()

    def add_findings(self, public_id: str, user: str, findings: list[str],
                     items: list[dict[str, Any]]) -> str:
        refused = self.refusal(user, "add findings", Role.RESPONDER)
        if refused:
            return refused
        drill = self.drills.add_findings(public_id, user, findings, items, utcnow())
        if drill is None:
            return "That drill no longer exists."
        return f"Saved {plural(len(findings), 'finding')} and " \
               f"{plural(len(items), 'action item')}."

    # ------------------------------------------------------------------ reports

    def summary(self, drill: Drill) -> DrillSummary:
        scenario = self.catalog.get(drill.scenario)
        events = self.drills.events(drill.id)
        facts = self.drills.link_incident(drill)
        timings = compute(drill, events, facts, scenario.targets) if scenario else None
        return DrillSummary(drill, scenario, events, facts, timings,
                            participants(drill, events, facts))

    def report(self, drill: Drill) -> Report:
        return build_report(self.summary(drill))

    def markdown(self, drill: Drill) -> str:
        return to_markdown(self.summary(drill))

    def prompt_message(self, prompt: GamedayPrompt, late: bool) -> DrillPrompt:
        return DrillPrompt(prompt=prompt.public_id, title=self._title(prompt.scenario),
                           job=prompt.job, scheduled_for=prompt.scheduled_for, late=late)


def briefing(started: Started) -> Report:
    s, d = started.scenario, started.drill
    lines = [s.briefing]
    if started.injected and s.inject is not None:
        lines.append(f"Injected {s.inject.alertname} through Alertmanager: it arrives here "
                     "marked [DRILL]. Ack, Run diagnostics and Resolve it with its buttons.")
    elif started.inject_error:
        lines.append(f"Injection failed: {started.inject_error}. Run it as a tabletop drill.")
    lines.append("End with Resolve on the alert or /genai gameday end.")
    return Report(
        title=f"🎯 Game Day {d.public_id} started: {s.title}",
        sections=[Section(lines=lines),
                  Section(title="Success criteria", lines=[f"☐ {c}" for c in
                                                          s.success_criteria]),
                  Section(title="Hints", lines=s.hints or ["none"])],
        actions=[Action(action_id=Button.DRILL_JOIN, label="Join", value=f"d:{d.public_id}"),
                 Action(action_id=Button.DRILL_FINDINGS, label="Add findings",
                        value=d.public_id)],
        footer=f"targets: detect {s.targets.detect_min:g} min · ack {s.targets.ack_min:g} min"
               f" · diagnose {s.targets.diagnose_min:g} min · resolve "
               f"{s.targets.resolve_min:g} min",
    )
