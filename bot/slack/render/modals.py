"""Modals: the findings form, one for a drill and for a real incident's postmortem, and what
its submission holds (parsed with pydantic before anything is stored).

The form's ``private_metadata`` says what it is about: ``incident:<id>`` for an incident, the
bare ``<id>`` for a drill (what drill forms carried before incidents had one, so a form left
open across a deploy still saves)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from bot.slack.render.kit import plain

# One callback for both kinds: the metadata tells them apart. The name predates incidents.
FINDINGS_VIEW = "gameday_findings_modal"
MAX_INPUT = 3000


class Subject(StrEnum):
    """What a findings form is about."""

    DRILL = "drill"
    INCIDENT = "incident"

    @property
    def opener(self) -> str:
        """Where the form is opened from, for "open it again from …"."""
        return {Subject.DRILL: "the drill's Add findings button",
                Subject.INCIDENT: "the alert's Postmortem button"}[self]


_TEXT = {
    Subject.DRILL: ("Drill findings", "The runbook lacked the NCCL_DEBUG step",
                    "U123ABC: add NCCL_DEBUG=INFO to the runbook"),
    Subject.INCIDENT: ("Postmortem findings", "The alert fired 10 min after users saw errors",
                       "U123ABC: add the fix that worked to the runbook"),
}


def metadata(subject: Subject, public_id: str) -> str:
    return public_id if subject is Subject.DRILL else f"{subject.value}:{public_id}"


def read_metadata(raw: str) -> tuple[Subject, str]:
    """(what, its id) from a form's private_metadata; the id is validated by the form."""
    kind, sep, public_id = raw.partition(":")
    if sep and kind == Subject.INCIDENT.value:
        return Subject.INCIDENT, public_id
    return Subject.DRILL, raw


def _input(block_id: str, label: str, placeholder: str) -> dict[str, Any]:
    return {
        "type": "input", "block_id": block_id, "optional": True,
        "label": plain(label, 2000),
        "element": {"type": "plain_text_input", "action_id": "text", "multiline": True,
                    "max_length": MAX_INPUT,
                    "placeholder": plain(placeholder, 150)},
    }


def findings_modal(public_id: str, title: str,
                   subject: Subject = Subject.DRILL) -> dict[str, Any]:
    heading, finding, item = _TEXT[subject]
    return {
        "type": "modal",
        "callback_id": FINDINGS_VIEW,
        "private_metadata": metadata(subject, public_id),
        "title": plain(heading, 24),
        "submit": plain("Save", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            {"type": "section", "text": plain(title, 3000)},
            _input("findings", "Findings (one per line)", finding),
            _input("action_items", "Action items (one per line, optional 'owner: ' prefix)",
                   item),
        ],
    }


class ActionItem(BaseModel):
    text: str = Field(min_length=1, max_length=500)
    owner: str | None = None


class FindingsSubmission(BaseModel):
    """What the modal's state values hold, validated before anything is stored."""

    subject: Subject
    public_id: str = Field(pattern=r"^[a-z2-7]{10}$")
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
        subject, public_id = read_metadata(str(view.get("private_metadata", "")))
        return cls(subject=subject, public_id=public_id, findings=lines("findings"),
                   action_items=items)
