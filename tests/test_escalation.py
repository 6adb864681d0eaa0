"""Escalation of unacknowledged incidents, through the real app (the webhook, signed clicks,
the outbox) and the strict Slack stand-in, with a clock the test sets: each step fires at
its time and not before, mentions its groups in the thread and edits the card, is audited,
stops at Acknowledge, Silence and Resolve, and fires exactly once across a restart and
across two replicas ticking at the same instant (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from bot.alerts.escalation import Escalator
from bot.buttons import Button
from bot.config import load_settings
from bot.config.sections import EscalationSettings
from bot.errors import ConfigError
from bot.runtime import Runtime
from bot.server import Bot
from bot.slack import build_client, usergroup_members
from bot.slack.render.card import escalation_targets
from bot.store import Action, open_store
from bot.store.digests import DigestPolicy
from bot.store.escalations import CHANNEL
from bot.store.intake import IntakeItem, IntakeResult
from bot.store.models import Outbox
from bot.store.states import ActionKind, IncidentStatus
from tests.harness.alerts import notification, text_of, wait
from tests.harness.bots import WEBHOOK_TOKEN, bot_settings
from tests.harness.pg import migrated_url
from tests.harness.procs import AlertmanagerProcess, require_binary
from tests.harness.slack import SlackStandin

ROOT = Path(__file__).resolve().parent.parent
RESPONDER = "U0RESP"
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)  # the test notification's startsAt
POLICY = {"critical": [
    {"after": "5m", "notify": ["S0ONCALL1", "U0LEAD"]},
    {"after": "15m", "notify": ["S0ONCALL2"], "channel": True},
]}
NOTE_MARK = "still unacknowledged"


class Clock:
    """The bots' clock for what time alone changes; the test moves it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, after: timedelta) -> None:
        self.at = T0 + after


BotMaker = Callable[..., Bot]


@pytest.fixture
def make(slack: SlackStandin) -> Iterator[BotMaker]:
    """Real bots on the stand-in whose ticker reads the test's clock; the ticker's own
    thread waits 60 s between ticks, so the test's ``ticker.tick()`` calls are what count."""
    bots: list[Bot] = []

    def start(clock: Clock, **overrides: Any) -> Bot:
        sections: dict[str, Any] = {
            "roles": {"responders": [RESPONDER]},
            "alerts": {"tick_s": 60, "channel_interval_s": 0},
            "escalation": {"policies": POLICY},
        }
        for key, value in overrides.items():
            sections[key] = {**sections.get(key, {}), **value} if isinstance(value, dict) \
                else value
        settings = bot_settings(slack, "http://127.0.0.1:1", "http://127.0.0.1:1", "http",
                                **sections)
        client = build_client(settings.slack)
        runtime = Runtime.from_settings(settings, usergroup_members(client), now=clock)
        bot = Bot(settings, client, runtime).start()
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        bot.stop()


def post_alert(bot: Bot, payload: dict[str, Any] | None = None) -> str:
    resp = httpx.post(f"{bot.url}/alertmanager",
                      json=payload or notification(severity="critical"),
                      headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["incident"])


def card_of(slack: SlackStandin, pid: str) -> tuple[str, dict[str, Any]]:
    """The incident's card in #genai-critical, once posted, and its channel id."""
    channel = slack.channel_id("#genai-critical")
    card = wait(lambda: next((m for m in slack.messages.get(channel, [])
                              if pid in json.dumps(m.get("attachments"))
                              and m.get("thread_ts") in (None, m["ts"])), None),
                f"the card of {pid}")
    # The runbook reply too: the thread exists before anything is escalated.
    wait(lambda: len(slack.thread(channel, card["ts"])) >= 2, "the runbook in the thread")
    return channel, card


def notes(slack: SlackStandin, channel: str, card: dict[str, Any]) -> list[str]:
    """The escalation notes in the card's thread, oldest first."""
    return [str(m.get("text")) for m in slack.thread(channel, card["ts"])
            if NOTE_MARK in str(m.get("text"))]


def card_text(slack: SlackStandin, channel: str, card: dict[str, Any]) -> str:
    return text_of(slack.find_message(channel, card["ts"]) or {})


def escalations(bot: Bot, pid: str) -> list[Action]:
    return [a for a in bot.runtime.store.incidents.actions(pid) if a.kind is ActionKind.ESCALATE]


def quiet(slack: SlackStandin, channel: str, card: dict[str, Any], count: int) -> None:
    """Give a wrong extra note time to arrive, then check there is none."""
    time.sleep(1.0)
    assert len(notes(slack, channel, card)) == count


def click(slack: SlackStandin, bot: Bot, channel: str, card: dict[str, Any], action: Button,
          value: str | None = None) -> None:
    resp = slack.send_block_action(f"{bot.url}/slack/events", action.value, value=value,
                                   user_id=RESPONDER, channel_id=channel,
                                   message_ts=card["ts"])
    assert resp.status_code == 200


# ------------------------------------------------------------------ settings


def test_no_policy_by_default_and_the_env_form_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENAI_ESCALATION__POLICIES", raising=False)
    assert load_settings().escalation.policies == {}
    monkeypatch.setenv("GENAI_ESCALATION__POLICIES", json.dumps(
        {"Critical": [{"after": "5m", "notify": ["S0L1", "W0GRID"]},
                      {"after": "1h", "notify": [], "channel": True}]}))
    [first, second] = load_settings().escalation.policies["critical"]
    assert (first.after, first.minutes, first.notify, first.channel) == (
        "5m", 5, ["S0L1", "W0GRID"], False)
    assert (second.minutes, second.channel) == (60, True)


@pytest.mark.parametrize(("policy", "problem"), [
    ({"critical": [{"after": "5x", "notify": ["S1"]}]},
     "escalation.policies.critical.0.after: '5x' is not a duration like 5m, 15m, 1h or 1d"),
    ({"critical": [{"after": "0m", "notify": ["S1"]}]},
     "escalation.policies.critical.0.after: '0m' is not a duration like 5m, 15m, 1h or 1d"),
    ({"critical": [{"after": "5m", "notify": ["@genai-oncall"]}]},
     "escalation.policies.critical.0.notify: '@genai-oncall' is not a Slack usergroup (S…) "
     "or user (U…/W…) id"),
    ({"critical": [{"after": "5m"}]},
     "escalation.policies.critical.0: notifies no one: give notify ids, or channel: true"),
    ({"critical": [{"after": "5m", "notify": ["S1"], "chanel": True}]},
     "escalation.policies.critical.0.chanel: unknown setting"),
    ({"critical": [{"after": "15m", "notify": ["S1"]}, {"after": "1h", "notify": ["S2"]},
                   {"after": "60m", "notify": ["S3"]}]},
     "escalation.policies: critical: step 3 (60m) must come later than step 2 (1h)"),
])
def test_a_bad_policy_is_one_clear_problem_line(monkeypatch: pytest.MonkeyPatch,
                                                policy: dict[str, Any], problem: str) -> None:
    monkeypatch.setenv("GENAI_ESCALATION__POLICIES", json.dumps(policy))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.problems == [f"{problem} (env GENAI_ESCALATION__POLICIES)"]


def test_the_configmap_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commented example in manifests/configmap.yaml, uncommented, is a valid policy."""
    text = (ROOT / "manifests" / "configmap.yaml").read_text()
    [line] = [ln for ln in text.splitlines() if "GENAI_ESCALATION__POLICIES:" in ln]
    key, value = next(iter(yaml.safe_load(line.strip().removeprefix("# ")).items()))
    monkeypatch.setenv(key, value)
    steps = load_settings().escalation.policies["critical"]
    assert [s.minutes for s in steps] == [5, 15] and steps[1].channel


def test_mentions_are_built_from_ids_only() -> None:
    assert escalation_targets(["S0L1", "U0X", CHANNEL], ping_channel=True) == \
        "<!subteam^S0L1>, <@U0X> and <!channel>"
    assert escalation_targets(["S0L1", CHANNEL], ping_channel=False) == \
        "<!subteam^S0L1> and @channel"
    # Whatever else reached the table is shown escaped, never a ping.
    assert escalation_targets(["<!here>"], ping_channel=True) == "&lt;!here&gt;"


# ------------------------------------------------------------------ through the app


def test_steps_fire_on_time_mention_the_groups_edit_the_card_and_are_audited(
        slack: SlackStandin, make: BotMaker) -> None:
    clock = Clock(T0)
    bot = make(clock)
    pid = post_alert(bot)
    channel, card = card_of(slack, pid)

    clock.set(timedelta(minutes=4, seconds=59))
    bot.runtime.ticker.tick()
    assert bot.runtime.store.escalations.fired(pid) == [] and escalations(bot, pid) == []

    clock.set(timedelta(minutes=5))
    bot.runtime.ticker.tick()
    [note] = wait(lambda: notes(slack, channel, card) or None, "the first escalation note")
    assert "<!subteam^S0ONCALL1> and <@U0LEAD>" in note and "<!channel>" not in note
    assert "(step 1 of 2, 5 m after it began firing)" in note
    edited = wait(lambda: "Escalated to" in card_text(slack, channel, card)
                  and card_text(slack, channel, card), "the card saying it escalated")
    assert "⏫ Escalated to <!subteam^S0ONCALL1> and <@U0LEAD> at" in edited
    assert "10:05 UTC" in edited and "S0ONCALL2" not in edited
    assert "Acknowledge" in edited  # still firing, still unacknowledged: buttons stay

    # Ticking again before the next step changes nothing.
    for minutes in (5, 10, 14):
        clock.set(timedelta(minutes=minutes, seconds=59))
        bot.runtime.ticker.tick()
    assert len(bot.runtime.store.escalations.fired(pid)) == 1

    clock.set(timedelta(minutes=15))
    bot.runtime.ticker.tick()
    both = wait(lambda: (n := notes(slack, channel, card)) and len(n) == 2 and n,
                "the second escalation note")
    assert "<!subteam^S0ONCALL2> and <!channel>" in both[1]
    assert "(step 2 of 2, 15 m after it began firing)" in both[1]
    edited = wait(lambda: "S0ONCALL2" in card_text(slack, channel, card)
                  and card_text(slack, channel, card), "the card with the second step")
    assert "⏫ Escalated to <!subteam^S0ONCALL2> and @channel at" in edited
    assert "10:15 UTC" in edited and "<!channel>" not in edited  # the card never pings

    clock.set(timedelta(hours=2))
    bot.runtime.ticker.tick()
    quiet(slack, channel, card, 2)
    audit = escalations(bot, pid)
    assert [(a.user_id, a.allowed, a.detail["step"], a.detail["notified"], a.detail["after"])
            for a in audit] == [("bot", True, 1, ["S0ONCALL1", "U0LEAD"], "5m"),
                                ("bot", True, 2, ["S0ONCALL2", CHANNEL], "15m")]
    assert [a.at for a in audit] == [T0 + timedelta(minutes=5), T0 + timedelta(minutes=15)]


def test_a_warning_has_no_policy_and_never_escalates(slack: SlackStandin,
                                                     make: BotMaker) -> None:
    clock = Clock(T0)
    bot = make(clock)
    pid = post_alert(bot, notification(severity="warning"))
    clock.set(timedelta(hours=3))
    bot.runtime.ticker.tick()
    assert bot.runtime.store.escalations.fired(pid) == [] and escalations(bot, pid) == []


def test_acknowledging_stops_the_policy(slack: SlackStandin, make: BotMaker) -> None:
    clock = Clock(T0)
    bot = make(clock)
    pid = post_alert(bot)
    channel, card = card_of(slack, pid)
    clock.set(timedelta(minutes=6))
    bot.runtime.ticker.tick()
    wait(lambda: notes(slack, channel, card), "the first escalation note")

    click(slack, bot, channel, card, Button.ACK)
    wait(lambda: (inc := bot.runtime.store.incidents.get(pid)) and inc.acked_at is not None,
         "the acknowledge")
    for minutes in (15, 30, 120):
        clock.set(timedelta(minutes=minutes))
        bot.runtime.ticker.tick()
    assert [f.step for f in bot.runtime.store.escalations.fired(pid)] == [1]
    wait(lambda: "Acknowledged by" in card_text(slack, channel, card), "the acknowledged card")
    quiet(slack, channel, card, 1)
    assert [a.detail["step"] for a in escalations(bot, pid)] == [1]
    # The card keeps what happened before the acknowledge.
    assert "Escalated to <!subteam^S0ONCALL1>" in card_text(slack, channel, card)


def test_resolving_stops_the_policy(slack: SlackStandin, make: BotMaker) -> None:
    """Both ways: a responder's Resolve (signed click) and Alertmanager's resolved."""
    clock = Clock(T0)
    bot = make(clock)
    by_hand = post_alert(bot)
    channel, card = card_of(slack, by_hand)
    other = notification(severity="critical", alertname="GPUTemperatureHigh")
    by_am = post_alert(bot, other)
    click(slack, bot, channel, card, Button.RESOLVE)
    post_alert(bot, {**other, "status": "resolved",
                     "alerts": [{**other["alerts"][0], "status": "resolved",
                                 "endsAt": "2026-11-28T10:03:00Z"}]})
    wait(lambda: all(bot.runtime.store.incidents.get(p).status is IncidentStatus.RESOLVED
                     for p in (by_hand, by_am)), "both incidents resolved")
    for minutes in (5, 15, 60):
        clock.set(timedelta(minutes=minutes))
        bot.runtime.ticker.tick()
    for pid in (by_hand, by_am):
        assert bot.runtime.store.escalations.fired(pid) == [] and escalations(bot, pid) == []
    wait(lambda: "Resolved" in card_text(slack, channel, card), "the resolved card")
    quiet(slack, channel, card, 0)


def test_silencing_stops_the_policy(slack: SlackStandin, make: BotMaker) -> None:
    require_binary(["prometheus-alertmanager", "alertmanager"], "silences are real")
    config = yaml.safe_dump({"route": {"receiver": "none"}, "receivers": [{"name": "none"}]})
    with AlertmanagerProcess(config) as am:
        clock = Clock(T0)
        bot = make(clock, alertmanager={"url": am.url})
        pid = post_alert(bot)
        channel, card = card_of(slack, pid)
        click(slack, bot, channel, card, Button.SILENCE, f"{pid}|1h")
        wait(lambda: bot.runtime.store.incidents.get(pid).silence_id is not None,
             "the silence kept on the incident")
        assert any(s["status"]["state"] == "active" for s in am.silences())
        for minutes in (5, 15, 60):
            clock.set(timedelta(minutes=minutes))
            bot.runtime.ticker.tick()
        assert bot.runtime.store.escalations.fired(pid) == [] and escalations(bot, pid) == []
        wait(lambda: "Silenced" in card_text(slack, channel, card), "the silenced card")
        quiet(slack, channel, card, 0)


def test_a_restart_does_not_fire_a_step_again(slack: SlackStandin, make: BotMaker,
                                              tmp_path: Path) -> None:
    database = {"database_url": f"sqlite:///{tmp_path / 'bot.db'}"}
    clock = Clock(T0 + timedelta(minutes=5))
    first = make(clock, **database)
    pid = post_alert(first)
    channel, card = card_of(slack, pid)
    first.runtime.ticker.tick()
    wait(lambda: notes(slack, channel, card), "the first escalation note")
    wait(lambda: "Escalated to" in card_text(slack, channel, card), "the escalated card")
    first.stop()

    second = make(clock, **database)  # a new process on the same database
    for minutes in (5, 6, 14):
        clock.set(timedelta(minutes=minutes))
        second.runtime.ticker.tick()
    assert [f.step for f in second.runtime.store.escalations.fired(pid)] == [1]
    clock.set(timedelta(minutes=15))
    second.runtime.ticker.tick()
    second.runtime.ticker.tick()
    wait(lambda: len(notes(slack, channel, card)) == 2, "the second step, from the new process")
    quiet(slack, channel, card, 2)
    assert [a.detail["step"] for a in escalations(second, pid)] == [1, 2]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.integration)])
def test_two_replicas_ticking_at_once_fire_each_step_once(
        slack: SlackStandin, make: BotMaker, tmp_path: Path, kind: str) -> None:
    groups = 6
    with migrated_url(kind, tmp_path) as url:
        clock = Clock(T0)
        replicas = [make(clock, database_url=url), make(clock, database_url=url)]
        pids = []
        for n in range(groups):
            payload = notification(severity="critical", extra={"node": f"gpu-node-{n}"})
            payload["groupKey"] = f'{{}}:{{alertname="GPUMemoryHigh", node="gpu-node-{n}"}}'
            pids.append(post_alert(replicas[n % 2], payload))
        cards = [card_of(slack, pid) for pid in pids]

        for step, minutes in ((1, 5), (2, 15)):
            clock.set(timedelta(minutes=minutes))
            start = threading.Barrier(2)
            errors: list[BaseException] = []

            def tick(bot: Bot, start: threading.Barrier = start,
                     errors: list[BaseException] = errors) -> None:
                try:
                    start.wait(5)
                    bot.runtime.ticker.tick()
                except BaseException as exc:  # raised below, in the test's thread
                    errors.append(exc)

            threads = [threading.Thread(target=tick, args=(bot,)) for bot in replicas]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert errors == []
            for pid, (channel, card) in zip(pids, cards, strict=True):
                wait(lambda c=channel, m=card, n=step: len(notes(slack, c, m)) >= n,
                     f"step {step} of {pid}")
            time.sleep(1.0)  # a doubled note or audit row would show by now
            for pid, (channel, card) in zip(pids, cards, strict=True):
                assert len(notes(slack, channel, card)) == step, pid
                for bot in replicas:
                    assert [f.step for f in bot.runtime.store.escalations.fired(pid)] == \
                        list(range(1, step + 1))
                assert [a.detail["step"] for a in escalations(replicas[0], pid)] == \
                    list(range(1, step + 1))
        # The cards were edited in place: each shows both steps, once each.
        assert any("Escalated to" in json.dumps(c.params) for c in slack.calls_to("chat.update"))
        for channel, card in cards:
            assert card_text(slack, channel, card).count("⏫ Escalated to") == 2



def test_a_storm_digest_escalates_once_per_step_and_each_incident_is_audited(
        tmp_path: Path) -> None:
    """Thirty critical incidents counted in one storm digest: each step is one note in the
    digest's thread (not thirty), and every incident still has its own audit row."""
    with migrated_url("sqlite", tmp_path) as url:
        store = open_store(url, migrate=False)
        intake = store.intake.with_digest(DigestPolicy(threshold=3))
        items = []
        for n in range(30):
            body = notification(severity="critical", extra={"node": f"gpu-node-{n}"})
            body["groupKey"] = f'{{}}:{{node="gpu-node-{n}"}}'
            items.append(IntakeItem(body, "C0CRIT"))
        pids = [r.public_id for r in intake.record_batch(items, now=T0)
                if isinstance(r, IntakeResult)]
        escalator = Escalator(store.escalations, EscalationSettings(policies=POLICY))
        for minutes in (5, 15):
            escalator.tick(T0 + timedelta(minutes=minutes, seconds=1))
        with store.db.session(readonly=True) as s:
            keys = s.scalars(select(Outbox.dedupe_key)
                             .where(Outbox.dedupe_key.like("%:escalation:%"))).all()
        # No worker ran: the first three posts were still queued, so all 30 are digested.
        digests = {i.digest_id for i in store.incidents.open()}
        assert len(pids) == 30 and len(digests) == 1 and None not in digests
        [digest_id] = digests
        assert sorted(keys) == [f"digest:{digest_id}:escalation:1",
                                f"digest:{digest_id}:escalation:2"]
        for pid in pids:
            assert [a.detail["step"] for a in store.incidents.actions(pid)
                    if a.kind is ActionKind.ESCALATE] == [1, 2]
        store.db.dispose()
