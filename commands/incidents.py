"""`/genai alerts`, `/genai ack <id>` and `/genai report [7d]`: incidents and alert fatigue."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.alerts.incidents import IncidentService
from bot.errors import UsageError
from bot.report import Report, Row, Section, Status
from bot.roles import Role
from bot.store import FatigueRow, Incident, Store
from bot.times import humanize_duration as humanize
from bot.times import utcnow
from bot.words import plural
from commands.base import Command, Context, no_args

# An incident's row shows its severity; whether someone is on it is said in words beside.
SEVERITY_STATUS = {"critical": Status.FAIL, "warning": Status.WARN, "info": Status.INFO}


def _store(ctx: Context) -> Store:
    if ctx.store is None:
        raise UsageError("this bot runs without a database")
    return ctx.store


def _incidents(ctx: Context) -> IncidentService:
    if ctx.incidents is None:
        raise UsageError("acknowledging needs the running bot (its database and Slack)")
    return ctx.incidents


def _row(inc: Incident) -> Row:
    now = utcnow()
    severity = inc.severity or "no severity"
    age = humanize((now - inc.began_at).total_seconds())
    if inc.acked_at is not None:
        state = f"acknowledged by {inc.acked_by} after {humanize(inc.tta_s or 0)}"
    else:
        state = "NOT acknowledged"
    if inc.silenced_until is not None and inc.silenced_until > now:
        state += f"; silenced until {inc.silenced_until:%H:%M} UTC"
    return Row(check=f"{inc.public_id} {inc.alertname}",
               status=SEVERITY_STATUS.get((inc.severity or "").lower(), Status.UNKNOWN),
               value=f"{severity}, firing {age}", detail=state)


def run_alerts(ctx: Context, args: list[str]) -> Report:
    no_args(args, "/genai alerts")
    open_now = _store(ctx).incidents.open()
    if not open_now:
        return Report(title="Open incidents", summary="None open.")
    unacked = sum(1 for inc in open_now if inc.acked_at is None)
    return Report(
        title="Open incidents",
        summary=f"{len(open_now)} open, {unacked} not acknowledged",
        sections=[Section(rows=[_row(inc) for inc in open_now])],
        footer="/genai ack <id> acknowledges one",
    )


def run_ack(ctx: Context, args: list[str]) -> Report:
    if len(args) != 1:
        raise UsageError("give one incident id. Usage: /genai ack <id> (see /genai alerts)")
    done = _incidents(ctx).acknowledge(args[0], ctx.user_id)
    if not done.ok:
        return Report.message("Not acknowledged", done.text())
    if not done.changed:
        return Report.message("Already acknowledged", done.text())
    return Report.message("Acknowledged", done.text(), private=False)  # for the channel


_WINDOW = re.compile(r"^(\d{1,3})([hd])$")


def parse_window(text: str) -> timedelta:
    m = _WINDOW.match(text)
    if not m or int(m.group(1)) == 0:
        raise UsageError(f"window {text!r} is not like 24h or 7d. Usage: /genai report [7d]")
    n = int(m.group(1))
    return timedelta(hours=n) if m.group(2) == "h" else timedelta(days=n)


def advice(f: FatigueRow) -> tuple[Status, str]:
    """The guide's "tune thresholds gradually", made concrete per alert. Nothing decided yet
    (all still open, none acknowledged) is unknown, not "keep"."""
    decided = f.acked + f.never_acked
    if decided == 0:
        return Status.UNKNOWN, (f"too early to judge: {plural(f.count, 'incident')} still "
                                "open, none acknowledged yet")
    tune = f"/genai tune {f.alertname} backtests a new threshold and `for`"
    if f.count >= 10 and f.never_acked >= f.count * 0.8:
        return Status.FAIL, (f"fired {f.count}×, never acked {f.never_acked}×: raise the "
                             f"threshold or lower the severity ({tune})")
    if f.silenced_share >= 0.5 and f.count >= 5:
        return Status.WARN, f"mostly silenced: fix the cause or retune the rule ({tune})"
    if f.count >= 10 and f.ack_rate < 0.5:
        return Status.WARN, ("acked less than half the time: lengthen `for` or raise the "
                             f"threshold ({tune})")
    return Status.OK, "keep"


def run_report(ctx: Context, args: list[str]) -> Report:
    if len(args) > 1:
        raise UsageError("Usage: /genai report [7d]")
    window = parse_window(args[0]) if args else timedelta(days=7)
    label = args[0] if args else "7d"
    rows = []
    for f in _store(ctx).fatigue.per_alert(utcnow() - window):
        status, hint = advice(f)
        mtta = humanize(f.mtta_p50_s) if f.mtta_p50_s is not None else "none acked"
        mttr = humanize(f.mttr_p50_s) if f.mttr_p50_s is not None else "none resolved"
        still_open = f.count - f.acked - f.never_acked
        opened = f" · {still_open} open, unacked" if still_open > 0 else ""
        escalated = (f"escalated {f.escalated}× ({plural(f.escalations, 'step')})"
                     if f.escalated else "never escalated")
        rows.append(Row(
            check=f.alertname,
            status=status,
            value=f"{f.count}× · acked {f.ack_rate:.0%} · MTTA p50 {mtta} · MTTR p50 {mttr}",
            detail=f"never acked {f.never_acked}{opened} · silenced "
                   f"{f.silenced_share:.0%} · {escalated} · {hint}",
        ))
    rows.sort(key=lambda r: (-r.status.rank, r.check))
    if not rows:
        return Report(title=f"Alert fatigue, last {label}", summary="No alerts in the window.")
    return Report(
        title=f"Alert fatigue, last {label}",
        summary=f"{plural(len(rows), 'alert')}; drills left out; MTTA and MTTR from each "
                "alert's startsAt",
        sections=[Section(rows=rows)],
        footer="Tune thresholds gradually: change one rule at a time and watch this report.",
    )


ALERTS = Command(name="alerts", usage="/genai alerts",
                 summary="open incidents with their severity, age and ack state", run=run_alerts)
ACK = Command(name="ack", usage="/genai ack <id>", summary="acknowledge an incident",
              run=run_ack, role=Role.RESPONDER, authorizes_itself=True)
REPORT = Command(name="report", usage="/genai report [7d]",
                 summary="alert fatigue per alert: count, ack rate, MTTA, MTTR, never acked, "
                         "silenced, escalations",
                 run=run_report)
