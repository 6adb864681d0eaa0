"""The subcommands, by name. A new subcommand is one module plus one line here."""

from __future__ import annotations

from commands import (
    cost,
    diag,
    gameday,
    gpu,
    incident,
    incidents,
    logs,
    silences,
    status,
    tune,
    weekly,
)
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
        incident.COMMAND,
        silences.COMMAND,
        tune.COMMAND,
        gameday.COMMAND,
    )
}
COMMANDS["help"] = help_cmd.command(lambda: COMMANDS.values())


def usage() -> str:
    names = " | ".join(COMMANDS)
    return f"Usage: /genai {names}"
