"""`/genai incident <id>`: one incident's timeline, with who did what and the durations;
`/genai incident export <id>`: its postmortem as Markdown. Viewers may read both."""

from __future__ import annotations

from bot.alerts import postmortem
from bot.alerts.timeline import PUBLIC_ID, Timeline, load
from bot.errors import UsageError
from bot.report import Report
from bot.runbooks import RunbookIndex, load_runbooks
from commands.base import Command, Context

USAGE = "/genai incident <id> | /genai incident export <id>"


def _timeline(ctx: Context, raw: str) -> Timeline | Report:
    """The timeline, or the answer for an id that is malformed (usage) or unknown."""
    public_id = raw.strip().lower()
    if not PUBLIC_ID.match(public_id):
        raise UsageError(f"{raw[:40]!r} is not an incident id (10 characters, a-z and 2-7, "
                         f"as /genai alerts and the alert card show). Usage: {USAGE}")
    if ctx.store is None:
        raise UsageError("this bot runs without a database")
    found = load(ctx.store.db, public_id)
    if found is None:
        return Report.message("No such incident",
                              f"There is no incident {public_id!r} (it may have been "
                              "removed); /genai alerts lists the open ones.")
    return found


def _runbooks(ctx: Context) -> RunbookIndex:
    # The running bot's index; a bare context (the CLI without a bot) loads the files.
    return ctx.incidents.runbooks if ctx.incidents is not None else load_runbooks()


def run(ctx: Context, args: list[str]) -> Report:
    export = bool(args) and args[0].lower() == "export"
    ids = args[1:] if export else args
    if len(ids) != 1:
        raise UsageError(f"give one incident id. Usage: {USAGE}")
    found = _timeline(ctx, ids[0])
    if isinstance(found, Report):
        return found
    if not export:
        return postmortem.timeline_report(found)
    runbook = _runbooks(ctx).for_alert(found.incident.alertname)
    return postmortem.export_report(found, runbook, ctx.settings.http.public_url)


COMMAND = Command(
    name="incident",
    usage=USAGE,
    summary="one incident's timeline (who did what, when; TTA, time to diagnosis, TTR) "
            "and its Markdown postmortem",
    run=run,
    examples=("/genai incident abcdefghij", "/genai incident export abcdefghij"),
)
