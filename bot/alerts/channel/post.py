"""Alertmanager's posts in the alert channels, read back into alerts.

Alertmanager (`slack_configs`) posts into the channels through an incoming webhook: no
blocks, one attachment with `title`, `title_link`, `text`, `fallback`, `callback_id`,
`footer`, `color` and `mrkdwn_in`, username "Alertmanager". What 0.25 really sends (recorded
from the binary in `tests/fixtures/alertmanager/`):

- `title`: the configured template, e.g. the guide's `FIRING: GPUMemoryHigh`, or the default
  subject `[FIRING:2] GPUTemperatureHigh warning (node-2 genai-platform)` /
  `[RESOLVED] GPUTemperatureHigh warning (node-2 genai-platform)`. Cut at 1024 characters,
  the last one being "…".
- `fallback`: always the default subject (whatever the title is), then ` | ` and the title
  link, never cut. The subject is `[FIRING:<n firing>]` or `[RESOLVED]`, a space, the group
  label values joined by spaces, a space, then — only when the common labels hold more than
  the group labels — the other common label values in parentheses. So a group without extra
  common labels ends with a space: `[FIRING:1] DailyCostExceeded warning  | http://…`.
  Values are listed alertname first, then by label name (uppercase before lowercase).
- `title_link`: `<external URL>/#/alerts?receiver=<receiver>`.
- `color`: `danger` while firing, `good` when resolved.
- Nothing is escaped: a label value `<!channel>` arrives as is (the JSON body has Go's
  `\\u003c!channel\\u003e`, which JSON decoding turns back into `<!channel>`).

The subject carries label values without their names. The parse keeps what it can prove:
`alertname` (from the guide's title, else the first group value, where Alertmanager puts it),
`severity` (a value that is one of the guide's levels), and every other value under a
positional name that no real label can have: `group[1]`, `common[0]`. Values are kept raw;
escaping is the renderer's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.alerts.channel.subject import Status, Subject, parse_subject

ALERTMANAGER_USERNAME = "Alertmanager"
SEVERITIES = ("critical", "warning", "info")
RECEIVER_LINK = "/#/alerts?receiver="

_GUIDE_TITLE = re.compile(r"\s*(FIRING|RESOLVED)\s*:(.*)", re.IGNORECASE | re.DOTALL)
# Prometheus refuses alert names that are not valid metric names.
_ALERTNAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_TS = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")
_COLOR_STATUS: dict[str, Status] = {"danger": "firing", "good": "resolved"}


def group_label(index: int) -> str:
    """The name kept for the `index`-th group label value whose real name is unknown."""
    return f"group[{index}]"


def common_label(index: int) -> str:
    """The name kept for the `index`-th extra common label value whose name is unknown."""
    return f"common[{index}]"


def is_positional(name: str) -> bool:
    """True for the names this module invents for values without a known label name."""
    return name.endswith("]") and name.startswith(("group[", "common["))


@dataclass(frozen=True)
class ChannelAlert:
    """One Alertmanager post in an alert channel, as far as it can be read back."""

    status: Status
    alertname: str
    count: int | None  # firing alerts, from `[FIRING:n]`; None when resolved or unknown
    labels: dict[str, str]  # raw values; see the module doc for the positional names
    title: str  # the attachment's title (or the fallback's subject when there is none)
    text: str
    title_link: str | None
    color: str | None
    channel: str
    ts: str
    bot_id: str | None
    # Names in `labels` recovered from the group part of the subject (Alertmanager's
    # groupLabels); the group key is derived from them.
    group_keys: tuple[str, ...] = ()
    # The labels are incomplete: they came from a title Alertmanager cut at 1024 characters,
    # or the subject listed more than MAX_VALUES values in a part.
    truncated: bool = False


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strip_link(fallback: str, title_link: str | None) -> tuple[str, bool]:
    """The fallback without its ` | <title link>` tail; True when it had Alertmanager's."""
    if title_link and fallback.endswith(" | " + title_link):
        return fallback[: -len(title_link) - 3], RECEIVER_LINK in title_link
    head, sep, tail = fallback.rpartition(" | ")
    if sep and "://" in tail and not any(c.isspace() for c in tail):
        return head, RECEIVER_LINK in tail
    return fallback, False


def _ts_ok(ts: str) -> bool:
    if not _TS.fullmatch(ts):
        return False
    try:
        datetime.fromtimestamp(float(ts), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return False
    return True


def _first_attachment(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    attachments = event.get("attachments")
    if not isinstance(attachments, list):
        return None
    return next((a for a in attachments if isinstance(a, Mapping)), None)


def _has_block_kit(event: Mapping[str, Any]) -> bool:
    """Block Kit anywhere: top-level blocks (Slack may add a harmless rich_text rendering of
    a message's text), or blocks inside an attachment, as in the bot's own cards.
    Alertmanager sends neither."""
    blocks = event.get("blocks")
    if blocks and not (isinstance(blocks, list) and all(
            isinstance(b, Mapping) and b.get("type") == "rich_text" for b in blocks)):
        return True
    attachments = event.get("attachments")
    return isinstance(attachments, list) and any(
        isinstance(a, Mapping) and a.get("blocks") for a in attachments)


def _posted(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The message an event carries: the event itself, or, for an edit (Alertmanager 0.32's
    ``update_message: true`` edits its post when the group resolves), the edited message."""
    if event.get("subtype") == "message_changed":
        inner = event.get("message")
        return inner if isinstance(inner, Mapping) else None
    return event


def _is_candidate(event: Mapping[str, Any]) -> bool:
    """A top-level channel message from a bot or webhook, not a person's, no Block Kit.

    The bot's own id is not excluded: Alertmanager 0.32 may post with the bot's token, and
    the bot's own messages always carry Block Kit."""
    if event.get("type", "message") != "message" or event.get("hidden"):
        return False
    subtype = event.get("subtype")
    if subtype not in (None, "bot_message"):
        return False  # message_changed, message_deleted, thread_broadcast, joins, ...
    ts = _str(event.get("ts"))
    thread_ts = event.get("thread_ts")
    if ts is None or (thread_ts is not None and thread_ts != ts):
        return False  # thread replies
    bot_id = _str(event.get("bot_id"))
    if not bot_id and subtype != "bot_message":
        return False  # people
    return not _has_block_kit(event)


def _assign_labels(
    alertname: str | None, subject: Subject | None
) -> tuple[str | None, dict[str, str], tuple[str, ...]]:
    """Name what can be named (alertname, severity); keep the rest by position."""
    if subject is None:
        return (
            alertname,
            ({"alertname": alertname} if alertname else {}),
            (("alertname",) if alertname else ()),
        )
    slots: list[tuple[str, int, str]] = [("group", i, v) for i, v in enumerate(subject.group)]
    slots += [("common", i, v) for i, v in enumerate(subject.common)]
    named: dict[int, str] = {}
    if alertname:
        at = next((n for n, slot in enumerate(slots) if slot[2] == alertname), None)
    elif (
        subject.group
        and _ALERTNAME.fullmatch(subject.group[0])
        and (subject.group[0] not in SEVERITIES)
    ):
        at = 0  # Alertmanager lists alertname first whenever it is a group label
    else:
        at = None
    if at is not None:
        named[at] = "alertname"
        alertname = slots[at][2]
    severity_at = next(
        (n for n, slot in enumerate(slots) if slot[2] in SEVERITIES and n not in named), None
    )
    if severity_at is not None:
        named[severity_at] = "severity"
    labels: dict[str, str] = {}
    group_keys: list[str] = []
    if alertname and at is None:
        labels["alertname"] = alertname  # from the title, not among the listed values
    for n, (part, index, value) in enumerate(slots):
        name = named.get(n) or (group_label(index) if part == "group" else common_label(index))
        labels[name] = value
        if part == "group":
            group_keys.append(name)
    ordered = dict(sorted(labels.items(), key=lambda kv: _label_order(kv[0])))
    return alertname, ordered, tuple(group_keys)


def _label_order(name: str) -> tuple[int, int, str]:
    if name == "alertname":
        return (0, 0, name)
    if name == "severity":
        return (1, 0, name)
    if is_positional(name):
        index = name[name.index("[") + 1 : -1]
        return (2 if name.startswith("group") else 3, int(index) if index.isdigit() else 0, name)
    return (4, 0, name)


def sender_ids(event: Mapping[str, Any]) -> frozenset[str]:
    """Who posted a message: its bot id (B…) and app id (A…), as far as Slack says."""
    message = _posted(event) or {}
    profile = message.get("bot_profile")
    ids = [message.get("bot_id"), message.get("app_id"),
           profile.get("app_id") if isinstance(profile, Mapping) else None]
    return frozenset(i for i in ids if isinstance(i, str) and i)


def parse_alertmanager_message(event: Mapping[str, Any], *, channel: str) -> ChannelAlert | None:
    """The alert in an Alertmanager `slack_configs` post (or in Alertmanager's edit of it),
    or None for any other message.

    Text arrives as Slack delivers it, with ``&``, ``<`` and ``>`` as entities; it is turned
    back into plain text here, so the renderers escape it exactly once.

    None for people, thread replies, deletions and other subtypes, Block Kit messages (the
    bot's own, other apps'), and any bot post lacking one of:
    - Alertmanager's provenance: username "Alertmanager", or an Alertmanager link
      (`…/#/alerts?receiver=…`) in `title_link` or at the end of `fallback`;
    - a status: the guide's title `FIRING: X` / `RESOLVED: X`, the default subject
      `[FIRING:n] …` / `[RESOLVED] …` in title or fallback, or — for a title that is a bare
      alert name — the colour (`danger` firing, `good` resolved);
    - an alert name.
    Never raises: label text is hostile input.
    """
    if not isinstance(event, Mapping):
        return None
    message = _posted(event)
    if message is None or not _is_candidate(message):
        return None
    return _parse(message, channel)


def _unescape(text: str) -> str:
    """Slack's three entities back to characters (``&amp;`` last, so ``&amp;lt;`` stays
    ``&lt;``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Mapping[str, Any], key: str) -> str:
    return _unescape(_str(obj.get(key)) or "")


def _title_alertname(rest: str) -> str | None:
    """The alert name after the guide's ``FIRING:``: its first word. A longer template
    (``FIRING: X — <summary>``) is cut at 1,024 characters at a different place in the
    FIRING and the RESOLVED post, so nothing after the name may key the incident."""
    words = rest.split()
    return words[0] if words and _ALERTNAME.fullmatch(words[0]) else None


def _parse(event: Mapping[str, Any], channel: str) -> ChannelAlert | None:
    ts = _str(event.get("ts")) or ""
    if not _ts_ok(ts):
        return None
    attachment = _first_attachment(event)
    if attachment is None:
        return None
    title = _text(attachment, "title")
    text = _text(attachment, "text")
    title_link = _text(attachment, "title_link") or None
    color = _str(attachment.get("color")) or None
    fallback = _text(attachment, "fallback")

    fallback_subject_text, fallback_link = _strip_link(fallback, title_link)
    from_fallback = parse_subject(fallback_subject_text, may_be_cut=False)
    from_title = parse_subject(title, may_be_cut=True)
    guide = _GUIDE_TITLE.fullmatch(title) if from_title is None else None

    provenance = (
        event.get("username") == ALERTMANAGER_USERNAME
        or (title_link is not None and RECEIVER_LINK in title_link)
        or fallback_link
    )
    if not provenance:
        return None

    status: Status | None = None
    alertname: str | None = None
    if guide is not None:
        status = "firing" if guide.group(1).upper() == "FIRING" else "resolved"
        alertname = _title_alertname(guide.group(2))
    elif from_title is not None:
        status = from_title.status
    elif from_fallback is not None:
        status = from_fallback.status
    elif color is not None and color.lower() in _COLOR_STATUS:
        # A custom title and fallback: the colour is all that tells the status, and a title
        # that is a bare alert name (`{{ .CommonLabels.alertname }}`) is all that names it.
        status = _COLOR_STATUS[color.lower()]
        stripped = title.strip()
        alertname = stripped if _ALERTNAME.fullmatch(stripped) else None
        if alertname is None:
            return None
    if status is None:
        return None

    # Labels: the fallback is never cut, so it wins over a default title.
    subject = from_fallback if from_fallback is not None else from_title
    alertname, labels, group_keys = _assign_labels(alertname, subject)
    if not alertname:
        return None
    count = next(
        (s.count for s in (from_title, from_fallback) if s is not None and s.count is not None),
        None,
    )
    if status == "resolved":
        count = None
    shown_title = title or (subject.text if subject is not None else "")
    bot_id = _str(event.get("bot_id")) or None
    return ChannelAlert(
        status=status,
        alertname=alertname,
        count=count,
        labels=labels,
        title=shown_title,
        text=text,
        title_link=title_link,
        color=color,
        channel=channel,
        ts=ts,
        bot_id=bot_id,
        group_keys=group_keys,
        truncated=subject is not None and subject.truncated,
    )


# -- into the webhook's shape ------------------------------------------------------------
