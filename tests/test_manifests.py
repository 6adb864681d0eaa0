"""Deployment manifests: schema-valid, complete, least-privilege, and in step with Settings.

Schema checks use kubernetes-validate in strict mode (unknown fields are errors) against the
schemas it bundles, offline. A schema check does not follow references (a probe's named
port, an envFrom name, a selector), so the tests below check those by hand.

The Prometheus Operator's kinds (ServiceMonitor, PrometheusRule) are CRDs, for which no
package here bundles a schema (kubernetes-validate has the built-in kinds only; PyPI's
cloudcoil-models-prometheus-operator has pydantic models that ignore unknown fields, not the
CRD schemas). They get a structural check instead: the required fields, the field names the
CRD (prometheus-operator 0.84) knows at the levels we use, and their metadata and label
selectors validated strictly as the built-in ObjectMeta and LabelSelector they are.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel, SecretStr

from bot.config import Settings
from tests.harness.procs import require_binary

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
SLACK_APP = MANIFESTS / "slack-app.yaml"
EXAMPLE_SECRET = MANIFESTS / "secret.example.yaml"
# The monitoring stack's own objects: applied to the monitoring namespace with the
# Prometheus/Alertmanager install, not by the bot's kustomization.
MONITORING = {MANIFESTS / "prometheus-rules.yaml", MANIFESTS / "alertmanager-config.yaml"}
PROMTOOL_TESTS = MANIFESTS / "rules-tests.yaml"  # promtool's unit tests, not an API object
OVERLAYS = MANIFESTS / "overlays"
EXEC_OVERLAY = OVERLAYS / "exec"
COMPONENTS = MANIFESTS / "components"
SERVICEMONITOR = COMPONENTS / "servicemonitor"
PROMETHEUS_RULES = MANIFESTS / "prometheus-rules.yaml"
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

K8S_VERSION = "1.30"
BOT = "genai-ops-bot"
NAMESPACE = "genai-ops"
CONFIGMAP = "genai-ops-bot-config"
SECRET = "genai-ops-bot-secrets"
IMAGE = "ghcr.io/genai-ops/genai-ops-bot"
IMAGE_TAG = "0.1.0"
# kube-prometheus-stack selects ServiceMonitors and PrometheusRules by `release: <Helm
# release>` (serviceMonitorSelector/ruleSelector while *SelectorNilUsesHelmValues is true).
RELEASE = "kube-prometheus-stack"
# The job label the alert rules match the bot's own scrape with: up{job="genai-ops-bot"}.
BOT_JOB = BOT

READ_VERBS = {"get", "list", "watch"}
WRITE_VERBS = {
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "escalate",
    "bind",
    "impersonate",
}

# Settings that a later change adds. Until bot.config.Settings knows them, their check is an
# expected failure; once the setting exists the same check runs in full.
# --------------------------------------------------------------------------- loading


def _yaml_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.rglob("*") if p.suffix in {".yaml", ".yml"})


def _is_kustomization(path: Path) -> bool:
    return path.name in KUSTOMIZATION_NAMES


def _load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _object_files() -> list[Path]:
    """YAML files holding Kubernetes API objects (not the Slack manifest, not kustomize)."""
    return [
        p for p in _yaml_files()
        if p not in (SLACK_APP, PROMTOOL_TESTS) and not _is_kustomization(p)
    ]


def _objects() -> list[tuple[Path, int, dict[str, Any]]]:
    return [(p, i, d) for p in _object_files() for i, d in enumerate(_load_docs(p))]


def _rel(path: Path) -> str:
    return path.relative_to(MANIFESTS).as_posix()


def _object_id(obj: tuple[Path, int, dict[str, Any]]) -> str:
    path, index, doc = obj
    return f"{_rel(path)}#{index}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


OBJECTS = _objects()


def _find(kind: str, name: str, *, under: Path = MANIFESTS) -> dict[str, Any]:
    found = [
        d
        for p, _, d in OBJECTS
        if p.is_relative_to(under) and d["kind"] == kind and d["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"expected one {kind}/{name} under {under}, found {len(found)}"
    return found[0]


def _kustomizations() -> list[Path]:
    return [p for p in _yaml_files() if _is_kustomization(p)]


def _component_dirs() -> list[Path]:
    """Directories of the optional kustomize Components (overlays/exec, components/...)."""
    return [
        p.parent for p in _kustomizations()
        if yaml.safe_load(p.read_text()).get("kind") == "Component"
    ]


COMPONENT_DIRS = _component_dirs()


def _in_component(path: Path) -> bool:
    return any(path.is_relative_to(d) for d in COMPONENT_DIRS)


def _kustomize_entries(kustomization: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, path) for every file or directory a kustomization refers to."""
    for field in ("resources", "components", "crds", "patchesStrategicMerge"):
        for entry in kustomization.get(field) or []:
            yield field, entry
    for patch in kustomization.get("patches") or []:
        if "path" in patch:
            yield "patches", patch["path"]
    for gen in (kustomization.get("configMapGenerator") or []) + (
        kustomization.get("secretGenerator") or []
    ):
        for entry in (gen.get("files") or []) + (gen.get("envs") or []):
            yield "generator", entry.split("=", 1)[-1]


def _listed_files(kustomization_path: Path) -> set[Path]:
    data = yaml.safe_load(kustomization_path.read_text())
    base = kustomization_path.parent
    return {(base / entry).resolve() for _, entry in _kustomize_entries(data)}


# --------------------------------------------------------------------------- schemas


def _bundled_api_stems() -> set[str]:
    """The api-version stems (``apps-v1``, ``v1``, ``rbac-v1``) kubernetes-validate bundles."""
    schema_dir = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{K8S_VERSION}.0-local-strict"
    )
    return {p.stem.split("-", 1)[1] for p in schema_dir.glob("*-*.json")}


def _api_stem(api_version: str) -> str:
    # The same mapping kubernetes-validate uses: rbac.authorization.k8s.io/v1 -> rbac-v1.
    return re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)


def _group_of(stem: str) -> str:
    return stem.rsplit("-", 1)[0] if "-" in stem else ""


BUNDLED_API_STEMS = _bundled_api_stems()
BUNDLED_GROUPS = {_group_of(s) for s in BUNDLED_API_STEMS}


def _is_custom(api_version: str) -> bool:
    """A kind from a group Kubernetes does not serve itself (a CRD): karpenter.sh, ..."""
    return _group_of(_api_stem(api_version)) not in BUNDLED_GROUPS


def _validate(doc: dict[str, Any]) -> str:
    return kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _assert_valid(doc: dict[str, Any]) -> None:
    """Validate one built-in object; fail with a one-line reason instead of a schema dump."""
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    problem = None
    try:
        assert _validate(doc) == K8S_VERSION
    except kubernetes_validate.ValidationError as exc:
        problem = f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        problem = exc.message  # a built-in group with a wrong or removed version
    if problem is not None:  # fail outside `except`: no chained schema dump in the report
        pytest.fail(f"{name}: {problem}", pytrace=False)


# --------------------------------------------------------------------------- CRD kinds
#
# Field names per the prometheus-operator CRDs (v0.84): the levels checked for unknown
# names are the ones these manifests use. Newer Operator releases add fields; add them here
# when a manifest needs one.

SERVICEMONITOR_SPEC_FIELDS = frozenset({
    "attachMetadata", "bodySizeLimit", "convertClassicHistogramsToNHCB", "endpoints",
    "fallbackScrapeProtocol", "jobLabel", "keepDroppedTargets", "labelLimit",
    "labelNameLengthLimit", "labelValueLengthLimit", "namespaceSelector",
    "nativeHistogramBucketLimit", "nativeHistogramMinBucketFactor", "podTargetLabels",
    "sampleLimit", "scrapeClass", "scrapeClassicHistograms", "scrapeProtocols", "selector",
    "selectorMechanism", "serviceDiscoveryRole", "targetLabels", "targetLimit",
})
ENDPOINT_FIELDS = frozenset({
    "authorization", "basicAuth", "bearerTokenFile", "bearerTokenSecret", "enableHttp2",
    "filterRunning", "followRedirects", "honorLabels", "honorTimestamps", "interval",
    "metricRelabelings", "noProxy", "oauth2", "params", "path", "port", "proxyConnectHeader",
    "proxyFromEnvironment", "proxyUrl", "relabelings", "scheme", "scrapeTimeout",
    "targetPort", "tlsConfig", "trackTimestampsStaleness",
})
NAMESPACE_SELECTOR_FIELDS = frozenset({"any", "matchNames"})
RULE_GROUP_FIELDS = frozenset({
    "name", "interval", "rules", "limit", "partial_response_strategy", "query_offset", "labels",
})
RULE_FIELDS = frozenset({"alert", "record", "expr", "for", "keep_firing_for", "labels",
                         "annotations"})
# The Operator's duration pattern (interval, scrapeTimeout, for, keep_firing_for).
DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)


def _unknown(obj: dict[str, Any], allowed: frozenset[str], where: str) -> list[str]:
    return [f"{where}.{k}: unknown field" for k in sorted(set(obj) - allowed)]


def _strict_problems(carrier: dict[str, Any], prefix: str, where: str) -> list[str]:
    """Validate a built-in fragment (ObjectMeta, LabelSelector) inside a built-in carrier."""
    try:
        _validate(carrier)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path).removeprefix(prefix)
        return [f"{where}{path}: {exc.message}"]
    return []


def _check_metadata(doc: dict[str, Any]) -> list[str]:
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        return ["metadata.name: required"]
    carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    return _strict_problems(carrier, "metadata", "metadata")


def _check_selector(selector: Any, where: str) -> list[str]:
    if not isinstance(selector, dict):
        return [f"{where}: required (a label selector)"]
    carrier = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": "carrier"}, "spec": {"selector": selector}}
    return _strict_problems(carrier, "spec.selector", where)


def _check_duration(obj: dict[str, Any], key: str, where: str) -> list[str]:
    if key in obj and not (isinstance(obj[key], str) and DURATION.match(obj[key])):
        return [f"{where}.{key}: {obj[key]!r} is not a duration"]
    return []


def _check_endpoint(ep: Any, where: str) -> list[str]:
    if not isinstance(ep, dict):
        return [f"{where}: not an object"]
    problems = _unknown(ep, ENDPOINT_FIELDS, where)
    if "port" in ep:
        if not isinstance(ep["port"], str) or not ep["port"]:
            problems.append(f"{where}.port: must be a Service port name")
    elif "targetPort" in ep:
        if not isinstance(ep["targetPort"], int | str):
            problems.append(f"{where}.targetPort: must be a port name or number")
    else:
        problems.append(f"{where}: needs port (a Service port name) or targetPort")
    path = ep.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        problems.append(f"{where}.path: required, an absolute path")
    if ep.get("scheme", "http") not in {"http", "https"}:
        problems.append(f"{where}.scheme: http or https")
    for key in ("interval", "scrapeTimeout"):
        problems += _check_duration(ep, key, where)
    return problems


def _check_servicemonitor(doc: dict[str, Any]) -> list[str]:
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return ["spec: required"]
    problems = _unknown(spec, SERVICEMONITOR_SPEC_FIELDS, "spec")
    problems += _check_selector(spec.get("selector"), "spec.selector")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        problems.append("spec.endpoints: required, at least one")
    else:
        for i, ep in enumerate(endpoints):
            problems += _check_endpoint(ep, f"spec.endpoints[{i}]")
    if "jobLabel" in spec and not isinstance(spec["jobLabel"], str):
        problems.append("spec.jobLabel: must be a string (a Service label name)")
    ns = spec.get("namespaceSelector")
    if ns is not None:
        problems += _unknown(ns, NAMESPACE_SELECTOR_FIELDS, "spec.namespaceSelector")
    return problems


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _check_rule(rule: Any, where: str) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{where}: not an object"]
    problems = _unknown(rule, RULE_FIELDS, where)
    kinds = [k for k in ("alert", "record") if k in rule]
    if len(kinds) != 1:
        problems.append(f"{where}: needs exactly one of alert or record, has {kinds or 'none'}")
    elif not isinstance(rule[kinds[0]], str) or not rule[kinds[0]]:
        problems.append(f"{where}.{kinds[0]}: must be a non-empty name")
    expr = rule.get("expr")
    if not (isinstance(expr, int) or (isinstance(expr, str) and expr.strip())):
        problems.append(f"{where}.expr: required")
    if "record" in rule and {"for", "keep_firing_for", "annotations"} & rule.keys():
        problems.append(f"{where}: a recording rule takes no for/keep_firing_for/annotations")
    for key in ("for", "keep_firing_for"):
        problems += _check_duration(rule, key, where)
    for key in ("labels", "annotations"):
        if key in rule and not _string_map(rule[key]):
            problems.append(f"{where}.{key}: must map strings to strings")
    return problems


def _check_prometheusrule(doc: dict[str, Any]) -> list[str]:
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return ["spec: required"]
    problems = _unknown(spec, frozenset({"groups"}), "spec")
    groups = spec.get("groups")
    if not isinstance(groups, list) or not groups:
        return [*problems, "spec.groups: required, at least one"]
    names = [g.get("name") for g in groups if isinstance(g, dict)]
    problems += [f"spec.groups: duplicate name {n!r}" for n in sorted(
        {n for n in names if isinstance(n, str) and names.count(n) > 1})]
    for i, group in enumerate(groups):
        where = f"spec.groups[{i}]"
        if not isinstance(group, dict):
            problems.append(f"{where}: not an object")
            continue
        problems += _unknown(group, RULE_GROUP_FIELDS, where)
        if not isinstance(group.get("name"), str) or not group["name"]:
            problems.append(f"{where}.name: required")
        problems += _check_duration(group, "interval", where)
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            problems.append(f"{where}.rules: required, at least one")
            continue
        for j, rule in enumerate(rules):
            problems += _check_rule(rule, f"{where}.rules[{j}]")
    return problems


CRD_CHECKS: dict[tuple[str, str], Callable[[dict[str, Any]], list[str]]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _check_servicemonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): _check_prometheusrule,
}


def _custom_problems(doc: dict[str, Any]) -> list[str]:
    check = CRD_CHECKS.get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if check is None:
        return [f"no schema and no structural check for {doc.get('kind')} "
                f"({doc.get('apiVersion')}): add one to CRD_CHECKS"]
    return _check_metadata(doc) + check(doc)


def _assert_custom_valid(doc: dict[str, Any]) -> None:
    problems = _custom_problems(doc)
    if problems:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        pytest.fail(f"{name}: " + "; ".join(problems), pytrace=False)


def _assert_object_valid(doc: dict[str, Any]) -> None:
    """A built-in kind against its strict schema, a CRD kind by its structural check."""
    if _is_custom(doc["apiVersion"]):
        _assert_custom_valid(doc)
    else:
        _assert_valid(doc)


def test_a_recent_kubernetes_version_is_bundled() -> None:
    assert BUNDLED_API_STEMS, f"kubernetes-validate bundles no strict schemas for {K8S_VERSION}"
    assert {"v1", "apps-v1", "rbac-v1", "policy-v1"} <= BUNDLED_API_STEMS


def test_there_are_objects_to_validate() -> None:
    kinds = {d["kind"] for _, _, d in OBJECTS}
    assert {"Deployment", "ClusterRole", "ConfigMap", "Secret", "Service"} <= kinds


@pytest.mark.parametrize("obj", OBJECTS, ids=_object_id)
def test_object_validates_strictly(obj: tuple[Path, int, dict[str, Any]]) -> None:
    _, _, doc = obj
    assert {"apiVersion", "kind", "metadata"} <= doc.keys()
    _assert_object_valid(doc)  # CRD kinds: structurally (promtool checks the rule exprs)


def _deployment() -> dict[str, Any]:
    return copy.deepcopy(_find("Deployment", BOT))


def _inject_container_field(doc: dict[str, Any]) -> None:
    doc["spec"]["template"]["spec"]["containers"][0]["bogus"] = True


def _inject_pod_security_field(doc: dict[str, Any]) -> None:
    doc["spec"]["template"]["spec"]["securityContext"]["runAsRoot"] = False


def _inject_metadata_field(doc: dict[str, Any]) -> None:
    doc["metadata"]["label"] = {"typo": "for labels"}


@pytest.mark.parametrize(
    ("inject", "unexpected"),
    [
        (_inject_container_field, "bogus"),
        (_inject_pod_security_field, "runAsRoot"),
        (_inject_metadata_field, "label"),
    ],
    ids=["container.bogus", "securityContext.runAsRoot", "metadata.label"],
)
def test_strict_validation_rejects_unknown_fields(inject: Any, unexpected: str) -> None:
    doc = _deployment()
    _assert_valid(doc)  # the untouched object passes ...
    inject(doc)
    with pytest.raises(kubernetes_validate.ValidationError) as exc:  # ... the edited one fails
        _validate(doc)
    assert f"'{unexpected}' was unexpected" in exc.value.message


def test_validation_rejects_unquoted_configmap_numbers() -> None:
    # YAML reads `GENAI_HTTP__PORT: 3000` as an int; a ConfigMap holds strings only.
    doc = copy.deepcopy(_find("ConfigMap", CONFIGMAP, under=MANIFESTS / "configmap.yaml"))
    doc["data"]["GENAI_HTTP__PORT"] = 3000
    with pytest.raises(kubernetes_validate.ValidationError, match="not of type 'string'"):
        _validate(doc)


def test_removed_core_version_is_not_mistaken_for_a_crd() -> None:
    # A wrong or removed built-in apiVersion must fail, not be skipped as a custom kind.
    doc = _deployment()
    doc["apiVersion"] = "apps/v1beta2"
    assert not _is_custom(doc["apiVersion"])
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        _validate(doc)
    for crd in ("karpenter.sh/v1", "monitoring.coreos.com/v1", "gateway.networking.k8s.io/v1"):
        assert _is_custom(crd), crd
    for core in ("v1", "apps/v1", "rbac.authorization.k8s.io/v1", "policy/v1"):
        assert not _is_custom(core), core


def _servicemonitor() -> dict[str, Any]:
    return copy.deepcopy(_find("ServiceMonitor", BOT, under=SERVICEMONITOR))


def _prometheusrule() -> dict[str, Any]:
    (doc,) = [d for p, _, d in OBJECTS if p == PROMETHEUS_RULES]
    return copy.deepcopy(doc)


def _edit(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set (or, with value None, delete) the field at a dotted path (numbers index lists)."""
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: int | str = int(last) if last.isdigit() else last
    if value is None:
        del node[key]
    else:
        node[key] = value


CRD_BREAKS = [  # (object, dotted path, new value or None to delete, expected problem)
    ("ServiceMonitor", "metadata.name", None, "metadata.name: required"),
    ("ServiceMonitor", "metadata.label", {"a": "b"}, "'label' was unexpected"),
    ("ServiceMonitor", "spec.selector", None, "spec.selector: required"),
    ("ServiceMonitor", "spec.selector.matchLabel", {"a": "b"},
     "spec.selector: Additional properties are not allowed ('matchLabel'"),
    ("ServiceMonitor", "spec.endpoints", [], "spec.endpoints: required"),
    ("ServiceMonitor", "spec.endpoints.0.port", None, "needs port"),
    ("ServiceMonitor", "spec.endpoints.0.path", None, "path: required"),
    ("ServiceMonitor", "spec.endpoints.0.interval", "30 s", "not a duration"),
    ("ServiceMonitor", "spec.endpoints.0.metricsPath", "/metrics",
     "spec.endpoints[0].metricsPath: unknown field"),
    ("ServiceMonitor", "spec.jobLable", "x", "spec.jobLable: unknown field"),
    ("PrometheusRule", "spec.groups", [], "spec.groups: required"),
    ("PrometheusRule", "spec.groups.0.name", None, "spec.groups[0].name: required"),
    ("PrometheusRule", "spec.groups.0.rules.0.expr", None, "expr: required"),
    ("PrometheusRule", "spec.groups.0.rules.0.alert", None, "exactly one of alert"),
    ("PrometheusRule", "spec.groups.0.rules.0.record", "a:b", "exactly one of alert"),
    ("PrometheusRule", "spec.groups.0.rules.0.for", "5 minutes", "not a duration"),
    ("PrometheusRule", "spec.groups.0.rules.0.severity", "x", "severity: unknown field"),
]


@pytest.mark.parametrize(
    ("kind", "path", "value", "problem"),
    CRD_BREAKS,
    ids=[f"{k}:{p}={'<deleted>' if v is None else v}" for k, p, v, _ in CRD_BREAKS],
)
def test_crd_structural_check_rejects(kind: str, path: str, value: Any, problem: str) -> None:
    doc = _servicemonitor() if kind == "ServiceMonitor" else _prometheusrule()
    assert _custom_problems(doc) == []  # the untouched object passes ...
    _edit(doc, path, value)
    problems = _custom_problems(doc)  # ... the edited one does not
    assert any(problem in p for p in problems), problems


def test_unknown_crd_kind_is_not_waved_through() -> None:
    doc = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "x"}}
    assert "add one to CRD_CHECKS" in _custom_problems(doc)[0]


# --------------------------------------------------------------------------- kustomize


@pytest.mark.parametrize("kustomization", _kustomizations(), ids=_rel)
def test_kustomization_entries_exist(kustomization: Path) -> None:
    data = yaml.safe_load(kustomization.read_text())
    assert data["apiVersion"].startswith("kustomize.config.k8s.io/")
    assert data["kind"] in {"Kustomization", "Component"}
    entries = list(_kustomize_entries(data))
    assert entries, f"{_rel(kustomization)} lists nothing"
    for field, entry in entries:
        target = kustomization.parent / entry
        assert target.exists(), f"{_rel(kustomization)} {field}: {entry} does not exist"
        if target.is_dir():
            assert any((target / n).is_file() for n in KUSTOMIZATION_NAMES), (
                f"{_rel(kustomization)} {field}: {entry} is a directory without a kustomization"
            )


def test_base_kustomization_lists_every_object_file() -> None:
    listed = _listed_files(MANIFESTS / "kustomization.yaml")
    expected = {
        p.resolve()
        for p in _object_files()
        if p != EXAMPLE_SECRET and p not in MONITORING and not _in_component(p)
    }
    missing = sorted(_rel(p) for p in expected - listed)
    assert not missing, f"not listed in manifests/kustomization.yaml: {missing}"


def test_example_secret_is_not_deployed_by_kustomize() -> None:
    for kustomization in _kustomizations():
        assert EXAMPLE_SECRET.resolve() not in _listed_files(kustomization), kustomization


def test_components_are_found() -> None:
    assert set(COMPONENT_DIRS) == {EXEC_OVERLAY, SERVICEMONITOR}


@pytest.mark.parametrize("component", COMPONENT_DIRS, ids=_rel)
def test_component_files_are_all_used(component: Path) -> None:
    listed = _listed_files(component / "kustomization.yaml")
    for path in _object_files():
        if path.is_relative_to(component):
            assert path.resolve() in listed, f"{_rel(path)} is not used by its kustomization"


def test_kustomization_pins_the_deployment_image() -> None:
    # `kustomize edit set image IMAGE=...` rewrites this entry; kustomize matches it on the
    # image name as written in the Deployment.
    data = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    (entry,) = [i for i in data.get("images") or [] if i["name"] == IMAGE]
    assert entry == {"name": IMAGE, "newTag": IMAGE_TAG}
    (container,) = _deployment()["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{IMAGE}:{IMAGE_TAG}"


def _kubectl() -> str:
    # Skipped without kubectl, failed under GENAI_REQUIRE_INTEGRATION=1 (CI).
    return require_binary("kubectl", "kubectl (with built-in kustomize) renders the manifests")


def _kustomize_build(kubectl: str, directory: Path, *flags: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl, "kustomize", *flags, str(directory)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _overlay(directory: Path, **fields: Any) -> Path:
    """An overlay outside manifests/ (as an operator keeps one) using the base: components
    inside their own base are a kustomize cycle when used as `resources: [../..]`."""
    directory.mkdir(parents=True, exist_ok=True)
    rel = Path(os.path.relpath(MANIFESTS, directory)).as_posix()
    components = [f"{rel}/{c}" for c in fields.pop("components", [])]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [rel],
        **({"components": components} if components else {}),
        **fields,
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return directory


def _exec_rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        rule
        for d in docs
        if d["kind"] in {"Role", "ClusterRole"}
        for rule in d.get("rules") or []
        if "pods/exec" in rule.get("resources", [])
    ]


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


COMPONENT_SETS = {
    "base": [],
    "exec": ["overlays/exec"],
    "servicemonitor": ["components/servicemonitor"],
    "exec+servicemonitor": ["overlays/exec", "components/servicemonitor"],
}


@pytest.mark.integration
@pytest.mark.parametrize("components", COMPONENT_SETS.values(), ids=COMPONENT_SETS.keys())
def test_kustomize_renders_valid_objects(tmp_path: Path, components: list[str]) -> None:
    kubectl = _kubectl()
    base = _kustomize_build(kubectl, MANIFESTS)
    docs = _kustomize_build(kubectl, _overlay(tmp_path, components=components))
    for doc in docs:  # built-in kinds strictly, CRD kinds structurally
        _assert_object_valid(doc)
    kinds = [d["kind"] for d in docs]
    assert set(kinds) >= {"Namespace", "Deployment", "ClusterRole", "ConfigMap", "Service"}
    assert "Secret" not in kinds
    added = {"overlays/exec": 2, "components/servicemonitor": 1}
    assert len(docs) == len(base) + sum(added[c] for c in components)

    assert bool(_exec_rules(docs)) is ("overlays/exec" in components)
    config = _one(docs, "ConfigMap")
    assert config["data"]["GENAI_SLACK__MODE"] == "socket"  # the exec patch merges
    if "overlays/exec" in components:
        assert config["data"]["GENAI_DIAG__EXEC_ENABLED"] == "true"
    else:
        assert "GENAI_DIAG__EXEC_ENABLED" not in config["data"]

    if "components/servicemonitor" in components:
        _assert_scrapes_the_bot(_one(docs, "ServiceMonitor"), docs)
    else:
        assert "ServiceMonitor" not in kinds
    # The image as pinned in the kustomization.
    (container,) = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{IMAGE}:{IMAGE_TAG}"


def _set_image(kustomization: dict[str, Any], name: str, new: str) -> None:
    """What `kustomize edit set image NAME=NEW` does to a kustomization's `images:`."""
    entry: dict[str, Any] = {"name": name}
    if "@" in new:
        entry["newName"], entry["digest"] = new.split("@", 1)
    else:
        registry, _, tag = new.rpartition(":")
        entry["newName"], entry["newTag"] = (registry, tag) if "/" not in tag else (new, None)
    entry = {k: v for k, v in entry.items() if v}
    images = [i for i in kustomization.get("images") or [] if i["name"] != name]
    kustomization["images"] = [*images, entry]


@pytest.mark.integration
@pytest.mark.parametrize(
    "new",
    [
        "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/genai-ops-bot:1.4.2",
        "registry.example.com:5000/platform/genai-ops-bot:2026-11-29",
        "registry.example.com/genai-ops-bot@sha256:" + "0123456789abcdef" * 4,
    ],
    ids=["ecr-tag", "registry-port", "digest"],
)
def test_set_image_points_the_deployment_at_a_registry(tmp_path: Path, new: str) -> None:
    kubectl = _kubectl()
    copied = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, copied)
    path = copied / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    _set_image(kustomization, IMAGE, new)
    assert len(kustomization["images"]) == 1  # replaced, not added
    path.write_text(yaml.safe_dump(kustomization))

    docs = _kustomize_build(kubectl, copied)
    images = [
        c["image"]
        for d in docs if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert images == [new]
    assert IMAGE not in yaml.safe_dump_all(docs)  # no other reference to the old image


# --------------------------------------------------------------------------- monitoring


def _job_of(monitor: dict[str, Any], service: dict[str, Any]) -> str:
    """The `job` label the Prometheus Operator gives the scrape: the value of the Service
    label named by spec.jobLabel, else the Service's name."""
    label = monitor["spec"].get("jobLabel")
    value = service["metadata"].get("labels", {}).get(label) if label else None
    return str(value or service["metadata"]["name"])


def _assert_scrapes_the_bot(monitor: dict[str, Any], docs: list[dict[str, Any]]) -> None:
    """The ServiceMonitor selects the bot's Service, scrapes the container port that serves
    /metrics, and yields job="genai-ops-bot"."""
    assert monitor["metadata"]["labels"]["release"] == RELEASE
    namespace = monitor["metadata"]["namespace"]
    selector = monitor["spec"]["selector"]
    assert set(selector) == {"matchLabels"}
    services = [
        d for d in docs
        if d["kind"] == "Service" and d["metadata"].get("namespace") == namespace
        and selector["matchLabels"].items() <= d["metadata"].get("labels", {}).items()
    ]
    assert len(services) == 1, f"the ServiceMonitor selects {len(services)} Services"
    (service,) = services
    assert _job_of(monitor, service) == BOT_JOB

    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert service["spec"]["selector"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    config = next(d for d in docs
                  if d["kind"] == "ConfigMap" and d["metadata"]["name"] == CONFIGMAP)
    metrics_port = int(config["data"]["GENAI_HTTP__PORT"])  # /metrics is served there
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports, f"no Service port {endpoint['port']}"
        target = service_ports[endpoint["port"]]["targetPort"]
        assert container_ports.get(target, target) == metrics_port
        assert endpoint["path"] == "/metrics"
        assert endpoint.get("scheme", "http") == "http"


def test_servicemonitor_scrapes_the_bot() -> None:
    docs = [d for p, _, d in OBJECTS
            if p.resolve() in _listed_files(MANIFESTS / "kustomization.yaml")]
    _assert_scrapes_the_bot(_servicemonitor(), [*docs, _servicemonitor()])


def test_job_label_survives_a_renamed_service() -> None:
    # An overlay's namePrefix renames the Service; the job comes from its label instead.
    service = copy.deepcopy(_find("Service", BOT))
    service["metadata"]["name"] = f"prod-{BOT}"
    assert _job_of(_servicemonitor(), service) == BOT_JOB


@pytest.mark.parametrize(("kind", "make"), [("ServiceMonitor", _servicemonitor),
                                            ("PrometheusRule", _prometheusrule)])
def test_kube_prometheus_stack_selects_by_release_label(
    kind: str, make: Callable[[], dict[str, Any]]
) -> None:
    doc = make()
    assert doc["kind"] == kind
    assert doc["metadata"]["labels"]["release"] == RELEASE


def test_rules_match_the_bots_job() -> None:
    """Rules that name the bot's job (up{job="genai-ops-bot"}) name the job it is given."""
    exprs = [
        str(rule["expr"])
        for group in _prometheusrule()["spec"]["groups"]
        for rule in group["rules"]
    ]
    jobs = {m for e in exprs for m in re.findall(r'\bjob\s*=~?\s*"([^"]*)"', e)}
    assert not {j for j in jobs if "genai-ops" in j and j != BOT_JOB}, jobs


@pytest.mark.integration
def test_release_label_patches_as_documented(tmp_path: Path) -> None:
    """The kustomize patches the docs give for another Helm release name."""
    kubectl = _kubectl()
    patch = [{"op": "replace", "path": "/metadata/labels/release", "value": "monitoring"}]
    overlay = _overlay(
        tmp_path / "bot",
        components=["components/servicemonitor"],
        namePrefix="prod-",
        patches=[{"target": {"group": "monitoring.coreos.com", "kind": "ServiceMonitor",
                             "name": BOT}, "patch": yaml.safe_dump(patch)}],
    )
    docs = _kustomize_build(kubectl, overlay)
    monitor = _one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "monitoring"
    assert _one(docs, "Service")["metadata"]["name"] == f"prod-{BOT}"
    assert _job_of(monitor, _one(docs, "Service")) == BOT_JOB  # namePrefix keeps the job

    # The PrometheusRule file lives beside the base, outside any kustomization root: an
    # overlay takes it with --load-restrictor LoadRestrictionsNone.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [Path(os.path.relpath(PROMETHEUS_RULES, rules)).as_posix()],
        "patches": [{"target": {"kind": "PrometheusRule"}, "patch": yaml.safe_dump(patch)}],
    }))
    (rule,) = _kustomize_build(kubectl, rules, "--load-restrictor", "LoadRestrictionsNone")
    assert rule["metadata"]["labels"]["release"] == "monitoring"
    _assert_custom_valid(rule)


# --------------------------------------------------------------------------- Slack app


def test_slack_app_manifest() -> None:
    app = yaml.safe_load(SLACK_APP.read_text())
    assert set(app) <= {"_metadata", "display_information", "features", "oauth_config", "settings"}
    assert app["_metadata"] == {"major_version": 1, "minor_version": 1}
    assert app["display_information"]["name"] == "GenAI Ops Bot"
    assert len(app["display_information"]["description"]) <= 140  # Slack's limit

    commands = {c["command"]: c for c in app["features"]["slash_commands"]}
    assert "/genai" in commands
    genai = commands["/genai"]
    assert genai["should_escape"] is False
    for sub in ("status", "gpu", "cost", "weekly", "diag", "logs", "alerts", "report", "help"):
        assert sub in genai["usage_hint"]
    assert app["features"]["bot_user"]["display_name"] == BOT

    settings = app["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    # Socket Mode: no request URLs anywhere.
    assert "request_url" not in settings["interactivity"]
    assert "request_url" not in settings["event_subscriptions"]
    assert "url" not in genai

    scopes = set(app["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write"} <= scopes
    events = set(settings["event_subscriptions"]["bot_events"])
    assert "message.channels" in events
    needs = {"message.channels": "channels:history", "message.groups": "groups:history"}
    for event in events:
        assert needs.get(event, "commands") in scopes, f"{event} needs {needs.get(event)}"


# --------------------------------------------------------------------------- RBAC


def _rules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc.get("rules") or [])


def test_base_clusterrole_is_read_only() -> None:
    role = _find("ClusterRole", "genai-ops-bot-readonly")
    assert "aggregationRule" not in role
    resources: set[tuple[str, str]] = set()
    for rule in _rules(role):
        verbs = set(rule["verbs"])
        assert not verbs & WRITE_VERBS, f"write verbs in {rule}"
        assert verbs <= READ_VERBS, f"non-read verbs in {rule}"
        assert "*" not in rule.get("resources", []) and "*" not in rule.get("apiGroups", [])
        assert "nonResourceURLs" not in rule
        resources |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    names = {r for _, r in resources}
    assert "secrets" not in names
    assert "pods/exec" not in names
    assert not {"pods/attach", "pods/portforward", "nodes/proxy", "serviceaccounts/token"} & names
    for needed in ("nodes", "pods", "pods/log", "events", "persistentvolumeclaims", "endpoints"):
        assert ("", needed) in resources
    assert {("karpenter.sh", "nodeclaims"), ("karpenter.sh", "nodepools")} <= resources


def test_pod_exec_only_in_the_exec_overlay() -> None:
    for path, _, doc in OBJECTS:
        if doc["kind"] not in {"Role", "ClusterRole"}:
            continue
        has_exec = any("pods/exec" in r.get("resources", []) for r in _rules(doc))
        if not path.is_relative_to(EXEC_OVERLAY):
            assert not has_exec, f"{_rel(path)} grants pods/exec"

    role = _find("Role", "genai-ops-bot-exec", under=EXEC_OVERLAY)
    assert role["metadata"]["namespace"] == "inference"
    (rule,) = _rules(role)
    assert rule["resources"] == ["pods/exec"]
    assert "create" in rule["verbs"]
    assert set(rule["verbs"]) <= {"create", "get"}


def _assert_binds_bot(binding: dict[str, Any], role_kind: str, role_name: str) -> None:
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role_kind,
        "name": role_name,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": BOT, "namespace": NAMESPACE}]


def test_bindings_grant_roles_to_the_bot_service_account() -> None:
    _find("ServiceAccount", BOT)
    _find("Namespace", NAMESPACE)
    crb = _find("ClusterRoleBinding", "genai-ops-bot-readonly")
    _assert_binds_bot(crb, "ClusterRole", "genai-ops-bot-readonly")
    rb = _find("RoleBinding", "genai-ops-bot-exec", under=EXEC_OVERLAY)
    assert rb["metadata"]["namespace"] == "inference"
    _assert_binds_bot(rb, "Role", "genai-ops-bot-exec")


# --------------------------------------------------------------------------- Deployment


def test_deployment_probes_and_ports() -> None:
    dep = _deployment()
    assert dep["spec"]["replicas"] == 2
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/genai-ops/genai-ops-bot:0.1.0"
    assert container["command"] == ["genai-bot", "run"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 3000}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert get["port"] in ports or get["port"] in ports.values(), f"{probe} port"

    config = _find("ConfigMap", CONFIGMAP, under=MANIFESTS / "configmap.yaml")
    assert int(config["data"]["GENAI_HTTP__PORT"]) == ports["http"]
    annotations = dep["spec"]["template"]["metadata"].get("annotations", {})
    if "prometheus.io/port" in annotations:
        assert int(annotations["prometheus.io/port"]) == ports["http"]


def test_deployment_runs_locked_down() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pod_sc, sc = pod["securityContext"], container["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == 10001
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    assert not sc.get("privileged", False)
    assert sc.get("runAsUser", pod_sc["runAsUser"]) != 0
    assert not pod.get("hostNetwork") and not pod.get("hostPID")

    # A read-only root needs a writable /tmp.
    volumes = {v["name"]: v for v in pod["volumes"]}
    tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]]

    resources = container["resources"]
    assert resources["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert resources["limits"] == {"memory": "512Mi"}  # no CPU limit: no throttled acks


def test_deployment_references_exist() -> None:
    dep = _deployment()
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == BOT
    assert pod["automountServiceAccountToken"] is True
    _find("ServiceAccount", pod["serviceAccountName"])

    (container,) = pod["containers"]
    config_refs = [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
    secret_refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
    assert config_refs == [CONFIGMAP]
    assert secret_refs == [SECRET]
    _find("ConfigMap", CONFIGMAP, under=MANIFESTS / "configmap.yaml")
    secret = _find("Secret", SECRET)
    assert secret["metadata"]["namespace"] == dep["metadata"]["namespace"] == NAMESPACE


def test_service_pdb_and_spread_select_the_pods() -> None:
    dep = _deployment()
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()

    service = _find("Service", BOT)
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80 and port["targetPort"] == "http"

    pdb = _find("PodDisruptionBudget", BOT)
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()

    spread = dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
    zone = [c for c in spread if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert zone and zone[0]["labelSelector"]["matchLabels"].items() <= labels.items()


# --------------------------------------------------------------------------- Settings
#
# pydantic-settings only reads environment variables that match a field: an unknown
# GENAI_* variable is silently ignored even with extra="forbid" (that rejects unknown
# *init* and dotenv keys, not stray environment variables), and nested models drop unknown
# keys too. So each key is first resolved against the Settings model, then loaded.


def _env_configs() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p, _, d in OBJECTS if d["kind"] == "ConfigMap"]


def _env_pairs() -> list[tuple[str, str, str]]:
    """(file, key, value) for every GENAI_ key in the ConfigMaps and the example Secret."""
    pairs = [
        (_rel(p), k, v)
        for p, d in _env_configs()
        for k, v in (d.get("data") or {}).items()
        if k.startswith("GENAI_")
    ]
    secret = _find("Secret", SECRET)
    pairs += [
        (_rel(EXAMPLE_SECRET), k, v)
        for k, v in secret["stringData"].items()
        if k.startswith("GENAI_")
    ]
    return pairs


ENV_PAIRS = _env_pairs()
ENV_IDS = [f"{source}:{key}" for source, key, _ in ENV_PAIRS]  # no values in test ids

_FAKE = {
    "xoxb-": "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xapp-": "xapp-1-A0123456789-1234567890123-" + "0a1b2c3d" * 8,
}


def _realistic(value: str) -> str:
    """A syntactically valid stand-in for a REPLACE-ME placeholder."""
    if "REPLACE-ME" not in value:
        return value
    for prefix, fake in _FAKE.items():
        if value.startswith(prefix):
            return fake
    return value.replace("REPLACE-ME", "0123456789abcdef0123456789abcdef")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _settings_path(key: str) -> list[str] | None:
    """Field path of a GENAI_ env key in Settings, or None if Settings does not know it."""
    parts = key.removeprefix("GENAI_").lower().split("__")
    model: type[BaseModel] | None = Settings
    for part in parts:
        if model is None or part not in model.model_fields:
            return None
        model = _model_of(model.model_fields[part].annotation)
    return parts


def _loaded_as(value: Any, text: str) -> bool:
    if isinstance(value, SecretStr):
        return value.get_secret_value() == text
    if isinstance(value, bool):
        return value is (text.lower() in {"1", "true", "yes", "on"})
    if isinstance(value, list | dict):
        return bool(value == json.loads(text))
    return str(value) == text


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith("GENAI_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_manifests_carry_settings() -> None:
    keys = {k for _, k, _ in ENV_PAIRS}
    assert "GENAI_SLACK__BOT_TOKEN" in keys and "GENAI_SLACK__MODE" in keys
    assert "GENAI_WEBHOOK_TOKEN" in keys


@pytest.mark.parametrize(("source", "key", "value"), ENV_PAIRS, ids=ENV_IDS)
def test_env_key_is_a_known_setting(
    clean_env: pytest.MonkeyPatch, source: str, key: str, value: str
) -> None:
    path = _settings_path(key)
    if path is None:
        pytest.fail(f"{source}: {key} is not a setting of bot.config.Settings")
    assert isinstance(value, str), f"{key}: env values must be strings"
    text = _realistic(value)
    clean_env.setenv(key, text)
    loaded: Any = Settings()
    for part in path:
        loaded = getattr(loaded, part)
    assert _loaded_as(loaded, text), f"{key}={text!r} loaded as {loaded!r}"


def test_all_settings_load_together(clean_env: pytest.MonkeyPatch) -> None:
    for _, key, value in ENV_PAIRS:
        clean_env.setenv(key, _realistic(value))
    settings = Settings()
    assert settings.slack.mode == "socket"
    assert settings.kubernetes.mode == "incluster"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.roles.responders == ["S0ONCALL"]
    assert settings.http.port == 3000


def test_example_secret_holds_only_placeholders() -> None:
    secret = _find("Secret", SECRET)
    assert "data" not in secret
    for key, value in secret["stringData"].items():
        assert "REPLACE-ME" in value, f"{key} looks like a real value"
