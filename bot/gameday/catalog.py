"""The Game Day scenario catalog: YAML data, validated by pydantic at start-up.

A scenario is what a drill rehearses: a briefing, the synthetic alert injected through
Alertmanager (optional: a tabletop drill injects nothing), the diagnosis the team should reach,
how success is judged, hints, and target times. Targets are minutes from the drill's start
(the injection), so every duration reads as "how long until the team had ...".
"""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

CATALOG_FILE = Path(__file__).resolve().parent / "scenarios.yaml"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ScenarioId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]


class CatalogError(ValueError):
    pass


class Injection(BaseModel):
    """The synthetic alert; the drill adds gameday="true" and drill_id=<drill id>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: dict[LabelName, str]
    annotations: dict[LabelName, str] = {}
    duration_min: int = Field(default=60, ge=1, le=24 * 60)  # endsAt, if nobody ends it

    @property
    def alertname(self) -> str:
        return self.labels["alertname"]


class Targets(BaseModel):
    """Minutes from the drill's start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detect_min: float = Field(gt=0)
    ack_min: float = Field(gt=0)
    diagnose_min: float = Field(gt=0)
    resolve_min: float = Field(gt=0)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ScenarioId
    title: Text
    kind: str = Field(pattern=r"^(troubleshooting|alert)$")
    briefing: Text
    inject: Injection | None
    runbook: ScenarioId | None = None
    expected_diagnosis: Text
    success_criteria: Annotated[list[Text], Field(min_length=1)]
    hints: list[Text] = []
    targets: Targets


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scenarios: Annotated[list[Scenario], Field(min_length=1)]

    def get(self, scenario_id: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.id == scenario_id.lower()), None)

    def ids(self) -> list[str]:
        return [s.id for s in self.scenarios]

    def closest(self, text: str) -> str | None:
        """The scenario id nearest to a mistyped one, for "did you mean"."""
        found = difflib.get_close_matches(text.lower(), self.ids(), n=1, cutoff=0.4)
        if found:
            return found[0]
        return next((i for i in self.ids() if text.lower() in i), None)


def load_catalog(path: Path = CATALOG_FILE, alert_names: set[str] | None = None,
                 runbook_ids: set[str] | None = None) -> Catalog:
    """Parse and validate; with ``alert_names``, an injected alertname must be one of them
    (so the drill's alert gets its runbook); with ``runbook_ids``, a scenario's runbook must
    exist. Raises CatalogError in plain words."""
    try:
        data = yaml.safe_load(path.read_text())
        catalog = Catalog.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path.name}: {exc}") from None
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise CatalogError(f"{path.name}: {where}") from None
    problems: list[str] = []
    ids = catalog.ids()
    if len(set(ids)) != len(ids):
        problems.append("duplicate scenario ids")
    for s in catalog.scenarios:
        if runbook_ids is not None and s.runbook is not None and s.runbook not in runbook_ids:
            problems.append(f"{s.id}: no runbook {s.runbook}")
        if s.inject is None:
            continue
        if "alertname" not in s.inject.labels:
            problems.append(f"{s.id}: inject.labels needs alertname")
        elif alert_names is not None and s.inject.alertname not in alert_names:
            problems.append(f"{s.id}: alert {s.inject.alertname} has no rule/runbook")
        if {"gameday", "drill_id"} & set(s.inject.labels):
            problems.append(f"{s.id}: gameday and drill_id are set by the bot")
    if problems:
        raise CatalogError(f"{path.name}: " + "; ".join(problems))
    return catalog


@cache
def default_catalog() -> Catalog:
    return load_catalog()
