"""The service DNS check against the real system resolver: `localhost` resolves, a `.invalid`
name does not (RFC 6761), and the control name tells "no record" from "not in the cluster"."""

from __future__ import annotations

import time

import pytest

from bot.errors import SourceError
from bot.report import Status
from bot.sources.dns import Resolver
from commands.diag import network
from commands.diag.common import Findings


class LocalControl(Resolver):
    """The real resolver, with the cluster's control name answered by `localhost`: a bot
    that can reach cluster DNS but asks for a service that has no record."""

    def resolve(self, host: str) -> list[str]:
        return super().resolve("localhost" if host.startswith("kubernetes.default.") else host)


def test_localhost_resolves_through_the_system_resolver() -> None:
    addresses = Resolver(2.0).resolve("localhost")
    assert {"127.0.0.1", "::1"} & set(addresses)


def test_unknown_name_fails_within_the_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"no-such-service\.invalid"):
        Resolver(1.0).resolve("no-such-service.invalid")
    assert time.monotonic() - started < 1.5


def test_outside_the_cluster_is_unknown_not_fail() -> None:
    answer = Resolver(1.0).service("llama-7b", "inference", "invalid")
    assert answer.name == "llama-7b.inference.svc.invalid" and not answer.addresses
    assert answer.control == "kubernetes.default.svc.invalid" and not answer.control_ok
    found = Findings()
    network.check_dns(found, [answer])
    assert found.rows[0].status is Status.UNKNOWN
    assert "is it running in the cluster?" in found.rows[0].detail


def test_missing_record_with_working_cluster_dns_is_fail() -> None:
    answer = LocalControl(1.0).service("llama-7b", "inference", "invalid")
    assert answer.control_ok and not answer.addresses
    found = Findings()
    network.check_dns(found, [answer])
    assert found.rows[0].status is Status.FAIL
    assert found.causes == ["llama-7b.inference.svc.invalid does not resolve"]


def test_resolving_name_is_ok() -> None:
    class AllLocal(Resolver):
        def resolve(self, host: str) -> list[str]:
            return super().resolve("localhost")

    answer = AllLocal(2.0).service("llama-7b", "inference", "cluster.local")
    found = Findings()
    network.check_dns(found, [answer])
    assert found.rows[0].status is Status.OK and not found.causes
