"""`/genai diag model-load <pod>`: the guide's model loading failure scenario."""

from __future__ import annotations

import re
from concurrent.futures import Future

from bot.report import Report, Status
from bot.sources.k8s_models import Container, Event, PersistentVolumeClaim, Pod
from bot.words import plural
from commands.base import Context
from commands.diag.common import (
    Findings,
    Got,
    bytes_of,
    clip,
    fetch,
    find_pod,
    main_container,
    matching,
    quote,
    report,
)
from commands.diag.oom import more_memory_remedy

EVENT_REASONS = ("FailedMount", "FailedScheduling", "BackOff")
# (check, pattern, cause): the guide's three symptoms.
LOG_CAUSES = (
    ("Connection refused", re.compile(r"Connection refused", re.IGNORECASE),
     "model download: connection refused (model store endpoint or network)"),
    ("403 Forbidden", re.compile(r"403 Forbidden|\b403\b.*forbidden", re.IGNORECASE),
     "model download refused: 403 Forbidden (credentials, token or bucket policy)"),
    ("OOM while loading", re.compile(r"out of memory|\bOOM\b", re.IGNORECASE),
     "out of memory while loading the model"),
)
GUIDE_REQUEST, GUIDE_LIMIT = 32 * 2**30, 64 * 2**30


def check_events(found: Findings, got: Got[list[Event]]) -> None:
    check = "Events"
    if got.value is None:
        found.unknown(check, got.error)
        return
    seen = [e for e in got.value if e.reason in EVENT_REASONS]
    if not seen:
        found.row(check, Status.OK, "none", "no FailedMount, FailedScheduling or BackOff "
                  "events")
        return
    for reason in EVENT_REASONS:
        of = [e for e in seen if e.reason == reason]
        if not of:
            continue
        last = of[-1]
        times = sum(e.times for e in of)
        status = Status.WARN if reason == "BackOff" else Status.FAIL
        found.row(f"Event {reason}", status, f"×{times}", clip(last.message, 400))
        if reason == "FailedMount":
            found.cause(f"volume mount failed: {clip(last.message, 120)}")
        elif reason == "FailedScheduling":
            found.cause("not scheduled: " + clip(last.message, 120))
            found.remedy("Capacity", "The pod waits for a node: run /genai diag karpenter to "
                         "see why none is provisioned.")


def check_logs(found: Findings, previous: Got[str | None], current: Got[str | None],
               oom_killed: bool) -> set[str]:
    """The guide's symptoms in the crashed container's log (else the current one)."""
    got, which = (previous, "previous") if previous.value else (current, "current")
    if got.value is None and (previous.error or current.error):
        found.unknown("Logs", previous.error or current.error)  # nothing was read
        return set()
    hit: set[str] = set()
    for check, pattern, cause in LOG_CAUSES:
        lines = matching(got.value, (pattern,))
        if lines:
            found.row(check, Status.FAIL, plural(len(lines), "line"),
                      f"{which} log: {quote(lines)}")
            found.cause(cause)
            hit.add(check)
    if oom_killed:
        hit.add("OOM while loading")
    if not hit:
        searched = f"no Connection refused, 403 Forbidden or OOM in the {which} log"
        # The crashed container's log is the one that says why: unread, it is unknown.
        error = previous.error if which == "current" else ""
        if got.value is None:
            found.row("Logs", Status.UNKNOWN, "unknown", "no log yet: the container has not "
                      "started")
        elif error:
            found.row("Logs", Status.UNKNOWN, "unknown", f"{searched}; previous log: {error}")
        else:
            found.row("Logs", Status.OK, "no load error", searched)
    return hit


def check_pvcs(found: Findings, claims: list[tuple[str, Future[Got[PersistentVolumeClaim]]]],
               ) -> None:
    if not claims:
        found.row("Model volume", Status.OK, "no PVC", "the pod mounts no PVC (weights come "
                  "from the image or a download at start)")
        return
    for name, future in claims:
        got = future.result()
        check = f"PVC {name}"
        if got.value is None:
            if got.missing:
                found.row(check, Status.FAIL, "missing", "the pod mounts a claim that does "
                          "not exist")
                found.cause(f"PVC {name} does not exist")
            else:
                found.unknown(check, got.error)
            continue
        phase = got.value.status.phase
        sc = got.value.spec.storage_class_name or "default class"
        if phase == "Bound":
            found.row(check, Status.OK, phase, f"volume {got.value.spec.volume_name} ({sc})")
        else:
            found.row(check, Status.FAIL, phase, f"not bound ({sc}): the pod cannot start "
                      "until it is; check the storage class and the CSI driver")
            found.cause(f"PVC {name} is {phase}")


def check_init(found: Findings, pod: Pod) -> None:
    statuses = pod.status.init_container_statuses
    if not pod.spec.init_containers:
        found.row("Init containers", Status.OK, "none", "")
        return
    for s in statuses or []:
        check = f"Init container {s.name}"
        term, wait = s.state.terminated, s.state.waiting
        last = s.last_state.terminated
        if term is not None and term.exit_code == 0:
            found.row(check, Status.OK, "completed", "")
        elif term is not None or (wait is not None and last is not None):
            t = term or last
            assert t is not None
            found.row(check, Status.FAIL, f"{t.reason or 'Error'}, exit {t.exit_code}",
                      clip(t.message or (wait.message if wait else ""), 300)
                      + f"; {plural(s.restart_count, 'restart')}")
            found.cause(f"init container {s.name} failed (exit {t.exit_code})")
        elif wait is not None:
            found.row(check, Status.WARN, wait.reason or "waiting", clip(wait.message, 300))
        else:
            found.row(check, Status.WARN, "running", "still running (downloading the model?)")
    if not statuses:
        found.row("Init containers", Status.UNKNOWN, "no status", "not started yet")


def check_memory(found: Findings, c: Container | None, oom: bool, troubled: bool) -> None:
    check = "Memory request/limit"
    if c is None:
        return
    req, lim = c.resources.requests.get("memory"), c.resources.limits.get("memory")
    value = f"{req or 'unset'} / {lim or 'unset'}"
    req_b, lim_b = bytes_of(req), bytes_of(lim)
    below = (req_b is not None and req_b < GUIDE_REQUEST) or (
        lim_b is not None and lim_b < GUIDE_LIMIT)
    guide = "guide: 32Gi / 64Gi for loading"
    if below and oom:
        found.row(check, Status.FAIL, value, f"below the {guide}, and it ran out of memory")
        more_memory_remedy(found, c)
    elif below and troubled:
        found.row(check, Status.WARN, value, f"below the {guide}")
    elif oom:
        found.row(check, Status.WARN, value, f"meets the {guide}, yet ran out of memory: "
                  "the model needs more")
        more_memory_remedy(found, c)
    else:
        found.row(check, Status.OK, value, guide)


def download_remedies(found: Findings, pod: Pod) -> None:
    claim = next((v.persistent_volume_claim.claim_name for v in pod.spec.volumes
                  if v.persistent_volume_claim), "model-cache-pvc")
    found.remedy("Cache the model on a PVC", "Load weights from a volume instead of the "
                 "network at every start:",
                 f"volumes:\n- name: model-cache\n  persistentVolumeClaim:\n"
                 f"    claimName: {claim}\n")
    found.remedy("Download in an init container", "Fetch the model once, before the server "
                 "starts (fix the credentials or endpoint it uses first):",
                 "initContainers:\n- name: model-downloader\n  image: amazon/aws-cli\n"
                 "  command:\n  - /bin/sh\n  - -c\n  - |\n"
                 "    aws s3 sync s3://models/<model> /models/<model>\n"
                 "  volumeMounts:\n  - name: model-cache\n    mountPath: /models\n")


def diagnose(ctx: Context, name: str, namespace: str) -> Report:
    kube = ctx.kubernetes
    pod = find_pod(ctx, name, namespace, "model-load")
    c = main_container(pod)
    tail = ctx.settings.diag.log_tail_lines
    events = fetch(ctx, kube.events_for, namespace, name)
    previous = fetch(ctx, kube.pod_log, namespace, name, c.name if c else None, True, tail)
    current = fetch(ctx, kube.pod_log, namespace, name, c.name if c else None, False, tail)
    claims = [(v.persistent_volume_claim.claim_name,
               fetch(ctx, kube.pvc, namespace, v.persistent_volume_claim.claim_name))
              for v in pod.spec.volumes if v.persistent_volume_claim]

    found = Findings()
    check_events(found, events.result())
    status = next((s for s in pod.status.container_statuses if c and s.name == c.name), None)
    oom_killed = bool(status and status.last_state.terminated
                      and status.last_state.terminated.reason == "OOMKilled")
    hits = check_logs(found, previous.result(), current.result(), oom_killed)
    if oom_killed:
        found.row("Last termination", Status.FAIL, "OOMKilled, exit 137",
                  "killed at the container memory limit while starting")
        found.cause("container memory limit reached (OOMKilled)")
    check_pvcs(found, claims)
    check_init(found, pod)
    troubled = bool(status and (status.restart_count or not status.ready))
    check_memory(found, c, "OOM while loading" in hits, troubled)
    if hits & {"Connection refused", "403 Forbidden"}:
        download_remedies(found, pod)
    return report("model-load", f"{namespace}/{name}", found,
                  f"container {c.name if c else '?'} · logs: last {plural(tail, 'line')}")
