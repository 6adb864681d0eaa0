"""The real Alertmanager on a free loopback port, clustering off, state in a temp dir; and
the shipped configuration, made safe to run it with."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .daemon import _Daemon

JSON = dict[str, Any]
SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "manifests" / "alertmanager-config.yaml"


def shipped_config_text() -> str:
    """The ``alertmanager.yaml`` the shipped Secret holds, as text."""
    secret = yaml.safe_load(SHIPPED_CONFIG.read_text(encoding="utf-8"))
    text: str = secret["stringData"]["alertmanager.yaml"]
    return text


def shipped_config() -> JSON:
    config: JSON = yaml.safe_load(shipped_config_text())
    return config


def without_receivers(config: JSON) -> str:
    """The config with every receiver reduced to its name: same routes and inhibit_rules, but
    no Slack, PagerDuty or webhook call leaves the test."""
    config = copy.deepcopy(config)
    config["receivers"] = [{"name": r["name"]} for r in config["receivers"]]
    return yaml.safe_dump(config, sort_keys=False)


class AlertmanagerProcess(_Daemon):
    """The real Alertmanager, clustering off (`--cluster.listen-address=`), state in a temp dir.

    `config_yaml` is the full `alertmanager.yml` text (routes, receivers, e.g. a webhook to
    the bot under test).
    """

    kind = "alertmanager"

    def __init__(
        self,
        config_yaml: str,
        extra_args: Sequence[str] = (),
        *,
        binary: str | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        super().__init__(binary, ("prometheus-alertmanager", "alertmanager"))
        self.config_yaml = config_yaml
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.config_path = self.workdir / "alertmanager.yml"

    def _prepare(self) -> None:
        self.config_path.write_text(self.config_yaml)
        (self.workdir / "data").mkdir(exist_ok=True)

    def _argv(self) -> list[str]:
        assert self.binary is not None
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            *self.extra_args,
        ]

    # -- API helpers ------------------------------------------------------------------------

    def post_alerts(self, alerts: Iterable[Mapping[str, Any]]) -> None:
        """`POST /api/v2/alerts` (what Prometheus and Game Day injection do)."""
        resp = self._session.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=10)
        if resp.status_code != 200:
            raise RuntimeError(f"POST /api/v2/alerts: {resp.status_code} {resp.text}")

    def alerts(self, filters: Sequence[str] = (), active: bool | None = None) -> list[JSON]:
        """`GET /api/v2/alerts`; `filters` are matchers like `alertname="GPUMemoryHigh"`."""
        params: list[tuple[str, str]] = [("filter", f) for f in filters]
        if active is not None:
            params.append(("active", str(active).lower()))
        resp = self._session.get(f"{self.url}/api/v2/alerts", params=params, timeout=10)
        resp.raise_for_status()
        return list(resp.json())

    def silences(self) -> list[JSON]:
        """`GET /api/v2/silences`."""
        resp = self._session.get(f"{self.url}/api/v2/silences", timeout=10)
        resp.raise_for_status()
        return list(resp.json())

    def create_silence(
        self,
        matchers: Sequence[Mapping[str, Any]],
        duration_s: float = 3600,
        created_by: str = "test",
        comment: str = "test silence",
    ) -> str:
        """`POST /api/v2/silences`; returns the silence id."""
        now = time.time()
        body = {
            "matchers": [dict(m) for m in matchers],
            "startsAt": _rfc3339(now),
            "endsAt": _rfc3339(now + duration_s),
            "createdBy": created_by,
            "comment": comment,
        }
        resp = self._session.post(f"{self.url}/api/v2/silences", json=body, timeout=10)
        if resp.status_code != 200:
            raise RuntimeError(f"POST /api/v2/silences: {resp.status_code} {resp.text}")
        return str(resp.json()["silenceID"])

    def wait_for_alerts(
        self,
        predicate: Callable[[list[JSON]], bool],
        timeout: float = 20.0,
        filters: Sequence[str] = (),
    ) -> list[JSON]:
        """Poll `alerts(filters)` until `predicate` holds (e.g. an alert from Prometheus)."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.alerts(filters)
            if predicate(current):
                return current
            if time.monotonic() >= deadline:
                raise TimeoutError(f"alerts never satisfied the predicate; last: {current}")
            time.sleep(0.2)


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"
