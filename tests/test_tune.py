"""`/genai tune` on a week of DCGM history backfilled into a real Prometheus (no rules there:
the shipped manifest's GPUMemoryHigh is the fallback), with incidents seeded in the store
through its own APIs: four long, near-full episodes that someone acknowledged, and eight
short spikes to 92% that fired for two minutes and resolved by themselves.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import KubernetesSettings, load_settings
from bot.errors import Unavailable, UsageError
from bot.render.text import render_text
from bot.report import Report, Status
from bot.slack.render.report import render_blocks
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from bot.store import FatigueRow, IntakeItem, Store, open_store
from bot.store.tune_signals import Outcome, TuneSignalStore
from bot.tune import backtest, lookup
from commands import tune
from commands.base import Context
from commands.incidents import advice
from tests.harness.binaries import require_binary
from tests.harness.blockkit import validate_blocks
from tests.harness.bots import BotFactory
from tests.harness.procs import PrometheusProcess
from tests.harness.prom_history import GridSeries, served
from tests.harness.slack import SlackStandin
from tests.slackparse import rows, section_texts

STEP = 60
DAY = 1440  # minutes
TOTAL_MIB = 81920.0
RULE_LABELS = {"severity": "warning", "team": "genai-platform"}


@dataclass(frozen=True)
class Episode:
    gpu: int
    start: int  # minutes before the end of the history
    minutes: int
    ratio: float
    handled: bool
    alert: str = "GPUMemoryHigh"


EPISODES = [
    *(Episode(g, day * DAY + 300, 60, 0.97, True) for g, day in ((0, 6), (0, 4), (1, 3),
                                                                 (1, 1))),
    *(Episode(2 + i % 2, int((6 - i * 0.7) * DAY) + 90, 7, 0.92, False) for i in range(8)),
]
BUMP = Episode(3, 2 * DAY + 700, 30, 0.88, False)  # under the threshold: never fires
HOT = Episode(0, 2 * DAY, 30, 85.0, True, "GPUTemperatureHigh")


def _labels(gpu: int) -> dict[str, str]:
    return {"Hostname": f"gpu-node-{gpu}", "gpu": str(gpu), "UUID": f"GPU-{gpu:04d}"}


def history(minutes: int) -> list[GridSeries]:
    ratios = {g: [0.5] * minutes for g in range(4)}
    for e in [*EPISODES, BUMP]:
        for k in range(minutes - e.start, minutes - e.start + e.minutes):
            ratios[e.gpu][k] = e.ratio
    temp = [60.0] * minutes
    temp[minutes - HOT.start:minutes - HOT.start + HOT.minutes] = [HOT.ratio] * HOT.minutes
    out = [GridSeries("DCGM_FI_DEV_GPU_TEMP", _labels(0), temp)]
    for g, values in ratios.items():
        out.append(GridSeries("DCGM_FI_DEV_FB_USED", _labels(g), [TOTAL_MIB * r for r in values]))
        out.append(GridSeries("DCGM_FI_DEV_FB_FREE", _labels(g),
                              [TOTAL_MIB - TOTAL_MIB * r for r in values]))
    return out


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, int]]:
    minutes = 7 * DAY + 120
    end = int(time.time()) // STEP * STEP - STEP  # the last sample, a minute ago
    start = end - (minutes - 1) * STEP
    with served(tmp_path_factory.mktemp("tune-week"), history(minutes), start, STEP) as prom:
        yield prom, end


def _notification(e: Episode, status: str, end: int) -> dict[str, Any]:
    """What Alertmanager posts for the episode: it fires 5 minutes (the rule's `for`) after
    the memory rises and resolves at the first evaluation after it falls."""
    began = end - e.start * STEP
    fired = datetime.fromtimestamp(began + 5 * STEP, UTC)
    ended = datetime.fromtimestamp(began + e.minutes * STEP, UTC)
    labels = {"alertname": e.alert, **RULE_LABELS, **_labels(e.gpu)}
    group = {"alertname": e.alert, "Hostname": labels["Hostname"]}
    return {"version": "4", "status": status, "receiver": "genai-ops-bot",
            "groupKey": f'{{}}:{{alertname="{e.alert}", Hostname="{labels["Hostname"]}"}}',
            "truncatedAlerts": 0, "groupLabels": group, "commonLabels": labels,
            "commonAnnotations": {"summary": "GPU memory usage above 90%"},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": [{"status": status, "labels": labels, "annotations": {},
                        "startsAt": fired.isoformat(),
                        "endsAt": ended.isoformat() if status == "resolved"
                        else "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus.example/graph", "fingerprint": "f"}]}


def seed(store: Store, end: int) -> None:
    for e in sorted([*EPISODES, HOT], key=lambda e: -e.start):
        fired = _notification(e, "firing", end)
        at = datetime.fromisoformat(fired["alerts"][0]["startsAt"])
        opened = store.intake.record(IntakeItem(fired, "#genai-warnings"), now=at)
        if e.handled:
            store.incidents.acknowledge(opened.public_id, "U1", at + timedelta(minutes=3))
        resolved = _notification(e, "resolved", end)
        store.intake.record(IntakeItem(resolved, "#genai-warnings"),
                            now=at + timedelta(minutes=e.minutes))


@pytest.fixture
def store(tmp_path: Path, week: tuple[PrometheusProcess, int]) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'bot.db'}")
    seed(s, week[1])
    yield s
    s.db.dispose()


def context(url: str, store: Store | None) -> Context:
    return Context(settings=load_settings(), prometheus=PrometheusSource(url, timeout_s=5),
                   kubernetes=KubernetesSource(KubernetesSettings(
                       mode="url", url="http://127.0.0.1:1", timeout_s=1)), store=store)


def tune_report(ctx: Context, *args: str) -> Report:
    report = tune.COMMAND.run(ctx, list(args))
    assert validate_blocks(render_blocks(report)) == []
    assert render_text(report)
    return report


def test_the_week_recommends_the_threshold_that_drops_the_spikes(
        week: tuple[PrometheusProcess, int], store: Store, tmp_path: Path) -> None:
    prom, _ = week
    outcomes = TuneSignalStore(store.db).outcomes(
        "GPUMemoryHigh", datetime.now(UTC) - timedelta(days=7), datetime.now(UTC))
    assert sorted(o.outcome for o in outcomes) == [Outcome.NOISE] * 8 + [Outcome.SIGNAL] * 4
    report = tune_report(context(prom.url, store), "GPUMemoryHigh")
    assert report.title == "Tune GPUMemoryHigh, last 7d"
    assert report.summary == (
        "Recommend > 0.945 for 5m instead of > 0.9 for 5m: 4 firings instead of 12 in 7d; "
        "keeps all 4 handled incidents the rule caught and drops 8 of 8 noise incidents.")
    got = {r.check: r for r in report.rows}
    current, best = got["> 0.9 for 5m"], got["> 0.945 for 5m"]
    assert (current.threshold, current.status) == ("current", Status.INFO)
    assert current.value == "12 firings · 3 h 56 m firing"  # 4 x 55 min + 8 x 2 min
    assert current.detail.startswith("handled incidents caught 4/4 · noise incidents 8/8")
    assert (best.threshold, best.status) == ("recommended", Status.OK)
    assert best.detail.startswith("handled incidents caught 4/4 · noise incidents 0/8")
    # A 10-minute `for` also drops the spikes, but catches every episode 5 minutes later.
    slower = got["> 0.9 for 10m"]
    assert "noise incidents 0/8" in slower.detail and "caught up to 5 m later" in slower.detail
    assert got["> 0.9 for 1m"].value.startswith("12 firings")
    assert any(r.status is Status.WARN and "(loses 4)" in r.detail for r in report.rows)
    lines = "\n".join(report.sections[-1].lines)
    assert "from manifests/prometheus-rules.yaml" in lines and "assumed" in lines
    assert "Prometheus evaluates no alert named GPUMemoryHigh." in lines
    assert "4 handled (acknowledged, diagnosed or resolved by hand), 8 noise" in lines
    assert "5 queries" in report.footer

    code = next(s.code for s in report.sections if s.code)
    assert code.startswith("# /genai tune GPUMemoryHigh 7d: replace the rule in group gpu-alerts")
    assert "# before (> 0.9 for 5m): 12 firings, 4/4 handled incidents caught, 8 noise" in code
    assert "# after  (> 0.945 for 5m): 4 firings, 4/4 handled incidents caught, 0 noise" in code
    doc = yaml.safe_load(code)
    (rule,) = doc["spec"]["groups"][0]["rules"]
    assert rule["expr"] == ("DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"
                            " > 0.945")
    assert (rule["for"], rule["labels"]) == ("5m", RULE_LABELS)
    assert rule["annotations"]["runbook_url"].endswith("/runbooks/GPUMemoryHigh")
    # promtool takes the snippet's rule group as it is.
    rules_file = tmp_path / "tuned.yaml"
    rules_file.write_text(yaml.safe_dump(doc["spec"]))
    promtool = require_binary("promtool", "the snippet is checked by promtool")
    done = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_chunks_and_the_sample_limit_change_nothing(week: tuple[PrometheusProcess, int],
                                                    store: Store, tmp_path: Path) -> None:
    prom, end = week
    source = PrometheusSource(prom.url, timeout_s=5)
    choice = lookup.find(source, "GPUMemoryHigh")
    assert choice.rule is not None and choice.comparison is not None
    incidents = TuneSignalStore(store.db).outcomes(
        "GPUMemoryHigh", datetime.fromtimestamp(end - 30 * 86400, UTC),
        datetime.fromtimestamp(end, UTC))

    def stats(src: PrometheusSource, window: str, **kw: Any) -> tuple[dict[Any, Any], int]:
        b = backtest.run(src, choice.rule, choice.comparison,  # type: ignore[arg-type]
                         end_s=end, window_s=tune.WINDOWS[window], window=window,
                         incidents=incidents, **kw)
        return ({p: (s.firings, s.firing_s, sorted(s.signal), sorted(s.noise))
                 for p, s in b.stats.items()}, b.history.queries)

    # 10,095 steps (a week and the 15-minute lead-in): four slices read side by side, and
    # the coarse count.
    whole, queries = stats(source, "7d")
    assert queries == 4 + 1
    chunked, queries = stats(source, "7d", max_points=2000)
    assert chunked == whole and queries == 4 * 2 + 1  # each slice (2,524 steps) in 2 chunks
    month, queries = stats(source, "30d")
    assert month == whole and queries == 4 + 1  # 43,215 steps: 4 slices under 11,000 each
    # A Prometheus with a tiny sample limit refuses the whole week: the chunks halve.
    with served(tmp_path / "strict", history(7 * DAY + 120), end - (7 * DAY + 119) * STEP,
                STEP, extra_args=["--query.max-samples=20000"]) as strict:
        limited, queries = stats(PrometheusSource(strict.url, timeout_s=5), "7d")
    assert limited == whole and queries > 3


def test_through_slack_responders_only(week: tuple[PrometheusProcess, int],
                                       make_bot: BotFactory, slack: SlackStandin) -> None:
    prom, end = week
    bot = make_bot(prom.url, "http://127.0.0.1:1", roles={"responders": ["U0RESP"]})
    seed(bot.runtime.store, end)
    refused = slack.send_slash_command(f"{bot.url}/slack/events", "tune GPUMemoryHigh",
                                       user_id="U0VIEW")
    assert "Only responders may run /genai tune" in refused.text
    ack = slack.send_slash_command(f"{bot.url}/slack/events", "tune GPUMemoryHigh 7d",
                                   user_id="U0RESP")
    assert "Working on /genai tune" in ack.text
    call = slack.wait_for(lambda c: c.method == "response_url" and c.ok
                          and bool(c.params.get("blocks")), timeout=30)
    blocks = call.params["blocks"]
    assert validate_blocks(blocks) == []
    text = "\n".join(section_texts(blocks))
    assert "Recommend &gt; 0.945 for 5m instead of &gt; 0.9 for 5m: 4 firings instead of 12" \
        in text
    assert "```# /genai tune GPUMemoryHigh 7d" in text
    assert rows(blocks)["&gt; 0.945 for 5m"][0] is Status.OK


def test_too_little_history_is_said_plainly(week: tuple[PrometheusProcess, int],
                                            store: Store) -> None:
    report = tune_report(context(week[0].url, store), "GPUTemperatureHigh", "30d")
    assert report.summary == (
        "Too little history to recommend a change: 1 decided incident in the window, at least "
        "3 needed (a longer window may have more). > 80 for 5m: 1 firing in 30d.")
    assert not any(s.code for s in report.sections)
    assert report.rows[0].check == "> 80 for 5m" and report.rows[0].value.startswith("1 firing")


def test_without_a_database_signal_and_noise_are_unknown(
        week: tuple[PrometheusProcess, int]) -> None:
    report = tune_report(context(week[0].url, None), "GPUMemoryHigh")
    assert "12 firings in 7d" in report.summary
    assert "unknown (no incidents to compare with)" in report.summary
    assert all(r.detail == "handled and noise: unknown (no incidents to compare with)"
               for r in report.rows)
    assert "No database: which firings people handled is unknown." in render_text(report)
    assert not any(s.code for s in report.sections)


def test_a_database_that_cannot_be_read_leaves_the_replay_and_says_why(
        week: tuple[PrometheusProcess, int], store: Store) -> None:
    """The history still answers; only which firings people handled is unknown, with the
    database's own cause, never "0 handled"."""
    with store.db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE actions RENAME TO actions_gone")
    with pytest.raises(Unavailable) as raised:
        store.tune_signals.outcomes("GPUMemoryHigh", datetime.now(UTC) - timedelta(days=7),
                                    datetime.now(UTC))
    assert raised.value.reason == "no such table: actions"
    report = tune_report(context(week[0].url, store), "GPUMemoryHigh")
    assert "12 firings in 7d" in report.summary
    assert "unknown (no incidents to compare with)" in report.summary
    assert ("Cannot read the incidents (no such table: actions): which firings people "
            "handled is unknown.") in render_text(report)


def test_failures_are_unknown_with_their_cause(week: tuple[PrometheusProcess, int]) -> None:
    down = tune_report(context("http://127.0.0.1:1", None), "GPUMemoryHigh")
    assert down.summary == "History unavailable: nothing replayed."
    (row,) = down.rows
    assert row.status is Status.UNKNOWN and "cannot connect" in row.detail
    assert "Cannot read Prometheus' rules" in render_text(down)
    empty = tune_report(context(week[0].url, None), "InferenceLatencyHigh")
    assert empty.summary.startswith("No data") and empty.rows[0].status is Status.UNKNOWN
    refused = tune_report(context(week[0].url, None), "GPUNodeNotReady")
    assert refused.summary == ("Cannot tune GPUNodeNotReady: the expression has no comparison "
                               "at its top level.")
    missing = tune_report(context(week[0].url, None), "NoSuchAlert")
    assert "no alert rule named NoSuchAlert" in missing.summary
    for bad in ([], ["GPUMemoryHigh", "14d"], ["<!channel>"], ["a", "7d", "x"]):
        with pytest.raises(UsageError):
            tune.parse_args(bad)


def test_the_fatigue_report_points_at_tune() -> None:
    noisy = FatigueRow(alertname="GPUUnderutilized", count=40, acked=0, ack_rate=0.0,
                       mtta_p50_s=None, never_acked=40, silenced_share=0.0)
    status, hint = advice(noisy)
    assert status is Status.FAIL and "raise the threshold" in hint
    assert "/genai tune GPUUnderutilized" in hint


def test_what_counts_as_handled(tmp_path: Path) -> None:
    """Acknowledged, diagnosed or resolved by hand: handled. Resolved by Alertmanager with
    nobody acting: noise. Still firing and untouched: open. Drills stay out."""
    s = open_store(f"sqlite:///{tmp_path / 'bot.db'}")
    end = int(time.time()) // STEP * STEP
    ids = {}
    for name, gpu in (("acked", 0), ("diagnosed", 1), ("by_hand", 2), ("noise", 3),
                      ("open", 4), ("drill", 5)):
        e = Episode(gpu, 600 - 60 * gpu, 20, 0.97, False)
        body = _notification(e, "firing", end)
        if name == "drill":
            body["commonLabels"]["gameday"] = "true"
        at = datetime.fromisoformat(body["alerts"][0]["startsAt"])
        ids[name] = s.intake.record(IntakeItem(body, "#genai-warnings"), now=at).public_id
        if name == "noise":
            s.intake.record(IntakeItem(_notification(e, "resolved", end), "#genai-warnings"),
                            now=at + timedelta(minutes=20))
    later = datetime.now(UTC)
    s.incidents.acknowledge(ids["acked"], "U1", later)
    s.incidents.record_diagnosis(ids["diagnosed"], "U2", {}, None, now=later)
    s.incidents.resolve_by_hand(ids["by_hand"], "U3", later)
    found = TuneSignalStore(s.db).outcomes("GPUMemoryHigh", later - timedelta(hours=12), later)
    got = {o.public_id: o.outcome for o in found}
    assert got == {ids["acked"]: Outcome.SIGNAL, ids["diagnosed"]: Outcome.SIGNAL,
                   ids["by_hand"]: Outcome.SIGNAL, ids["noise"]: Outcome.NOISE,
                   ids["open"]: Outcome.OPEN}
    noise = next(o for o in found if o.outcome is Outcome.NOISE)
    assert noise.alert_labels == ({"alertname": "GPUMemoryHigh", **RULE_LABELS, **_labels(3)},)
    assert noise.ended is not None and noise.ended - noise.began == timedelta(minutes=15)
    s.db.dispose()
