"""Check recorded Kubernetes calls against the ClusterRole the bot ships in `manifests/`.

The Kubernetes stand-in records every request as RBAC sees it (verb, API group, resource and
subresource); a test replays them here, so a call the deployed bot would get a 403 for fails
in the suite instead of at 3 a.m.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.harness.kube import KubeRequest

ROOT = Path(__file__).resolve().parents[2]


def clusterrole_rules(path: Path = ROOT / "manifests" / "clusterrole.yaml") -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    assert doc["kind"] in ("ClusterRole", "Role")
    return list(doc["rules"])


def allowed(req: KubeRequest, rules: list[dict[str, Any]]) -> bool:
    """RBAC's rule match: group, resource (with subresource) and verb all listed."""
    return any(req.api_group in r.get("apiGroups", []) and req.rbac_resource in
               r.get("resources", []) and req.verb in r.get("verbs", []) for r in rules)


def assert_all_allowed(requests: list[KubeRequest]) -> None:
    rules = clusterrole_rules()
    denied = sorted({(r.verb, r.api_group, r.rbac_resource) for r in requests
                     if r.resource and not allowed(r, rules)})
    assert not denied, f"calls the ClusterRole does not allow: {denied}"
