"""The subcommands, by name. A new subcommand is one module plus one line here."""

from __future__ import annotations

from commands import cost, diag, gameday, gpu, incidents, logs, status, weekly
from commands import help as help_cmd
from commands.base import Command

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        status.COMMAND,
        gpu.COMMAND,
        cost.COMMAND,
        weekly.COMMAND,
        logs.COMMAND,
        diag.COMMAND,
        incidents.ALERTS,
        incidents.ACK,
        incidents.REPORT,
        gameday.COMMAND,
        help_cmd.COMMAND,
    )
}


def usage() -> str:
    names = " | ".join(COMMANDS)
    return f"Usage: /genai {names}"
