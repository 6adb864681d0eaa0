"""The storm digest through the real app (signed requests, the real webhook, the outbox worker)
and the strict Slack stand-in, with the real Alertmanager for the silence: below the
threshold every incident is posted alone; past it the channel gets one digest, edited in
place, whose incidents are all stored and each can still be acknowledged; a responder
acknowledges or silences a whole alert name from it, a viewer is refused and audited; once
the channel is quiet the digest is finalised and single posts resume.

The bot's clock (the ticker's and the intake's) runs behind real time and the test moves it
forward: everything queued on it is due at once, and "the storm subsided" is one step."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from bot.alerts.digest import DigestTicker
from bot.buttons import Button
from bot.runtime import Runtime
from bot.server import Bot
from bot.slack import build_client, usergroup_members
from bot.slack.render.digest import digest_message
from bot.store import IntakeItem, IntakeResult, Store, open_store
from bot.store.digests import (
    DigestCount,
    DigestEntry,
    DigestPolicy,
    DigestState,
    DigestSummary,
    alertname_key,
    edit_key,
    post_key,
)
from bot.store.models import Action, Digest, Incident, Outbox
from bot.store.states import ActionKind, OutboxState
from tests.harness.alerts import notification, wait
from tests.harness.blockkit import validate_blocks
from tests.harness.bots import WEBHOOK_TOKEN, bot_settings
from tests.harness.procs import AlertmanagerProcess, require_binary
from tests.harness.slack import SlackStandin

RESPONDER, VIEWER = "U0RESP", "U0VIEW"
THRESHOLD = 4
NOWHERE = "http://127.0.0.1:1"  # Prometheus and Kubernetes: these tests never ask them


class Clock:
    """Real time minus a lag the test shrinks (:meth:`advance`): never ahead of the outbox
    worker's clock, so what is queued on it is due at once."""

    def __init__(self) -> None:
        self.lag = timedelta(minutes=10)

    def __call__(self) -> datetime:
        return datetime.now(UTC) - self.lag

    def advance(self, seconds: float) -> None:
        self.lag -= timedelta(seconds=seconds)


@dataclass
class Storm:
    bot: Bot
    slack: SlackStandin
    clock: Clock

    @property
    def channel(self) -> str:
        return self.slack.channel_id("#genai-warnings")

    def fire(self, alertname: str, nodes: range, status: str = "firing") -> list[str]:
        """One new alert group per node; the incident ids, in order."""
        ids = []
        for n in nodes:
            body = notification(status, alertname=alertname, extra={"node": f"gpu-node-{n}"})
            body["groupKey"] = f'{{}}:{{alertname="{alertname}", node="gpu-node-{n}"}}'
            body["groupLabels"] = {"alertname": alertname, "node": f"gpu-node-{n}"}
            resp = httpx.post(f"{self.bot.url}/alertmanager", json=body, timeout=10,
                              headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
            assert resp.status_code == 200, resp.text
            ids.append(str(resp.json()["incident"]))
        return ids

    def top_level(self) -> list[dict[str, Any]]:
        return [m for m in list(self.slack.messages.get(self.channel, []))
                if m.get("bot_id") == self.slack.bot_id and m.get("thread_ts") in (None, m["ts"])]

    def cards(self) -> list[dict[str, Any]]:
        return [m for m in self.top_level() if m.get("attachments")]

    def digests(self) -> list[dict[str, Any]]:
        return [m for m in self.top_level()
                if str(((m.get("metadata") or {}).get("event_payload") or {}).get("key", ""))
                .startswith("digest:")]

    def digest(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """The channel's one digest, once it satisfies ``predicate``."""
        def check() -> dict[str, Any] | None:
            found = self.digests()
            assert len(found) <= 1, "a second digest was posted"
            return found[0] if found and predicate(found[0]) else None
        return wait(check, what)  # type: ignore[no-any-return]

    def tick(self) -> None:
        self.bot.runtime.ticker.tick()

    def incidents(self) -> list[Incident]:
        with self.bot.runtime.store.db.session(readonly=True) as s:
            return list(s.scalars(select(Incident).order_by(Incident.id)))


def counted(msg: dict[str, Any]) -> int:
    found = re.search(r"(\d+) new incidents?", msg["text"])
    assert found, msg["text"]
    return int(found.group(1))


def body_of(msg: dict[str, Any]) -> str:
    return json.dumps(msg.get("blocks"), ensure_ascii=False)


def option(msg: dict[str, Any], action: Button, alertname: str) -> str | None:
    """The value of ``alertname``'s option in the digest's ``action`` menu, if offered."""
    for block in msg["blocks"]:
        for el in block.get("elements") or []:
            if el.get("action_id") != action.value:
                continue
            groups = el.get("option_groups") or [{"label": {"text": ""},
                                                  "options": el.get("options")}]
            for group in groups:
                for opt in group["options"]:
                    if alertname in opt["text"]["text"] or alertname in group["label"]["text"]:
                        return str(opt["value"])
    return None


@pytest.fixture
def storm(slack: SlackStandin) -> Iterator[Callable[..., Storm]]:
    bots: list[Bot] = []

    def start(alertmanager_url: str = NOWHERE, **alerts: Any) -> Storm:
        settings = bot_settings(
            slack, NOWHERE, NOWHERE, alertmanager={"url": alertmanager_url},
            roles={"responders": [RESPONDER]},
            alerts={"digest_threshold": THRESHOLD, "channel_interval_s": 0.02, "tick_s": 0.2,
                    "silence_durations": ["30m", "2h"], **alerts})
        clock = Clock()
        client = build_client(settings.slack)
        runtime = Runtime.from_settings(settings, usergroup_members(client), now=clock)
        bot = Bot(settings, client, runtime).start()
        bots.append(bot)
        return Storm(bot, slack, clock)

    yield start
    for bot in bots:
        bot.stop()


def test_below_the_threshold_every_incident_is_posted_alone(
        storm: Callable[..., Storm]) -> None:
    s = storm()
    s.fire("GPUMemoryHigh", range(THRESHOLD))
    wait(lambda: len(s.cards()) == THRESHOLD, "a card per incident")
    s.tick()
    assert s.digests() == []
    assert all(i.digest_id is None for i in s.incidents())
    with s.bot.runtime.store.db.session(readonly=True) as db:
        assert not db.scalars(select(Outbox).where(Outbox.dedupe_key.like("digest:%"))).all()


def test_past_the_threshold_one_digest_is_edited_in_place_and_every_incident_stays_usable(
        storm: Callable[..., Storm], slack: SlackStandin) -> None:
    s = storm()
    alone = s.fire("GPUMemoryHigh", range(THRESHOLD))
    wait(lambda: len(s.cards()) == THRESHOLD, "the first cards out before the storm grows")
    digested = s.fire("GPUMemoryHigh", range(THRESHOLD, THRESHOLD + 3))
    first = s.digest(lambda m: counted(m) == 3, "the digest counting 3")
    digested += s.fire("GPUMemoryHigh", range(10, 13)) + s.fire("ModelPodRestarting", range(4))
    last = s.digest(lambda m: counted(m) == 10, "the digest edited to 10")
    assert last["ts"] == first["ts"] and "edited" in last
    text = body_of(last)
    assert "*GPUMemoryHigh* · warning: *6* (6 firing)" in text
    assert "*ModelPodRestarting* · warning: *4* (4 firing)" in text
    assert "/genai alerts" in text and "/genai ack &lt;id&gt;" in text
    assert not validate_blocks(last["blocks"])
    # One post for the digest; the first THRESHOLD got their cards, the rest none.
    posts = [c for c in slack.calls_to("chat.postMessage", ok=True)
             if c.params.get("channel") == s.channel and not c.params.get("thread_ts")]
    assert len(posts) == THRESHOLD + 1
    assert len(s.cards()) == THRESHOLD
    stored = {i.public_id: i for i in s.incidents()}
    assert set(stored) == set(alone + digested)
    assert {pid for pid, i in stored.items() if i.digest_id is not None} == set(digested)
    # A digested incident is acknowledged like any other, audited, with no card to edit.
    pid = digested[5]
    resp = slack.send_slash_command(f"{s.bot.url}/slack/events", f"ack {pid}",
                                    user_id=RESPONDER, channel_id=s.channel)
    assert resp.status_code == 200
    inc = wait(lambda: (i := s.bot.runtime.store.incidents.get(pid)) and i.acked_by and i,
               "the digested incident acknowledged")
    assert inc.acked_by == RESPONDER
    assert [a.kind for a in s.bot.runtime.store.incidents.actions(pid)] == [ActionKind.ACK]
    s.digest(lambda m: "1 acknowledged" in body_of(m), "the digest counting the ack")
    # The card edit and the thread note of that ack are dropped, never sent.
    def settled() -> list[Outbox]:
        with s.bot.runtime.store.db.session(readonly=True) as db:
            rows = db.scalars(select(Outbox).where(Outbox.incident_id == inc.id)).all()
        return list(rows) if rows and all(r.state == OutboxState.DONE for r in rows) else []
    assert len(wait(settled, "the ack's rows dropped")) == 2
    assert not [c for c in slack.calls_to("chat.postMessage")
                if c.params.get("thread_ts") == first["ts"]]
    assert len(s.cards()) == THRESHOLD and len(s.digests()) == 1


@pytest.fixture
def alertmanager() -> Iterator[AlertmanagerProcess]:
    require_binary(["prometheus-alertmanager", "alertmanager"], "digest silences are real")
    config = yaml.safe_dump({"route": {"receiver": "none"}, "receivers": [{"name": "none"}]})
    with AlertmanagerProcess(config) as am:
        yield am


def test_a_responder_acknowledges_and_silences_an_alertname_from_the_digest_and_a_viewer_cannot(
        storm: Callable[..., Storm], slack: SlackStandin,
        alertmanager: AlertmanagerProcess) -> None:
    s = storm(alertmanager.url)
    s.fire("GPUMemoryHigh", range(THRESHOLD))
    wait(lambda: len(s.cards()) == THRESHOLD, "the first cards out before the storm grows")
    gpu = s.fire("GPUMemoryHigh", range(10, 15))
    pods = s.fire("ModelPodRestarting", range(3))
    msg = s.digest(lambda m: counted(m) == 8, "the digest counting 8")
    ack_value = option(msg, Button.DIGEST_ACK, "GPUMemoryHigh")
    silence_value = option(msg, Button.DIGEST_SILENCE, "ModelPodRestarting")
    assert ack_value and silence_value and silence_value.endswith("|30m")
    url = f"{s.bot.url}/slack/events"

    def click(action: Button, value: str, user: str) -> None:
        resp = slack.send_block_action(url, action.value, value=value, user_id=user,
                                       channel_id=s.channel, message_ts=msg["ts"])
        assert resp.status_code == 200

    # A viewer: refused privately, one audit row per click, nothing else changes.
    click(Button.DIGEST_ACK, ack_value, VIEWER)
    click(Button.DIGEST_SILENCE, silence_value, VIEWER)
    wait(lambda: sum("Only responders may" in str(r["payload"].get("text"))
                     for r in slack.responses) == 2, "two private refusals")
    with s.bot.runtime.store.db.session(readonly=True) as db:
        refused = db.scalars(select(Action).where(Action.allowed.is_(False))).all()
    assert sorted(a.kind for a in refused) == [ActionKind.ACK, ActionKind.SILENCE]
    assert all(a.user_id == VIEWER and a.detail["role"] == "viewer" for a in refused)
    assert {a.detail["alertname"] for a in refused} == {"GPUMemoryHigh", "ModelPodRestarting"}
    assert all(i.acked_at is None and i.silence_id is None for i in s.incidents())
    assert alertmanager.silences() == []
    # A responder acknowledges every GPUMemoryHigh of the digest: each audited on its own.
    click(Button.DIGEST_ACK, ack_value, RESPONDER)
    wait(lambda: any("Acknowledged 5 GPUMemoryHigh incidents" in str(r["payload"].get("text"))
                     for r in slack.responses), "the ack's answer")
    by_id = {i.public_id: i for i in s.incidents()}
    assert all(by_id[p].acked_by == RESPONDER for p in gpu)
    assert all(by_id[p].acked_at is None for p in pods)
    for pid in gpu:
        acts = s.bot.runtime.store.incidents.actions(pid)
        assert [(a.kind, a.allowed) for a in acts] == [(ActionKind.ACK, True)]
    # ...and silences ModelPodRestarting: one Alertmanager silence, every incident marked.
    click(Button.DIGEST_SILENCE, silence_value, RESPONDER)
    silence = wait(lambda: next(iter(alertmanager.silences()), None), "the silence")
    assert len(alertmanager.silences()) == 1 and silence["createdBy"] == RESPONDER
    assert sorted((m["name"], m["value"], m["isEqual"]) for m in silence["matchers"]) == [
        ("alertname", "ModelPodRestarting", True), ("severity", "warning", True)]
    marked = wait(lambda: (inc := [i for i in s.incidents() if i.public_id in pods])
                  and all(i.silence_id == silence["id"] for i in inc) and inc, "all silenced")
    assert len(marked) == 3
    edited = s.digest(lambda m: "3 silenced" in body_of(m) and "5 acknowledged" in body_of(m),
                      "the digest showing both")
    # The menus offer only what is left to do: no GPUMemoryHigh to ack, no pods to silence.
    assert option(edited, Button.DIGEST_ACK, "GPUMemoryHigh") is None
    assert option(edited, Button.DIGEST_SILENCE, "ModelPodRestarting") is None
    assert option(edited, Button.DIGEST_ACK, "ModelPodRestarting") is not None
    assert edited["ts"] == msg["ts"] and not validate_blocks(edited["blocks"])


def test_when_the_storm_subsides_the_digest_is_finalised_and_single_posts_resume(
        storm: Callable[..., Storm], slack: SlackStandin) -> None:
    s = storm()
    s.fire("GPUMemoryHigh", range(THRESHOLD))
    wait(lambda: len(s.cards()) == THRESHOLD, "the first cards out before the storm grows")
    digested = s.fire("GPUMemoryHigh", range(10, 16))
    s.digest(lambda m: counted(m) == 6, "the digest counting 6")
    # The runbooks of the first single posts waited for the digest; now they are out.
    wait(lambda: len([m for m in slack.messages[s.channel]
                      if m.get("thread_ts") not in (None, m["ts"])]) == THRESHOLD,
         "the runbook replies of the single posts")
    # A digested incident resolves: the digest says so, the channel gets no message for it.
    before = len(slack.calls_to("chat.postMessage"))
    s.fire("GPUMemoryHigh", range(10, 11), status="resolved")
    s.digest(lambda m: "1 resolved" in body_of(m), "the digest counting the resolve")
    s.clock.advance(30)  # still stormy: the window has not passed
    s.tick()
    assert s.bot.runtime.store.digests.states(s.clock())[0].is_open
    s.clock.advance(31)  # a minute without a new incident: the storm is over
    s.tick()
    final = s.digest(lambda m: "Alert storm over" in m["text"], "the finalised digest")
    assert counted(final) == 6 and "posted one by one again" in body_of(final)
    assert not s.bot.runtime.store.digests.states(s.clock())[0].is_open
    # Its menus still offer what makes sense: the five firing, unacknowledged ones.
    assert option(final, Button.DIGEST_ACK, "GPUMemoryHigh") is not None
    assert "(5 open)" in body_of(final)
    assert len(slack.calls_to("chat.postMessage")) == before + 0  # edits only
    # Single posts resume.
    cards = len(s.cards())
    fresh = s.fire("GPUMemoryHigh", range(20, 21))
    wait(lambda: len(s.cards()) == cards + 1, "the next incident posted alone")
    new = s.bot.runtime.store.incidents.get(fresh[0])
    assert new is not None and new.digest_id is None
    assert counted(s.digests()[0]) == 6 and len(s.digests()) == 1
    assert all(i.digest_id is not None for i in s.incidents() if i.public_id in digested)


# ------------------------------------------------------------------ store and message


def test_edits_are_coalesced_per_time_bucket(tmp_path: Any) -> None:
    """However many changes, one edit per bucket of edit_interval, due at its end; once a
    bucket's edit is on its way, the next change takes the next bucket."""
    store = open_store(f"sqlite:///{tmp_path}/bot.db")
    state = DigestState(7, "dgst000001", "C1", "1700000000.000100", True,
                        datetime(2026, 1, 1, tzinfo=UTC), 12, 12, 0, 0, 0)
    at = datetime(2026, 1, 1, 10, 0, 1, tzinfo=UTC)
    interval = timedelta(seconds=5)
    for offset in (0.0, 1.0, 3.9):
        assert store.digests.request_edit(state, at + timedelta(seconds=offset), interval)
    with store.db.session() as db:
        rows = db.scalars(select(Outbox)).all()
        assert [(r.dedupe_key, r.next_attempt_at) for r in rows] == [
            (edit_key(7, int(at.timestamp()) // 5), datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC))]
        rows[0].state = OutboxState.DONE  # sent: a later change needs another edit
    assert store.digests.request_edit(state, at + timedelta(seconds=2), interval)
    with store.db.session(readonly=True) as db:
        due = [r.next_attempt_at for r in db.scalars(select(Outbox).order_by(Outbox.id))]
    assert due == [datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC),
                   datetime(2026, 1, 1, 10, 0, 10, tzinfo=UTC)]
    unknown = DigestState(8, "dgst000002", "C1", None, True, at, 1, 1, 0, 0, 1)
    assert not store.digests.request_edit(unknown, at, interval)  # nothing to edit yet
    store.db.dispose()


def test_a_huge_hostile_digest_stays_inside_slacks_limits() -> None:
    """80 alert names of 300 characters at two severities, labels that try to ping: the
    message Slack accepts, every row counted, nothing pinged."""
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    long = "<!channel>" + "X" * 290
    counts = [DigestCount(f"{long}{n}", sev, 50, 40, 30, 10, 5)
              for n in range(80) for sev in ("warning", "<!here>")]
    newest = [DigestEntry(f"id{n:08d}", f"{long}{n}", "warning",
                          {"node": "<!channel>" * 30, "gpu": "3"}, now, True, False)
              for n in range(5)]
    summary = DigestSummary("dgst000001", "C1", True, now, now, None, counts, newest)
    msg = digest_message(summary, now=now, silence_durations=["30m", "2h", "4h", "24h"])
    assert validate_blocks(msg["blocks"]) == []
    assert len(msg["blocks"]) <= 6
    raw = json.dumps(msg)
    assert "<!channel>" not in raw and "<!here>" not in raw
    assert "8000 new incidents" in msg["text"]
    text = body_of(msg)
    shown = len(re.findall(r"\*50\*", text))
    assert 0 < shown < len(counts)
    assert f"and {len(counts) - shown} more rows: {50 * (len(counts) - shown)} incidents" in text
    values = [o["value"] for b in msg["blocks"] for el in b.get("elements") or []
              for g in el.get("option_groups") or [{"options": el.get("options") or []}]
              for o in g["options"]]
    assert values and all(len(v) <= 150 for v in values)
    assert f"dgst000001|{alertname_key(f'{long}0')}" in values


# ------------------------------------------------------------------ the store, on both databases


def _item(channel: str, node: int, status: str = "firing", **labels: str) -> IntakeItem:
    body = notification(status, extra={"node": f"n{node}", **labels})
    body["groupKey"] = f'{{}}:{{node="n{node}"}}'
    return IntakeItem(body, channel)


def _rows(store: Store) -> list[tuple[str, str, datetime]]:
    with store.db.session(readonly=True) as db:
        return [(o.dedupe_key, o.state.value, o.next_attempt_at)
                for o in db.scalars(select(Outbox).order_by(Outbox.id))]


def test_the_intake_routes_a_storm_into_one_digest_and_the_tick_follows_it(db_url: str) -> None:
    store = open_store(db_url, migrate=False)
    policy = DigestPolicy(threshold=3)
    intake = store.intake.with_digest(policy)
    ticker = DigestTicker(store.digests, policy)
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    at = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    first = [intake.record(_item("C1", n), now=t0).public_id for n in range(3)]
    # A worker has the first post in hand (it goes out); the other two still wait.
    [sending] = store.outbox.claim("w0", 1, t0, 30)
    assert sending.dedupe_key.endswith(":post") and sending.incident_id is not None
    batch = intake.record_batch([_item("C1", n) for n in range(3, 8)]
                                + [_item("C2", n) for n in range(20, 22)]
                                + [_item("C1", 99, gameday="true")], now=t0)
    assert store.outbox.complete(sending.id, "1700000000.000100", worker_id="w0")
    by_id = {i.public_id: i for i in store.incidents.open(include_drills=True)}
    alone = [p for p in first if by_id[p].id == sending.incident_id]
    absorbed = [p for p in first if p not in alone]
    digested = absorbed + [r.public_id for r in batch[:5] if isinstance(r, IntakeResult)]
    assert len(alone) == 1 and len(digested) == 7
    assert len({by_id[p].digest_id for p in digested}) == 1
    assert all(by_id[p].digest_id is None for p in alone)
    others = [r.public_id for r in batch[5:] if isinstance(r, IntakeResult)]
    assert all(by_id[p].digest_id is None for p in others)  # another channel, and a drill
    [state] = store.digests.states(at(1))
    assert (state.channel, state.total, state.is_open, state.slack_ts) == ("C1", 7, True, None)
    rows = _rows(store)
    assert sum(k.startswith("digest:") for k, _, _ in rows) == 1  # the post, nothing for each
    # The queued posts of the storm's first incidents are not sent, nor their runbooks; the
    # runbook of the one already on its way waits behind the digest.
    ids = {by_id[p].id for p in absorbed}
    assert sorted(st for k, st, _ in rows
                  if k.endswith(":post") and int(k.split(":")[1]) in ids) == ["done", "done"]
    assert [st for k, st, _ in rows
            if k.endswith(":runbook") and k.split(":")[1] in absorbed] == ["done", "done"]
    assert [due for k, _, due in rows
            if k.endswith(":runbook") and k.split(":")[1] in alone] == [at(60)]
    ticker.tick(at(1))
    assert not [k for k, _, _ in _rows(store) if ":edit:" in k]  # its message is not out yet
    # The worker delivers the digest's post; the tick learns its ts.
    claimed = store.outbox.claim("w1", 50, at(2), 30)
    post = next(r for r in claimed if r.dedupe_key == post_key(state.id))
    assert store.outbox.complete(post.id, "1700000000.000200", worker_id="w1")
    store.outbox.release([r.id for r in claimed if r.id != post.id], worker_id="w1")
    ticker.tick(at(2))
    linked = [store.incidents.get(p) for p in digested]
    assert all(i is not None and i.slack_ts == i.thread_ts == "1700000000.000200"
               for i in linked)
    rows = _rows(store)
    assert [due for k, st, due in rows
            if k.endswith(":runbook") and st == "pending"][:1] == [at(2)]
    assert [due for k, _, due in rows if ":edit:" in k] == [at(5)]
    ticker.tick(at(3))
    assert len([k for k, _, _ in _rows(store) if ":edit:" in k]) == 1  # nothing changed
    # One more joins (it points at the digest at once); a digested one resolves quietly.
    late = intake.record(_item("C1", 50), now=at(10)).public_id
    inc = store.incidents.get(late)
    assert inc is not None and inc.slack_ts == "1700000000.000200"
    before = len(_rows(store))
    intake.record(_item("C1", 3, "resolved"), now=at(11))
    assert len(_rows(store)) == before  # no card edit, no thread note
    ticker.tick(at(12))
    assert [due for k, _, due in _rows(store) if ":edit:" in k] == [at(5), at(15)]
    ticker.tick(at(69))  # 59 s of quiet: still open
    assert store.digests.states(at(69))[0].is_open
    ticker.tick(at(71))
    [closed] = store.digests.states(at(71))
    assert not closed.is_open and (closed.total, closed.firing) == (8, 7)
    assert [due for k, _, due in _rows(store) if ":edit:" in k][-1] == at(75)  # the final edit
    # Quiet for the window: the channel's next incident is posted alone again.
    after = intake.record(_item("C1", 60), now=at(71)).public_id
    fresh = store.incidents.get(after)
    assert fresh is not None and fresh.digest_id is None
    assert any(k.endswith(":post") and k.startswith(f"incident:{fresh.id}:") for k, _, _ in
               _rows(store))
    summary = store.digests.summary(closed.public_id, at(71))
    assert summary is not None and summary.total == 8 and not summary.is_open
    assert [(c.alertname, c.total, c.firing) for c in summary.counts] == [("GPUMemoryHigh", 8, 7)]
    store.db.dispose()


def test_replicas_racing_into_a_storm_open_one_digest(db_url: str) -> None:
    """Two replicas (each its own engine) take a channel's storm at once: one open digest,
    and every incident is either posted or counted in it."""
    policy = DigestPolicy(threshold=3)
    stores = [open_store(db_url, migrate=False) for _ in range(2)]
    barrier = threading.Barrier(2)

    def replica(n: int) -> list[str]:
        intake = stores[n].intake.with_digest(policy)
        barrier.wait()
        return [str(intake.record(_item("C1", n * 100 + i)).public_id) for i in range(10)]

    with ThreadPoolExecutor(2) as pool:
        ids = [p for got in pool.map(replica, range(2)) for p in got]
    store = stores[0]
    incidents = store.incidents.open()
    assert len(ids) == len(set(ids)) == len(incidents) == 20
    with store.db.session(readonly=True) as db:
        digests = db.scalars(select(Digest)).all()
        posts = {o.incident_id for o in db.scalars(select(Outbox).where(
            Outbox.dedupe_key.like("incident:%:post"), Outbox.state == OutboxState.PENDING))}
    assert len(digests) == 1 and digests[0].open_marker == 1
    assert all((i.digest_id == digests[0].id) != (i.id in posts) for i in incidents)
    # No worker sent anything meanwhile: the first posts were all counted in the digest.
    assert posts == set()
    for s in stores:
        s.db.dispose()
