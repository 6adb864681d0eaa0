"""`pods/{name}/exec` upgraded to WebSocket (RFC 6455, subprotocol `v4.channel.k8s.io`)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..loopback import LoopbackHandler
from .recording import KubeRequest, _Route
from .resources import JSON, ResourceType
from .state import KubeState
from .status import _STATUS_DEFAULTS, ApiError, _bad_request, status_body
from .util import _parse_bool

ExecHandler = Callable[[str, list[str]], tuple[str, str, int]]
"""`handler(container, command) -> (stdout, stderr, exit_code)`, registered with `set_exec`."""

EXEC_PROTOCOLS: tuple[str, ...] = ("v4.channel.k8s.io",)
"""Subprotocols the exec endpoint accepts, first match in the client's order wins (as in
wsstream). The Python client offers `v5.channel.k8s.io,v4.channel.k8s.io`; v5 adds only a
client-to-server stdin-close message, unused without stdin, so v4 is what is spoken here."""

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_WS_BINARY = 0x2
_WS_CLOSE = 0x8
_EXEC_CHUNK = 4096  # output in several messages, as a running process writes it


def ws_accept(key: str) -> str:
    """`Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest()).decode()


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame: a server never masks (RFC 6455 section 5.1)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def _ws_read_frame(rfile: Any) -> tuple[int, bytes]:
    """One client frame as (opcode, payload). Clients must mask; unmasked is a protocol error."""
    head = rfile.read(2)
    if len(head) < 2:
        raise ConnectionResetError("client closed the connection")
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(rfile.read(2), "big")
    elif n == 127:
        n = int.from_bytes(rfile.read(8), "big")
    if not head[1] & 0x80:
        raise ValueError("unmasked client frame")
    key = rfile.read(4)
    data = rfile.read(n)
    return head[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(data))


def exec_status(exit_code: int, command: Sequence[str]) -> JSON:
    """The `Status` kubelet writes on the v4 error channel after the command ends.

    Success, or `NonZeroExitCode` with the code as the `ExitCode` cause (Go's StatusCause
    `Type` is `reason` on the wire), in the field order Go marshals `metav1.Status`.
    """
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command "
        f"[{' '.join(command)}], exit code {exit_code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def exec_internal_error(message: str) -> JSON:
    """`apierrors.NewInternalError` on the error channel: the command could not run at all."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }



class Exec(KubeState):
    """The exec subresource: checks, the handshake, output frames, Status, close."""

    def _exec(self, handler: LoopbackHandler, route: _Route, rtype: ResourceType) -> None:
        """`pods/{name}/exec`, a connect subresource (GET or POST), upgraded to WebSocket.

        RBAC: a POST (kubectl's SPDY) is `create` on `pods/exec`. A WebSocket upgrade is a
        GET, which request info maps to `get`; since Kubernetes 1.35 the API server also
        checks `create` for it (feature gate AuthorizePodWebsocketUpgradeCreatePermission,
        beta, on by default; kubernetes/kubernetes#134577). A GET is therefore recorded twice,
        `get` then `create`, so a least-privilege test sees that a Role needs both: `get`
        before 1.35, `create` from 1.35 on. An injected 403 answers the first check.
        """
        req = route.request
        synthetic: KubeRequest | None = None
        if req.method == "GET":
            synthetic = dataclasses.replace(req, verb="create", query=dict(req.query))
            with self._lock:
                self._requests.append(synthetic)
        try:
            self._exec_session(handler, req, rtype, synthetic)
        except ApiError as err:
            if synthetic is not None:  # before answering: the client may look at once
                synthetic.status = err.code
            self._send_json(handler, req, err.code, err.body, err.headers)

    def _exec_session(
        self,
        handler: LoopbackHandler,
        req: KubeRequest,
        rtype: ResourceType,
        synthetic: KubeRequest | None,
    ) -> None:
        """Checks in the API server's order (pod, container, node, upgrade; then kubelet's
        streams and command), the handshake, the command's output, its Status, a close."""
        if req.method not in ("GET", "POST"):
            raise ApiError(status_body(405, "MethodNotAllowed", _STATUS_DEFAULTS[405][1], {}))
        # `command` repeats in the query; `req.query` keeps only the last value.
        pairs = parse_qsl(urlsplit(handler.path).query, keep_blank_values=True)
        command = [value for key, value in pairs if key == "command"]
        pod = self._get_one(rtype, req)
        spec = pod.get("spec") or {}
        main = [c["name"] for c in spec.get("containers") or []]
        every = main + [
            c["name"]
            for key in ("initContainers", "ephemeralContainers")
            for c in spec.get(key) or []
        ]
        container = req.query.get("container") or ""
        if not container:
            if len(main) != 1:
                raise _bad_request(
                    f"a container name must be specified for pod {req.name}, "
                    f"choose one of: [{' '.join(every)}]"
                )
            container = main[0]
        elif container not in every:
            raise _bad_request(f"container {container} is not valid for pod {req.name}")
        if not spec.get("nodeName"):
            raise _bad_request(f"pod {req.name} does not have a host assigned")
        headers = handler.headers
        upgrade = headers.get("Upgrade", "").lower() == "websocket" and "upgrade" in [
            t.strip().lower() for t in headers.get("Connection", "").split(",")
        ]
        if not upgrade:
            raise _bad_request("Upgrade request required")
        flags = {k: _parse_bool(req.query.get(k)) for k in ("stdin", "stdout", "stderr", "tty")}
        if not (flags["stdin"] or flags["stdout"] or flags["stderr"]):
            raise _bad_request("you must specify at least 1 of stdin, stdout, stderr")
        if not command:
            # The wording is kubectl's; a cluster fails such a request too, in runtime words.
            raise _bad_request("you must specify at least one command for the container")
        key = headers.get("Sec-WebSocket-Key", "")
        if headers.get("Sec-WebSocket-Version") != "13" or not key:
            raise _bad_request("websocket: not a version 13 handshake with a key")
        offered = [
            p.strip()
            for value in headers.get_all("Sec-WebSocket-Protocol") or []
            for p in value.split(",")
            if p.strip()
        ]
        protocol = next((p for p in offered if p in self.exec_protocols), None)
        if protocol is None:
            raise _bad_request(
                f"requested protocol(s) are not supported: {offered}; "
                f"supports {list(self.exec_protocols)}"
            )

        req.status = 101
        if synthetic is not None:
            synthetic.status = 101
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", ws_accept(key))
        handler.send_header("Sec-WebSocket-Protocol", protocol)
        handler.end_headers()
        handler.close_connection = True

        status = pod.get("status") or {}
        statuses = [
            s
            for k in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses")
            for s in status.get(k) or []
        ]
        state = next((s.get("state") or {} for s in statuses if s.get("name") == container), {})
        stdout = stderr = ""
        with self._lock:
            run = self._exec_handlers.get((req.namespace, req.name))
        if "running" not in state:
            # Since 1.30 the API server upgrades first, then reports kubelet's refusal here.
            result = exec_internal_error(
                f'unable to upgrade connection: container not found ("{container}")'
            )
        elif run is None:
            exec_id = hashlib.sha256(req.name.encode()).hexdigest()
            result = exec_internal_error(
                "error executing command in container: failed to exec in container: "
                f'failed to start exec "{exec_id}": OCI runtime '
                "exec failed: exec failed: unable to start container process: exec: "
                f'"{command[0]}": executable file not found in $PATH: unknown'
            )
        else:
            try:
                stdout, stderr, code = run(container, list(command))
                result = exec_status(code, command)
            except Exception as exc:  # a broken test handler shows up in the error channel
                result = exec_internal_error(f"error executing command in container: {exc!r}")

        def send(channel: int, data: bytes) -> None:
            for start in range(0, len(data), _EXEC_CHUNK):
                chunk = data[start : start + _EXEC_CHUNK]
                handler.wfile.write(ws_frame(_WS_BINARY, bytes([channel]) + chunk))

        if flags["stdout"]:
            send(1, stdout.encode())
        if flags["stderr"] and not flags["tty"]:  # with a TTY stderr is merged into stdout
            send(2, stderr.encode())
        send(3, json.dumps(result, separators=(",", ":")).encode())
        handler.wfile.write(ws_frame(_WS_CLOSE, (1000).to_bytes(2, "big")))
        # Wait briefly for the client's close frame, as a polite server does, then hang up.
        handler.connection.settimeout(2.0)
        try:
            while _ws_read_frame(handler.rfile)[0] != _WS_CLOSE:
                pass
        except (OSError, ValueError):
            pass
