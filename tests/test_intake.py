"""The webhook contract: 2xx only after the commit, 4xx with a reason and nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.alerts.intake import Intake
from bot.channels import Channels
from bot.config import Settings, load_settings
from bot.store import AlertEvent, Incident, Outbox, Store, open_store
from tests.harness.alerts import notification

TOKEN = "am-webhook-token"
AUTH = f"Bearer {TOKEN}"


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def make_intake(store: Store, settings: Settings) -> Intake:
    return Intake(store.intake, Channels(settings.channels), settings.webhook_token,
                  settings.alerts.webhook_max_bytes)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'bot.db'}")
    yield s
    s.db.dispose()


@pytest.fixture
def intake(store: Store) -> Iterator[Intake]:
    i = make_intake(store, load_settings(webhook_token=TOKEN,
                                         alerts={"webhook_max_bytes": 64 * 1024}))
    yield i
    i.close()


def counts(store: Store) -> tuple[int, int, int]:
    with store.db.session(readonly=True) as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(t)) or 0
            for t in (Incident, AlertEvent, Outbox)
        )


def test_firing_stores_incident_event_and_outbox_then_200(intake: Intake, store: Store) -> None:
    answer = intake.receive(body(notification()), AUTH)
    assert answer.status == 200 and answer.body["status"] == "stored"
    inc = store.incidents.get(answer.body["incident"])
    assert inc is not None and inc.status == "firing" and inc.channel == "#genai-warnings"
    with store.db.session(readonly=True) as s:
        kinds = sorted((o.kind, o.payload["type"], o.payload.get("note") or "")
                       for o in s.scalars(select(Outbox)))
    assert kinds == [("post", "incident_post", ""), ("thread_reply", "thread_note", "runbook")]


def test_retries_and_ha_peers_are_absorbed(intake: Intake, store: Store) -> None:
    first = intake.receive(body(notification()), AUTH)
    before = counts(store)
    again = intake.receive(body(notification()), AUTH)
    peer = notification()
    peer["externalURL"] = "http://alertmanager-1.example:9093"  # the other HA replica
    from_peer = intake.receive(body(peer), AUTH)
    assert (again.status, from_peer.status) == (200, 200)
    assert again.body["status"] == from_peer.body["status"] == "duplicate"
    assert again.body["incident"] == first.body["incident"]
    assert counts(store) == before


def test_resolve_then_refire_opens_a_new_incident(intake: Intake, store: Store) -> None:
    first = intake.receive(body(notification()), AUTH).body["incident"]
    resolved = intake.receive(body(notification("resolved")), AUTH)
    assert resolved.body == {"status": "stored", "incident": first, "incident_status": "resolved"}
    refire = intake.receive(body(notification(value="97")), AUTH).body["incident"]
    assert refire != first
    assert store.incidents.get(first).status == "resolved"  # type: ignore[union-attr]
    assert store.incidents.get(refire).status == "firing"  # type: ignore[union-attr]


def test_routes_by_severity_and_keeps_drills_apart(intake: Intake, store: Store) -> None:
    crit = intake.receive(body(notification(alertname="InferenceErrorRateHigh",
                                            severity="critical")), AUTH)
    info = intake.receive(body(notification(alertname="GPUUnderutilized", severity="info")),
                          AUTH)
    drill = intake.receive(body(notification(alertname="GPUTemperatureHigh",
                                             extra={"gameday": "true"})), AUTH)
    channel = {k: store.incidents.get(a.body["incident"]).channel  # type: ignore[union-attr]
               for k, a in (("crit", crit), ("info", info), ("drill", drill))}
    assert channel == {"crit": "#genai-critical", "info": "#genai-alerts",
                       "drill": "#genai-gameday"}
    assert store.incidents.get(drill.body["incident"]).drill  # type: ignore[union-attr]


@pytest.mark.parametrize("auth", [None, "", "Bearer wrong", f"Basic {TOKEN}", TOKEN])
def test_bad_token_is_401_and_writes_nothing(intake: Intake, store: Store,
                                             auth: str | None) -> None:
    answer = intake.receive(body(notification()), auth)
    assert answer.status == 401 and "token" in answer.body["error"]
    assert counts(store) == (0, 0, 0)


def test_webhook_is_off_without_a_token(store: Store) -> None:
    off = make_intake(store, load_settings())
    answer = off.receive(body(notification()), AUTH)
    off.close()
    assert answer.status == 503 and "GENAI_WEBHOOK_TOKEN" in answer.body["error"]


def test_oversized_body_is_413(intake: Intake, store: Store) -> None:
    big = notification()
    big["commonAnnotations"]["description"] = "x" * 70_000
    answer = intake.receive(body(big), AUTH)
    assert answer.status == 413 and "limit is 65536" in answer.body["error"]
    assert counts(store) == (0, 0, 0)


@pytest.mark.parametrize(("mutate", "expect"), [
    (lambda p: p.pop("groupKey"), "groupKey: Field required"),
    (lambda p: p.update(version="3"), "version"),
    (lambda p: p.update(alerts=[]), "alerts: List should have at least 1 item"),
    (lambda p: p["alerts"][0].update(status="pending"), "alerts.0.status"),
    (lambda p: p["commonLabels"].update(gpu=3), "commonLabels.gpu"),
    (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
])
def test_malformed_payloads_are_400_with_a_reason(intake: Intake, store: Store, mutate: Any,
                                                  expect: str) -> None:
    payload = notification()
    mutate(payload)
    answer = intake.receive(body(payload), AUTH)
    assert answer.status == 400
    assert any(expect in p for p in answer.body["problems"]), answer.body
    assert counts(store) == (0, 0, 0)


def test_not_json_is_400(intake: Intake, store: Store) -> None:
    for raw in (b"", b"{", b"\xff\xfe", b"[]", b'"x"'):
        answer = intake.receive(raw, AUTH)
        assert answer.status == 400, raw
    assert counts(store) == (0, 0, 0)


def test_go_escaped_html_and_large_bodies_are_taken(intake: Intake, store: Store) -> None:
    payload = notification(extra={"pod": "<!channel>"})
    payload["commonAnnotations"]["description"] = "d" * 40_000
    raw = json.dumps(payload).replace("<", "\\u003c").replace(">", "\\u003e").encode()
    answer = intake.receive(raw, AUTH)
    assert answer.status == 200
    inc = store.incidents.get(answer.body["incident"])
    assert inc is not None and inc.labels["pod"] == "<!channel>"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=6),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        json_values,
        # Near-misses: a valid payload with one field replaced by junk.
        st.tuples(st.sampled_from(list(notification())), json_values).map(
            lambda kv: {**notification(), kv[0]: kv[1]}),
    )
)
def test_fuzzed_bodies_never_crash_and_never_half_write(intake: Intake, store: Store,
                                                        value: Any) -> None:
    before = counts(store)
    answer = intake.receive(json.dumps(value).encode(), AUTH)
    assert answer.status in (200, 400)
    if answer.status == 400:
        assert counts(store) == before
        assert answer.body["error"]
