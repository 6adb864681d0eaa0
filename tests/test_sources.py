"""Sources against the stand-ins: authentication, timeouts, and reasons a person can act on."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from bot.config import KubernetesSettings, RoleSettings
from bot.errors import SourceError
from bot.roles import Role, RoleResolver
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from tests.harness.kube import KubeStandin, node, pod
from tests.harness.procs import free_port
from tests.harness.slack import SlackStandin


def test_kubernetes_bearer_token_is_sent_and_required() -> None:
    with KubeStandin(token="s3cret-token") as kube:
        kube.add(node("gpu-node-0", labels={"nvidia.com/gpu.present": "true"}))
        kube.add(pod("vllm-0", node="gpu-node-0"))
        good = KubernetesSource(KubernetesSettings(
            mode="url", url=kube.url, token=SecretStr("s3cret-token"), timeout_s=5))
        assert [n.name for n in good.list_nodes("nvidia.com/gpu.present=true")] == ["gpu-node-0"]
        assert [p.name for p in good.list_pods("inference")] == ["vllm-0"]
        bad = KubernetesSource(KubernetesSettings(
            mode="url", url=kube.url, token=SecretStr("wrong"), timeout_s=5))
        with pytest.raises(SourceError, match="unauthorized"):
            bad.list_nodes("nvidia.com/gpu.present=true")


def test_kubernetes_timeout_is_enforced() -> None:
    with KubeStandin() as kube:
        kube.delay(r"/api/v1/nodes", 5)
        source = KubernetesSource(KubernetesSettings(mode="url", url=kube.url, timeout_s=0.5))
        started = time.monotonic()
        with pytest.raises(SourceError, match="timed out"):
            source.list_nodes("a=b")
        assert time.monotonic() - started < 3  # one quick retry at most


def test_prometheus_unreachable_and_bad_query_reasons() -> None:
    dead = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    with pytest.raises(SourceError, match="cannot connect"):
        dead.query("up")
    assert dead.queries_issued == 1


def test_pod_health_reads_container_states() -> None:
    with KubeStandin() as kube:
        kube.add(pod("ok-0"))
        kube.add(pod("crash-0", waiting_reason="CrashLoopBackOff",
                     last_terminated_reason="OOMKilled", restarts=4))
        kube.add(pod("pull-0", phase="Pending", waiting_reason="ImagePullBackOff"))
        source = KubernetesSource(KubernetesSettings(mode="url", url=kube.url))
        pods = {p.name: p for p in source.list_pods("inference")}
    assert pods["ok-0"].healthy
    crash = pods["crash-0"]
    assert (crash.phase, crash.healthy) == ("Running", False)  # phase alone would lie
    assert crash.reason == "CrashLoopBackOff, last: OOMKilled, exit 137"
    assert crash.restarts == 4
    assert pods["pull-0"].reason == "ImagePullBackOff"


def test_kubernetes_lists_are_paged_and_complete() -> None:
    """Lists go a page at a time with the API server's continue token, and come back whole."""
    with KubeStandin() as kube:
        for i in range(1203):
            kube.add(pod(f"vllm-{i:04d}", node="gpu-node-0"))
        kube.add(pod("other-ns", namespace="default"))
        src = KubernetesSource(KubernetesSettings(mode="url", url=kube.url, timeout_s=5),
                               page_size=500)
        pods = src.list_pods("inference")
        assert len(pods) == 1203 and len({p.name for p in pods}) == 1203
        lists = [r for r in kube.requests if r.verb == "list"]
        assert [r.query.get("limit") for r in lists] == ["500", "500", "500"]
        assert "continue" not in lists[0].query and all("continue" in r.query for r in lists[1:])
        assert len(src.nodes("nvidia.com/gpu.present=true")) == 0  # an empty list: one call


def test_roles_from_users_and_usergroups() -> None:
    from slack_sdk import WebClient

    from bot.slack.client import usergroup_members

    with SlackStandin() as slack:
        slack.usergroups = {"S0ONCALL": ["U2", "U3"]}
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        resolver = RoleResolver(RoleSettings(responders=["S0ONCALL", "U4"], admins=["U9"]),
                                usergroup_members(client))
        roles = {u: resolver.role_of(u) for u in ("U1", "U2", "U3", "U4", "U9")}
        calls = len(slack.calls_to("usergroups.users.list"))
    assert roles == {"U1": Role.VIEWER, "U2": Role.RESPONDER, "U3": Role.RESPONDER,
                     "U4": Role.RESPONDER, "U9": Role.ADMIN}
    assert calls == 1  # membership is cached


def test_roles_fail_closed_when_slack_is_unreachable() -> None:
    def broken(_: str) -> list[str]:
        raise OSError("connection refused")

    resolver = RoleResolver(RoleSettings(responders=["S0ONCALL"]), broken)
    assert resolver.role_of("U2") is Role.VIEWER
    # The lookup failure is said, not passed off as "you are a viewer" (defect o).
    caller = resolver.caller("U2")
    assert caller.lookup_error == "Slack did not list usergroup S0ONCALL (OSError)"
    refusal = caller.refusal("acknowledge alerts", Role.RESPONDER)
    assert refusal.startswith("Could not check whether you are one of the responders")
    assert "you are a viewer" not in refusal


def test_a_failed_usergroup_lookup_is_logged_with_slacks_error() -> None:
    """Slack's error from usergroups.users.list (here a usergroup it does not know): logged
    with the code, told to the user."""
    import structlog.testing
    from slack_sdk import WebClient

    from bot.slack.client import usergroup_members

    with SlackStandin() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        resolver = RoleResolver(RoleSettings(responders=["S0ONCALL"]), usergroup_members(client))
        with structlog.testing.capture_logs() as logs:
            caller = resolver.caller("U2")
    assert caller.role is Role.VIEWER and caller.lookup_error is not None
    assert "no_such_subteam" in caller.lookup_error
    (entry,) = [e for e in logs if e["event"] == "usergroup_lookup_failed"]
    assert entry["usergroup"] == "S0ONCALL" and entry["error"] == "no_such_subteam"
