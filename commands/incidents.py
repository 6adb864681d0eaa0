"""`/genai alerts`, `/genai ack <id>` and `/genai report [7d]`: incidents and alert fatigue."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.alerts.view import humanize_duration as humanize
from bot.errors import UsageError
from bot.report import Report, Row, Section, Status
from bot.roles import Role
from bot.store import NotFound, Store, utcnow
from commands.base import Command, Context, no_args


def _store(ctx: Context) -> Store:
    if ctx.store is None:
        raise UsageError("this bot runs without a database")
    return ctx.store


def run_alerts(ctx: Context, args: list[str]) -> Report:
    no_args(args, "/genai alerts")
    now = utcnow()
    rows = []
    for inc in _store(ctx).open_incidents():
        age = humanize((now - inc.opened_at).total_seconds())
        if inc.acked_at is not None:
            state, status = f"acked by {inc.acked_by} after {humanize(inc.tta_s or 0)}", Status.WARN
        else:
            state, status = "not acknowledged", Status.FAIL
        if inc.silenced_until is not None and inc.silenced_until > now:
            state += f"; silenced until {inc.silenced_until:%H:%M} UTC"
        rows.append(Row(
            check=f"{inc.public_id} {inc.alertname}",
            status=status,
            value=f"{inc.severity or 'no severity'}, open {age}",
            detail=state,
        ))
    if not rows:
        return Report(title="Open incidents", summary="None open. Quiet night.")
    unacked = sum(1 for r in rows if r.status is Status.FAIL)
    return Report(
        title="Open incidents",
        summary=f"{len(rows)} open, {unacked} not acknowledged",
        sections=[Section(rows=rows)],
        footer="/genai ack <id> acknowledges one",
    )


def run_ack(ctx: Context, args: list[str]) -> Report:
    if len(args) != 1:
        raise UsageError("give one incident id. Usage: /genai ack <id> (see /genai alerts)")
    from bot.alerts.intake import payload_builder

    store = _store(ctx)
    try:
        inc, first = store.acknowledge(args[0], ctx.user_id, utcnow(),
                                       outbox_payload_builder=payload_builder)
    except NotFound:
        return Report.message("Not found", f"No incident {args[0]!r}. /genai alerts lists them.")
    if not first:
        return Report.message(
            "Already acknowledged",
            f"{inc.public_id} {inc.alertname} was acknowledged by {inc.acked_by} "
            f"after {humanize(inc.tta_s or 0)}.",
        )
    store.enqueue("thread_reply", inc.channel, {"incident": inc.public_id, "note": "ack",
                                                "user": ctx.user_id},
                  dedupe_key=f"incident:{inc.public_id}:note:ack",
                  incident_public_id=inc.public_id)
    return Report.message(
        "Acknowledged",
        f"{inc.public_id} {inc.alertname}: acknowledged after {humanize(inc.tta_s or 0)}.",
        private=False,
    )


_WINDOW = re.compile(r"^(\d{1,3})([hd])$")


def parse_window(text: str) -> timedelta:
    m = _WINDOW.match(text)
    if not m or int(m.group(1)) == 0:
        raise UsageError(f"window {text!r} is not like 24h or 7d. Usage: /genai report [7d]")
    n = int(m.group(1))
    return timedelta(hours=n) if m.group(2) == "h" else timedelta(days=n)


def advice(count: int, ack_rate: float, never_acked: int, silenced: float) -> tuple[Status, str]:
    """The guide's "tune thresholds gradually", made concrete per alert."""
    if count >= 10 and never_acked >= count * 0.8:
        return Status.FAIL, (f"fired {count}×, never acked {never_acked}×: raise the threshold "
                             "or lower the severity")
    if silenced >= 0.5 and count >= 5:
        return Status.WARN, "mostly silenced: fix the cause or retune the rule"
    if count >= 10 and ack_rate < 0.5:
        return Status.WARN, "acked less than half the time: lengthen `for` or raise the threshold"
    return Status.OK, "keep"


def run_report(ctx: Context, args: list[str]) -> Report:
    if len(args) > 1:
        raise UsageError("Usage: /genai report [7d]")
    window = parse_window(args[0]) if args else timedelta(days=7)
    label = args[0] if args else "7d"
    rows = []
    for f in _store(ctx).fatigue(utcnow() - window):
        status, hint = advice(f.count, f.ack_rate, f.never_acked, f.silenced_share)
        mtta = humanize(f.mtta_p50_s) if f.mtta_p50_s is not None else "n/a"
        rows.append(Row(
            check=f.alertname,
            status=status,
            value=f"{f.count}× · acked {f.ack_rate:.0%} · MTTA p50 {mtta}",
            detail=f"never acked {f.never_acked} · silenced {f.silenced_share:.0%} · {hint}",
        ))
    rows.sort(key=lambda r: (-r.status.rank, r.check))
    if not rows:
        return Report(title=f"Alert fatigue, last {label}", summary="No alerts in the window.")
    return Report(
        title=f"Alert fatigue, last {label}",
        summary=f"{len(rows)} alerts; drills left out",
        sections=[Section(rows=rows)],
        footer="Tune thresholds gradually: change one rule at a time and watch this report.",
    )


ALERTS = Command(name="alerts", usage="/genai alerts",
                 summary="open incidents with their age and ack state", run=run_alerts)
ACK = Command(name="ack", usage="/genai ack <id>", summary="acknowledge an incident",
              run=run_ack, role=Role.RESPONDER)
REPORT = Command(name="report", usage="/genai report [7d]",
                 summary="alert fatigue per alert: count, ack rate, MTTA, never acked, silenced",
                 run=run_report)
