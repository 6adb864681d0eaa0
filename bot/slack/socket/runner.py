"""Socket Mode that never goes deaf: a small client of our own on ``websockets``.

- Refresh: Slack sends ``disconnect`` (``refresh_requested``, ``warning``) shortly before it
  closes a connection. The new connection opens at once, in its own thread, while the old
  one keeps being read until Slack closes it: no envelope waits for the other's read.
- Drop: each connection pings every ``ping_interval`` s and is given up when no pong comes
  within ``ping_timeout`` s, so a connection that died without a close frame, or a
  half-open one, is noticed within their sum; a reset is noticed at once. A new connection
  is opened immediately; only when opening keeps failing does it back off (with jitter).
- Close frame without a message: reconnect at once, likewise.
- ``apps.connections.open`` errors: a refused token is said in one line (and, at start-up,
  stops the bot); ``ratelimited`` is honoured (Retry-After); anything else backs off.
- Every envelope is handed to Bolt on the listener pool and acked on the connection it came
  on (or any open one, if that one has just closed). Slack may deliver an Events API retry
  on another connection or replica: the listeners act on each event id once.
- Shutdown: new envelopes are refused, the acks in flight are sent, then each connection is
  closed with a close frame.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.errors import StartupError
from bot.slack.socket.connection import Connection, NotSent

log = structlog.get_logger(__name__)

# Slack gives an envelope 3 s from its send; an ack held for a new connection must fit.
ACK_GRACE_S = 2.5

_FATAL = {"invalid_auth": "the app token is not valid: copy it again (Basic Information > "
                          "App-Level Tokens)",
          "not_authed": "no app token was sent",
          "token_revoked": "the app token was revoked: generate a new one",
          "not_allowed_token_type": "that is not an app-level token (xapp-…) with "
                                    "connections:write",
          "account_inactive": "the app was uninstalled or deactivated"}


class _Refused(Exception):
    def __init__(self, message: str, fatal: bool, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.fatal = fatal
        self.retry_after = retry_after


class SocketModeRunner:
    def __init__(self, app: App, app_token: str, api_base_url: str, pool: ThreadPoolExecutor,
                 *, ping_interval: float, ping_timeout: float, hello_timeout: float = 10.0,
                 max_backoff_s: float = 30.0) -> None:
        self.app = app
        self.pool = pool
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.hello_timeout = hello_timeout  # Slack greets at once; a silent one is replaced
        self.max_backoff_s = max_backoff_s
        self._app_token = app_token
        self._api = WebClient(base_url=api_base_url, timeout=10)
        self._conns: list[Connection] = []
        self._lock = threading.Lock()
        self._greeted = threading.Condition(self._lock)
        self._connecting = False
        self._opening: Connection | None = None  # the connection the opener is working on
        self._again = False  # that one was lost before the opener was done: open another
        self._stopping = False
        self._stopped = threading.Event()
        self._in_flight = 0
        self._lost_at: float | None = time.monotonic()  # not connected yet
        self._refused: str | None = None  # why the last attempt to connect failed
        self._fatal: str | None = None  # the app token was refused before we ever connected
        self._started = False
        self._rng = random.Random()

    # ------------------------------------------------------------------ state

    def connected(self) -> bool:
        """A connection has said hello and is not being refreshed away."""
        with self._lock:
            return any(c.healthy or (c.hello and c.is_open) for c in self._conns)

    def disconnected_for(self) -> float:
        """Seconds without a usable connection (0 while connected)."""
        with self._lock:
            return 0.0 if self._lost_at is None else time.monotonic() - self._lost_at

    def connections(self) -> int:
        with self._lock:
            return sum(1 for c in self._conns if c.is_open)

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 15.0) -> None:
        """Connect, returning once Slack said hello. A refused app token, or no connection
        within ``timeout`` s, is a :class:`StartupError` with one line."""
        self._reconnect()
        deadline = time.monotonic() + timeout
        with self._greeted:
            while not any(c.hello for c in self._conns):
                if self._fatal is not None:
                    raise StartupError(self._fatal)
                left = deadline - time.monotonic()
                if left <= 0:
                    why = self._refused or "no hello from Slack"
                    raise StartupError(f"Socket Mode did not connect within {timeout:g} s "
                                       f"({why})")
                self._greeted.wait(min(left, 0.2))
            self._started = True

    def close(self, timeout: float = 3.0) -> None:
        """Refuse new envelopes, wait (at most ``timeout`` s) for the acks in flight, then
        close every connection with a close frame."""
        with self._lock:
            self._stopping = True
            conns = list(self._conns)
        self._stopped.set()
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        log.info("socket.closing", connections=len(conns), acks_unsent=self._in_flight)
        for conn in conns:
            conn.close()

    # ------------------------------------------------------------------ connecting

    def _reconnect(self, lost: Connection | None = None) -> None:
        """Open a new connection in the background, for ``lost`` (refreshed or closed). While
        one is being opened it serves every older connection lost meanwhile; only when
        ``lost`` is that very one (refreshed or closed before its opener was done) is the
        opener asked for one more."""
        with self._lock:
            if self._stopping:
                return
            if self._connecting:
                if lost is None or lost is self._opening:
                    self._again = True
                return
            self._connecting = True
        threading.Thread(target=self._connect_loop, name="socket-mode-connect",
                         daemon=True).start()

    def _connect_loop(self) -> None:
        failures, finished = 0, True
        try:
            while not self._stopping:
                with self._lock:
                    self._again = False  # this attempt serves whoever asked so far
                try:
                    conn = Connection(self._open_url(), ping_interval=self.ping_interval,
                                      ping_timeout=self.ping_timeout,
                                      on_message=self._on_message, on_closed=self._on_closed)
                    with self._lock:
                        self._conns.append(conn)
                        self._opening = conn
                    conn.open()
                    self._expect_hello(conn)
                    log.info("socket.opened", connection=conn.id, attempt=failures + 1)
                    with self._lock:  # one lock with _reconnect's check: no request lost
                        if not self._again:
                            self._connecting = finished = False
                            return
                    failures = 0
                    continue
                except _Refused as exc:
                    self._refused = str(exc)
                    log.error("socket.connections_open_refused", error=str(exc))
                    if exc.fatal and not self._started:
                        with self._greeted:  # start() says it in one line; no retries
                            self._fatal = str(exc)
                            self._greeted.notify_all()
                        return
                    delay = exc.retry_after or self._backoff(failures)
                except Exception as exc:  # network, a websocket handshake refused, …
                    self._refused = f"{type(exc).__name__}: {exc}"
                    delay = self._backoff(failures)
                    log.warning("socket.open_failed", error=self._refused,
                                retry_in_s=round(delay, 2))
                    with self._lock:
                        self._conns = [c for c in self._conns if c.is_open]
                failures += 1
                self._stopped.wait(delay)
        finally:
            with self._lock:
                self._opening = None
                if finished:  # stopped, refused for good, or crashed: the next ask starts one
                    self._connecting = False

    def _expect_hello(self, conn: Connection) -> None:
        """Until its hello, a new connection stands in for the ones it replaces (see
        `_on_closed`); one that never says hello is closed, which asks for another."""
        def check() -> None:
            if not conn.hello and conn.is_open:
                log.warning("socket.no_hello", connection=conn.id, waited_s=self.hello_timeout)
                conn.close("no hello")
        timer = threading.Timer(self.hello_timeout, check)
        timer.name = f"socket-mode-hello-{conn.id}"
        timer.daemon = True
        timer.start()

    def _backoff(self, failures: int) -> float:
        """0 for the first failure (a blip), then 0.5, 1, 2 … s up to ``max_backoff_s``,
        with jitter so replicas do not reconnect in step."""
        if failures == 0:
            return 0.0
        base = min(self.max_backoff_s, 0.5 * 2.0 ** (failures - 1))
        return base * self._rng.uniform(0.5, 1.5)

    def _open_url(self) -> str:
        try:
            url = self._api.apps_connections_open(app_token=self._app_token).get("url")
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "unknown_error")
            if code in _FATAL:
                raise _Refused(f"Slack refused the app token GENAI_SLACK__APP_TOKEN ({code}): "
                               f"{_FATAL[code]}", fatal=True) from None
            retry_after = _retry_after(exc.response) if code == "ratelimited" else 0.0
            raise _Refused(f"apps.connections.open: {code}", fatal=False,
                           retry_after=retry_after) from None
        if not isinstance(url, str) or not url:
            raise _Refused("apps.connections.open answered without a url", fatal=False)
        return url

    # ------------------------------------------------------------------ reading

    def _on_message(self, conn: Connection, raw: str) -> None:
        try:
            message: dict[str, Any] = json.loads(raw)
        except ValueError:
            log.warning("socket.unreadable_message", connection=conn.id, size=len(raw))
            return
        kind = message.get("type")
        if message.get("envelope_id"):
            self._dispatch(conn, message)
        elif kind == "hello":
            with self._greeted:
                conn.hello = True
                lost, self._lost_at = self._lost_at, None
                self._greeted.notify_all()
            log.info("socket.connected", connection=conn.id,
                     deaf_s=round(time.monotonic() - lost, 3) if lost else 0.0,
                     connections=message.get("num_connections"))
        elif kind == "disconnect":
            conn.refreshing = True
            log.info("socket.refresh", connection=conn.id, reason=message.get("reason"))
            self._reconnect(conn)  # the old one is still read until Slack closes it

    def _on_closed(self, conn: Connection, why: str) -> None:
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)
            others = any(c.hello and c.is_open for c in self._conns)
            # A successor opened at the refresh but not yet greeted will do: another
            # connection would only be one more for Slack to spread envelopes over.
            coming = any(c.is_open and not c.hello and not c.refreshing for c in self._conns)
            if not others and self._lost_at is None and not self._stopping:
                self._lost_at = time.monotonic()
            stopping = self._stopping
        log.log(20 if stopping or others or coming else 30, "socket.closed",
                connection=conn.id, why=why, connections_left=int(others),
                awaiting_hello=int(coming))
        if not stopping and not others and not coming:
            self._reconnect(conn)  # at once: backoff only when opening keeps failing

    def _dispatch(self, conn: Connection, envelope: dict[str, Any]) -> None:
        with self._lock:
            if self._stopping:
                return  # unacked: Slack delivers it to another replica's connection
            self._in_flight += 1
        self.pool.submit(self._handle, conn, envelope)

    def _handle(self, conn: Connection, envelope: dict[str, Any]) -> None:
        received = time.monotonic()
        try:
            headers: dict[str, str | Sequence[str]] = {}
            if envelope.get("retry_attempt"):
                headers["x-slack-retry-num"] = str(envelope["retry_attempt"])
            if envelope.get("retry_reason"):
                headers["x-slack-retry-reason"] = str(envelope["retry_reason"])
            response = self.app.dispatch(BoltRequest(mode="socket_mode",
                                                     body=envelope.get("payload") or {},
                                                     headers=headers or None))
            ack: dict[str, Any] = {"envelope_id": envelope["envelope_id"]}
            if response.status == 200 and response.body:
                kind = (response.headers.get("content-type") or [""])[0]
                ack["payload"] = (json.loads(response.body)
                                  if kind.startswith("application/json")
                                  else {"text": response.body})
            self._ack(conn, json.dumps(ack), deadline=received + ACK_GRACE_S)
        except Exception:
            log.exception("socket.envelope_failed", type=envelope.get("type"))
        finally:
            with self._lock:
                self._in_flight -= 1

    def _ack(self, conn: Connection, ack: str, deadline: float) -> None:
        """Ack on the envelope's own connection, else on any other open one. When Slack has
        closed them all (a refresh whose successor is still opening), wait for the next
        hello until ``deadline``: an ack on a new connection still beats none."""
        while True:
            with self._lock:
                others = [c for c in self._conns if c is not conn and c.is_open and c.hello]
            for target in (conn, *others):
                try:
                    target.send(ack)
                    return
                except NotSent:
                    continue
            with self._greeted:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping:
                    break
                self._greeted.wait(min(left, 0.05))
        log.warning("socket.ack_lost", connection=conn.id)


def _retry_after(response: SlackResponse) -> float:
    """Seconds Slack asked us to wait (``Retry-After``), 1 if it did not say."""
    value = response.headers.get("Retry-After") or response.headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0
