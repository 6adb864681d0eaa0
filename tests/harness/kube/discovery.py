"""Legacy discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/g/v`)."""

from __future__ import annotations

from .resources import JSON
from .state import KubeState


class Discovery(KubeState):
    """What the dynamic client and `kubectl`-style tooling read to find served kinds."""

    def _discovery(self, path: str) -> JSON | None:
        """Legacy discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/g/v`), or None.

        Enough for the dynamic client and `kubectl`-style tooling to find the served kinds.
        """
        with self._lock:
            types = list(self._types.values())
        groups: dict[str, list[str]] = {}
        for t in types:
            if t.group and t.version not in groups.setdefault(t.group, []):
                groups[t.group].append(t.version)

        def group_doc(name: str) -> JSON:
            versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in groups[name]]
            return {"name": name, "versions": versions, "preferredVersion": versions[0]}

        if path == "/api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                ],
            }
        if path == "/apis":
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [group_doc(g) for g in sorted(groups)],
            }
        segs = path.strip("/").split("/")
        if len(segs) == 2 and segs[0] == "apis" and segs[1] in groups:
            return {"kind": "APIGroup", "apiVersion": "v1", **group_doc(segs[1])}
        if segs == ["api", "v1"]:
            group_version = "v1"
        elif len(segs) == 3 and segs[0] == "apis" and segs[1] in groups:
            group_version = f"{segs[1]}/{segs[2]}"
        else:
            return None
        resources: list[JSON] = []
        for t in sorted(types, key=lambda t: t.plural):
            if t.api_version != group_version:
                continue
            resources.append(
                {
                    "name": t.plural,
                    "singularName": t.kind.lower(),
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": ["get", "list", "watch"],
                }
            )
            subresources = ["status"] + (["log"] if t.plural == "pods" else [])
            for sub in subresources:
                kind = t.kind if sub == "status" else "Pod"
                resources.append(
                    {
                        "name": f"{t.plural}/{sub}",
                        "singularName": "",
                        "namespaced": t.namespaced,
                        "kind": kind,
                        "verbs": ["get"],
                    }
                )
        if not resources:
            return None
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }
