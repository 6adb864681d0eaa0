"""`pods/{name}/log` with its query flags and the API server's 400 answers."""

from __future__ import annotations

from datetime import datetime, timedelta

from .recording import KubeRequest
from .resources import JSON, ResourceType
from .state import KubeState
from .status import _bad_request
from .util import _now, _parse_bool


class PodLogs(KubeState):
    """Container logs as kubelet serves them through the API server."""

    def _pod_log(self, rtype: ResourceType, req: KubeRequest) -> str:
        pod = self._get_one(rtype, req)
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        init_names = [c["name"] for c in spec.get("initContainers") or []]
        container = req.query.get("container") or ""
        if not container:
            if len(names) == 1:
                container = names[0]
            else:
                msg = f"a container name must be specified for pod {req.name}, choose one of: "
                msg += "[" + " ".join(names) + "]"
                if init_names:
                    msg += " or one of the init containers: [" + " ".join(init_names) + "]"
                raise _bad_request(msg)
        if container not in names + init_names:
            raise _bad_request(f"container {container} is not valid for pod {req.name}")
        previous = _parse_bool(req.query.get("previous"))
        with self._lock:
            entries = self._logs.get((req.namespace, req.name, container, previous))
            if entries is None:
                entries = self._logs.get((req.namespace, req.name, None, previous))
            entries = list(entries) if entries is not None else None
        if entries is None:
            if previous:
                raise _bad_request(
                    f'previous terminated container "{container}" in pod "{req.name}" not found'
                )
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            status: JSON = next((s for s in statuses if s.get("name") == container), {})
            waiting = (status.get("state") or {}).get("waiting")
            if waiting and not status.get("restartCount"):
                raise _bad_request(
                    f'container "{container}" in pod "{req.name}" is waiting to start: '
                    f"{waiting.get('reason', 'ContainerCreating')}"
                )
            entries = []
        since: datetime | None = None
        if req.query.get("sinceSeconds"):
            since = _now() - timedelta(seconds=float(req.query["sinceSeconds"]))
        elif req.query.get("sinceTime"):
            since = datetime.fromisoformat(req.query["sinceTime"].replace("Z", "+00:00"))
        if since is not None:
            entries = [e for e in entries if e.at >= since]
        if req.query.get("tailLines"):
            tail = int(req.query["tailLines"])
            entries = entries[-tail:] if tail > 0 else []
        stamp = _parse_bool(req.query.get("timestamps"))
        text = "".join(
            (e.at.strftime("%Y-%m-%dT%H:%M:%S.%f000Z ") if stamp else "") + e.line + "\n"
            for e in entries
        )
        if req.query.get("limitBytes"):
            text = text.encode()[: int(req.query["limitBytes"])].decode(errors="ignore")
        return text
