"""Run a command in a pod through `pods/exec` (the diagnostics' optional `nvidia-smi`).

The official client's `stream()` upgrades a GET to WebSocket (`v4.channel.k8s.io`): channel 1
is stdout, 2 stderr, and 3 carries a `Status` JSON when the process ends. RBAC needs `get`
(the GET) and, since Kubernetes 1.35, also `create` on `pods/exec`: manifests/overlays/exec.

Two things the client does not do for us, hence the shape of this module:
- `stream()` swaps `api_client.request` for the length of the call, so it gets a private
  `ApiClient` (same configuration): a concurrent list on the shared one would go astray.
- The WebSocket connect has no timeout at all (websocket-client sets the socket blocking),
  so it runs in a daemon thread that we stop waiting for after `timeout_s`.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from kubernetes.stream.ws_client import ERROR_CHANNEL, STDERR_CHANNEL, STDOUT_CHANNEL, WSClient
from websocket import (
    WebSocketAddressException,
    WebSocketBadStatusException,
    WebSocketConnectionClosedException,
    WebSocketException,
    WebSocketTimeoutException,
)

from bot.errors import Forbidden, NotFound, SourceError, Timeout, Unavailable
from bot.sources.kubernetes import KubernetesSource

SOURCE = "kubernetes"
EXEC_FORBIDDEN = (
    "pods/exec is not allowed: apply manifests/overlays/exec and set GENAI_DIAG__EXEC_ENABLED=true"
)
MAX_OUTPUT_BYTES = 1 << 20  # nvidia-smi prints a few KiB; anything huge is not what we asked for


def exec_in_pod(
    kube: KubernetesSource,
    namespace: str,
    pod: str,
    container: str | None,
    command: list[str],
    timeout_s: float,
) -> str:
    """Run `command` in `namespace/pod` (`container` may be None for one-container pods) and
    return its stdout. Any failure is a `SourceError` with a one-line reason; `timeout_s`
    bounds the whole call, connect included."""
    program = command[0].rsplit("/", 1)[-1] if command else "(no command)"
    # Only the program name: arguments could carry anything, and they add nothing to a row.
    what = f"exec {program} in {namespace}/{pod}"
    deadline = time.monotonic() + timeout_s
    ws = _connect(kube, what, timeout_s, namespace, pod, container, command)
    try:
        stdout, stderr, status = _collect(ws, what, deadline, timeout_s)
    finally:
        ws.close(timeout=0)  # the default waits up to 3 s for the server's close frame
    return _result(what, stdout, stderr, status)


class _Connect:
    """The connect, in a thread that may outlive our patience (see the module docstring)."""

    def __init__(self, api: k8s.CoreV1Api, kwargs: dict[str, Any]) -> None:
        self._api = api
        self._kwargs = kwargs
        self._lock = threading.Lock()
        self._abandoned = False
        self.client: WSClient | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            ws = stream(self._api.connect_get_namespaced_pod_exec, **self._kwargs)
        except BaseException as exc:  # handed to the caller's thread, which maps it
            self.error = exc
            ws = None
        finally:
            self._api.api_client.close()
        with self._lock:
            if self._abandoned and ws is not None:
                ws.close(timeout=0)  # connected after the caller gave up: nobody will read it
            else:
                self.client = ws
            self.done.set()

    def abandon(self) -> bool:
        """Give up unless the connect finished meanwhile; True when given up."""
        with self._lock:
            if self.done.is_set():
                return False
            self._abandoned = True
            return True


def _connect(
    kube: KubernetesSource,
    what: str,
    timeout_s: float,
    namespace: str,
    pod: str,
    container: str | None,
    command: list[str],
) -> WSClient:
    api = k8s.CoreV1Api(k8s.ApiClient(kube.core.api_client.configuration))
    attempt = _Connect(
        api,
        {
            "name": pod,
            "namespace": namespace,
            "command": command,
            "container": container,
            "stderr": True,
            "stdin": False,
            "stdout": True,
            "tty": False,
            "_preload_content": False,
        },
    )
    threading.Thread(target=attempt.run, name=f"kube-exec {namespace}/{pod}", daemon=True).start()
    if not attempt.done.wait(timeout_s) and attempt.abandon():
        raise Timeout(SOURCE, f"{what}: timed out after {timeout_s:g} s (connecting)")
    if attempt.error is not None:
        raise _connect_error(what, attempt.error) from None
    assert attempt.client is not None
    return attempt.client


def _root_cause(exc: BaseException) -> BaseException:
    """The socket/WebSocket error behind what the client raised. `websocket_call` wraps it
    in `ApiException(status=0)`, whose body (None) client 36 then fails to decode: what
    reaches us is an AttributeError, the original two `__context__` links down."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, (WebSocketException, OSError)):
            return cause
        seen.add(id(cause))
        cause = cause.__context__
    return exc


def _connect_error(what: str, exc: BaseException) -> SourceError:
    """A failed connect, typed, in one line from the root cause; never the raw text, which
    for a refused handshake carries every response header."""
    if isinstance(exc, SourceError):  # no usable configuration, from `kube.core`
        return exc
    cause = _root_cause(exc)
    if isinstance(cause, WebSocketBadStatusException):
        return _status_error(what, cause.status_code, cause.resp_body)
    if isinstance(cause, (WebSocketTimeoutException, TimeoutError)):
        return Timeout(SOURCE, f"{what}: timed out")
    if isinstance(cause, (WebSocketAddressException, OSError)):
        return Unavailable(SOURCE, f"{what}: cannot connect to the API server")
    if isinstance(cause, WebSocketException):
        return Unavailable(SOURCE, f"{what}: WebSocket error ({type(cause).__name__})")
    if isinstance(exc, ApiException) and exc.status:
        return _status_error(what, int(exc.status), exc.body)
    return SourceError(SOURCE, f"{what}: {type(cause).__name__}")


def _status_error(what: str, code: int, body: bytes | None) -> SourceError:
    """The handshake was refused with an HTTP status; the body is the API server's Status."""
    if code == 403:
        return Forbidden(SOURCE, f"{what}: {EXEC_FORBIDDEN}")
    if code == 401:
        return Forbidden(SOURCE, f"{what}: unauthorized (token rejected)")
    message = _status_message(body)
    if code == 404:
        return NotFound(SOURCE, f"{what}: pod not found" + (f" ({message})" if message else ""))
    kind = Unavailable if code >= 500 else SourceError
    return kind(SOURCE, f"{what}: {message}" if message else f"{what}: API server answered {code}")


def _status_message(body: bytes | str | None) -> str:
    """`message` of a Status body, first line only, or ""."""
    try:
        data = json.loads(body or b"")
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return _first_line(message) if isinstance(message, str) else ""


def _first_line(text: str, limit: int = 200) -> str:
    """First non-blank line, shortened in the middle: runtime errors put the cause last
    (`... exec: "nvidia-smi": executable file not found in $PATH: unknown`)."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) <= limit:
        return line
    head = limit // 4
    return line[:head] + " … " + line[-(limit - head - 3) :]


def _collect(ws: WSClient, what: str, deadline: float, timeout_s: float) -> tuple[str, str, str]:
    """Read stdout, stderr and the error channel until the server closes or the deadline."""
    stdout: list[str] = []
    stderr: list[str] = []
    size = 0
    try:
        while ws.is_open():
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(SOURCE, f"{what}: timed out after {timeout_s:g} s")
            # `update` polls, then blocks in recv for a whole frame: bound that too.
            ws.sock.settimeout(left)
            ws.update(timeout=left)
            for channel, sink in ((STDOUT_CHANNEL, stdout), (STDERR_CHANNEL, stderr)):
                # Drain what `update` buffered; timeout=0 never waits.
                if data := ws.read_channel(channel, timeout=0):
                    sink.append(data)
                    size += len(data)
            if size > MAX_OUTPUT_BYTES:
                raise SourceError(SOURCE, f"{what}: output over {MAX_OUTPUT_BYTES >> 20} MiB")
    except (WebSocketTimeoutException, TimeoutError):
        raise Timeout(SOURCE, f"{what}: timed out after {timeout_s:g} s") from None
    except WebSocketConnectionClosedException:
        pass  # the server hung up without a close frame: the Status, if any, decides
    except (WebSocketException, OSError) as exc:
        raise Unavailable(SOURCE, f"{what}: connection lost ({type(exc).__name__})") from None
    for channel, sink in ((STDOUT_CHANNEL, stdout), (STDERR_CHANNEL, stderr)):
        if data := ws.read_channel(channel, timeout=0):
            sink.append(data)
    return "".join(stdout), "".join(stderr), ws.read_channel(ERROR_CHANNEL, timeout=0)


def _result(what: str, stdout: str, stderr: str, status_text: str) -> str:
    """stdout when the Status says Success; otherwise the exit code and first stderr line."""
    try:
        status = json.loads(status_text) if status_text else None
    except ValueError:
        status = None
    if not isinstance(status, dict):
        raise SourceError(SOURCE, f"{what}: connection closed before the command finished")
    if status.get("status") == "Success":
        return stdout
    if status.get("reason") == "NonZeroExitCode":
        details = status.get("details")
        causes = (details.get("causes") or []) if isinstance(details, dict) else []
        code = next(
            (
                c.get("message")
                for c in causes
                if isinstance(c, dict) and c.get("reason") == "ExitCode"
            ),
            "?",
        )
        first = _first_line(stderr)
        raise SourceError(
            SOURCE, f"{what}: exited with code {code}" + (f": {first}" if first else "")
        )
    message = status.get("message")
    raise SourceError(
        SOURCE, f"{what}: " + (_first_line(message) if isinstance(message, str) else "failed")
    )
