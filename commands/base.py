"""What every subcommand is made of, and the context it runs in. No Slack here."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from bot.errors import SourceError, UsageError
from bot.report import Report, Row, Status
from bot.roles import Role

if TYPE_CHECKING:
    from bot.alerts.incidents import IncidentService
    from bot.config import Settings
    from bot.gameday.service import Gameday
    from bot.sources.aws import AwsClients
    from bot.sources.kubernetes import KubernetesSource
    from bot.sources.prometheus import PrometheusSource
    from bot.store import Store

log = structlog.get_logger(__name__)


@functools.cache
def _shared_fanout() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="fanout")


@dataclass
class Context:
    """Everything a command may use. Sources are the only way out of the process."""

    settings: Settings
    prometheus: PrometheusSource
    kubernetes: KubernetesSource
    user_id: str = "cli"
    role: Role = Role.VIEWER
    # Fan-out for independent source calls, so a report costs its slowest call, not the sum.
    # The runtime passes its own; the default (tests, one-off scripts) is one shared pool.
    fanout: ThreadPoolExecutor = field(default_factory=_shared_fanout)
    store: Store | None = None
    aws: AwsClients | None = None
    gameday: Gameday | None = None
    incidents: IncidentService | None = None


Runner = Callable[[Context, list[str]], Report]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    run: Runner
    role: Role = Role.VIEWER
    examples: tuple[str, ...] = ()
    # The service behind the command checks `role` itself and audits a refusal (as the
    # button that does the same does), so the dispatcher lets every caller through.
    authorizes_itself: bool = False


Check = Callable[[Context], list[Row]]


def ceiling_status(value: float, limit: float, warn_fraction: float) -> Status:
    """Fail over the ceiling; warn over `warn_fraction` of it (thresholds.warn_fraction)."""
    if value > limit:
        return Status.FAIL
    if value > limit * warn_fraction:
        return Status.WARN
    return Status.OK


def guarded(name: str, check: Check, ctx: Context) -> list[Row]:
    """Run one check; a failing backend turns its row `unknown` with the cause."""
    try:
        return check(ctx)
    except SourceError as exc:
        return [Row(check=name, status=Status.UNKNOWN, value="unknown", detail=str(exc))]
    except Exception as exc:  # a bug in one check must not sink the whole report
        log.exception("check_failed", check=name)
        return [
            Row(
                check=name,
                status=Status.UNKNOWN,
                value="unknown",
                detail=f"internal error ({type(exc).__name__}); see the bot's log",
            )
        ]


def run_checks(ctx: Context, checks: Sequence[tuple[str, Check]]) -> list[Row]:
    """Run checks concurrently and return their rows in the declared order."""
    futures = [ctx.fanout.submit(guarded, name, check, ctx) for name, check in checks]
    return [row for future in futures for row in future.result()]


def no_args(args: list[str], usage: str) -> None:
    if args:
        raise UsageError(f"unexpected argument {args[0]!r}. Usage: {usage}")
