"""Slack payloads of Game Day: outbox rows carry their message ready-made, and the findings
modal (built here, parsed with pydantic on submission)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bot.render.mrkdwn import truncate
from bot.store import OutboxRow

FINDINGS_VIEW = "gameday_findings_modal"
MAX_INPUT = 3000


def outbox_message(row: OutboxRow) -> dict[str, Any] | None:
    """The message of a Game Day outbox row (prompt, briefing, report); None for others."""
    if row.payload.get("gameday") and isinstance(row.payload.get("message"), dict):
        return dict(row.payload["message"])
    return None


def _input(block_id: str, label: str, placeholder: str) -> dict[str, Any]:
    return {
        "type": "input", "block_id": block_id, "optional": True,
        "label": {"type": "plain_text", "text": label},
        "element": {"type": "plain_text_input", "action_id": "text", "multiline": True,
                    "max_length": MAX_INPUT,
                    "placeholder": {"type": "plain_text", "text": placeholder}},
    }


def findings_modal(drill_public_id: str, title: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": FINDINGS_VIEW,
        "private_metadata": drill_public_id,
        "title": {"type": "plain_text", "text": "Drill findings"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "plain_text", "text": truncate(title, 150)}},
            _input("findings", "Findings (one per line)",
                   "The runbook lacked the NCCL_DEBUG step"),
            _input("action_items", "Action items (one per line, optional 'owner: ' prefix)",
                   "U123ABC: add NCCL_DEBUG=INFO to the runbook"),
        ],
    }


class ActionItem(BaseModel):
    text: str = Field(min_length=1, max_length=500)
    owner: str | None = None


class FindingsSubmission(BaseModel):
    """What the modal's state values hold, validated before anything is stored."""

    drill: str = Field(pattern=r"^[a-z2-7]{10}$")
    findings: list[str] = Field(max_length=50)
    action_items: list[ActionItem] = Field(max_length=50)

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> FindingsSubmission:
        values = (view.get("state") or {}).get("values") or {}

        def lines(block: str) -> list[str]:
            raw = ((values.get(block) or {}).get("text") or {}).get("value") or ""
            return [ln.strip()[:500] for ln in str(raw).splitlines() if ln.strip()]

        items = []
        for line in lines("action_items"):
            owner, sep, text = line.partition(":")
            if sep and owner.strip() and " " not in owner.strip() and text.strip():
                items.append(ActionItem(text=text.strip(), owner=owner.strip()))
            else:
                items.append(ActionItem(text=line))
        return cls(drill=str(view.get("private_metadata", "")), findings=lines("findings"),
                   action_items=items)
