"""The state every part of the Kubernetes stand-in shares, declared once.

`KubeStandin` is assembled from mixins (store, faults, routes, reads, pod logs, exec,
discovery), one module each; they all work on the attributes below, which
`KubeStandin.__init__` sets up. A mixin calls another's methods through `self`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .exec import ExecHandler
    from .recording import KubeRequest, _Delay, _Fault, _LogEntry
    from .resources import JSON, ResourceType


class KubeState:
    """Attribute declarations only: no behaviour, no initialisation."""

    token: str | None
    user: str
    watch_max_seconds: float
    exec_protocols: tuple[str, ...]
    _lock: threading.RLock
    _changed: threading.Condition
    _stopping: threading.Event
    _objects: dict[tuple[str, str, str, str], JSON]
    _rv: int
    _journal: list[tuple[int, str, JSON]]
    _logs: dict[tuple[str, str, str | None, bool], list[_LogEntry]]
    _exec_handlers: dict[tuple[str, str], ExecHandler]
    _faults: list[_Fault]
    _delays: list[_Delay]
    _requests: list[KubeRequest]
    _types: dict[tuple[str, str], ResourceType]
    _by_kind: dict[tuple[str, str], ResourceType]
