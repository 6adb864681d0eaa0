"""Secrets never reach the log: the redaction processor, through the real structlog chain."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bot.logs import REDACTED, configure_logging, redact_text

SECRETS = {
    "slack bot token": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack app token": "xapp-1-A0123456789-1234567890123-abcdef0123456789",
    "aws key id": "AKIAIOSFODNN7EXAMPLE",
    "aws secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    structlog.reset_defaults()
    configure_logging("json", "debug", stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def test_secrets_in_fields_and_messages_are_redacted(out: io.StringIO) -> None:
    structlog.get_logger("test").info(
        "connecting with " + SECRETS["slack bot token"],
        app_token=SECRETS["slack app token"],
        env={"AWS_ACCESS_KEY_ID": SECRETS["aws key id"],
             "AWS_SECRET_ACCESS_KEY": SECRETS["aws secret"]},
        header="Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        dsn="postgresql://genai:hunter2@db:5432/genai",
        model="llama-2-7b",
    )
    raw = out.getvalue()
    for secret in [*SECRETS.values(), "hunter2", "eyJhbGciOiJIUzI1NiJ9"]:
        assert secret not in raw
    event = json.loads(raw.strip().splitlines()[-1])
    assert event["model"] == "llama-2-7b"  # ordinary fields survive
    assert event["dsn"] == f"postgresql://genai:{REDACTED}@db:5432/genai"
    assert event["event"] == f"connecting with {REDACTED}"
    assert event["level"] == "info" and "timestamp" in event


def test_stdlib_loggers_are_redacted_too(out: io.StringIO) -> None:
    logging.getLogger("slack_sdk").warning("token=%s", SECRETS["slack bot token"])
    event = json.loads(out.getvalue().strip())
    assert event["event"] == f"token={REDACTED}"
    assert (event["logger"], event["level"]) == ("slack_sdk", "warning")


def test_every_library_line_is_json(out: io.StringIO) -> None:
    """uvicorn, alembic, urllib3 errors and tracebacks: one JSON stream. (Python warnings
    are checked on the real process, where pytest does not catch them first.)"""
    logging.getLogger("uvicorn.error").info("Started server process [1]")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade 0002 -> 0003")
    logging.getLogger("urllib3.connectionpool").error("Retrying after %s", "Bearer abc.def")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("slack_bolt.App").exception("listener failed")
    lines = out.getvalue().strip().splitlines()
    events = [json.loads(line) for line in lines]  # every line parses
    loggers = [e["logger"] for e in events]
    assert loggers == ["uvicorn.error", "alembic.runtime.migration", "urllib3.connectionpool",
                       "slack_bolt.App"]
    assert "abc.def" not in out.getvalue()
    assert "RuntimeError: boom" in events[3]["exception"]


def test_redact_text_leaves_ordinary_text() -> None:
    text = "GPU gpu-node-1/gpu3 at 93% memory, pod vllm-0"
    assert redact_text(text) == text


def test_records_from_before_configuration_wait_and_come_out_as_json() -> None:
    """A warning while the settings load (before the log format is known) is not printed as
    plain text: it waits, then comes out rendered like every other line."""
    import warnings

    from bot.logs import hold_early_records

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    stream = io.StringIO()
    logging.captureWarnings(False)  # an earlier test's capture, undone by pytest's own
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            hold_early_records()
            warnings.warn("deprecated setting GENAI_X", UserWarning, stacklevel=1)
        assert stream.getvalue() == ""
        configure_logging("json", "info", stream=stream)
        events = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [e["logger"] for e in events] == ["py.warnings"]
        assert "UserWarning: deprecated setting GENAI_X" in events[0]["event"]
    finally:
        logging.captureWarnings(False)
        structlog.reset_defaults()
        root.handlers[:] = saved
