"""The shipped alert rules and Alertmanager config, checked by the real promtool and amtool.

- manifests/prometheus-rules.yaml is a PrometheusRule (a CRD): its `spec` (the rule groups) is
  written to a temp file, which `promtool check rules` must accept, and against which the unit
  tests in manifests/rules-tests.yaml must pass. Negative controls break a copy of the rules
  and expect those unit tests to FAIL, so a green run means something.
- manifests/alertmanager-config.yaml is a Secret: its `alertmanager.yaml` is written to a temp
  dir, `amtool check-config` must accept it, and `amtool config routes test` must route each
  label set to exactly the intended receivers (drills never reach the real channels).

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

from tests.harness.procs import require_binary

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
RULES = MANIFESTS / "prometheus-rules.yaml"
RULE_TESTS = MANIFESTS / "rules-tests.yaml"
AM_CONFIG = MANIFESTS / "alertmanager-config.yaml"

RUNBOOK_BASE = "https://github.com/genai-ops/genai-ops-bot/blob/main/bot/runbooks/"

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
    return {r["alert"]: r for g in spec["groups"] for r in g["rules"] if "alert" in r}


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


def _am_config_text() -> str:
    secret = yaml.safe_load(AM_CONFIG.read_text(encoding="utf-8"))
    text: str = secret["stringData"]["alertmanager.yaml"]
    return text


def _am_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(_am_config_text())
    return config


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
    text = _am_config_text()
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
    assert list(groups) == ["gpu-alerts", "inference-alerts", "cost-alerts"]

    rules = _rules_by_alert(doc["spec"])
    assert set(rules) == set(GUIDE_ALERTS)
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
    fires: set[str] = set()
    quiet: set[str] = set()
    for _, case in _alert_tests():
        (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert set(GUIDE_ALERTS) <= fires, f"no firing case for {set(GUIDE_ALERTS) - fires}"
    assert set(GUIDE_ALERTS) <= quiet, f"no quiet case for {set(GUIDE_ALERTS) - quiet}"


# --------------------------------------------------------------------------- promtool


def test_promtool_check_rules(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _prometheus_rule()["spec"])
    proc = _run([_promtool(), "check", "rules", str(rules)])
    assert proc.returncode == 0, _output(proc)
    assert f"SUCCESS: {len(GUIDE_ALERTS)} rules found" in proc.stdout, _output(proc)


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    proc = _promtool_test(tmp_path, _prometheus_rule()["spec"])
    assert proc.returncode == 0, _output(proc)
    assert "SUCCESS" in proc.stdout, _output(proc)


def _set_expr(alert: str, old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(spec: dict[str, Any]) -> None:
        rule = _rules_by_alert(spec)[alert]
        flat = " ".join(rule["expr"].split())
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
    secret = yaml.safe_load(AM_CONFIG.read_text(encoding="utf-8"))
    assert secret["apiVersion"] == "v1"
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "alertmanager-config"
    assert secret["metadata"]["namespace"] == "monitoring"
    assert set(secret["stringData"]) == {"alertmanager.yaml"}
    inline = {"slack_api_url", "api_url", "service_key", "routing_key", "credentials"}
    found = sorted({key for key, _ in _walk(_am_config()) if key in inline})
    assert not found, f"inline secrets in alertmanager.yaml: {found}"
    assert "hooks.slack.com" not in _am_config_text()


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
    for alert, (_, severity, _, _) in GUIDE_ALERTS.items():
        labels = {"alertname": alert, "severity": severity}
        assert _route(amtool, am_config_file, labels) == ["genai-ops-bot", by_severity[severity]]
        drill = _route(amtool, am_config_file, {**labels, "gameday": "true"})
        assert drill == ["gameday-drills"], alert
        assert not REAL_RECEIVERS & set(drill), alert


def test_bot_webhook_and_slack_receivers() -> None:
    config = _am_config()
    route = config["route"]
    assert route["group_by"] == ["alertname", "severity"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "30s",
        "5m",
        "4h",
    )
    assert route["receiver"] == "default"
    first, bot_route = route["routes"][:2]
    assert first == {"matchers": ['gameday="true"'], "receiver": "gameday-drills"}
    assert bot_route == {
        "matchers": ['alertname=~".+"'],
        "receiver": "genai-ops-bot",
        "continue": True,
    }

    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == REAL_RECEIVERS | {"genai-ops-bot", "gameday-drills"}
    webhook = {
        "url": "http://genai-ops-bot.genai-ops.svc/alertmanager",
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
    receivers = {r["name"]: r for r in _am_config()["receivers"]}
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
