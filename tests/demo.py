"""`make demo`: the real bot, end to end, on a local sandbox.

The synthetic exporter feeds the real Prometheus, which runs the shipped alert rules (with a
short `for`); the real Alertmanager routes the alerts to the bot's webhook. The Kubernetes
stand-in serves a cluster in trouble, and the Slack stand-in plays Slack: it carries your
`/genai` commands and button clicks to the bot over the real Socket Mode websocket and shows
what the bot posts, as a person reads it in Slack (`tests/demo_view.py`): alert cards in
full but compact, each edit as the lines that changed. Without Prometheus/Alertmanager
installed, the demo says so and posts one notification to the webhook itself, the way
Alertmanager would.

Interactive on a terminal (line editing, history in ~/.genai-bot-demo-history, Tab
completion; what the bot posts while you type never buries the prompt); a scripted tour
otherwise.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from bot.config import Settings, load_settings
from bot.gameday.catalog import default_catalog
from bot.logs import configure_logging
from bot.server import Bot
from bot.words import plural
from commands.registry import COMMANDS
from tests.demo_view import (
    Completer,
    Console,
    Feed,
    LineEditor,
    history_path,
    line_editor,
    message_blocks,
    startup_summary,
    typeahead_held,
)
from tests.harness import fleet
from tests.harness.exporter import SyntheticExporter
from tests.harness.kube import KubeStandin
from tests.harness.procs import AlertmanagerProcess, PrometheusProcess, find_binary, free_port
from tests.harness.slack import SlackStandin
from tests.harness.slack.records import Call

USER = "U0ONCALL"  # you, a responder
TOKEN = "demo-webhook-token"
ROOT = Path(__file__).resolve().parent.parent
HELP = """\
What you would type or click in Slack:
  /genai <command>       /genai status · gpu · alerts · diag oom vllm-llama-2-7b-1 ·
                         gameday start gpu-overheat · gameday end · help (lists them all)
  ack N                  the buttons on alert #N ('last': the newest): Acknowledge,
  silence N [1h|4h|24h]  Silence, Unsilence, Run diagnostics, Resolve
  unsilence N · diag N · resolve N
And the demo's own:
  show N                 alert #N in full, as it reads now
  more K                 a folded message in full
  quit                   stop the sandbox (Ctrl-D too)
Tab completes; Up/Down and Ctrl-R search the history (~/.genai-bot-demo-history)."""

CLICKS = {"ack": "incident_ack", "silence": "incident_silence",
          "unsilence": "incident_unsilence", "diag": "incident_diag",
          "resolve": "incident_resolve"}


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

    def __init__(self, slack: SlackStandin, console: Console, durations: list[str]) -> None:
        self.slack = slack
        self.console = console
        self.feed = Feed(console.view, slack.channel_names, durations)
        self.seen = 0
        # Held while a command is sent and acked, so its answer prints after the ack line.
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def alerts(self) -> list[tuple[str, str]]:
        return self.feed.alerts

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.flush()

    def flush(self) -> None:
        with self.lock:
            self.console.fit()
            calls = self.slack.calls
            while self.seen < len(calls):
                call = calls[self.seen]
                self.seen += 1
                shown = self.feed.handle(call.method, call.params, call.response, ok=call.ok)
                if shown:
                    self.console.show("\n" + shown)


@dataclass
class Demo:
    slack: SlackStandin
    printer: Printer
    bot: Bot
    settings: Settings
    live: bool
    workdir: Path
    services: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def sandbox(workdir: Path, console: Console) -> Iterator[Demo]:
    services: list[tuple[str, str, str]] = []
    notes: list[str] = []
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
            services += [("prometheus", prom.url, "real, the shipped alert rules (for: 2s)"),
                         ("alertmanager", am.url, "real, routes the alerts to the bot")]
            prom.wait_for_scrape()
            prometheus_url, alertmanager_url = prom.url, am.url
        else:
            notes.append("prometheus/alertmanager are not installed (as root on Debian: "
                         "apt-get install prometheus prometheus-alertmanager): metric rows "
                         "read 'unknown' and the demo sends one alert to the webhook itself.")
        services += [("kubernetes", kube.url, "stand-in: 3 GPU nodes, 1 NotReady, an OOM loop"),
                     ("slack", slack.api_url,
                      f"stand-in, Socket Mode on port {slack.ws_port}")]
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
        services += [("bot", bot.url, "/alertmanager /healthz /readyz /metrics"),
                     ("files", str(workdir), "bot.log, demo.db")]
        if not live:
            _post_one_alert(bot.url)
        printer = Printer(slack, console, list(settings.alerts.silence_durations))
        printer.start()
        stack.callback(printer.stop)
        yield Demo(slack, printer, bot, settings, live, workdir, services, notes)


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


def _wait_for_call(slack: SlackStandin, start: int, match: Callable[[Call], bool],
                   timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(match(c) for c in slack.calls[start:]):
            return True
        time.sleep(0.05)
    return False


def slash(demo: Demo, console: Console, line: str) -> None:
    slack, printer = demo.slack, demo.printer
    text = line.strip().removeprefix("/genai").strip()
    with printer.lock:  # the answer may not print before the ack line
        before = len(slack.calls)
        envelope = slack.socket_send_slash_command(text, user_id=USER)
        ack = slack.wait_socket_ack(envelope, timeout=3.0)
        payload = ack.get("payload") or {}
        took = f"acked in {ack['latency'] * 1000:.0f} ms"
        if payload.get("blocks"):  # usage or refusal: answered in the ack, no job runs
            console.show(printer.feed.answer(payload, f"answer, only you see it · {took}"))
            return
        working = console.view.text({"text": str(payload.get("text") or "")})
        console.note(f"{working} ({took})" if working else took)
    if not _wait_for_call(slack, before, lambda c: c.method == "response_url", timeout=30):
        console.note("(no answer within 30 s)")
    printer.flush()


def click(demo: Demo, console: Console, words: list[str]) -> None:
    slack, printer = demo.slack, demo.printer
    verb = words[0]
    try:
        which = -1 if words[1] == "last" else int(words[1]) - 1
        channel, ts = printer.alerts[which]
    except (IndexError, ValueError):
        console.show(f"which alert? e.g. '{verb} 1' "
                     f"({plural(len(printer.alerts), 'alert')} so far)")
        return
    value = None
    if verb == "silence":
        duration = words[2] if len(words) > 2 else demo.settings.alerts.silence_durations[0]
        incident = next((i for i in demo.bot.runtime.store.incidents.open(include_drills=True)
                         if i.slack_ts == ts), None)
        if incident is None:
            console.show("that alert is no longer open")
            return
        value = f"{incident.public_id}|{duration}"
    printer.feed.unfolded.add(ts)  # replies to an alert you act on are shown in full
    start = len(slack.calls)
    try:
        envelope = slack.socket_send_block_action(CLICKS[verb], value=value, user_id=USER,
                                                  channel_id=channel, message_ts=ts)
    except AssertionError as exc:  # the button is not on the message any more
        console.show(f"cannot click that: {exc}")
        return
    slack.wait_socket_ack(envelope, timeout=3.0)
    # The edit and the thread note arrive through the outbox; a diagnosis as a reply.
    if verb == "diag":
        _wait_for_call(slack, start, lambda c: c.params.get("thread_ts") == ts, timeout=10)
    else:
        _wait_for_call(slack, start, lambda c: c.method == "chat.update"
                       and c.params.get("ts") == ts, timeout=5)
        _wait_for_call(slack, start, lambda c: c.params.get("thread_ts") == ts, timeout=1.5)
    printer.flush()


def show(demo: Demo, console: Console, words: list[str]) -> None:
    feed, view = demo.printer.feed, console.view
    try:
        number = int(words[1])
    except (IndexError, ValueError):
        console.show(f"usage: {words[0]} N")
        return
    if words[0] == "more":
        if not 1 <= number <= len(feed.folded):
            console.show(f"no folded message {number} ({len(feed.folded)} so far)")
            return
        console.show(view.frame(f"folded message {number}, in full", feed.folded[number - 1]))
        return
    seen = feed.current(number)
    if seen is None:
        console.show(f"no alert #{number} ({plural(len(feed.alerts), 'alert')} so far)")
        return
    _, color = message_blocks(seen.message)
    console.show(view.frame(f"alert #{number}, as it reads now", seen.lines, color=color))


def run(demo: Demo, console: Console, line: str) -> bool:
    """One command line; False to end the demo."""
    words = line.split()
    if not words:
        return True
    verb = words[0].lower()
    if verb in ("quit", "exit", "q"):
        return False
    if verb in ("help", "?"):
        console.show(HELP)
    elif verb in ("show", "more"):
        show(demo, console, [verb, *words[1:]])
    elif verb in CLICKS and len(words) > 1 and (words[1] == "last" or words[1].isdigit()):
        click(demo, console, [verb, *words[1:]])
    elif verb in CLICKS and len(words) == 1:
        click(demo, console, [verb])  # says which alerts there are
    else:
        slash(demo, console, line)
    return True


def wait_for_alerts(printer: Printer, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(printer.alerts) < n and time.monotonic() < deadline:
        time.sleep(0.2)


def interactive(demo: Demo, console: Console) -> None:
    completer = Completer(
        {c.name: c.usage for c in COMMANDS.values()},
        scenarios=[s.id for s in default_catalog().scenarios],
        durations=list(demo.settings.alerts.silence_durations),
        alert_count=lambda: len(demo.printer.alerts),
    )
    editor: LineEditor | None = line_editor(history_path(demo.workdir), completer)
    console.note("Alerts arrive within seconds. Try /genai status, ack 1, diag 1 · help · "
                 "Tab completes · quit")
    try:
        while True:
            try:
                line = console.read("> ", editor).strip()
            except (EOFError, KeyboardInterrupt):
                console.show("")
                break
            try:
                if not run(demo, console, line):
                    break
            except KeyboardInterrupt:
                console.note("(interrupted)")
    finally:
        if editor is not None:
            editor.save()
        console.note("Stopping the sandbox…")


def tour(demo: Demo, console: Console) -> None:
    printer = demo.printer
    console.note("Waiting for the first alerts from Alertmanager…")
    wait_for_alerts(printer, 1, timeout=60)
    time.sleep(3)
    printer.flush()
    drill = "/genai gameday start gpu-overheat" + ("" if demo.live else " --no-inject")
    for step in ("ack 1", "diag 1", "/genai alerts", "/genai status", "/genai gpu",
                 "/genai diag oom vllm-llama-2-7b-1", drill, "wait-drill",
                 "ack last", "/genai gameday end", "/genai gameday", "/genai report 7d",
                 "/genai frobnicate"):
        if step == "wait-drill":  # the injected alert goes round Alertmanager
            if demo.live:
                wait_for_alerts(printer, len(printer.alerts) + 1, timeout=30)
                time.sleep(1)
                printer.flush()
            continue
        if step == "ack last" and not demo.live:
            continue  # no drill alert was injected: nothing new to acknowledge
        console.show("\n" + console.prompt_text("> ") + step)
        run(demo, console, step)
    time.sleep(1.5)  # the drill report arrives through the outbox
    printer.flush()
    console.show("\nDemo tour done.")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="genai-demo-"))
    console = Console()
    at_terminal = sys.stdin.isatty()
    console.note("Starting Prometheus, Alertmanager, the Kubernetes and Slack stand-ins and "
                 "the bot…")
    try:
        with contextlib.ExitStack() as stack:
            with typeahead_held(sys.stdin) if at_terminal else contextlib.nullcontext():
                demo = stack.enter_context(sandbox(workdir, console))
                console.show(startup_summary(console.view, demo.services, demo.notes))
            if at_terminal:
                interactive(demo, console)
            else:
                tour(demo, console)
    except KeyboardInterrupt:
        console.note("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
