"""One pace per channel for the whole deployment: two replicas (two outbox workers, each with
its own engine) on one database post into the same channels through the Slack stand-in, and
the gaps Slack sees between two posts in a channel never fall below the interval. Also the
store's reservations on their own, a 429 one replica saw holding the other, and the cost.

SQLite (a WAL file) and PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.messages import OutboxMessage, ReportPost
from bot.report import Report
from bot.slack.outbox.pace import ChannelPacer
from bot.slack.outbox.requests import metadata_key
from bot.slack.outbox.worker import OutboxWorker
from bot.store import Store
from bot.store.pace import PaceStore, Reservation
from tests.harness.slack import SlackStandin

CHANNELS = ("CPACE1", "CPACE2", "CPACE3")


@pytest.fixture
def client(slack: SlackStandin) -> WebClient:
    for cid in CHANNELS:
        slack.create_channel(cid.lower(), cid)
    return WebClient(base_url=slack.api_url, token=slack.bot_token)


def render(message: OutboxMessage) -> dict[str, Any] | None:
    assert isinstance(message, ReportPost)
    return {"text": message.report.title}


def enqueue(store: Store, key: str, channel: str) -> None:
    report = Report(title=f"{key} in {channel}", summary=json.dumps(None))
    assert store.outbox.enqueue(ReportPost(report=report), channel, key)


def replicas(stores: Callable[[], Store], client: WebClient, interval_s: float,
             n: int = 2, **kw: Any) -> list[OutboxWorker]:
    return [OutboxWorker(stores().outbox, client, render, worker_id=f"replica-{i}",
                         per_channel_interval_s=interval_s, **kw) for i in range(n)]


def wait_drained(store: Store, timeout: float) -> float:
    start = time.monotonic()
    while store.outbox.pending_count():
        assert time.monotonic() - start < timeout, f"not drained: {store.outbox.counts()}"
        time.sleep(0.02)
    return time.monotonic() - start


def gaps_per_channel(slack: SlackStandin) -> dict[str, list[float]]:
    """Seconds between consecutive chat.postMessage calls Slack received in each channel
    (every call, answered or refused: Slack counts them all)."""
    at: defaultdict[str, list[float]] = defaultdict(list)
    for call in slack.calls_to("chat.postMessage"):
        at[call.params["channel"]].append(call.at)
    return {ch: [b - a for a, b in itertools.pairwise(sorted(ts))] for ch, ts in at.items()}


def keys_posted(slack: SlackStandin) -> Counter[str]:
    return Counter(k for msgs in slack.messages.values() for m in msgs
                   if (k := metadata_key(m)) is not None)


def run_storm(stores: Callable[[], Store], slack: SlackStandin, client: WebClient,
              workers: list[OutboxWorker], *, interval_s: float, per_channel: int,
              timeout: float) -> tuple[float, float, list[OutboxWorker]]:
    """Queue ``per_channel`` rows in each channel, then let two replicas deliver them;
    returns the smallest gap in any channel, the time taken, and the replicas."""
    first = stores()
    keys = [f"k{i:03d}" for i in range(per_channel * len(CHANNELS))]
    for i, key in enumerate(keys):
        enqueue(first, key, CHANNELS[i % len(CHANNELS)])
    pair = replicas(stores, client, interval_s)
    workers.extend(pair)
    for w in pair:
        w.start()
    elapsed = wait_drained(first, timeout)
    gaps = gaps_per_channel(slack)
    smallest = min(g for gs in gaps.values() for g in gs)
    # Nothing lost, nothing doubled, every row done.
    assert keys_posted(slack) == Counter(dict.fromkeys(keys, 1))
    assert len(slack.calls_to("chat.postMessage")) == len(keys)
    assert first.outbox.counts()["done"] == len(keys)
    assert sum(w.stats["sent"] for w in pair) == len(keys)
    return smallest, elapsed, pair


# ------------------------------------------------------------------ two replicas


def test_two_replicas_keep_one_message_a_second_per_channel(
    db_url: str, stores: Callable[[], Store], slack: SlackStandin, client: WebClient,
    workers: list[OutboxWorker],
) -> None:
    """The real pace (1 s). Per process alone, the two replicas posted 0.08 s apart."""
    smallest, elapsed, pair = run_storm(stores, slack, client, workers, interval_s=1.0,
                                        per_channel=5, timeout=30)
    print(f"\n{db_url.split(':')[0]}: 2 replicas, 3 channels x 5 posts at 1/s: smallest gap "
          f"{smallest:.3f}s, {elapsed:.2f}s, sent {[w.stats['sent'] for w in pair]}, "
          f"turned away {[w.stats['held_elsewhere'] for w in pair]}")
    assert smallest >= 1.0
    # The channels went side by side (one after the other would take 15 s), and the
    # replicas really competed for them.
    assert elapsed < 10.0
    assert all(w.stats["sent"] + w.stats["held_elsewhere"] > 0 for w in pair)


def test_two_replicas_at_a_short_interval_many_rows(
    db_url: str, stores: Callable[[], Store], slack: SlackStandin, client: WebClient,
    workers: list[OutboxWorker],
) -> None:
    smallest, elapsed, pair = run_storm(stores, slack, client, workers, interval_s=0.1,
                                        per_channel=20, timeout=30)
    print(f"\n{db_url.split(':')[0]}: 2 replicas, 3 channels x 20 posts at 10/s: smallest "
          f"gap {smallest:.3f}s, {elapsed:.2f}s, sent {[w.stats['sent'] for w in pair]}")
    assert smallest >= 0.1
    assert elapsed < 6.0  # 20 posts a channel at 10/s, channels side by side


def test_rate_limit_seen_by_one_replica_holds_the_other(
    stores: Callable[[], Store], slack: SlackStandin, client: WebClient,
    workers: list[OutboxWorker],
) -> None:
    """Replica 0 is answered 429 (Retry-After: 2) in a channel; replica 1, with its own rows
    there and nothing of that 429 in its own memory, writes there only after 2 s."""
    first = stores()
    one, other = replicas(stores, client, 0.05, idle_sleep_s=0.05)
    slack.fail_next("chat.postMessage", 1, status=429, retry_after=2)
    enqueue(first, "limited", "CPACE1")
    assert one.run_once() == 0 and one.stats["rate_limited"] == 1
    (refused,) = slack.calls_to("chat.postMessage")
    held = first.pace.held()
    assert 1.8 < held["CPACE1"] <= 2.01, held
    enqueue(first, "other", "CPACE1")
    enqueue(first, "elsewhere", "CPACE2")
    workers.append(other)
    other.start()
    wait_drained(first, timeout=10)
    posts = slack.calls_to("chat.postMessage", ok=True)
    in_held = [c.at for c in posts if c.params["channel"] == "CPACE1"]
    (elsewhere,) = [c.at for c in posts if c.params["channel"] == "CPACE2"]
    print(f"\n429 at 0; the other replica's posts in that channel at "
          f"{[round(t - refused.at, 3) for t in in_held]}, elsewhere at "
          f"{elsewhere - refused.at:.3f}")
    assert min(in_held) - refused.at >= 2.0
    assert elsewhere - refused.at < 1.0  # the other channel was not held
    assert other.stats["held_elsewhere"] >= 1  # it tried, and the shared hold said no
    assert keys_posted(slack) == {"limited": 1, "other": 1, "elsewhere": 1}


def test_one_replica_is_never_turned_away_by_its_own_pace(
    stores: Callable[[], Store], slack: SlackStandin, client: WebClient,
    workers: list[OutboxWorker],
) -> None:
    """Alone, a worker's local view frees a channel only once the shared one has: it asks the
    database once per write, and is never refused."""
    store = stores()
    for i in range(12):
        enqueue(store, f"k{i:02d}", CHANNELS[i % 2])
    (worker,) = replicas(stores, client, 0.1, n=1)
    workers.append(worker)
    worker.start()
    wait_drained(store, timeout=10)
    assert worker.stats["sent"] == 12 and worker.stats["held_elsewhere"] == 0
    assert min(g for gs in gaps_per_channel(slack).values() for g in gs) >= 0.1


# ------------------------------------------------------------------ the store


def test_reserve_settle_and_hold(stores: Callable[[], Store]) -> None:
    pace = PaceStore(stores().db)
    taken = pace.reserve("C1", hold_s=10)
    assert taken.taken and taken.wait_s == 0
    busy = pace.reserve("C1", hold_s=10)
    assert not busy.taken and busy.until == taken.until and 9.5 < busy.wait_s <= 10
    # Settling the reservation frees the channel an interval after the send.
    freed_at = pace.settle("C1", 1.0, taken.until)
    assert freed_at is not None and freed_at < taken.until
    # Still held until then (a second of slack for a loaded machine), and not longer.
    assert 0 < pace.reserve("C1", hold_s=10).wait_s <= 1.0
    time.sleep(max(0.0, (freed_at - datetime.now(UTC)).total_seconds()) + 0.05)
    again = pace.reserve("C1", hold_s=10)
    assert again.taken
    # A 429 seen elsewhere holds longer; settling the older reservation cannot shorten it.
    assert pace.settle("C1", 30) is not None
    assert pace.settle("C1", 1, again.until) is None
    assert 29 < pace.held()["C1"] <= 30
    # A hold only ever lengthens; on a channel never used it creates the row.
    assert pace.settle("C1", 5) is None
    assert pace.settle("C9", 5) is not None and not pace.reserve("C9", 1).taken
    # Cancelling a reservation (no write after all) frees the channel at once.
    c2 = pace.reserve("C2", hold_s=10)
    pace.settle("C2", 0.0, c2.until)
    assert pace.reserve("C2", hold_s=10).taken


def test_a_reservation_nobody_settles_runs_out(stores: Callable[[], Store]) -> None:
    """A replica that dies mid-send holds the channel only for its reservation."""
    first, second = PaceStore(stores().db), PaceStore(stores().db)
    assert first.reserve("C1", hold_s=1.5).taken
    assert not second.reserve("C1", hold_s=1.5).taken
    time.sleep(1.55)
    assert second.reserve("C1", hold_s=1.5).taken


def test_concurrent_reservations_take_a_channel_once(stores: Callable[[], Store]) -> None:
    """Sixteen threads over four engines race for one channel, ten times: one wins each."""
    paces = [PaceStore(stores().db) for _ in range(4)]

    def race(pace: PaceStore, channel: str, start: threading.Barrier, won: list[bool]) -> None:
        start.wait()
        won.append(pace.reserve(channel, hold_s=5).taken)

    for round_ in range(10):
        start = threading.Barrier(16)
        won: list[bool] = []
        threads = [threading.Thread(target=race, args=(paces[i % 4], f"C{round_}", start, won))
                   for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(won) == [False] * 15 + [True]


def test_pacer_waits_locally_without_asking_again(stores: Callable[[], Store]) -> None:
    """Turned away by another replica, a pacer keeps the channel held locally (at most an
    interval), so the worker sleeps instead of asking the database in a loop."""
    store = stores()
    pace = PaceStore(store.db)
    mine = ChannelPacer(pace, interval_s=1.5, send_timeout_s=10)
    theirs = ChannelPacer(PaceStore(stores().db), interval_s=1.5, send_timeout_s=10)
    slot = theirs.acquire("C1")
    assert slot is not None
    assert mine.acquire("C1") is None  # their send is in flight: 11.5 s reserved
    # Held locally for at most an interval (a second of slack for a loaded machine).
    assert mine.held() == ["C1"] and 0.5 < mine.free_at("C1") - time.monotonic() <= 1.5
    theirs.done(slot)  # answered: free 1.5 s from now
    assert 0.5 < pace.held()["C1"] <= 1.5
    time.sleep(1.55)
    assert mine.acquire("C1") is not None and mine.held() == []


# ------------------------------------------------------------------ the cost


class TimedPace(PaceStore):
    """The real store, timing what the worker spends in it."""

    spent_s = 0.0
    calls = 0

    def reserve(self, channel: str, hold_s: float) -> Reservation:
        start = time.perf_counter()
        try:
            return super().reserve(channel, hold_s)
        finally:
            self.spent_s += time.perf_counter() - start
            self.calls += 1

    def settle(self, channel: str, after_s: float,
               reserved: datetime | None = None) -> datetime | None:
        start = time.perf_counter()
        try:
            return super().settle(channel, after_s, reserved)
        finally:
            self.spent_s += time.perf_counter() - start
            self.calls += 1


def test_cost_of_the_shared_pace_per_send(
    db_url: str, stores: Callable[[], Store], slack: SlackStandin, client: WebClient,
) -> None:
    """What a send pays for the shared pace: a reservation and a settle, two short
    transactions, timed inside a worker delivering rows into channels that are all free
    (the case the local view cannot spare)."""
    store = stores()
    n = 60
    for i in range(n):
        enqueue(store, f"c{i:03d}", slack.create_channel(f"cost-{i}"))
    timed = TimedPace(store.db)
    worker = OutboxWorker(store.outbox, client, render, worker_id="w", batch=50,
                          per_channel_interval_s=1.0, pace=timed)
    start = time.perf_counter()
    while worker.run_once():
        pass
    row_ms = (time.perf_counter() - start) / n * 1000
    pace_ms = timed.spent_s / n * 1000
    print(f"\n{db_url.split(':')[0]}: a row delivered (claim, mark, post to the local "
          f"stand-in, complete) {row_ms:.2f} ms, of which the shared pace {pace_ms:.2f} ms")
    assert worker.stats["sent"] == n
    assert timed.calls == 2 * n  # one reservation and one settle per send, nothing more
