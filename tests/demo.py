"""`make demo`: the real bot, end to end, on a local sandbox.

The synthetic exporter feeds the real Prometheus (when installed), the Kubernetes stand-in
serves a cluster in trouble, and the Slack stand-in plays Slack: it pushes your `/genai`
commands to the bot over the real Socket Mode websocket and shows what the bot answers.
Interactive on a terminal; a scripted tour otherwise.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bot.config import load_settings
from bot.logs import configure_logging
from bot.server import Bot
from tests.harness import fleet
from tests.harness.blockkit import blocks_to_text
from tests.harness.exporter import SyntheticExporter
from tests.harness.kube import KubeStandin
from tests.harness.procs import PrometheusProcess, find_binary, free_port
from tests.harness.slack import SlackStandin

TOUR = ["/genai help", "/genai status", "/genai frobnicate"]


@contextlib.contextmanager
def sandbox(log_path: Path) -> Iterator[SlackStandin]:
    with contextlib.ExitStack() as stack:
        # Opened first so it closes last: the stand-ins log while they shut down.
        configure_logging("json", "info", stream=stack.enter_context(log_path.open("w")))
        exporter = stack.enter_context(SyntheticExporter())
        kube = stack.enter_context(KubeStandin())
        slack = stack.enter_context(SlackStandin())
        fleet.unhealthy(exporter, kube)
        prometheus_url = f"http://127.0.0.1:{free_port()}"
        if find_binary("prometheus"):
            prom = stack.enter_context(PrometheusProcess([exporter.target]))
            print(f"prometheus  {prom.url} (real binary), scraping the synthetic exporter")
            prom.wait_for_scrape()
            prom.wait_for_samples("inference_request_total", count=3)
            prometheus_url = prom.url
        else:
            print("note: prometheus is not installed, so metric rows will read 'unknown' "
                  "(as root on Debian: apt-get install prometheus prometheus-alertmanager)")
        print(f"kubernetes  {kube.url} (stand-in: 3 GPU nodes, one NotReady; an OOM crash loop)")
        print(f"slack       {slack.api_url} (stand-in, Socket Mode on ws://127.0.0.1:"
              f"{slack.ws_port})")
        settings = load_settings(
            slack={"bot_token": slack.bot_token, "app_token": slack.app_token,
                   "api_base_url": slack.api_url, "mode": "socket"},
            http={"host": "127.0.0.1", "port": free_port()},
            prometheus={"url": prometheus_url, "timeout_s": 5},
            kubernetes={"mode": "url", "url": kube.url, "timeout_s": 5},
            database_url=f"sqlite:///{log_path.parent / 'demo.db'}",
        )
        bot = Bot(settings).start()
        stack.callback(bot.stop)
        if not slack.socket_connected(timeout=10):
            raise SystemExit("the bot did not connect over Socket Mode")
        print(f"bot         {bot.url} (/healthz, /readyz, /metrics); log in {log_path}\n")
        yield slack


def run_command(slack: SlackStandin, line: str) -> None:
    text = line.strip().removeprefix("/genai").strip()
    before = len(slack.calls_to("response_url"))
    started = time.perf_counter()
    envelope = slack.socket_send_slash_command(text)
    ack = slack.wait_socket_ack(envelope, timeout=3.0)
    payload = ack.get("payload") or {}
    print(f"[ack in {ack['latency'] * 1000:.0f} ms, only you see it]")
    print(blocks_to_text(payload["blocks"]) if payload.get("blocks") else payload.get("text", ""))
    if payload.get("blocks"):  # usage or refusal: answered in the ack, no job runs
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        calls = slack.calls_to("response_url")
        if len(calls) > before:
            msg = calls[before].params
            seen_by = "everyone in the channel" if msg.get("response_type") == "in_channel" \
                else "only you"
            print(f"\n[report after {time.perf_counter() - started:.1f} s, {seen_by} sees it]")
            print(blocks_to_text(msg.get("blocks") or []) or msg.get("text", ""))
            return
        time.sleep(0.05)
    print("(no answer within 30 s)")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="genai-demo-"))
    with sandbox(workdir / "bot.log") as slack:
        if sys.stdin.isatty():
            print("Type /genai commands (e.g. /genai status), or 'quit'.")
            while True:
                try:
                    line = input("/genai ").strip()
                except (EOFError, KeyboardInterrupt):
                    break
                if line in ("quit", "exit"):
                    break
                run_command(slack, line)
                print()
        else:
            for line in TOUR:
                print(f"$ {line}")
                run_command(slack, line)
                print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
