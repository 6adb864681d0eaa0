"""Alert rendering: AlertView from stored incidents, the Block Kit alert message, the runbook
thread and the thread notes. Every payload must pass the strict Block Kit checks, and no label,
annotation, URL or user id may ever ping, link or break a message."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts.view import AlertItem, AlertView, humanize_duration, parse_time
from bot.buttons import Button
from bot.messages import NoteKind
from bot.runbooks import Runbook, RunbookIndex, Step, load_runbooks
from bot.slack.render import card, kit, notes
from bot.slack.render import runbook as runbook_render
from bot.slack.render.mrkdwn import escape_code
from bot.store.models import AlertEvent, Incident
from tests.harness.blockkit import blocks_to_text, validate_attachments, validate_blocks

NOW = datetime(2025, 3, 4, 13, 30, tzinfo=UTC)
OPENED = NOW - timedelta(minutes=12)
PID = "k3j4h5g6f7"
PROM = "http://prometheus-kube-prometheus-prometheus.monitoring:9090"
GO_ZERO = "0001-01-01T00:00:00Z"

GPU_MEM_EXPR = (
    "/graph?g0.expr=DCGM_FI_DEV_FB_USED+%2F+%28DCGM_FI_DEV_FB_USED+%2B+DCGM_FI_DEV_FB_FREE"
    "%29+%3E+0.9&g0.tab=1"
)
ERR_EXPR = (
    "/graph?g0.expr=sum+by+%28model%29+%28rate%28inference_request_errors_total%5B5m%5D%29"
    "%29+%2F+sum+by+%28model%29+%28rate%28inference_request_total%5B5m%5D%29%29+%3E+0.01"
    "&g0.tab=1"
)
RESTART_EXPR = (
    "/graph?g0.expr=sum+by+%28namespace%2C+pod%29+%28increase%28kube_pod_container_status_"
    "restarts_total%7Bnamespace%3D%22inference%22%7D%5B1h%5D%29%29+%3E+3&g0.tab=1"
)
RUNBOOK_BASE = "https://github.com/genai-ops/genai-ops-bot/blob/main/bot/runbooks/"

HOSTILE = ["<!channel>", "<@U123ABC>", "<!here|here>", "*bold*", "`code`", "```x```", "~x~",
           "_i_", "a & b", "<https://evil.example|click>", "x" * 10_000, "한국어 ✓ 🚀" * 500,
           "&lt;!channel&gt;", "|>", "<", ">", "\n\n<!everyone>"]

# Links and mentions the renderer builds itself; any other < or > is a bug.
_OWN_MARKUP = re.compile(
    r"<https?://[^\s<>|]+\|(?:Prometheus(?: \d)?|Runbook|source)>|<@[UW][A-Z0-9]+>"
)


DURATIONS = ("1h", "4h", "24h")


def incident_message(view: AlertView, runbook: Runbook, *, now: datetime,
                     silence_durations: tuple[str, ...] | list[str] = DURATIONS,
                     **kwargs: Any) -> dict[str, Any]:
    return card.incident_message(view, runbook, now=now, silence_durations=silence_durations,
                                 **kwargs)


@pytest.fixture(scope="module")
def runbooks() -> RunbookIndex:
    return load_runbooks()


# -- building realistic Alertmanager v4 notifications and stored rows -----------------------


def gpu_memory_alert(host: str = "ip-10-0-1-23.ec2.internal", gpu: str = "0",
                     value: str = "95.1%", *, status: str = "firing") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "GPUMemoryHigh", "severity": "warning", "team": "genai-platform",
            "Hostname": host, "gpu": gpu, "UUID": f"GPU-5f3c{gpu}e1a-77d2-4b0e-9c1d",
            "modelName": "NVIDIA A10G", "DCGM_FI_DRIVER_VERSION": "535.104.12",
            "container": "nvidia-dcgm-exporter", "namespace": "gpu-operator",
            "pod": f"nvidia-dcgm-exporter-{len(host):x}k2p", "job": "nvidia-dcgm-exporter",
            "instance": f"{host.removesuffix('.ec2.internal')[3:].replace('-', '.')}:9400",
            "endpoint": "gpu-metrics",
            "service": "nvidia-dcgm-exporter",
            "prometheus": "monitoring/kube-prometheus-stack-prometheus",
        },
        "annotations": {
            "summary": "GPU memory usage above 90%",
            "description": f"GPU {gpu} on node {host} has exceeded 90% memory usage ({value}).",
            "runbook_url": RUNBOOK_BASE + "gpu-memory-high.yaml",
        },
        "startsAt": "2025-03-04T13:17:45.123456789Z",
        "endsAt": "2025-03-04T13:42:45.123Z" if status == "resolved" else GO_ZERO,
        "generatorURL": PROM + GPU_MEM_EXPR,
        "fingerprint": f"8a1c{gpu}f{len(host):02x}d2e0b7c91",
    }


def error_rate_alert() -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "InferenceErrorRateHigh", "severity": "critical",
                   "team": "genai-platform", "model": "llama-2-7b-chat"},
        "annotations": {
            "summary": "Inference error rate above 1%",
            "description": "Error rate of model llama-2-7b-chat is 4.2%.",
            "runbook_url": RUNBOOK_BASE + "inference-error-rate-high.yaml",
        },
        "startsAt": "2025-03-04T13:18:02.5Z",
        "endsAt": GO_ZERO,
        "generatorURL": PROM + ERR_EXPR,
        "fingerprint": "c0ffee0123456789",
    }


def restarting_alert() -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "ModelPodRestarting", "severity": "warning",
                   "team": "genai-platform", "namespace": "inference",
                   "pod": "llama-2-7b-chat-6d9f8b7c5-x2x9q"},
        "annotations": {
            "summary": "Model pod restarting frequently",
            "description": "Pod llama-2-7b-chat-6d9f8b7c5-x2x9q restarted 5 times within 1 hour.",
            "runbook_url": RUNBOOK_BASE + "model-pod-restarting.yaml",
        },
        "startsAt": "2025-03-04T13:18:00Z",
        "endsAt": GO_ZERO,
        "generatorURL": PROM + RESTART_EXPR,
        "fingerprint": "deadbeef01234567",
    }


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    """What Alertmanager puts in commonLabels / commonAnnotations: pairs all alerts share."""
    if not maps:
        return {}
    return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])}


def notification(alerts: list[dict[str, Any]], *, status: str = "firing",
                 truncated: int = 0) -> dict[str, Any]:
    name = alerts[0]["labels"]["alertname"]
    severity = alerts[0]["labels"].get("severity", "")
    return {
        "version": "4",
        "groupKey": f'{{}}/{{alertname=~".+"}}:{{alertname="{name}", severity="{severity}"}}',
        "truncatedAlerts": truncated,
        "status": status,
        "receiver": "genai-ops-bot",
        "groupLabels": {"alertname": name, "severity": severity},
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": "http://alertmanager-operated.monitoring:9093",
        "alerts": alerts,
    }


def stored(payload: dict[str, Any], *, drill: bool = False, **state: Any) -> AlertView:
    """The Incident and AlertEvent the store would write (plain constructors, not saved)."""
    labels = {**payload["groupLabels"], **payload["commonLabels"]}
    incident = Incident(
        id=1, public_id=PID, group_key=payload["groupKey"], fingerprint_hash="0" * 64,
        generation=1, status="firing", open_marker=1, alertname=labels["alertname"],
        severity=labels.get("severity") or None, receiver=payload["receiver"], labels=labels,
        annotations=payload["commonAnnotations"], channel="C0ALERTS", opened_at=OPENED,
        drill=drill,
    )
    for key, value in state.items():
        setattr(incident, key, value)
    if payload["status"] == "resolved" and incident.status != "resolved":
        incident.mark_resolved(OPENED + timedelta(minutes=12), state.get("resolved_by"))
    event = AlertEvent(incident_id=1, received_at=NOW, status=payload["status"],
                       payload_hash="1" * 64, alerts=payload["alerts"],
                       truncated_alerts=payload["truncatedAlerts"])
    return AlertView.from_incident(incident, event)


# -- helpers over payloads ----------------------------------------------------------------


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    if "attachments" in message:
        return list(message["attachments"][0]["blocks"])
    return list(message["blocks"])


def assert_valid(message: dict[str, Any]) -> None:
    if "attachments" in message:
        assert validate_attachments(message["attachments"]) == []
        assert len(message["attachments"]) == 1
    else:
        assert validate_blocks(message["blocks"]) == []
    assert isinstance(message["text"], str) and message["text"]


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn: the top-level text and each mrkdwn object."""
    found = [message["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("attachments", message.get("blocks")))
    return found


def assert_inert(message: dict[str, Any]) -> None:
    for text in mrkdwn_texts(message):
        rest = _OWN_MARKUP.sub("", text)
        assert "<" not in rest and ">" not in rest, text[:500]


def elements(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [el for b in blocks_of(message) if b["type"] == "actions" for el in b["elements"]]


def by_action(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {el["action_id"]: el for el in elements(message)}


def header(message: dict[str, Any]) -> str:
    head = blocks_of(message)[0]
    assert head["type"] == "header"
    return str(head["text"]["text"])


def all_text(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


# -- the alert message ------------------------------------------------------------------


def test_firing_gpu_memory_message(runbooks: RunbookIndex) -> None:
    view = stored(notification([gpu_memory_alert()]))
    runbook = runbooks.for_alert(view.alertname)
    message = incident_message(view, runbook, now=NOW)
    assert_valid(message)
    assert_inert(message)
    assert header(message) == "🟠 warning · GPUMemoryHigh"
    assert message["attachments"][0]["color"] == card.SEVERITY_COLOR["warning"]
    assert "GPUMemoryHigh" in message["text"] and "ip-10-0-1-23.ec2.internal" in message["text"]

    actions = by_action(message)
    assert set(actions) == {Button.ACK, Button.SILENCE, Button.DIAG, Button.RESOLVE}
    for action_id in (Button.ACK, Button.DIAG, Button.RESOLVE):
        assert actions[action_id]["value"] == PID
    assert actions[Button.ACK]["style"] == "primary"
    assert actions[Button.RESOLVE]["style"] == "danger"
    assert actions[Button.RESOLVE]["confirm"]["confirm"]["text"] == "Resolve"
    select = actions[Button.SILENCE]
    assert select["type"] == "static_select"
    assert [o["value"] for o in select["options"]] == [f"{PID}|1h", f"{PID}|4h", f"{PID}|24h"]
    assert [o["text"]["text"] for o in select["options"]] == [
        "Silence 1 h", "Silence 4 h", "Silence 24 h"]
    assert kit.parse_silence_value(select["options"][1]["value"]) == (PID, "4h")

    text = blocks_to_text(blocks_of(message))
    # Summary and description, the key labels with the host first and plumbing last.
    assert "GPU memory usage above 90%" in text
    assert "has exceeded 90% memory usage (95.1%)" in text
    fields = next(b["fields"] for b in blocks_of(message) if "fields" in b)
    assert len(fields) <= 10
    assert fields[0]["text"] == "*Hostname*\nip-10-0-1-23.ec2.internal"
    assert fields[1]["text"] == "*gpu*\n0"
    # Links: the generatorURL and the runbook_url annotation, in Slack link syntax.
    raw = all_text(message)
    assert f"<{PROM}{GPU_MEM_EXPR.replace('&', '&amp;')}|Prometheus>" in raw
    assert f"<{RUNBOOK_BASE}gpu-memory-high.yaml|Runbook>" in raw
    # The runbook: title, meaning, the first three diagnosis steps with their commands.
    assert f"Runbook: {runbook.title}" in text
    commands = [s.command for s in runbook.diagnosis if s.command]
    first_three = [s.command for s in runbook.diagnosis[:3] if s.command]
    assert first_three
    for command in first_three:
        assert kit.code_span(command, 300) in raw.replace("\\n", "\n")
    for command in commands:
        if command not in first_three:
            assert command not in text
    assert "Opened 13:18 UTC · firing for 12 m" in text


def test_critical_error_rate_message(runbooks: RunbookIndex) -> None:
    view = stored(notification([error_rate_alert()]))
    message = incident_message(view, runbooks.for_alert(view.alertname), now=NOW)
    assert_valid(message)
    assert_inert(message)
    assert header(message) == "🔴 critical · InferenceErrorRateHigh"
    assert message["attachments"][0]["color"] == card.SEVERITY_COLOR["critical"]
    fields = next(b["fields"] for b in blocks_of(message) if "fields" in b)
    assert fields[0]["text"] == "*model*\nllama-2-7b-chat"
    assert all(el.get("value") == PID for el in elements(message) if el["type"] == "button")


def test_pod_restarting_message_and_info_mark(runbooks: RunbookIndex) -> None:
    view = stored(notification([restarting_alert()]))
    assert view.key_labels()[:2] == [("pod", "llama-2-7b-chat-6d9f8b7c5-x2x9q"),
                                     ("namespace", "inference")]
    message = incident_message(view, runbooks.for_alert(view.alertname), now=NOW)
    assert_valid(message)
    assert header(message).startswith("🟠 warning · ModelPodRestarting")
    info = dataclasses.replace(view, severity="info")
    assert header(incident_message(info, runbooks.for_alert("x"), now=NOW)).startswith(
        "🔵 info · ")
    unknown = dataclasses.replace(view, severity=None)
    assert header(incident_message(unknown, runbooks.for_alert("x"), now=NOW)).startswith(
        "⚪ no severity · ")


def test_every_alert_has_the_four_buttons(runbooks: RunbookIndex) -> None:
    """Run diagnostics too where no scenario fits (the generic runbook, GPU temperature):
    it then runs the quick look or posts the runbook's steps."""
    for name in ("GPUTemperatureHigh", "DailyCostExceeded"):
        view = stored(notification([gpu_memory_alert()]))
        fitting = incident_message(view, runbooks.for_alert(name), now=NOW)
        assert set(by_action(fitting)) == {Button.ACK, Button.SILENCE, Button.DIAG,
                                           Button.RESOLVE}
    alert = restarting_alert()
    alert["labels"]["alertname"] = "SomethingNew"
    view = stored(notification([alert]))
    runbook = runbooks.for_alert(view.alertname)
    assert runbook.is_generic
    message = incident_message(view, runbook, now=NOW)
    assert_valid(message)
    assert set(by_action(message)) == {Button.ACK, Button.SILENCE, Button.DIAG, Button.RESOLVE}
    assert "Runbook `generic`" not in all_text(message)  # the annotation's URL is linked
    del alert["annotations"]["runbook_url"]
    bare = incident_message(stored(notification([alert])), runbook, now=NOW)
    assert "Runbook `generic`" in all_text(bare)


def test_acknowledged_hides_ack_and_says_who_and_when(runbooks: RunbookIndex) -> None:
    view = stored(notification([gpu_memory_alert()]), acked_by="U1",
                  acked_at=OPENED + timedelta(minutes=3))
    message = incident_message(view, runbooks.for_alert(view.alertname), now=NOW)
    assert_valid(message)
    assert Button.ACK not in by_action(message)
    assert {Button.SILENCE, Button.DIAG, Button.RESOLVE} <= set(by_action(message))
    assert "Acknowledged by <@U1> after 3 m" in all_text(message)
    assert message["attachments"][0]["color"] == card.COLOR_ACKED


def test_silenced_shows_unsilence_until_the_silence_ends(runbooks: RunbookIndex) -> None:
    runbook = runbooks.for_alert("GPUMemoryHigh")
    view = stored(notification([gpu_memory_alert()]), silence_id="7f3a-silence",
                  silenced_until=datetime(2025, 3, 4, 14, 0, tzinfo=UTC))
    view = dataclasses.replace(view, silenced_by="U2")
    message = incident_message(view, runbook, now=NOW)
    assert_valid(message)
    actions = by_action(message)
    assert Button.SILENCE not in actions
    assert actions[Button.UNSILENCE]["value"] == PID
    assert Button.ACK in actions
    assert "Silenced until 14:00 UTC by <@U2>" in all_text(message)
    # Past its end the silence no longer counts: the select comes back.
    later = incident_message(view, runbook, now=datetime(2025, 3, 4, 14, 5, tzinfo=UTC))
    assert Button.SILENCE in by_action(later) and Button.UNSILENCE not in by_action(later)
    assert "Silence ended 14:00 UTC" in all_text(later)


def test_resolved_is_green_without_actions_and_marks_stale_values(
    runbooks: RunbookIndex,
) -> None:
    view = stored(notification([gpu_memory_alert(status="resolved")], status="resolved"))
    assert view.is_resolved and view.alerts[0].ends_at is not None
    message = incident_message(view, runbooks.for_alert(view.alertname), now=NOW)
    assert_valid(message)
    assert_inert(message)
    assert message["attachments"][0]["color"] == "#2eb67d"
    assert elements(message) == []
    assert header(message) == "✅ Resolved · 🟠 warning · GPUMemoryHigh"
    text = blocks_to_text(blocks_of(message))
    assert "Resolved after 12 m" in text
    assert "(95.1%)" in text
    assert "From the last firing notification: any value quoted above is not current" in text
    assert message["text"].startswith("✅ Resolved: GPUMemoryHigh after 12 m")

    by_hand = stored(notification([gpu_memory_alert()]), status="resolved", open_marker=None,
                     resolved_at=OPENED + timedelta(minutes=12), resolved_by="U7")
    manual = incident_message(by_hand, runbooks.for_alert("GPUMemoryHigh"), now=NOW)
    assert_valid(manual)
    assert "Resolved by <@U7> after 12 m" in all_text(manual)
    assert elements(manual) == []


def test_drill_prefix(runbooks: RunbookIndex) -> None:
    alert = gpu_memory_alert()
    alert["labels"]["gameday"] = "true"
    view = stored(notification([alert]), drill=True)
    runbook = runbooks.for_alert(view.alertname)
    message = incident_message(view, runbook, now=NOW)
    assert_valid(message)
    assert header(message).startswith("[DRILL] 🟠 warning · GPUMemoryHigh")
    assert message["text"].startswith("[DRILL] ")
    assert "Game Day drill" in all_text(message)
    assert runbook_render.runbook_thread(view, runbook)["text"].startswith("[DRILL] ")
    assert notes.resolved_note(view, now=NOW)["text"].startswith("[DRILL] ")


def test_thirty_alerts_in_one_group_fit(runbooks: RunbookIndex) -> None:
    alerts = [gpu_memory_alert(f"ip-10-0-{i // 8}-{i}.ec2.internal", str(i % 8), f"9{i % 10}%")
              for i in range(30)]
    payload = notification(alerts, truncated=5)
    assert "description" not in payload["commonAnnotations"]  # they differ
    view = stored(payload)
    assert view.alert_count() == 35
    assert view.host() is None and len(view.hosts()) == 30
    assert len(view.description().splitlines()) == 30
    message = incident_message(view, runbooks.for_alert(view.alertname), now=NOW)
    assert_valid(message)
    assert_inert(message)
    assert header(message) == "🟠 warning · GPUMemoryHigh (35 alerts)"
    text = blocks_to_text(blocks_of(message))
    assert "• Hostname=ip-10-0-0-0.ec2.internal, gpu=0" in text
    assert "… and 15 more alerts" in text
    assert "Alertmanager left out 5 more" in text
    # One rule, one generatorURL: a single Prometheus link, not thirty.
    assert all_text(message).count("|Prometheus") == 1
    # Same description on every alert: shown once.
    same = stored(notification([gpu_memory_alert(gpu="0"), gpu_memory_alert(gpu="0")]))
    assert same.description().count("\n") == 0


def test_resolved_alerts_in_a_firing_group(runbooks: RunbookIndex) -> None:
    alerts = [gpu_memory_alert(gpu="0"), gpu_memory_alert(gpu="1", status="resolved")]
    view = stored(notification(alerts))
    assert view.alert_count() == 1
    message = incident_message(view, runbooks.for_alert(view.alertname), now=NOW)
    assert_valid(message)
    lines = blocks_to_text(blocks_of(message)).splitlines()
    assert any(ln.startswith("• gpu=1, UUID=") and ln.endswith("since 13:17 UTC · _resolved_")
               for ln in lines)
    assert header(message) == "🟠 warning · GPUMemoryHigh"


def test_prometheus_external_url_replaces_the_in_cluster_host(runbooks: RunbookIndex) -> None:
    view = stored(notification([error_rate_alert()]))
    message = incident_message(view, runbooks.for_alert(view.alertname), now=NOW,
                                      prometheus_external_url="https://prom.example.com/p/")
    assert_valid(message)
    raw = all_text(message)
    assert f"<https://prom.example.com/p{ERR_EXPR.replace('&', '&amp;')}|Prometheus>" in raw
    assert "monitoring:9090" not in raw


@pytest.mark.parametrize("url", [
    "javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "//evil.example/graph", "ftp://x/y",
    "\x01https://evil.example", "https://", "http:///graph",
])
def test_unsafe_generator_url_is_not_linked(runbooks: RunbookIndex, url: str) -> None:
    alert = error_rate_alert()
    alert["generatorURL"] = url
    view = stored(notification([alert]))
    for external in (None, "https://prom.example.com"):
        message = incident_message(view, runbooks.for_alert(view.alertname), now=NOW,
                                          prometheus_external_url=external)
        assert_valid(message)
        assert_inert(message)
        assert "|Prometheus>" not in all_text(message)
        assert "javascript" not in all_text(message).lower()


def test_link_urls_are_made_safe() -> None:
    assert kit.safe_url("http://p:9090/graph?a=1&b=<!channel>|x y") == (
        "http://p:9090/graph?a=1&amp;b=%3C!channel%3E%7Cx%20y")
    assert kit.safe_url("https://grafana.example/d/ü") == "https://grafana.example/d/%C3%BC"
    assert kit.safe_url("https://x.example/" + "a" * 3000) is None
    assert kit.safe_url("mailto:a@b") is None
    assert kit.safe_url("") is None


def test_go_escaped_webhook_body_is_escaped_again(runbooks: RunbookIndex) -> None:
    """Go writes < > & as \\u003c \\u003e \\u0026: once decoded they are live characters."""
    alert = error_rate_alert()
    alert["labels"]["model"] = "PLACEHOLDER"
    body = json.dumps(notification([alert])).replace(
        "PLACEHOLDER", "\\u003c!channel\\u003e \\u0026 \\u003c@U0123ABCD\\u003e")
    payload = json.loads(body)
    view = stored(payload)
    assert view.labels["model"] == "<!channel> & <@U0123ABCD>"
    message = incident_message(view, runbooks.for_alert(view.alertname), now=NOW)
    assert_valid(message)
    assert_inert(message)
    assert "&lt;!channel&gt; &amp; &lt;@U0123ABCD&gt;" in all_text(message)


label_text = st.sampled_from(HOSTILE) | st.text(max_size=400)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    labels=st.dictionaries(st.sampled_from(["Hostname", "gpu", "pod", "model", "x", "job"])
                           | st.text(min_size=1, max_size=30), label_text, max_size=12),
    annotations=st.dictionaries(st.sampled_from(["summary", "description", "runbook_url"]),
                                label_text),
    alertname=label_text,
    severity=st.sampled_from(["critical", "warning", "info", "", "<!here>", "x" * 500]),
    generator=st.sampled_from(["", "javascript:alert(1)", PROM + GPU_MEM_EXPR,
                               "http://p/graph?x=<!channel>|y", "https://" + "é" * 2500])
    | st.text(max_size=100),
    user=st.sampled_from(["U1", "W0ABC", "<!channel>", "U1>|<!here", "u1", ""]) | st.text(),
    detail=label_text,
    state=st.sampled_from(["firing", "acked", "silenced", "resolved"]),
    count=st.integers(min_value=1, max_value=4),
)
def test_hostile_labels_never_ping_or_break(
    labels: dict[str, str], annotations: dict[str, str], alertname: str, severity: str,
    generator: str, user: str, detail: str, state: str, count: int,
) -> None:
    runbook = load_runbooks().for_alert("GPUMemoryHigh")
    items = []
    for i in range(count):
        alert = gpu_memory_alert(gpu=str(i))
        alert["labels"].update(labels)
        alert["labels"]["alertname"] = alertname or "x"
        alert["labels"]["severity"] = severity
        alert["annotations"] = dict(annotations)
        alert["generatorURL"] = generator
        items.append(alert)
    payload = notification(items, status="resolved" if state == "resolved" else "firing")
    extra: dict[str, Any] = {}
    if state == "acked":
        extra = {"acked_by": user, "acked_at": OPENED + timedelta(seconds=45)}
    elif state == "silenced":
        extra = {"silence_id": detail[:128] or "s", "silenced_until": NOW + timedelta(hours=1)}
    elif state == "resolved":
        extra = {"resolved_by": user or None}
    view = stored(payload, drill=bool(count % 2), **extra)
    view = dataclasses.replace(view, silenced_by=user or None)
    messages = [
        incident_message(view, runbook, now=NOW, prometheus_external_url=generator),
        runbook_render.runbook_thread(view, runbook),
        notes.resolved_note(view, now=NOW),
        *(notes.action_note(kind, user, view, detail=detail)
          for kind in (NoteKind.ACK, NoteKind.SILENCE, NoteKind.UNSILENCE)),
    ]
    for message in messages:
        assert_valid(message)
        assert_inert(message)
    for el in elements(messages[0]):
        if el["type"] == "button":
            assert el["value"] == PID
        else:
            assert all(o["value"].startswith(PID + "|") for o in el["options"])


def test_mentions_only_for_user_ids() -> None:
    assert kit.mention("U0123ABCD") == "<@U0123ABCD>"
    assert kit.mention("W1") == "<@W1>"
    assert kit.mention("<!channel>") == "&lt;!channel&gt;"
    assert kit.mention("u123") == "u123"
    assert kit.mention("U1\n") == "U1"
    assert kit.mention("U1>") == "U1&gt;"
    assert kit.mention(None) == "someone"


# -- the runbook thread -------------------------------------------------------------------


def test_runbook_thread_for_every_runbook(runbooks: RunbookIndex) -> None:
    view = stored(notification([restarting_alert()]))
    assert len(runbooks) >= 13
    for runbook in runbooks:
        message = runbook_render.runbook_thread(view, runbook)
        assert_valid(message)
        assert_inert(message)
        blocks = message["blocks"]
        assert len(blocks) <= 50
        assert header(message) == f"📖 Runbook: {runbook.title}"
        raw = all_text(message).replace("\\n", "\n").replace('\\"', '"')
        for step in [*runbook.diagnosis, *runbook.mitigation]:
            if step.command:
                assert escape_code(step.command) in raw, (runbook.id, step.command)
            if step.snippet:
                assert escape_code(step.snippet.strip("\n")) in raw, (runbook.id, step.snippet)
        if runbook.diag_scenario == "karpenter":
            assert "/genai diag karpenter &lt;target&gt;" in raw
        elif runbook.diag_scenario:
            assert f"/genai diag {runbook.diag_scenario} llama-2-7b-chat-6d9f8b7c5-x2x9q" in raw
        assert "more step" not in raw
        # The runbook_url annotation is linked only under the alert's own runbook.
        assert ("|source>" in raw) == (runbook.id in ("model-pod-restarting", "generic"))
    gpu_view = stored(notification([gpu_memory_alert()]))
    gpu_thread = all_text(runbook_render.runbook_thread(gpu_view,
                                                        runbooks.for_alert("GPUMemoryHigh")))
    # The pod label of a DCGM alert is the exporter's: the diagnosis targets the node.
    assert "/genai diag oom ip-10-0-1-23.ec2.internal" in gpu_thread
    error_view = stored(notification([error_rate_alert()]))
    error_thread = runbook_render.runbook_thread(error_view,
                                                 runbooks.for_alert("InferenceErrorRateHigh"))
    assert "/genai diag network llama-2-7b-chat" in all_text(error_thread)
    gpu_oom = runbooks.get("gpu-oom")
    assert gpu_oom is not None
    oom = blocks_to_text(runbook_render.runbook_thread(view, gpu_oom)["blocks"])
    assert "MAX_BATCH_SIZE" in oom and "gpu_memory_utilization=0.85" in oom
    assert "Reduce the batch size" in oom


def test_runbook_thread_too_long_is_cut_with_a_count() -> None:
    big = Step(text="step " + "t" * 500, command="kubectl get pods -n inference " + "x" * 800,
               snippet="env:\n" + "- name: X\n  value: '1'\n" * 100)
    runbook = Runbook(id="huge", alert=None, title="Huge", severity=None, meaning="m",
                      impact="i", diagnosis=[big] * 60, mitigation=[big] * 60,
                      diag_scenario="oom")
    view = stored(notification([gpu_memory_alert()]))
    message = runbook_render.runbook_thread(view, runbook)
    assert_valid(message)
    assert len(message["blocks"]) == 50
    note = blocks_to_text(message["blocks"][-2:-1])
    hidden = int(re.search(r"… (\d+) more steps", note).group(1))  # type: ignore[union-attr]
    shown = all_text(message).count("step tttt")
    assert 0 < hidden < 120 and shown + hidden >= 120


# -- thread notes and durations -----------------------------------------------------------


def test_resolved_and_action_notes() -> None:
    resolved = stored(notification([gpu_memory_alert(status="resolved")], status="resolved"),
                      acked_by="U1", acked_at=OPENED + timedelta(minutes=3))
    note = notes.resolved_note(resolved, now=NOW)
    assert_valid(note)
    assert note["text"].startswith("✅ Resolved after 12 m (Alertmanager reported it resolved)")
    assert "acknowledged by <@U1> after 3 m" in note["text"]
    by_hand = dataclasses.replace(resolved, resolved_by="U7", acked_by=None, acked_at=None)
    text = notes.resolved_note(by_hand, now=NOW)["text"]
    assert text.startswith("✅ Resolved by <@U7> after 12 m") and "never acknowledged" in text

    firing = stored(notification([gpu_memory_alert()]), acked_by="U1",
                    acked_at=OPENED + timedelta(minutes=3), silence_id="abc",
                    silenced_until=datetime(2025, 3, 4, 17, 30, tzinfo=UTC))
    written = {
        "ack": notes.action_note(NoteKind.ACK, "U1", firing),
        "silence": notes.action_note(NoteKind.SILENCE, "U1", firing,
                                     detail="for 4h (silence abc)"),
        "unsilence": notes.action_note(NoteKind.UNSILENCE, "U1", firing),
        "odd": notes.action_note(NoteKind.ACK, "<!here>", firing, detail="<@U9>"),
    }
    for message in written.values():
        assert_valid(message)
        assert_inert(message)
    assert written["ack"]["text"] == "👀 Acknowledged by <@U1> after 3 m"
    assert written["silence"]["text"] == "🔕 Silenced by <@U1> for 4 h (silence abc)"
    assert written["unsilence"]["text"].startswith("🔔 Unsilenced by <@U1>")
    assert written["odd"]["text"] == "👀 Acknowledged by &lt;!here&gt; after 3 m · &lt;@U9&gt;"
    with pytest.raises(ValueError, match="not a person's action"):
        notes.action_note(NoteKind.RUNBOOK, "U1", firing)
    plain = notes.action_note(NoteKind.SILENCE, "U1", firing)["text"]
    assert plain == "🔕 Silenced by <@U1> until Mar 4 17:30 UTC (silence `abc`)"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (45, "45 s"), (180, "3 m"), (3599, "59 m"), (3600, "1 h"), (7500, "2 h 5 m"),
    (97_200, "1 d 3 h"), (86_400 * 3, "3 d"), (-5, "0 s"),
])
def test_humanize_duration(seconds: float, text: str) -> None:
    assert humanize_duration(seconds) == text


# -- the view -----------------------------------------------------------------------------


def test_view_helpers() -> None:
    view = stored(notification([gpu_memory_alert()]))
    keys = [k for k, _ in view.key_labels()]
    # Host, GPU, pod, namespace, instance first; then the rest; scrape plumbing last.
    assert keys[:6] == ["Hostname", "gpu", "pod", "namespace", "instance", "modelName"]
    assert set(keys[6:]) == {"DCGM_FI_DRIVER_VERSION", "UUID", "container", "endpoint", "job",
                             "prometheus", "service", "team"}
    assert "alertname" not in keys and "severity" not in keys
    assert view.host() == "ip-10-0-1-23.ec2.internal"
    assert view.summary() == "GPU memory usage above 90%"
    assert view.runbook_url() == RUNBOOK_BASE + "gpu-memory-high.yaml"
    assert view.alerts[0].starts_at == datetime(2025, 3, 4, 13, 17, 45, 123456, tzinfo=UTC)
    assert view.alerts[0].ends_at is None
    for label in ("node", "Hostname", "hostname"):
        item = AlertItem.from_dict({"labels": {label: "gpu-node-1"}})
        assert item.host() == "gpu-node-1"
    assert parse_time("garbage") is None and parse_time(None) is None
    assert parse_time("2025-03-04T22:17:45+09:00") == datetime(2025, 3, 4, 13, 17, 45,
                                                                 tzinfo=UTC)
    # An event with odd shapes does not break the view.
    incident = Incident(public_id=PID, alertname="A", severity=None, status="firing",
                        labels={"n": 1, "x": None}, annotations=None, opened_at=OPENED)
    event = AlertEvent(alerts=[None, "x", {"labels": [], "startsAt": 5}], truncated_alerts=None)
    odd = AlertView.from_incident(incident, event)
    assert odd.labels == {"n": "1", "x": ""} and len(odd.alerts) == 1
    assert odd.alert_count() == 1 and not odd.drill
    assert AlertView.from_incident(incident, None).alerts == []


def test_durations_are_alertmanagers_not_when_the_bot_heard(runbooks: RunbookIndex) -> None:
    """"Firing for", "resolved after" and the time to acknowledge run from startsAt to
    endsAt (defect f); when the bot heard (opened_at) stands in only when they are
    missing."""
    started = OPENED - timedelta(minutes=20)  # group_wait, an Alertmanager retry, a restart
    firing = stored(notification([gpu_memory_alert()]), started_at=started,
                    acked_by="U1", acked_at=OPENED + timedelta(minutes=1))
    text = all_text(incident_message(firing, runbooks.for_alert("GPUMemoryHigh"), now=NOW))
    assert "firing for 32 m" in text  # NOW - started, not NOW - OPENED (12 m)
    assert "Acknowledged by <@U1> after 21 m" in text
    resolved = stored(notification([gpu_memory_alert(status="resolved")], status="resolved"),
                      started_at=started, ended_at=OPENED + timedelta(minutes=5))
    note = notes.resolved_note(resolved, now=NOW)["text"]
    assert note.startswith("✅ Resolved after 25 m")  # endsAt - startsAt
    heard_only = stored(notification([gpu_memory_alert()]))
    assert "firing for 12 m" in all_text(
        incident_message(heard_only, runbooks.for_alert("GPUMemoryHigh"), now=NOW))


def test_the_card_names_what_an_xid_code_means(runbooks: RunbookIndex) -> None:
    """GPUXidError carries the last XID in its `code` annotation; the card says what it
    means from the runbook's table, for each GPU's code."""
    alerts = []
    for gpu, code in (("0", "79"), ("1", "13"), ("2", "999")):
        alert = gpu_memory_alert(gpu=gpu)
        alert["labels"]["alertname"] = "GPUXidError"
        alert["annotations"]["code"] = code
        alerts.append(alert)
    view = stored(notification(alerts))
    runbook = runbooks.for_alert("GPUXidError")
    assert 79 in runbook.codes and 13 in runbook.codes
    message = incident_message(view, runbook, now=NOW)
    assert_valid(message)
    text = all_text(message)
    assert f"*GPUXidError 79*: {escape_code(runbook.codes[79])[:40]}" in text
    assert "*GPUXidError 13*:" in text
    assert "*GPUXidError 999*: not in the runbook's table" in text
    plain = incident_message(stored(notification([gpu_memory_alert()])),
                             runbooks.for_alert("GPUMemoryHigh"), now=NOW)
    assert "not in the runbook's table" not in all_text(plain)
