"""Helpers shared by the alert tests: reading the bot's alert posts back from the Slack
stand-in, waiting for them, and building the notification Alertmanager POSTs to a webhook."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .procs import wait_for
from .slack import SlackStandin


def attachment_blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = list(msg.get("blocks") or [])
    for att in msg.get("attachments") or []:
        blocks.extend(att.get("blocks") or [])
    return blocks


def text_of(msg: dict[str, Any]) -> str:
    return json.dumps(attachment_blocks(msg), ensure_ascii=False) + str(msg.get("text", ""))


def wait(predicate: Callable[[], Any], what: str, timeout: float = 45) -> Any:
    return wait_for(predicate, what, timeout=timeout, interval=0.2)


def bot_posts(slack: SlackStandin) -> list[tuple[str, dict[str, Any]]]:
    return [(ch, m) for ch, msgs in list(slack.messages.items()) for m in list(msgs)
            if m.get("bot_id") == slack.bot_id and m.get("thread_ts") in (None, m["ts"])
            and any(a.get("blocks") for a in m.get("attachments") or [])]


def notification(status: str = "firing", *, alertname: str = "GPUMemoryHigh",
                 severity: str = "warning", extra: dict[str, str] | None = None,
                 value: str = "95") -> dict[str, Any]:
    labels = {"alertname": alertname, "severity": severity, "Hostname": "gpu-node-1",
              "gpu": "3", **(extra or {})}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}", severity="{severity}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "genai-ops-bot",
        "groupLabels": {"alertname": alertname, "severity": severity},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "GPU memory over 90%",
                              "description": f"gpu-node-1 GPU 3 memory is {value}%"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": status, "labels": labels,
            "annotations": {"summary": "GPU memory over 90%",
                            "description": f"gpu-node-1 GPU 3 memory is {value}%"},
            "startsAt": "2026-11-28T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-28T10:12:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=x",
            "fingerprint": "c0ffee",
        }],
    }


def node_notification(i: int, alertname: str = "GPUMemoryHigh",
                      severity: str = "warning") -> bytes:
    """A firing notification of group ``i``: one alert on ``gpu-node-{i}``, grouped by node,
    so storms and intake benchmarks send each its own Alertmanager group."""
    node = f"gpu-node-{i}"
    labels = {"alertname": alertname, "severity": severity, "Hostname": node,
              "gpu": str(i % 8)}
    return json.dumps({
        "version": "4", "groupKey": f'{{}}:{{alertname="{alertname}", node="{node}"}}',
        "truncatedAlerts": 0, "status": "firing", "receiver": "genai-ops-bot",
        "groupLabels": {"alertname": alertname, "node": node}, "commonLabels": labels,
        "commonAnnotations": {"summary": f"{alertname} on {node}"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "firing", "labels": labels,
                    "annotations": {"description": f"{node} GPU {i % 8} memory is 95%"},
                    "startsAt": "2026-11-28T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph",
                    "fingerprint": f"{i:016x}"}],
    }).encode()
