"""Find an alert's rule: what Prometheus evaluates (`/api/v1/rules`), else the shipped
`manifests/prometheus-rules.yaml` (a PrometheusRule, validated here as it is read).

The manifest names no evaluation interval; Prometheus then uses its global
`evaluation_interval`, 1m by default, which the replay assumes and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import SourceError
from bot.sources.prometheus import ApiRuleGroup, PrometheusSource
from bot.tune.rule import (
    AlertRule,
    Comparison,
    NotTunable,
    clean,
    parse_comparison,
    parse_duration,
)

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "prometheus-rules.yaml"
DEFAULT_INTERVAL_S = 60


class _FileRule(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    alert: str | None = None
    expr: str = ""
    for_: str = Field(default="0s", alias="for")
    keep_firing_for: str = "0s"
    labels: dict[str, Any] = Field(default_factory=dict)
    annotations: dict[str, Any] = Field(default_factory=dict)


class _FileGroup(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    interval: str | None = None
    rules: list[_FileRule] = Field(default_factory=list)


class _RuleFile(BaseModel):
    """A PrometheusRule (`spec.groups`) or a plain Prometheus rule file (`groups`)."""

    model_config = ConfigDict(extra="ignore")

    groups: list[_FileGroup]


@dataclass(frozen=True)
class Choice:
    """The rule to tune, or why none can be; ``notes`` say where it came from."""

    rule: AlertRule | None
    comparison: Comparison | None
    notes: list[str] = field(default_factory=list)
    refusal: str = ""


def _strings(values: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in values.items()}


def from_api(groups: list[ApiRuleGroup], name: str) -> list[AlertRule]:
    return [AlertRule(name=r.name, expr=r.query, for_s=round(r.duration),
                      interval_s=max(1, round(g.interval)), group=g.name, origin="Prometheus",
                      labels=dict(r.labels), annotations=dict(r.annotations),
                      keep_firing_for_s=round(r.keep_firing_for))
            for g in groups for r in g.rules if r.type == "alerting" and r.name == name]


def from_file(path: Path, name: str) -> list[AlertRule]:
    """Every rule named `name` in a rule file; raises OSError, ValueError on a bad file."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    body = raw.get("spec", raw) if isinstance(raw, dict) else raw
    parsed = _RuleFile.model_validate(body)
    out = []
    for g in parsed.groups:
        interval = parse_duration(g.interval) if g.interval else DEFAULT_INTERVAL_S
        for r in g.rules:
            if r.alert != name:
                continue
            out.append(AlertRule(
                name=name, expr=clean(r.expr), for_s=parse_duration(r.for_),
                interval_s=interval, group=g.name, origin=_shown(path),
                labels=_strings(r.labels), annotations=_strings(r.annotations),
                keep_firing_for_s=parse_duration(r.keep_firing_for),
                interval_assumed=g.interval is None))
    return out


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(MANIFEST.parents[1]))
    except ValueError:
        return str(path)


def choose(rules: list[AlertRule], notes: list[str]) -> Choice:
    """The first rule of that name whose expression can be tuned; the others noted."""
    refusals: list[tuple[AlertRule, str]] = []
    for index, rule in enumerate(rules):
        try:
            comparison = parse_comparison(rule.expr)
        except NotTunable as exc:
            refusals.append((rule, str(exc)))
            continue
        skipped = [f"{_which(r).capitalize()} is not tuned: {why}." for r, why in refusals]
        others = [f"{_which(r).capitalize()} is not tuned here." for r in rules[index + 1:]]
        return Choice(rule, comparison, [*notes, *skipped, *others])
    if len(refusals) == 1:
        return Choice(None, None, notes, refusals[0][1])
    return Choice(None, None, notes, "; ".join(f"{_which(r)}: {why}" for r, why in refusals))


def _which(rule: AlertRule) -> str:
    severity = rule.labels.get("severity")
    return f"the {severity} rule" if severity else f"the rule in group {rule.group}"


def find(source: PrometheusSource, name: str, manifest: Path = MANIFEST) -> Choice:
    """The rule Prometheus evaluates, else the manifest's. Never raises for a missing or
    failing source: the choice says what happened."""
    notes: list[str] = []
    try:
        rules = from_api(source.alert_rules(), name)
        if rules:
            return choose(rules, notes)
        notes.append(f"Prometheus evaluates no alert named {name}.")
    except SourceError as exc:
        notes.append(f"Cannot read Prometheus' rules ({exc}).")
    try:
        rules = from_file(manifest, name)
    except (OSError, ValueError, ValidationError, yaml.YAMLError) as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        return Choice(None, None, notes, f"no rule found; {_shown(manifest)} unreadable "
                                         f"({reason})")
    if not rules:
        return Choice(None, None, notes,
                      f"no alert rule named {name} in Prometheus or {_shown(manifest)}")
    return choose(rules, notes)
