"""`/genai help`: every subcommand, its usage and who may run it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bot.report import Report, Section
from bot.roles import Role
from commands.base import Command, Context

USAGE = "/genai help"


def help_report(commands: Iterable[Command], ctx: Context) -> Report:
    lines = []
    for cmd in commands:
        who = "" if cmd.role is Role.VIEWER else f"  ({cmd.role.label} only)"
        lines.append(f"{cmd.usage}: {cmd.summary}{who}")
    return Report(
        title="genai-ops-bot",
        summary="Runs the GenAI platform operations guide from Slack.",
        sections=[Section(title="Commands", lines=lines)],
        footer=f"You are {ctx.role.with_article}.",
        private=True,
    )


def command(listing: Callable[[], Iterable[Command]]) -> Command:
    """The help command over ``listing`` (the registry hands its own, help included), so
    this module needs no import of the registry."""
    return Command(name="help", usage=USAGE, summary="this list",
                   run=lambda ctx, _args: help_report(listing(), ctx))
