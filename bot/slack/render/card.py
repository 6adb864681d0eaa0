"""The incident's card: what an alert looks like in Slack, edited in place as it is
acknowledged, silenced and resolved.

The blocks sit inside one attachment, for the coloured bar: red, orange or blue by severity
while firing, grey once acknowledged or silenced, green once resolved. Buttons carry only the
incident's opaque ``public_id``; the Silence select's option values are
``"<public_id>|<duration>"`` (:func:`~bot.slack.render.kit.silence_value`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.alerts.view import AlertItem, AlertView
from bot.buttons import Button
from bot.runbooks import Runbook
from bot.slack.render.kit import (
    MAX_BUTTON_TEXT,
    MAX_CONFIRM_TEXT,
    MAX_FALLBACK,
    MAX_FIELD,
    MAX_FIELDS,
    MAX_HEADER,
    MAX_OPTION_VALUE,
    MAX_OPTIONS,
    SECTION_BUDGET,
    Block,
    button,
    code_span,
    context,
    duration_label,
    esc,
    fit,
    link,
    mention,
    one_line,
    plain,
    prometheus_url,
    safe_url,
    section,
    silence_value,
    u16,
)
from bot.slack.render.mrkdwn import escape, truncate
from bot.store.escalations import CHANNEL, Fired
from bot.times import clock, humanize_duration
from bot.words import plural

SEVERITY_MARK: dict[str, str] = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
UNKNOWN_MARK = "⚪"
SEVERITY_COLOR: dict[str, str] = {"critical": "#e01e5a", "warning": "#f2952f", "info": "#1d9bd1"}
COLOR_UNKNOWN = "#f2952f"
COLOR_ACKED = "#9e9e9e"
COLOR_RESOLVED = "#2eb67d"
DRILL_PREFIX = "[DRILL] "
RESOLVED_MARK = "✅"




def _severity_key(view: AlertView) -> str:
    return (view.severity or "").strip().lower()


def _mark(view: AlertView) -> str:
    return SEVERITY_MARK.get(_severity_key(view), UNKNOWN_MARK)


def _color(view: AlertView, now: datetime) -> str:
    if view.is_resolved:
        return COLOR_RESOLVED
    if view.is_acked or view.is_silenced(now):
        return COLOR_ACKED
    return SEVERITY_COLOR.get(_severity_key(view), COLOR_UNKNOWN)


def header_text(view: AlertView) -> str:
    """Plain text (a header is never parsed as mrkdwn): ``[DRILL] ✅ Resolved · 🔴 critical ·
    GPUMemoryHigh (3 alerts)``, within 150 UTF-16 units."""
    prefix = DRILL_PREFIX if view.drill else ""
    if view.is_resolved:
        prefix += f"{RESOLVED_MARK} Resolved · "
    severity = one_line(view.severity or "") or "no severity"
    prefix += f"{_mark(view)} {truncate(severity, 20)} · "
    count = view.alert_count()
    suffix = f" ({count} alerts)" if count > 1 else ""
    room = MAX_HEADER - u16(prefix) - u16(suffix)
    return prefix + fit(one_line(view.alertname) or "alert", room) + suffix


def _fallback(view: AlertView, now: datetime) -> str:
    """The notification text beside the attachment (mrkdwn: escaped)."""
    prefix = DRILL_PREFIX if view.drill else ""
    name = truncate(one_line(view.alertname), 100)
    if view.is_resolved:
        took = humanize_duration(view.duration(now))
        raw = f"{prefix}{RESOLVED_MARK} Resolved: {name} after {took}"
    else:
        severity = truncate(one_line(view.severity or ""), 20)
        count = view.alert_count()
        raw = f"{prefix}{_mark(view)} {severity} {name}".replace("  ", " ")
        if count > 1:
            raw += f" ({count} alerts)"
        summary = one_line(view.summary().split("\n", 1)[0]) if view.summary() else ""
        host = view.host()
        if summary:
            raw += f": {summary}"
        if host:
            raw += f" ({one_line(host)})"
    return fit(escape(truncate(raw, MAX_FALLBACK)), MAX_FALLBACK * 2)


def _annotation_block(view: AlertView) -> Block:
    summary = view.summary()
    description = view.description()
    lines: list[str] = []
    if summary:
        lines += [f"*{esc(line, 300)}*" for line in summary.split("\n")[:3] if line.strip()]
    if description:
        budget = SECTION_BUDGET - sum(len(line) + 1 for line in lines) - 200
        lines.append(fit(esc(description, 2400), max(200, budget)))
    if not lines:
        lines.append("_No summary or description annotation._")
    if view.annotations_are_stale:
        lines.append(
            "_↑ From the last firing notification: any value quoted above is not current._"
        )
    return section("\n".join(lines))


def _codes_block(view: AlertView, runbook: Runbook) -> Block | None:
    """What the value the alert carries means (an XID code, say), from the runbook's table,
    for each distinct code among the group's alerts."""
    if not runbook.codes:
        return None
    lines = []
    for raw in view.codes():
        meaning = runbook.codes.get(int(raw)) if raw.isdigit() else None
        text = meaning or "not in the runbook's table: see the runbook"
        lines.append(f"*{esc(view.alertname, 60)} {esc(raw, 12)}*: {esc(one_line(text), 600)}")
    return section("\n".join(lines[:5])) if lines else None


def _fields_block(view: AlertView) -> Block | None:
    labels = view.key_labels()
    if not labels:
        return None
    shown = labels if len(labels) <= MAX_FIELDS else labels[: MAX_FIELDS - 1]
    fields = [
        {"type": "mrkdwn", "text": fit(f"*{esc(k, 60)}*\n{esc(v, 300)}", MAX_FIELD)}
        for k, v in shown
    ]
    if len(labels) > MAX_FIELDS:
        rest = labels[MAX_FIELDS - 1 :]
        names = ", ".join(esc(k, 40) for k, _ in rest[:10])
        more = f" +{len(rest) - 10}" if len(rest) > 10 else ""
        fields.append({"type": "mrkdwn",
                       "text": fit(f"*+{len(rest)} more labels*\n{names}{more}", MAX_FIELD)})
    return {"type": "section", "fields": fields}


def _alert_line(view: AlertView, item: AlertItem, now: datetime) -> str:
    labels = view.varying_labels(item)[:4]
    parts = [f"{esc(k, 40)}={esc(v, 80)}" for k, v in labels]
    line = "• " + (", ".join(parts) if parts else esc(item.fingerprint or "alert", 40))
    if item.starts_at is not None:
        line += f" · since {clock(item.starts_at, now)}"
    if not item.is_firing and not view.is_resolved:
        line += " · _resolved_"
    return line


_MAX_ALERT_LINES = 15


def _alerts_block(view: AlertView, now: datetime) -> Block | None:
    """One line per alert of a group (its own labels), firing first; the rest counted."""
    if len(view.alerts) <= 1 and not view.truncated_alerts:
        return None
    items = sorted(view.alerts, key=lambda a: (not a.is_firing,))
    title = f"*{view.alert_count()} alerts in this group*"
    lines = [title]
    used = len(title)
    shown = 0
    for item in items[:_MAX_ALERT_LINES]:
        line = fit(_alert_line(view, item, now), 400)
        if used + len(line) + 1 > SECTION_BUDGET - 200:
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    hidden = len(items) - shown
    if hidden:
        lines.append(f"… and {hidden} more alert{'s' if hidden != 1 else ''}")
    if view.truncated_alerts:
        lines.append(f"… Alertmanager left out {view.truncated_alerts} more (truncatedAlerts)")
    return section("\n".join(lines))


def _links_block(view: AlertView, runbook: Runbook, external: str | None,
                 runbook_page: str | None) -> Block:
    links: list[str] = []
    urls = [prometheus_url(u, external) for u in view.generator_urls()]
    safe = [u for u in (safe_url(u) for u in urls) if u]
    for index, url in enumerate(safe[:5]):
        label = "Prometheus" if index == 0 else f"Prometheus {index + 1}"
        links.append(f"<{url}|{label}>")
    if len(safe) > 5:
        links.append(f"+{plural(len(safe) - 5, 'more graph')}")
    runbook_link = link(runbook_page or view.runbook_url(), "Runbook")
    links.append(runbook_link or f"Runbook {code_span(runbook.id)}")
    return context("🔗 " + " · ".join(links))


def _runbook_block(runbook: Runbook, steps: int = 3) -> Block:
    lines = [f"*📖 Runbook: {esc(one_line(runbook.title), 150)}*",
             esc(one_line(runbook.meaning), 600)]
    if runbook.diagnosis:
        lines.append("*First steps*")
    for number, step in enumerate(runbook.diagnosis[:steps], start=1):
        line = f"{number}. {esc(one_line(step.text), 300)}"
        if step.command:
            line += f"\n      {code_span(step.command, 300)}"
        lines.append(line)
    more = len(runbook.diagnosis) - steps
    tail = "_Full runbook in the thread"
    tail += f" ({more} more diagnosis step{'s' if more != 1 else ''})._" if more > 0 else "._"
    lines.append(tail)
    return section("\n".join(lines))


def _state_lines(view: AlertView, now: datetime) -> list[str]:
    lines: list[str] = []
    if view.drill:
        lines.append("🎯 Game Day drill: not a real incident")
    opened = f"Opened {clock(view.opened_at, now)}"
    if not view.is_resolved:
        opened += f" · firing for {humanize_duration(view.duration(now))}"
    lines.append(f"{opened} · incident {code_span(view.public_id, 40)}")
    if view.is_acked:
        ack = f"👀 Acknowledged by {mention(view.acked_by)}"
        tta = view.time_to_ack()
        if tta is not None:
            ack += f" after {humanize_duration(tta)}"
        lines.append(ack)
    if view.silence_id is not None and not view.is_resolved:
        if view.is_silenced(now):
            text = "🔕 Silenced"
            if view.silenced_until is not None:
                text += f" until {clock(view.silenced_until, now)}"
            if view.silenced_by:
                text += f" by {mention(view.silenced_by)}"
            lines.append(text + f" (silence {code_span(view.silence_id, 64)})")
        elif view.silenced_until is not None:
            lines.append(f"🔔 Silence ended {clock(view.silenced_until, now)}")
    if view.is_resolved:
        text = f"{RESOLVED_MARK} Resolved"
        if view.resolved_by:
            text += f" by {mention(view.resolved_by)}"
        text += f" after {humanize_duration(view.duration(now))}"
        lines.append(text)
    return lines


_GROUP_ID = re.compile(r"S[A-Z0-9]{1,31}")


def escalation_mention(target: str, *, ping_channel: bool) -> str:
    """A usergroup id as ``<!subteam^S…>`` (Slack shows its handle), a user id as ``<@U…>``,
    :data:`~bot.store.escalations.CHANNEL` as ``<!channel>`` where it should ping (the thread
    note) or plain ``@channel`` (the card); anything else escaped, never a ping."""
    if target == CHANNEL:
        return "<!channel>" if ping_channel else "@channel"
    if _GROUP_ID.fullmatch(target):
        return f"<!subteam^{target}>"
    return mention(target)


def escalation_targets(targets: Sequence[str], *, ping_channel: bool) -> str:
    """``<!subteam^S1>, <@U2> and <!channel>``."""
    shown = [escalation_mention(t, ping_channel=ping_channel) for t in targets[:20]]
    if len(shown) < 2:
        return "".join(shown) or "no one"
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _escalation_lines(escalations: Sequence[Fired], now: datetime) -> list[str]:
    return [f"⏫ Escalated to {escalation_targets(e.notified, ping_channel=False)} at "
            f"{clock(e.at, now)}" for e in escalations[:10]]


def _silence_select(public_id: str, durations: Sequence[str]) -> Block:
    options = [
        {"text": plain(f"Silence {duration_label(d)}", MAX_BUTTON_TEXT),
         "value": silence_value(public_id, d)[:MAX_OPTION_VALUE]}
        for d in list(dict.fromkeys(durations))[:MAX_OPTIONS]
    ]
    return {
        "type": "static_select",
        "action_id": Button.SILENCE,
        "placeholder": plain("Silence…", MAX_BUTTON_TEXT),
        "options": options,
    }


def _actions_block(view: AlertView, now: datetime, durations: Sequence[str]) -> Block:
    pid = view.public_id
    elements: list[Block] = []
    if not view.is_acked:
        elements.append(button(Button.ACK, "Acknowledge", pid, "primary"))
    if view.is_silenced(now):
        elements.append(button(Button.UNSILENCE, "Unsilence", pid))
    elif durations:
        elements.append(_silence_select(pid, durations))
    # Every alert has one: its scenario, a quick look (GPUs, cost) or the runbook's steps.
    elements.append(button(Button.DIAG, "Run diagnostics", pid))
    resolve = button(Button.RESOLVE, "Resolve", pid, "danger")
    resolve["confirm"] = {
        "title": plain("Resolve this incident?", 100),
        "text": plain(
            f"Marks {truncate(one_line(view.alertname), 80)} resolved for everyone. If "
            "Alertmanager still reports it firing, a new incident opens.",
            MAX_CONFIRM_TEXT,
        ),
        "confirm": plain("Resolve", 30),
        "deny": plain("Cancel", 30),
        "style": "danger",
    }
    elements.append(resolve)
    return {"type": "actions", "block_id": f"incident_actions:{pid}"[:255],
            "elements": elements}


def incident_message(
    view: AlertView,
    runbook: Runbook,
    *,
    now: datetime,
    silence_durations: Sequence[str],
    prometheus_external_url: str | None = None,
    runbook_page: str | None = None,
    escalations: Sequence[Fired] = (),
) -> dict[str, Any]:
    """The alert message, as ``chat.postMessage`` / ``chat.update`` fields:
    ``{"text": <notification fallback>, "attachments": [{"color", "blocks"}]}``.

    Shows severity, name and count; summary and description (marked as the last firing
    notification's once resolved); the key labels; one line per alert of a group; links to
    Prometheus (each distinct generatorURL, moved onto ``prometheus_external_url`` when given)
    and the runbook (the bot's own page when ``runbook_page`` is given, else the alert's
    runbook_url annotation); the runbook's meaning and first three diagnosis steps; the state
    (acknowledged, silenced, resolved, each escalation step, with times); and, while firing,
    the buttons. The Silence choices are the configured ``silence_durations``, the same the
    click accepts.
    """
    blocks: list[Block] = [{"type": "header", "text": plain(header_text(view), MAX_HEADER)}]
    blocks.append(_annotation_block(view))
    codes = _codes_block(view, runbook)
    if codes is not None:
        blocks.append(codes)
    fields = _fields_block(view)
    if fields is not None:
        blocks.append(fields)
    alerts = _alerts_block(view, now)
    if alerts is not None:
        blocks.append(alerts)
    blocks.append(_links_block(view, runbook, prometheus_external_url, runbook_page))
    blocks.append({"type": "divider"})
    blocks.append(_runbook_block(runbook))
    state = _state_lines(view, now) + _escalation_lines(escalations, now)
    blocks.append(context("\n".join(state)))
    if not view.is_resolved:
        blocks.append(_actions_block(view, now, silence_durations))
    elif _severity_key(view) == "critical" and not view.drill:
        # The guide: a major incident ends in a postmortem (the findings form, the Markdown).
        blocks.append({"type": "actions",
                       "block_id": f"incident_postmortem:{view.public_id}"[:255],
                       "elements": [button(Button.POSTMORTEM, "Postmortem", view.public_id)]})
    return {
        "text": _fallback(view, now),
        "attachments": [{"color": _color(view, now), "blocks": blocks}],
    }
