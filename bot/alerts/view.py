"""The sink-neutral view of an incident: what any renderer (Slack, console) shows of it.

An :class:`AlertView` is built from the stored :class:`~bot.store.models.Incident` and its
latest :class:`~bot.store.models.AlertEvent` (the raw Alertmanager v4 ``alerts[]``). Every
string in it is *plain, untrusted text* exactly as Alertmanager sent it: renderers escape it
for their sink. Nothing here imports Slack.

Alertmanager facts this module encodes:

- the incident's labels are the group's common labels; labels that differ between the alerts
  of a group (the host of each GPU, say) live only on each alert;
- ``commonAnnotations`` drops any annotation that differs between alerts, so the
  description is rebuilt from the alerts themselves (deduplicated, one per line);
- a firing alert's ``endsAt`` is Go's zero time ``0001-01-01T00:00:00Z``: read as None;
- durations run from Alertmanager's ``startsAt`` to its ``endsAt``, not from when the bot
  heard: a notification can arrive minutes after the alert fired (``group_wait``, a retry);
- a resolved notification repeats the last *firing* annotations, so their values (``value is
  95%``) are stale: :attr:`AlertView.annotations_are_stale` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.store.models import AlertEvent, Incident
from bot.times import as_utc, humanize_duration, parse_time, utcnow

__all__ = [
    "HIDDEN_LABELS",
    "HOST_LABELS",
    "NOISE_LABELS",
    "PRIORITY_LABELS",
    "AlertItem",
    "AlertView",
    "humanize_duration",
    "order_labels",
    "parse_time",
]

# The DCGM exporter's host label is `Hostname` (older) or `hostname` (newer); `node` is the
# guide's own label (present when the ServiceMonitor relabels the node name).
HOST_LABELS: tuple[str, ...] = ("Hostname", "hostname", "node")

# Labels worth reading first, in this order.
PRIORITY_LABELS: tuple[str, ...] = (
    "node", "Hostname", "hostname", "gpu", "pod", "namespace", "model", "instance", "nodepool",
)

# Labels shown elsewhere (the header shows the alert name and severity).
HIDDEN_LABELS: frozenset[str] = frozenset({"alertname", "severity"})

# Scrape and routing plumbing: shown last, after everything an engineer acts on.
NOISE_LABELS: frozenset[str] = frozenset(
    {
        "job", "prometheus", "prometheus_replica", "receiver", "endpoint", "service",
        "container", "__name__", "uid", "UUID", "pci_bus_id", "device",
        "DCGM_FI_DRIVER_VERSION", "DCGM_FI_PROCESS_NAME", "err_code", "err_msg",
        "team", "gameday", "cluster", "region",
    }
)

def _str(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _str_map(value: Any) -> dict[str, str]:
    """A label or annotation map with every key and value a string (JSON may hold anything)."""
    if not isinstance(value, Mapping):
        return {}
    return {_str(k): _str(v) for k, v in value.items()}


def _unique(values: Iterable[str]) -> list[str]:
    """Non-blank values, first occurrence kept, order kept."""
    return [v for v in dict.fromkeys(v.strip() for v in values) if v]


def order_labels(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """Labels in reading order: :data:`PRIORITY_LABELS` first (in that order), then the rest
    alphabetically, then :data:`NOISE_LABELS`; :data:`HIDDEN_LABELS` and empty values are
    left out."""
    shown = {k: v for k, v in labels.items() if k not in HIDDEN_LABELS and v != ""}
    first = [(k, shown[k]) for k in PRIORITY_LABELS if k in shown]
    rest = sorted(
        (k, v) for k, v in shown.items() if k not in PRIORITY_LABELS and k not in NOISE_LABELS
    )
    noise = sorted((k, v) for k, v in shown.items() if k in NOISE_LABELS)
    return first + rest + noise


def _host_of(labels: Mapping[str, str]) -> str | None:
    for key in HOST_LABELS:
        value = labels.get(key)
        if value:
            return value
    return None


@dataclass(frozen=True)
class AlertItem:
    """One alert of the group, as the latest notification carried it."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None  # None while firing (Go's zero time)
    generator_url: str
    status: str  # firing | resolved
    fingerprint: str

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AlertItem:
        """One entry of a v4 webhook's ``alerts[]``; tolerant of missing or odd fields."""
        status = _str(raw.get("status")).lower()
        return cls(
            labels=_str_map(raw.get("labels")),
            annotations=_str_map(raw.get("annotations")),
            starts_at=parse_time(raw.get("startsAt")),
            ends_at=parse_time(raw.get("endsAt")),
            generator_url=_str(raw.get("generatorURL")).strip(),
            status=status if status in ("firing", "resolved") else "firing",
            fingerprint=_str(raw.get("fingerprint")),
        )

    @property
    def is_firing(self) -> bool:
        return self.status == "firing"

    def host(self) -> str | None:
        """The node this alert is about: ``Hostname``, ``hostname`` or ``node``."""
        return _host_of(self.labels)


@dataclass(frozen=True)
class AlertView:
    """Everything a renderer needs to show one incident; plain untrusted text throughout."""

    public_id: str
    alertname: str
    severity: str | None
    status: str  # firing | resolved
    labels: dict[str, str]  # the group's common labels
    annotations: dict[str, str]  # the group's common annotations
    alerts: list[AlertItem]
    opened_at: datetime  # when the bot heard; see began_at
    resolved_at: datetime | None
    resolved_by: str | None
    acked_by: str | None
    acked_at: datetime | None
    silence_id: str | None
    silenced_until: datetime | None
    drill: bool
    truncated_alerts: int = 0
    started_at: datetime | None = None  # Alertmanager's startsAt (the group's earliest)
    ended_at: datetime | None = None  # Alertmanager's endsAt once resolved
    # Who set the silence; the incident row does not keep it (the audit log does), so
    # callers that know it pass it with dataclasses.replace().
    silenced_by: str | None = None

    @classmethod
    def from_incident(cls, incident: Incident, latest_event: AlertEvent | None) -> AlertView:
        """The view of a stored incident and its latest notification (None: none stored).

        Works on unsaved ORM objects too (column defaults are then still None)."""
        alerts: list[AlertItem] = []
        truncated = 0
        if latest_event is not None:
            raw_alerts = latest_event.alerts if isinstance(latest_event.alerts, list) else []
            alerts = [AlertItem.from_dict(a) for a in raw_alerts if isinstance(a, Mapping)]
            try:
                truncated = max(0, int(latest_event.truncated_alerts or 0))
            except (TypeError, ValueError):
                truncated = 0
        status = "resolved" if incident.status == "resolved" else "firing"
        opened_at = as_utc(incident.opened_at) if incident.opened_at else utcnow()
        return cls(
            public_id=_str(incident.public_id),
            alertname=_str(incident.alertname) or "unknown",
            severity=_str(incident.severity) or None,
            status=status,
            labels=_str_map(incident.labels),
            annotations=_str_map(incident.annotations),
            alerts=alerts,
            opened_at=opened_at,
            resolved_at=as_utc(incident.resolved_at) if incident.resolved_at else None,
            resolved_by=_str(incident.resolved_by) or None,
            acked_by=_str(incident.acked_by) or None,
            acked_at=as_utc(incident.acked_at) if incident.acked_at else None,
            silence_id=_str(incident.silence_id) or None,
            silenced_until=as_utc(incident.silenced_until) if incident.silenced_until else None,
            drill=bool(incident.drill),
            truncated_alerts=truncated,
            started_at=as_utc(incident.started_at) if incident.started_at else None,
            ended_at=as_utc(incident.ended_at) if incident.ended_at else None,
        )

    # -- state ----------------------------------------------------------------------------

    @property
    def is_resolved(self) -> bool:
        return self.status == "resolved"

    @property
    def is_acked(self) -> bool:
        return self.acked_by is not None or self.acked_at is not None

    def is_silenced(self, now: datetime | None = None) -> bool:
        """A silence is set and has not run out yet (at ``now``, default: the current time)."""
        if self.silence_id is None:
            return False
        if self.silenced_until is None:
            return True
        return as_utc(self.silenced_until) > (as_utc(now) if now else utcnow())

    @property
    def annotations_are_stale(self) -> bool:
        """On a resolved incident the annotations are the last *firing* notification's: any
        value they quote is no longer current."""
        return self.is_resolved

    @property
    def began_at(self) -> datetime:
        """When it started firing: Alertmanager's startsAt, else when the bot heard."""
        return self.started_at or self.opened_at

    def duration(self, now: datetime) -> float:
        """Seconds firing: from startsAt to endsAt (to the resolve when a person resolved
        it, or to ``now`` while firing)."""
        end = (self.ended_at or self.resolved_at) if self.is_resolved else None
        end = end or as_utc(now)
        return max(0.0, (end - self.began_at).total_seconds())

    def time_to_ack(self) -> float | None:
        """From startsAt to the first acknowledge."""
        if self.acked_at is None:
            return None
        return max(0.0, (self.acked_at - self.began_at).total_seconds())

    # -- content --------------------------------------------------------------------------

    def firing_alerts(self) -> list[AlertItem]:
        return [a for a in self.alerts if a.is_firing]

    def alert_count(self) -> int:
        """How many alerts the group holds: the firing ones while it fires (a notification
        can carry alerts that already resolved), all of them once resolved; alerts that
        Alertmanager cut off (``truncatedAlerts``) count too. At least 1."""
        shown = self.firing_alerts() if not self.is_resolved else self.alerts
        if not shown:
            shown = self.alerts
        return max(1, len(shown) + self.truncated_alerts)

    def key_labels(self) -> list[tuple[str, str]]:
        """The group's common labels in reading order (see :func:`order_labels`): host, GPU,
        pod, namespace, model, instance and nodepool first, scrape plumbing last; alertname
        and severity (shown in the header) left out."""
        return order_labels(self.labels)

    def varying_labels(self, item: AlertItem) -> list[tuple[str, str]]:
        """The labels that tell ``item`` apart from the group: those not in the common
        labels (or with another value), in reading order."""
        own = {k: v for k, v in item.labels.items() if self.labels.get(k) != v}
        return order_labels(own)

    def _annotation(self, name: str) -> str:
        values = _unique(a.annotations.get(name, "") for a in self.alerts)
        if values:
            return "\n".join(values)
        return self.annotations.get(name, "").strip()

    def summary(self) -> str:
        """The summary annotation ('' when none); per-alert summaries, deduplicated, one per
        line, when they differ."""
        return self._annotation("summary")

    def description(self) -> str:
        """The description annotation ('' when none). ``commonAnnotations`` drops it when
        the alerts' descriptions differ, so it is rebuilt from the alerts: deduplicated,
        one per line."""
        return self._annotation("description")

    def codes(self) -> list[str]:
        """Each distinct ``code`` annotation (an XID, say) of the group's alerts."""
        common = self.annotations.get("code", "").strip()
        return _unique(a.annotations.get("code", "") for a in self.alerts) or (
            [common] if common else [])

    def runbook_url(self) -> str | None:
        """The ``runbook_url`` annotation (common, else the first alert's), unchecked."""
        common = self.annotations.get("runbook_url", "").strip()
        if common:
            return common
        values = _unique(a.annotations.get("runbook_url", "") for a in self.alerts)
        return values[0] if values else None

    def generator_urls(self) -> list[str]:
        """Each distinct ``generatorURL`` (alerts of one rule share one), unchecked."""
        return _unique(a.generator_url for a in self.alerts)

    def host(self) -> str | None:
        """The node: ``Hostname``, ``hostname`` or ``node`` from the common labels, else the
        one all alerts share. None when the alerts are on several hosts (or none)."""
        common = _host_of(self.labels)
        if common:
            return common
        hosts = _unique(h or "" for h in (a.host() for a in self.alerts))
        return hosts[0] if len(hosts) == 1 else None

    def hosts(self) -> list[str]:
        """Every distinct host of the group's alerts (or the common one)."""
        common = _host_of(self.labels)
        if common:
            return [common]
        return _unique(h or "" for h in (a.host() for a in self.alerts))

    def target_labels(self) -> dict[str, str]:
        """The common labels plus every label all firing alerts share: a one-alert group
        carries its pod only in the alert, not in the common labels. What a diagnosis
        reads its target from."""
        out = dict(self.labels)
        alerts = [a.labels for a in self.firing_alerts()] or [a.labels for a in self.alerts]
        if alerts:
            shared = set(alerts[0].items())
            for labels in alerts[1:]:
                shared &= set(labels.items())
            for key, value in shared:
                out.setdefault(key, value)
        return out

    def label(self, name: str) -> str | None:
        """A common label, else the value all alerts share; None otherwise."""
        value = self.labels.get(name)
        if value:
            return value
        values: Sequence[str] = _unique(a.labels.get(name, "") for a in self.alerts)
        return values[0] if len(values) == 1 else None
