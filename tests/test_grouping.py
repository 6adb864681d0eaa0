"""The shipped Alertmanager grouping: one group (one incident, one Acknowledge) per thing a
person looks at, not one per alert name across the fleet.

- amtool (`config routes test --tree`) routes each alert the rules produce (its labels from
  the promtool cases in manifests/rules-tests.yaml) and names the route it ends on for every
  receiver; that route's group_by, inherited down the tree as Alertmanager does, must be the
  one meant for the alert: the node (every DCGM host label spelling) for GPU alerts, the model
  for inference alerts, the pod for restarts, the bot's deployment for its own alerts, the
  cluster for the rest, always within alertname, severity and cluster.
- The real Alertmanager, with the shipped routes and inhibitions (receivers reduced to their
  names, so nothing leaves the test), takes alerts for several nodes, models, pods and clusters
  through `POST /api/v2/alerts`; `GET /api/v2/alerts/groups` must show one group per target
  and receiver, holding exactly that target's alerts.

Without amtool or Alertmanager these tests skip; under GENAI_REQUIRE_INTEGRATION=1 they fail.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness.alertmanager import shipped_config, without_receivers
from tests.harness.procs import AlertmanagerProcess, require_binary

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "manifests" / "prometheus-rules.yaml"
RULE_TESTS = ROOT / "manifests" / "rules-tests.yaml"

BASE = ["alertname", "severity", "cluster"]  # the guide's two, per cluster
BY_NODE = [*BASE, "node", "Hostname", "hostname"]
BY_MODEL = [*BASE, "model"]
BY_POD = [*BASE, "namespace", "pod"]
BY_DEPLOYMENT = [*BASE, "namespace", "job"]
EXPECTED: dict[str, list[str]] = {
    "GPUMemoryHigh": BY_NODE, "GPUTemperatureHigh": BY_NODE, "GPUUnderutilized": BY_NODE,
    "GPUXidError": BY_NODE, "GPUNodeNotReady": BY_NODE, "DCGMExporterDown": BY_NODE,
    "InferenceLatencyHigh": BY_MODEL, "InferenceErrorRateHigh": BY_MODEL,
    "ModelPodRestarting": BY_POD,
    "DailyCostExceeded": BASE, "GPUCostSpike": BASE,
    "GenAIBotDown": BY_DEPLOYMENT, "GenAIBotOutboxBacklog": BY_DEPLOYMENT,
    "GenAIBotSlackCallsFailing": BY_DEPLOYMENT, "GenAIBotWebhookRefusing": BY_DEPLOYMENT,
}  # fmt: skip

Labels = dict[str, str]


def _rule_labels() -> list[Labels]:
    """Every alerting rule's alert as the rules label it (one per tier), from the promtool
    cases: the labels Alertmanager really receives."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))["spec"]["groups"]
    tiers = {(r["alert"], r["labels"]["severity"]) for g in rules for r in g["rules"]
             if "alert" in r}
    cases = [(c["alertname"], {k: str(v) for k, v in a["exp_labels"].items()})
             for g in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
             for c in g.get("alert_rule_test") or [] for a in c.get("exp_alerts") or []]
    out = []
    for alert, severity in sorted(tiers):
        found = next((labels for name, labels in cases
                      if name == alert and labels["severity"] == severity), None)
        if found is None:  # a tier without its own case: the alert's labels, that severity
            found = {**next(labels for name, labels in cases if name == alert),
                     "severity": severity}
        out.append({"alertname": alert, **found, "cluster": "eks-prod"})
    return out


# --------------------------------------------------------------------------- amtool


def _route_label(route: dict[str, Any]) -> str:
    """How amtool prints a route in its tree."""
    matchers = route.get("matchers") or []
    return "{" + ", ".join(matchers) + "}" if matchers else "default-route"


def _grouping_by_receiver(amtool: str, config: Path, labels: Labels) -> dict[str, list[str]]:
    """receiver -> the group_by of the route amtool says the alert ends on for it, inherited
    down the tree from the routes amtool walked."""
    cmd = [amtool, "config", "routes", "test", "--tree", f"--config.file={config}",
           *(f"{k}={v}" for k, v in labels.items())]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = shipped_config()["route"]
    path: list[tuple[dict[str, Any], list[str]]] = []  # (route, its group_by) by depth
    found: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(.*?)── (\{.*?\}|default-route)(?:  .*)?$", line)
        if not m:
            continue
        depth = len(m.group(1)) // 4
        label = m.group(2)
        if depth == 0:
            route, group_by = root, list(root["group_by"])
        else:
            parent, inherited = path[depth - 1]
            route = next(r for r in parent.get("routes") or [] if _route_label(r) == label)
            group_by = list(route.get("group_by", inherited))
        del path[depth:]
        path.append((route, group_by))
        receiver = re.search(r"receiver: (\S+)$", line)
        if receiver:
            found[receiver.group(1)] = group_by
    assert ",".join(found) == proc.stdout.strip().splitlines()[-1], proc.stdout
    return found


@pytest.fixture
def offline_config(tmp_path: Path) -> Path:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(without_receivers(shipped_config()), encoding="utf-8")
    return path


def test_amtool_groups_each_alert_by_its_target(offline_config: Path) -> None:
    amtool = require_binary("amtool", "amtool routes the alerts")
    alerts = _rule_labels()
    assert {a["alertname"] for a in alerts} == set(EXPECTED)  # every rule, no stale entry
    for labels in alerts:
        grouping = _grouping_by_receiver(amtool, offline_config, labels)
        name = labels["alertname"]
        assert "genai-ops-bot" in grouping and len(grouping) == 2, (name, grouping)
        # The bot's incident and the Slack channel's post are grouped alike.
        for receiver, group_by in grouping.items():
            assert group_by == EXPECTED[name], (name, receiver, group_by)


def test_amtool_drills_keep_one_group_per_alert() -> None:
    """Drills stop at route 1 (the drill channel and the bot) and keep the base grouping:
    one drill runs at a time, so there is nothing to split."""
    (drills,) = [r for r in shipped_config()["route"]["routes"]
                 if r.get("receiver") == "gameday-drills"]
    assert "group_by" not in drills and "routes" not in drills


# --------------------------------------------------------------------------- real Alertmanager


def _gpu(alertname: str, host_label: str, host: str, gpu: str, *, severity: str = "warning",
         cluster: str = "eks-prod") -> Labels:
    # DCGM series carry the GPU, its UUID and the workload's pod besides the host.
    return {"alertname": alertname, "severity": severity, "team": "genai-platform",
            "cluster": cluster, host_label: host, "gpu": gpu, "UUID": f"GPU-{host}-{gpu}",
            "pod": f"llama-{host}-{gpu}", "namespace": "inference"}


def _groups(am: AlertmanagerProcess, expected_alerts: int) -> dict[str, list[tuple[Labels,
                                                                                    set[str]]]]:
    """receiver -> [(group labels, {each alert's identity})], once every alert is in."""
    deadline = time.monotonic() + 20
    while True:
        resp = httpx.get(f"{am.url}/api/v2/alerts/groups", timeout=10)
        resp.raise_for_status()
        data = resp.json()
        bot = [a for g in data if g["receiver"]["name"] == "genai-ops-bot" for a in g["alerts"]]
        if len(bot) >= expected_alerts or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(bot) == expected_alerts, data
    out: dict[str, list[tuple[Labels, set[str]]]] = {}
    for group in data:
        ids = {_identity(a["labels"]) for a in group["alerts"]}
        out.setdefault(group["receiver"]["name"], []).append((group["labels"], ids))
    return out


def _identity(labels: Labels) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "team")


@pytest.fixture
def alertmanager() -> Iterator[AlertmanagerProcess]:
    require_binary(["prometheus-alertmanager", "alertmanager"], "grouping is Alertmanager's")
    with AlertmanagerProcess(without_receivers(shipped_config())) as am:
        yield am


def test_alertmanager_groups_by_node_model_pod_and_cluster(
        alertmanager: AlertmanagerProcess) -> None:
    a0, a1 = (_gpu("GPUMemoryHigh", "Hostname", "gpu-a", g) for g in ("0", "1"))
    b0 = _gpu("GPUMemoryHigh", "Hostname", "gpu-b", "0")
    a_staging = _gpu("GPUMemoryHigh", "Hostname", "gpu-a", "0", cluster="eks-staging")
    # A newer exporter (`hostname`) and a relabelled one (`node`): still per node.
    c0, c1 = (_gpu("GPUTemperatureHigh", "hostname", "gpu-c", g) for g in ("0", "1"))
    d0, d1 = (_gpu("GPUTemperatureHigh", "node", "gpu-d", g) for g in ("2", "3"))
    idle_a, idle_b = (_gpu("GPUUnderutilized", "Hostname", h, "0", severity="info")
                      for h in ("gpu-a", "gpu-b"))
    llama, mistral = ({"alertname": "InferenceErrorRateHigh", "severity": "critical",
                       "cluster": "eks-prod", "model": m} for m in ("llama-2-7b", "mistral-7b"))
    # Two Prometheus replicas evaluating the same rule: the same model, one group.
    slow = [{"alertname": "InferenceLatencyHigh", "severity": "warning", "cluster": "eks-prod",
             "model": "llama-2-7b", "prometheus_replica": r} for r in ("0", "1")]
    restarts = [{"alertname": "ModelPodRestarting", "severity": "warning", "cluster": "eks-prod",
                 "namespace": "inference", "pod": p} for p in ("llama-a", "llama-b")]
    costs = [{"alertname": "DailyCostExceeded", "severity": "warning", "cluster": c}
             for c in ("eks-prod", "eks-staging")]
    alerts = [a0, a1, b0, a_staging, c0, c1, d0, d1, idle_a, idle_b, llama, mistral, *slow,
              *restarts, *costs]
    alertmanager.post_alerts([{"labels": a, "annotations": {"summary": "test"}}
                              for a in alerts])
    groups = _groups(alertmanager, len(alerts))

    def group(*members: Labels) -> set[str]:
        return {_identity(m) for m in members}

    bot = sorted((sorted(ids) for _, ids in groups["genai-ops-bot"]))
    expected = [group(a0, a1), group(b0), group(a_staging), group(c0, c1), group(d0, d1),
                group(idle_a), group(idle_b), group(llama), group(mistral), group(*slow),
                group(restarts[0]), group(restarts[1]), group(costs[0]), group(costs[1])]
    assert bot == sorted(sorted(g) for g in expected)
    # The Slack channels see the same groups, each in its own receiver.
    by_receiver = {name: sorted(sorted(ids) for _, ids in found)
                   for name, found in groups.items() if name != "genai-ops-bot"}
    assert by_receiver == {
        "warning-alerts": sorted(sorted(g) for g in expected if not g & group(
            idle_a, idle_b, llama, mistral)),
        "default": sorted([sorted(group(idle_a)), sorted(group(idle_b))]),
        "critical-alerts": sorted([sorted(group(llama)), sorted(group(mistral))]),
    }
    # Each group's labels name its target, and nothing more specific (no GPU, no pod of a
    # GPU alert): what the bot's incident, its silence and the channel post are keyed on.
    labels = {ident: lbls for lbls, ids in groups["genai-ops-bot"] for ident in ids}
    assert labels[_identity(a0)] == {"alertname": "GPUMemoryHigh", "severity": "warning",
                                     "cluster": "eks-prod", "Hostname": "gpu-a"}
    assert labels[_identity(d0)] == {"alertname": "GPUTemperatureHigh", "severity": "warning",
                                     "cluster": "eks-prod", "node": "gpu-d"}
    assert labels[_identity(slow[0])] == {"alertname": "InferenceLatencyHigh",
                                          "severity": "warning", "cluster": "eks-prod",
                                          "model": "llama-2-7b"}
    assert labels[_identity(restarts[0])] == {"alertname": "ModelPodRestarting",
                                              "severity": "warning", "cluster": "eks-prod",
                                              "namespace": "inference", "pod": "llama-a"}
    assert labels[_identity(costs[1])] == {"alertname": "DailyCostExceeded",
                                           "severity": "warning", "cluster": "eks-staging"}


def test_the_guides_grouping_would_merge_the_fleet() -> None:
    """Control: under the guide's `group_by: ['alertname', 'severity']` the same alerts of
    two nodes form one group, so the test above would fail on it."""
    require_binary(["prometheus-alertmanager", "alertmanager"], "grouping is Alertmanager's")
    config = shipped_config()
    config["route"]["group_by"] = ["alertname", "severity"]
    config["route"]["routes"][1].pop("routes")
    with AlertmanagerProcess(without_receivers(config)) as am:
        nodes = [_gpu("GPUMemoryHigh", "Hostname", h, "0") for h in ("gpu-a", "gpu-b")]
        am.post_alerts([{"labels": a, "annotations": {"summary": "test"}} for a in nodes])
        groups = _groups(am, len(nodes))
    assert [ids for _, ids in groups["genai-ops-bot"]] == [{_identity(n) for n in nodes}]
