"""Configuration: environment variables prefixed ``GENAI_`` plus an optional YAML file.

Nested fields use ``__`` in the environment, e.g. ``GENAI_SLACK__BOT_TOKEN``. The environment
wins over the YAML file, which wins over the defaults. Defaults come from the operations
guide's daily checklist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.errors import ConfigError


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    mode: Literal["socket", "http"] = "socket"
    api_base_url: str = "https://slack.com/api/"

    @field_validator("bot_token")
    @classmethod
    def _bot_token_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return v

    @field_validator("app_token")
    @classmethod
    def _app_token_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return v

    @field_validator("api_base_url")
    @classmethod
    def _trailing_slash(cls, v: str) -> str:
        return v if v.endswith("/") else v + "/"


class HttpSettings(BaseModel):
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535)


class PrometheusSettings(BaseModel):
    url: str = "http://prometheus-server.monitoring:80"
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class KubernetesSettings(BaseModel):
    mode: Literal["auto", "incluster", "kubeconfig", "url"] = "auto"
    kubeconfig: str | None = None
    context: str | None = None
    url: str | None = None
    token: SecretStr | None = None
    verify_tls: bool = True
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _url_needed(self) -> KubernetesSettings:
        if self.mode == "url" and not self.url:
            raise ValueError("kubernetes.mode 'url' needs kubernetes.url")
        return self


class AwsSettings(BaseModel):
    region: str = "ap-northeast-2"
    endpoint_url: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class AlertmanagerSettings(BaseModel):
    url: str = "http://alertmanager-operated.monitoring:9093"
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class AlertSettings(BaseModel):
    """Where incidents come from. `webhook`: Alertmanager calls the bot, which posts the
    alert itself. `channel`: Alertmanager posts through slack_configs and the bot answers in
    the thread. Pick one, so an alert group is not posted twice."""

    source: Literal["webhook", "channel"] = "webhook"
    webhook_max_bytes: int = Field(default=1 << 20, ge=1024)
    silence_durations: list[str] = Field(default_factory=lambda: ["1h", "4h", "24h"])
    # Slack allows about one chat.postMessage per second per channel.
    channel_interval_s: float = Field(default=1.0, ge=0)


class CostSettings(BaseModel):
    daily_budget_usd: float = Field(default=1000.0, gt=0)  # the guide's DailyCostExceeded
    cost_explorer: bool = False  # AWS Cost Explorer costs $0.01 a request: opt in
    kubecost_url: str | None = None  # optional Allocation API, e.g. http://kubecost:9090
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class WeeklySettings(BaseModel):
    backup_max_age_h: float = Field(default=26.0, gt=0)  # a daily snapshot plus slack
    ecr_registry_id: str | None = None


class LogsSettings(BaseModel):
    log_group: str = "/eks/genai-platform/inference"
    query_timeout_s: float = Field(default=30.0, gt=0, le=300)
    poll_interval_s: float = Field(default=1.0, gt=0, le=10)


class DiagSettings(BaseModel):
    """`/genai diag` and the alerts' Run diagnostics button."""

    exec_enabled: bool = False  # pods/exec (nvidia-smi) needs the exec overlay's RBAC too
    log_tail_lines: int = Field(default=500, ge=10, le=10000)
    cluster_domain: str = "cluster.local"
    karpenter_namespace: str = "kube-system"
    karpenter_selector: str = "app.kubernetes.io/name=karpenter"


class GamedaySchedule(BaseModel):
    """One recurring drill prompt, e.g. Wednesdays 14:00 in Seoul."""

    name: str = Field(min_length=1, max_length=64)
    cron: str  # five fields, croniter syntax
    timezone: str = "Asia/Seoul"
    scenario: str | None = None  # None: the bot picks the least recently drilled one


class GamedaySettings(BaseModel):
    schedules: list[GamedaySchedule] = Field(default_factory=list)
    # A prompt whose time passed while no replica was up: post it once late, or skip it.
    missed: Literal["catch_up", "skip"] = "catch_up"
    catch_up_max_age_h: float = Field(default=6.0, gt=0)
    tick_s: float = Field(default=30.0, gt=0, le=3600)


class ChannelSettings(BaseModel):
    """The guide's three Alertmanager channels (ids or names) and the drill channel."""

    critical: str = "#genai-critical"
    warning: str = "#genai-warnings"
    default: str = "#genai-alerts"
    gameday: str = "#genai-gameday"


class RoleSettings(BaseModel):
    """Slack user ids (U…/W…) or usergroup ids (S…). Everyone else is a viewer."""

    responders: list[str] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)


class Thresholds(BaseModel):
    """The guide's daily table. `warn_fraction` opens a warn band just below a ceiling."""

    gpu_node_selector: str = "nvidia.com/gpu.present=true"
    inference_namespace: str = "inference"
    error_rate_max: float = Field(default=0.01, gt=0, lt=1)
    p99_latency_max_s: float = Field(default=5.0, gt=0)
    gpu_util_min_pct: float = Field(default=40.0, ge=0, le=100)
    gpu_util_max_pct: float = Field(default=80.0, ge=0, le=100)
    gpu_mem_max_ratio: float = Field(default=0.9, gt=0, le=1)
    warn_fraction: float = Field(default=0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _band(self) -> Thresholds:
        if self.gpu_util_min_pct >= self.gpu_util_max_pct:
            raise ValueError("gpu_util_min_pct must be below gpu_util_max_pct")
        return self


class JobSettings(BaseModel):
    """Sizes of the pools that keep Slack's 3 s ack promise under load."""

    workers: int = Field(default=16, ge=1, le=256)
    queue_limit: int = Field(default=200, ge=1)
    listener_threads: int = Field(default=32, ge=1, le=512)
    # Backend calls of all running commands together; a status report makes six.
    fanout_threads: int = Field(default=96, ge=1, le=1024)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GENAI_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    slack: SlackSettings = Field(default_factory=SlackSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    aws: AwsSettings = Field(default_factory=AwsSettings)
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    roles: RoleSettings = Field(default_factory=RoleSettings)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    jobs: JobSettings = Field(default_factory=JobSettings)
    alertmanager: AlertmanagerSettings = Field(default_factory=AlertmanagerSettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    weekly: WeeklySettings = Field(default_factory=WeeklySettings)
    logs: LogsSettings = Field(default_factory=LogsSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    diag: DiagSettings = Field(default_factory=DiagSettings)
    gameday: GamedaySettings = Field(default_factory=GamedaySettings)
    # Bearer token Alertmanager sends to POST /alertmanager; the webhook is off without it.
    webhook_token: SecretStr | None = None
    database_url: str = "sqlite:///./genai-bot.db"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs (see load_settings); the environment overrides it.
        return env_settings, init_settings


def _describe(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "config"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown setting"
    env = "GENAI_" + "__".join(str(p) for p in err["loc"]).upper()
    return f"{where}: {msg} (env {env})"


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings, or raise ConfigError listing every bad field once, in plain words."""
    data: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError([f"config file {path}: {exc.strerror}"]) from None
        except yaml.YAMLError as exc:
            raise ConfigError([f"config file {path}: not valid YAML ({exc})"]) from None
        if not isinstance(loaded, dict):
            raise ConfigError([f"config file {path}: top level must be a mapping"])
        data.update(loaded)
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = list(dict.fromkeys(_describe(e) for e in exc.errors()))  # type: ignore[arg-type]
        raise ConfigError(problems) from None
