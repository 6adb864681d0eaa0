"""From the text after `/genai` to a command to run, or an immediate answer.

Slack-free: the app, the CLI and the demo share it, so all three refuse the same input.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from bot.report import Report, Section
from bot.roles import Role
from commands.base import Command
from commands.registry import COMMANDS, usage

MAX_ARGS_CHARS = 500


@dataclass(frozen=True)
class Invocation:
    command: Command
    args: list[str]


def usage_report(problem: str | None = None) -> Report:
    lines = [problem] if problem else []
    lines.append(usage())
    lines.extend(f"{c.usage}: {c.summary}" for c in COMMANDS.values())
    return Report(title="genai-ops-bot usage", sections=[Section(lines=lines)], private=True)


def parse(text: str, role: Role) -> Invocation | Report:
    """An `Invocation` when the command may run; otherwise the `Report` to show privately."""
    if len(text) > MAX_ARGS_CHARS:
        return Report.message(
            "Refused",
            f"The arguments are {len(text)} characters long; the limit is {MAX_ARGS_CHARS}.",
        )
    try:
        words = shlex.split(text)
    except ValueError as exc:  # unbalanced quotes
        return usage_report(f"Could not read the arguments: {exc}.")
    if not words:
        return usage_report()
    name, args = words[0].lower(), words[1:]
    command = COMMANDS.get(name)
    if command is None:
        return usage_report(f"Unknown subcommand {words[0]!r}.")
    if role < command.role:
        return Report.message(
            "Not allowed",
            f"/genai {command.name} needs the {command.role.label} role; you are a {role.label}.",
            "Ask an admin to add you (or your usergroup) to the roles in the bot's config.",
        )
    return Invocation(command=command, args=args)
