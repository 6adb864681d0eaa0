"""/genai gameday: drills from the catalog, their reports, the schedule and a scoreboard."""

from __future__ import annotations

import statistics

from bot.errors import UsageError
from bot.gameday.scheduler import due_runs
from bot.gameday.service import Gameday, UnknownScenario, briefing
from bot.gameday.store import DrillRunning
from bot.gameday.timings import fmt_duration
from bot.postmortem import chunks  # shared with the incident postmortem's export
from bot.report import Report, Row, Section, Status
from bot.roles import Role
from bot.store import Drill, utcnow
from bot.words import plural
from commands.base import Command, Context

USAGE = "/genai gameday [list|start <scenario> [--no-inject]|end|report [id]|schedule|" \
        "export <id>|done <id> <item>|score]"


def _service(ctx: Context) -> Gameday:
    if ctx.gameday is None:
        raise UsageError("Game Day needs the bot's database; it is not available here.")
    return ctx.gameday


def _list(gd: Gameday) -> Report:
    lines = []
    for s in gd.catalog.scenarios:
        what = f"injects {s.inject.alertname}" if s.inject else "tabletop"
        lines.append(f"{s.id}: {s.title} ({s.kind}, {what}; resolve target "
                     f"{s.targets.resolve_min:g} min)")
    return Report(title="Game Day scenarios", sections=[Section(lines=lines)],
                  footer="Start one with /genai gameday start <scenario>")


def _start(ctx: Context, gd: Gameday, args: list[str]) -> Report:
    if ctx.role < Role.ADMIN:
        return Report.message("Not allowed", "Only admins may start drills; you are "
                              f"{ctx.role.with_article}.")
    names = [a for a in args if not a.startswith("--")]
    if len(names) != 1:
        raise UsageError("name one scenario: /genai gameday start <scenario> "
                         f"(one of {', '.join(gd.catalog.ids())})")
    try:
        started = gd.start(names[0], ctx.user_id, inject="--no-inject" not in args)
    except UnknownScenario as exc:
        hint = f" Did you mean {exc.suggestion!r}?" if exc.suggestion else ""
        return Report.message("Unknown scenario", f"There is no scenario {exc.name!r}.{hint}",
                              f"Scenarios: {', '.join(gd.catalog.ids())}.")
    except DrillRunning as exc:
        d = exc.drill
        return Report.message(
            "A drill is already running",
            f"Drill {d.public_id} ({d.scenario}) started at {d.started_at:%H:%M UTC} by "
            f"{d.started_by} is still running. End it with /genai gameday end first.")
    gd.post_briefing(started)
    # The briefing with its buttons goes to the drill channel; here, a short confirmation.
    report = briefing(started)
    return Report(title=f"Drill {started.drill.public_id} started: {started.scenario.title}",
                  summary=f"Briefing posted in {gd.channels.settings.gameday}.",
                  sections=report.sections[:1])


def _end(ctx: Context, gd: Gameday) -> Report:
    if ctx.role < Role.RESPONDER:
        return Report.message("Not allowed", "Only responders may end drills; you are "
                              f"{ctx.role.with_article}.")
    drill = gd.drills.running()
    if drill is None:
        return Report.message("No drill is running",
                              "Nothing to end. Start one with /genai gameday start <scenario>.")
    ended = gd.end(drill, ctx.user_id, "command")
    if ended is None:
        return Report.message("Already ended", f"Drill {drill.public_id} has just ended.")
    return gd.report(ended)


def _find(gd: Gameday, args: list[str]) -> Drill:
    drill = gd.drills.get(args[0]) if args else gd.drills.latest()
    if drill is None:
        raise UsageError(f"no drill {args[0]!r}" if args else "no drill has run yet")
    return drill


def _export(gd: Gameday, args: list[str]) -> Report:
    if not args:
        raise UsageError("which drill? /genai gameday export <id>")
    drill = _find(gd, args)
    return Report(title=f"Game Day {drill.public_id} (Markdown)",
                  sections=[Section(code=c) for c in chunks(gd.markdown(drill))],
                  footer="Paste it into the postmortem page.")


def _schedule(gd: Gameday) -> Report:
    cfg = gd.settings
    now = utcnow()
    lines = []
    for s in cfg.schedules:
        nxt = due_runs(s.cron, s.timezone, now, now.replace(year=now.year + 1))[:1]
        when = f"{nxt[0]:%Y-%m-%d %H:%M} UTC" if nxt else "never"
        lines.append(f"{s.name}: `{s.cron}` {s.timezone} → next {when}, scenario "
                     f"{s.scenario or 'least recently drilled'}")
    recent = [f"{p.scheduled_for:%Y-%m-%d %H:%M} UTC {p.job}: {p.scenario} {p.status}"
              for p in gd.drills.prompts(5)]
    return Report(title="Game Day schedule", sections=[
        Section(lines=lines or ["No schedules: set gameday.schedules in the config."]),
        Section(title="Recent prompts", lines=recent or ["none yet"]),
    ], footer=f"missed runs: {cfg.missed} (within {cfg.catch_up_max_age_h:g} h)")


def _trend(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    return " ↓ improving" if known[0] < known[-1] else " ↑ slower" if known[0] > known[-1] \
        else " → flat"


def _score(gd: Gameday) -> Report:
    drills = [d for d in gd.drills.recent(10) if d.status == "ended"]
    rows, ttas, ttrs = [], [], []
    items: list[str] = []
    for d in drills:
        summary = gd.summary(d)
        t = summary.timings
        tta = t.seconds("ack") if t else None
        ttr = t.seconds("resolve") if t else None
        ttas.append(tta)
        ttrs.append(ttr)
        met = [t.met(k) for k in ("detect", "ack", "diagnose", "resolve")] if t else []
        status = Status.OK if met and all(met) else Status.WARN if any(met) else Status.FAIL
        targets = f"{sum(1 for m in met if m)}/4 targets met"
        if t is None:  # the scenario left the catalog: no targets, so nothing was missed
            status, targets = Status.UNKNOWN, "targets unknown (scenario not in the catalog)"
        rows.append(Row(check=f"{d.started_at:%Y-%m-%d} {d.scenario} ({d.public_id})",
                        status=status, value=f"TTA {fmt_duration(tta)} · TTR {fmt_duration(ttr)}",
                        detail=f"{targets}, "
                               f"{plural(len(summary.participants), 'participant')}"))
        items += [f"{d.public_id} #{n}: {i['text']}"
                  + (f" (owner {i['owner']})" if i.get("owner") else "")
                  for n, i in enumerate(d.action_items, start=1) if not i.get("done")]

    def median(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        return fmt_duration(statistics.median(known)) if known else "—"

    if len(drills) > 1:
        summary_line = (f"Last {plural(len(drills), 'drill')}: median TTA {median(ttas)}"
                        f"{_trend(ttas)}, median TTR {median(ttrs)}{_trend(ttrs)}")
    elif drills:  # one drill has no median and no trend, and is not "Last 1 drills"
        summary_line = f"Last drill: TTA {median(ttas)}, TTR {median(ttrs)}"
    else:
        summary_line = "No finished drills yet: /genai gameday start <scenario>."
    running = gd.drills.running()
    if running is not None:
        summary_line += f" · drill {running.public_id} ({running.scenario}) is running"
    return Report(title="Game Day scoreboard", summary=summary_line, sections=[
        Section(title="Drills (newest first)", rows=rows),
        Section(title="Open action items", lines=items or ["none"]),
    ], footer="Close an item with /genai gameday done <drill> <item number>." if items else "")


def _done(ctx: Context, gd: Gameday, args: list[str]) -> Report:
    if ctx.role < Role.RESPONDER:
        return Report.message("Not allowed", "Only responders may close action items; you "
                              f"are {ctx.role.with_article}.")
    if len(args) != 2 or not args[1].lstrip("#").isdigit():
        raise UsageError("which item? /genai gameday done <drill id> <item number>, "
                         "as the scoreboard lists them (e.g. GD-3 2)")
    closed = gd.drills.close_action_item(args[0], int(args[1].lstrip("#")), ctx.user_id,
                                         utcnow())
    if closed is None:
        return Report.message("No such action item",
                              f"Drill {args[0]!r} has no action item {args[1]}. "
                              "/genai gameday score lists the open ones.")
    drill, item = closed
    return Report.message("Action item closed",
                          f"{drill.public_id} #{args[1].lstrip('#')} {item['text']}: done "
                          f"(closed by {item['done_by']}).")


def run(ctx: Context, args: list[str]) -> Report:
    gd = _service(ctx)
    sub, rest = (args[0].lower(), args[1:]) if args else ("score", [])
    if sub == "list":
        return _list(gd)
    if sub == "start":
        return _start(ctx, gd, rest)
    if sub == "end":
        return _end(ctx, gd)
    if sub == "report":
        return gd.report(_find(gd, rest))
    if sub == "export":
        return _export(gd, rest)
    if sub == "schedule":
        return _schedule(gd)
    if sub in ("score", "scoreboard"):
        return _score(gd)
    if sub == "done":
        return _done(ctx, gd, rest)
    raise UsageError(f"unknown gameday action {args[0]!r}. Usage: {USAGE}")


COMMAND = Command(
    name="gameday",
    usage=USAGE,
    summary="Game Day drills: scenarios, start/end, reports, schedule and the scoreboard",
    run=run,
    role=Role.VIEWER,
    examples=("/genai gameday start gpu-oom", "/genai gameday end", "/genai gameday"),
)

__all__ = ["COMMAND"]
