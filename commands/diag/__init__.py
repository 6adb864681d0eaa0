"""`/genai diag oom|network|model-load|karpenter <target> [-n namespace]`: the guide's four
troubleshooting procedures, run through the APIs, answered with findings and the remedy.

`run_scenario` is the same diagnosis for an alert's Run diagnostics button, with the target
taken from the alert's labels.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from bot.errors import SourceError, UsageError
from bot.report import Report, Row, Section, Status
from bot.roles import Role
from commands.base import Command, Context
from commands.diag import karpenter, model_load, network, oom
from commands.diag.common import TargetNotFound

log = structlog.get_logger(__name__)

SCENARIOS = ("oom", "network", "model-load", "karpenter")
USAGE = ("/genai diag oom <pod|node> | network <pod|service> | model-load <pod> | "
         "karpenter [nodepool]  [-n namespace]")


class MissingLabel(Exception):
    """The alert lacks the label that names the scenario's target."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


def parse(args: list[str], default_namespace: str) -> tuple[str, str | None, str]:
    """(scenario, target, namespace) from the words after `diag`."""
    words = list(args)
    namespace = default_namespace
    for flag in ("-n", "--namespace"):
        while flag in words:
            i = words.index(flag)
            if i + 1 >= len(words):
                raise UsageError(f"{flag} needs a namespace. Usage: {USAGE}")
            namespace = words[i + 1]
            del words[i : i + 2]
    if not words or words[0].lower() not in SCENARIOS:
        got = f"unknown scenario {words[0]!r}. " if words else ""
        raise UsageError(f"{got}Usage: {USAGE}")
    scenario, rest = words[0].lower(), words[1:]
    if len(rest) > 1:
        raise UsageError(f"unexpected argument {rest[1]!r}. Usage: {USAGE}")
    target = rest[0] if rest else None
    if target is None and scenario != "karpenter":
        what = "pod or service" if scenario == "network" else "pod"
        raise UsageError(f"diag {scenario} needs a {what}. Usage: {USAGE}")
    return scenario, target, namespace


def diagnose(ctx: Context, scenario: str, target: str | None, namespace: str) -> Report:
    """Run one scenario. A missing target is a private message naming the closest ones; a
    failure to read the target itself (403, API down) is an `unknown` row with the cause."""
    try:
        if scenario == "karpenter":
            return karpenter.diagnose(ctx, target)
        assert target is not None
        if scenario == "oom":
            return oom.diagnose(ctx, target, namespace)
        if scenario == "network":
            return network.diagnose(ctx, target, namespace)
        return model_load.diagnose(ctx, target, namespace)
    except TargetNotFound as exc:
        return Report.message(exc.title, *exc.lines)
    except SourceError as exc:
        where = target if scenario == "karpenter" else f"{namespace}/{target}"
        return Report(
            title=f"diag {scenario}: {where or 'all NodePools'}",
            summary="Could not read the target",
            sections=[Section(rows=[Row(check="target", status=Status.UNKNOWN, value="unknown",
                                        detail=str(exc))])],
            private=True,
        )


def run(ctx: Context, args: list[str]) -> Report:
    scenario, target, namespace = parse(args, ctx.settings.thresholds.inference_namespace)
    return diagnose(ctx, scenario, target, namespace)


def target_from_labels(scenario: str, labels: Mapping[str, str],
                       default_namespace: str) -> tuple[str | None, str]:
    """The scenario's target from an alert's labels. On a DCGM series (it carries the GPU's
    host label) `pod`/`namespace` may be dcgm-exporter's own: they count only in the model
    namespace; `exported_pod`/`exported_namespace` always name the workload."""
    dcgm = any(k in labels for k in ("Hostname", "hostname", "UUID"))
    pod: str | None = None
    namespace = default_namespace
    if labels.get("exported_pod"):
        pod = labels["exported_pod"]
        namespace = labels.get("exported_namespace") or default_namespace
    elif labels.get("pod") and (not dcgm or labels.get("namespace") in (None,
                                                                        default_namespace)):
        pod = labels["pod"]
        namespace = labels.get("namespace") or default_namespace
    if scenario == "karpenter":
        return labels.get("nodepool") or None, namespace
    if scenario == "network":
        target = pod or labels.get("model")
        if not target:
            raise MissingLabel("pod")
        return target, namespace
    if scenario == "oom" and not pod:
        # DCGM alerts name the node: the oom diagnosis picks the node's GPU pod.
        pod = labels.get("Hostname") or labels.get("hostname") or labels.get("node")
        if not pod:
            raise MissingLabel("pod (or node)")
    if not pod:
        raise MissingLabel("pod")
    return pod, namespace


def run_scenario(ctx: Context, scenario: str, labels: Mapping[str, str]) -> Report:
    """The Run diagnostics button: the alert's linked scenario on the alert's labels.
    Raises MissingLabel when the alert does not name the target."""
    default = ctx.settings.thresholds.inference_namespace
    target, namespace = target_from_labels(scenario, labels, default)
    found = diagnose(ctx, scenario, target, namespace)
    found.private = False  # in the alert's thread, for the whole team
    return found


COMMAND = Command(
    name="diag",
    usage=USAGE,
    summary="the guide's troubleshooting (GPU OOM, network, model loading, Karpenter) with "
    "findings and the remedy",
    run=run,
    role=Role.RESPONDER,
    examples=("/genai diag oom llama-7b-5d9c8-x2k4p", "/genai diag network llama-7b -n inference",
              "/genai diag karpenter gpu"),
)
