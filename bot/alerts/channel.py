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

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

Status = Literal["firing", "resolved"]

ZERO_TIME = "0001-01-01T00:00:00Z"
ALERTMANAGER_USERNAME = "Alertmanager"
SEVERITIES = ("critical", "warning", "info")
TITLE_LIMIT = 1024  # Alertmanager cuts `title` to this many characters, ending with "…"
MAX_VALUES = 128  # label values kept per part of a subject; real label sets are far smaller

_GUIDE_TITLE = re.compile(r"\s*(FIRING|RESOLVED)\s*:(.*)", re.IGNORECASE | re.DOTALL)
_SUBJECT = re.compile(r"\[(?:FIRING:([0-9]{1,9})|(RESOLVED))\] ?(.*)", re.DOTALL)
_RECEIVER_LINK = "/#/alerts?receiver="
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


@dataclass(frozen=True)
class _Subject:
    status: Status
    count: int | None
    group: tuple[str, ...]
    common: tuple[str, ...]
    truncated: bool
    text: str


# -- recognising and parsing -------------------------------------------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _split_values(part: str) -> tuple[tuple[str, ...], bool]:
    """Values joined by single spaces (a value containing a space cannot be told apart), at
    most MAX_VALUES of them; True when there were more."""
    if not part:
        return (), False
    values = part.split(" ", MAX_VALUES)
    return tuple(values[:MAX_VALUES]), len(values) > MAX_VALUES


def _subject(
    status: Status,
    count: int | None,
    text: str,
    group_part: str,
    common_part: str,
    *,
    cut: Literal["group", "common"] | None = None,
) -> _Subject:
    """`cut`: the part in which the text ends inside a value (a title cut at 1024 characters);
    that partial value is dropped."""
    group, group_over = _split_values(group_part)
    common, common_over = _split_values(common_part)
    if cut == "group" and not group_over:
        group = group[:-1]
    elif cut == "common" and not common_over:
        common = common[:-1]
    truncated = cut is not None or group_over or common_over
    return _Subject(status, count, group, common, truncated, text)


def _open_paren(rest: str) -> int | None:
    """Index of the "(" opening the common-label part that ends `rest`, else None.

    Matched from the end so that values with balanced parentheses, e.g. `OOMKilled (exit
    137)`, stay whole; when the parentheses do not balance, the first " (" is taken.
    """
    depth = 0
    for i in range(len(rest) - 1, -1, -1):
        char = rest[i]
        if char == ")":
            depth += 1
        elif char == "(":
            depth -= 1
            if depth == 0:
                if i == 0 or rest[i - 1] == " ":
                    return i
                break
    first = rest.find(" (")
    return first + 1 if first >= 0 else (0 if rest.startswith("(") else None)


def _parse_subject(text: str, *, may_be_cut: bool) -> _Subject | None:
    """Alertmanager's default subject: `[FIRING:n] <group values> (<other common values>)`."""
    match = _SUBJECT.fullmatch(text)
    if match is None:
        return None
    count_text, resolved, rest = match.groups()
    status: Status = "resolved" if resolved else "firing"
    count = int(count_text) if count_text is not None else None
    if may_be_cut and len(text) >= TITLE_LIMIT and text.endswith("…"):
        rest = rest[:-1]
        paren = rest.find(" (")
        if paren < 0:  # the cut fell inside the group values
            return _subject(status, count, text, rest, "", cut="group")
        return _subject(status, count, text, rest[:paren], rest[paren + 2 :], cut="common")
    if rest.endswith(")"):
        paren = _open_paren(rest)
        if paren is not None:
            group_part = rest[: max(paren - 1, 0)]
            return _subject(status, count, text, group_part, rest[paren + 1 : -1])
    # No extra common labels: the group values, then the template's trailing space.
    return _subject(status, count, text, rest[:-1] if rest.endswith(" ") else rest, "")


def _strip_link(fallback: str, title_link: str | None) -> tuple[str, bool]:
    """The fallback without its ` | <title link>` tail; True when it had Alertmanager's."""
    if title_link and fallback.endswith(" | " + title_link):
        return fallback[: -len(title_link) - 3], _RECEIVER_LINK in title_link
    head, sep, tail = fallback.rpartition(" | ")
    if sep and "://" in tail and not any(c.isspace() for c in tail):
        return head, _RECEIVER_LINK in tail
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


def _is_candidate(event: Mapping[str, Any], own_ids: Collection[str]) -> bool:
    """A top-level channel message from a bot or webhook, not an edit, not ours, no blocks."""
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
    user = _str(event.get("user"))
    if (bot_id and bot_id in own_ids) or (user and user in own_ids):
        return False
    # Block Kit messages (ours, other apps) are not Alertmanager's, which sends no blocks;
    # Slack may add a rich_text rendering of a message's text, which is harmless.
    blocks = event.get("blocks")
    return not blocks or (
        isinstance(blocks, list)
        and all(isinstance(b, Mapping) and b.get("type") == "rich_text" for b in blocks)
    )


def _assign_labels(
    alertname: str | None, subject: _Subject | None
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


def parse_alertmanager_message(
    event: Mapping[str, Any], *, channel: str, own_ids: Collection[str] = ()
) -> ChannelAlert | None:
    """The alert in an Alertmanager `slack_configs` post, or None for any other message.

    None for people, thread replies, edits (`message_changed`) and other subtypes, Block Kit
    messages, our own bot (`own_ids`: its bot and user ids), and any bot post lacking one of:
    - Alertmanager's provenance: username "Alertmanager", or an Alertmanager link
      (`…/#/alerts?receiver=…`) in `title_link` or at the end of `fallback`;
    - a status: the guide's title `FIRING: X` / `RESOLVED: X`, the default subject
      `[FIRING:n] …` / `[RESOLVED] …` in title or fallback, or — for a title that is a bare
      alert name — the colour (`danger` firing, `good` resolved);
    - an alert name.
    Never raises: label text is hostile input.
    """
    return _parse(event, channel, own_ids)


def _parse(event: Mapping[str, Any], channel: str, own_ids: Collection[str]) -> ChannelAlert | None:
    if not isinstance(event, Mapping) or not _is_candidate(event, own_ids):
        return None
    ts = _str(event.get("ts")) or ""
    if not _ts_ok(ts):
        return None
    attachment = _first_attachment(event)
    if attachment is None:
        return None
    title = _str(attachment.get("title")) or ""
    text = _str(attachment.get("text")) or ""
    title_link = _str(attachment.get("title_link")) or None
    color = _str(attachment.get("color")) or None
    fallback = _str(attachment.get("fallback")) or ""

    fallback_subject_text, fallback_link = _strip_link(fallback, title_link)
    from_fallback = _parse_subject(fallback_subject_text, may_be_cut=False)
    from_title = _parse_subject(title, may_be_cut=True)
    guide = _GUIDE_TITLE.fullmatch(title) if from_title is None else None

    provenance = (
        event.get("username") == ALERTMANAGER_USERNAME
        or (title_link is not None and _RECEIVER_LINK in title_link)
        or fallback_link
    )
    if not provenance:
        return None

    status: Status | None = None
    alertname: str | None = None
    if guide is not None:
        status = "firing" if guide.group(1).upper() == "FIRING" else "resolved"
        alertname = guide.group(2).strip() or None
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


def _digest(parts: Iterable[Any], length: int) -> str:
    raw = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def group_labels_of(alert: ChannelAlert) -> dict[str, str]:
    """The recovered group labels (alertname always included)."""
    out = {k: alert.labels[k] for k in alert.group_keys if k in alert.labels}
    if "alertname" not in out:
        out = {"alertname": alert.alertname, **out}
    return out


def group_key(alert: ChannelAlert, *, team: str = "") -> str:
    """Stable per channel and alert group: the FIRING and the RESOLVED post of one group
    (same channel, alertname and group label values) give the same key."""
    groups = sorted(group_labels_of(alert).items())
    digest = _digest([team, alert.channel, alert.alertname, groups], 24)
    return f"slack:{alert.channel}:{alert.alertname[:64]}:{digest}"


def fingerprint(alert: ChannelAlert, *, team: str = "") -> str:
    """16 hex digits like Alertmanager's, from channel and every recovered label."""
    return _digest([team, alert.channel, sorted(alert.labels.items())], 16)


def ts_to_rfc3339(ts: str) -> str:
    """Slack's `1700000000.000100` as `2023-11-14T22:13:20.0001Z` (UTC)."""
    seconds, _, fraction = ts.partition(".")
    try:
        moment = datetime.fromtimestamp(int(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return ZERO_TIME
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = fraction.rstrip("0")
    return f"{base}.{fraction}Z" if fraction.isdigit() else f"{base}Z"


def external_url(title_link: str | None) -> str:
    """Alertmanager's external URL: `title_link` before `/#/alerts?receiver=`, else its
    origin; "" when there is no usable http(s) link."""
    if not title_link:
        return ""
    if _RECEIVER_LINK in title_link:
        base = title_link.split(_RECEIVER_LINK, 1)[0]
        if base.startswith(("http://", "https://")):
            return base
    try:
        parts = urlsplit(title_link)
    except ValueError:
        return ""
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""


def to_notification(alert: ChannelAlert, *, team: str = "") -> dict[str, Any]:
    """An Alertmanager webhook (version 4) payload for the post, so the intake and store can
    record it like a webhook: one synthesized alert carrying everything recovered.

    `team` is the Slack workspace id; channel ids are unique only within one workspace, so
    it is folded into `groupKey` and `fingerprint` when given.
    """
    started = ts_to_rfc3339(alert.ts)
    annotations = {"summary": alert.title, "description": alert.text}
    labels = dict(alert.labels)
    labels.setdefault("alertname", alert.alertname)
    return {
        "version": "4",
        "groupKey": group_key(alert, team=team),
        "truncatedAlerts": 0,
        "status": alert.status,
        "receiver": f"slack:{alert.channel}",
        "groupLabels": group_labels_of(alert),
        "commonLabels": dict(labels),
        "commonAnnotations": dict(annotations),
        "externalURL": external_url(alert.title_link),
        "alerts": [
            {
                "status": alert.status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": started,
                "endsAt": ZERO_TIME if alert.status == "firing" else started,
                "generatorURL": "",
                "fingerprint": fingerprint(alert, team=team),
            }
        ],
    }
