"""structlog setup: the guide's processor chain, plus redaction of secrets.

JSON lines by default (what Fluent Bit and CloudWatch Logs Insights expect); a readable
console renderer when stderr is a TTY.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[REDACTED]"

# Order matters: URL passwords first, so the user part of the URL survives.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@"), rf"\1{REDACTED}@"),
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9\-]{6,}"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9\-]{6,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b"), REDACTED),
    (
        re.compile(r"(?i)(aws_secret_access_key|secret_access_key|secretaccesskey)([\"'\s:=]+)"
                   r"[A-Za-z0-9/+=]{40}"),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*"), f"Bearer {REDACTED}"),
]
# A 40-char base64 string next to nothing else is how an AWS secret key looks on its own.
_AWS_SECRET_ALONE = re.compile(r"^[A-Za-z0-9/+]{40}$")
_SECRET_KEYS = re.compile(
    r"(?i)(token|secret|password|passwd|authorization|api[_-]?key|signing|credential)"
)


def redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if _SECRET_KEYS.search(key) or _AWS_SECRET_ALONE.match(value):
            return REDACTED if value else value
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(key, v) for v in value)
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr
        return REDACTED
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: scrub tokens, keys and URL passwords from every field."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key if key != "event" else "", event_dict[key])
    return event_dict


def _quiet_urllib3(record: logging.LogRecord) -> bool:
    """urllib3 warns on every retry with the full URL; the row's reason already says it. A
    filter, not a logger level: the kubernetes client resets urllib3's level when it builds
    its configuration."""
    return not (record.name.startswith("urllib3") and record.levelno < logging.ERROR)


# Records from before configure_logging (a warning while the settings load) wait here.
_EARLY = logging.handlers.MemoryHandler(capacity=1000, flushLevel=logging.CRITICAL + 1)


def hold_early_records() -> None:
    """Call first thing: until :func:`configure_logging`, warnings and library records are
    kept, not printed as plain text, and then rendered like every other line."""
    logging.captureWarnings(True)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(_EARLY)
        root.setLevel(logging.WARNING)


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None
                      ) -> bool:
    """One stream: every line is rendered by structlog, ours and the libraries' alike
    (slack_sdk, urllib3, uvicorn, alembic, Python warnings, uncaught exceptions in any
    thread), so with JSON every line is JSON that Fluent Bit can parse, and every line passes
    the same redaction. Returns whether the lines are JSON."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    # What a stdlib record gets before the shared tail (structlog's own events had it).
    foreign: list[Any] = [
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.UnicodeDecoder(),
            redact_secrets,
            renderer,
        ],
    ))
    handler.addFilter(_quiet_urllib3)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    with _EARLY.lock:  # type: ignore[union-attr]
        for record in _EARLY.buffer:
            if record.levelno >= root.level:
                handler.handle(record)
        _EARLY.buffer.clear()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        # Their own handlers would print plain text beside ours.
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.captureWarnings(True)  # warnings.warn() becomes a py.warnings record
    structlog.configure(
        processors=[
            # The guide's chain (logging_config.py); redaction and rendering happen in the
            # handler's formatter, the same for every record.
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        context_class=dict,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _log_uncaught()
    return use_json


def _log_uncaught() -> None:
    """A traceback that nothing caught, in the main thread or any other, becomes one
    record instead of plain text on stderr."""
    crashed = logging.getLogger("bot.crash")

    def main_hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        crashed.critical("uncaught_exception", exc_info=(kind, exc, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread else "?"
        exc = args.exc_value or args.exc_type()
        crashed.error("thread %s crashed", name,
                      exc_info=(args.exc_type, exc, args.exc_traceback))

    sys.excepthook = main_hook
    threading.excepthook = thread_hook
