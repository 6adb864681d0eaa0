"""Request handling: parse a URL like RequestInfoFactory, apply faults, dispatch, answer."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from ..loopback import LoopbackHandler
from .recording import KubeRequest, _Fault, _Route
from .resources import JSON
from .state import KubeState
from .status import _STATUS_DEFAULTS, ApiError, status_body


class Routes(KubeState):
    """The route hook (`on_request`) and the dispatch to reads, logs, exec, discovery."""

    def _route(self, method: str, path: str, query: dict[str, str]) -> _Route:
        segs = [unquote(s) for s in path.split("/") if s]
        verb_by_method = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        req = KubeRequest(method, path, query, method.lower(), "", "", "", "", "")
        if segs[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", segs[2:]
        elif len(segs) >= 3 and segs[0] == "apis":
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            return _Route(req, is_resource=False)
        if not rest:
            return _Route(req, is_resource=False)
        req.api_group = group
        api_version = f"{group}/{version}" if group else version
        known_gv = any(t.api_version == api_version for t in self._types.values())
        watch_prefix = rest[0] == "watch"
        if watch_prefix:
            rest = rest[1:]
        ns = name = sub = ""
        if rest and rest[0] == "namespaces" and len(rest) > 1:
            ns = rest[1]
            if len(rest) > 2 and rest[2] not in ("status", "finalize"):
                rest = rest[2:]
        resource = rest[0] if rest else ""
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if method == "GET":
            verb = "get" if name else "list"
            if watch_prefix or (
                verb == "list" and query.get("watch", "").lower() not in ("", "0", "false")
            ):
                verb = "watch"
        else:
            verb = verb_by_method.get(method, method.lower())
            if verb == "delete" and not name:
                verb = "deletecollection"
        req.verb, req.resource, req.subresource, req.namespace, req.name = (
            verb,
            resource,
            sub,
            ns,
            name,
        )
        rtype = self._types.get((api_version, resource))
        return _Route(req, rtype=rtype, known_group_version=known_gv)

    def on_request(self, handler: LoopbackHandler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        route = self._route(method, split.path, query)
        req = route.request
        with self._lock:
            self._requests.append(req)
            delays = [d.seconds for d in self._delays if d.pattern.search(split.path)]
            fault: _Fault | None = None
            for candidate in self._faults:
                if candidate.method and candidate.method.upper() != method:
                    continue
                if candidate.pattern.search(split.path):
                    fault = candidate
                    if candidate.remaining is not None:
                        candidate.remaining -= 1
                        if candidate.remaining <= 0:
                            self._faults.remove(candidate)
                    break
        for seconds in delays:
            if self._stopping.wait(seconds):
                break
        try:
            if self.token is not None:
                auth = handler.headers.get("Authorization", "")
                if auth != f"Bearer {self.token}":
                    raise ApiError(status_body(401, "Unauthorized", "Unauthorized"))
            if fault is not None:
                raise self._fault_error(fault, route)
            self._dispatch(handler, route)
        except ApiError as err:
            self._send_json(handler, req, err.code, err.body, err.headers)
        except (BrokenPipeError, ConnectionResetError):
            req.status = req.status or 499
        except Exception as exc:  # a bug in the stand-in must not look like a hang
            body = status_body(500, "InternalError", f"Internal error occurred: stand-in: {exc!r}")
            self._send_json(handler, req, 500, body)

    def _send(
        self,
        handler: LoopbackHandler,
        req: KubeRequest,
        code: int,
        payload: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        req.status = code
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            handler.send_header("Audit-Id", str(uuid.uuid4()))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): the real server does not care either

    def _send_json(
        self,
        handler: LoopbackHandler,
        req: KubeRequest,
        code: int,
        body: JSON,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._send(handler, req, code, json.dumps(body).encode(), "application/json", headers)

    def _dispatch(self, handler: LoopbackHandler, route: _Route) -> None:
        req = route.request
        if not route.is_resource:
            self._non_resource(handler, route)
            return
        rtype = route.rtype
        if rtype is None:
            raise ApiError(status_body(404, "NotFound", _STATUS_DEFAULTS[404][1], {}))
        if rtype.plural == "pods" and req.name and req.subresource == "exec":
            self._exec(handler, route, rtype)  # a connect verb: GET and POST both upgrade
            return
        if req.method != "GET":
            raise ApiError(status_body(405, "MethodNotAllowed", _STATUS_DEFAULTS[405][1], {}))
        if req.verb == "watch":
            self._watch(handler, route, rtype)
        elif req.name and req.subresource:
            if rtype.plural == "pods" and req.subresource == "log":
                text = self._pod_log(rtype, req)
                self._send(handler, req, 200, text.encode(), "text/plain")
            elif req.subresource == "status":
                self._send_json(handler, req, 200, self._get_one(rtype, req))
            else:
                raise ApiError(status_body(404, "NotFound", _STATUS_DEFAULTS[404][1], {}))
        elif req.name:
            self._send_json(handler, req, 200, self._get_one(rtype, req))
        else:
            self._send_json(handler, req, 200, self._list(rtype, req))

    def _non_resource(self, handler: LoopbackHandler, route: _Route) -> None:
        req = route.request
        if req.path == "/version":
            body = {
                "major": "1",
                "minor": "31",
                "gitVersion": "v1.31.2-eks-7f9249a",
                "gitCommit": "8b2b4d4d0c6f2a0e6f5b9b2d0e0f5d9a2e1b3c4d",
                "gitTreeState": "clean",
                "buildDate": "2024-10-22T21:56:52Z",
                "goVersion": "go1.22.8",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
            self._send_json(handler, req, 200, body)
        elif req.path in ("/healthz", "/livez", "/readyz"):
            self._send(handler, req, 200, b"ok", "text/plain; charset=utf-8")
        elif (discovery := self._discovery(req.path.rstrip("/"))) is not None:
            self._send_json(handler, req, 200, discovery)
        else:
            self._send(handler, req, 404, b"404 page not found\n", "text/plain; charset=utf-8")
