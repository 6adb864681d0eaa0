"""Runners for the real `prometheus` and `alertmanager` binaries (Debian packages).

Prometheus' PromQL engine and Alertmanager's routing, grouping and silences are too subtle to
imitate: the tests run the real binaries on free loopback ports, each with its own temporary
directory (config, TSDB or state, log), and stop them cleanly afterwards.

A test that needs a binary calls `require_binary`: without the binary the test is skipped
with a reason, except under `GENAI_REQUIRE_INTEGRATION=1` (CI), where it fails instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests
import yaml

JSON = dict[str, Any]

_SEARCH_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/sbin")


def find_binary(*names: str) -> str | None:
    """The first of `names` found in PATH or the usual system directories, else None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        for directory in _SEARCH_DIRS:
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def integration_required() -> bool:
    """True when CI demands that integration tests run (`GENAI_REQUIRE_INTEGRATION=1`)."""
    return os.environ.get("GENAI_REQUIRE_INTEGRATION", "").strip().lower() in {"1", "true", "yes"}


def require_binary(name_candidates: str | Sequence[str], why: str) -> str:
    """Path of the binary, or skip the test (fail it under GENAI_REQUIRE_INTEGRATION=1).

    Skipping keeps a developer machine without the packages green; failing in CI keeps a
    missing package from silently turning the integration suite into a no-op.
    """
    import pytest

    names = [name_candidates] if isinstance(name_candidates, str) else list(name_candidates)
    found = find_binary(*names)
    if found:
        return found
    reason = f"{why}: none of {names} found in PATH or {', '.join(_SEARCH_DIRS)}"
    if integration_required():
        pytest.fail(f"{reason} (GENAI_REQUIRE_INTEGRATION=1)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (a race is possible; starters retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _terminate(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; only this one child process."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=5)


class ProcessStartError(RuntimeError):
    """A binary did not become ready; the message carries the tail of its log."""


class _Daemon:
    """Shared lifecycle: temp dir, log file, start with port retry, readiness, stop."""

    kind = "daemon"
    startup_timeout = 30.0

    def __init__(self, binary: str | None, candidates: Sequence[str]) -> None:
        self.binary = binary or find_binary(*candidates)
        if self.binary is None:
            raise FileNotFoundError(f"none of {list(candidates)} found")
        self.port = 0
        self.workdir = Path(tempfile.mkdtemp(prefix=f"genai-{self.kind}-"))
        self.log_path = self.workdir / f"{self.kind}.log"
        self.last_log = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._session = requests.Session()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files before a start attempt."""

    def log_text(self) -> str:
        """The process' log so far (stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return self.last_log

    def start(self) -> Self:
        """Start and wait for `/-/ready`; retry on a port lost to a race."""
        self._prepare()
        for attempt in range(3):
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self._proc = subprocess.Popen(
                    self._argv(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.workdir,
                    start_new_session=True,
                )
            if self._finalizer is not None:
                self._finalizer.detach()
            # If a test forgets to stop it, the process still dies with the interpreter.
            self._finalizer = weakref.finalize(self, _terminate, self._proc, 2.0)
            try:
                self._wait_ready()
                return self
            except ProcessStartError:
                _terminate(self._proc, grace=2.0)
                if "address already in use" in self.log_text() and attempt < 2:
                    continue
                self.last_log = self.log_text()
                tail = "\n".join(self.last_log.splitlines()[-30:])
                self._cleanup_dir()
                raise ProcessStartError(
                    f"{self.kind} ({self.binary}) did not become ready; last log lines:\n{tail}"
                ) from None
        raise AssertionError("unreachable")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ProcessStartError(f"exited with {self._proc.returncode}")
            try:
                if self._session.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise ProcessStartError("timeout")

    def stop(self) -> None:
        """SIGTERM (then SIGKILL), keep the log in `.last_log`, remove the temp dir."""
        if self._proc is not None:
            _terminate(self._proc)
            if self._finalizer is not None:
                self._finalizer.detach()
            self._proc = None
        self.last_log = self.log_text()
        self._session.close()
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PrometheusProcess(_Daemon):
    """The real Prometheus scraping `scrape_targets` (job `synthetic`) every second.

    `tsdb_path` starts it on an existing TSDB (e.g. blocks from `backfill_openmetrics`);
    that directory belongs to the caller and is not removed. Otherwise the TSDB lives in the
    temp dir. The admin API and lifecycle API (`/-/reload`) are enabled.
    """

    kind = "prometheus"
    job = "synthetic"

    def __init__(
        self,
        scrape_targets: Sequence[str],
        rule_files: Sequence[Path] = (),
        alertmanager_url: str | None = None,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        extra_args: Sequence[str] = (),
        *,
        tsdb_path: Path | None = None,
        extra_scrape_configs: Sequence[Mapping[str, Any]] = (),
        external_labels: Mapping[str, str] | None = None,
        binary: str | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        super().__init__(binary, ("prometheus",))
        self.scrape_targets = [_host_port(t) for t in scrape_targets]
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.alertmanager_url = alertmanager_url
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.extra_args = list(extra_args)
        self.tsdb_path = Path(tsdb_path) if tsdb_path is not None else self.workdir / "data"
        self.extra_scrape_configs = [dict(c) for c in extra_scrape_configs]
        self.external_labels = dict(external_labels or {})
        self.startup_timeout = startup_timeout
        self.config_path = self.workdir / "prometheus.yml"

    def config(self) -> JSON:
        """The configuration written to `prometheus.yml` (handy in failure messages)."""
        global_cfg: JSON = {
            "scrape_interval": self.scrape_interval,
            "scrape_timeout": self.scrape_interval,
            "evaluation_interval": self.evaluation_interval,
        }
        if self.external_labels:
            global_cfg["external_labels"] = self.external_labels
        cfg: JSON = {
            "global": global_cfg,
            "scrape_configs": [
                {"job_name": self.job, "static_configs": [{"targets": self.scrape_targets}]},
                *self.extra_scrape_configs,
            ],
        }
        if self.rule_files:
            cfg["rule_files"] = [str(p) for p in self.rule_files]
        if self.alertmanager_url:
            cfg["alerting"] = {
                "alertmanagers": [
                    {
                        "api_version": "v2",
                        "static_configs": [{"targets": [_host_port(self.alertmanager_url)]}],
                    }
                ]
            }
        return cfg

    def _prepare(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))

    def _argv(self) -> list[str]:
        assert self.binary is not None
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--storage.tsdb.path={self.tsdb_path}",
            "--storage.tsdb.retention.time=30d",
            "--web.enable-lifecycle",
            "--web.enable-admin-api",
            *self.extra_args,
        ]

    # -- API helpers ------------------------------------------------------------------------

    def query(self, expr: str, at: float | None = None) -> list[JSON]:
        """`/api/v1/query`: the result list (vector/matrix items; scalars as one item)."""
        params: dict[str, str] = {"query": expr}
        if at is not None:
            params["time"] = repr(at)
        resp = self._session.get(f"{self.url}/api/v1/query", params=params, timeout=10)
        body = resp.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body.get('error', body)}")
        data = body["data"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[JSON]:
        """`/api/v1/query_range`: the matrix result list."""
        params = {"query": expr, "start": repr(start), "end": repr(end), "step": repr(step)}
        resp = self._session.get(f"{self.url}/api/v1/query_range", params=params, timeout=10)
        body = resp.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query_range {expr!r} failed: {body.get('error', body)}")
        return list(body["data"]["result"])

    def wait_until(
        self,
        expr: str,
        predicate: Callable[[list[JSON]], bool],
        timeout: float = 20.0,
        interval: float = 0.25,
    ) -> list[JSON]:
        """Query `expr` until `predicate(result)` holds; return that result.

        Raises TimeoutError with the last result, so a failing test shows what Prometheus
        actually had.
        """
        deadline = time.monotonic() + timeout
        result: list[JSON] = []
        while True:
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{expr!r} never satisfied the predicate; last: {result}")
            time.sleep(interval)

    def wait_for_scrape(self, timeout: float = 20.0) -> None:
        """Wait until `up{job="synthetic"}` is 1 for every target."""
        want = set(self.scrape_targets)

        def all_up(result: list[JSON]) -> bool:
            up = {r["metric"].get("instance") for r in result if r["value"][1] == "1"}
            return want <= up

        self.wait_until(f'up{{job="{self.job}"}}', all_up, timeout=timeout)

    def wait_for_samples(self, metric: str, count: int = 2, timeout: float = 20.0) -> None:
        """Wait until every series of `metric` has `count` samples (rate() needs 2)."""
        self.wait_until(
            f"min(count_over_time({metric}[1m]))",
            lambda r: bool(r) and float(r[0]["value"][1]) >= count,
            timeout=timeout,
        )

    def reload(self) -> None:
        """`POST /-/reload` after changing rule files (lifecycle API is enabled)."""
        self._prepare()
        self._session.post(f"{self.url}/-/reload", timeout=10).raise_for_status()

    def rules(self) -> list[JSON]:
        """`/api/v1/rules` groups, to see alert states (`pending`, `firing`)."""
        resp = self._session.get(f"{self.url}/api/v1/rules", timeout=10)
        resp.raise_for_status()
        return list(resp.json()["data"]["groups"])


def _host_port(target: str) -> str:
    """`127.0.0.1:9090` from either that or `http://127.0.0.1:9090/...`."""
    if "://" in target:
        target = target.split("://", 1)[1]
    return target.split("/", 1)[0]


def backfill_openmetrics(
    openmetrics_text_path: Path,
    tsdb_dir: Path,
    *,
    promtool: str | None = None,
    max_block_duration: str | None = None,
) -> str:
    """Turn an OpenMetrics file into TSDB blocks with `promtool tsdb create-blocks-from`.

    The input needs timestamps (seconds) on every sample and a final `# EOF` line. Start
    `PrometheusProcess(..., tsdb_path=tsdb_dir)` afterwards: Prometheus loads the blocks at
    start-up. Blocks older than the 30-day retention are deleted by Prometheus. Returns
    promtool's output; raises RuntimeError with it on failure.
    """
    binary = promtool or find_binary("promtool")
    if binary is None:
        raise FileNotFoundError("promtool not found")
    tsdb_dir.mkdir(parents=True, exist_ok=True)
    argv = [binary, "tsdb", "create-blocks-from", "openmetrics"]
    if max_block_duration:
        argv.append(f"--max-block-duration={max_block_duration}")
    argv += [str(openmetrics_text_path), str(tsdb_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"promtool failed ({done.returncode}):\n{output[-4000:]}")
    return output


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
