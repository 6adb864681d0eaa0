"""Modals: the findings form of a drill, and what its submission holds (parsed with
pydantic before anything is stored)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bot.slack.render.kit import plain

FINDINGS_VIEW = "gameday_findings_modal"
MAX_INPUT = 3000


def _input(block_id: str, label: str, placeholder: str) -> dict[str, Any]:
    return {
        "type": "input", "block_id": block_id, "optional": True,
        "label": plain(label, 2000),
        "element": {"type": "plain_text_input", "action_id": "text", "multiline": True,
                    "max_length": MAX_INPUT,
                    "placeholder": plain(placeholder, 150)},
    }


def findings_modal(drill_public_id: str, title: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": FINDINGS_VIEW,
        "private_metadata": drill_public_id,
        "title": plain("Drill findings", 24),
        "submit": plain("Save", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            {"type": "section", "text": plain(title, 3000)},
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
