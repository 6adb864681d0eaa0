"""Wiring: the sources, pools and role resolver one bot process shares."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import structlog

from bot.alerts.intake import Intake
from bot.config import Settings
from bot.dispatch import Invocation, usage_report
from bot.errors import UsageError
from bot.gameday.catalog import load_catalog
from bot.gameday.service import Gameday
from bot.jobs import JobPool
from bot.metrics import COMMAND_SECONDS, COMMANDS
from bot.report import Report
from bot.roles import GroupMembers, Role, RoleResolver
from bot.runbooks import RunbookIndex, load_runbooks
from bot.sources.alertmanager import AlertmanagerSource
from bot.sources.aws import AwsClients
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from bot.store import Store, open_store
from commands.base import Context

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    prometheus: PrometheusSource
    kubernetes: KubernetesSource
    roles: RoleResolver
    jobs: JobPool
    fanout: ThreadPoolExecutor
    store: Store
    runbooks: RunbookIndex
    alertmanager: AlertmanagerSource
    aws: AwsClients
    ready: Callable[[], bool] = field(default=lambda: True)
    intake: Intake = field(init=False)
    # Set by the server once the outbox worker runs: wakes it after a commit.
    notify_outbox: Callable[[], None] = field(default=lambda: None)
    gameday: Gameday = field(init=False)

    def __post_init__(self) -> None:
        self.intake = Intake(self.store, self.settings, lambda _: self.notify_outbox())
        # The catalog is checked at start-up, against the alerts that have runbooks.
        catalog = load_catalog(alert_names=set(self.runbooks.alerts()),
                               runbook_ids={rb.id for rb in self.runbooks})
        self.gameday = Gameday(self.store, self.settings, self.alertmanager, catalog,
                               self.intake.channel_ids, lambda: self.notify_outbox())

    @classmethod
    def from_settings(
        cls, settings: Settings, members_of: GroupMembers | None = None
    ) -> Runtime:
        return cls(
            settings=settings,
            prometheus=PrometheusSource(settings.prometheus.url, settings.prometheus.timeout_s),
            kubernetes=KubernetesSource(settings.kubernetes),
            roles=RoleResolver(settings.roles, members_of),
            jobs=JobPool(settings.jobs.workers, settings.jobs.queue_limit),
            fanout=ThreadPoolExecutor(settings.jobs.fanout_threads, thread_name_prefix="fanout"),
            # Runbooks and the schema are checked at start-up: a bad file stops the bot here.
            store=open_store(settings.database_url),
            runbooks=load_runbooks(),
            alertmanager=AlertmanagerSource(
                settings.alertmanager.url, settings.alertmanager.timeout_s
            ),
            aws=AwsClients(settings.aws),
        )

    def context(self, user_id: str, role: Role) -> Context:
        return Context(
            settings=self.settings,
            prometheus=self.prometheus,
            kubernetes=self.kubernetes,
            user_id=user_id,
            role=role,
            fanout=self.fanout,
            store=self.store,
            aws=self.aws,
            gameday=self.gameday,
        )

    def execute(self, invocation: Invocation, user_id: str, role: Role) -> Report:
        """Run one command. Never raises: a bug becomes a short message, the trace goes to
        the log only."""
        name = invocation.command.name
        started = time.perf_counter()
        outcome = "ok"
        try:
            return invocation.command.run(self.context(user_id, role), invocation.args)
        except UsageError as exc:
            outcome = "usage"
            return usage_report(str(exc))
        except Exception:
            outcome = "error"
            log.exception("command_failed", command=name, user=user_id)
            return Report.message(
                f"/genai {name} failed",
                "The command hit an internal error; the details are in the bot's log.",
            )
        finally:
            COMMANDS.labels(command=name, outcome=outcome).inc()
            COMMAND_SECONDS.labels(command=name).observe(time.perf_counter() - started)

    def close(self) -> None:
        self.jobs.shutdown(wait=False)
        self.fanout.shutdown(wait=False, cancel_futures=True)
        self.intake.close()
        self.store.db.dispose()
