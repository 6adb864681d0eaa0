"""The settings as a whole: every section, the database URL and logging, read from the
environment over the YAML file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config.sections import (
    AlertmanagerSettings,
    AlertSettings,
    AwsSettings,
    ChannelSettings,
    CostSettings,
    DiagSettings,
    EscalationSettings,
    GamedaySettings,
    HttpSettings,
    JobSettings,
    KubernetesSettings,
    LogsSettings,
    PrometheusSettings,
    RoleSettings,
    SlackSettings,
    Thresholds,
    WeeklySettings,
)

ENV_PREFIX = "GENAI_"


class EnvSource(EnvSettingsSource):
    """The environment, where text that is not JSON reaches the validators as it is.

    pydantic-settings JSON-decodes every structured variable (GENAI_SLACK, lists) and raises
    SettingsError, a bare traceback, when that fails. Handing the text on instead lets
    validation reject it like any other bad value, with the field and variable named.
    """

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep JSON
            return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
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
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    # Bearer token Alertmanager sends to POST /alertmanager; the webhook is off without it.
    webhook_token: SecretStr | None = None
    database_url: str = "sqlite:///./genai-bot.db"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        text = v.strip()
        try:
            backend: str | None = make_url(text).get_backend_name()
        except (ArgumentError, ValueError):  # ValueError: a non-numeric port
            backend = None
        if backend not in ("sqlite", "postgresql"):
            # Only the backend name is shown: the URL may hold the database password.
            got = f" (got {backend!r})" if backend else ""
            raise ValueError(
                "must be a SQLAlchemy URL for SQLite or PostgreSQL, like sqlite:///./genai-bot.db "
                f"or postgresql+psycopg://user:password@host:5432/genai{got}"
            )
        return text

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
        # EnvSource reads the same model_config as the stock source it replaces.
        return EnvSource(settings_cls), init_settings
