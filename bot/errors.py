"""Exceptions shared across layers."""


class SourceError(Exception):
    """A backend call failed. The message is the short, human cause shown in the row. What
    kind of failure it is, is its class (below); nothing reads the text to decide."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class NotFound(SourceError):
    """The backend answered: no such thing (HTTP 404, no such log group, NXDOMAIN)."""


class Forbidden(SourceError):
    """The backend refused us: a missing permission, a rejected token or credentials."""


class Timeout(SourceError):
    """No answer in time (the call's own timeout)."""


class Unavailable(SourceError):
    """The backend could not be reached, or failed on its side (connection refused, 5xx,
    throttled)."""


class UsageError(Exception):
    """The user's arguments are wrong; the message says how."""


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists each bad field in plain words."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class StartupError(Exception):
    """The bot cannot start: a service it needs is unreachable or refuses it. The message is
    one line that says which and what to do; the CLI prints it and exits 2."""
