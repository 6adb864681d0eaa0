"""Short notes in an incident's thread: resolved, acknowledged, silenced, unsilenced,
escalated."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bot.alerts.view import AlertView
from bot.messages import NoteKind
from bot.slack.render.card import DRILL_PREFIX, RESOLVED_MARK, escalation_targets
from bot.slack.render.kit import MAX_SECTION, code_span, esc, fit, mention, one_line, section
from bot.times import clock, humanize_duration


def _note(view: AlertView, text: str) -> dict[str, Any]:
    prefix = DRILL_PREFIX if view.drill else ""
    body = fit(prefix + text, MAX_SECTION)
    return {"text": body, "blocks": [section(body)]}


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


_DURATION_IN_TEXT = re.compile(r"\b(\d{1,4})([smhd])\b")


def action_note(kind: NoteKind, user_id: str, view: AlertView, *,
                detail: str = "") -> dict[str, Any]:
    """The thread note for an acknowledge, silence or unsilence. ``detail`` is untrusted
    text (``"for 4h (silence abc)"``), shown escaped with durations humanised."""
    who = mention(user_id)
    extra = esc(_DURATION_IN_TEXT.sub(r"\1 \2", one_line(detail)), 300) if detail else ""
    if kind is NoteKind.ACK:
        text = f"👀 Acknowledged by {who}"
        tta = view.time_to_ack()
        if tta is not None:
            text += f" after {humanize_duration(tta)}"
        if extra:
            text += f" · {extra}"
    elif kind is NoteKind.SILENCE:
        text = f"🔕 Silenced by {who}"
        if extra:
            text += f" {extra}"
        elif view.silenced_until is not None:
            text += f" until {clock(view.silenced_until)}"
            if view.silence_id:
                text += f" (silence {code_span(view.silence_id, 64)})"
    elif kind is NoteKind.UNSILENCE:
        text = f"🔔 Unsilenced by {who}: alerts of this group notify again"
    else:
        raise ValueError(f"{kind} is not a person's action")
    return _note(view, text)


def escalation_note(view: AlertView, mentions: tuple[str, ...], detail: str,
                    digested: bool = False) -> dict[str, Any]:
    """An escalation step in the thread: the mentions are built here from ids (so they ping);
    ``detail`` (``"step 1 of 2, 5m after it began firing"``) is shown escaped. Under a storm
    digest the note stands for all its incidents, and the digest's menus stop it."""
    who = escalation_targets(mentions, ping_channel=True)
    extra = esc(_DURATION_IN_TEXT.sub(r"\1 \2", one_line(detail)), 300) if detail else ""
    text = f"⏫ {who}: this alert is still unacknowledged"
    if extra:
        text += f" ({extra})"
    text += (". Please take a look; Acknowledge or Silence from the digest's menus stops the "
             "escalation." if digested else
             ". Please take a look; Acknowledge, Silence or Resolve on the card stops the "
             "escalation.")
    return _note(view, text)
