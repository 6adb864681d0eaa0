"""get, list (with `limit`/`continue`) and watch (a stream of JSON lines)."""

from __future__ import annotations

import base64
import copy
import json
from datetime import timedelta

from ..loopback import LoopbackHandler
from .recording import KubeRequest, _Route
from .resources import _META_FIELDS, JSON, ResourceType
from .selectors import _selected, parse_field_selector, parse_label_selector
from .state import KubeState
from .status import ApiError, _bad_request, status_body
from .util import _now


class Reads(KubeState):
    """The read verbs on stored objects, with selectors, paging and watches."""

    def _not_found(self, rtype: ResourceType, name: str) -> ApiError:
        details: JSON = {"name": name, "kind": rtype.plural}
        if rtype.group:
            details["group"] = rtype.group
        return ApiError(
            status_body(404, "NotFound", f'{rtype.qualified} "{name}" not found', details)
        )

    def _get_one(self, rtype: ResourceType, req: KubeRequest) -> JSON:
        ns = req.namespace if rtype.namespaced else ""
        if rtype.plural == "namespaces":
            ns = ""
        with self._lock:
            obj = self._objects.get((rtype.api_version, rtype.kind, ns, req.name))
            if obj is None:
                raise self._not_found(rtype, req.name)
            out = copy.deepcopy(obj)
        out["apiVersion"], out["kind"] = rtype.api_version, rtype.kind
        return out

    def _matching(self, rtype: ResourceType, req: KubeRequest) -> list[JSON]:
        """Objects of `rtype` in `req.namespace` that pass the request's selectors."""
        labels = parse_label_selector(req.query.get("labelSelector", ""))
        fields = parse_field_selector(req.query.get("fieldSelector", ""))
        for term in fields:
            if term.field not in _META_FIELDS | rtype.field_labels:
                raise _bad_request(f"field label not supported: {term.field}")
        with self._lock:
            items = [
                obj
                for (api_version, kind, ns, _), obj in sorted(self._objects.items())
                if api_version == rtype.api_version
                and kind == rtype.kind
                and (not req.namespace or not rtype.namespaced or ns == req.namespace)
            ]
            return [copy.deepcopy(o) for o in items if _selected(o, labels, fields)]

    def _list(self, rtype: ResourceType, req: KubeRequest) -> JSON:
        items = self._matching(rtype, req)
        offset = 0
        token = req.query.get("continue")
        if token:
            try:
                offset = int(json.loads(base64.urlsafe_b64decode(token))["start"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(
                    status_body(410, "Expired", "The provided continue parameter is too old")
                ) from None
        meta: JSON = {"resourceVersion": str(self._rv)}
        limit = int(req.query.get("limit") or 0)
        if limit > 0 and offset + limit < len(items):
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"start": offset + limit}).encode()
            ).decode()
            meta["remainingItemCount"] = len(items) - offset - limit
            items = items[offset : offset + limit]
        else:
            items = items[offset:]
        if not rtype.group:
            # Built-in lists carry no per-item kind/apiVersion on the wire; CRD lists do.
            for item in items:
                item.pop("kind", None)
                item.pop("apiVersion", None)
        else:
            for item in items:
                item["apiVersion"], item["kind"] = rtype.api_version, rtype.kind
        return {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version,
            "metadata": meta,
            "items": items,
        }

    def _watch(self, handler: LoopbackHandler, route: _Route, rtype: ResourceType) -> None:
        """Stream `{"type", "object"}` lines until timeoutSeconds, `watch_max_seconds` or stop.

        Without `resourceVersion` (or with "0") current objects come first as ADDED, as the
        API server does; then changes made through `add`/`remove` follow.
        """
        req = route.request
        labels = parse_label_selector(req.query.get("labelSelector", ""))
        fields = parse_field_selector(req.query.get("fieldSelector", ""))
        timeout = min(float(req.query.get("timeoutSeconds") or 1e9), self.watch_max_seconds)
        start_rv = req.query.get("resourceVersion", "")
        with self._lock:
            if start_rv in ("", "0"):
                initial = [("ADDED", o) for o in self._matching(rtype, req)]
                cursor = self._rv
            else:
                initial = []
                cursor = int(start_rv)
        req.status = 200
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def send(kind: str, obj: JSON) -> None:
            out = copy.deepcopy(obj)
            out["apiVersion"], out["kind"] = rtype.api_version, rtype.kind
            data = (json.dumps({"type": kind, "object": out}) + "\n").encode()
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()

        deadline = _now() + timedelta(seconds=timeout)
        try:
            for kind, obj in initial:
                send(kind, obj)
            while not self._stopping.is_set():
                with self._changed:
                    pending = [e for e in self._journal if e[0] > cursor]
                    if not pending:
                        left = (deadline - _now()).total_seconds()
                        if left <= 0:
                            break
                        self._changed.wait(timeout=min(left, 0.5))
                        continue
                for rv, kind, obj in pending:
                    cursor = rv
                    meta = obj.get("metadata", {})
                    if (obj.get("apiVersion"), obj.get("kind")) != (rtype.api_version, rtype.kind):
                        continue
                    if (
                        rtype.namespaced
                        and req.namespace
                        and meta.get("namespace") != (req.namespace)
                    ):
                        continue
                    if _selected(obj, labels, fields):
                        send(kind, obj)
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        handler.close_connection = True
