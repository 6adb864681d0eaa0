"""A channel's storm digest as a Slack message: how many incidents, by alert name and
severity, the newest few, where to see every one, and the buttons that act on a whole alert
name (Acknowledge, Silence). Rendered at send time, so each edit shows the digest as it is.

Slack's limits hold for any storm: at most six blocks, the rows cut to the section's 3,000
characters (the rest counted), at most 100 options a select. The selects' values are
``"<digest id>|<alert name key>"`` (``"|<duration>"`` added for a silence): opaque, short.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.alerts.view import order_labels
from bot.buttons import Button
from bot.slack.render.card import SEVERITY_MARK, UNKNOWN_MARK
from bot.slack.render.kit import (
    MAX_BUTTON_TEXT,
    MAX_CONFIRM_TEXT,
    MAX_HEADER,
    MAX_OPTIONS,
    SECTION_BUDGET,
    Block,
    code_span,
    context,
    duration_label,
    esc,
    one_line,
    plain,
    section,
    u16,
)
from bot.slack.render.mrkdwn import escape, truncate
from bot.store.digests import DigestCount, DigestEntry, DigestSummary, alertname_key
from bot.times import clock
from bot.words import plural

STORM = "⛈️"
OVER = "🌤️"
MAX_ROWS = 20
MAX_CHOICES = 25  # alert names offered in a select: the biggest first


def _mark(severity: str | None) -> str:
    return SEVERITY_MARK.get((severity or "").strip().lower(), UNKNOWN_MARK)


def fallback_text(summary: DigestSummary, now: datetime) -> str:
    """The notification text; it names the count, so a reader of the text alone (and the
    storm benchmark) knows how many incidents the digest holds."""
    since = clock(summary.opened_at, now)
    counted = plural(summary.total, "new incident")
    if summary.is_open:
        return f"{STORM} Alert storm in this channel: {counted} since {since}, counted in " \
               "this message instead of posted one by one."
    until = clock(summary.closed_at or summary.last_incident_at, now)
    return f"{OVER} Alert storm over: {counted} from {since} to {until}, counted in this " \
           "message. New incidents are posted one by one again."


def _header(summary: DigestSummary) -> str:
    counted = plural(summary.total, "incident")
    text = f"{STORM} Alert storm: {counted} counted here" if summary.is_open \
        else f"{OVER} Alert storm over: {counted}"
    return truncate(text, MAX_HEADER)


def _row(c: DigestCount) -> str:
    severity = one_line(c.severity or "") or "no severity"
    parts = [f"{c.firing} firing" if c.firing else "all resolved"]
    if c.firing and c.total > c.firing:
        parts.append(f"{c.total - c.firing} resolved")
    if c.acked:
        parts.append(f"{c.acked} acknowledged")
    if c.silenced:
        parts.append(f"{c.silenced} silenced")
    return (f"{_mark(c.severity)} *{esc(one_line(c.alertname), 120)}* · {esc(severity, 30)}: "
            f"*{c.total}* ({', '.join(parts)})")


def _counts_block(summary: DigestSummary) -> Block:
    lines = ["*By alert and severity*"]
    used = u16(lines[0])
    shown = 0
    for c in summary.counts[:MAX_ROWS]:
        line = _row(c)
        if used + u16(line) + 1 > SECTION_BUDGET - 200:
            break
        lines.append(line)
        used += u16(line) + 1
        shown += 1
    rest = summary.counts[shown:]
    if rest:
        lines.append(f"… and {plural(len(rest), 'more row')}: "
                     f"{plural(sum(c.total for c in rest), 'incident')}")
    return section("\n".join(lines))


def _entry(e: DigestEntry, now: datetime) -> str:
    labels = order_labels({str(k): str(v) for k, v in e.labels.items()})[:3]
    where = ", ".join(f"{esc(k, 40)}={esc(one_line(v), 80)}" for k, v in labels)
    state = "resolved" if not e.firing else "acknowledged" if e.acked else "firing"
    line = f"• {code_span(e.public_id, 20)} {_mark(e.severity)} {esc(one_line(e.alertname), 80)}"
    if where:
        line += f" · {where}"
    return line + f" · {clock(e.opened_at, now)} · {state}"


def _newest_block(summary: DigestSummary, now: datetime) -> Block | None:
    if not summary.newest:
        return None
    return section("\n".join(["*Newest*", *(_entry(e, now) for e in summary.newest)]))


def _how_block(summary: DigestSummary, now: datetime) -> Block:
    lines = []
    if not summary.is_open:
        ended = clock(summary.closed_at or summary.last_incident_at, now)
        lines.append(f"The channel went quiet; closed {ended}. New incidents are posted one "
                     "by one again.")
    lines.append(f"Every incident is stored: {code_span('/genai alerts')} lists the open "
                 f"ones, {code_span('/genai ack <id>')} acknowledges one. The menus below act "
                 "on every open incident of one alert name.")
    lines.append(f"Digest {code_span(summary.public_id, 20)} · since "
                 f"{clock(summary.opened_at, now)}")
    return context("\n".join(lines))


def _label(name: str, suffix: str) -> str:
    """An option's text: the alert name cut so that ``suffix`` always shows."""
    room = MAX_BUTTON_TEXT - len(suffix)
    return truncate(one_line(name), room) + suffix


def _ack_select(summary: DigestSummary) -> Block | None:
    names = [c for c in summary.per_alertname().values() if c.unacked][:MAX_CHOICES]
    if not names:
        return None
    return {
        "type": "static_select", "action_id": Button.DIGEST_ACK,
        "placeholder": plain("Acknowledge every…", MAX_BUTTON_TEXT),
        "options": [{"text": plain(_label(c.alertname, f" ({c.unacked} open)"),
                                   MAX_BUTTON_TEXT),
                     "value": f"{summary.public_id}|{alertname_key(c.alertname)}"}
                    for c in names],
    }


def _silence_select(summary: DigestSummary, durations: Sequence[str]) -> Block | None:
    choices = list(dict.fromkeys(durations))
    if not choices:
        return None
    fit_names = max(1, min(MAX_CHOICES, MAX_OPTIONS // len(choices)))
    names = [c for c in summary.per_alertname().values() if c.firing > c.silenced][:fit_names]
    if not names:
        return None
    groups = [{"label": plain(_label(c.alertname, ""), MAX_BUTTON_TEXT),
               "options": [{"text": plain(f"Silence {duration_label(d)}", MAX_BUTTON_TEXT),
                            "value": f"{summary.public_id}|{alertname_key(c.alertname)}|{d}"}
                           for d in choices[:MAX_OPTIONS]]}
              for c in names]
    return {
        "type": "static_select", "action_id": Button.DIGEST_SILENCE,
        "placeholder": plain("Silence every…", MAX_BUTTON_TEXT),
        "option_groups": groups,
        "confirm": {
            "title": plain("Silence a whole alert name?", 100),
            "text": plain("One Alertmanager silence for every alert of that name (at the "
                          "severity this channel gets), firing now or later, for the time "
                          "chosen.", MAX_CONFIRM_TEXT),
            "confirm": plain("Silence", 30), "deny": plain("Cancel", 30),
        },
    }


def digest_message(summary: DigestSummary, *, now: datetime,
                   silence_durations: Sequence[str]) -> dict[str, Any]:
    """``chat.postMessage`` / ``chat.update`` fields for the digest: ``text`` and
    ``blocks`` (an edit that drops the menus sends no actions block, which removes it)."""
    blocks: list[Block] = [{"type": "header", "text": plain(_header(summary), MAX_HEADER)},
                           _counts_block(summary)]
    newest = _newest_block(summary, now)
    if newest is not None:
        blocks.append(newest)
    blocks.append(_how_block(summary, now))
    elements = [el for el in (_ack_select(summary), _silence_select(summary, silence_durations))
                if el is not None]
    if elements:
        blocks.append({"type": "actions", "block_id": f"digest_actions:{summary.public_id}",
                       "elements": elements})
    return {"text": escape(fallback_text(summary, now)), "blocks": blocks}
