"""A bot with one open incident and a real Alertmanager behind its Silence buttons: what the
button and `/genai silences` tests start from."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx
import yaml

from .alerts import notification
from .bots import WEBHOOK_TOKEN, BotFactory
from .kube import KubeStandin
from .procs import AlertmanagerProcess, require_binary

if TYPE_CHECKING:
    from bot.server import Bot


@contextmanager
def bot_with_an_incident(make_bot: BotFactory, responders: list[str],
                         silence_durations: list[str]
                         ) -> Iterator[tuple[Bot, AlertmanagerProcess, str]]:
    """The bot (``responders`` may press the buttons, Silence offers ``silence_durations``),
    the Alertmanager it silences in, and the public id of the incident one firing
    notification opened."""
    require_binary(["prometheus-alertmanager", "alertmanager"], "silences are real")
    config = yaml.safe_dump({"route": {"receiver": "none"}, "receivers": [{"name": "none"}]})
    with KubeStandin() as kube, AlertmanagerProcess(config) as am:
        bot = make_bot("http://127.0.0.1:1", kube.url, alertmanager={"url": am.url},
                       roles={"responders": responders},
                       alerts={"silence_durations": silence_durations})
        resp = httpx.post(f"{bot.url}/alertmanager", json=notification(),
                          headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}, timeout=10)
        assert resp.status_code == 200, resp.text
        yield bot, am, str(resp.json()["incident"])
