"""Source failures are typed: NotFound, Forbidden, Timeout and Unavailable under SourceError,
raised by each source from what its backend really answered (the Kubernetes stand-in, a real
Prometheus port with nothing on it, moto, an AWS endpoint that refuses, the resolver), and
nothing in the bot decides by reading an error's text."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config.sections import AwsSettings, KubernetesSettings, LogsSettings
from bot.errors import Forbidden, NotFound, SourceError, Timeout, Unavailable
from bot.sources.aws import AwsClients, aws_call
from bot.sources.dns import Resolver
from bot.sources.kubernetes import KubernetesSource
from bot.sources.logs_insights import LogsInsights
from bot.sources.prometheus import PrometheusSource
from tests.harness.failing_aws import FailingAws
from tests.harness.kube import KubeStandin
from tests.harness.procs import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_the_kinds_are_source_errors() -> None:
    for kind in (NotFound, Forbidden, Timeout, Unavailable):
        assert issubclass(kind, SourceError)
        err = kind("x", "why")
        assert (err.source, err.reason, str(err)) == ("x", "why", "x: why")


def test_kubernetes_answers_become_kinds() -> None:
    with KubeStandin() as kube:
        source = KubernetesSource(KubernetesSettings(mode="url", url=kube.url, timeout_s=1))
        with pytest.raises(NotFound, match="get pod inference/nope: not found"):
            source.pod("inference", "nope")
        kube.fail(r"/api/v1/namespaces/inference/pods/p1$", 403, times=1)
        with pytest.raises(Forbidden, match="missing permission"):
            source.pod("inference", "p1")
        kube.fail(r"/api/v1/namespaces/inference/pods/p2$", 500, times=1)
        with pytest.raises(Unavailable, match="API server answered 500"):
            source.pod("inference", "p2")
        kube.delay(r"/api/v1/namespaces/inference/pods/p3$", 3)
        with pytest.raises(Timeout, match="timed out"):
            source.pod("inference", "p3")
    gone = KubernetesSource(KubernetesSettings(mode="url", url=f"http://127.0.0.1:{free_port()}",
                                               timeout_s=1))
    with pytest.raises(Unavailable, match="cannot connect to the API server"):
        gone.pod("inference", "p1")


def test_prometheus_down_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="cannot connect"):
        PrometheusSource(f"http://127.0.0.1:{free_port()}", 1).query("up")


def test_aws_refusals_are_forbidden_or_unavailable(moto_server: str) -> None:
    with FailingAws() as refusing:
        clients = AwsClients(AwsSettings(region="ap-northeast-2", endpoint_url=refusing.url))
        with pytest.raises(Forbidden, match="access denied"):
            aws_call("ecr", "DescribeRepositories", clients.client("ecr").describe_repositories)
        with pytest.raises(Unavailable, match="throttled"):
            aws_call("ec2", "DescribeVolumes", clients.client("ec2").describe_volumes)
    clients = AwsClients(AwsSettings(region="ap-northeast-2", endpoint_url=moto_server))
    logs = LogsInsights(clients, LogsSettings(log_group="/no/such/group"))
    now = datetime.now(UTC)
    with pytest.raises(NotFound, match="does not exist"):
        logs.run("fields @message | limit 1", now - timedelta(hours=1), now)


def test_a_name_that_does_not_exist_is_not_found() -> None:
    try:
        socket.getaddrinfo("genai-ops-bot.invalid", None)
    except socket.gaierror as exc:
        if exc.errno not in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
            pytest.fail(f"this machine's resolver answers {exc!r} for a .invalid name")
    with pytest.raises(NotFound):
        Resolver(2.0).resolve("genai-ops-bot.invalid")


# Deciding by an error's text: what the typed errors replace.
_TEXT_TESTS = re.compile(
    r"""(\.reason|\berror|str\(exc\))\s*\.(endswith|startswith)\(|"""
    r"""["'][^"']*["']\s+(not\s+)?in\s+(exc\.reason|str\(exc\)|\w+\.error\b)""")


def test_nothing_decides_by_reading_an_errors_text() -> None:
    offenders = []
    for path in sorted([*ROOT.joinpath("bot").rglob("*.py"),
                        *ROOT.joinpath("commands").rglob("*.py")]):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if _TEXT_TESTS.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == [], "decide by the error's class instead:\n" + "\n".join(offenders)


def test_the_scan_catches_text_tests() -> None:
    for bad in ('if not exc.reason.endswith(": not found"):', 'if "HTTP 404" in exc.reason:',
                'return error.endswith(": not found")', 'if "locked" not in str(exc):'):
        assert _TEXT_TESTS.search(bad), bad
    assert not _TEXT_TESTS.search("except NotFound:")
