"""Configuration: env over YAML over defaults; every bad field reported once, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError


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
    assert "slack.mode" in text and "GENAI_SLACK__MODE" in text
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
