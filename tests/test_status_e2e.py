"""`/genai status` end to end: signed Slack requests to the real Bolt app in HTTP mode, real
Prometheus scraping the synthetic exporter, the Kubernetes stand-in; and once over Socket Mode.
"""

from __future__ import annotations

import tempfile
import time

import httpx
import pytest

from bot.report import Status
from tests.harness.bots import BotFactory, Cluster
from tests.harness.procs import free_port
from tests.harness.rbac import assert_all_allowed
from tests.harness.slack import Call, SlackStandin
from tests.slackparse import rows, section_texts

ALL_CHECKS = {"GPU nodes Ready", "Model pods Running", "Error rate", "P99 latency",
              "GPU utilisation", "GPU memory"}


def _report(slack: SlackStandin, timeout: float = 15) -> Call:
    return slack.wait_for(
        lambda c: c.method == "response_url" and c.ok and bool(c.params.get("blocks")),
        timeout=timeout,
    )


def _ask(slack: SlackStandin, url: str, text: str) -> httpx.Response:
    resp = slack.send_slash_command(url + "/slack/events", text)
    assert resp.status_code == 200, resp.text
    return resp


def test_healthy_cluster_is_all_ok(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    c = clusters["healthy"]
    bot = make_bot(c.prometheus_url, c.kube.url)
    ack = _ask(slack, bot.url, "status")
    assert "Working on /genai status" in ack.json()["text"]
    report = _report(slack)
    assert report.params["response_type"] == "in_channel"
    got = rows(report.params["blocks"])
    assert set(got) == ALL_CHECKS
    assert {check: status for check, (status, _, _) in got.items()} == dict.fromkeys(
        ALL_CHECKS, Status.OK)
    assert got["GPU nodes Ready"][1] == "3/3 Ready"  # the CPU node is not counted
    assert got["Model pods Running"][1] == "3/3 Running"
    assert got["Error rate"][1].startswith("0.2")  # llama 0.2% is the worst model
    assert "llama-2-7b" in got["Error rate"][1]
    assert got["GPU memory"][1] == "49% max"  # 40000 / (40000 + 41000)
    assert "24 GPUs" in got["GPU utilisation"][2]
    assert_all_allowed(c.kube.requests)  # the deployed ClusterRole allows every call


def test_unhealthy_cluster_names_what_is_wrong(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    c = clusters["unhealthy"]
    bot = make_bot(c.prometheus_url, c.kube.url)
    _ask(slack, bot.url, "status")
    got = rows(_report(slack).params["blocks"])
    status = {check: s for check, (s, _, _) in got.items()}
    assert status == {"GPU nodes Ready": Status.FAIL, "Model pods Running": Status.FAIL,
                      "Error rate": Status.FAIL, "P99 latency": Status.FAIL,
                      "GPU utilisation": Status.WARN, "GPU memory": Status.FAIL}
    assert got["GPU nodes Ready"][1] == "2/3 Ready"
    assert "gpu-node-2 (KubeletNotReady)" in got["GPU nodes Ready"][2]
    pods = got["Model pods Running"]
    assert pods[1] == "1/3 Running"
    assert "vllm-llama-2-7b-1: CrashLoopBackOff, last: OOMKilled, exit 137" in pods[2]
    assert "vllm-llama-70b-0: Unschedulable" in pods[2]
    assert got["Error rate"][1].startswith("3.0") and "(llama-2-7b)" in got["Error rate"][1]
    assert "mistral-7b 0.10%" in got["Error rate"][2]
    p99 = float(got["P99 latency"][1].split()[0])
    assert 6.5 < p99 < 7.5
    assert got["GPU utilisation"][1] == "12% avg"
    # The hot GPU is on an exporter that spells the host label `hostname`.
    assert got["GPU memory"][1] == "95% max"
    assert "worst gpu-node-1/gpu3; 1 of 24 GPUs over 90%" in got["GPU memory"][2]


def test_forged_or_stale_signatures_get_401(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    c = clusters["healthy"]
    bot = make_bot(c.prometheus_url, c.kube.url)
    url = bot.url + "/slack/events"
    forged = slack.send_slash_command(url, "status", sign_with="not-the-secret")
    stale = slack.send_slash_command(url, "status", timestamp=int(time.time()) - 301)
    assert (forged.status_code, stale.status_code) == (401, 401)
    time.sleep(0.5)
    assert slack.calls_to("response_url") == []  # nothing ran


def test_prometheus_down_makes_metric_rows_unknown(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    c = clusters["healthy"]
    dead = f"http://127.0.0.1:{free_port()}"
    bot = make_bot(dead, c.kube.url)
    _ask(slack, bot.url, "status")
    got = rows(_report(slack).params["blocks"])
    assert set(got) == ALL_CHECKS
    for check in ("Error rate", "P99 latency", "GPU utilisation", "GPU memory"):
        s, value, detail = got[check]
        assert (s, value) == (Status.UNKNOWN, "unknown")
        assert f"prometheus: cannot connect to {dead}" in detail
    assert got["GPU nodes Ready"][0] is Status.OK  # Kubernetes rows are unaffected


def test_kubernetes_500_makes_kubernetes_rows_unknown(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    c = clusters["healthy"]
    c.kube.fail(r"^/api/v1/", status=500)
    try:
        bot = make_bot(c.prometheus_url, c.kube.url)
        _ask(slack, bot.url, "status")
        got = rows(_report(slack).params["blocks"])
    finally:
        c.kube.clear_faults()
    for check in ("GPU nodes Ready", "Model pods Running"):
        s, _, detail = got[check]
        assert s is Status.UNKNOWN
        assert "API server answered 500" in detail
    assert got["Error rate"][0] is Status.OK
    assert "Traceback" not in str(got)


def test_kubernetes_403_says_which_permission(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    c = clusters["healthy"]
    c.kube.fail(r"/pods", status=403)
    try:
        bot = make_bot(c.prometheus_url, c.kube.url)
        _ask(slack, bot.url, "status")
        got = rows(_report(slack).params["blocks"])
    finally:
        c.kube.clear_faults()
    s, _, detail = got["Model pods Running"]
    assert s is Status.UNKNOWN
    assert "list pods -n inference: forbidden" in detail


def test_status_over_socket_mode_end_to_end(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    c = clusters["unhealthy"]
    make_bot(c.prometheus_url, c.kube.url, mode="socket")
    assert slack.socket_connected(timeout=10)
    envelope = slack.socket_send_slash_command("status")
    ack = slack.wait_socket_ack(envelope, timeout=3.0)
    assert ack["latency"] < 3.0
    assert "Working on /genai status" in ack["payload"]["text"]
    got = rows(_report(slack).params["blocks"])
    assert got["Model pods Running"][0] is Status.FAIL
    assert got["GPU memory"][1] == "95% max"


@pytest.mark.parametrize("text", ["", "frobnicate", "'unbalanced"])
def test_bad_subcommands_get_usage_privately(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin, text: str
) -> None:
    c = clusters["healthy"]
    bot = make_bot(c.prometheus_url, c.kube.url)
    body = _ask(slack, bot.url, text).json()  # answered in the ack itself: no job runs
    assert body["response_type"] == "ephemeral"
    assert "Usage: /genai" in " ".join(section_texts(body["blocks"]))


def test_bad_arguments_get_usage_privately(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    c = clusters["healthy"]
    bot = make_bot(c.prometheus_url, c.kube.url)
    _ask(slack, bot.url, "status extra")
    answer = _report(slack)
    assert answer.params["response_type"] == "ephemeral"
    text = " ".join(section_texts(answer.params["blocks"]))
    assert "unexpected argument 'extra'" in text and "Usage: /genai" in text


def test_overlong_and_hostile_arguments(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    c = clusters["healthy"]
    bot = make_bot(c.prometheus_url, c.kube.url)
    long = _ask(slack, bot.url, "status " + "x" * 600).json()
    assert "limit is 500" in " ".join(section_texts(long["blocks"]))
    hostile = _ask(slack, bot.url, "'<!channel> *bold* `x` 한국어'").json()
    text = " ".join(section_texts(hostile["blocks"]))
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "한국어" in text


def test_help_and_http_endpoints(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    c = clusters["healthy"]
    bot = make_bot(c.prometheus_url, c.kube.url)
    _ask(slack, bot.url, "help")
    text = " ".join(section_texts(_report(slack).params["blocks"]))
    assert "/genai status" in text and "/genai help" in text
    assert httpx.get(bot.url + "/healthz").text == "ok"
    assert httpx.get(bot.url + "/readyz").status_code == 200
    metrics = httpx.get(bot.url + "/metrics").text
    assert 'genai_bot_commands_total{command="help",outcome="ok"}' in metrics
    assert "genai_bot_ack_seconds_bucket" in metrics


def test_concurrent_slow_commands_are_all_acked(
    clusters: dict[str, Cluster], make_bot: BotFactory, slack: SlackStandin
) -> None:
    """Twenty commands at once whose Kubernetes calls take 4 s: every one is acked (Slack
    would show the rest an error), and every report still arrives."""
    from concurrent.futures import ThreadPoolExecutor

    c = clusters["healthy"]
    c.kube.delay(r"/api/v1/", 4)
    try:
        bot = make_bot(c.prometheus_url, c.kube.url, kubernetes={"timeout_s": 10})
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(
                lambda _: slack.send_slash_command(bot.url + "/slack/events", "status"),
                range(20)))
        assert [a.status_code for a in answers] == [200] * 20
        assert all(d.acked_in_time for d in slack.deliveries)
        deadline = time.monotonic() + 30
        while len(slack.calls_to("response_url", ok=True)) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        reports = slack.calls_to("response_url", ok=True)
    finally:
        c.kube.clear_faults()
    assert len(reports) == 20
    assert all(rows(r.params["blocks"])["GPU nodes Ready"][0] is Status.OK for r in reports)


def test_cli_ask_prints_the_same_report_as_text(clusters: dict[str, Cluster]) -> None:
    import os
    import subprocess
    import sys

    c = clusters["unhealthy"]
    env = {**os.environ, "GENAI_PROMETHEUS__URL": c.prometheus_url,
           "GENAI_DATABASE_URL": f"sqlite:///{tempfile.mkdtemp()}/bot.db",
           "GENAI_KUBERNETES__MODE": "url", "GENAI_KUBERNETES__URL": c.kube.url}
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "ask", "status"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Daily checklist — 1 warn, 5 fail"
    assert any(line.split()[:4] == ["fail", "GPU", "nodes", "Ready"] for line in lines)
    assert "vllm-llama-2-7b-1: CrashLoopBackOff, last: OOMKilled, exit 137" in proc.stdout
