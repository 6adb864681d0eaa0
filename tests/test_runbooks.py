"""Runbooks as data: every file validates, every shipped alert has one, and the scenario
runbooks carry the guide's concrete remedies. A broken runbook stops the loader with an error
that names the file and each bad field."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.runbooks import (
    DEFAULT_DIRECTORY,
    Runbook,
    RunbookError,
    RunbookIndex,
    Step,
    load_runbooks,
)

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
RUNBOOK_URL = "https://genai-ops-bot.example.com/runbooks/{alert}"

SCENARIOS = {
    "oom": "gpu-oom",
    "network": "network-latency",
    "model-load": "model-load-failure",
    "karpenter": "karpenter-provisioning",
}
ALERT_RUNBOOKS = {
    "GPUMemoryHigh": "gpu-memory-high",
    "GPUTemperatureHigh": "gpu-temperature-high",
    "GPUUnderutilized": "gpu-underutilized",
    "InferenceLatencyHigh": "inference-latency-high",
    "InferenceErrorRateHigh": "inference-error-rate-high",
    "ModelPodRestarting": "model-pod-restarting",
    "DailyCostExceeded": "daily-cost-exceeded",
    "GPUCostSpike": "gpu-cost-spike",
    # Added beyond the guide.
    "GPUXidError": "gpu-xid-error",
    "GPUNodeNotReady": "gpu-node-not-ready",
    "DCGMExporterDown": "dcgm-exporter-down",
    "GenAIBotDown": "genai-bot-down",
    "GenAIBotOutboxBacklog": "genai-bot-outbox-backlog",
    "GenAIBotSlackCallsFailing": "genai-bot-slack-calls-failing",
    "GenAIBotWebhookRefusing": "genai-bot-webhook-refusing",
}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
# NVIDIA's XID codes the GPUXidError runbook explains, with words its entry must use.
XID_CODES = {
    13: "Graphics Engine Exception",
    31: "GPU memory page fault",
    43: "GPU stopped processing",
    45: "Preemptive cleanup",
    48: "Double-bit ECC error",
    63: "row-remapping recording event",
    64: "row-remapper recording failure",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    92: "High single-bit ECC error rate",
    94: "Contained ECC error",
    95: "Uncontained ECC error",
}


@pytest.fixture(scope="module")
def index() -> RunbookIndex:
    return load_runbooks()


def _manifest_alert_rules() -> dict[str, list[dict[str, Any]]]:
    """Every alerting rule in any PrometheusRule under manifests/, by alert name (an alert with
    a critical and a warning tier has two rules)."""
    rules: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(MANIFESTS.rglob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict) or doc.get("kind") != "PrometheusRule":
                continue
            for group in doc["spec"]["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule:
                        rules.setdefault(rule["alert"], []).append(rule)
    return rules


def _missing_runbooks(alerts: Iterable[str], index: RunbookIndex) -> list[str]:
    return sorted(a for a in alerts if not index.has_alert(a))


def _text(steps: Iterable[Step]) -> str:
    return "\n".join(
        part for step in steps for part in (step.text, step.command, step.snippet) if part
    )


def _blob(runbook: Runbook) -> str:
    return "\n".join(
        [runbook.meaning, runbook.impact, _text(runbook.diagnosis), _text(runbook.mitigation)]
    )


# --------------------------------------------------------------------------- loading


def test_all_runbooks_load_and_validate(index: RunbookIndex) -> None:
    ids = {rb.id for rb in index.all()}
    assert ids == set(ALERT_RUNBOOKS.values()) | set(SCENARIOS.values()) | {"generic"}
    assert len(index) == len(ids) == len(list(DEFAULT_DIRECTORY.glob("*.yaml")))
    for runbook in index:
        assert runbook.diagnosis and runbook.mitigation, runbook.id
        assert index.get(runbook.id) is runbook
    assert index.get("no-such-runbook") is None


def test_runbooks_ship_as_package_data() -> None:
    assert DEFAULT_DIRECTORY == ROOT / "bot" / "runbooks"
    assert '"runbooks/*.yaml"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_every_alert_in_manifests_has_a_runbook(index: RunbookIndex) -> None:
    rules = _manifest_alert_rules()
    assert set(rules) == set(ALERT_RUNBOOKS), "manifests/ and this test disagree on the alerts"
    assert _missing_runbooks(rules, index) == []
    for alert, tiers in rules.items():
        runbook = index.for_alert(alert)
        assert runbook.alert == alert
        assert runbook.id == ALERT_RUNBOOKS[alert]
        assert not runbook.is_generic
        # The runbook's severity is the alert's highest tier.
        severities = [rule["labels"]["severity"] for rule in tiers]
        assert runbook.severity == max(severities, key=SEVERITY_RANK.__getitem__), alert
        for rule in tiers:
            assert rule["annotations"]["runbook_url"] == RUNBOOK_URL.format(alert=alert), alert


def test_unknown_alert_falls_back_to_generic_and_is_reported_missing(index: RunbookIndex) -> None:
    synthetic = "SyntheticAlertWithoutRunbook"
    runbook = index.for_alert(synthetic)
    assert runbook.is_generic
    assert runbook.id == "generic"
    assert runbook.alert is None
    assert not index.has_alert(synthetic)
    # The coverage check above would fail for an alert like this one.
    assert _missing_runbooks([*ALERT_RUNBOOKS, synthetic], index) == [synthetic]


def test_alert_runbooks_link_diag_scenarios(index: RunbookIndex) -> None:
    known = set(SCENARIOS)
    for runbook in index:
        if runbook.diag_scenario is not None:
            assert runbook.diag_scenario in known, runbook.id
    links = {alert: index.for_alert(alert).diag_scenario for alert in ALERT_RUNBOOKS}
    assert links["GPUMemoryHigh"] == "oom"
    assert links["InferenceLatencyHigh"] == "network"
    assert links["ModelPodRestarting"] in {"model-load", "oom"}
    assert links["GPUCostSpike"] == "karpenter"
    # Every related id resolves, and ModelPodRestarting points at both candidate causes.
    for runbook in index:
        for ref in runbook.related:
            assert index.get(ref) is not None, f"{runbook.id}: related {ref}"
    restarting = index.for_alert("ModelPodRestarting")
    assert {"model-load-failure", "gpu-oom"} <= set(restarting.related)


@pytest.mark.parametrize(("scenario", "runbook_id"), sorted(SCENARIOS.items()))
def test_scenario_lookup(index: RunbookIndex, scenario: str, runbook_id: str) -> None:
    runbook = index.scenario(scenario)
    assert runbook.id == runbook_id
    assert runbook.is_scenario
    assert runbook.alert is None
    assert runbook.diag_scenario == scenario


def test_unknown_scenario_raises(index: RunbookIndex) -> None:
    with pytest.raises(KeyError, match="unknown diag scenario 'disk'"):
        index.scenario("disk")


# --------------------------------------------------------------------------- content


REMEDIES = {
    "gpu-oom": [
        "MAX_BATCH_SIZE", '"16"', "32", "QUANTIZATION", "int8", "fp8", "MAX_NUM_SEQS", "128",
        "gpu_memory_utilization=0.85", "max_model_len=4096",
    ],
    "network-latency": [
        "podAntiAffinity", "topology.kubernetes.io/zone", "vpc.amazonaws.com/efa: 4",
        "NCCL_TIMEOUT", '"1800"', "REQUEST_TIMEOUT", '"300"',
    ],
    "model-load-failure": [
        "model-cache", "model-cache-pvc", "initContainers", "aws s3 sync", '"32Gi"', '"64Gi"',
    ],
    "karpenter-provisioning": [
        "p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge", "ap-northeast-2a", "ap-northeast-2b",
        "ap-northeast-2c", "spot", "on-demand", "karpenter.sh/capacity-type",
    ],
}  # fmt: skip
DIAGNOSIS_COMMANDS = {
    "gpu-oom": ["kubectl exec -it <pod-name> -n inference -- nvidia-smi", "dcgmi dmon"],
    "network-latency": ["nslookup <service-name>", "grep -i nccl", "ping <target-service>"],
    "model-load-failure": [
        "kubectl describe pod <pod-name> -n inference",
        "kubectl logs <pod-name> -n inference --previous",
        "kubectl get pvc -n inference",
    ],
    "karpenter-provisioning": [
        "kubectl get nodeclaims -A",
        "kubectl logs -n karpenter -l app.kubernetes.io/name=karpenter",
        "aws ec2 describe-instance-type-offerings",
    ],
}


@pytest.mark.parametrize("runbook_id", sorted(REMEDIES))
def test_scenario_runbooks_carry_the_guides_remedies(index: RunbookIndex, runbook_id: str) -> None:
    runbook = index.get(runbook_id)
    assert runbook is not None
    mitigation = _text(runbook.mitigation)
    for needle in REMEDIES[runbook_id]:
        assert needle in mitigation, f"{runbook_id}: mitigation lacks {needle!r}"
    commands = "\n".join(step.command for step in runbook.diagnosis if step.command)
    for needle in DIAGNOSIS_COMMANDS[runbook_id]:
        assert needle in commands, f"{runbook_id}: diagnosis lacks {needle!r}"
    assert any(step.snippet for step in runbook.mitigation), runbook_id


def test_gpu_memory_diagnosis_explains_units_and_ratio(index: RunbookIndex) -> None:
    for alert in ("GPUMemoryHigh",):
        diagnosis = _text(index.for_alert(alert).diagnosis)
        assert "MiB" in diagnosis
        assert "used / (used + free)" in diagnosis
    oom = _text(index.scenario("oom").diagnosis)
    assert "MiB" in oom
    assert "used / (used + free)" in oom


@pytest.mark.parametrize("alert", ["DailyCostExceeded", "GPUUnderutilized"])
def test_cost_runbooks_carry_the_savings_table(index: RunbookIndex, alert: str) -> None:
    mitigation = _text(index.for_alert(alert).mitigation)
    for strategy, saving in [
        ("Spot", "60-90%"),
        ("Autoscaling", "30-50%"),
        ("quantisation", "20-40%"),
        ("Batching", "20-30%"),
        ("consolidation", "10-20%"),
    ]:
        assert strategy.lower() in mitigation.lower(), f"{alert}: no {strategy}"
        assert saving in mitigation, f"{alert}: no {saving} for {strategy}"


def test_cost_runbooks_use_real_cost_metrics(index: RunbookIndex) -> None:
    everything = "\n".join(_blob(rb) for rb in index)
    assert "kubecost_cluster_cost_daily" not in everything
    assert "kubecost_gpu_cost_hourly" not in everything
    assert "node_total_hourly_cost" in _blob(index.for_alert("DailyCostExceeded"))
    assert "node_gpu_hourly_cost" in _blob(index.for_alert("GPUCostSpike"))


def test_codes_only_where_the_alert_carries_a_code(index: RunbookIndex) -> None:
    """A runbook has `codes` exactly when every rule of its alert carries its value in the
    `code` annotation; only GPUXidError does (the last XID code)."""
    carrying = set()
    for alert, tiers in _manifest_alert_rules().items():
        with_code = ["code" in rule["annotations"] for rule in tiers]
        assert len(set(with_code)) == 1, f"{alert}: some tiers carry a code, some not"
        if with_code[0]:
            carrying.add(alert)
            for rule in tiers:
                assert rule["annotations"]["code"] == '{{ $value | printf "%.0f" }}', alert
    assert carrying == {"GPUXidError"}
    assert {rb.alert for rb in index if rb.codes} == carrying
    for runbook in index:
        if runbook.codes:
            assert runbook.alert is not None, runbook.id


def test_xid_runbook_explains_the_common_codes(index: RunbookIndex) -> None:
    runbook = index.for_alert("GPUXidError")
    assert set(runbook.codes) == set(XID_CODES)
    for code, words in XID_CODES.items():
        assert words.lower() in runbook.codes[code].lower(), f"XID {code}: {words!r}"
    # The critical tier's codes (the rule) each tell to take the node out of service.
    (critical,) = [
        r for r in _manifest_alert_rules()["GPUXidError"] if r["labels"]["severity"] == "critical"
    ]
    expr = " ".join(critical["expr"].split())
    critical_codes = {int(c) for c in re.findall(r"DCGM_FI_DEV_XID_ERRORS == (\d+)", expr)}
    assert critical_codes == {48, 64, 74, 79, 95}
    for code in critical_codes:
        assert "drain" in runbook.codes[code] and "replace" in runbook.codes[code], code
    # The value is the LAST code, not a count; it sticks until dcgm-exporter restarts.
    assert "LAST XID code" in runbook.meaning
    assert "not a count" in runbook.meaning
    assert "dcgm-exporter" in _text(runbook.mitigation)


WATCHER_CONTENT = {
    "genai-bot-down": ["job \"genai-ops-bot\"", "ServiceMonitor", "PagerDuty", "rollout undo"],
    "genai-bot-outbox-backlog": [
        "genai_bot_outbox_oldest_pending_age_seconds", "genai_bot_outbox_rows", "dead",
    ],
    "genai-bot-slack-calls-failing": [
        "genai_bot_slack_api_calls_total", "invalid_auth", "channel_not_found",
        "connection_error", "ratelimited", "GENAI_SLACK__BOT_TOKEN",
    ],
    "genai-bot-webhook-refusing": [
        "genai_bot_webhook_requests_total", "401", "400", "413", "503", "GENAI_WEBHOOK_TOKEN",
        "GENAI_ALERTS__WEBHOOK_MAX_BYTES",
    ],
    "dcgm-exporter-down": [
        "Hostname", "hostname", "__meta_kubernetes_pod_node_name", "GPUUnderutilized",
    ],
    "gpu-node-not-ready": ["kubectl describe node", "nodeclaim", "muted"],
}  # fmt: skip


@pytest.mark.parametrize("runbook_id", sorted(WATCHER_CONTENT))
def test_added_runbooks_name_their_metrics_and_fixes(index: RunbookIndex, runbook_id: str) -> None:
    runbook = index.get(runbook_id)
    assert runbook is not None
    assert runbook.codes == {}, runbook_id
    for needle in WATCHER_CONTENT[runbook_id]:
        assert needle in _blob(runbook) + "\n".join(
            step.snippet for step in runbook.mitigation if step.snippet
        ), f"{runbook_id}: lacks {needle!r}"


def test_runbooks_are_english() -> None:
    for path in DEFAULT_DIRECTORY.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert not any("\uac00" <= ch <= "\ud7a3" for ch in text), f"{path.name}: Hangul"


# --------------------------------------------------------------------------- invalid files


@pytest.fixture
def runbook_dir(tmp_path: Path) -> Path:
    """A copy of the shipped runbooks to break."""
    directory = tmp_path / "runbooks"
    directory.mkdir()
    for path in DEFAULT_DIRECTORY.glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    assert len(load_runbooks(directory)) == len(load_runbooks())
    return directory


def _runbook_data(runbook_id: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEFAULT_DIRECTORY / f"{runbook_id}.yaml").read_text())
    return data


def _write(directory: Path, name: str, data: dict[str, Any]) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_extra_field_and_missing_meaning_name_the_file(runbook_dir: Path) -> None:
    data = _runbook_data("gpu-memory-high")
    data["owner"] = "team-a"  # extra field
    del data["meaning"]  # missing field
    data["diagnosis"][0]["cmd"] = "kubectl get pods"  # extra field in a step
    bad = _write(runbook_dir, "gpu-memory-high.yaml", data)
    with pytest.raises(RunbookError) as exc:
        load_runbooks(runbook_dir)
    message = str(exc.value)
    assert "gpu-memory-high.yaml: meaning: Field required" in message
    assert "gpu-memory-high.yaml: owner: Extra inputs are not permitted" in message
    assert "gpu-memory-high.yaml: diagnosis.0.cmd: Extra inputs are not permitted" in message
    assert exc.value.files == [bad]
    assert len(exc.value.problems) == 3


def test_every_bad_file_is_reported(runbook_dir: Path) -> None:
    data = _runbook_data("gpu-oom")
    data["diag_scenario"] = "disk"
    data["severity"] = "page"
    _write(runbook_dir, "gpu-oom.yaml", data)
    (runbook_dir / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n", encoding="utf-8")
    (runbook_dir / "list.yaml").write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(RunbookError) as exc:
        load_runbooks(runbook_dir)
    message = str(exc.value)
    assert "gpu-oom.yaml: diag_scenario:" in message
    assert "gpu-oom.yaml: severity:" in message
    assert "broken.yaml: cannot read:" in message
    assert "list.yaml: expected a mapping" in message
    assert {p.name for p in exc.value.files} == {"gpu-oom.yaml", "broken.yaml", "list.yaml"}


def test_duplicate_yaml_key_is_refused(runbook_dir: Path) -> None:
    text = (runbook_dir / "generic.yaml").read_text(encoding="utf-8")
    (runbook_dir / "generic.yaml").write_text(text + "title: twice\n", encoding="utf-8")
    with pytest.raises(RunbookError, match=r"generic\.yaml: cannot read: .*duplicate key 'title'"):
        load_runbooks(runbook_dir)


def test_id_must_match_the_file_name(runbook_dir: Path) -> None:
    _write(runbook_dir, "gpu-oom-copy.yaml", _runbook_data("generic"))
    with pytest.raises(RunbookError, match=r"gpu-oom-copy\.yaml: id: 'generic' does not match"):
        load_runbooks(runbook_dir)


def test_cross_file_problems_are_reported(runbook_dir: Path) -> None:
    data = _runbook_data("gpu-memory-high")
    data["id"] = "gpu-memory-high-2"
    data["related"] = ["no-such-runbook"]
    _write(runbook_dir, "gpu-memory-high-2.yaml", data)
    (runbook_dir / "generic.yaml").unlink()
    with pytest.raises(RunbookError) as exc:
        load_runbooks(runbook_dir)
    message = str(exc.value)
    duplicate = [line for line in exc.value.problems if "already has a runbook" in line]
    assert len(duplicate) == 1, message
    assert "alert: 'GPUMemoryHigh'" in duplicate[0]
    assert "gpu-memory-high.yaml" in duplicate[0]
    assert "gpu-memory-high-2.yaml" in duplicate[0]
    assert "gpu-memory-high-2.yaml: related.0: unknown runbook id 'no-such-runbook'" in message
    assert "generic.yaml is missing" in message


def test_missing_scenario_runbook_is_reported(runbook_dir: Path) -> None:
    (runbook_dir / "karpenter-provisioning.yaml").unlink()
    data = _runbook_data("gpu-cost-spike")
    data["related"] = ["daily-cost-exceeded"]
    _write(runbook_dir, "gpu-cost-spike.yaml", data)
    with pytest.raises(RunbookError, match="no scenario runbook for diag scenario 'karpenter'"):
        load_runbooks(runbook_dir)


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="no runbook files"):
        load_runbooks(tmp_path)


def test_codes_are_checked_and_only_on_alert_runbooks(runbook_dir: Path) -> None:
    generic = _runbook_data("generic")
    generic["codes"] = {79: "GPU has fallen off the bus."}  # no alert carries its value
    _write(runbook_dir, "generic.yaml", generic)
    xid = _runbook_data("gpu-xid-error")
    xid["codes"] = {"79": "a string key", -1: "negative", 48: "   "}
    _write(runbook_dir, "gpu-xid-error.yaml", xid)
    with pytest.raises(RunbookError) as exc:
        load_runbooks(runbook_dir)
    message = str(exc.value)
    assert "generic.yaml: codes: Value error, only an alert runbook carries codes" in message
    assert "gpu-xid-error.yaml: codes.79.[key]: Input should be a valid integer" in message
    assert "gpu-xid-error.yaml: codes.-1.[key]: Input should be greater than or equal to 0" in (
        message
    )
    assert "gpu-xid-error.yaml: codes.48: String should have at least 1 character" in message
    assert {p.name for p in exc.value.files} == {"generic.yaml", "gpu-xid-error.yaml"}
    # Without codes the field defaults to empty.
    assert load_runbooks().get("generic") is not None
    assert load_runbooks().for_alert("GPUMemoryHigh").codes == {}


def test_models_forbid_unknown_fields_and_empty_text() -> None:
    with pytest.raises(ValidationError):
        Step.model_validate({"text": "x", "shell": "ls"})
    with pytest.raises(ValidationError):
        Step.model_validate({"text": "   "})
    data = _runbook_data("gpu-oom")
    data["diagnosis"] = []
    with pytest.raises(ValidationError, match="diagnosis"):
        Runbook.model_validate(data)
