"""From the text after `/genai` to a command to run, or an immediate answer.

Slack-free: the app, the CLI and the demo share it, so all three refuse the same input.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Literal

import structlog

from bot.errors import UsageError
from bot.metrics import COMMAND_SECONDS
from bot.metrics import COMMANDS as COMMAND_COUNT
from bot.report import Report, Section
from bot.roles import Caller
from commands.base import Command, Context
from commands.registry import COMMANDS, usage

log = structlog.get_logger(__name__)

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


def parse(text: str, caller: Caller) -> Invocation | Report:
    """An `Invocation` when the command may run; otherwise the `Report` to show privately.
    Whatever the user typed is plain text here: every sink escapes it."""
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
    if not command.authorizes_itself and not caller.may(command.role):
        return Report.message("Not allowed",
                              caller.refusal(f"run /genai {command.name}", command.role))
    return Invocation(command=command, args=args)


@dataclass(frozen=True)
class Executed:
    report: Report
    outcome: Literal["ok", "usage", "error"]


def execute(invocation: Invocation, ctx: Context) -> Executed:
    """Run one command. Never raises: bad arguments become the usage, a bug a short message
    (the trace goes to the log only)."""
    name = invocation.command.name
    started = time.perf_counter()
    outcome: Literal["ok", "usage", "error"] = "ok"
    try:
        return Executed(invocation.command.run(ctx, invocation.args), outcome)
    except UsageError as exc:
        outcome = "usage"
        return Executed(usage_report(str(exc)), outcome)
    except Exception:
        outcome = "error"
        log.exception("command_failed", command=name, user=ctx.user_id)
        return Executed(Report.message(
            f"/genai {name} failed",
            "The command hit an internal error; the details are in the bot's log."), outcome)
    finally:
        COMMAND_COUNT.labels(command=name, outcome=outcome).inc()
        COMMAND_SECONDS.labels(command=name).observe(time.perf_counter() - started)
