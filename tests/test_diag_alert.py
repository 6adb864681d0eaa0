"""Run diagnostics on an alert, through the real Bolt app: Alertmanager's webhook opens the
incident, a signed click runs the alert's linked scenario on its labels against the
Kubernetes stand-in, the report lands in the alert's thread and the click is audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.alerts import bot_posts, text_of, wait
from tests.harness.bots import WEBHOOK_TOKEN, BotFactory, Cluster
from tests.harness.diag_fixtures import NS, OOM_KILLED, fill_cluster
from tests.harness.kube import KubeStandin
from tests.harness.rbac import assert_all_allowed
from tests.harness.slack import SlackStandin

RESPONDER = "U0RESPONDER"


def notification(alertname: str, labels: dict[str, str], key: str) -> dict[str, Any]:
    labels = {"alertname": alertname, "severity": "warning", **labels}
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="{alertname}", {key}}}',
        "truncatedAlerts": 0, "status": "firing", "receiver": "genai-ops-bot",
        "groupLabels": {"alertname": alertname}, "commonLabels": labels,
        "commonAnnotations": {"summary": f"{alertname} test"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "firing", "labels": labels, "annotations": {},
                    "startsAt": "2026-11-28T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "", "fingerprint": f"{abs(hash(key)):016x}"[:16]}],
    }


@pytest.fixture
def kube() -> Iterator[KubeStandin]:
    with KubeStandin() as standin:
        fill_cluster(standin)
        standin.requests_clear()
        yield standin


def thread_of(slack: SlackStandin, channel: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages.get(channel, []) if m.get("thread_ts") == ts
            and m["ts"] != ts]


def fire_and_click(bot: Any, slack: SlackStandin, body: dict[str, Any],
                   alertname: str) -> tuple[str, dict[str, Any], Any]:
    resp = httpx.post(bot.url + "/alertmanager", content=json.dumps(body),
                      headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}, timeout=10)
    assert resp.status_code == 200
    channel, post = wait(lambda: next((p for p in bot_posts(slack)
                                       if alertname in text_of(p[1])), None),
                         f"the {alertname} post", timeout=20)
    incident = next(i for i in bot.runtime.store.incidents.open() if i.alertname == alertname)
    resp = slack.send_block_action(bot.url + "/slack/events", "incident_diag",
                                   user_id=RESPONDER, channel_id=channel,
                                   message_ts=post["ts"])
    assert resp.status_code == 200
    return channel, post, incident


def test_run_diagnostics_posts_the_scenario_report_in_the_thread(
        kube: KubeStandin, slack: SlackStandin, make_bot: BotFactory) -> None:
    bot = make_bot("http://127.0.0.1:1", kube.url, roles={"responders": [RESPONDER]},
                   aws={"endpoint_url": "http://127.0.0.1:1", "region": "us-east-1"})

    # ModelPodRestarting links model-load; its pod label names the target.
    body = notification("ModelPodRestarting", {"pod": OOM_KILLED, "namespace": NS,
                                               "container": "server"}, f'pod="{OOM_KILLED}"')
    channel, post, incident = fire_and_click(bot, slack, body, "ModelPodRestarting")
    report = wait(lambda: next((m for m in thread_of(slack, channel, post["ts"])
                                if f"diag model-load: {NS}/{OOM_KILLED}" in text_of(m)), None),
                  "the diag report in the alert's thread", timeout=20)
    text = text_of(report)
    assert "OOMKilled" in text and "More memory for the container" in text
    assert f"incident {incident.public_id}" in text
    audit = wait(lambda: [a for a in bot.runtime.store.incidents.actions(incident.public_id)
                          if a.kind == "diag"], "the audit row")
    assert audit[0].allowed and audit[0].user_id == RESPONDER
    assert audit[0].detail["scenario"] == "model-load" and audit[0].detail["status"] == "fail"
    # The private answer to the clicker names the cause.
    wait(lambda: any("Diagnostics (model-load) posted" in str(r)
                     for r in slack.responses), "the ephemeral answer", timeout=10)

    # GPUMemoryHigh links oom; a DCGM alert names the node: its restarting GPU pod is read.
    body = notification("GPUMemoryHigh", {"Hostname": "gpu-node-b", "gpu": "0"},
                        'Hostname="gpu-node-b"')
    channel, post, incident = fire_and_click(bot, slack, body, "GPUMemoryHigh")
    report = wait(lambda: next((m for m in thread_of(slack, channel, post["ts"])
                                if f"diag oom: {NS}/{OOM_KILLED}" in text_of(m)), None),
                  "the oom report in the thread", timeout=20)
    assert "gpu-node-b is a node" in text_of(report)

    # InferenceLatencyHigh links network; without a pod or model label nothing names the
    # target: the runbook's steps are posted, with the missing label said.
    body = notification("InferenceLatencyHigh", {}, 'severity="warning"')
    channel, post, incident = fire_and_click(bot, slack, body, "InferenceLatencyHigh")
    steps = wait(lambda: next((m for m in thread_of(slack, channel, post["ts"])
                               if "Diagnosis: InferenceLatencyHigh" in text_of(m)), None),
                 "the runbook steps in the thread", timeout=20)
    assert "has no pod label" in text_of(steps)
    audit = wait(lambda: [a for a in bot.runtime.store.incidents.actions(incident.public_id)
                          if a.kind == "diag"], "the third audit row")
    assert audit[0].detail == {"scenario": "network", "missing_label": "pod"}

    # Everything the bot asked the API server for is allowed by the ClusterRole.
    assert kube.requests
    assert_all_allowed(kube.requests)


def test_run_diagnostics_fits_alerts_without_a_scenario(
        clusters: dict[str, Cluster], slack: SlackStandin, make_bot: BotFactory) -> None:
    """GPUTemperatureHigh links no scenario: Run diagnostics shows the node's GPUs from DCGM
    (the /genai gpu rows) and the runbook's diagnosis steps (defect h). An alert no look
    fits gets the steps."""
    cluster = clusters["unhealthy"]
    bot = make_bot(cluster.prometheus_url, cluster.kube.url,
                   roles={"responders": [RESPONDER]})
    body = notification("GPUTemperatureHigh", {"hostname": "gpu-node-1", "gpu": "3"},
                        'hostname="gpu-node-1"')
    channel, post, incident = fire_and_click(bot, slack, body, "GPUTemperatureHigh")
    report = wait(lambda: next((m for m in thread_of(slack, channel, post["ts"])
                                if "gpu-node-1" in text_of(m) and "Runbook:" in text_of(m)),
                               None), "the node's GPUs and the steps in the thread", timeout=20)
    text = text_of(report)
    assert "gpu3" in text or "GPU 3" in text  # the node's GPU rows, from real Prometheus
    assert "95%" in text  # its memory, as DCGM reports it
    assert "Runbook: GPU temperature above 80°C" in text and "dcgmi dmon" in text
    audit = wait(lambda: [a for a in bot.runtime.store.incidents.actions(incident.public_id)
                          if a.kind == "diag"], "the audit row")
    assert audit[0].detail["scenario"] == "gpu"

    body = notification("SomethingNew", {"service": "payments"}, 'service="payments"')
    channel, post, incident = fire_and_click(bot, slack, body, "SomethingNew")
    steps = wait(lambda: next((m for m in thread_of(slack, channel, post["ts"])
                               if "Diagnosis: SomethingNew" in text_of(m)), None),
                 "the generic runbook's steps", timeout=20)
    assert "could not run" not in text_of(steps)  # nothing was missing: nothing fits
