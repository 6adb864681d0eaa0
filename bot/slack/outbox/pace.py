"""The outbox worker's pace per channel: what this process knows, in front of the pace all
replicas share (:mod:`bot.store.pace`).

Slack takes about one message a second per channel from the app, not from each replica. So
right before a write the worker reserves the channel in the database
(:meth:`ChannelPacer.acquire`); after it, the channel frees ``interval_s`` later
(:meth:`ChannelPacer.done`), and a 429's Retry-After holds it for every replica
(:meth:`ChannelPacer.hold`). The local view (monotonic times) saves the database round trips
for channels this process already knows are held, tells the worker how long to sleep, and
lets the claim leave those channels alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import structlog

from bot.store.pace import PaceStore

log = structlog.get_logger(__name__)

_FORGET_AFTER_S = 60.0  # free channels drop out of the local view after this
# Turned away, try the channel again no sooner than this, even at interval 0: a send
# elsewhere takes at least that long, and asking faster would only load the database.
_RETRY_FLOOR_S = 0.01


@dataclass(frozen=True)
class Slot:
    """A channel this worker may write to now; ``reserved`` is the shared reservation's
    token."""

    channel: str
    reserved: datetime


class ChannelPacer:
    """One write per channel per ``interval_s`` across every replica on the database.

    ``send_timeout_s`` bounds a request: a reservation lasts that long plus ``interval_s``,
    so a send in flight keeps the channel held even if it is slow, and a worker that dies
    mid-send frees the channel after at most that long.
    """

    def __init__(self, store: PaceStore, interval_s: float, send_timeout_s: float) -> None:
        if interval_s < 0 or send_timeout_s < 0:
            raise ValueError("interval_s and send_timeout_s must not be negative")
        self.store = store
        self.interval_s = interval_s
        self.reservation_s = send_timeout_s + interval_s
        self._free_at: dict[str, float] = {}  # channel -> monotonic time it frees, as known here

    def free_at(self, channel: str) -> float:
        """Monotonic time from which this process may try ``channel`` (0: now)."""
        return self._free_at.get(channel, 0.0)

    def held(self) -> list[str]:
        """Channels known to be held now (the claim leaves them out); forgets old ones."""
        mono = time.monotonic()
        self._free_at = {ch: t for ch, t in self._free_at.items()
                         if t > mono - _FORGET_AFTER_S}
        return sorted(ch for ch, t in self._free_at.items() if t > mono)

    def next_free_in(self) -> float | None:
        """Seconds until the next locally held channel frees; None when none is held."""
        mono = time.monotonic()
        waits = [t - mono for t in self._free_at.values() if t > mono]
        return min(waits) if waits else None

    def acquire(self, channel: str) -> Slot | None:
        """The channel's slot, or None: another replica holds it, and this process will not
        try it again before it frees (at most ``interval_s`` from now: a send in flight
        elsewhere settles well before its reservation runs out). Even at ``interval_s`` 0 a
        channel takes one write at a time and keeps the 429 holds. Database errors
        propagate: without the shared pace, nothing may be sent."""
        taken = self.store.reserve(channel, self.reservation_s)
        if taken.taken:
            return Slot(channel, taken.until)
        self._hold_here(channel, max(_RETRY_FLOOR_S, min(taken.wait_s, self.interval_s)))
        return None

    def done(self, slot: Slot) -> None:
        """After a write, whether Slack took it or not: the channel frees ``interval_s`` from
        now, for every replica."""
        self._settle(slot.channel, self.interval_s, slot.reserved)
        # After the settle: the local view must not free the channel before the shared one
        # does, or this worker would only be turned away by its own hold.
        self._hold_here(slot.channel, self.interval_s)

    def hold(self, channel: str, seconds: float) -> None:
        """Slack said wait (429 Retry-After): nobody writes there for ``seconds``."""
        self._hold_here(channel, seconds)
        self._settle(channel, seconds, None)

    def _hold_here(self, channel: str, seconds: float) -> None:
        self._free_at[channel] = max(self._free_at.get(channel, 0.0),
                                     time.monotonic() + seconds)

    def _settle(self, channel: str, seconds: float, reserved: datetime | None) -> None:
        try:
            self.store.settle(channel, seconds, reserved)
        except Exception:
            # The send is over either way: the reservation runs out by itself, and the row's
            # outcome must still be recorded.
            log.exception("outbox.pace_settle_failed", channel=channel)
