"""The bot watched the way a cluster watches it: the real Prometheus scrapes the real bot's
/metrics (job genai-ops-bot, as the ServiceMonitor names it) and the series the alert rules
read are there, with the values the alert path gave them. And its runbook pages."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from bot.runbooks import Runbook, Step
from bot.runbooks.pages import page
from tests.harness.alerts import attachment_blocks, notification, wait
from tests.harness.bots import WEBHOOK_TOKEN, BotFactory
from tests.harness.kube import KubeStandin
from tests.harness.procs import PrometheusProcess, require_binary
from tests.harness.slack import SlackStandin

JOB = "genai-ops-bot"


def value(prom: PrometheusProcess, expr: str) -> float:
    result = prom.query(expr)
    return float(result[0]["value"][1]) if result else 0.0


def test_prometheus_scrapes_the_alert_path(slack: SlackStandin, make_bot: BotFactory) -> None:
    require_binary("prometheus", "the real Prometheus scrapes the bot")
    with KubeStandin() as kube:
        bot = make_bot("http://127.0.0.1:1", kube.url)
        target = urlsplit(bot.url).netloc
        scrape = {"job_name": JOB, "scrape_interval": "1s", "metrics_path": "/metrics",
                  "static_configs": [{"targets": [target]}]}
        with PrometheusProcess([], extra_scrape_configs=[scrape]) as prom:
            prom.wait_until(f'up{{job="{JOB}"}}', lambda r: bool(r) and r[0]["value"][1] == "1")
            counted = ("stored", "duplicate", "400", "401", "413")
            before = {o: value(prom, f'genai_bot_webhook_requests_total{{outcome="{o}"}}')
                      for o in counted}
            posts_before = value(prom, 'genai_bot_slack_api_calls_total{method='
                                       '"chat.postMessage",outcome="ok"}')
            url, auth = f"{bot.url}/alertmanager", {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
            body = notification(alertname="GPUMemoryHigh")
            assert httpx.post(url, json=body, headers=auth).status_code == 200
            assert httpx.post(url, json=body, headers=auth).status_code == 200  # duplicate
            assert httpx.post(url, json=body).status_code == 401
            assert httpx.post(url, content=b"{", headers=auth).status_code == 400
            big = b"x" * (bot.settings.alerts.webhook_max_bytes + 1)
            assert httpx.post(url, content=big, headers=auth).status_code == 413
            wait(lambda: any("incident_ack" in json.dumps(m.get("attachments"))
                             for msgs in slack.messages.values() for m in msgs), "the card")

            def scraped() -> bool:
                return all(value(prom, f'genai_bot_webhook_requests_total{{outcome="{o}"}}')
                           == before[o] + 1 for o in counted)

            wait(scraped, "every webhook outcome counted once", timeout=20)
            wait(lambda: value(prom, 'genai_bot_slack_api_calls_total{method='
                                     '"chat.postMessage",outcome="ok"}') >= posts_before + 2,
                 "the card and the runbook counted as Slack calls", timeout=20)
            wait(lambda: value(prom, "genai_bot_alert_to_post_seconds_count") >= 1,
                 "the alert-to-post histogram", timeout=20)
            assert value(prom, "genai_bot_notification_to_post_seconds_count") >= 1
            # The notification's startsAt is in the past: that latency is the longer one.
            assert value(prom, "genai_bot_alert_to_post_seconds_sum") > value(
                prom, "genai_bot_notification_to_post_seconds_sum")
            wait(lambda: value(prom, 'genai_bot_outbox_rows{state="done"}') >= 2,
                 "the outbox rows by state", timeout=20)
            assert value(prom, "genai_bot_outbox_oldest_pending_age_seconds") == 0
            assert value(prom, 'genai_bot_webhook_requests_total{outcome="503"}') == 0
            for series in ("genai_bot_job_queue_depth", "genai_bot_jobs_in_flight",
                           "process_cpu_seconds_total", "process_resident_memory_bytes",
                           "python_info", "python_gc_collections_total"):
                assert prom.query(f'{series}{{job="{JOB}"}}'), series


def test_runbook_pages_and_the_cards_link_to_them(slack: SlackStandin,
                                                  make_bot: BotFactory) -> None:
    """Every rule's runbook_url path is a page the bot serves (HTML, never raw YAML), and
    with GENAI_HTTP__PUBLIC_URL the card links the bot's page."""
    from pathlib import Path

    rules = yaml.safe_load((Path(__file__).resolve().parent.parent / "manifests" /
                            "prometheus-rules.yaml").read_text())
    urls = {r["annotations"]["runbook_url"] for g in rules["spec"]["groups"]
            for r in g["rules"] if "alert" in r}
    with KubeStandin() as kube:
        bot = make_bot("http://127.0.0.1:1", kube.url,
                       http={"public_url": "https://genai-bot.example.org/"})
        index = httpx.get(f"{bot.url}/runbooks/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        for url in sorted(urls):
            path = urlsplit(url).path
            assert path.startswith("/runbooks/") and not path.endswith(".yaml"), url
            page_ = httpx.get(f"{bot.url}{path}")
            assert page_.status_code == 200, url
            assert "<h2>Diagnosis</h2>" in page_.text and "<h2>Mitigation</h2>" in page_.text
            assert f'href="{path.rsplit("/", 1)[1]}"' in index.text
        xid = httpx.get(f"{bot.url}/runbooks/GPUXidError").text
        assert "<h2>Codes</h2>" in xid and "<td>79</td>" in xid
        assert httpx.get(f"{bot.url}/runbooks/gpu-oom").status_code == 200  # by id too
        assert httpx.get(f"{bot.url}/runbooks/NoSuchAlert").status_code == 404

        resp = httpx.post(f"{bot.url}/alertmanager", json=notification(alertname="GPUMemoryHigh"),
                          headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
        assert resp.status_code == 200
        card = wait(lambda: next((m for msgs in slack.messages.values() for m in msgs
                                  if "incident_ack" in json.dumps(m.get("attachments"))), None),
                    "the card")
        links = json.dumps(attachment_blocks(card))
        assert "<https://genai-bot.example.org/runbooks/GPUMemoryHigh|Runbook>" in links
        assert ".yaml" not in links


def test_a_runbook_page_escapes_its_text() -> None:
    hostile = Runbook(id="x", alert="X", title="<script>alert(1)</script>", severity=None,
                      meaning="a & b", impact="<b>", diagnosis=[Step(text="t", command="a<b")],
                      mitigation=[Step(text="m", snippet="</pre>")], diag_scenario=None)
    html: Any = page(hostile)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "a &amp; b" in html and "a&lt;b" in html and "&lt;/pre&gt;" in html

