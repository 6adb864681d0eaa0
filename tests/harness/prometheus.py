"""The real Prometheus on a free loopback port, and TSDB backfill with `promtool`."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .binaries import find_binary
from .daemon import _Daemon

JSON = dict[str, Any]


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
