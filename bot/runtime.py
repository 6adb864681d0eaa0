"""Wiring: everything one bot process shares, built once, in dependency order, and never
patched afterwards. Slack-free: the Slack layer receives this and adds the Slack side."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from bot.alerts.digest import DigestTicker, digest_policy
from bot.alerts.escalation import Escalator
from bot.alerts.incidents import IncidentService
from bot.alerts.intake import Intake
from bot.alerts.ticker import Ticker
from bot.alerts.view import AlertView
from bot.channels import Channels
from bot.config import Settings
from bot.dispatch import Invocation, execute
from bot.gameday.catalog import load_catalog
from bot.gameday.service import Gameday
from bot.jobs import JobPool, Wakeup
from bot.report import Report
from bot.roles import Caller, GroupMembers, RoleResolver
from bot.runbooks import Runbook, RunbookIndex, load_runbooks
from bot.sources.alertmanager import AlertmanagerSource
from bot.sources.aws import AwsClients
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from bot.store import Store, open_store
from bot.times import utcnow
from commands.base import Context
from commands.diag.alert import for_alert

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    prometheus: PrometheusSource
    kubernetes: KubernetesSource
    aws: AwsClients
    alertmanager: AlertmanagerSource
    store: Store
    runbooks: RunbookIndex
    roles: RoleResolver
    channels: Channels
    jobs: JobPool  # the work behind an acked command or click
    fanout: ThreadPoolExecutor  # the backend calls of a command, side by side
    wakeup: Wakeup  # "new outbox rows": producers notify, the outbox worker waits
    intake: Intake
    gameday: Gameday
    incidents: IncidentService
    ticker: Ticker  # escalations coming due, digests closing: what time alone changes

    @classmethod
    def from_settings(cls, settings: Settings, members_of: GroupMembers | None = None,
                      store: Store | None = None,
                      now: Callable[[], datetime] = utcnow) -> Runtime:
        """Everything, in dependency order. Runbooks, the drill catalog and the schema are
        checked here: a bad file or an unreachable database stops the bot at start-up.
        ``now`` is the clock of what time alone changes (a test passes its own)."""
        alertmanager = AlertmanagerSource(settings.alertmanager.url,
                                          settings.alertmanager.timeout_s)
        prometheus = PrometheusSource(settings.prometheus.url, settings.prometheus.timeout_s)
        kubernetes = KubernetesSource(settings.kubernetes)
        aws = AwsClients(settings.aws)
        fanout = ThreadPoolExecutor(settings.jobs.fanout_threads, thread_name_prefix="fanout")
        store = store or open_store(settings.database_url)
        runbooks = load_runbooks()
        roles = RoleResolver(settings.roles, members_of)
        channels = Channels(settings.channels)
        wakeup = Wakeup()
        storm = digest_policy(settings.alerts)  # the intake decides, the ticker follows up
        catalog = load_catalog(alert_names=set(runbooks.alerts()),
                               runbook_ids={rb.id for rb in runbooks})
        gameday = Gameday(store.db, settings.gameday, roles, alertmanager, catalog, channels,
                          wakeup.notify)

        def diagnose(view: AlertView, runbook: Runbook, caller: Caller,
                     ) -> tuple[Report, dict[str, Any]]:
            # The diagnosis runs the diag and quick-look commands, as the one who pressed.
            ctx = Context(settings=settings, prometheus=prometheus, kubernetes=kubernetes,
                          user_id=caller.user_id, role=caller.role, fanout=fanout,
                          store=store, aws=aws, gameday=gameday)
            found = for_alert(ctx, view.alertname, runbook, view.target_labels())
            return found.report, dict(found.detail)

        return cls(
            settings=settings, prometheus=prometheus, kubernetes=kubernetes, aws=aws,
            alertmanager=alertmanager, store=store, runbooks=runbooks, roles=roles,
            channels=channels,
            jobs=JobPool(settings.jobs.workers, settings.jobs.queue_limit),
            fanout=fanout, wakeup=wakeup,
            intake=Intake(store.intake.with_digest(storm, now), channels, settings.webhook_token,
                          settings.alerts.webhook_max_bytes, wakeup.notify),
            gameday=gameday,
            incidents=IncidentService(
                store.incidents, roles, alertmanager, runbooks,
                settings.alerts.silence_durations, diagnose,
                on_resolved=gameday.on_incident_resolved, notify=wakeup.notify),
            ticker=Ticker(tasks=[
                Escalator(store.escalations, settings.escalation, wakeup.notify).tick,
                DigestTicker(store.digests, storm, wakeup.notify).tick,
            ], interval_s=settings.alerts.tick_s, now=now),
        )

    def context(self, caller: Caller) -> Context:
        return Context(settings=self.settings, prometheus=self.prometheus,
                       kubernetes=self.kubernetes, user_id=caller.user_id, role=caller.role,
                       fanout=self.fanout, store=self.store, aws=self.aws,
                       gameday=self.gameday, incidents=self.incidents)

    def execute(self, invocation: Invocation, caller: Caller) -> Report:
        """Run one command for ``caller`` (never raises; see :func:`bot.dispatch.execute`)."""
        done = execute(invocation, self.context(caller))
        if invocation.command.name == "diag" and done.outcome == "ok" \
                and not done.report.private:
            # A diagnosis step of a running drill (time to diagnosis); a typo'd pod,
            # answered privately, is not one.
            self.gameday.note_diag(caller.user_id, invocation.args)
        return done.report

    def close(self) -> None:
        self.jobs.shutdown(wait=False)
        self.fanout.shutdown(wait=False, cancel_futures=True)
        self.intake.close()
        self.store.db.dispose()
