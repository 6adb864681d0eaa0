"""`make demo`: the real bot, end to end, on a local sandbox.

The synthetic exporter feeds the real Prometheus, which runs the shipped alert rules (with a
short `for`); the real Alertmanager routes the alerts to the bot's webhook. The Kubernetes
stand-in serves a cluster in trouble, and the Slack stand-in plays Slack: it carries your
`/genai` commands and button clicks to the bot over the real Socket Mode websocket and shows
what the bot posts. Without Prometheus/Alertmanager installed, the demo says so and posts one
notification to the webhook itself, the way Alertmanager would.
Interactive on a terminal; a scripted tour otherwise.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from bot.config import load_settings
from bot.logs import configure_logging
from bot.server import Bot
from bot.words import plural
from tests.harness import fleet
from tests.harness.blockkit import blocks_to_text
from tests.harness.exporter import SyntheticExporter
from tests.harness.kube import KubeStandin
from tests.harness.procs import AlertmanagerProcess, PrometheusProcess, find_binary, free_port
from tests.harness.slack import SlackStandin

USER = "U0ONCALL"  # you, a responder
TOKEN = "demo-webhook-token"
ROOT = Path(__file__).resolve().parent.parent
HELP = """Type a /genai command (e.g. /genai status, /genai gpu, /genai diag oom
vllm-llama-2-7b-1, /genai gameday start gpu-overheat, /genai gameday end), or click a button
on an alert: ack N, silence N 1h|4h|24h, unsilence N, diag N, resolve N (N from the list of
alerts below, 1 = the first, 'last' the newest). 'quit' ends the demo."""


def _rules(tmp: Path) -> Path:
    spec = yaml.safe_load((ROOT / "manifests" / "prometheus-rules.yaml").read_text())["spec"]
    for group in spec["groups"]:
        group["interval"] = "2s"
        for rule in group["rules"]:
            rule["for"] = "2s"
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _am_config(bot_port: int) -> str:
    return yaml.safe_dump({
        "route": {"receiver": "bot", "group_by": ["alertname", "severity"],
                  "group_wait": "2s", "group_interval": "5s", "repeat_interval": "4h"},
        "receivers": [{"name": "bot", "webhook_configs": [{
            "url": f"http://127.0.0.1:{bot_port}/alertmanager", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}}}]}],
    })


class Printer:
    """Shows every message the bot posts or edits, as a person would see it in Slack."""

    def __init__(self, slack: SlackStandin) -> None:
        self.slack = slack
        self.seen = 0
        self.alerts: list[tuple[str, str]] = []  # (channel, ts) of each alert message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.flush()

    def flush(self) -> None:
        calls = self.slack.calls
        while self.seen < len(calls):
            call = calls[self.seen]
            self.seen += 1
            if call.method not in ("chat.postMessage", "chat.update") or not call.ok:
                continue
            p = call.params
            blocks = list(_json(p.get("blocks")) or [])
            for att in _json(p.get("attachments")) or []:
                blocks.extend(att.get("blocks") or [])
            where = str(p.get("channel", "?"))
            where = "#" + self.slack.channel_names[where] if where in self.slack.channel_names \
                else where
            if call.method == "chat.postMessage" and p.get("thread_ts"):
                label = f"thread reply in {where}"
            elif call.method == "chat.update":
                label = f"edited in {where}"
            elif "incident_ack" in json.dumps(blocks):  # an alert, with its buttons
                resp = call.response
                self.alerts.append((str(resp.get("channel")), str(resp.get("ts"))))
                label = f"alert #{len(self.alerts)} posted in {where}"
            else:
                label = f"posted in {where}"
            text = blocks_to_text(blocks) if blocks else str(p.get("text", ""))
            print(f"\n┌─ {label}\n" + "\n".join(f"│ {line}" for line in text.splitlines())
                  + "\n└─", flush=True)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@contextlib.contextmanager
def sandbox(workdir: Path) -> Iterator[tuple[SlackStandin, Printer, Bot, bool]]:
    with contextlib.ExitStack() as stack:
        # Opened first so it closes last: the stand-ins log while they shut down.
        log = stack.enter_context((workdir / "bot.log").open("w"))
        configure_logging("json", "info", stream=log)
        exporter = stack.enter_context(SyntheticExporter())
        kube = stack.enter_context(KubeStandin())
        slack = stack.enter_context(SlackStandin())
        fleet.unhealthy(exporter, kube)
        port = free_port()
        prometheus_url = alertmanager_url = f"http://127.0.0.1:{free_port()}"
        live = bool(find_binary("prometheus") and
                    find_binary("prometheus-alertmanager", "alertmanager"))
        if live:
            am = stack.enter_context(AlertmanagerProcess(_am_config(port)))
            prom = stack.enter_context(PrometheusProcess(
                [exporter.target], rule_files=[_rules(workdir)], alertmanager_url=am.url))
            print(f"prometheus    {prom.url} (real), running the shipped alert rules")
            print(f"alertmanager  {am.url} (real), routing to the bot's webhook")
            prom.wait_for_scrape()
            prometheus_url, alertmanager_url = prom.url, am.url
        else:
            print("note: prometheus/alertmanager are not installed (as root on Debian: apt-get "
                  "install prometheus prometheus-alertmanager); metric rows read 'unknown' and "
                  "the demo sends one alert to the webhook itself.")
        print(f"kubernetes    {kube.url} (stand-in: 3 GPU nodes, one NotReady; an OOM crash "
              "loop)")
        print(f"slack         {slack.api_url} (stand-in, Socket Mode on ws://127.0.0.1:"
              f"{slack.ws_port})")
        settings = load_settings(
            slack={"bot_token": slack.bot_token, "app_token": slack.app_token,
                   "api_base_url": slack.api_url, "mode": "socket"},
            http={"host": "127.0.0.1", "port": port},
            prometheus={"url": prometheus_url, "timeout_s": 5},
            kubernetes={"mode": "url", "url": kube.url, "timeout_s": 5},
            alertmanager={"url": alertmanager_url},
            roles={"responders": [USER], "admins": [USER]},
            webhook_token=TOKEN,
            database_url=f"sqlite:///{workdir / 'demo.db'}",
        )
        bot = Bot(settings).start()
        stack.callback(bot.stop)
        if not slack.socket_connected(timeout=10):
            raise SystemExit("the bot did not connect over Socket Mode")
        print(f"bot           {bot.url} (/alertmanager, /healthz, /readyz, /metrics); log in "
              f"{workdir / 'bot.log'}")
        if not live:
            _post_one_alert(bot.url)
        printer = Printer(slack)
        printer.start()
        stack.callback(printer.stop)
        yield slack, printer, bot, live


def _post_one_alert(url: str) -> None:
    labels = {"alertname": "GPUMemoryHigh", "severity": "warning", "Hostname": "gpu-node-1",
              "gpu": "3"}
    body = {"version": "4", "groupKey": '{}:{alertname="GPUMemoryHigh", severity="warning"}',
            "truncatedAlerts": 0, "status": "firing", "receiver": "genai-ops-bot",
            "groupLabels": {"alertname": "GPUMemoryHigh", "severity": "warning"},
            "commonLabels": labels,
            "commonAnnotations": {"summary": "GPU memory above 90%",
                                  "description": "GPU 3 on gpu-node-1 is at 95% memory."},
            "externalURL": "http://alertmanager.demo:9093",
            "alerts": [{"status": "firing", "labels": labels,
                        "annotations": {"description": "GPU 3 on gpu-node-1 is at 95% memory."},
                        "startsAt": "2026-11-28T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "", "fingerprint": "demo"}]}
    httpx.post(f"{url}/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})


def slash(slack: SlackStandin, printer: Printer, line: str) -> None:
    text = line.strip().removeprefix("/genai").strip()
    before = len(slack.calls_to("response_url"))
    envelope = slack.socket_send_slash_command(text, user_id=USER)
    ack = slack.wait_socket_ack(envelope, timeout=3.0)
    payload = ack.get("payload") or {}
    print(f"[acked in {ack['latency'] * 1000:.0f} ms]")
    if payload.get("blocks"):  # usage or refusal: answered in the ack, no job runs
        print(blocks_to_text(payload["blocks"]))
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        calls = slack.calls_to("response_url")
        if len(calls) > before:
            msg = calls[before].params
            who = "the channel" if msg.get("response_type") == "in_channel" else "only you"
            print(f"[answer, seen by {who}]")
            print(blocks_to_text(msg.get("blocks") or []) or msg.get("text", ""))
            return
        time.sleep(0.05)
    print("(no answer within 30 s)")


CLICKS = {"ack": "incident_ack", "silence": "incident_silence",
          "unsilence": "incident_unsilence", "diag": "incident_diag",
          "resolve": "incident_resolve"}


def click(slack: SlackStandin, printer: Printer, bot: Bot, words: list[str]) -> None:
    verb = words[0]
    try:
        which = -1 if words[1] == "last" else int(words[1]) - 1
        channel, ts = printer.alerts[which]
    except (IndexError, ValueError):
        print(f"which alert? e.g. '{verb} 1' ({plural(len(printer.alerts), 'alert')} so far)")
        return
    value = None
    if verb == "silence":
        duration = words[2] if len(words) > 2 else "1h"
        incident = next((i for i in bot.runtime.store.incidents.open(include_drills=True)
                         if i.slack_ts == ts), None)
        if incident is None:
            print("that alert is no longer open")
            return
        value = f"{incident.public_id}|{duration}"
    try:
        envelope = slack.socket_send_block_action(CLICKS[verb], value=value, user_id=USER,
                                                  channel_id=channel, message_ts=ts)
    except AssertionError as exc:  # the button is not on the message any more
        print(f"cannot click that: {exc}")
        return
    slack.wait_socket_ack(envelope, timeout=3.0)
    time.sleep(1.5)  # the edit and the thread note arrive through the outbox
    printer.flush()


def wait_for_alerts(printer: Printer, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(printer.alerts) < n and time.monotonic() < deadline:
        time.sleep(0.2)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="genai-demo-"))
    with sandbox(workdir) as (slack, printer, bot, live):
        if sys.stdin.isatty():
            print("\n" + HELP)
            while True:
                try:
                    line = input("\n> ").strip()
                except (EOFError, KeyboardInterrupt):
                    break
                words = line.split()
                if not words:
                    continue
                if words[0] in ("quit", "exit"):
                    break
                if words[0] in CLICKS:
                    click(slack, printer, bot, words)
                else:
                    slash(slack, printer, line)
        else:
            print("\nWaiting for the first alerts from Alertmanager…")
            wait_for_alerts(printer, 1, timeout=60)
            time.sleep(3)
            printer.flush()
            drill = "/genai gameday start gpu-overheat" + ("" if live else " --no-inject")
            for step in ("ack 1", "diag 1", "/genai alerts", "/genai status", "/genai gpu",
                         "/genai diag oom vllm-llama-2-7b-1", drill, "wait-drill",
                         "ack last", "/genai gameday end", "/genai gameday", "/genai report 7d",
                         "/genai frobnicate"):
                if step == "wait-drill":  # the injected alert goes round Alertmanager
                    if live:
                        wait_for_alerts(printer, len(printer.alerts) + 1, timeout=30)
                        time.sleep(1)
                        printer.flush()
                    continue
                if step == "ack last" and not live:
                    continue  # no drill alert was injected: nothing new to acknowledge
                print(f"\n> {step}")
                words = step.split()
                if words[0] in CLICKS:
                    click(slack, printer, bot, words)
                else:
                    slash(slack, printer, step)
            time.sleep(1.5)  # the drill report arrives through the outbox
            printer.flush()
            print("\nDemo tour done.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
