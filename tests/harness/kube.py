"""A Kubernetes API stand-in that the real `kubernetes` client can talk to.

No real API server can be installed on the dev/CI machine, and mocking the client's methods
would test our assumptions about the client instead of the client. This module therefore
serves fixture objects over HTTP, in the JSON shapes the API server sends, so that the bot's
code runs through the real `kubernetes` client: URL building, query encoding, deserialisation
into `V1Pod` & co., `ApiException` on errors.

What it imitates, because the bot depends on it:
- List responses (`kind: PodList`, `metadata.resourceVersion`, `items`, `limit`/`continue`).
- Label selectors (equality, set-based, existence) and field selectors with the per-resource
  field labels the API server supports; anything else is a 400 `Status`, as in a cluster.
- Pod logs with `container`, `previous`, `tailLines`, `sinceSeconds`, `limitBytes`,
  `timestamps`, and the real 400 errors (no previous container, container required...).
- `Status` bodies for 401/403/404/..., with the RBAC-style 403 message.
- Watches (`watch=true`) as a stream of JSON lines.
- `pods/{name}/exec` upgraded to WebSocket (RFC 6455, subprotocol `v4.channel.k8s.io`):
  channel-prefixed stdout/stderr messages, the `Status` on channel 3, then a close frame.
  What a command prints comes from `set_exec`. Errors before the upgrade are plain HTTP
  `Status` answers (404 pod, 400 container/command), as the API server sends them.

What it records: every request as a `KubeRequest` with the RBAC verb, API group, resource and
subresource, so a test can check each call against the ClusterRole in `manifests/`.

Builders (`node`, `pod`, `event`, `pvc`, `service`, `endpoints`, `namespace`, `nodeclaim`,
`nodepool`) are module-level functions that return plain dicts, realistic enough to be
deserialised by the client with client-side validation on.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

JSON = dict[str, Any]

DEFAULT_USER = "system:serviceaccount:genai:genai-ops-bot"
"""The identity named in 403 messages: the bot's service account in `manifests/`."""

# --------------------------------------------------------------------------------------------
# Resource table
# --------------------------------------------------------------------------------------------

_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One REST resource, as discovery would describe it.

    `field_labels` are the field selectors the API server accepts for this resource on top of
    `metadata.name`/`metadata.namespace`; any other label is a 400 in a real cluster, so a
    selector that works here also works there.
    """

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    field_labels: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        """`v1` for the core group, `group/version` otherwise (the objects' `apiVersion`)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`pods` or `nodeclaims.karpenter.sh`: how the API server names it in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_POD_FIELDS = frozenset(
    {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    }
)
_EVENT_FIELDS = frozenset(
    {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Node", "nodes", False, frozenset({"spec.unschedulable"})),
    ResourceType("", "v1", "Pod", "pods", True, _POD_FIELDS),
    ResourceType("", "v1", "Event", "events", True, _EVENT_FIELDS),
    ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ResourceType("", "v1", "PersistentVolume", "persistentvolumes", False),
    ResourceType("", "v1", "Service", "services", True),
    ResourceType("", "v1", "Endpoints", "endpoints", True),
    ResourceType("", "v1", "ConfigMap", "configmaps", True),
    ResourceType("", "v1", "Namespace", "namespaces", False, frozenset({"status.phase"})),
    ResourceType("apps", "v1", "Deployment", "deployments", True),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", True),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    ResourceType("karpenter.sh", "v1", "NodeClaim", "nodeclaims", False),
    ResourceType("karpenter.sh", "v1", "NodePool", "nodepools", False),
    ResourceType("karpenter.k8s.aws", "v1", "EC2NodeClass", "ec2nodeclasses", False),
)

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def ts(when: datetime | None = None) -> str:
    """RFC 3339 seconds, as the API server writes `metav1.Time`."""
    return (when or _now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_ts(when: datetime | None = None) -> str:
    """RFC 3339 microseconds, as the API server writes `metav1.MicroTime` (`eventTime`)."""
    return (when or _now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hexdigest(*parts: object, n: int = 16) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:n]


def _parse_bool(value: str | None) -> bool:
    """Go's strconv.ParseBool, which the API server uses for query flags."""
    return (value or "").strip() in {"1", "t", "T", "true", "TRUE", "True"}


def status_body(
    code: int, reason: str, message: str, details: JSON | None = None, **extra: Any
) -> JSON:
    """A `metav1.Status` failure body exactly as the API server sends it."""
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    body.update(extra)
    return body


class ApiError(Exception):
    """Raised inside the stand-in to answer with a `Status` body."""

    def __init__(self, body: JSON, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.body = body
        self.headers = dict(headers or {})

    @property
    def code(self) -> int:
        return int(self.body["code"])


def _bad_request(message: str) -> ApiError:
    return ApiError(status_body(400, "BadRequest", message))


# --------------------------------------------------------------------------------------------
# Selectors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    """One term of a label selector (`key op values`)."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Same truth table as k8s.io/apimachinery/pkg/labels: `!=`/`notin` match absence."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("gt", "lt"):
            try:
                have, want = int(value or ""), int(self.values[0])
            except ValueError:
                return False
            return have > want if self.op == "gt" else have < want
        raise AssertionError(self.op)


_LABEL_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|<|>|[A-Za-z0-9._/\-]+)")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def parse_label_selector(selector: str) -> list[LabelRequirement]:
    """Parse a label selector the way the API server does, or raise a 400 `ApiError`."""
    tokens: list[str] = []
    pos = 0
    text = selector.strip()
    while pos < len(text):
        match = _LABEL_TOKEN.match(text, pos)
        if not match:
            raise _bad_request(
                f"unable to parse requirement: found '{text[pos:]}', expected: identifier"
            )
        tokens.append(match.group(1))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    specials = {"!=", "==", "=", "!", "(", ")", ",", "<", ">"}
    reqs: list[LabelRequirement] = []
    i = 0

    def expect_ident(what: str) -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i] in specials:
            found = tokens[i] if i < len(tokens) else "EOS"
            raise _bad_request(f"unable to parse requirement: found '{found}', expected: {what}")
        i += 1
        return tokens[i - 1]

    def check_key(key: str) -> str:
        if not _LABEL_KEY.match(key):
            raise _bad_request(
                f'unable to parse requirement: <nil>: Invalid value: "{key}": name part must '
                "consist of alphanumeric characters, '-', '_' or '.'"
            )
        return key

    while i < len(tokens):
        if tokens[i] == "!":
            i += 1
            reqs.append(LabelRequirement(check_key(expect_ident("identifier")), "!"))
        else:
            key = check_key(expect_ident("identifier"))
            if i >= len(tokens) or tokens[i] == ",":
                reqs.append(LabelRequirement(key, "exists"))
            else:
                op = tokens[i]
                i += 1
                if op in ("=", "==", "!="):
                    value = ""
                    if i < len(tokens) and tokens[i] not in specials:
                        value = tokens[i]
                        i += 1
                    reqs.append(LabelRequirement(key, "!=" if op == "!=" else "=", (value,)))
                elif op in ("in", "notin"):
                    if i >= len(tokens) or tokens[i] != "(":
                        raise _bad_request(
                            "unable to parse requirement: found "
                            f"'{tokens[i] if i < len(tokens) else 'EOS'}', expected: '('"
                        )
                    i += 1
                    values: list[str] = []
                    while True:
                        if i < len(tokens) and tokens[i] not in specials:
                            values.append(tokens[i])
                            i += 1
                        if i < len(tokens) and tokens[i] == ",":
                            i += 1
                            continue
                        if i < len(tokens) and tokens[i] == ")":
                            i += 1
                            break
                        raise _bad_request(
                            "unable to parse requirement: found "
                            f"'{tokens[i] if i < len(tokens) else 'EOS'}', expected: ',', ')'"
                        )
                    reqs.append(LabelRequirement(key, op, tuple(values)))
                elif op in ("<", ">"):
                    num = expect_ident("integer")
                    if not re.fullmatch(r"-?\d+", num):
                        raise _bad_request(
                            f"unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                            f"must be an integer, got {num!r}"
                        )
                    reqs.append(LabelRequirement(key, "gt" if op == ">" else "lt", (num,)))
                else:
                    raise _bad_request(
                        f"unable to parse requirement: found '{op}', expected: "
                        "in, notin, =, ==, !=, gt, lt"
                    )
        if i < len(tokens):
            if tokens[i] != ",":
                raise _bad_request(
                    f"unable to parse requirement: found '{tokens[i]}', expected: ','"
                )
            i += 1
            if i >= len(tokens):
                raise _bad_request("unable to parse requirement: found 'EOS', expected: identifier")
    return reqs


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One term of a field selector; only equality and inequality exist for fields."""

    field: str
    negate: bool
    value: str


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            buf.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def _unescape_field_value(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(selector: str) -> list[FieldRequirement]:
    """Parse `a=b,c!=d` (values may escape `,`, `=` and `\\`), as fields.ParseSelector does."""
    reqs: list[FieldRequirement] = []
    if not selector.strip():
        return reqs
    for term in _split_unescaped(selector, ","):
        if not term:
            continue
        for i in range(len(term)):
            rest = term[i:]
            op = next((o for o in ("!=", "==", "=") if rest.startswith(o)), None)
            if op:
                key, value = term[:i].strip(), term[i + len(op) :]
                reqs.append(FieldRequirement(key, op == "!=", _unescape_field_value(value)))
                break
        else:
            raise _bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
    return reqs


def _field_value(obj: JSON, label: str) -> str:
    """The string the API server compares a field selector with ("" when unset)."""
    if label == "source":  # events: the field label `source` is `source.component`
        node: Any = (obj.get("source") or {}).get("component")
    else:
        node = obj
        for part in label.split("."):
            node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


# --------------------------------------------------------------------------------------------
# Recording and faults
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class KubeRequest:
    """One request as RBAC sees it (`verb`, `api_group`, `resource`, `subresource`).

    `resource` is "" for non-resource URLs such as `/version`. `status` is filled in when the
    answer is sent (it stays None while a delayed request is waiting).
    """

    method: str
    path: str
    query: dict[str, str]
    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    status: int | None = None

    @property
    def rbac_resource(self) -> str:
        """`pods/log` style, as written in a Role's `resources:`."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(slots=True)
class _Fault:
    pattern: re.Pattern[str]
    status: int
    remaining: int | None
    message: str | None
    retry_after: float | None
    method: str | None


@dataclass(slots=True)
class _Delay:
    pattern: re.Pattern[str]
    seconds: float


@dataclass(slots=True)
class _LogEntry:
    at: datetime
    line: str


@dataclass(slots=True)
class _Route:
    """What a URL addresses, parsed like the API server's RequestInfoFactory."""

    request: KubeRequest
    rtype: ResourceType | None = None
    is_resource: bool = True
    known_group_version: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


_STATUS_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    409: (
        "Conflict",
        "the object has been modified; please apply your changes to the latest "
        "version and try again",
    ),
    410: ("Expired", "too old resource version"),
    422: ("Invalid", "the request is invalid"),
    429: (
        "TooManyRequests",
        "the server has received too many requests and has asked us to try again later",
    ),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: (
        "Timeout",
        "the server was unable to return a response in the time allotted, but may "
        "still be processing the request",
    ),
}


# --------------------------------------------------------------------------------------------
# pods/exec over WebSocket
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP shell: everything interesting happens in `KubeStandin._handle`."""

    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # header and body are two writes: no 40 ms stalls

    def do_GET(self) -> None:
        self.server.standin._handle(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log: pytest output stays readable."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, standin: KubeStandin) -> None:
        self.standin = standin
        super().__init__(("127.0.0.1", 0), _Handler)


class KubeStandin:
    """A threaded HTTP server speaking enough of the Kubernetes API for the bot.

    Use as a context manager (or `start()`/`stop()`), then point the client at `.url`::

        with KubeStandin() as kube:
            kube.add(node("gpu-1"))
            api = CoreV1Api(ApiClient(Configuration(host=kube.url)))

    Set `.token` to require `Authorization: Bearer <token>` (401 `Status` otherwise).
    """

    def __init__(self, token: str | None = None, user: str = DEFAULT_USER) -> None:
        self.token = token
        self.user = user
        self.watch_max_seconds = 30.0
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._objects: dict[tuple[str, str, str, str], JSON] = {}
        self._rv = 1000
        self._journal: list[tuple[int, str, JSON]] = []
        self._logs: dict[tuple[str, str, str | None, bool], list[_LogEntry]] = {}
        self._exec_handlers: dict[tuple[str, str], ExecHandler] = {}
        self.exec_protocols: tuple[str, ...] = EXEC_PROTOCOLS
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._requests: list[KubeRequest] = []
        self._types: dict[tuple[str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        for rtype in RESOURCE_TYPES:
            self.register_resource(rtype)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> KubeStandin:
        """Bind a free loopback port and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.05,),
            name="kube-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed requests and open watches are woken up and end."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> KubeStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("KubeStandin is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, for `kubernetes.client.Configuration(host=...)`."""
        return f"http://127.0.0.1:{self.port}"

    # -- resource types -------------------------------------------------------------------

    def register_resource(self, rtype: ResourceType) -> None:
        """Serve one more resource (e.g. another CRD) through the same generic routes."""
        with self._lock:
            self._types[(rtype.api_version, rtype.plural)] = rtype
            self._by_kind[(rtype.api_version, rtype.kind)] = rtype

    # -- objects ----------------------------------------------------------------------------

    def _key_of(self, obj: Mapping[str, Any]) -> tuple[tuple[str, str, str, str], ResourceType]:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        meta = obj.get("metadata") or {}
        rtype = self._by_kind.get((str(api_version), str(kind)))
        if rtype is None:
            known = sorted(f"{a} {k}" for a, k in self._by_kind)
            raise ValueError(f"unknown apiVersion/kind {api_version}/{kind}; known: {known}")
        if not meta.get("name"):
            raise ValueError(f"{kind} without metadata.name")
        ns = str(meta.get("namespace") or ("default" if rtype.namespaced else ""))
        if not rtype.namespaced:
            ns = ""
        return (rtype.api_version, rtype.kind, ns, str(meta["name"])), rtype

    def add(self, obj: Mapping[str, Any]) -> JSON:
        """Store (or replace) an object; fills uid, resourceVersion and creationTimestamp.

        Returns the stored copy. Replacing an object is seen by watchers as MODIFIED.
        """
        with self._lock:
            key, rtype = self._key_of(obj)
            stored = copy.deepcopy(dict(obj))
            meta = stored.setdefault("metadata", {})
            if rtype.namespaced:
                meta["namespace"] = key[2]
            else:
                meta.pop("namespace", None)
            meta.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(key))))
            meta.setdefault("creationTimestamp", ts())
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            kind = "MODIFIED" if key in self._objects else "ADDED"
            self._objects[key] = stored
            self._journal.append((self._rv, kind, stored))
            self._changed.notify_all()
            return copy.deepcopy(stored)

    def add_all(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """`add` each object, for fixtures built in a comprehension."""
        for obj in objs:
            self.add(obj)

    def remove(self, obj: Mapping[str, Any]) -> None:
        """Delete an object (matched by apiVersion/kind/namespace/name); watchers see DELETED."""
        with self._lock:
            key, _ = self._key_of(obj)
            stored = self._objects.pop(key, None)
            if stored is None:
                raise KeyError(key)
            self._rv += 1
            gone = copy.deepcopy(stored)
            gone["metadata"]["resourceVersion"] = str(self._rv)
            self._journal.append((self._rv, "DELETED", gone))
            self._changed.notify_all()

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> JSON | None:
        """A copy of a stored object, or None."""
        with self._lock:
            rtype = self._by_kind.get((api_version, kind))
            ns = namespace if rtype is None or rtype.namespaced else ""
            obj = self._objects.get((api_version, kind, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def clear(self) -> None:
        """Forget all objects and logs (faults and recorded requests stay)."""
        with self._lock:
            self._objects.clear()
            self._logs.clear()

    # -- logs -------------------------------------------------------------------------------

    def set_log(
        self,
        namespace: str,
        pod: str,
        text: str,
        container: str | None = None,
        previous: bool = False,
        age_s: float = 0.0,
    ) -> None:
        """Set a container's log. `container=None` applies to whichever container is asked.

        Every line is stamped `age_s` seconds ago; `sinceSeconds`/`sinceTime` filter on
        those stamps, and `append_log` adds newer or older lines.
        """
        with self._lock:
            self._logs[(namespace, pod, container, previous)] = []
        self.append_log(namespace, pod, text, container=container, previous=previous, age_s=age_s)

    def append_log(
        self,
        namespace: str,
        pod: str,
        text: str,
        container: str | None = None,
        previous: bool = False,
        age_s: float = 0.0,
    ) -> None:
        """Append lines to a container's log, stamped `age_s` seconds ago."""
        at = _now() - timedelta(seconds=age_s)
        with self._lock:
            entries = self._logs.setdefault((namespace, pod, container, previous), [])
            entries.extend(_LogEntry(at, line) for line in text.splitlines())

    # -- exec --------------------------------------------------------------------------------

    def set_exec(self, namespace: str, pod: str, handler: ExecHandler) -> None:
        """What `pods/exec` runs in `pod`: `handler(container, command)` returns
        `(stdout, stderr, exit_code)`. It runs in the server thread, so a handler that blocks
        is a stuck command (the client's timeout is then what ends the call). Without a
        handler every command fails as a missing binary does in a real container.
        """
        with self._lock:
            self._exec_handlers[(namespace, pod)] = handler

    # -- faults ------------------------------------------------------------------------------

    def fail(
        self,
        path_regex: str,
        status: int = 500,
        times: int | None = None,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        method: str | None = None,
    ) -> None:
        """Answer requests whose path matches (re.search, no query string) with `status`.

        `times=None` keeps failing until `clear_faults()`. 403 gets the RBAC message for the
        request and `self.user`; 429/503 carry `Retry-After` (default 1 s for 429). Note that
        urllib3, under the kubernetes client, itself retries 429/503 that carry Retry-After.
        """
        with self._lock:
            self._faults.append(
                _Fault(re.compile(path_regex), status, times, message, retry_after, method)
            )

    def delay(self, path_regex: str, seconds: float) -> None:
        """Hold matching requests for `seconds` before answering (client timeouts, pools)."""
        with self._lock:
            self._delays.append(_Delay(re.compile(path_regex), seconds))

    def clear_faults(self) -> None:
        """Remove every injected failure and delay."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    # -- recording ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[KubeRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_clear(self) -> None:
        """Forget recorded requests (e.g. after fixture set-up calls)."""
        with self._lock:
            self._requests.clear()

    # -- request handling ----------------------------------------------------------------

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

    def _forbidden(self, route: _Route) -> ApiError:
        req = route.request
        if not route.is_resource:
            msg = f'forbidden: User "{self.user}" cannot {req.verb} path "{req.path}"'
            return ApiError(status_body(403, "Forbidden", msg, {}))
        where = f'in the namespace "{req.namespace}"' if req.namespace else "at the cluster scope"
        cause = (
            f'User "{self.user}" cannot {req.verb} resource "{req.rbac_resource}" '
            f'in API group "{req.api_group}" {where}'
        )
        qualified = f"{req.resource}.{req.api_group}" if req.api_group else req.resource
        head = f'{qualified} "{req.name}"' if req.name else qualified
        details: JSON = (
            {"name": req.name, "kind": req.resource} if req.name else {"kind": req.resource}
        )
        if req.api_group:
            details["group"] = req.api_group
        return ApiError(status_body(403, "Forbidden", f"{head} is forbidden: {cause}", details))

    def _fault_error(self, fault: _Fault, route: _Route) -> ApiError:
        if fault.status == 403:
            err = self._forbidden(route)
            if fault.message:
                err.body["message"] = fault.message
            return err
        reason, default = _STATUS_DEFAULTS.get(fault.status, ("", "injected fault"))
        headers: dict[str, str] = {}
        retry_after = fault.retry_after
        if retry_after is None and fault.status == 429:
            retry_after = 1
        details: JSON | None = None
        if retry_after is not None:
            headers["Retry-After"] = str(
                int(retry_after) if retry_after == int(retry_after) else retry_after
            )
            details = {"retryAfterSeconds": int(retry_after)}
        body = status_body(fault.status, reason, fault.message or default, details)
        return ApiError(body, headers)

    def _handle(self, handler: _Handler) -> None:
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
        handler: _Handler,
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
        handler: _Handler,
        req: KubeRequest,
        code: int,
        body: JSON,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._send(handler, req, code, json.dumps(body).encode(), "application/json", headers)

    def _dispatch(self, handler: _Handler, route: _Route) -> None:
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

    def _non_resource(self, handler: _Handler, route: _Route) -> None:
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

    def _watch(self, handler: _Handler, route: _Route, rtype: ResourceType) -> None:
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

    def _exec(self, handler: _Handler, route: _Route, rtype: ResourceType) -> None:
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
        handler: _Handler,
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


def _selected(
    obj: JSON, labels: Sequence[LabelRequirement], fields: Sequence[FieldRequirement]
) -> bool:
    obj_labels = (obj.get("metadata") or {}).get("labels") or {}
    if not all(r.matches(obj_labels) for r in labels):
        return False
    for term in fields:
        equal = _field_value(obj, term.field) == term.value
        if equal == term.negate:
            return False
    return True


# --------------------------------------------------------------------------------------------
# Fixture builders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstanceShape:
    """What an EC2 instance type brings as a node; used for realistic default capacity."""

    cpu: int
    memory_gib: int
    gpus: int
    gpu_product: str = ""
    arch: str = "amd64"


INSTANCE_TYPES: dict[str, InstanceShape] = {
    "p4d.24xlarge": InstanceShape(96, 1152, 8, "NVIDIA-A100-SXM4-40GB"),
    "p4de.24xlarge": InstanceShape(96, 1152, 8, "NVIDIA-A100-SXM4-80GB"),
    "p5.48xlarge": InstanceShape(192, 2048, 8, "NVIDIA-H100-80GB-HBM3"),
    "g5.xlarge": InstanceShape(4, 16, 1, "NVIDIA-A10G"),
    "g5.2xlarge": InstanceShape(8, 32, 1, "NVIDIA-A10G"),
    "g5.12xlarge": InstanceShape(48, 192, 4, "NVIDIA-A10G"),
    "g5.48xlarge": InstanceShape(192, 768, 8, "NVIDIA-A10G"),
    "g6.xlarge": InstanceShape(4, 16, 1, "NVIDIA-L4"),
    "g6.12xlarge": InstanceShape(48, 192, 4, "NVIDIA-L4"),
    "g6e.12xlarge": InstanceShape(48, 384, 4, "NVIDIA-L40S"),
    "m5.large": InstanceShape(2, 8, 0),
    "m6i.xlarge": InstanceShape(4, 16, 0),
    "m7g.xlarge": InstanceShape(4, 16, 0, arch="arm64"),
}

_DEFAULT_SHAPE = InstanceShape(96, 1152, 8, "NVIDIA-A100-SXM4-40GB")


def _ip_for(name: str) -> str:
    match = re.match(r"ip-(\d+)-(\d+)-(\d+)-(\d+)", name)
    if match:
        return ".".join(match.groups())
    h = hashlib.sha1(name.encode()).digest()
    return f"10.0.{h[0]}.{max(h[1], 1)}"


def _condition(
    type_: str,
    status: bool | None,
    reason: str = "",
    message: str = "",
    when: datetime | None = None,
    heartbeat: bool = False,
) -> JSON:
    cond: JSON = {
        "type": type_,
        "status": {True: "True", False: "False", None: "Unknown"}[status],
        "lastTransitionTime": ts(when),
    }
    if heartbeat:
        cond["lastHeartbeatTime"] = ts()
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _meta(
    name: str,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    created: datetime | None = None,
) -> JSON:
    meta: JSON = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    meta["creationTimestamp"] = ts(created or (_now() - timedelta(hours=6)))
    return meta


def node(
    name: str,
    ready: bool | None = True,
    labels: Mapping[str, str] | None = None,
    reason: str | None = None,
    unschedulable: bool = False,
    capacity: Mapping[str, str] | None = None,
    zone: str = "us-east-1a",
    instance_type: str = "p4d.24xlarge",
    *,
    message: str | None = None,
    allocatable: Mapping[str, str] | None = None,
    nodepool: str | None = "gpu",
    capacity_type: str = "on-demand",
    taints: Sequence[Mapping[str, str]] | None = None,
    pressure: Sequence[str] = (),
    created: datetime | None = None,
    annotations: Mapping[str, str] | None = None,
) -> JSON:
    """A Node as an EKS/Karpenter GPU node looks.

    `ready=None` is the `Unknown` status of a node whose kubelet stopped reporting.
    `capacity=None` takes cpu/memory/GPUs from the instance type (p4d: 8 GPUs); a given
    `capacity` is merged over that. GPU nodes get the GPU operator's `nvidia.com/gpu.*`
    labels and the usual `nvidia.com/gpu:NoSchedule` taint. `pressure` names conditions
    (e.g. "MemoryPressure") that are True. Labels given win over the defaults.
    """
    shape = INSTANCE_TYPES.get(instance_type, _DEFAULT_SHAPE)
    cap: dict[str, str] = {
        "cpu": str(shape.cpu),
        "memory": f"{shape.memory_gib * 1024 * 1024 - 524288}Ki",
        "pods": "110" if shape.cpu < 48 else "250",
        "ephemeral-storage": "104845292Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    }
    if shape.gpus:
        cap["nvidia.com/gpu"] = str(shape.gpus)
    if capacity is not None:
        cap.update(capacity)
    gpus = int(cap.get("nvidia.com/gpu", "0") or 0)
    alloc = dict(cap)
    alloc["cpu"] = f"{shape.cpu * 1000 - 90}m" if "cpu" not in (capacity or {}) else cap["cpu"]
    if allocatable:
        alloc.update(allocatable)
    region = zone[:-1] if zone and zone[-1].isalpha() else zone
    all_labels: dict[str, str] = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": shape.arch,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": shape.arch,
        "node.kubernetes.io/instance-type": instance_type,
        "beta.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "failure-domain.beta.kubernetes.io/region": region,
        "karpenter.sh/capacity-type": capacity_type,
    }
    if nodepool:
        all_labels["karpenter.sh/nodepool"] = nodepool
        all_labels["karpenter.sh/initialized"] = "true"
        all_labels["karpenter.sh/registered"] = "true"
    if gpus:
        all_labels.update(
            {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.count": str(gpus),
                "nvidia.com/gpu.product": shape.gpu_product or "NVIDIA-A100-SXM4-40GB",
                "nvidia.com/gpu.deploy.dcgm-exporter": "true",
            }
        )
    all_labels.update(labels or {})
    if taints is None:
        taint_list: list[JSON] = []
        if gpus:
            taint_list.append({"key": "nvidia.com/gpu", "effect": "NoSchedule"})
        if unschedulable:
            taint_list.append(
                {
                    "key": "node.kubernetes.io/unschedulable",
                    "effect": "NoSchedule",
                    "timeAdded": ts(),
                }
            )
        if ready is not True:
            key = (
                "node.kubernetes.io/not-ready"
                if ready is False
                else ("node.kubernetes.io/unreachable")
            )
            taint_list.append({"key": key, "effect": "NoSchedule", "timeAdded": ts()})
            taint_list.append({"key": key, "effect": "NoExecute", "timeAdded": ts()})
    else:
        taint_list = [dict(t) for t in taints]
    if ready is True:
        ready_cond = _condition(
            "Ready",
            True,
            reason or "KubeletReady",
            message or "kubelet is posting ready status",
            heartbeat=True,
        )
    elif ready is False:
        ready_cond = _condition(
            "Ready",
            False,
            reason or "KubeletNotReady",
            message
            or "container runtime network not ready: NetworkReady=false "
            "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin "
            "not initialized",
            heartbeat=True,
        )
    else:
        ready_cond = _condition(
            "Ready",
            None,
            reason or "NodeStatusUnknown",
            message or "Kubelet stopped posting node status.",
            heartbeat=True,
        )
    pressure_conds = []
    for ctype, ok_reason in (
        ("MemoryPressure", "KubeletHasSufficientMemory"),
        ("DiskPressure", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "KubeletHasSufficientPID"),
    ):
        if ready is None:
            pressure_conds.append(
                _condition(
                    ctype,
                    None,
                    "NodeStatusUnknown",
                    "Kubelet stopped posting node status.",
                    heartbeat=True,
                )
            )
        elif ctype in pressure:
            pressure_conds.append(
                _condition(
                    ctype, True, f"KubeletHas{ctype}", f"kubelet has {ctype}", heartbeat=True
                )
            )
        else:
            pressure_conds.append(_condition(ctype, False, ok_reason, "", heartbeat=True))
    instance_id = "i-0" + _hexdigest(name, n=16)
    spec: JSON = {"providerID": f"aws:///{zone}/{instance_id}"}
    if taint_list:
        spec["taints"] = taint_list
    if unschedulable:
        spec["unschedulable"] = True
    ip = _ip_for(name)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(name, labels=all_labels, annotations=annotations, created=created),
        "spec": spec,
        "status": {
            "capacity": cap,
            "allocatable": alloc,
            "conditions": [*pressure_conds, ready_cond],
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "InternalDNS", "address": f"ip-{ip.replace('.', '-')}.ec2.internal"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": _hexdigest("machine", name, n=32),
                "systemUUID": "ec2" + _hexdigest("uuid", name, n=29),
                "bootID": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
                "kernelVersion": "5.10.227-219.884.amzn2.x86_64",
                "osImage": "Amazon Linux 2",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": "v1.31.2-eks-94953ac",
                "kubeProxyVersion": "v1.31.2-eks-94953ac",
                "operatingSystem": "linux",
                "architecture": shape.arch,
            },
        },
    }


def _env_list(env: Mapping[str, str] | Sequence[Mapping[str, Any]] | None) -> list[JSON]:
    if env is None:
        return []
    if isinstance(env, Mapping):
        return [{"name": k, "value": str(v)} for k, v in env.items()]
    return [dict(e) for e in env]


def pod(
    name: str,
    namespace: str = "inference",
    phase: str = "Running",
    labels: Mapping[str, str] | None = None,
    node: str | None = None,
    containers: Sequence[Mapping[str, Any]] | None = None,
    container_statuses: Sequence[Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | Sequence[Mapping[str, Any]] | None = None,
    args: Sequence[str] | None = None,
    resources: Mapping[str, Any] | None = None,
    init_container_statuses: Sequence[Mapping[str, Any]] | None = None,
    volumes: Sequence[Mapping[str, Any]] | None = None,
    *,
    waiting_reason: str | None = None,
    waiting_message: str | None = None,
    last_terminated_reason: str | None = None,
    last_exit_code: int | None = None,
    restarts: int = 0,
    unschedulable_reason: str | None = None,
    container_name: str = "server",
    image: str = "vllm/vllm-openai:v0.6.3",
    command: Sequence[str] | None = None,
    gpus: int = 1,
    volume_mounts: Sequence[Mapping[str, Any]] | None = None,
    init_containers: Sequence[Mapping[str, Any]] | None = None,
    ready: bool | None = None,
    reason: str | None = None,
    message: str | None = None,
    owner: tuple[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    created: datetime | None = None,
    pod_ip: str | None = None,
) -> JSON:
    """A Pod in a common state, the way kubelet and the scheduler report it.

    - Running & healthy: the defaults (one `server` container asking for `gpus` GPUs).
    - CrashLoopBackOff after OOM: `waiting_reason="CrashLoopBackOff",
      last_terminated_reason="OOMKilled", restarts=5` (exit code defaults to 137 for OOM).
    - Pending, unschedulable: `phase="Pending", unschedulable_reason="0/3 nodes are
      available: 3 Insufficient nvidia.com/gpu."` (PodScheduled=False, no node).
    - Pending, image pull: `phase="Pending", waiting_reason="ImagePullBackOff"`.
    - Evicted: `phase="Failed", reason="Evicted", message=...`.
    `containers`/`container_statuses` given explicitly replace the generated ones.
    `owner=("ReplicaSet", "llama-7b-5d9c8")` adds an ownerReference. Without `labels` the
    pod is labelled `app=<name minus the two last dash parts>` (`llama-7b-5d9c8-x2k4p` ->
    `llama-7b`), as a Deployment's pods would be.
    """
    created = created or (_now() - timedelta(hours=2))
    scheduled = not unschedulable_reason
    if containers is None:
        res: JSON = dict(resources) if resources is not None else {}
        if resources is None and gpus:
            res = {
                "limits": {"nvidia.com/gpu": str(gpus), "memory": "64Gi"},
                "requests": {"nvidia.com/gpu": str(gpus), "cpu": "8", "memory": "64Gi"},
            }
        container: JSON = {
            "name": container_name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
            "resources": res,
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
        if command:
            container["command"] = list(command)
        if args:
            container["args"] = list(args)
        if env is not None:
            container["env"] = _env_list(env)
        if volume_mounts:
            container["volumeMounts"] = [dict(m) for m in volume_mounts]
        container_list = [container]
    else:
        container_list = [dict(c) for c in containers]
    spec: JSON = {
        "containers": container_list,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "tolerations": [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
    }
    if init_containers:
        spec["initContainers"] = [dict(c) for c in init_containers]
    if volumes:
        spec["volumes"] = [dict(v) for v in volumes]
    if node and scheduled:
        spec["nodeName"] = node

    started = created + timedelta(seconds=20)
    if container_statuses is None:
        statuses: list[JSON] = []
        if scheduled and (phase != "Pending" or waiting_reason):
            for c in container_list:
                state: JSON
                if waiting_reason:
                    state = {"waiting": {"reason": waiting_reason}}
                    if waiting_message or waiting_reason == "CrashLoopBackOff":
                        state["waiting"]["message"] = waiting_message or (
                            f"back-off 5m0s restarting failed container={c['name']} "
                            f"pod={name}_{namespace}({uuid.uuid5(uuid.NAMESPACE_URL, name)})"
                        )
                elif phase == "Succeeded":
                    state = {
                        "terminated": {
                            "exitCode": 0,
                            "reason": "Completed",
                            "startedAt": ts(started),
                            "finishedAt": ts(),
                        }
                    }
                elif phase == "Failed":
                    state = {
                        "terminated": {
                            "exitCode": last_exit_code if last_exit_code is not None else 1,
                            "reason": last_terminated_reason or "Error",
                            "startedAt": ts(started),
                            "finishedAt": ts(),
                        }
                    }
                else:
                    state = {"running": {"startedAt": ts(started)}}
                c_ready = ready if ready is not None else ("running" in state)
                status: JSON = {
                    "name": c["name"],
                    "image": c.get("image", image),
                    "imageID": f"docker.io/{c.get('image', image).split(':')[0]}@sha256:"
                    + hashlib.sha256(c.get("image", image).encode()).hexdigest(),
                    "containerID": "containerd://" + _hexdigest(name, c["name"], n=64),
                    "ready": c_ready,
                    "started": "running" in state,
                    "restartCount": restarts,
                    "state": state,
                    "lastState": {},
                }
                if waiting_reason in ("ContainerCreating", "ImagePullBackOff", "ErrImagePull"):
                    status.pop("containerID")
                if (last_terminated_reason or last_exit_code is not None) and (phase != "Failed"):
                    code = last_exit_code
                    if code is None:
                        code = 137 if last_terminated_reason == "OOMKilled" else 1
                    status["lastState"] = {
                        "terminated": {
                            "exitCode": code,
                            "reason": last_terminated_reason or "Error",
                            "startedAt": ts(_now() - timedelta(minutes=3)),
                            "finishedAt": ts(_now() - timedelta(minutes=1)),
                            "containerID": "containerd://" + _hexdigest(name, "prev", n=64),
                        }
                    }
                statuses.append(status)
    else:
        statuses = [dict(s) for s in container_statuses]

    all_ready = bool(statuses) and all(s.get("ready") for s in statuses)
    conditions: list[JSON]
    if not scheduled:
        conditions = [
            _condition(
                "PodScheduled", False, "Unschedulable", unschedulable_reason or "", when=created
            )
        ]
    else:
        not_ready = [s["name"] for s in statuses if not s.get("ready")]
        msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else ""
        conditions = [
            _condition(
                "PodReadyToStartContainers", phase != "Pending" or bool(statuses), when=started
            ),
            _condition("Initialized", True, when=created),
            _condition(
                "Ready", all_ready, "" if all_ready else "ContainersNotReady", msg, when=started
            ),
            _condition(
                "ContainersReady",
                all_ready,
                "" if all_ready else "ContainersNotReady",
                msg,
                when=started,
            ),
            _condition("PodScheduled", True, when=created),
        ]
    status_obj: JSON = {"phase": phase, "conditions": conditions, "qosClass": "Burstable"}
    if scheduled and node:
        status_obj["hostIP"] = _ip_for(node)
        status_obj["hostIPs"] = [{"ip": _ip_for(node)}]
    if scheduled and phase != "Pending":
        ip = pod_ip or _ip_for(f"{namespace}/{name}").replace("10.0.", "10.1.")
        status_obj["podIP"] = ip
        status_obj["podIPs"] = [{"ip": ip}]
    if scheduled:
        status_obj["startTime"] = ts(created)
    if statuses:
        status_obj["containerStatuses"] = statuses
    if init_container_statuses is not None:
        status_obj["initContainerStatuses"] = [dict(s) for s in init_container_statuses]
    if reason:
        status_obj["reason"] = reason
    if message:
        status_obj["message"] = message

    meta = _meta(
        name,
        namespace,
        labels if labels is not None else {"app": name.rsplit("-", 2)[0]},
        annotations,
        created,
    )
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1"
                if owner[0] in ("ReplicaSet", "StatefulSet", "DaemonSet")
                else "v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{owner[0]}/{owner[1]}")),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status_obj}


def event(
    involved_name: str,
    reason: str,
    message: str,
    namespace: str = "inference",
    involved_kind: str = "Pod",
    type: str = "Warning",
    count: int = 1,
    *,
    name: str | None = None,
    source_component: str = "kubelet",
    source_host: str | None = None,
    involved_api_version: str | None = None,
    involved_namespace: str | None = None,
    field_path: str | None = None,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
    legacy_timestamps: bool | None = None,
) -> JSON:
    """A core/v1 Event about an object.

    Trap this reproduces: events written through `events.k8s.io/v1` (the scheduler does this)
    read back through core/v1 with `firstTimestamp`/`lastTimestamp` null, `eventTime` set
    and an empty `source`. `legacy_timestamps=None` picks that automatically for
    `source_component="default-scheduler"`; kubelet and Karpenter events use the old shape.
    For cluster-scoped objects (Node, NodeClaim) the event lives in namespace `default`.
    """
    last = last_seen or _now()
    first = first_seen or (last - timedelta(seconds=30 * max(count - 1, 0)))
    legacy = (
        legacy_timestamps
        if legacy_timestamps is not None
        else (source_component != "default-scheduler")
    )
    api_version = involved_api_version or (
        "karpenter.sh/v1" if involved_kind in ("NodeClaim", "NodePool") else "v1"
    )
    involved: JSON = {
        "kind": involved_kind,
        "name": involved_name,
        "apiVersion": api_version,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{involved_kind}/{involved_name}")),
    }
    if involved_kind not in ("Node", "NodeClaim", "NodePool", "Namespace"):
        involved["namespace"] = involved_namespace or namespace
    if field_path:
        involved["fieldPath"] = field_path
    body: JSON = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": _meta(
            name or f"{involved_name}.{_hexdigest(involved_name, reason, message, last)}",
            namespace,
            created=first,
        ),
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": type,
    }
    if legacy:
        source: JSON = {"component": source_component}
        if source_host:
            source["host"] = source_host
        body.update(
            {
                "source": source,
                "firstTimestamp": ts(first),
                "lastTimestamp": ts(last),
                "count": count,
                "eventTime": None,
                "reportingComponent": source_component,
                "reportingInstance": source_host or "",
            }
        )
    else:
        body.update(
            {
                "source": {},
                "firstTimestamp": None,
                "lastTimestamp": None,
                "eventTime": micro_ts(first),
                "reportingComponent": source_component,
                "reportingInstance": f"{source_component}-{_hexdigest(source_component, n=5)}",
                "action": "Scheduling" if source_component == "default-scheduler" else reason,
            }
        )
        if count > 1:
            body["series"] = {"count": count, "lastObservedTime": micro_ts(last)}
    return body


def pvc(
    name: str,
    namespace: str = "inference",
    phase: str = "Bound",
    storage: str = "500Gi",
    storage_class: str = "gp3",
    access_modes: Sequence[str] = ("ReadWriteOnce",),
    volume_name: str | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    conditions: Sequence[Mapping[str, Any]] | None = None,
    created: datetime | None = None,
) -> JSON:
    """A PersistentVolumeClaim (model weights volume). Pending claims have no volume."""
    spec: JSON = {
        "accessModes": list(access_modes),
        "resources": {"requests": {"storage": storage}},
        "storageClassName": storage_class,
        "volumeMode": "Filesystem",
    }
    status: JSON = {"phase": phase}
    annotations: dict[str, str] = {}
    if phase == "Bound":
        spec["volumeName"] = volume_name or f"pvc-{uuid.uuid5(uuid.NAMESPACE_URL, name)}"
        status.update({"accessModes": list(access_modes), "capacity": {"storage": storage}})
        annotations = {
            "pv.kubernetes.io/bind-completed": "yes",
            "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
        }
    elif volume_name:
        spec["volumeName"] = volume_name
    if conditions:
        status["conditions"] = [dict(c) for c in conditions]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(name, namespace, labels, annotations, created),
        "spec": spec,
        "status": status,
    }


def _ports(ports: Sequence[int | Mapping[str, Any]], service: bool) -> list[JSON]:
    out: list[JSON] = []
    for p in ports:
        if isinstance(p, Mapping):
            out.append(dict(p))
        elif service:
            out.append({"name": "http", "port": p, "targetPort": p, "protocol": "TCP"})
        else:
            out.append({"name": "http", "port": p, "protocol": "TCP"})
    if len(out) > 1:
        for i, entry in enumerate(out):
            if entry.get("name") == "http" and i:
                entry["name"] = f"port-{entry['port']}"
    return out


def service(
    name: str,
    namespace: str = "inference",
    selector: Mapping[str, str] | None = None,
    ports: Sequence[int | Mapping[str, Any]] = (8000,),
    type: str = "ClusterIP",
    cluster_ip: str | None = None,
    *,
    labels: Mapping[str, str] | None = None,
) -> JSON:
    """A Service; `cluster_ip="None"` makes it headless. Selector defaults to `app: name`."""
    ip = cluster_ip or (
        "172.20." + ".".join(str(b) for b in hashlib.sha1(name.encode()).digest()[:2])
    )
    spec: JSON = {
        "type": type,
        "selector": dict(selector) if selector is not None else {"app": name},
        "ports": _ports(ports, service=True),
        "clusterIP": ip,
        "clusterIPs": [ip],
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, namespace, labels),
        "spec": spec,
        "status": {"loadBalancer": {}},
    }


def endpoints(
    name: str,
    namespace: str = "inference",
    ready: Sequence[str | tuple[str, str]] = (),
    not_ready: Sequence[str | tuple[str, str]] = (),
    ports: Sequence[int | Mapping[str, Any]] = (8000,),
    *,
    node: str | None = None,
) -> JSON:
    """Endpoints of a Service. Addresses are an IP or `(ip, pod_name)`.

    With neither ready nor not-ready addresses there is no `subsets` key at all: that is
    how a Service without backing pods looks, and a bot must not crash on it.
    """

    def address(entry: str | tuple[str, str]) -> JSON:
        ip, pod_name = (entry, None) if isinstance(entry, str) else entry
        out: JSON = {"ip": ip}
        if node:
            out["nodeName"] = node
        if pod_name:
            out["targetRef"] = {
                "kind": "Pod",
                "namespace": namespace,
                "name": pod_name,
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{pod_name}")),
            }
        return out

    body: JSON = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": _meta(name, namespace, {"app": name}),
    }
    if ready or not_ready:
        subset: JSON = {"ports": _ports(ports, service=False)}
        if ready:
            subset["addresses"] = [address(a) for a in ready]
        if not_ready:
            subset["notReadyAddresses"] = [address(a) for a in not_ready]
        body["subsets"] = [subset]
    return body


def namespace(name: str, phase: str = "Active", labels: Mapping[str, str] | None = None) -> JSON:
    """A Namespace, with the `kubernetes.io/metadata.name` label every namespace gets."""
    all_labels = {"kubernetes.io/metadata.name": name, **(labels or {})}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(name, labels=all_labels),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": phase},
    }


def nodeclaim(
    name: str,
    nodepool: str = "gpu",
    instance_type: str = "p4d.24xlarge",
    zone: str = "us-east-1a",
    capacity_type: str = "on-demand",
    *,
    launched: bool | None = True,
    registered: bool | None = True,
    initialized: bool | None = True,
    launch_message: str | None = None,
    node_name: str | None = None,
    instance_types: Sequence[str] | None = None,
    gpus: int | None = None,
    created: datetime | None = None,
    extra_conditions: Sequence[Mapping[str, Any]] = (),
) -> JSON:
    """A Karpenter v1 NodeClaim (cluster-scoped, `karpenter.sh/v1`).

    Conditions follow Karpenter's lifecycle: Launched, Registered, Initialized, and Ready
    (True only when all three are). `launched=False` with `launch_message` models an
    InsufficientInstanceCapacity launch failure (reason `LaunchFailed`); None is the
    `Unknown`/`AwaitingReconciliation` state of a claim still in progress.
    """
    shape = INSTANCE_TYPES.get(instance_type, _DEFAULT_SHAPE)
    gpu_count = shape.gpus if gpus is None else gpus
    created = created or (_now() - timedelta(minutes=10))

    def cond(
        type_: str, state: bool | None, ok_reason: str, bad_reason: str, bad_message: str
    ) -> JSON:
        if state is True:
            return _condition(type_, True, ok_reason, when=created + timedelta(seconds=60))
        if state is None:
            return _condition(
                type_,
                None,
                "AwaitingReconciliation",
                "object is awaiting reconciliation",
                when=created,
            )
        return _condition(type_, False, bad_reason, bad_message, when=created)

    ice = launch_message or (
        f"creating instance, insufficient capacity, with fleet error(s), "
        f"InsufficientInstanceCapacity: We currently do not have sufficient {instance_type} "
        f"capacity in the Availability Zone you requested ({zone}). Our system will be "
        "working on provisioning additional capacity."
    )
    conditions = [
        cond("Launched", launched, "Launched", "LaunchFailed", ice),
        cond(
            "Registered",
            registered if launched else None,
            "Registered",
            "NodeNotFound",
            "Node not registered with cluster",
        ),
        cond(
            "Initialized",
            initialized if launched and registered else None,
            "Initialized",
            "NotInitialized",
            "Node not initialized",
        ),
    ]
    all_true = launched is True and registered is True and initialized is True
    any_false = False in (launched, registered, initialized)
    conditions.append(
        cond(
            "Ready",
            True if all_true else (False if any_false else None),
            "Ready",
            "UnhealthyDependents",
            "Launched=False" if launched is False else "not ready",
        )
    )
    conditions.extend(dict(c) for c in extra_conditions)
    requests: JSON = {"cpu": "8190m", "memory": "64Gi", "pods": "9"}
    if gpu_count:
        requests["nvidia.com/gpu"] = str(gpu_count)
    status: JSON = {"conditions": conditions}
    if launched:
        instance_id = "i-0" + _hexdigest(name, n=16)
        status.update(
            {
                "providerID": f"aws:///{zone}/{instance_id}",
                "imageID": "ami-0" + _hexdigest("ami", instance_type, n=16),
                "capacity": {
                    "cpu": str(shape.cpu),
                    "memory": f"{shape.memory_gib * 1024 - 1500}Mi",
                    "pods": "250",
                    "ephemeral-storage": "100G",
                    **({"nvidia.com/gpu": str(gpu_count)} if gpu_count else {}),
                },
            }
        )
        status["allocatable"] = dict(status["capacity"])
        if registered:
            status["nodeName"] = (
                node_name
                or f"ip-10-0-{len(name) % 200}-{int(_hexdigest(name, n=2), 16)}.ec2.internal"
            )
    labels = {
        "karpenter.sh/nodepool": nodepool,
        "karpenter.k8s.aws/ec2nodeclass": "gpu",
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/zone": zone,
        "karpenter.sh/capacity-type": capacity_type,
        "kubernetes.io/arch": shape.arch,
        "kubernetes.io/os": "linux",
    }
    if launched:
        labels["karpenter.sh/registered"] = "true" if registered else "false"
    requirements = [
        {"key": "karpenter.sh/nodepool", "operator": "In", "values": [nodepool]},
        {
            "key": "node.kubernetes.io/instance-type",
            "operator": "In",
            "values": list(instance_types or [instance_type]),
        },
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [capacity_type]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]},
    ]
    meta = _meta(
        name,
        labels=labels,
        created=created,
        annotations={
            "karpenter.sh/nodepool-hash": _hexdigest(nodepool, n=16),
            "karpenter.sh/nodepool-hash-version": "v3",
        },
    )
    meta["finalizers"] = ["karpenter.sh/termination"]
    meta["generation"] = 1
    meta["ownerReferences"] = [
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "name": nodepool,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"karpenter.sh/v1/NodePool//{nodepool}")),
            "blockOwnerDeletion": True,
        }
    ]
    spec: JSON = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
        "requirements": requirements,
        "resources": {"requests": requests},
        "expireAfter": "720h",
    }
    if gpu_count:
        spec["taints"] = [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": meta,
        "spec": spec,
        "status": status,
    }


def nodepool(
    name: str = "gpu",
    instance_types: Sequence[str] = ("p4d.24xlarge", "g5.12xlarge", "g5.48xlarge"),
    capacity_types: Sequence[str] = ("on-demand",),
    zones: Sequence[str] | None = ("us-east-1a", "us-east-1b", "us-east-1c"),
    limits: Mapping[str, str] | None = None,
    *,
    ready: bool = True,
    ready_message: str | None = None,
    used: Mapping[str, str] | None = None,
    node_count: int = 0,
    weight: int | None = None,
    gpu_taint: bool = True,
) -> JSON:
    """A Karpenter v1 NodePool. `limits` default to 64 GPUs / 1000 CPUs.

    `used` is `status.resources` (what the pool already provisioned); a pool at its limit
    is the classic "NodePool limit reached" provisioning failure.
    """
    requirements: list[JSON] = [
        {
            "key": "node.kubernetes.io/instance-type",
            "operator": "In",
            "values": list(instance_types),
        },
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(capacity_types)},
    ]
    if zones:
        requirements.append(
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(zones)}
        )
    template_spec: JSON = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name},
        "requirements": requirements,
        "expireAfter": "720h",
    }
    if gpu_taint:
        template_spec["taints"] = [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    spec: JSON = {
        "template": {"metadata": {"labels": {"workload": "inference"}}, "spec": template_spec},
        "limits": dict(limits) if limits is not None else {"cpu": "1000", "nvidia.com/gpu": "64"},
        "disruption": {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": "5m",
            "budgets": [{"nodes": "10%"}],
        },
    }
    if weight is not None:
        spec["weight"] = weight
    resources = {
        "cpu": "0",
        "memory": "0",
        "pods": "0",
        "nodes": str(node_count),
        "nvidia.com/gpu": "0",
    }
    resources.update(used or {})
    conditions = [
        _condition("ValidationSucceeded", True, "ValidationSucceeded"),
        _condition(
            "NodeClassReady",
            ready,
            "NodeClassReady" if ready else "NodeClassNotReady",
            "" if ready else (ready_message or "EC2NodeClass not ready"),
        ),
        _condition(
            "Ready",
            ready,
            "Ready" if ready else "UnhealthyDependents",
            "" if ready else (ready_message or "NodeClassReady=False"),
        ),
    ]
    meta = _meta(
        name,
        annotations={
            "karpenter.sh/nodepool-hash": _hexdigest(name, n=16),
            "karpenter.sh/nodepool-hash-version": "v3",
        },
    )
    meta["generation"] = 1
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": meta,
        "spec": spec,
        "status": {"resources": resources, "nodes": node_count, "conditions": conditions},
    }


def iter_kinds() -> Iterator[tuple[str, str]]:
    """(apiVersion, kind) pairs served by default, for tests that enumerate them."""
    for rtype in RESOURCE_TYPES:
        yield rtype.api_version, rtype.kind
