"""The sections of the settings, one model each, with the operations guide's defaults."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from bot.config.checks import (
    DURATION,
    ROLE_ID,
    SENDER_ID,
    http_url,
    json_value,
    optional_http_url,
    refuse,
    shown,
    text_list,
)


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    mode: Literal["socket", "http"] = "socket"
    api_base_url: str = "https://slack.com/api/"
    # Socket Mode keepalive: a ping every interval, given up without a pong within the
    # timeout. A dead connection is noticed within their sum plus 1 s for the close.
    socket_ping_interval_s: float = Field(default=3.0, gt=0, le=60)
    socket_ping_timeout_s: float = Field(default=4.0, gt=0, le=60)
    # Slack says hello once the websocket is open; a connection silent this long is replaced.
    socket_hello_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # /healthz fails (and Kubernetes restarts the pod) after this long without a connection.
    socket_liveness_s: float = Field(default=300.0, ge=1)

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
        # slack_sdk joins method names onto the base URL, so it must end with a slash.
        v = http_url(v, "https://slack.com/api/")
        return v if v.endswith("/") else v + "/"


class HttpSettings(BaseModel):
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535)
    # On SIGTERM: how long /readyz says 503 while the bot still serves, so Kubernetes takes
    # the pod out of its Service before the listener closes.
    drain_delay_s: float = Field(default=5.0, ge=0, le=60)
    # Where people reach the bot's pages (/runbooks/…), e.g. https://genai-bot.example.com:
    # cards link runbooks there. Unset: cards link the alert's runbook_url annotation.
    public_url: str | None = None
    # A log line per request (the probes' too, every few seconds): for debugging.
    access_log: bool = False

    @field_validator("public_url")
    @classmethod
    def _public(cls, v: str | None) -> str | None:
        url = optional_http_url(v, "https://genai-bot.example.com")
        return url.rstrip("/") if url else None


class PrometheusSettings(BaseModel):
    url: str = "http://prometheus-server.monitoring:80"
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v, "http://prometheus:9090")


class KubernetesSettings(BaseModel):
    mode: Literal["auto", "incluster", "kubeconfig", "url"] = "auto"
    kubeconfig: str | None = None
    context: str | None = None
    url: str | None = None
    token: SecretStr | None = None
    verify_tls: bool = True
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return optional_http_url(v, "https://kubernetes.default.svc")

    @model_validator(mode="after")
    def _url_needed(self) -> KubernetesSettings:
        if self.mode == "url" and not self.url:
            raise ValueError("kubernetes.mode 'url' needs kubernetes.url")
        return self


class AwsSettings(BaseModel):
    region: str = "ap-northeast-2"
    endpoint_url: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return optional_http_url(v, "http://localhost:4566")


class AlertmanagerSettings(BaseModel):
    url: str = "http://alertmanager-operated.monitoring:9093"
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v, "http://alertmanager:9093")


class AlertSettings(BaseModel):
    """Where incidents come from. `webhook`: Alertmanager calls the bot, which posts the
    alert itself. `channel`: Alertmanager posts through slack_configs and the bot answers in
    the thread. Pick one, so an alert group is not posted twice."""

    source: Literal["webhook", "channel"] = "webhook"
    webhook_max_bytes: int = Field(default=1 << 20, ge=1024)
    silence_durations: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["1h", "4h", "24h"]
    )
    # Slack allows about one chat.postMessage per second per channel.
    channel_interval_s: float = Field(default=1.0, ge=0)
    # How long a delivery a replica claimed stays its own: if that replica dies mid-post,
    # another takes the row over after this (and looks for the post before sending again).
    outbox_lease_s: float = Field(default=30.0, ge=3, le=600)
    # How often escalations coming due and storms subsiding are checked.
    tick_s: float = Field(default=1.0, gt=0, le=60)
    # Storm digest: past digest_threshold new incidents in a channel within digest_window_s,
    # the rest are counted in one message (0: never), edited at most every
    # digest_edit_interval_s and closed once the channel has had none for digest_quiet_s.
    digest_threshold: int = Field(default=10, ge=0)
    digest_window_s: float = Field(default=60.0, gt=0, le=3600)
    digest_edit_interval_s: float = Field(default=5.0, ge=1, le=300)
    digest_quiet_s: float = Field(default=60.0, gt=0, le=3600)
    # Channel mode: the bot (B…) or app (A…) ids whose posts are Alertmanager's. Empty: the
    # first Alertmanager-looking sender is learned (and logged), every other one refused.
    channel_senders: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("silence_durations", "channel_senders", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return text_list(v)

    @field_validator("channel_senders")
    @classmethod
    def _sender_ids(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if not SENDER_ID.fullmatch(e)]
        refuse(bad, "is not a Slack bot (B…) or app (A…) id",
                "are not Slack bot (B…) or app (A…) ids")
        return v

    @field_validator("silence_durations")
    @classmethod
    def _durations(cls, v: list[str]) -> list[str]:
        # The same shape bot.alerts.silences.parse_duration reads; 0h would silence nothing.
        bad = [d for d in v if not DURATION.fullmatch(d) or int(d[:-1]) == 0]
        refuse(bad, "is not a duration like 30m, 1h, 4h, 24h or 7d",
                "are not durations like 30m, 1h, 4h, 24h or 7d")
        return v


class CostSettings(BaseModel):
    daily_budget_usd: float = Field(default=1000.0, gt=0)  # the guide's DailyCostExceeded
    cost_explorer: bool = False  # AWS Cost Explorer costs $0.01 a request: opt in
    kubecost_url: str | None = None  # optional Allocation API, e.g. http://kubecost:9090
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("kubecost_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return optional_http_url(v, "http://kubecost:9090")


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
    schedules: Annotated[list[GamedaySchedule], NoDecode] = Field(default_factory=list)
    # A prompt whose time passed while no replica was up: post it once late, or skip it.
    missed: Literal["catch_up", "skip"] = "catch_up"
    catch_up_max_age_h: float = Field(default=6.0, gt=0)
    tick_s: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("schedules", mode="before")
    @classmethod
    def _json(cls, v: Any) -> Any:
        return json_value(v, 'write a list like [{"name": "weekly", "cron": "0 14 * * 3"}]')


class ChannelSettings(BaseModel):
    """The guide's three Alertmanager channels (ids or names) and the drill channel."""

    critical: str = "#genai-critical"
    warning: str = "#genai-warnings"
    default: str = "#genai-alerts"
    gameday: str = "#genai-gameday"


class RoleSettings(BaseModel):
    """Slack user ids (U…/W…) or usergroup ids (S…). Everyone else is a viewer."""

    responders: Annotated[list[str], NoDecode] = Field(default_factory=list)
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("responders", "admins", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return text_list(v)

    @field_validator("responders", "admins")
    @classmethod
    def _slack_ids(cls, v: list[str]) -> list[str]:
        # A name or an email here would silently grant nobody anything.
        bad = [e for e in v if not ROLE_ID.fullmatch(e)]
        refuse(bad, "is not a Slack user (U…/W…) or usergroup (S…) id",
                "are not Slack user (U…/W…) or usergroup (S…) ids")
        return v


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
    # On SIGTERM: how long accepted commands and clicks may take to finish.
    drain_timeout_s: float = Field(default=10.0, ge=0, le=120)


class EscalationStep(BaseModel):
    """One step of a policy: who is mentioned in the incident's thread once it has gone
    unacknowledged this long after it began firing (its startsAt)."""

    model_config = {"extra": "forbid"}  # a typo ("chanel") must not silently page no one

    after: str  # 5m, 15m, 1h: from the alert's startsAt
    notify: list[str] = Field(default_factory=list)  # usergroup S…, user U…/W… ids
    channel: bool = False  # also @channel

    @field_validator("after")
    @classmethod
    def _after(cls, v: str) -> str:
        if not DURATION.fullmatch(v) or int(v[:-1]) == 0:
            raise ValueError(f"{shown(v)} is not a duration like 5m, 15m, 1h or 1d")
        return v

    @field_validator("notify")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        # A group's handle (@genai-oncall) or a name would render as text and page nobody.
        refuse([e for e in v if not ROLE_ID.fullmatch(e)],
               "is not a Slack usergroup (S…) or user (U…/W…) id",
               "are not Slack usergroup (S…) or user (U…/W…) ids")
        return v

    @model_validator(mode="after")
    def _someone(self) -> EscalationStep:
        if not self.notify and not self.channel:
            raise ValueError("notifies no one: give notify ids, or channel: true")
        return self

    @property
    def minutes(self) -> int:
        return int(self.after[:-1]) * {"m": 1, "h": 60, "d": 1440}[self.after[-1]]


class EscalationSettings(BaseModel):
    """Who is mentioned, per severity, while an incident stays unacknowledged. Empty (the
    default): nothing escalates; an SRE opts in with the real on-call group ids."""

    # {"critical": [{"after": "5m", "notify": ["S…"]}, {"after": "15m", ...}]}; keys are
    # severities, matched without regard to case.
    policies: Annotated[dict[str, list[EscalationStep]], NoDecode] = Field(default_factory=dict)
    # Game Day drills too (they would page the groups for an exercise).
    drills: bool = False

    @field_validator("policies", mode="before")
    @classmethod
    def _json(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return {}
        return json_value(v, 'write an object like {"critical": [{"after": "5m", '
                             '"notify": ["S0ONCALL"]}]}')

    @field_validator("policies")
    @classmethod
    def _ordered(cls, v: dict[str, list[EscalationStep]]) -> dict[str, list[EscalationStep]]:
        policies: dict[str, list[EscalationStep]] = {}
        for severity, steps in v.items():
            key = severity.strip().lower()
            if not key or key in policies:
                raise ValueError(f"{shown(severity)} is empty or named twice (case ignored)")
            # Step numbers are positions, kept in the audit log: they must fire in order.
            for number in range(2, len(steps) + 1):
                before, step = steps[number - 2], steps[number - 1]
                if step.minutes <= before.minutes:
                    raise ValueError(f"{key}: step {number} ({step.after}) must come later "
                                     f"than step {number - 1} ({before.after})")
            policies[key] = steps
        return policies
