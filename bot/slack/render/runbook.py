"""The full runbook, posted in a new incident's thread."""

from __future__ import annotations

from typing import Any

from bot.alerts.view import AlertView
from bot.runbooks import Runbook, Step
from bot.slack.render.card import DRILL_PREFIX
from bot.slack.render.kit import (
    MAX_BLOCKS,
    MAX_FALLBACK,
    MAX_HEADER,
    SECTION_BUDGET,
    Block,
    code_block,
    code_span,
    context,
    esc,
    fit,
    link,
    one_line,
    plain,
    section,
)
from bot.slack.render.mrkdwn import escape, truncate

_Unit = tuple[str, int | None]  # (rendered mrkdwn, global step number or None)


def _step_units(step: Step, label: str, number: int) -> list[_Unit]:
    """A step as one unit, or several when it would not fit one section."""
    text = f"*{label}* {esc(one_line(step.text), 2000)}"
    pieces = [text]
    if step.command:
        pieces.append(code_block(step.command, 2400))
    if step.snippet:
        pieces.append(code_block(step.snippet, 2400))
    whole = "\n".join(pieces)
    if len(whole) <= SECTION_BUDGET:
        return [(whole, number)]
    return [(fit(piece, SECTION_BUDGET), number) for piece in pieces]


# What `/genai diag <scenario>` takes, in order of preference. A `pod` label counts only in
# the guide's model namespace: on DCGM alerts it names the exporter's pod, not the model's.
_DIAG_TARGETS: dict[str, tuple[str, ...]] = {
    "oom": ("pod", "host"),
    "model-load": ("pod",),
    "network": ("model", "pod"),
    "karpenter": ("nodepool",),
}
MODEL_NAMESPACE = "inference"


def _diag_target(view: AlertView, scenario: str) -> str:
    for name in _DIAG_TARGETS.get(scenario, ("pod", "model", "host")):
        if name == "host":
            value = view.host()
        elif name == "pod" and view.label("namespace") not in (None, MODEL_NAMESPACE):
            value = None
        else:
            value = view.label(name)
        if value:
            return value
    return "<pod>" if scenario in ("oom", "model-load") else "<target>"


def _pack_units(units: list[_Unit]) -> list[tuple[str, set[int]]]:
    """Join consecutive units into as few sections as fit; each remembers its steps."""
    packed: list[tuple[str, set[int]]] = []
    text = ""
    steps: set[int] = set()
    for unit, number in units:
        candidate = f"{text}\n\n{unit}" if text else unit
        if text and len(candidate) > SECTION_BUDGET:
            packed.append((text, steps))
            text, steps = unit, set()
        else:
            text = candidate
        if number is not None:
            steps.add(number)
    if text:
        packed.append((text, steps))
    return packed


def runbook_thread(view: AlertView, runbook: Runbook,
                   runbook_page: str | None = None) -> dict[str, Any]:
    """The full runbook for the incident's thread: meaning, impact, the linked diag scenario,
    every diagnosis step (commands in code blocks) and every mitigation (snippets in code
    blocks), related runbooks. Split over sections of at most 3000 characters; past 50
    blocks the rest is cut with "… N more steps"."""
    prefix = DRILL_PREFIX if view.drill else ""
    header = {"type": "header",
              "text": plain(f"{prefix}📖 Runbook: {one_line(runbook.title)}", MAX_HEADER)}
    units: list[_Unit] = [
        (f"*What it means*\n{esc(runbook.meaning.strip(), 2800)}", None),
        (f"*Impact*\n{esc(runbook.impact.strip(), 2800)}", None),
    ]
    if runbook.diag_scenario is not None:
        target = _diag_target(view, runbook.diag_scenario)
        command = f"/genai diag {runbook.diag_scenario} {one_line(target)}"
        units.append((
            f"*Automated diagnosis* (scenario {code_span(runbook.diag_scenario)}): press "
            f"*Run diagnostics* on the alert, or run {code_span(command)}",
            None,
        ))
    number = 0
    for title, part in (("Diagnosis", runbook.diagnosis), ("Mitigation", runbook.mitigation)):
        units.append((f"*{title}*", None))
        for index, step in enumerate(part, start=1):
            number += 1
            units += _step_units(step, f"{index}.", number)
    total_steps = number

    tail_parts = [f"Runbook {code_span(runbook.id)}"]
    # The runbook_url annotation names the alert's own runbook, not a linked scenario's.
    own = runbook.alert == view.alertname or runbook.is_generic
    runbook_link = link(runbook_page, "page") if runbook_page else \
        link(view.runbook_url(), "source") if own else None
    if runbook_link:
        tail_parts.append(runbook_link)
    if runbook.related:
        tail_parts.append("related: " + ", ".join(code_span(r) for r in runbook.related))
    tail_parts.append(f"incident {code_span(view.public_id, 40)}")
    tail = context(" · ".join(tail_parts))

    packed = _pack_units(units)
    budget = MAX_BLOCKS - 2  # the header and the tail
    sections: list[Block] = []
    if len(packed) <= budget:
        sections = [section(text) for text, _ in packed]
    else:
        kept = packed[: budget - 1]  # one block for the overflow note
        sections = [section(text) for text, _ in kept]
        shown: set[int] = set()
        for _, numbers in kept:
            shown |= numbers
        # A step cut in the middle counts as not shown.
        first_cut = packed[budget - 1][1]
        hidden = total_steps - len(shown - first_cut)
        sections.append(context(
            f"… {hidden} more step{'s' if hidden != 1 else ''}: see runbook "
            f"{code_span(runbook.id)}"
        ))
    return {
        "text": fit(escape(truncate(f"{prefix}Runbook: {one_line(runbook.title)}", 280)),
                     MAX_FALLBACK * 2),
        "blocks": [header, *sections, tail],
    }
