"""Socket Mode: our own small client on ``websockets`` (see ``runner`` for why)."""

from bot.slack.socket.runner import SocketModeRunner

__all__ = ["SocketModeRunner"]
