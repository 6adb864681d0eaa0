"""Exceptions shared across layers."""


class SourceError(Exception):
    """A backend call failed. The message is the short, human cause shown in the row."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


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
