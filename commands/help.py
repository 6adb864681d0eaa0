"""`/genai help`: every subcommand, its usage and who may run it."""

from __future__ import annotations

from bot.report import Report, Section
from bot.roles import Role
from commands.base import Command, Context

USAGE = "/genai help"


def run(ctx: Context, args: list[str]) -> Report:
    from commands.registry import COMMANDS  # the registry imports this module

    lines = []
    for cmd in COMMANDS.values():
        who = "" if cmd.role is Role.VIEWER else f"  ({cmd.role.label} only)"
        lines.append(f"{cmd.usage}: {cmd.summary}{who}")
    return Report(
        title="genai-ops-bot",
        summary="Runs the GenAI platform operations guide from Slack.",
        sections=[Section(title="Commands", lines=lines)],
        footer=f"You are {ctx.role.with_article}.",
        private=True,
    )


COMMAND = Command(name="help", usage=USAGE, summary="this list", run=run)
