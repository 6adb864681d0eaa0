"""The shipped alert rules and Alertmanager config, checked by the real promtool and amtool.

- manifests/prometheus-rules.yaml is a PrometheusRule (a CRD): its `spec` (the rule groups) is
  written to a temp file, which `promtool check rules` must accept, and against which the unit
  tests in manifests/rules-tests.yaml must pass. Negative controls break a copy of the rules
  and expect those unit tests to FAIL, so a green run means something. It holds the guide's
  eight alerts and the added ones (GPU XID, GPU node not Ready, the watchers: the DCGM
  exporter and the bot itself).
- manifests/alertmanager-config.yaml is a Secret: its `alertmanager.yaml` is written to a temp
  dir, `amtool check-config` must accept it, and `amtool config routes test` must route each
  label set to exactly the intended receivers (drills never reach the real channels; the bot's
  own alerts reach a Slack channel through Alertmanager's slack_configs, not only the bot).
  Its inhibit_rules are proven with the real Alertmanager in tests/test_inhibitions.py.

Without promtool or amtool these tests skip; under GENAI_REQUIRE_INTEGRATION=1 (CI) they fail.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.alertmanager import SHIPPED_CONFIG, shipped_config, shipped_config_text
from tests.harness.procs import require_binary

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
RULES = MANIFESTS / "prometheus-rules.yaml"
RULE_TESTS = MANIFESTS / "rules-tests.yaml"

RUNBOOK_BASE = "https://genai-ops-bot.example.com/runbooks/"

# The guide's eight alerts: group, severity, `for`, and the threshold comparison in the expr.
GUIDE_ALERTS: dict[str, tuple[str, str, str, str]] = {
    "GPUMemoryHigh": ("gpu-alerts", "warning", "5m", "> 0.9"),
    "GPUTemperatureHigh": ("gpu-alerts", "warning", "5m", "> 80"),
    "GPUUnderutilized": ("gpu-alerts", "info", "2h", "< 20"),
    "InferenceLatencyHigh": ("inference-alerts", "warning", "5m", "> 5"),
    "InferenceErrorRateHigh": ("inference-alerts", "critical", "5m", "> 0.01"),
    "ModelPodRestarting": ("inference-alerts", "warning", "5m", "> 3"),
    "DailyCostExceeded": ("cost-alerts", "warning", "1h", "> 1000"),
    "GPUCostSpike": ("cost-alerts", "warning", "30m", "> 100"),
}

# Alerts added beyond the guide: group, and (severity, `for`) for each of its rules (None: no
# `for`, the condition is an event). GPUXidError has two rules: a critical and a warning tier.
ADDED_ALERTS: dict[str, tuple[str, list[tuple[str, str | None]]]] = {
    "GPUXidError": ("gpu-alerts", [("critical", None), ("warning", None)]),
    "GPUNodeNotReady": ("gpu-alerts", [("warning", "5m")]),
    "DCGMExporterDown": ("watcher-alerts", [("warning", "10m")]),
    "GenAIBotDown": ("watcher-alerts", [("warning", "5m")]),
    "GenAIBotOutboxBacklog": ("watcher-alerts", [("warning", "1m")]),
    "GenAIBotSlackCallsFailing": ("watcher-alerts", [("warning", "5m")]),
    "GenAIBotWebhookRefusing": ("watcher-alerts", [("warning", None)]),
}
# The bot's own health: these must reach Slack without the bot.
BOT_ALERTS = sorted(alert for alert in ADDED_ALERTS if alert.startswith("GenAIBot"))
ALL_ALERTS = set(GUIDE_ALERTS) | set(ADDED_ALERTS)
BOT_WEBHOOK = "http://genai-ops-bot.genai-ops.svc/alertmanager"

SECRET_FILES = {
    "/etc/alertmanager/secrets/slack-webhook-url": "https://hooks.slack.com/services/T0/B0/test",
    "/etc/alertmanager/secrets/pagerduty-service-key": "0123456789abcdef0123456789abcdef",
    "/etc/alertmanager/secrets/genai-bot-token": "test-bot-token",
}
REAL_RECEIVERS = {"critical-alerts", "warning-alerts", "default"}


# --------------------------------------------------------------------------- helpers


def _promtool() -> str:
    return require_binary("promtool", "promtool checks and unit-tests the alert rules")


def _amtool() -> str:
    return require_binary("amtool", "amtool checks the Alertmanager config and its routes")


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, cwd=cwd)


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def _prometheus_rule() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return doc


def _rules_by_alert(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One rule per alert (the last, for an alert with several tiers)."""
    return {r["alert"]: r for g in spec["groups"] for r in g["rules"] if "alert" in r}


def _alert_rules(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every alerting rule, tiers included."""
    return [r for g in spec["groups"] for r in g["rules"] if "alert" in r]


def _flat(expr: str) -> str:
    return " ".join(expr.split())


def _write_rules(directory: Path, spec: dict[str, Any]) -> Path:
    """The rule groups as the plain rule file promtool and Prometheus read."""
    path = directory / "prometheus-rules.groups.yaml"
    path.write_text(
        yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8"
    )
    return path


def _write_rule_tests(directory: Path, rules_file: Path, only: str | None = None) -> Path:
    """rules-tests.yaml pointed at `rules_file`; with `only`, just the groups testing that alert."""
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    tests["rule_files"] = [str(rules_file)]
    if only is not None:
        tests["tests"] = [
            group
            for group in tests["tests"]
            if any(case["alertname"] == only for case in group.get("alert_rule_test") or [])
        ]
        assert tests["tests"], f"rules-tests.yaml has no test for {only}"
    path = directory / "rules-tests.yaml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _promtool_test(
    directory: Path, spec: dict[str, Any], only: str | None = None
) -> subprocess.CompletedProcess[str]:
    rules = _write_rules(directory, spec)
    tests = _write_rule_tests(directory, rules, only)
    return _run([_promtool(), "test", "rules", str(tests)])


def _alert_tests() -> Iterator[tuple[str, dict[str, Any]]]:
    """(test group name, alert_rule_test entry) for every case in rules-tests.yaml."""
    for group in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]:
        for case in group.get("alert_rule_test") or []:
            yield group["name"], case


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


@pytest.fixture
def am_config_file(tmp_path: Path) -> Path:
    """alertmanager.yaml in a temp dir, its secret-file paths pointing at temp files."""
    text = shipped_config_text()
    for index, (path, content) in enumerate(sorted(SECRET_FILES.items())):
        assert path in text, f"alertmanager.yaml no longer reads {path}"
        local = tmp_path / f"secret-{index}-{Path(path).name}"
        local.write_text(content + "\n", encoding="utf-8")
        text = text.replace(path, str(local))
    config = tmp_path / "alertmanager.yaml"
    config.write_text(text, encoding="utf-8")
    return config


# --------------------------------------------------------------------------- the rules object


def test_prometheus_rule_keeps_the_guides_alerts() -> None:
    doc = _prometheus_rule()
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == "PrometheusRule"
    assert doc["metadata"]["name"] == "genai-platform-alerts"
    assert doc["metadata"]["namespace"] == "monitoring"
    groups = {g["name"]: g for g in doc["spec"]["groups"]}
    assert list(groups) == ["gpu-alerts", "inference-alerts", "cost-alerts", "watcher-alerts"]

    rules = _rules_by_alert(doc["spec"])
    assert set(rules) == ALL_ALERTS
    for rule in _alert_rules(doc["spec"]):
        if rule["alert"] in GUIDE_ALERTS:
            assert [r["alert"] for r in _alert_rules(doc["spec"])].count(rule["alert"]) == 1
    for alert, (group, severity, for_, threshold) in GUIDE_ALERTS.items():
        rule = rules[alert]
        assert rule in groups[group]["rules"], f"{alert} moved out of {group}"
        assert rule["labels"] == {"severity": severity, "team": "genai-platform"}, alert
        assert rule["for"] == for_, alert
        expr = " ".join(rule["expr"].split())
        assert expr.endswith(threshold), f"{alert}: threshold changed: {expr}"
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, alert
        assert notes["runbook_url"].startswith(RUNBOOK_BASE), alert


def test_added_alerts_groups_severities_and_annotations() -> None:
    spec = _prometheus_rule()["spec"]
    groups = {g["name"]: g for g in spec["groups"]}
    for alert, (group, tiers) in ADDED_ALERTS.items():
        rules = [r for r in _alert_rules(spec) if r["alert"] == alert]
        assert [(r["labels"]["severity"], r.get("for")) for r in rules] == tiers, alert
        for rule in rules:
            assert rule in groups[group]["rules"], f"{alert} not in {group}"
            assert set(rule["labels"]) == {"severity", "team"}, alert
            assert rule["labels"]["team"] == "genai-platform", alert
            notes = rule["annotations"]
            expected = {"summary", "description", "runbook_url"}
            if alert == "GPUXidError":  # the code the runbook's table explains
                expected.add("code")
                assert notes["code"] == '{{ $value | printf "%.0f" }}'
            assert set(notes) == expected, alert
            assert notes["runbook_url"].startswith(RUNBOOK_BASE), alert
    # watcher-alerts holds only the watchers.
    watchers = {r["alert"] for r in groups["watcher-alerts"]["rules"]}
    assert watchers == {"DCGMExporterDown", *BOT_ALERTS}


def test_added_alert_expressions_use_the_given_metrics() -> None:
    spec = _prometheus_rule()["spec"]
    exprs: dict[str, list[str]] = {}
    for rule in _alert_rules(spec):
        exprs.setdefault(rule["alert"], []).append(_flat(rule["expr"]))
    (down,) = exprs["GenAIBotDown"]
    assert 'max by (namespace, job) (up{job="genai-ops-bot"}) == 0' in down
    assert 'absent(up{job="genai-ops-bot"})' in down
    assert "kube_deployment_spec_replicas" in down  # absent() only where the bot should run
    (outbox,) = exprs["GenAIBotOutboxBacklog"]
    assert outbox.startswith("max by (namespace, job) (genai_bot_outbox_oldest_pending_age_")
    assert outbox.endswith("> 300")
    (slack,) = exprs["GenAIBotSlackCallsFailing"]
    assert slack.count('genai_bot_slack_api_calls_total{outcome!~"ok|ratelimited"}') == 2
    assert "by (namespace, job, method, outcome)" in slack
    (webhook,) = exprs["GenAIBotWebhookRefusing"]
    assert webhook.count('genai_bot_webhook_requests_total{outcome!~"stored|duplicate"}') == 2
    assert "offset 10m" in webhook
    (dcgm,) = exprs["DCGMExporterDown"]
    assert 'kube_node_status_capacity{resource="nvidia_com_gpu"}' in dcgm
    for label in ("Hostname", "hostname", "node"):  # every DCGM host label is accepted
        assert f'"dcgm_node", "$1", "{label}", "(.+)"' in dcgm, label
    (not_ready,) = exprs["GPUNodeNotReady"]
    assert 'kube_node_status_condition{condition="Ready", status="true"}' in not_ready
    critical, warning = exprs["GPUXidError"]
    assert warning == "DCGM_FI_DEV_XID_ERRORS > 0"  # the last XID code: > 0 means one happened
    codes = sorted(int(c) for c in re.findall(r"DCGM_FI_DEV_XID_ERRORS == (\d+)", critical))
    assert codes == [48, 64, 74, 79, 95]


def test_prometheus_rule_expressions_are_corrected() -> None:
    rules = _rules_by_alert(_prometheus_rule()["spec"])
    exprs = {alert: " ".join(rule["expr"].split()) for alert, rule in rules.items()}
    everything = " ".join(exprs.values())
    # Metrics that do not exist.
    assert "kubecost_cluster_cost_daily" not in everything
    assert "kubecost_gpu_cost_hourly" not in everything
    # used / free is not a share of capacity.
    assert exprs["GPUMemoryHigh"] == (
        "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > 0.9"
    )
    assert "sum by (le, model)" in exprs["InferenceLatencyHigh"]
    assert exprs["InferenceErrorRateHigh"].count("sum by (model)") == 2
    assert "node_total_hourly_cost" in exprs["DailyCostExceeded"]
    assert "node_gpu_hourly_cost" in exprs["GPUCostSpike"]
    assert "node_gpu_count" in exprs["GPUCostSpike"]
    assert "offset 1h" in exprs["GPUCostSpike"]


def test_gpu_alert_descriptions_accept_both_dcgm_host_labels() -> None:
    rules = _rules_by_alert(_prometheus_rule()["spec"])
    for alert in ("GPUMemoryHigh", "GPUTemperatureHigh", "GPUUnderutilized"):
        description = rules[alert]["annotations"]["description"]
        assert "$labels.Hostname" in description, alert
        assert "$labels.hostname" in description, alert
        assert "$labels.gpu" in description, alert


def test_rule_tests_prove_every_alert_fires_and_stays_quiet() -> None:
    fires: set[tuple[str, str]] = set()
    quiet: set[str] = set()
    for _, case in _alert_tests():
        if case.get("exp_alerts"):
            for alert in case["exp_alerts"]:
                fires.add((case["alertname"], alert["exp_labels"]["severity"]))
                # Every firing case names the annotations, so the templates are tested too.
                assert "exp_annotations" in alert, case["alertname"]
        else:
            quiet.add(case["alertname"])
    tiers = {(alert, severity) for alert, (_, severity, _, _) in GUIDE_ALERTS.items()}
    tiers |= {(a, sev) for a, (_, rules) in ADDED_ALERTS.items() for sev, _ in rules}
    assert tiers <= fires, f"no firing case for {tiers - fires}"
    assert not ALL_ALERTS - quiet, f"no quiet case for {ALL_ALERTS - quiet}"


# --------------------------------------------------------------------------- promtool


def test_promtool_check_rules(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _prometheus_rule()["spec"])
    proc = _run([_promtool(), "check", "rules", str(rules)])
    assert proc.returncode == 0, _output(proc)
    count = len(_alert_rules(_prometheus_rule()["spec"]))
    assert count == len(GUIDE_ALERTS) + sum(len(rules) for _, rules in ADDED_ALERTS.values())
    assert f"SUCCESS: {count} rules found" in proc.stdout, _output(proc)


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    proc = _promtool_test(tmp_path, _prometheus_rule()["spec"])
    assert proc.returncode == 0, _output(proc)
    assert "SUCCESS" in proc.stdout, _output(proc)


def _set_expr(
    alert: str, old: str, new: str, severity: str | None = None
) -> Callable[[dict[str, Any]], None]:
    """Replace `old` by `new` in the alert's expression (its `severity` tier, if given)."""

    def mutate(spec: dict[str, Any]) -> None:
        (rule,) = [
            r
            for r in _alert_rules(spec)
            if r["alert"] == alert and severity in (None, r["labels"]["severity"])
        ]
        flat = _flat(rule["expr"])
        assert old in flat, f"{alert}: {old!r} not in {flat!r}"
        rule["expr"] = flat.replace(old, new)

    return mutate


NEGATIVE_CONTROLS = {
    # Threshold raised: the 95% case must stop firing.
    "memory-threshold-0.99": ("GPUMemoryHigh", _set_expr("GPUMemoryHigh", "> 0.9", "> 0.99")),
    # The guide's used/free ratio: the 85% and 50% cases would fire.
    "guide-memory-ratio": (
        "GPUMemoryHigh",
        _set_expr(
            "GPUMemoryHigh",
            "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
            "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE",
        ),
    ),
    # The guide's one-to-one error-rate division: never matches the labelled error counter.
    "guide-error-rate": (
        "InferenceErrorRateHigh",
        _set_expr(
            "InferenceErrorRateHigh",
            "sum by (model) (rate(inference_request_errors_total[5m])) / "
            "sum by (model) (rate(inference_request_total[5m]))",
            "rate(inference_request_errors_total[5m]) / rate(inference_request_total[5m])",
        ),
    ),
    # Restart threshold off by two: 4 restarts no longer fire.
    "restart-threshold-5": ("ModelPodRestarting", _set_expr("ModelPodRestarting", "> 3", "> 5")),
    # absent() without the "Deployment wants replicas" guard: fires where the bot is not
    # deployed (and in this repo's end-to-end test and demo, which run these rules).
    "bot-down-unguarded-absent": (
        "GenAIBotDown",
        _set_expr(
            "GenAIBotDown",
            ' and on () (sum(kube_deployment_spec_replicas{deployment=~".*genai-ops-bot.*"}) > 0)',
            "",
        ),
    ),
    "outbox-threshold-10m": (
        "GenAIBotOutboxBacklog",
        _set_expr("GenAIBotOutboxBacklog", "> 300", "> 600"),
    ),
    # Counting ratelimited as a failure: the retried, rate-limited method fires.
    "slack-ratelimited-counts": (
        "GenAIBotSlackCallsFailing",
        _set_expr("GenAIBotSlackCallsFailing", 'outcome!~"ok|ratelimited"', 'outcome!="ok"'),
    ),
    # Without the new-counter side, a refusal counter created by its first 401 never fires.
    "webhook-increase-only": (
        "GenAIBotWebhookRefusing",
        _set_expr(
            "GenAIBotWebhookRefusing",
            ' or ( genai_bot_webhook_requests_total{outcome!~"stored|duplicate"} > 0'
            " unless genai_bot_webhook_requests_total offset 10m )",
            "",
        ),
    ),
    # Ignoring the relabelled `node`: gpu-c's exporter reports its pod name as Hostname.
    "dcgm-ignores-node-label": (
        "DCGMExporterDown",
        _set_expr(
            "DCGMExporterDown",
            '"dcgm_node", "$1", "node", "(.+)"',
            '"dcgm_node", "$1", "no_such_label", "(.+)"',
        ),
    ),
    # Any NotReady node, GPUs or not: the CPU node fires too.
    "not-ready-any-node": (
        "GPUNodeNotReady",
        _set_expr(
            "GPUNodeNotReady",
            '(max by (node) (kube_node_status_capacity{resource="nvidia_com_gpu"}) > 0) and on'
            ' (node) (max by (node) (kube_node_status_condition{condition="Ready",'
            ' status="true"}) == 0)',
            '(max by (node) (kube_node_status_condition{condition="Ready", status="true"}) == 0)',
        ),
    ),
    # XID 79 (GPU fallen off the bus) dropped from the critical tier.
    "xid-79-not-critical": (
        "GPUXidError",
        _set_expr("GPUXidError", " or DCGM_FI_DEV_XID_ERRORS == 79", "", severity="critical"),
    ),
    # An XID threshold as if the value were a count: XID 13 stops firing.
    "xid-as-a-count": (
        "GPUXidError",
        _set_expr("GPUXidError", "> 0", "> 20", severity="warning"),
    ),
}


@pytest.mark.parametrize("control", sorted(NEGATIVE_CONTROLS))
def test_broken_rules_fail_the_unit_tests(tmp_path: Path, control: str) -> None:
    alert, mutate = NEGATIVE_CONTROLS[control]
    spec = copy.deepcopy(_prometheus_rule()["spec"])
    mutate(spec)
    assert spec != _prometheus_rule()["spec"]
    proc = _promtool_test(tmp_path, spec, only=alert)  # only that alert's groups: faster
    assert proc.returncode != 0, f"broken rules ({control}) passed the unit tests\n" + _output(proc)
    failed = proc.stdout + proc.stderr
    assert "FAILED" in failed, _output(proc)
    assert f"alertname: {alert}" in failed, _output(proc)


# --------------------------------------------------------------------------- Alertmanager


def test_alertmanager_secret_holds_no_credentials() -> None:
    secret = yaml.safe_load(SHIPPED_CONFIG.read_text(encoding="utf-8"))
    assert secret["apiVersion"] == "v1"
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "alertmanager-config"
    assert secret["metadata"]["namespace"] == "monitoring"
    assert set(secret["stringData"]) == {"alertmanager.yaml"}
    inline = {"slack_api_url", "api_url", "service_key", "routing_key", "credentials"}
    found = sorted({key for key, _ in _walk(shipped_config()) if key in inline})
    assert not found, f"inline secrets in alertmanager.yaml: {found}"
    assert "hooks.slack.com" not in shipped_config_text()


def test_amtool_check_config(am_config_file: Path) -> None:
    proc = _run([_amtool(), "check-config", str(am_config_file)])
    assert proc.returncode == 0, _output(proc)
    assert "SUCCESS" in proc.stdout, _output(proc)


def test_amtool_check_config_rejects_an_unknown_field(am_config_file: Path) -> None:
    # Negative control: check-config is strict, so a passing check means a valid config.
    broken = am_config_file.with_name("broken.yaml")
    broken.write_text(
        am_config_file.read_text().replace("send_resolved:", "send_resolve:", 1), encoding="utf-8"
    )
    proc = _run([_amtool(), "check-config", str(broken)])
    assert proc.returncode != 0, _output(proc)
    assert "send_resolve" in proc.stdout + proc.stderr, _output(proc)


def _route(amtool: str, config: Path, labels: dict[str, str]) -> list[str]:
    cmd = [amtool, "config", "routes", "test", f"--config.file={config}"]
    proc = _run(cmd + [f"{k}={v}" for k, v in labels.items()])
    assert proc.returncode == 0, _output(proc)
    return proc.stdout.strip().split(",")


DRILL = ["gameday-drills"]
WARN = "warning-alerts"
ROUTES = [
    ("gameday=true alertname=GPUTemperatureHigh severity=warning", DRILL),
    ("gameday=true alertname=InferenceErrorRateHigh severity=critical", DRILL),
    ("gameday=true alertname=GPUUnderutilized severity=info", DRILL),
    ("gameday=true alertname=GameDayProbe", DRILL),
    ("alertname=InferenceErrorRateHigh severity=critical", ["genai-ops-bot", "critical-alerts"]),
    ("alertname=GPUMemoryHigh severity=warning", ["genai-ops-bot", "warning-alerts"]),
    ("alertname=GPUUnderutilized severity=info", ["genai-ops-bot", "default"]),
    ("alertname=SomethingNew", ["genai-ops-bot", "default"]),
    ("gameday=false alertname=ModelPodRestarting severity=warning", ["genai-ops-bot", WARN]),
    # Added alerts: the XID tiers, and the bot's own alerts through warning-alerts' Slack.
    ("alertname=GPUXidError severity=critical gpu=0", ["genai-ops-bot", "critical-alerts"]),
    ("alertname=GPUXidError severity=warning gpu=0", ["genai-ops-bot", WARN]),
    ("alertname=GPUNodeNotReady severity=warning node=gpu-a", ["genai-ops-bot", WARN]),
    ("alertname=DCGMExporterDown severity=warning node=gpu-a", ["genai-ops-bot", WARN]),
    ("alertname=GenAIBotDown severity=warning job=genai-ops-bot", ["genai-ops-bot", WARN]),
    ("alertname=GenAIBotOutboxBacklog severity=warning", ["genai-ops-bot", WARN]),
    ("alertname=GenAIBotSlackCallsFailing severity=warning outcome=invalid_auth",
     ["genai-ops-bot", WARN]),
    ("alertname=GenAIBotWebhookRefusing severity=warning outcome=401", ["genai-ops-bot", WARN]),
    ("gameday=true alertname=GPUXidError severity=critical", DRILL),
]  # fmt: skip


@pytest.mark.parametrize(("labels", "receivers"), ROUTES, ids=[labels for labels, _ in ROUTES])
def test_amtool_routes(am_config_file: Path, labels: str, receivers: list[str]) -> None:
    pairs = dict(pair.split("=", 1) for pair in labels.split())
    assert _route(_amtool(), am_config_file, pairs) == receivers


def test_every_alert_routes_to_the_bot_and_drills_stay_out_of_real_channels(
    am_config_file: Path,
) -> None:
    amtool = _amtool()
    by_severity = {"critical": "critical-alerts", "warning": "warning-alerts", "info": "default"}
    for rule in _alert_rules(_prometheus_rule()["spec"]):
        alert, severity = rule["alert"], rule["labels"]["severity"]
        labels = {"alertname": alert, **rule["labels"]}
        assert _route(amtool, am_config_file, labels) == ["genai-ops-bot", by_severity[severity]]
        drill = _route(amtool, am_config_file, {**labels, "gameday": "true"})
        assert drill == ["gameday-drills"], alert
        assert not REAL_RECEIVERS & set(drill), alert


def test_bot_alerts_reach_slack_without_the_bot(am_config_file: Path) -> None:
    """The bot's own alerts fire when the bot cannot deliver: each must also reach a receiver
    that posts to Slack itself (slack_configs) and does not depend on the bot's webhook."""
    amtool = _amtool()
    receivers = {r["name"]: r for r in shipped_config()["receivers"]}
    spec = _prometheus_rule()["spec"]
    for alert in BOT_ALERTS:
        (rule,) = [r for r in _alert_rules(spec) if r["alert"] == alert]
        labels = {
            "alertname": alert,
            **rule["labels"],
            "job": "genai-ops-bot",
            "namespace": "genai-ops",
        }
        routed = _route(amtool, am_config_file, labels)
        assert "genai-ops-bot" in routed, alert  # the bot still hears of it (when it is back)
        without_bot = [name for name in routed if name != "genai-ops-bot"]
        assert without_bot, f"{alert} reaches only the bot"
        for name in without_bot:
            receiver = receivers[name]
            assert receiver.get("slack_configs"), f"{alert}: {name} does not post to Slack"
            hooks = [w["url"] for w in receiver.get("webhook_configs") or []]
            assert BOT_WEBHOOK not in hooks, f"{alert}: {name} goes through the bot"
        assert not set(routed) & {"gameday-drills"}, alert


def test_bot_webhook_and_slack_receivers() -> None:
    config = shipped_config()
    route = config["route"]
    # The guide's alertname and severity, per cluster; by target below (tests/test_grouping.py).
    assert route["group_by"] == ["alertname", "severity", "cluster"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "30s",
        "5m",
        "4h",
    )
    assert route["receiver"] == "default"
    first, bot_route = route["routes"][:2]
    assert first == {"matchers": ['gameday="true"'], "receiver": "gameday-drills"}
    by_target = bot_route.pop("routes")  # children that only set group_by
    assert bot_route == {
        "matchers": ['alertname=~".+"'],
        "receiver": "genai-ops-bot",
        "continue": True,
    }
    assert all(set(child) == {"matchers", "group_by"} for child in by_target)

    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == REAL_RECEIVERS | {"genai-ops-bot", "gameday-drills"}
    webhook = {
        "url": BOT_WEBHOOK,
        "send_resolved": True,
        "max_alerts": 0,
        "http_config": {
            "authorization": {
                "type": "Bearer",
                "credentials_file": "/etc/alertmanager/secrets/genai-bot-token",
            }
        },
    }
    assert receivers["genai-ops-bot"]["webhook_configs"] == [webhook]
    assert receivers["gameday-drills"]["webhook_configs"] == [webhook]

    channels = {
        "default": "#genai-alerts",
        "critical-alerts": "#genai-critical",
        "warning-alerts": "#genai-warnings",
        "gameday-drills": "#genai-gameday",
    }
    for name, channel in channels.items():
        (slack,) = receivers[name]["slack_configs"]
        assert slack["channel"] == channel
        assert slack["send_resolved"] is True
        assert slack["api_url_file"] == "/etc/alertmanager/secrets/slack-webhook-url"
        assert slack["title"] == "{{ .Status | toUpper }}: {{ .CommonLabels.alertname }}"
        assert slack["text"] == "{{ range .Alerts }}{{ .Annotations.description }}\n{{ end }}"
    (pagerduty,) = receivers["critical-alerts"]["pagerduty_configs"]
    assert pagerduty["service_key_file"] == "/etc/alertmanager/secrets/pagerduty-service-key"


def _render(tmp_path: Path, template: str) -> str:
    data = {
        "receiver": "default",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "GPUMemoryHigh", "gpu": str(gpu)},
                "annotations": {"description": f"GPU {gpu} has exceeded 90% memory usage."},
            }
            for gpu in (0, 1)
        ],
        "groupLabels": {"alertname": "GPUMemoryHigh"},
        "commonLabels": {"alertname": "GPUMemoryHigh", "severity": "warning"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
    }
    (tmp_path / "data.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "none.tmpl").write_text("", encoding="utf-8")
    proc = _run(
        [
            _amtool(),
            "template",
            "render",
            f"--template.glob={tmp_path / 'none.tmpl'}",
            f"--template.data={tmp_path / 'data.json'}",
            f"--template.text={template}",
        ]
    )
    assert proc.returncode == 0, _output(proc)
    return proc.stdout


def test_slack_text_puts_each_description_on_its_own_line(tmp_path: Path) -> None:
    receivers = {r["name"]: r for r in shipped_config()["receivers"]}
    slack = receivers["warning-alerts"]["slack_configs"][0]
    text = _render(tmp_path, slack["text"])
    assert text.splitlines()[:2] == [
        "GPU 0 has exceeded 90% memory usage.",
        "GPU 1 has exceeded 90% memory usage.",
    ]
    title = _render(tmp_path, slack["title"])
    assert title.strip() == "FIRING: GPUMemoryHigh"
    # Control: the guide's template glues the two descriptions together.
    glued = _render(tmp_path, "{{ range .Alerts }}{{ .Annotations.description }}{{ end }}")
    assert re.search(r"usage\.GPU 1", glued), glued
