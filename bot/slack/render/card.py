"""Incident -> Slack Block Kit: the alert message, the runbook thread and the thread notes.

Everything from Alertmanager (labels, annotations, URLs) and every user id is untrusted: text
passes :func:`~bot.render.mrkdwn.escape`, commands and snippets pass the code escapes, URLs
pass :func:`safe_url` (http/https only, ``|<>`` and spaces percent-encoded, ``&`` as an
entity), and a user id becomes a mention only when it looks like a Slack user id. The only
``<…>`` in the output are the links and mentions built here.

Payloads stay within Slack's limits (50 blocks, header 150, section 3000, field 2000, button
text 75, option value 150, button value 2000), measured in UTF-16 units as Slack does. The
alert message puts its blocks inside one attachment, for the coloured bar: red, orange or blue
by severity while firing, grey once acknowledged or silenced, green once resolved.

Buttons carry only the incident's opaque ``public_id``; the Silence select's option values are
``"<public_id>|<duration>"`` (:func:`silence_value`, :func:`parse_silence_value`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from bot.alerts.view import AlertItem, AlertView, humanize_duration
from bot.render.mrkdwn import escape, escape_code, truncate
from bot.runbooks import Runbook, Step
from bot.store.models import as_utc

__all__ = [
    "ACK",
    "ACTION_IDS",
    "COLOR_ACKED",
    "COLOR_RESOLVED",
    "DIAG",
    "RESOLVE",
    "SEVERITY_COLOR",
    "SEVERITY_MARK",
    "SILENCE",
    "SILENCE_DURATIONS",
    "UNSILENCE",
    "action_note",
    "code_block",
    "code_span",
    "header_text",
    "humanize_duration",
    "incident_message",
    "mention",
    "parse_silence_value",
    "resolved_note",
    "runbook_thread",
    "safe_url",
    "silence_value",
]

# -- action ids (the listeners register these) ---------------------------------------------
ACK = "incident_ack"
SILENCE = "incident_silence"
UNSILENCE = "incident_unsilence"
DIAG = "incident_diag"
RESOLVE = "incident_resolve"
ACTION_IDS: tuple[str, ...] = (ACK, SILENCE, UNSILENCE, DIAG, RESOLVE)

SILENCE_DURATIONS: tuple[str, ...] = ("1h", "4h", "24h")

SEVERITY_MARK: dict[str, str] = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
UNKNOWN_MARK = "⚪"
SEVERITY_COLOR: dict[str, str] = {"critical": "#e01e5a", "warning": "#f2952f", "info": "#1d9bd1"}
COLOR_UNKNOWN = "#f2952f"
COLOR_ACKED = "#9e9e9e"
COLOR_RESOLVED = "#2eb67d"
DRILL_PREFIX = "[DRILL] "
RESOLVED_MARK = "✅"

# -- Slack limits (Block Kit reference) ------------------------------------------------------
MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_CONTEXT = 3000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_CONFIRM_TEXT = 300
MAX_URL = 2000
MAX_FALLBACK = 300
# Room left in a section for the pieces added around escaped text.
_SECTION_BUDGET = MAX_SECTION - 100

_USER_ID = re.compile(r"[UW][A-Z0-9]{1,31}")
_DURATION_TOKEN = re.compile(r"(\d{1,4})([smhd])")
_DURATION_IN_TEXT = re.compile(r"\b(\d{1,4})([smhd])\b")
_URL_SAFE_CHARS = "/:?#[]@!$&'()*+,;=%~-._"
_HTTP_URL = re.compile(r"https?://[^/?#\s]", re.IGNORECASE)

Block = dict[str, Any]


# == small pieces ===========================================================================


def _u16(text: str) -> int:
    """Length as Slack counts it (UTF-16 code units: an emoji outside the BMP counts 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _fit(text: str, limit: int, marker: str = "…") -> str:
    """Cut already-rendered mrkdwn to ``limit`` UTF-16 units without leaving half an entity
    (``&am``) or half a link or mention (``<https://…``) behind."""
    if _u16(text) <= limit:
        return text
    budget = limit - _u16(marker)
    used = 0
    cut = 0
    for index, ch in enumerate(text):
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > budget:
            cut = index
            break
        used += width
    head = text[:cut]
    amp = head.rfind("&")
    if amp >= 0 and ";" not in head[amp:] and len(head) - amp <= 6:
        head = head[:amp]
    if head.rfind("<") > head.rfind(">"):
        head = head[: head.rfind("<")]
    return head + marker


def _esc(text: str, limit: int) -> str:
    """Untrusted text escaped for mrkdwn, at most ``limit`` UTF-16 units once escaped."""
    return _fit(escape(truncate(text, limit)), limit)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def mention(user_id: str | None) -> str:
    """``<@U…>`` for a Slack user id; anything else is shown as escaped text, never a ping."""
    if not user_id:
        return "someone"
    if _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return _esc(_one_line(user_id), 64) or "someone"


def code_span(text: str, limit: int = 400) -> str:
    """Inline code: one line, ``&<>`` escaped (Slack parses them even in code), backticks
    replaced (one would close the span). Formatting characters stay as typed, so the command
    copies cleanly."""
    body = truncate(_one_line(text), limit)
    body = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = _fit(body.replace("`", "ˋ"), limit)
    return f"`{body}`" if body else ""


def code_block(text: str, limit: int = _SECTION_BUDGET) -> str:
    """A ``` block, escaped for code (see :func:`~bot.render.mrkdwn.escape_code`)."""
    body = _fit(escape_code(truncate(text.strip("\n"), limit)), limit)
    if body.startswith("`"):
        body = " " + body
    if body.endswith("`"):
        body = body + " "
    return f"```{body or ' '}```"


def safe_url(url: str | None) -> str | None:
    """``url`` ready for Slack's ``<url|label>`` syntax, or None when it must not be linked:
    only absolute http/https URLs, at most 2000 characters. Spaces, ``|``, ``<``, ``>``,
    backticks and non-ASCII are percent-encoded and ``&`` becomes ``&amp;``."""
    if not url:
        return None
    raw = url.strip()
    quoted = quote(raw, safe=_URL_SAFE_CHARS)
    if not _HTTP_URL.match(quoted):
        return None
    try:
        parts = urlsplit(quoted)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    linked = quoted.replace("&", "&amp;")
    return linked if len(linked) <= MAX_URL else None


def _link(url: str | None, label: str) -> str | None:
    safe = safe_url(url)
    return f"<{safe}|{label}>" if safe else None


def _prometheus_url(url: str, external: str | None) -> str:
    """Point a generatorURL at Prometheus' external URL: rules often run where the
    generatorURL names an in-cluster host (``http://prometheus-0:9090/graph?g0.expr=…``)."""
    if not external or not _HTTP_URL.match(url.strip()):
        return url
    try:
        parts = urlsplit(url.strip())
        base = urlsplit(external.strip())
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or base.scheme.lower() not in (
        "http",
        "https",
    ):
        return url
    if not base.netloc:
        return url
    page = parts.path.rsplit("/", 1)[-1] or "graph"
    path = base.path.rstrip("/") + "/" + page
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


def _clock(at: datetime, now: datetime | None = None) -> str:
    """``14:00 UTC``, with the date when it is not ``now``'s day."""
    at = as_utc(at)
    hhmm = f"{at:%H:%M} UTC"
    if now is not None and as_utc(now).date() == at.date():
        return hhmm
    return f"{at:%b} {at.day} {hhmm}"


def _duration_label(token: str) -> str:
    """``4h`` -> ``4 h``; anything else unchanged."""
    match = _DURATION_TOKEN.fullmatch(token)
    return f"{match.group(1)} {match.group(2)}" if match else token


def silence_value(public_id: str, duration: str) -> str:
    """The Silence select's option value: ``"<public_id>|<duration>"``."""
    return f"{public_id}|{duration}"


def parse_silence_value(value: str) -> tuple[str, str]:
    """``"<public_id>|4h"`` -> ``("<public_id>", "4h")``; ValueError for anything else."""
    public_id, sep, duration = value.partition("|")
    if not sep or not public_id or not _DURATION_TOKEN.fullmatch(duration):
        raise ValueError(f"bad silence value {value!r}")
    return public_id, duration


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text, MAX_SECTION)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(text, MAX_CONTEXT)}]}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _fit(text, limit) or "-", "emoji": True}


def _button(action_id: str, label: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(label, MAX_BUTTON_TEXT),
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style:
        button["style"] = style
    return button


# == the alert message ======================================================================


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
    severity = _one_line(view.severity or "") or "no severity"
    prefix += f"{_mark(view)} {truncate(severity, 20)} · "
    count = view.alert_count()
    suffix = f" ({count} alerts)" if count > 1 else ""
    room = MAX_HEADER - _u16(prefix) - _u16(suffix)
    return prefix + _fit(_one_line(view.alertname) or "alert", room) + suffix


def _fallback(view: AlertView, now: datetime) -> str:
    """The notification text beside the attachment (mrkdwn: escaped)."""
    prefix = DRILL_PREFIX if view.drill else ""
    name = truncate(_one_line(view.alertname), 100)
    if view.is_resolved:
        took = humanize_duration(view.duration(now))
        raw = f"{prefix}{RESOLVED_MARK} Resolved: {name} after {took}"
    else:
        severity = truncate(_one_line(view.severity or ""), 20)
        count = view.alert_count()
        raw = f"{prefix}{_mark(view)} {severity} {name}".replace("  ", " ")
        if count > 1:
            raw += f" ({count} alerts)"
        summary = _one_line(view.summary().split("\n", 1)[0]) if view.summary() else ""
        host = view.host()
        if summary:
            raw += f": {summary}"
        if host:
            raw += f" ({_one_line(host)})"
    return _fit(escape(truncate(raw, MAX_FALLBACK)), MAX_FALLBACK * 2)


def _annotation_block(view: AlertView) -> Block:
    summary = view.summary()
    description = view.description()
    lines: list[str] = []
    if summary:
        lines += [f"*{_esc(line, 300)}*" for line in summary.split("\n")[:3] if line.strip()]
    if description:
        budget = _SECTION_BUDGET - sum(len(line) + 1 for line in lines) - 200
        lines.append(_fit(_esc(description, 2400), max(200, budget)))
    if not lines:
        lines.append("_No summary or description annotation._")
    if view.annotations_are_stale:
        lines.append(
            "_↑ From the last firing notification: any value quoted above is not current._"
        )
    return _section("\n".join(lines))


def _fields_block(view: AlertView) -> Block | None:
    labels = view.key_labels()
    if not labels:
        return None
    shown = labels if len(labels) <= MAX_FIELDS else labels[: MAX_FIELDS - 1]
    fields = [
        {"type": "mrkdwn", "text": _fit(f"*{_esc(k, 60)}*\n{_esc(v, 300)}", MAX_FIELD)}
        for k, v in shown
    ]
    if len(labels) > MAX_FIELDS:
        rest = labels[MAX_FIELDS - 1 :]
        names = ", ".join(_esc(k, 40) for k, _ in rest[:10])
        more = f" +{len(rest) - 10}" if len(rest) > 10 else ""
        fields.append({"type": "mrkdwn",
                       "text": _fit(f"*+{len(rest)} more labels*\n{names}{more}", MAX_FIELD)})
    return {"type": "section", "fields": fields}


def _alert_line(view: AlertView, item: AlertItem, now: datetime) -> str:
    labels = view.varying_labels(item)[:4]
    parts = [f"{_esc(k, 40)}={_esc(v, 80)}" for k, v in labels]
    line = "• " + (", ".join(parts) if parts else _esc(item.fingerprint or "alert", 40))
    if item.starts_at is not None:
        line += f" · since {_clock(item.starts_at, now)}"
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
        line = _fit(_alert_line(view, item, now), 400)
        if used + len(line) + 1 > _SECTION_BUDGET - 200:
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    hidden = len(items) - shown
    if hidden:
        lines.append(f"… and {hidden} more alert{'s' if hidden != 1 else ''}")
    if view.truncated_alerts:
        lines.append(f"… Alertmanager left out {view.truncated_alerts} more (truncatedAlerts)")
    return _section("\n".join(lines))


def _links_block(view: AlertView, runbook: Runbook, external: str | None) -> Block:
    links: list[str] = []
    urls = [_prometheus_url(u, external) for u in view.generator_urls()]
    safe = [u for u in (safe_url(u) for u in urls) if u]
    for index, url in enumerate(safe[:5]):
        label = "Prometheus" if index == 0 else f"Prometheus {index + 1}"
        links.append(f"<{url}|{label}>")
    if len(safe) > 5:
        links.append(f"+{len(safe) - 5} more graphs")
    runbook_link = _link(view.runbook_url(), "Runbook")
    links.append(runbook_link or f"Runbook {code_span(runbook.id)}")
    return _context("🔗 " + " · ".join(links))


def _runbook_block(runbook: Runbook, steps: int = 3) -> Block:
    lines = [f"*📖 Runbook: {_esc(_one_line(runbook.title), 150)}*",
             _esc(_one_line(runbook.meaning), 600)]
    if runbook.diagnosis:
        lines.append("*First steps*")
    for number, step in enumerate(runbook.diagnosis[:steps], start=1):
        line = f"{number}. {_esc(_one_line(step.text), 300)}"
        if step.command:
            line += f"\n      {code_span(step.command, 300)}"
        lines.append(line)
    more = len(runbook.diagnosis) - steps
    tail = "_Full runbook in the thread"
    tail += f" ({more} more diagnosis step{'s' if more != 1 else ''})._" if more > 0 else "._"
    lines.append(tail)
    return _section("\n".join(lines))


def _state_lines(view: AlertView, now: datetime) -> list[str]:
    lines: list[str] = []
    if view.drill:
        lines.append("🎯 Game Day drill: not a real incident")
    opened = f"Opened {_clock(view.opened_at, now)}"
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
                text += f" until {_clock(view.silenced_until, now)}"
            if view.silenced_by:
                text += f" by {mention(view.silenced_by)}"
            lines.append(text + f" (silence {code_span(view.silence_id, 64)})")
        elif view.silenced_until is not None:
            lines.append(f"🔔 Silence ended {_clock(view.silenced_until, now)}")
    if view.is_resolved:
        text = f"{RESOLVED_MARK} Resolved"
        if view.resolved_by:
            text += f" by {mention(view.resolved_by)}"
        text += f" after {humanize_duration(view.duration(now))}"
        lines.append(text)
    return lines


def _silence_select(public_id: str, durations: Sequence[str]) -> Block:
    options = [
        {"text": _plain(f"Silence {_duration_label(d)}", MAX_BUTTON_TEXT),
         "value": silence_value(public_id, d)[:MAX_OPTION_VALUE]}
        for d in list(dict.fromkeys(durations))[:MAX_OPTIONS]
    ]
    return {
        "type": "static_select",
        "action_id": SILENCE,
        "placeholder": _plain("Silence…", MAX_BUTTON_TEXT),
        "options": options,
    }


def _actions_block(view: AlertView, runbook: Runbook, now: datetime,
                   durations: Sequence[str]) -> Block:
    pid = view.public_id
    elements: list[Block] = []
    if not view.is_acked:
        elements.append(_button(ACK, "Acknowledge", pid, "primary"))
    if view.is_silenced(now):
        elements.append(_button(UNSILENCE, "Unsilence", pid))
    elif durations:
        elements.append(_silence_select(pid, durations))
    if runbook.diag_scenario is not None:
        elements.append(_button(DIAG, "Run diagnostics", pid))
    resolve = _button(RESOLVE, "Resolve", pid, "danger")
    resolve["confirm"] = {
        "title": _plain("Resolve this incident?", 100),
        "text": _plain(
            f"Marks {truncate(_one_line(view.alertname), 80)} resolved for everyone. If "
            "Alertmanager still reports it firing, a new incident opens.",
            MAX_CONFIRM_TEXT,
        ),
        "confirm": _plain("Resolve", 30),
        "deny": _plain("Cancel", 30),
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
    prometheus_external_url: str | None = None,
    silence_durations: Sequence[str] = SILENCE_DURATIONS,
) -> dict[str, Any]:
    """The alert message, as ``chat.postMessage`` / ``chat.update`` fields:
    ``{"text": <notification fallback>, "attachments": [{"color", "blocks"}]}``.

    Shows severity, name and count; summary and description (marked as the last firing
    notification's once resolved); the key labels; one line per alert of a group; links to
    Prometheus (each distinct generatorURL, moved onto ``prometheus_external_url`` when given)
    and the runbook; the runbook's meaning and first three diagnosis steps; the state
    (acknowledged, silenced, resolved, with times); and, while firing, the buttons.
    """
    blocks: list[Block] = [{"type": "header", "text": _plain(header_text(view), MAX_HEADER)}]
    blocks.append(_annotation_block(view))
    fields = _fields_block(view)
    if fields is not None:
        blocks.append(fields)
    alerts = _alerts_block(view, now)
    if alerts is not None:
        blocks.append(alerts)
    blocks.append(_links_block(view, runbook, prometheus_external_url))
    blocks.append({"type": "divider"})
    blocks.append(_runbook_block(runbook))
    blocks.append(_context("\n".join(_state_lines(view, now))))
    if not view.is_resolved:
        blocks.append(_actions_block(view, runbook, now, silence_durations))
    return {
        "text": _fallback(view, now),
        "attachments": [{"color": _color(view, now), "blocks": blocks}],
    }


# == the runbook thread =====================================================================

_Unit = tuple[str, int | None]  # (rendered mrkdwn, global step number or None)


def _step_units(step: Step, label: str, number: int) -> list[_Unit]:
    """A step as one unit, or several when it would not fit one section."""
    text = f"*{label}* {_esc(_one_line(step.text), 2000)}"
    pieces = [text]
    if step.command:
        pieces.append(code_block(step.command, 2400))
    if step.snippet:
        pieces.append(code_block(step.snippet, 2400))
    whole = "\n".join(pieces)
    if len(whole) <= _SECTION_BUDGET:
        return [(whole, number)]
    return [(_fit(piece, _SECTION_BUDGET), number) for piece in pieces]


# What `/genai diag <scenario>` takes, in order of preference. A `pod` label counts only in
# the guide's model namespace: on DCGM alerts it names the exporter's pod, not the model's.
_DIAG_TARGETS: dict[str, tuple[str, ...]] = {
    "oom": ("pod", "host"),
    "model-load": ("pod",),
    "network": ("model", "pod"),
    "karpenter": ("nodepool",),
}
MODEL_NAMESPACE = "inference"


def _diag_target(view: AlertView, scenario: str) -> str:
    for name in _DIAG_TARGETS.get(scenario, ("pod", "model", "host")):
        if name == "host":
            value = view.host()
        elif name == "pod" and view.label("namespace") not in (None, MODEL_NAMESPACE):
            value = None
        else:
            value = view.label(name)
        if value:
            return value
    return "<pod>" if scenario in ("oom", "model-load") else "<target>"


def _pack_units(units: list[_Unit]) -> list[tuple[str, set[int]]]:
    """Join consecutive units into as few sections as fit; each remembers its steps."""
    packed: list[tuple[str, set[int]]] = []
    text = ""
    steps: set[int] = set()
    for unit, number in units:
        candidate = f"{text}\n\n{unit}" if text else unit
        if text and len(candidate) > _SECTION_BUDGET:
            packed.append((text, steps))
            text, steps = unit, set()
        else:
            text = candidate
        if number is not None:
            steps.add(number)
    if text:
        packed.append((text, steps))
    return packed


def runbook_thread(view: AlertView, runbook: Runbook) -> dict[str, Any]:
    """The full runbook for the incident's thread: meaning, impact, the linked diag scenario,
    every diagnosis step (commands in code blocks) and every mitigation (snippets in code
    blocks), related runbooks. Split over sections of at most 3000 characters; past 50
    blocks the rest is cut with "… N more steps"."""
    prefix = DRILL_PREFIX if view.drill else ""
    header = {"type": "header",
              "text": _plain(f"{prefix}📖 Runbook: {_one_line(runbook.title)}", MAX_HEADER)}
    units: list[_Unit] = [
        (f"*What it means*\n{_esc(runbook.meaning.strip(), 2800)}", None),
        (f"*Impact*\n{_esc(runbook.impact.strip(), 2800)}", None),
    ]
    if runbook.diag_scenario is not None:
        target = _diag_target(view, runbook.diag_scenario)
        command = f"/genai diag {runbook.diag_scenario} {_one_line(target)}"
        units.append((
            f"*Automated diagnosis* (scenario {code_span(runbook.diag_scenario)}): press "
            f"*Run diagnostics* on the alert, or run {code_span(command)}",
            None,
        ))
    number = 0
    for title, part in (("Diagnosis", runbook.diagnosis), ("Mitigation", runbook.mitigation)):
        units.append((f"*{title}*", None))
        for index, step in enumerate(part, start=1):
            number += 1
            units += _step_units(step, f"{index}.", number)
    total_steps = number

    tail_parts = [f"Runbook {code_span(runbook.id)}"]
    # The runbook_url annotation names the alert's own runbook, not a linked scenario's.
    own = runbook.alert == view.alertname or runbook.is_generic
    runbook_link = _link(view.runbook_url(), "source") if own else None
    if runbook_link:
        tail_parts.append(runbook_link)
    if runbook.related:
        tail_parts.append("related: " + ", ".join(code_span(r) for r in runbook.related))
    tail_parts.append(f"incident {code_span(view.public_id, 40)}")
    tail = _context(" · ".join(tail_parts))

    packed = _pack_units(units)
    budget = MAX_BLOCKS - 2  # the header and the tail
    sections: list[Block] = []
    if len(packed) <= budget:
        sections = [_section(text) for text, _ in packed]
    else:
        kept = packed[: budget - 1]  # one block for the overflow note
        sections = [_section(text) for text, _ in kept]
        shown: set[int] = set()
        for _, numbers in kept:
            shown |= numbers
        # A step cut in the middle counts as not shown.
        first_cut = packed[budget - 1][1]
        hidden = total_steps - len(shown - first_cut)
        sections.append(_context(
            f"… {hidden} more step{'s' if hidden != 1 else ''}: see runbook "
            f"{code_span(runbook.id)}"
        ))
    return {
        "text": _fit(escape(truncate(f"{prefix}Runbook: {_one_line(runbook.title)}", 280)),
                     MAX_FALLBACK * 2),
        "blocks": [header, *sections, tail],
    }


# == thread notes ===========================================================================


def _note(view: AlertView, text: str) -> dict[str, Any]:
    prefix = DRILL_PREFIX if view.drill else ""
    body = _fit(prefix + text, MAX_SECTION)
    return {"text": body, "blocks": [_section(body)]}


def resolved_note(view: AlertView, *, now: datetime) -> dict[str, Any]:
    """The thread note when an incident resolves: ``✅ Resolved after 12 m`` (by whom when
    resolved by hand), and how long acknowledging took."""
    text = f"{RESOLVED_MARK} Resolved"
    if view.resolved_by:
        text += f" by {mention(view.resolved_by)}"
    text += f" after {humanize_duration(view.duration(now))}"
    if not view.resolved_by:
        text += " (Alertmanager reported it resolved)"
    tta = view.time_to_ack()
    if tta is not None:
        text += f" · acknowledged by {mention(view.acked_by)} after {humanize_duration(tta)}"
    else:
        text += " · never acknowledged"
    return _note(view, text)


_NOTE_KINDS = {
    ACK: "ack", "acknowledge": "ack", "acknowledged": "ack",
    SILENCE: "silence", "silenced": "silence",
    UNSILENCE: "unsilence", "unsilenced": "unsilence",
    DIAG: "diag", "diagnose": "diag", "diagnostics": "diag",
    RESOLVE: "resolve", "resolved": "resolve",
}


def action_note(kind: str, user_id: str, view: AlertView, *, detail: str = "") -> dict[str, Any]:
    """A thread note for a button press. ``kind``: ``ack``, ``silence`` (``detail`` e.g.
    ``"for 4h (silence abc)"``), ``unsilence``, ``diag`` or ``resolve`` (the action ids work
    too); ``detail`` is untrusted text, shown escaped with durations humanised."""
    kind = _NOTE_KINDS.get(kind, kind)
    who = mention(user_id)
    extra = _esc(_DURATION_IN_TEXT.sub(r"\1 \2", _one_line(detail)), 300) if detail else ""
    if kind == "ack":
        text = f"👀 Acknowledged by {who}"
        tta = view.time_to_ack()
        if tta is not None:
            text += f" after {humanize_duration(tta)}"
    elif kind == "silence":
        text = f"🔕 Silenced by {who}"
        if extra:
            text += f" {extra}"
        elif view.silenced_until is not None:
            text += f" until {_clock(view.silenced_until)}"
            if view.silence_id:
                text += f" (silence {code_span(view.silence_id, 64)})"
        extra = ""
    elif kind == "unsilence":
        text = f"🔔 Unsilenced by {who}: alerts of this group notify again"
    elif kind == "diag":
        text = f"🔎 Diagnostics requested by {who}"
    elif kind == "resolve":
        text = f"{RESOLVED_MARK} Resolved by {who}"
        if view.resolved_at is not None:
            text += f" after {humanize_duration(view.duration(view.resolved_at))}"
    else:
        text = f"{_esc(_one_line(kind), 40) or 'action'} by {who}"
    if extra:
        text += f" · {extra}"
    return _note(view, text)
