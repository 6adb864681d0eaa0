"""The shipped Alertmanager inhibitions, proven with the real Alertmanager binary.

amtool cannot test inhibit_rules, so each test starts the real Alertmanager with the shipped
config (manifests/alertmanager-config.yaml: its route tree and inhibit_rules; the receivers
keep their names but lose their integrations, so nothing leaves the test), posts alerts through
`POST /api/v2/alerts` as Prometheus does, and reads `GET /api/v2/alerts`: a muted alert is in
state `suppressed` with the source alert's fingerprint in `status.inhibitedBy`.

The source alerts' label sets are the ones the rules produce, taken from the promtool cases in
manifests/rules-tests.yaml (tests/test_alert_rules.py proves the rules yield exactly those).

Without the Alertmanager binary these tests skip; under GENAI_REQUIRE_INTEGRATION=1 they fail.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.alertmanager import shipped_config, without_receivers
from tests.harness.procs import AlertmanagerProcess, require_binary

ROOT = Path(__file__).resolve().parents[1]
RULE_TESTS = ROOT / "manifests" / "rules-tests.yaml"
GPU_ALERTS = ["GPUMemoryHigh", "GPUTemperatureHigh", "GPUUnderutilized", "GPUXidError",
              "DCGMExporterDown"]  # fmt: skip

Labels = dict[str, str]


# --------------------------------------------------------------------------- helpers


def _rule_output(alertname: str, **match: str) -> Labels:
    """The label set (plus alertname) of an alert the rules produce, from rules-tests.yaml."""
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    for group in tests:
        for case in group.get("alert_rule_test") or []:
            if case["alertname"] != alertname:
                continue
            for alert in case.get("exp_alerts") or []:
                labels = {k: str(v) for k, v in alert["exp_labels"].items()}
                if all(labels.get(k) == v for k, v in match.items()):
                    return {"alertname": alertname, **labels}
    raise LookupError(f"rules-tests.yaml has no {alertname} alert with {match}")


def _gpu(alertname: str, gpu: str, severity: str = "warning", **host: str) -> Labels:
    """A DCGM-based GPU alert as the rules label it: the DCGM series' labels and one or more
    of the host labels (Hostname, hostname, node)."""
    return {
        "alertname": alertname,
        "severity": severity,
        "team": "genai-platform",
        "gpu": gpu,
        "UUID": f"GPU-{gpu}-{'-'.join(host.values())}",
        **host,
    }


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _post(am: AlertmanagerProcess, alerts: Sequence[Labels], resolved: bool = False) -> None:
    now = datetime.now(UTC)
    body: list[dict[str, Any]] = []
    for labels in alerts:
        alert: dict[str, Any] = {"labels": labels, "annotations": {"summary": "test"}}
        if resolved:
            alert["startsAt"] = _rfc3339(now - timedelta(minutes=10))
            alert["endsAt"] = _rfc3339(now - timedelta(seconds=1))
        body.append(alert)
    am.post_alerts(body)


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _states(
    am: AlertmanagerProcess, alerts: Sequence[Labels], suppressed: Sequence[Labels] = ()
) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
    """`GET /api/v2/alerts` by label set, once every alert is in and every alert in
    `suppressed` shows as suppressed (the inhibitor learns of a source asynchronously). The
    other alerts' states are read in the same answer."""
    want = {_key(a) for a in alerts}
    muted = {_key(a) for a in suppressed}

    def ready(current: list[dict[str, Any]]) -> bool:
        seen = {_key(a["labels"]): a for a in current}
        return want <= set(seen) and all(seen[k]["status"]["state"] == "suppressed" for k in muted)

    current = am.wait_for_alerts(ready, timeout=20)
    return {_key(a["labels"]): a for a in current}


def _assert_inhibited(
    states: dict[tuple[tuple[str, str], ...], dict[str, Any]],
    muted: Mapping[str, tuple[Labels, Labels]],
    active: Mapping[str, Labels],
) -> None:
    """`muted`: name -> (target, the source that mutes it); `active`: name -> labels."""
    for name, (target, source) in muted.items():
        status = states[_key(target)]["status"]
        assert status["state"] == "suppressed", f"{name} should be muted: {status}"
        assert status["inhibitedBy"] == [states[_key(source)]["fingerprint"]], name
        assert status["silencedBy"] == [], name
    for name, labels in active.items():
        status = states[_key(labels)]["status"]
        assert status["state"] == "active", f"{name} should not be muted: {status}"
        assert status["inhibitedBy"] == [], name


@pytest.fixture
def alertmanager() -> Iterator[AlertmanagerProcess]:
    """The real Alertmanager with the shipped routes and inhibit_rules."""
    require_binary(["prometheus-alertmanager", "alertmanager"], "inhibitions need Alertmanager")
    with AlertmanagerProcess(without_receivers(shipped_config())) as am:
        yield am


# --------------------------------------------------------------------------- the rules


def test_shipped_inhibit_rules() -> None:
    rules = shipped_config()["inhibit_rules"]
    assert len(rules) == 7
    for rule in rules:  # drills neither mute nor are muted
        assert 'gameday!="true"' in rule["source_matchers"]
        assert 'gameday!="true"' in rule["target_matchers"]
        assert "cluster" in rule["equal"]
    severity, *by_host = rules
    assert severity["source_matchers"][0] == 'severity="critical"'
    assert severity["target_matchers"][0] == 'severity="warning"'
    assert {"alertname", "node", "Hostname", "hostname", "gpu", "UUID"} <= set(severity["equal"])
    hosts = [(r["source_matchers"][0], r["target_matchers"][0], r["equal"][1]) for r in by_host]
    gpu_alerts = f'alertname=~"{"|".join(GPU_ALERTS)}"'
    assert hosts == [
        ('alertname="GPUNodeNotReady"', gpu_alerts, "node"),
        ('alertname="GPUNodeNotReady"', gpu_alerts, "Hostname"),
        ('alertname="GPUNodeNotReady"', gpu_alerts, "hostname"),
        ('alertname="DCGMExporterDown"', 'alertname="GPUUnderutilized"', "node"),
        ('alertname="DCGMExporterDown"', 'alertname="GPUUnderutilized"', "Hostname"),
        ('alertname="DCGMExporterDown"', 'alertname="GPUUnderutilized"', "hostname"),
    ]


# --------------------------------------------------------------------------- real Alertmanager


def test_critical_mutes_the_same_alerts_warning_on_the_same_target(
    alertmanager: AlertmanagerProcess,
) -> None:
    # XID 79 on GPU 0: the rules fire both tiers (rules-tests.yaml); XID 13 on GPU 1: warning.
    critical = _rule_output("GPUXidError", severity="critical", gpu="0", UUID="GPU-aaaa")
    warning = _rule_output("GPUXidError", severity="warning", gpu="0", UUID="GPU-aaaa")
    other_gpu = _rule_output("GPUXidError", severity="warning", gpu="1")
    other_alert = {**warning, "alertname": "GPUTemperatureHigh"}  # same target, other alert
    other_cluster = {**warning, "cluster": "eks-staging"}  # same alert and GPU, elsewhere
    alerts = [critical, warning, other_gpu, other_alert, other_cluster]
    _post(alertmanager, alerts)
    states = _states(alertmanager, alerts, suppressed=[warning])
    _assert_inhibited(
        states,
        muted={"warning tier of GPU 0": (warning, critical)},
        active={
            "critical tier": critical,
            "GPU 1": other_gpu,
            "another alert on GPU 0": other_alert,
            "another cluster": other_cluster,
        },
    )


def test_gpu_node_not_ready_mutes_that_nodes_gpu_alerts(
    alertmanager: AlertmanagerProcess,
) -> None:
    not_ready = _rule_output("GPUNodeNotReady", node="gpu-a")
    on_node = {  # one per GPU alert, naming the node by each of the three host labels
        "GPUMemoryHigh by Hostname": _gpu("GPUMemoryHigh", "0", Hostname="gpu-a"),
        "GPUTemperatureHigh by hostname": _gpu("GPUTemperatureHigh", "1", hostname="gpu-a"),
        "GPUUnderutilized by node": _gpu("GPUUnderutilized", "2", "info", node="gpu-a"),
        "GPUXidError critical": _gpu(
            "GPUXidError", "3", "critical", Hostname="gpu-a", node="gpu-a"
        ),
        "DCGMExporterDown": _rule_output("DCGMExporterDown", node="gpu-d")
        | {"node": "gpu-a", "Hostname": "gpu-a", "hostname": "gpu-a"},
    }
    elsewhere = {
        "GPUMemoryHigh on gpu-b": _gpu("GPUMemoryHigh", "0", Hostname="gpu-b"),
        "a non-GPU alert on gpu-a": {
            "alertname": "KubePodNotReady",
            "severity": "warning",
            "namespace": "inference",
            "pod": "vllm-0",
            "node": "gpu-a",
        },
        "a drill on gpu-a": _gpu("GPUMemoryHigh", "4", Hostname="gpu-a") | {"gameday": "true"},
        "InferenceLatencyHigh": {
            "alertname": "InferenceLatencyHigh",
            "severity": "warning",
            "model": "llama-2-7b",
        },
    }
    alerts = [not_ready, *on_node.values(), *elsewhere.values()]
    _post(alertmanager, alerts)
    states = _states(alertmanager, alerts, suppressed=list(on_node.values()))
    _assert_inhibited(
        states,
        muted={name: (labels, not_ready) for name, labels in on_node.items()},
        active={"GPUNodeNotReady": not_ready, **elsewhere},
    )


def test_dcgm_exporter_down_mutes_that_nodes_gpu_underutilized(
    alertmanager: AlertmanagerProcess,
) -> None:
    down = _rule_output("DCGMExporterDown", node="gpu-d")
    underused = {
        "by Hostname": _gpu("GPUUnderutilized", "0", "info", Hostname="gpu-d"),
        "by hostname": _gpu("GPUUnderutilized", "1", "info", hostname="gpu-d"),
        "by node": _gpu("GPUUnderutilized", "2", "info", node="gpu-d"),
    }
    other = {
        "GPUUnderutilized on gpu-a": _gpu("GPUUnderutilized", "0", "info", Hostname="gpu-a"),
        "GPUTemperatureHigh on gpu-d": _gpu("GPUTemperatureHigh", "3", Hostname="gpu-d"),
    }
    alerts = [down, *underused.values(), *other.values()]
    _post(alertmanager, alerts)
    states = _states(alertmanager, alerts, suppressed=list(underused.values()))
    _assert_inhibited(
        states,
        muted={name: (labels, down) for name, labels in underused.items()},
        active={"DCGMExporterDown": down, **other},
    )


def test_a_drill_mutes_nothing(alertmanager: AlertmanagerProcess) -> None:
    drill_not_ready = _rule_output("GPUNodeNotReady", node="gpu-a") | {"gameday": "true"}
    drill_critical = _rule_output("GPUXidError", severity="critical", gpu="0", UUID="GPU-aaaa") | {
        "gameday": "true"
    }
    real_warning = _rule_output("GPUXidError", severity="warning", gpu="0", UUID="GPU-aaaa")
    real_memory = _gpu("GPUMemoryHigh", "0", Hostname="gpu-a")
    alerts = [drill_not_ready, drill_critical, real_warning, real_memory]
    _post(alertmanager, alerts)
    # A real source and its target, posted after the drills: once the target shows muted, the
    # inhibitor has seen the drills too.
    real_down = _rule_output("DCGMExporterDown", node="gpu-d")
    probe = _gpu("GPUUnderutilized", "0", "info", node="gpu-d")
    _post(alertmanager, [real_down, probe])
    states = _states(alertmanager, [*alerts, real_down, probe], suppressed=[probe])
    _assert_inhibited(
        states,
        muted={"probe": (probe, real_down)},
        active={
            "real XID warning under a drill's critical": real_warning,
            "real GPU alert on a drill's NotReady node": real_memory,
            "drill GPUNodeNotReady": drill_not_ready,
            "drill XID critical": drill_critical,
        },
    )


def test_a_resolved_source_stops_muting(alertmanager: AlertmanagerProcess) -> None:
    down = _rule_output("DCGMExporterDown", node="gpu-d")
    underused = _gpu("GPUUnderutilized", "0", "info", node="gpu-d")
    _post(alertmanager, [down, underused])
    _states(alertmanager, [down, underused], suppressed=[underused])
    _post(alertmanager, [down], resolved=True)  # the exporter is back
    deadline = time.monotonic() + 20
    while True:
        current = {_key(a["labels"]): a for a in alertmanager.alerts()}
        if _key(down) not in current and current[_key(underused)]["status"]["state"] == "active":
            break
        assert time.monotonic() < deadline, f"still muted after the source resolved: {current}"
        time.sleep(0.2)
    assert current[_key(underused)]["status"]["inhibitedBy"] == []


def test_without_the_inhibit_rules_nothing_is_muted() -> None:
    """Negative control: the same alerts on an Alertmanager without the shipped inhibit_rules
    all stay active, so the suppressions above come from those rules."""
    require_binary(["prometheus-alertmanager", "alertmanager"], "inhibitions need Alertmanager")
    config = shipped_config()
    del config["inhibit_rules"]
    critical = _rule_output("GPUXidError", severity="critical", gpu="0", UUID="GPU-aaaa")
    warning = _rule_output("GPUXidError", severity="warning", gpu="0", UUID="GPU-aaaa")
    not_ready = _rule_output("GPUNodeNotReady", node="gpu-a")
    memory = _gpu("GPUMemoryHigh", "0", Hostname="gpu-a")
    down = _rule_output("DCGMExporterDown", node="gpu-d")
    underused = _gpu("GPUUnderutilized", "0", "info", node="gpu-d")
    alerts = [critical, warning, not_ready, memory, down, underused]
    with AlertmanagerProcess(without_receivers(config)) as am:
        _post(am, alerts)
        states = _states(am, alerts)
        time.sleep(1.0)  # give a (wrong) inhibition time to show
        states = {_key(a["labels"]): a for a in am.alerts()}
    for labels in alerts:
        status = states[_key(labels)]["status"]
        assert status["state"] == "active", f"{labels['alertname']}: {status}"
