"""Whatever a user types comes back escaped: hostile arguments through every subcommand, over
signed slash commands to the real app, and no field of any reply (the ack, the text
fallback, blocks, plain_text headers) holds a raw `<!`, `<@` or `<#` (defect e)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from commands.registry import COMMANDS
from tests.harness.bots import BotFactory
from tests.harness.kube import KubeStandin
from tests.harness.procs import free_port
from tests.harness.slack import SlackStandin

ADMIN = "U0ADMIN"
PINGS = "<!channel> <@U0EVIL> <#C0EVIL|general> <!here|here> <!subteam^S0EVIL>"
RAW = ("<!", "<@", "<#")


def texts() -> list[str]:
    out = [PINGS, f"'{PINGS}'", "<!channel>"]
    out += [f"{name} {PINGS}" for name in COMMANDS]
    out += [
        "diag karpenter <!channel>", "diag oom <@U0EVIL> -n <#C0EVIL>",
        "diag network <!here> -n inference", "diag model-load <!channel>",
        "ack <!channel>", "report <!here>", "logs errors <!channel>", "logs <!channel>",
        "cost <!channel>", "gpu <!channel>", "gameday start <!channel>",
        "gameday done <!channel> 1", "gameday export <@U0EVIL>", "gameday report <#C0EVIL>",
        "gameday <!channel>", "status" + " <!channel>" * 60,  # over the 500-character limit
    ]
    return out


def raw_pings(payload: Any) -> list[str]:
    """Every string anywhere in ``payload`` that holds a raw ping sequence."""
    found: list[str] = []
    if isinstance(payload, str):
        if any(seq in payload for seq in RAW):
            found.append(payload)
    elif isinstance(payload, dict):
        for value in payload.values():
            found += raw_pings(value)
    elif isinstance(payload, list):
        for value in payload:
            found += raw_pings(value)
    return found


@pytest.mark.parametrize("kubernetes", ["stand-in", "down"])
def test_no_reply_of_any_subcommand_carries_a_raw_ping(slack: SlackStandin,
                                                       make_bot: BotFactory,
                                                       kubernetes: str) -> None:
    """With the Kubernetes API down, diag's answer carries the target in its header: a
    plain_text field, escaped too."""
    closed = f"http://127.0.0.1:{free_port()}"
    with KubeStandin() as kube:
        bot = make_bot(closed, kube.url if kubernetes == "stand-in" else closed,
                       roles={"admins": [ADMIN]},
                       aws={"endpoint_url": closed, "timeout_s": 2},
                       alertmanager={"url": closed, "timeout_s": 2})
        acks: list[Any] = []
        working = 0
        for text in texts():
            resp = slack.send_slash_command(f"{bot.url}/slack/events", text, user_id=ADMIN)
            assert resp.status_code == 200, text
            body = resp.json() if resp.content else {}
            acks.append(body)
            working += "Working on" in json.dumps(body)
        deadline = time.monotonic() + 90
        while len(slack.responses) < working and time.monotonic() < deadline:
            time.sleep(0.1)
        replies = [r["payload"] for r in slack.responses]
        assert len(replies) >= working, (len(replies), working)
    assert working >= len(COMMANDS)  # the commands really ran, not only their usage
    leaks = raw_pings(acks) + raw_pings(replies)
    assert leaks == [], leaks[:5]
    # The hostile text is shown, escaped, where it is echoed.
    shown = json.dumps(acks + replies, ensure_ascii=False)
    assert "&lt;!channel&gt;" in shown and "&lt;@U0EVIL&gt;" in shown
