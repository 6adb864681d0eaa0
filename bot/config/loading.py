"""Loading the settings, and saying exactly where each bad value came from: the YAML
file and key, or the environment variable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError

from bot.config.settings import ENV_PREFIX, EnvSource, Settings
from bot.errors import ConfigError

Loc = tuple[str | int, ...]


def _reach(data: Any, loc: Loc) -> tuple[int, Any]:
    """How many leading parts of `loc` exist in a source's raw data, and the value there."""
    depth = 0
    for part in loc:
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_dict or in_list):
            break
        data = data[part]
        depth += 1
    return depth, data


def _env_names(loc: Loc, environ: dict[str, str]) -> list[str]:
    """The GENAI_ variables that set `loc`, or a part of it, or a model around it."""
    path: list[str] = []
    for part in loc:
        if not isinstance(part, str):
            break
        path.append(part.lower())
    exact: list[str] = []
    related: list[str] = []
    for name in environ:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX):].lower().split("__")
        if parts == path:
            exact.append(name)
        elif parts[: len(path)] == path or path[: len(parts)] == parts:
            related.append(name)
    return exact or sorted(related)


class _Origins:
    """Which source supplied a bad value: the environment, the YAML file, or both."""

    def __init__(self, file_data: dict[str, Any], file_label: str | None) -> None:
        self.environ = dict(os.environ)
        self.file_data = file_data
        self.file_label = file_label
        try:
            self.env_data = EnvSource(Settings)()
        except Exception:  # naming the source is best effort; it must not hide the problem
            self.env_data = {}

    def describe(self, err: dict[str, Any]) -> str:
        loc: Loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "config"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        line = f"{where}: {msg}"
        env_depth, env_value = _reach(self.env_data, loc)
        file_depth, file_value = _reach(self.file_data, loc)
        from_env = env_depth > 0 and env_depth >= file_depth
        # The environment wins a leaf outright; a model is merged from both sources.
        from_file = file_depth > env_depth or (
            from_env and file_depth == env_depth
            and isinstance(env_value, dict) and isinstance(file_value, dict)
        )
        if from_file:
            line = f"{self.file_label}: {line}"
        if from_env:
            names = _env_names(loc, self.environ)
            return f"{line} (env {', '.join(names) or _env_name(loc)})"
        if from_file:
            return line
        # Neither source (load_settings overrides): point at the variable that would set it.
        return f"{line} (env {_env_name(loc)})"


def _env_name(loc: Loc) -> str:
    return ENV_PREFIX + "__".join(str(p) for p in loc).upper()


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings, or raise ConfigError listing every bad field once, in plain words."""
    data: dict[str, Any] = {}
    file_data: dict[str, Any] = {}
    file_label: str | None = None
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
        odd = [k for k in loaded if not isinstance(k, str)]
        if odd:  # Settings(**data) would fail with a TypeError on these
            raise ConfigError([f"{path}: {k!r}: unknown setting" for k in odd])
        data.update(loaded)
        file_data = {k: v for k, v in loaded.items() if k not in overrides}
        file_label = str(path)
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        origins = _Origins(file_data, file_label)
        problems = list(dict.fromkeys(origins.describe(e) for e in exc.errors()))  # type: ignore[arg-type]
        raise ConfigError(problems) from None
    except SettingsError as exc:
        # EnvSource turns bad text into validation errors; this is a last resort so the
        # CLI still prints "Invalid configuration" instead of a traceback.
        raise ConfigError([f"{ENV_PREFIX}* environment: {exc}"]) from None
