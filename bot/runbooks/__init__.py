"""Runbooks as data: one YAML file per alert and per troubleshooting scenario.

Each file in this directory is one :class:`Runbook` (Meaning / Impact / Diagnosis / Mitigation,
the layout of the prometheus-operator runbooks). :func:`load_runbooks` reads and validates every
file at start-up and raises :class:`RunbookError` listing each bad file and field, so a broken
runbook stops the bot before it answers an alert with half a runbook.

Kinds of runbook, told apart by their fields:

- alert runbooks: ``alert`` is the Prometheus alert name; ``diag_scenario`` links the
  ``/genai diag`` scenario that investigates it;
- scenario runbooks (``gpu-oom``, ``network-latency``, ``model-load-failure``,
  ``karpenter-provisioning``): ``alert`` is null and ``diag_scenario`` names the scenario;
- ``generic``: ``alert`` and ``diag_scenario`` are null; the fallback for unknown alerts.

An alert runbook may carry ``codes``: what the value its alert carries means (the alert's
``code`` annotation), e.g. GPUXidError's XID code table, so an alert card can name the code.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

__all__ = [
    "DEFAULT_DIRECTORY",
    "GENERIC_ID",
    "DiagScenario",
    "QuickLook",
    "Runbook",
    "RunbookError",
    "RunbookIndex",
    "Severity",
    "Step",
    "load_runbooks",
]

DEFAULT_DIRECTORY = Path(__file__).resolve().parent
GENERIC_ID = "generic"

Severity = Literal["critical", "warning", "info"]
DiagScenario = Literal["oom", "network", "model-load", "karpenter"]
# A read-only look for alerts that no troubleshooting scenario fits: /genai gpu <node> or
# /genai cost, run by Run diagnostics beside the runbook's steps.
QuickLook = Literal["gpu", "cost"]
DIAG_SCENARIOS: tuple[str, ...] = get_args(DiagScenario)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
RunbookId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
AlertName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
# A value an alert carries (an XID code): a non-negative whole number. Strict, so a YAML key
# written as a string ("79") or a boolean (yes) is refused rather than coerced.
Code = Annotated[int, Field(strict=True, ge=0)]


class Step(BaseModel):
    """One diagnosis or mitigation step.

    ``command`` is a shell command from the guide (``kubectl logs <pod> -n inference
    --previous``); ``snippet`` is a YAML or Python remedy to paste (an env block, a NodePool).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: Text
    command: Text | None = None
    snippet: Text | None = None


class Runbook(BaseModel):
    """One runbook file. ``id`` is the file name without ``.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RunbookId
    alert: AlertName | None
    title: Text
    severity: Severity | None
    meaning: Text
    impact: Text
    diagnosis: Annotated[list[Step], Field(min_length=1)]
    mitigation: Annotated[list[Step], Field(min_length=1)]
    diag_scenario: DiagScenario | None
    quick_look: QuickLook | None = None
    related: list[RunbookId] = []
    # What the value the alert carries means, by value: a short meaning plus what to do
    # (GPUXidError: the XID code table). Only on alert runbooks; the alert names the value in
    # its `code` annotation (tests/test_runbooks.py checks both sides).
    codes: dict[Code, Text] = {}

    @field_validator("codes")
    @classmethod
    def _codes_need_an_alert(cls, codes: dict[int, str], info: ValidationInfo) -> dict[int, str]:
        # `alert` missing from info.data means it failed validation itself: reported there.
        if codes and "alert" in info.data and info.data["alert"] is None:
            raise ValueError(
                "only an alert runbook carries codes (what its alert's value "
                "means); this runbook has no alert"
            )
        return codes

    @property
    def is_scenario(self) -> bool:
        """A troubleshooting-scenario runbook (not tied to one alert)."""
        return self.alert is None and self.diag_scenario is not None

    @property
    def is_generic(self) -> bool:
        return self.id == GENERIC_ID


class RunbookError(Exception):
    """One or more runbook files are invalid.

    ``problems`` holds one line per problem, each starting with the file name
    (``gpu-oom.yaml: mitigation.0.command: ...``); ``files`` lists the offending files.
    """

    def __init__(self, problems: Sequence[str], files: Sequence[Path] = ()) -> None:
        self.problems = list(problems)
        self.files = list(dict.fromkeys(files))
        super().__init__("invalid runbooks:\n  " + "\n  ".join(self.problems))


class RunbookIndex:
    """The validated runbooks, looked up by id, alert name or diag scenario."""

    def __init__(self, runbooks: Sequence[Runbook]) -> None:
        self._by_id = {rb.id: rb for rb in runbooks}
        self._by_alert = {rb.alert: rb for rb in runbooks if rb.alert is not None}
        self._by_scenario: dict[str, Runbook] = {
            rb.diag_scenario: rb for rb in runbooks if rb.is_scenario and rb.diag_scenario
        }
        if GENERIC_ID not in self._by_id:
            raise RunbookError([f"{GENERIC_ID}.yaml: missing (the fallback for unknown alerts)"])
        self._generic = self._by_id[GENERIC_ID]

    def for_alert(self, alertname: str) -> Runbook:
        """The runbook for ``alertname``, or the generic runbook for an unknown alert."""
        return self._by_alert.get(alertname, self._generic)

    def has_alert(self, alertname: str) -> bool:
        """Whether ``alertname`` has its own runbook (not the generic fallback)."""
        return alertname in self._by_alert

    def get(self, runbook_id: str) -> Runbook | None:
        """The runbook with this id, or None."""
        return self._by_id.get(runbook_id)

    def scenario(self, name: str) -> Runbook:
        """The scenario runbook for a diag scenario (``oom``, ``network``, ...).

        Raises KeyError for a name that is not one of the four scenarios.
        """
        try:
            return self._by_scenario[name]
        except KeyError:
            known = ", ".join(DIAG_SCENARIOS)
            raise KeyError(f"unknown diag scenario {name!r} (known: {known})") from None

    def all(self) -> list[Runbook]:
        """Every runbook, sorted by id."""
        return [self._by_id[k] for k in sorted(self._by_id)]

    def alerts(self) -> list[str]:
        """The alert names that have a runbook, sorted."""
        return sorted(self._by_alert)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Runbook]:
        return iter(self.all())

    def __contains__(self, runbook_id: object) -> bool:
        return runbook_id in self._by_id


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Hashable, Any]:
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _parse_file(path: Path) -> tuple[Runbook | None, list[str]]:
    name = path.name
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # a SafeLoader
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return None, [f"{name}: cannot read: {' '.join(str(exc).split())}"]
    if not isinstance(data, dict):
        return None, [f"{name}: expected a mapping of runbook fields, got {type(data).__name__}"]
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as exc:
        return None, [
            f"{name}: {_field_path(err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
    if runbook.id != path.stem:
        return None, [f"{name}: id: {runbook.id!r} does not match the file name {path.stem!r}"]
    return runbook, []


def _cross_check(runbooks: dict[Path, Runbook]) -> list[tuple[Path | None, str]]:
    """Problems between files: duplicate alerts or scenarios, dangling ``related`` ids, and a
    missing generic or scenario runbook (``None`` stands for the directory)."""
    problems: list[tuple[Path | None, str]] = []
    ids = {rb.id for rb in runbooks.values()}
    alert_owner: dict[str, Path] = {}
    scenario_owner: dict[str, Path] = {}
    for path, rb in runbooks.items():
        if rb.alert is not None:
            if rb.alert in alert_owner:
                other = alert_owner[rb.alert].name
                problems.append((path, f"alert: {rb.alert!r} already has a runbook in {other}"))
            alert_owner.setdefault(rb.alert, path)
        if rb.is_scenario and rb.diag_scenario is not None:
            if rb.diag_scenario in scenario_owner:
                other = scenario_owner[rb.diag_scenario].name
                problems.append(
                    (path, f"diag_scenario: {rb.diag_scenario!r} already described in {other}")
                )
            scenario_owner.setdefault(rb.diag_scenario, path)
        for index, ref in enumerate(rb.related):
            if ref not in ids:
                problems.append((path, f"related.{index}: unknown runbook id {ref!r}"))
            elif ref == rb.id:
                problems.append((path, f"related.{index}: a runbook cannot relate to itself"))
    if GENERIC_ID not in ids:
        problems.append((None, f"{GENERIC_ID}.yaml is missing (the fallback for unknown alerts)"))
    for scenario in DIAG_SCENARIOS:
        if scenario not in scenario_owner:
            problems.append((None, f"no scenario runbook for diag scenario {scenario!r}"))
    return problems


def load_runbooks(directory: Path | None = None) -> RunbookIndex:
    """Read and validate every ``*.yaml`` runbook in ``directory`` (default: this package).

    Raises :class:`RunbookError` naming every bad file and every bad field in it.
    """
    directory = DEFAULT_DIRECTORY if directory is None else Path(directory)
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise RunbookError([f"{directory}: no runbook files (*.yaml)"], [directory])

    problems: list[str] = []
    bad_files: list[Path] = []
    good: dict[Path, Runbook] = {}
    for path in paths:
        runbook, errors = _parse_file(path)
        if errors:
            problems.extend(errors)
            bad_files.append(path)
        elif runbook is not None:
            good[path] = runbook
    if problems:
        raise RunbookError(problems, bad_files)

    cross = _cross_check(good)
    if cross:
        raise RunbookError(
            [f"{(path or directory).name}: {msg}" for path, msg in cross],
            [path or directory for path, _ in cross],
        )
    return RunbookIndex(list(good.values()))
