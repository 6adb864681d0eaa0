"""The buttons a person can press, by id. Reports and messages name them; the Slack layer
maps each to its handler (:mod:`bot.slack.listeners.actions`). A button's value is only an
opaque id: every click is authorized and looked up again."""

from __future__ import annotations

from enum import StrEnum


class Button(StrEnum):
    ACK = "incident_ack"
    SILENCE = "incident_silence"
    UNSILENCE = "incident_unsilence"
    DIAG = "incident_diag"
    RESOLVE = "incident_resolve"
    DRILL_JOIN = "gameday_join"
    DRILL_START = "gameday_start_now"
    DRILL_SKIP = "gameday_skip"
    DRILL_FINDINGS = "gameday_findings"
    DIGEST_ACK = "digest_ack"  # acknowledge every open incident of one alertname in a digest
    DIGEST_SILENCE = "digest_silence"  # silence one alertname of a digest
    POSTMORTEM = "incident_postmortem"  # the findings form of a resolved incident
    SILENCE_EXTEND = "silence_extend"
    SILENCE_EXPIRE = "silence_expire"
