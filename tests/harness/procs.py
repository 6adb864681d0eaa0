"""Runners for the real `prometheus` and `alertmanager` binaries (Debian packages).

Prometheus' PromQL engine and Alertmanager's routing, grouping and silences are too subtle to
imitate: the tests run the real binaries on free loopback ports, each with its own temporary
directory (config, TSDB or state, log), and stop them cleanly afterwards.

A test that needs a binary calls `require_binary`: without the binary the test is skipped
with a reason, except under `GENAI_REQUIRE_INTEGRATION=1` (CI), where it fails instead.

The runners live in `binaries`, `daemon`, `prometheus` and `alertmanager`; this module
re-exports them (and `free_port` from `loopback`) and adds the shared `wait_for` poller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .alertmanager import AlertmanagerProcess
from .binaries import find_binary, integration_required, require_binary, unavailable
from .daemon import ProcessStartError
from .loopback import free_port
from .prometheus import PrometheusProcess, backfill_openmetrics

__all__ = [
    "AlertmanagerProcess",
    "ProcessStartError",
    "PrometheusProcess",
    "backfill_openmetrics",
    "find_binary",
    "free_port",
    "integration_required",
    "require_binary",
    "unavailable",
    "wait_for",
]


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30.0,
             interval: float = 0.1) -> Any:
    """Poll `predicate` until it returns something truthy and return that; fail the test,
    naming `what`, when `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
