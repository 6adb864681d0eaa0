"""`KubeStandin`: the loopback server assembled from the stand-in's parts."""

from __future__ import annotations

import threading
from typing import Self

from ..loopback import LoopbackServer
from .discovery import Discovery
from .exec import EXEC_PROTOCOLS, Exec, ExecHandler
from .faults import Faults
from .podlogs import PodLogs
from .reads import Reads
from .recording import KubeRequest, _Delay, _Fault, _LogEntry
from .resources import DEFAULT_USER, JSON, RESOURCE_TYPES, ResourceType
from .routes import Routes
from .store import ObjectStore


class KubeStandin(ObjectStore, Faults, Routes, Reads, PodLogs, Exec, Discovery, LoopbackServer):
    """A threaded HTTP server speaking enough of the Kubernetes API for the bot.

    Use as a context manager (or `start()`/`stop()`), then point the client at `.url`::

        with KubeStandin() as kube:
            kube.add(node("gpu-1"))
            api = CoreV1Api(ApiClient(Configuration(host=kube.url)))

    Set `.token` to require `Authorization: Bearer <token>` (401 `Status` otherwise).
    """

    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    disable_nagle_algorithm = True  # header and body are two writes: no 40 ms stalls
    thread_name = "kube-standin"

    def __init__(self, token: str | None = None, user: str = DEFAULT_USER) -> None:
        LoopbackServer.__init__(self)
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

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a free loopback port and serve in a daemon thread."""
        if self.httpd is not None:
            return self
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        """Stop serving; delayed requests and open watches are woken up and end."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        super().stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, for `kubernetes.client.Configuration(host=...)`."""
        return super().url
