"""`/genai silences`: the active and pending silences Alertmanager holds, whoever made them
(the bot, amtool, the UI), with Extend and Expire for responders."""

from __future__ import annotations

from datetime import datetime

from bot.alerts.silence_admin import MODES, ExtendChoice, duration_words
from bot.buttons import Button
from bot.errors import SourceError
from bot.report import Action, Option, Report, Row, Section, Status
from bot.roles import Role
from bot.sources.alertmanager import AlertmanagerSource, Silence
from bot.store import Incident
from bot.times import as_utc, clock, utcnow
from bot.times import humanize_duration as humanize
from bot.words import plural
from commands.base import Command, Context, no_args

USAGE = "/genai silences"
# Three blocks each (matchers, details, buttons): a dozen stay well inside Slack's 50.
MAX_SHOWN = 12
MAX_COMMENT = 300


def _source(ctx: Context) -> AlertmanagerSource:
    """The running bot's Alertmanager client; a one-off one from the settings otherwise
    (`genai-bot ask silences`)."""
    if ctx.incidents is not None:
        return ctx.incidents.alertmanager
    am = ctx.settings.alertmanager
    return AlertmanagerSource(am.url, am.timeout_s)


def _when(at: datetime, now: datetime) -> str:
    """``in 3 h 20 m (14:00 UTC)``: relative first, the absolute time beside it."""
    seconds = (as_utc(at) - now).total_seconds()
    rel = f"in {humanize(seconds)}" if seconds >= 0 else f"{humanize(-seconds)} ago"
    return f"{rel} ({clock(at, now)})"


def _extend_menu(silence: Silence, durations: list[str]) -> Action:
    options = [
        Option(label=f"+{duration_words(d)} {MODES[mode]}",
               value=ExtendChoice(silence.id, d, mode).value)
        for mode in ("end", "now") for d in dict.fromkeys(durations)
    ]
    return Action(action_id=Button.SILENCE_EXTEND, label="Extend…", options=options)


def _section(silence: Silence, now: datetime, holder: Incident | None,
             durations: list[str] | None) -> Section:
    state = silence.state
    if state == "pending":
        timing = (f"pending, starts {_when(silence.starts_at, now)}, "
                  f"ends {_when(silence.ends_at, now)}")
    else:
        timing = f"{state}, ends {_when(silence.ends_at, now)}"
    lines = [f"{timing} · by {silence.created_by or 'unknown'} · id {silence.id}"]
    comment = " ".join(silence.comment.split())
    if comment:
        cut = comment if len(comment) <= MAX_COMMENT else comment[: MAX_COMMENT - 1] + "…"
        lines.append(f"“{cut}”")
    if holder is not None:
        lines.append(f"Incident {holder.public_id} ({holder.alertname}, "
                     f"{holder.status.value})")
    actions: list[Action] = []
    if durations is not None:  # the asker may act: a responder
        if durations:
            actions.append(_extend_menu(silence, durations))
        actions.append(Action(action_id=Button.SILENCE_EXPIRE, label="Expire",
                              value=silence.id, style="danger"))
    return Section(title=f"🔕 {silence.matcher_text()}", lines=lines, actions=actions)


def _order(silence: Silence) -> tuple[int, datetime]:
    """Active first, ending soonest first; then pending, starting soonest first."""
    if silence.state == "active":
        return 0, as_utc(silence.ends_at)
    return 1, as_utc(silence.starts_at)


def run(ctx: Context, args: list[str]) -> Report:
    no_args(args, USAGE)
    source = _source(ctx)
    try:
        live = sorted((s for s in source.silences() if s.is_live), key=_order)
    except SourceError as exc:
        # Unknown is not "none": a silence may well be muting alerts right now.
        return Report(title="Silences", summary=f"unknown: {exc}", sections=[Section(rows=[
            Row(check="Alertmanager silences", status=Status.UNKNOWN, value="unknown",
                detail=str(exc))])])
    if not live:
        return Report(title="Silences",
                      summary=f"No active or pending silences in Alertmanager ({source.url}).")
    now = utcnow()
    holders = ctx.store.incidents.by_silence([s.id for s in live]) if ctx.store else {}
    durations = ctx.settings.alerts.silence_durations if ctx.role >= Role.RESPONDER else None
    shown = live[:MAX_SHOWN]
    active = sum(1 for s in live if s.state == "active")
    pending = f", {len(live) - active} pending" if len(live) > active else ""
    summary = f"{active} active{pending} in Alertmanager ({source.url})"
    footer = ("Extend… past its end adds to the time left; from now sets the end that long "
              "from now (never earlier than it is).")
    if durations is None:
        footer = "Responders get Extend and Expire here."
    if len(live) > len(shown):
        footer += (f" {plural(len(live) - len(shown), 'more silence')} not shown: "
                   "`amtool silence query` or Alertmanager's UI lists every one.")
    return Report(title="Silences", summary=summary,
                  sections=[_section(s, now, holders.get(s.id), durations) for s in shown],
                  footer=footer)


COMMAND = Command(
    name="silences",
    usage=USAGE,
    summary="active and pending Alertmanager silences (any source): matchers, creator, end, "
            "comment; Extend and Expire for responders",
    run=run,
    examples=(USAGE,),
)
