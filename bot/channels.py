"""Where messages go: the guide's routing by severity, drills to their own channel, and the
channel ids Slack knows the configured names by."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from bot.config import ChannelSettings


class Channels:
    """Configured channels (names like ``#genai-critical`` or ids like ``C0123``).

    ``chat.update`` and the history lookups take only ids, so the Slack layer teaches this
    directory the ids at start-up (:meth:`learn`); until then, and for a name Slack does not
    know, the configured value is used as it is.
    """

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def learn(self, ids: Mapping[str, str]) -> None:
        with self._lock:
            self._ids = {**self._ids, **ids}

    def resolve(self, name: str) -> str:
        return self._ids.get(name, name)

    def configured(self) -> list[str]:
        """Every configured channel (names and ids), each once."""
        return list(dict.fromkeys(c for c in self.settings.model_dump().values() if c))

    def ids(self) -> set[str]:
        """The ids of the configured channels that are known (events carry only ids)."""
        known = {self.resolve(c) for c in self.configured()}
        return {c for c in known if c[:1] in ("C", "G")}

    @property
    def gameday(self) -> str:
        return self.resolve(self.settings.gameday)

    def for_alert(self, labels: Mapping[str, str]) -> str:
        """Drills go to the drill channel only; real alerts by severity, as the guide routes
        them (critical, warning, everything else to the default channel)."""
        if labels.get("gameday") == "true":
            return self.gameday
        by_severity = {"critical": self.settings.critical, "warning": self.settings.warning}
        return self.resolve(by_severity.get(labels.get("severity", ""), self.settings.default))
