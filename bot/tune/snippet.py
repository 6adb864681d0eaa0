"""The change as a PrometheusRule, ready to apply: the rule whole (labels and annotations
kept), with the new threshold and `for`, and the before and after counts in comments."""

from __future__ import annotations

from typing import Any

import yaml

from bot.tune.rule import AlertRule, Comparison, duration, number
from bot.tune.score import PairStats

# The shipped manifests/prometheus-rules.yaml's object.
RULE_OBJECT = {"name": "genai-platform-alerts", "namespace": "monitoring"}
MAX_CHARS = 2_800  # Slack shows a code section up to 3,000 characters


def describe(comparison: Comparison, threshold: float, for_s: int) -> str:
    return f"{comparison.op.value} {number(threshold)} for {duration(for_s)}"


def _counts(stats: PairStats, handled: int) -> str:
    return (f"{stats.firings} firings, {len(stats.signal)}/{handled} handled incidents caught, "
            f"{len(stats.noise)} noise incidents")


def snippet(rule: AlertRule, comparison: Comparison, before: PairStats, after: PairStats,
            handled: int, window: str) -> str:
    body: dict[str, Any] = {"alert": rule.name,
                            "expr": comparison.expr(after.pair.threshold)}
    if after.pair.for_s:
        body["for"] = duration(after.pair.for_s)
    if rule.keep_firing_for_s:
        body["keep_firing_for"] = duration(rule.keep_firing_for_s)
    if rule.labels:
        body["labels"] = dict(rule.labels)
    head = [
        f"# /genai tune {rule.name} {window}: replace the rule in group {rule.group}.",
        f"# before ({describe(comparison, before.pair.threshold, before.pair.for_s)}): "
        f"{_counts(before, handled)}",
        f"# after  ({describe(comparison, after.pair.threshold, after.pair.for_s)}): "
        f"{_counts(after, handled)}",
    ]
    if rule.annotations:
        head.append("# annotations: edit any text that quotes the old threshold")
    text = _dump(head, rule.group, body, rule.annotations)
    if len(text) > MAX_CHARS:  # long templates: the rule's own annotations stay as they are
        head[-1] = "# annotations: keep the rule's own (edit text quoting the old threshold)"
        text = _dump(head, rule.group, body, {})
    return text


def _dump(head: list[str], group: str, body: dict[str, Any],
          annotations: dict[str, str]) -> str:
    rule = {**body, **({"annotations": dict(annotations)} if annotations else {})}
    doc = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
           "metadata": dict(RULE_OBJECT),
           "spec": {"groups": [{"name": group, "rules": [rule]}]}}
    return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True,
                                                    width=1_000)
