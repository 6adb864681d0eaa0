"""The outbox worker against the strict Slack stand-in, with the real ``WebClient``, on
SQLite (WAL file) and on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import structlog.testing
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.messages import OutboxMessage, ReportPost
from bot.report import Report
from bot.slack.outbox.requests import METADATA_EVENT_TYPE, metadata_key
from bot.slack.outbox.worker import OutboxWorker
from bot.store import (
    Incident,
    IntakeItem,
    IntakeResult,
    Outbox,
    OutboxRow,
    Store,
    utcnow,
)
from tests.harness.slack import SlackStandin

FAST = {"per_channel_interval_s": 0.02, "idle_sleep_s": 0.05}

@pytest.fixture
def store(stores: Callable[[], Store]) -> Store:
    return stores()


@pytest.fixture
def client(slack: SlackStandin) -> WebClient:
    return WebClient(base_url=slack.api_url, token=slack.bot_token)


@pytest.fixture(autouse=True)
def channels(slack: SlackStandin) -> None:
    """The channels these rows go to exist in the stand-in's workspace (CGONE is made to
    answer channel_not_found by set_channel_error where a test wants it)."""
    for cid in ("C0", "C1", "C2", "C3", "C4", "CA", "CB", "CGONE"):
        slack.create_channel(cid.lower(), cid)


def render(message: OutboxMessage) -> dict[str, Any] | None:
    """Test reports carry the Slack fields to send (JSON in the summary; "null" drops the
    row); incident messages get a short text naming their delivery and incident."""
    if isinstance(message, ReportPost):
        fields = json.loads(message.report.summary)
        return dict(fields) if fields is not None else None
    return {"text": f"{message.delivery.value} {getattr(message, 'incident', '')}"}


def raw(key: str, fields: dict[str, Any] | None) -> ReportPost:
    return ReportPost(report=Report(title=key, summary=json.dumps(fields)))


def enqueue(store: Store, key: str, channel: str, **msg: Any) -> None:
    assert store.outbox.enqueue(raw(key, msg), channel, key)


def record(store: Store, body: dict[str, Any], channel: str,
           thread_ts: str | None = None) -> IntakeResult:
    return store.intake.record(IntakeItem(body, channel, thread_ts, intro=None))


def rows(store: Store) -> dict[str, Outbox]:
    with store.db.session(readonly=True) as s:
        return {o.dedupe_key: o for o in s.scalars(select(Outbox).order_by(Outbox.id))}


def keys_posted(slack: SlackStandin) -> Counter[str]:
    """How many messages (top level and replies) carry each outbox key."""
    found: Counter[str] = Counter()
    for msgs in slack.messages.values():
        for m in msgs:
            key = metadata_key(m)
            if key is not None:
                found[key] += 1
    return found


def drain(worker: OutboxWorker, store: Store, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while store.outbox.pending_count():
        assert time.monotonic() < deadline, f"not drained: {store.outbox.counts()}"
        if not worker.run_once():
            time.sleep(0.01)


def wait_drained(store: Store, timeout: float) -> float:
    start = time.monotonic()
    while store.outbox.pending_count():
        assert time.monotonic() - start < timeout, f"not drained: {store.outbox.counts()}"
        time.sleep(0.05)
    return time.monotonic() - start


def am_payload(status: str, group: str = "gpu") -> dict[str, Any]:
    labels = {"alertname": "GPUMemoryHigh", "severity": "warning"}
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="GPUMemoryHigh",g="{group}"}}',
        "truncatedAlerts": 0, "status": status, "receiver": "slack-warning",
        "groupLabels": {"alertname": "GPUMemoryHigh"}, "commonLabels": labels,
        "commonAnnotations": {"summary": "GPU memory above 90%"},
        "externalURL": "http://am:9093",
        "alerts": [{"status": status, "labels": labels, "annotations": {},
                    "startsAt": "2025-03-01T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prom/x", "fingerprint": "c0ffee"}],
    }


# ------------------------------------------------------------------ delivery


def test_posts_in_order_and_keeps_ts(store: Store, slack: SlackStandin, client: WebClient) -> None:
    seen: list[tuple[str, str]] = []
    with structlog.testing.capture_logs() as logs:
        worker = OutboxWorker(store.outbox, client, render, worker_id="w1",
                              on_sent=lambda row, ts: seen.append((row.dedupe_key, ts)), **FAST)
        for i in range(6):
            enqueue(store, f"k{i}", "C1", text=f"message {i}")
        drain(worker, store)
    sent_logs = [e for e in logs if e["event"] == "outbox.sent"]
    assert [e["dedupe_key"] for e in sent_logs] == [f"k{i}" for i in range(6)]
    assert sent_logs[0]["worker_id"] == "w1" and sent_logs[0]["channel"] == "C1"
    assert slack.bot_token not in repr(logs)
    msgs = slack.messages["C1"]
    assert [m["text"] for m in msgs] == [f"message {i}" for i in range(6)]
    assert [metadata_key(m) for m in msgs] == [f"k{i}" for i in range(6)]
    assert msgs[0]["metadata"]["event_type"] == METADATA_EVENT_TYPE
    stored = rows(store)
    assert [(k, stored[k].state, stored[k].slack_ts) for k in stored] == [
        (f"k{i}", "done", m["ts"]) for i, m in enumerate(msgs)
    ]
    assert seen == [(f"k{i}", m["ts"]) for i, m in enumerate(msgs)]
    assert slack.calls_to("conversations.history") == []  # nothing to check on a first send


def test_reply_goes_into_the_thread_and_update_edits_in_place(
    store: Store, slack: SlackStandin, client: WebClient
) -> None:
    worker = OutboxWorker(store.outbox, client, render, worker_id="w1", **FAST)
    fired = record(store, am_payload("firing"), "C1")
    record(store, am_payload("resolved"), "C1")  # update + reply wait for the post
    drain(worker, store)
    assert fired.public_id is not None
    inc = store.incidents.get(fired.public_id)
    assert inc is not None and inc.slack_ts is not None
    (post,) = [m for m in slack.messages["C1"] if m["ts"] == inc.slack_ts]
    assert post["text"] == f"update {fired.public_id}" and "edited" in post
    thread = slack.thread("C1", inc.slack_ts)
    assert [m["text"] for m in thread] == [f"update {fired.public_id}",
                                           f"thread_reply {fired.public_id}"]
    assert thread[1]["thread_ts"] == inc.slack_ts
    assert len(slack.messages["C1"]) == 2
    assert [c.method for c in slack.calls] == ["chat.postMessage", "chat.update",
                                               "chat.postMessage"]


def test_anchored_incident_posts_into_the_existing_thread(
    store: Store, slack: SlackStandin, client: WebClient
) -> None:
    root = client.chat_postMessage(channel="C1", text="[FIRING:1] GPUMemoryHigh")["ts"]
    record(store, am_payload("firing"), "C1", thread_ts=root)
    drain(OutboxWorker(store.outbox, client, render, worker_id="w1", **FAST), store)
    assert [m.get("thread_ts") for m in slack.messages["C1"]] == [root, root]


def test_render_none_drops_the_row(store: Store, slack: SlackStandin, client: WebClient) -> None:
    assert store.outbox.enqueue(raw("gone", None), "C1", "gone")
    assert OutboxWorker(store.outbox, client, render, worker_id="w1", **FAST).run_once() == 1
    assert rows(store)["gone"].state == "done" and slack.calls == []


def test_notify_wakes_the_loop(
    store: Store, slack: SlackStandin, client: WebClient, workers: list[OutboxWorker]
) -> None:
    worker = OutboxWorker(store.outbox, client, render, worker_id="w1", idle_sleep_s=5.0,
                          per_channel_interval_s=0.02)
    workers.append(worker)
    worker.start()
    time.sleep(0.2)  # the loop is now asleep for 5 s
    start = time.monotonic()
    enqueue(store, "k", "C1", text="now")
    worker.notify()
    slack.wait_for(lambda c: c.method == "chat.postMessage" and c.ok, timeout=2)
    assert time.monotonic() - start < 1.0


# ------------------------------------------------------------------ rate limits and errors


ROWS_429 = 100  # 20 a channel: about 40 answers of 429, each holding its channel 1 s


def test_429_storm_delivers_every_row_exactly_once(
    db_url: str, stores: Callable[[], Store], slack: SlackStandin, client: WebClient,
    workers: list[OutboxWorker],
) -> None:
    """30% of calls answer 429 (Retry-After: 1). SQLite: one worker, checked call by call.
    PostgreSQL (the replicas' database): two workers share the rows."""
    replicas = 2 if db_url.startswith("postgresql") else 1
    store = stores()
    channels = [f"C{i}" for i in range(5)]
    for i in range(ROWS_429):
        enqueue(store, f"k{i:03d}", channels[i % 5], text=f"alert {i}")
    slack.set_429_ratio(0.3, retry_after=1)
    group = [OutboxWorker((store if n == 0 else stores()).outbox, client, render,
                          worker_id=f"w{n}", per_channel_interval_s=0.02)
             for n in range(replicas)]
    workers.extend(group)
    for w in group:
        w.start()
    elapsed = wait_drained(store, timeout=50)
    posts = slack.calls_to("chat.postMessage")
    limited = [c for c in posts if c.status == 429]
    print(f"\n{ROWS_429} rows / 5 channels / 30% 429 / {replicas} worker(s): drained in "
          f"{elapsed:.1f}s,"
          f" {len(posts)} postMessage calls, {len(limited)} answered 429, "
          f"sent {[w.stats['sent'] for w in group]}")
    assert keys_posted(slack) == Counter({f"k{i:03d}": 1 for i in range(ROWS_429)})
    assert store.outbox.counts()["done"] == ROWS_429
    assert all(o.attempts == 0 for o in rows(store).values())  # 429s are not failures
    assert len(limited) > 12 and elapsed < 45
    if replicas > 1:
        assert sum(w.stats["sent"] for w in group) == ROWS_429
        return  # the call-by-call checks below read one worker's sequence
    for ch, msgs in slack.messages.items():  # a rescheduled row keeps its place
        assert [metadata_key(m) for m in msgs] == [
            f"k{i:03d}" for i in range(ROWS_429) if channels[i % 5] == ch
        ]
    # Retry-After is honoured per channel: nothing is written there for 1 s after a 429.
    by_channel: defaultdict[str, list[float]] = defaultdict(list)
    for c in posts:
        by_channel[c.params["channel"]].append(c.at)
    for c in limited:
        later = [t for t in by_channel[c.params["channel"]] if t > c.at]
        assert not later or min(later) - c.at >= 0.95
    # Other channels kept going while one was held.
    assert any(
        any(c.at < t < c.at + 0.9 for ch, ts in by_channel.items()
            if ch != c.params["channel"] for t in ts)
        for c in limited
    )


def test_server_error_backs_off_then_succeeds(
    store: Store, slack: SlackStandin, client: WebClient, workers: list[OutboxWorker]
) -> None:
    slack.fail_next("chat.postMessage", 1, status=500)
    enqueue(store, "k", "C1", text="after a 500")
    worker = OutboxWorker(store.outbox, client, render, worker_id="w1", **FAST)
    workers.append(worker)
    worker.start()
    wait_drained(store, timeout=5)
    first, second = slack.calls_to("chat.postMessage")
    assert (first.status, second.status) == (500, 200)
    assert 0.7 <= second.at - first.at <= 2.5  # 1 s ± jitter
    # It was counted, so the worker checked that the 500 had not posted it after all.
    assert len(slack.calls_to("conversations.history", ok=True)) == 1
    assert keys_posted(slack) == {"k": 1}
    row = rows(store)["k"]
    assert (row.state, row.attempts, row.slack_ts) == ("done", 1, slack.messages["C1"][0]["ts"])


def test_pacing_per_channel_while_two_channels_interleave(
    store: Store, slack: SlackStandin, client: WebClient, workers: list[OutboxWorker]
) -> None:
    for i in range(3):
        enqueue(store, f"a{i}", "CA", text=f"a{i}")
    for i in range(3):
        enqueue(store, f"b{i}", "CB", text=f"b{i}")
    worker = OutboxWorker(store.outbox, client, render, worker_id="w1", per_channel_interval_s=1.0)
    workers.append(worker)
    worker.start()
    elapsed = wait_drained(store, timeout=10)
    at = {ch: [c.at for c in slack.calls_to("chat.postMessage", ok=True)
               if c.params["channel"] == ch] for ch in ("CA", "CB")}
    gaps = [b - a for ts in at.values() for a, b in itertools.pairwise(ts)]
    print(f"\npacing 1/s, 2 channels x 3 rows: {elapsed:.2f}s, gaps {[round(g, 3) for g in gaps]}")
    assert len(gaps) == 4 and min(gaps) >= 0.98
    assert at["CB"][0] < at["CA"][1]  # CB does not wait behind CA's backlog
    assert [m["text"] for m in slack.messages["CA"]] == ["a0", "a1", "a2"]
    assert elapsed < 3.5


def test_invalid_blocks_fall_back_to_text(
    store: Store, slack: SlackStandin, client: WebClient
) -> None:
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    enqueue(store, "k", "C1", text="GPU memory high on ip-10-0-1-5", blocks=[too_long])
    drain(OutboxWorker(store.outbox, client, render, worker_id="w1", **FAST), store)
    calls = slack.calls_to("chat.postMessage")
    assert [c.response.get("error") for c in calls] == ["invalid_blocks", None]
    (msg,) = slack.messages["C1"]
    assert msg["text"] == "GPU memory high on ip-10-0-1-5" and msg["blocks"] == []
    assert metadata_key(msg) == "k"
    row = rows(store)["k"]
    assert (row.state, row.slack_ts) == ("done", msg["ts"])


def test_permanent_error_is_dead_at_once(
    store: Store, slack: SlackStandin, client: WebClient
) -> None:
    slack.set_channel_error("CGONE", "channel_not_found")
    enqueue(store, "k", "CGONE", text="x")
    worker = OutboxWorker(store.outbox, client, render, worker_id="w1", **FAST)
    assert worker.run_once() == 1
    row = rows(store)["k"]
    assert row.state == "dead" and row.last_error is not None
    assert "channel_not_found" in row.last_error
    assert len(slack.calls) == 1


def test_dead_after_max_attempts_keeps_the_error(
    store: Store, slack: SlackStandin, client: WebClient
) -> None:
    slack.fail_next("chat.postMessage", 3, status=500)
    enqueue(store, "k", "C1", text="x")
    worker = OutboxWorker(store.outbox, client, render, worker_id="w1", max_attempts=3,
                          max_backoff_s=0.01, **FAST)
    drain(worker, store)
    row = rows(store)["k"]
    assert (row.state, row.attempts) == ("dead", 3)
    assert row.last_error == "chat.postMessage: internal_error (HTTP 500)"
    assert slack.messages["C1"] == [] and worker.stats["dead"] == 1


def test_the_clients_own_429_retries_are_not_used(
    store: Store, slack: SlackStandin, workers: list[OutboxWorker]
) -> None:
    given = WebClient(base_url=slack.api_url, token=slack.bot_token,
                      retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=5)])
    worker = OutboxWorker(store.outbox, given, render, worker_id="w1", **FAST)
    assert worker.client is not given and worker.client.retry_handlers == []
    assert worker.client.token == given.token and worker.client.base_url == given.base_url
    assert given.retry_handlers  # the caller's client is left as it was
    slack.fail_next("chat.postMessage", 1, status=429, retry_after=1)
    enqueue(store, "k", "C1", text="x")
    before = utcnow()
    assert worker.run_once() == 0
    assert [c.status for c in slack.calls] == [429]  # seen by the worker, not retried inside
    row = rows(store)["k"]
    assert (row.state, row.attempts) == ("pending", 0)
    assert row.next_attempt_at >= before + timedelta(seconds=0.9)
    assert worker.run_once(now=utcnow() + timedelta(seconds=5)) == 0  # channel still held
    assert len(slack.calls) == 1
    workers.append(worker)
    worker.start()
    wait_drained(store, timeout=5)
    assert slack.calls[1].at - slack.calls[0].at >= 0.95 and keys_posted(slack) == {"k": 1}


# ------------------------------------------------------------------ exactly once


def test_worker_that_died_before_commit_is_adopted_not_reposted(
    stores: Callable[[], Store], slack: SlackStandin, client: WebClient
) -> None:
    """Worker 1 posts (a message and a thread reply), then its database goes away before it
    records the ts: the rows stay `sending` under its claim. After the lease, worker 2 finds
    both messages by their metadata and adopts them."""
    root = client.chat_postMessage(channel="C1", text="root")["ts"]
    healthy = stores()
    enqueue(healthy, "post", "C1", text="the alert")
    # An incident anchored in Alertmanager's post: its runbook note goes into that thread.
    healthy.intake.record(IntakeItem(am_payload("firing"), "C1", root))
    with healthy.db.session() as s:
        for row in s.scalars(select(Outbox)):
            if row.kind == "thread_reply":
                row.dedupe_key = "reply"
            elif row.incident_id is not None:
                s.delete(row)  # only the note matters here
    with healthy.db.session() as s:  # the incident's post went out before
        for inc in s.scalars(select(Incident)):
            inc.slack_ts = root

    def gone(*_: Any, **__: Any) -> Any:
        raise OperationalError("UPDATE outbox", {}, Exception("server closed the connection"))

    dying = stores()
    dying.outbox.complete = gone  # type: ignore[method-assign]
    dying.outbox.release = gone  # type: ignore[method-assign]
    dying.outbox.retry = gone  # type: ignore[method-assign]
    w1 = OutboxWorker(dying.outbox, client, render, worker_id="w1", lease_s=30, **FAST)
    w1.run_once()
    assert keys_posted(slack) == {"post": 1, "reply": 1}
    assert {o.state for o in rows(healthy).values()} == {"sending"}

    w2 = OutboxWorker(healthy.outbox, client, render, worker_id="w2", lease_s=30, **FAST)
    assert w2.run_once() == 0  # w1's claim still holds
    assert w2.run_once(now=utcnow() + timedelta(seconds=31)) == 2
    assert w2.stats["adopted"] == 2 and w2.stats["sent"] == 0
    assert keys_posted(slack) == {"post": 1, "reply": 1}
    assert len(slack.calls_to("chat.postMessage")) == 3  # root + w1's two
    done = rows(healthy)
    (post_msg,) = [m for m in slack.messages["C1"] if metadata_key(m) == "post"]
    (reply_msg,) = [m for m in slack.messages["C1"] if metadata_key(m) == "reply"]
    assert (done["post"].state, done["post"].slack_ts) == ("done", post_msg["ts"])
    assert (done["reply"].state, done["reply"].slack_ts) == ("done", reply_msg["ts"])
    assert reply_msg["thread_ts"] == root
    assert slack.calls_to("conversations.history")[0].params["include_all_metadata"] in (
        "1", "true", True)
    assert len(slack.calls_to("conversations.replies", ok=True)) == 1


def test_rate_limited_lookup_keeps_the_row_suspect(
    stores: Callable[[], Store], slack: SlackStandin, client: WebClient
) -> None:
    """A reclaimed row whose check is answered 429 goes back to pending without a counted
    failure, but still marked as possibly sent: the next claim checks again and adopts."""
    store = stores()
    enqueue(store, "k", "C1", text="x")
    assert len(store.outbox.claim("vanished", 10, utcnow(), 30)) == 1
    client.chat_postMessage(channel="C1", text="x", metadata={
        "event_type": METADATA_EVENT_TYPE, "event_payload": {"key": "k"}})
    later = utcnow() + timedelta(seconds=31)
    slack.fail_next("conversations.history", 1, status=429, retry_after=1)
    w2 = OutboxWorker(store.outbox, client, render, worker_id="w2", **FAST)
    assert w2.run_once(now=later) == 0
    stored = rows(store)["k"]
    assert (stored.state, stored.attempts) == ("pending", 1)  # the vanished worker's attempt
    assert stored.last_error is not None and "ratelimited" in stored.last_error
    w3 = OutboxWorker(store.outbox, client, render, worker_id="w3", **FAST)
    assert w3.run_once(now=later + timedelta(seconds=2)) == 1
    assert w3.stats["adopted"] == 1 and keys_posted(slack) == {"k": 1}
    assert rows(store)["k"].slack_ts == slack.messages["C1"][0]["ts"]


def test_a_failing_row_or_store_does_not_stop_the_loop(
    store: Store, slack: SlackStandin, client: WebClient, workers: list[OutboxWorker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = {"render": 1, "claim": 1}

    def flaky_render(message: OutboxMessage) -> dict[str, Any] | None:
        if isinstance(message, ReportPost) and message.report.title == "bad" \
                and broken["render"]:
            broken["render"] -= 1
            raise KeyError("template")
        return render(message)

    real_claim = store.outbox.claim

    def flaky_claim(*args: Any, **kwargs: Any) -> list[OutboxRow]:
        if broken["claim"]:
            broken["claim"] -= 1
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(store.outbox, "claim", flaky_claim)
    for key in ("a", "bad", "c"):
        enqueue(store, key, "C1", text=key)
    worker = OutboxWorker(store.outbox, client, flaky_render, worker_id="w1", max_backoff_s=0.05,
                          **FAST)
    workers.append(worker)
    worker.start()
    wait_drained(store, timeout=5)
    assert keys_posted(slack) == {"a": 1, "bad": 1, "c": 1}
    assert broken == {"render": 0, "claim": 0}
    bad = rows(store)["bad"]
    assert bad.state == "done" and bad.attempts == 1
    assert worker._thread is not None and worker._thread.is_alive()


def test_store_claim_markers(store: Store) -> None:
    """What the worker relies on: reclaimed rows are flagged, a lost claim cannot be marked
    sending, and a release does not count an attempt unless the row may have been sent."""
    t0 = utcnow()
    for key in ("a", "b"):
        assert store.outbox.enqueue(raw(key, {}), "C1", key, now=t0)
    assert store.outbox.enqueue(raw("c", {}), "C2", "c", now=t0)
    first = store.outbox.claim("w1", 10, t0, 30, exclude_channels=["C2"])
    assert [(r.dedupe_key, r.reclaimed, r.may_have_been_sent) for r in first] == [
        ("a", False, False), ("b", False, False)]
    assert first[0].created_at == t0
    again = store.outbox.claim("w2", 10, t0 + timedelta(seconds=31), 30)
    assert [(r.dedupe_key, r.reclaimed) for r in again] == [("a", True), ("b", True), ("c", False)]
    assert store.outbox.mark_sending(first[0].id, "w1", t0 + timedelta(seconds=31), 30) is None
    until = store.outbox.mark_sending(again[0].id, "w2", t0 + timedelta(seconds=40), 30)
    assert until == t0 + timedelta(seconds=70)
    assert store.outbox.release([r.id for r in again], worker_id="w1") == 0  # not w1's
    assert store.outbox.release([again[0].id], worker_id="w2") == 1
    assert store.outbox.release([again[1].id], worker_id="w2", may_have_been_sent=True,
                                next_attempt_at=t0 + timedelta(minutes=1), error="429") == 1
    stored = rows(store)
    assert (stored["a"].state, stored["a"].attempts, stored["a"].next_attempt_at) == (
        "pending", 0, t0)
    assert (stored["b"].state, stored["b"].attempts, stored["b"].last_error) == (
        "pending", 1, "429")
    assert stored["b"].next_attempt_at == t0 + timedelta(minutes=1)
    assert stored["c"].state == "sending"


def test_lost_answer_is_adopted_not_reposted(
    store: Store, slack: SlackStandin, client: WebClient
) -> None:
    slack.drop_next_response("chat.postMessage")  # Slack posts it, the answer never arrives
    enqueue(store, "k", "C1", text="x")
    worker = OutboxWorker(store.outbox, client, render, worker_id="w1", max_backoff_s=0.01, **FAST)
    drain(worker, store)
    assert keys_posted(slack) == {"k": 1} and len(slack.calls_to("chat.postMessage")) == 1
    row = rows(store)["k"]
    assert (row.state, row.attempts, row.slack_ts) == ("done", 1, slack.messages["C1"][0]["ts"])
    assert worker.stats["adopted"] == 1


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.integration)], indirect=True
)
def test_two_workers_on_postgresql_deliver_each_row_once(
    stores: Callable[[], Store], slack: SlackStandin, client: WebClient,
    workers: list[OutboxWorker],
) -> None:
    first = stores()
    channels = [f"C{i}" for i in range(4)]
    for i in range(100):
        enqueue(first, f"k{i:03d}", channels[i % 4], text=f"alert {i}")
    pair = [OutboxWorker(s.outbox, client, render, worker_id=f"replica-{n}",
                         per_channel_interval_s=0.02)
            for n, s in enumerate((first, stores()))]
    workers.extend(pair)
    for w in pair:
        w.start()
    elapsed = wait_drained(first, timeout=30)
    split = [w.stats["sent"] for w in pair]
    print(f"\n2 workers, 100 rows, 4 channels: {elapsed:.2f}s, split {split}")
    assert keys_posted(slack) == Counter({f"k{i:03d}": 1 for i in range(100)})
    assert len(slack.calls_to("chat.postMessage")) == 100 and sum(split) == 100
    assert all(o.state == "done" and o.slack_ts for o in rows(first).values())
