"""Configuration: env over YAML over defaults; every bad field reported once, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from bot.config import Settings, load_settings
from bot.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_genai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own GENAI_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("GENAI_"):
            monkeypatch.delenv(name)


def test_defaults_come_from_the_guide(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    t = s.thresholds
    assert (t.error_rate_max, t.p99_latency_max_s) == (0.01, 5.0)
    assert (t.gpu_util_min_pct, t.gpu_util_max_pct, t.gpu_mem_max_ratio) == (40, 80, 0.9)
    assert t.gpu_node_selector == "nvidia.com/gpu.present=true"
    assert t.inference_namespace == "inference"
    assert s.slack.mode == "socket"
    assert s.database_url == "sqlite:///./genai-bot.db"
    assert s.channels.critical == "#genai-critical"


def test_env_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(
        "prometheus:\n  url: http://from-yaml:9090\n"
        "thresholds:\n  p99_latency_max_s: 3\n"
        "roles:\n  responders: [U1, S2]\n"
    )
    monkeypatch.setenv("GENAI_PROMETHEUS__URL", "http://from-env:9090")
    s = load_settings(cfg)
    assert s.prometheus.url == "http://from-env:9090"
    assert s.thresholds.p99_latency_max_s == 3
    assert s.roles.responders == ["U1", "S2"]


def test_every_bad_field_is_reported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "slack:\n  mode: carrier-pigeon\n  bot_token: not-a-token\n"
        "thresholds:\n  gpu_util_min_pct: 90\n  gpu_util_max_pct: 80\n"
        "kubernetes:\n  mode: url\n"
        "bogus_key: 1\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    problems = info.value.problems
    assert len(problems) == len(set(problems))
    text = "\n".join(problems)
    # The bad mode came from the file, not the environment: name the file, not the variable.
    assert f"{cfg}: slack.mode: Input should be 'socket' or 'http'" in problems
    assert "GENAI_SLACK__MODE" not in text
    assert "slack.bot_token: must be a bot token starting with xoxb-" in text
    assert "gpu_util_min_pct must be below gpu_util_max_pct" in text
    assert "kubernetes.url" in text
    assert "bogus_key: unknown setting" in text
    assert "not-a-token" not in text  # a bad secret is not echoed back


def test_unreadable_or_non_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_settings(tmp_path / "missing.yaml")
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(listy)


def test_cli_prints_plain_words_and_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("thresholds:\n  error_rate_max: 7\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(cfg), "check-config"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "Invalid configuration:" in proc.stderr
    assert "thresholds.error_rate_max: Input should be less than 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_without_tokens_explains_the_slack_app(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"], capture_output=True, text=True, timeout=60,
        env=env, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "GENAI_SLACK__BOT_TOKEN and GENAI_SLACK__APP_TOKEN not set" in proc.stderr
    assert "manifests/slack-app.yaml" in proc.stderr
    assert "connections:write" in proc.stderr


# --------------------------------------------------------------------------- lists from env


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _field_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[
    tuple[tuple[str, ...], Any]
]:
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        yield path, field.annotation
        sub = _model_of(field.annotation)
        if sub is not None and get_origin(field.annotation) is not list:
            yield from _field_paths(sub, path)


def _env(path: tuple[str, ...]) -> str:
    return "GENAI_" + "__".join(path).upper()


# Every variable pydantic-settings would JSON-decode: the nested models and the lists.
STRUCTURED_ENV = [
    _env(path) for path, ann in _field_paths(Settings)
    if _model_of(ann) is not None or get_origin(ann) is list
]
ALL_ENV_PATHS = [path for path, _ in _field_paths(Settings)]

GARBAGE = [
    "", " ", "garbage", "U1,S2", "1h", ",", "[", "]", "{", "}", "[1,2", '{"a":', "null",
    "[null]", '{"x": 1}', "[[[]]]", "1", "true", "1e999", '"text"', '["U1", 2]',
    '[{"name": 1}]', '{"mode": {"x": 1}}', "é\udcff", "[" * 5000, "a" * 5000,
]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("GENAI_ROLES__RESPONDERS", "U123", ["U123"]),
        ("GENAI_ROLES__ADMINS", "U1,S2", ["U1", "S2"]),
        ("GENAI_ROLES__ADMINS", " U1 , ,S2, ", ["U1", "S2"]),
        ("GENAI_ROLES__ADMINS", '["U1","S2"]', ["U1", "S2"]),
        ("GENAI_ROLES__RESPONDERS", "", []),
        ("GENAI_ALERTS__SILENCE_DURATIONS", "1h", ["1h"]),
        ("GENAI_ALERTS__SILENCE_DURATIONS", "1h,4h,24h", ["1h", "4h", "24h"]),
        ("GENAI_ALERTS__SILENCE_DURATIONS", '["30m", "7d"]', ["30m", "7d"]),
    ],
)
def test_env_lists_are_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv(name, value)
    s = load_settings()
    section, field = name.removeprefix("GENAI_").lower().split("__")
    assert getattr(getattr(s, section), field) == expected


def test_schedules_stay_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_GAMEDAY__SCHEDULES", '[{"name": "wed", "cron": "0 14 * * 3"}]')
    [schedule] = load_settings().gameday.schedules
    assert (schedule.name, schedule.cron, schedule.timezone) == ("wed", "0 14 * * 3", "Asia/Seoul")


def test_malformed_schedule_json_is_a_problem_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_GAMEDAY__SCHEDULES", '[{"name": "wed",')
    with pytest.raises(ConfigError) as info:
        load_settings()
    [problem] = info.value.problems
    assert problem.startswith("gameday.schedules: not valid JSON")
    assert problem.endswith("(env GENAI_GAMEDAY__SCHEDULES)")


def test_malformed_json_list_is_a_problem_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_ROLES__ADMINS", '["U1", "S2"')
    with pytest.raises(ConfigError) as info:
        load_settings()
    [problem] = info.value.problems
    assert problem.startswith("roles.admins: not valid JSON")
    assert "comma-separated" in problem and problem.endswith("(env GENAI_ROLES__ADMINS)")


def test_structured_env_vars_are_known() -> None:
    assert {"GENAI_SLACK", "GENAI_ROLES__RESPONDERS", "GENAI_ROLES__ADMINS",
            "GENAI_ALERTS__SILENCE_DURATIONS", "GENAI_GAMEDAY__SCHEDULES"} <= set(STRUCTURED_ENV)


@pytest.mark.parametrize("name", STRUCTURED_ENV)
def test_garbage_in_structured_env_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    for value in GARBAGE:
        monkeypatch.setenv(name, value)
        try:
            load_settings()
        except ConfigError as exc:
            assert exc.problems and all(p.strip() for p in exc.problems)
            assert any(name in p for p in exc.problems), (value[:20], exc.problems)


_segment = st.sampled_from(["0", "x", "", "mode", "name", "responders", "url"])
_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"),  # what env can hold
                max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(
    st.tuples(st.sampled_from(ALL_ENV_PATHS), st.lists(_segment, max_size=2), st.booleans(),
              st.one_of(_text, st.sampled_from(GARBAGE))),
    min_size=1, max_size=4,
))
def test_no_env_input_escapes_as_anything_but_config_error(
    env: list[tuple[tuple[str, ...], list[str], bool, str]],
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        for path, extra, upper, value in env:
            name = _env((*path, *extra))
            mp.setenv(name if upper else name.lower(), value)
        try:
            load_settings()
        except ConfigError as exc:
            assert all("Traceback" not in p for p in exc.problems)


# --------------------------------------------------------------------------- list items


def test_role_entries_must_be_slack_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_ROLES__RESPONDERS", "bob")
    monkeypatch.setenv("GENAI_ROLES__ADMINS", "U1,u2,alice@example.com,S3")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.problems == [
        "roles.responders: 'bob' is not a Slack user (U…/W…) or usergroup (S…) id"
        " (env GENAI_ROLES__RESPONDERS)",
        "roles.admins: 'u2', 'alice@example.com' are not Slack user (U…/W…) or usergroup (S…)"
        " ids (env GENAI_ROLES__ADMINS)",
    ]
    monkeypatch.setenv("GENAI_ROLES__RESPONDERS", "U0ONCALL,W0GRID,S0GROUP")
    monkeypatch.delenv("GENAI_ROLES__ADMINS")
    assert load_settings().roles.responders == ["U0ONCALL", "W0GRID", "S0GROUP"]


@pytest.mark.parametrize("bad", ["90s", "0h", "000m", "1w", "1000h", "h", "1 h", "1H", "-1h"])
def test_silence_durations_must_look_like_30m_1h_7d(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("GENAI_ALERTS__SILENCE_DURATIONS", f"1h,{bad}")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.problems == [
        f"alerts.silence_durations: {bad!r} is not a duration like 30m, 1h, 4h, 24h or 7d"
        " (env GENAI_ALERTS__SILENCE_DURATIONS)"
    ]


def test_good_silence_durations_load() -> None:
    s = load_settings(alerts={"silence_durations": ["30m", "1h", "4h", "24h", "7d", "999d"]})
    assert s.alerts.silence_durations == ["30m", "1h", "4h", "24h", "7d", "999d"]


# --------------------------------------------------------------------------- where it came from


def test_yaml_problem_names_the_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bot.yaml").write_text("slack:\n  mode: carrier-pigeon\nroles:\n  admins: [bob]\n")
    with pytest.raises(ConfigError) as info:
        load_settings("bot.yaml")
    assert info.value.problems == [
        "bot.yaml: slack.mode: Input should be 'socket' or 'http'",
        "bot.yaml: roles.admins: 'bob' is not a Slack user (U…/W…) or usergroup (S…) id",
    ]


def test_env_problem_names_the_variable_even_with_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bot.yaml").write_text("slack:\n  mode: http\n  api_base_url: https://slack.test/api\n")
    monkeypatch.setenv("GENAI_SLACK__MODE", "carrier-pigeon")
    with pytest.raises(ConfigError) as info:
        load_settings("bot.yaml")
    assert info.value.problems == [
        "slack.mode: Input should be 'socket' or 'http' (env GENAI_SLACK__MODE)"
    ]


def test_env_fixes_a_bad_yaml_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text("slack:\n  mode: carrier-pigeon\n")
    monkeypatch.setenv("GENAI_SLACK__MODE", "http")
    assert load_settings(cfg).slack.mode == "http"


def test_problem_from_both_sources_names_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bot.yaml").write_text("thresholds:\n  gpu_util_min_pct: 50\n")
    monkeypatch.setenv("GENAI_THRESHOLDS__GPU_UTIL_MAX_PCT", "45")
    with pytest.raises(ConfigError) as info:
        load_settings("bot.yaml")
    assert info.value.problems == [
        "bot.yaml: thresholds: gpu_util_min_pct must be below gpu_util_max_pct"
        " (env GENAI_THRESHOLDS__GPU_UTIL_MAX_PCT)"
    ]


def test_json_model_env_var_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_SLACK", '{"mode": "carrier-pigeon"}')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.problems == [
        "slack.mode: Input should be 'socket' or 'http' (env GENAI_SLACK)"
    ]
    monkeypatch.setenv("GENAI_SLACK", "not json")
    with pytest.raises(ConfigError, match=r"^slack: Input should be a valid dict.*GENAI_SLACK\)$"):
        load_settings()
    monkeypatch.setenv("GENAI_SLACK", '{"mode": "http"}')  # the JSON form keeps working
    assert load_settings().slack.mode == "http"


def test_non_string_yaml_key_is_a_problem(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text("1: x\n")
    with pytest.raises(ConfigError, match="1: unknown setting"):
        load_settings(cfg)


# --------------------------------------------------------------------------- URLs

URL_FIELDS = [
    ("GENAI_PROMETHEUS__URL", "prometheus.url"),
    ("GENAI_ALERTMANAGER__URL", "alertmanager.url"),
    ("GENAI_SLACK__API_BASE_URL", "slack.api_base_url"),
    ("GENAI_KUBERNETES__URL", "kubernetes.url"),
    ("GENAI_COST__KUBECOST_URL", "cost.kubecost_url"),
    ("GENAI_AWS__ENDPOINT_URL", "aws.endpoint_url"),
]


@pytest.mark.parametrize(("name", "where"), URL_FIELDS)
@pytest.mark.parametrize(
    "bad", ["notaurl", "foo://x", "http://", "https:///path", "prometheus:9090",
            "http://host:port", "http://host:0", "http://ho st:80"],
)
def test_urls_must_be_http_with_a_host(
    monkeypatch: pytest.MonkeyPatch, name: str, where: str, bad: str
) -> None:
    monkeypatch.setenv(name, bad)
    with pytest.raises(ConfigError) as info:
        load_settings()
    [problem] = info.value.problems
    assert problem.startswith(f"{where}: must be an http(s) URL with a host, like http")
    assert problem.endswith(f"(env {name})")


def test_good_urls_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_PROMETHEUS__URL", " http://prometheus:9090 ")
    monkeypatch.setenv("GENAI_SLACK__API_BASE_URL", "https://slack.test/api")
    monkeypatch.setenv("GENAI_KUBERNETES__URL", "https://10.0.0.1:6443")
    monkeypatch.setenv("GENAI_AWS__ENDPOINT_URL", "http://[::1]:4566")
    monkeypatch.setenv("GENAI_COST__KUBECOST_URL", "")  # empty: not set
    s = load_settings()
    assert s.prometheus.url == "http://prometheus:9090"
    assert s.slack.api_base_url == "https://slack.test/api/"  # trailing slash kept
    assert s.kubernetes.url == "https://10.0.0.1:6443"
    assert s.aws.endpoint_url == "http://[::1]:4566"
    assert s.cost.kubecost_url is None


@pytest.mark.parametrize(
    "good", ["sqlite://", "sqlite:///./genai-bot.db", "sqlite:////var/lib/bot.db",
             "postgresql+psycopg://genai:pw@postgres:5432/genai", "postgresql://db/genai"],
)
def test_database_url_sqlite_or_postgresql(monkeypatch: pytest.MonkeyPatch, good: str) -> None:
    monkeypatch.setenv("GENAI_DATABASE_URL", good)
    assert load_settings().database_url == good


@pytest.mark.parametrize(
    "bad", ["mysql://genai:hunter2@db/genai", "notaurl", "", "postgresql://genai:hunter2@db:x/g",
            "http://genai:hunter2@db/genai"],
)
def test_database_url_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("GENAI_DATABASE_URL", bad)
    with pytest.raises(ConfigError) as info:
        load_settings()
    [problem] = info.value.problems
    assert problem.startswith("database_url: must be a SQLAlchemy URL for SQLite or PostgreSQL")
    assert problem.endswith("(env GENAI_DATABASE_URL)")
    assert "hunter2" not in problem


# --------------------------------------------------------------------------- secrets

SECRET = "s3cr3t-Do-Not-Print"


@pytest.mark.parametrize(
    "env",
    [
        {"GENAI_SLACK__BOT_TOKEN": SECRET, "GENAI_SLACK__APP_TOKEN": SECRET},
        {"GENAI_SLACK": f'{{"bot_token": "{SECRET}", "mode": '},
        {"GENAI_SLACK": f'{{"bot_token": "{SECRET}", "mode": "pigeon"}}'},
        {"GENAI_KUBERNETES": f'{{"token": ["{SECRET}"]}}'},
        {"GENAI_WEBHOOK_TOKEN": SECRET, "GENAI_DATABASE_URL": f"mysql://u:{SECRET}@db/x"},
    ],
)
def test_secrets_are_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(
        f"slack:\n  bot_token: {SECRET}\n  signing_secret: {{v: {SECRET}}}\n"
        f"kubernetes:\n  token: [{SECRET}]\n"
        f"webhook_token: {{v: {SECRET}}}\n"
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert SECRET not in str(info.value)
    assert all(SECRET not in p for p in info.value.problems)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --------------------------------------------------------------------------- the real CLI


def _check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("GENAI_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-config"],
        capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=60,
        cwd=REPO, env={**base, **env, "PYTHONIOENCODING": "utf-8"},
    )


@pytest.mark.parametrize(
    "env",
    [
        {"GENAI_ROLES__RESPONDERS": "bob"},
        {"GENAI_GAMEDAY__SCHEDULES": '[{"name": "wed",'},
        {"GENAI_SLACK": "{"},
        {"GENAI_ALERTS__SILENCE_DURATIONS": "1h,forever"},
        {"GENAI_PROMETHEUS__URL": "notaurl", "GENAI_SLACK__BOT_TOKEN": SECRET},
    ],
    ids=["role", "schedule-json", "model-json", "duration", "url-and-secret"],
)
def test_cli_check_config_bad_env_exits_2_without_traceback(env: dict[str, str]) -> None:
    proc = _check_config(env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("Invalid configuration")
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert SECRET not in proc.stderr + proc.stdout
    name = next(iter(env))
    assert f"(env {name})" in proc.stderr


def test_cli_check_config_names_the_bad_role() -> None:
    proc = _check_config({"GENAI_ROLES__RESPONDERS": "bob"})
    assert ("  - roles.responders: 'bob' is not a Slack user (U…/W…) or usergroup (S…) id"
            " (env GENAI_ROLES__RESPONDERS)") in proc.stderr


def test_cli_check_config_accepts_comma_separated_roles() -> None:
    proc = _check_config({"GENAI_ROLES__RESPONDERS": "U123,S456",
                          "GENAI_ALERTS__SILENCE_DURATIONS": "30m, 1h"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("config ok")
    assert "Traceback" not in proc.stderr
