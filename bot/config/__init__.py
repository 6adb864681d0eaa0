"""Configuration: environment variables prefixed ``GENAI_`` plus an optional YAML file.

Nested fields use ``__`` in the environment, e.g. ``GENAI_SLACK__BOT_TOKEN``. The environment
wins over the YAML file, which wins over the defaults. Defaults come from the operations
guide's daily checklist.
"""


from bot.config.loading import load_settings
from bot.config.sections import (
    AlertmanagerSettings,
    AlertSettings,
    AwsSettings,
    ChannelSettings,
    CostSettings,
    DiagSettings,
    GamedaySchedule,
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
from bot.config.settings import ENV_PREFIX, Settings

__all__ = [
    "ENV_PREFIX",
    "AlertSettings",
    "AlertmanagerSettings",
    "AwsSettings",
    "ChannelSettings",
    "CostSettings",
    "DiagSettings",
    "GamedaySchedule",
    "GamedaySettings",
    "HttpSettings",
    "JobSettings",
    "KubernetesSettings",
    "LogsSettings",
    "PrometheusSettings",
    "RoleSettings",
    "Settings",
    "SlackSettings",
    "Thresholds",
    "WeeklySettings",
    "load_settings",
]
