"""`/genai diag network <pod|service>`: the guide's network latency / NCCL scenario."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import Future
from typing import Any

from bot.errors import NotFound, SourceError
from bot.report import Report, Status
from bot.sources.dns import Resolver, ServiceDns
from bot.sources.k8s_models import Endpoints, Node, Pod, Service
from bot.words import plural
from commands.base import Context
from commands.diag.common import (
    Findings,
    Got,
    TargetNotFound,
    closest,
    fetch,
    main_container,
    matching,
    quote,
    report,
)

ZONE = "topology.kubernetes.io/zone"
EFA = "vpc.amazonaws.com/efa"
NCCL = (re.compile(r"NCCL.*(timeout|timed out|error|abort|fail)", re.IGNORECASE),
        re.compile(r"Watchdog caught collective operation timeout"))
MAX_PODS = 6  # replicas whose logs and nodes are read
DNS_TIMEOUT_S = 2.0
resolver = Resolver(DNS_TIMEOUT_S)


def find_target(ctx: Context, name: str, namespace: str) -> tuple[Pod | None, Service | None]:
    kube = ctx.kubernetes
    try:
        return kube.pod(namespace, name), None
    except NotFound:
        pass
    try:
        return None, kube.service(namespace, name)
    except NotFound:
        pass
    lines = [f"There is no pod or service {name!r} in namespace {namespace!r}."]
    try:
        names = [p.metadata.name for p in kube.pods_in(namespace)]
        names += [s.metadata.name for s in kube.services(namespace)]
    except SourceError as exc:
        names = []
        lines.append(f"(Could not list pods and services to suggest names: {exc.reason}.)")
    near = closest(name, names)
    if near:
        lines.append("Closest names here: " + ", ".join(near))
    elif not names:
        lines.append(f"Namespace {namespace!r} has no pods or services (does it exist?).")
    raise TargetNotFound("Pod or service not found", *lines)


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def check_dns(found: Findings, answers: list[ServiceDns]) -> None:
    for a in answers:
        check = f"DNS {a.name}"
        if a.addresses:
            found.row(check, Status.OK, ", ".join(a.addresses[:3]), "resolves from the bot")
        elif a.control_ok:
            found.row(check, Status.FAIL, "no answer", f"{a.error}; {a.control} resolves, so "
                      "cluster DNS works but this name does not")
            found.cause(f"{a.name} does not resolve")
        else:
            found.row(check, Status.UNKNOWN, "unknown", f"{a.error}; {a.control} does not "
                      "resolve either: cluster DNS not reachable from the bot — is it running "
                      "in the cluster?")


def check_endpoints(found: Findings, service: str, got: Got[Endpoints]) -> None:
    check = f"Endpoints {service}"
    if got.value is None:
        found.unknown(check, got.error)
        return
    ready = [a for s in got.value.subsets for a in s.addresses]
    not_ready = [a for s in got.value.subsets for a in s.not_ready_addresses]

    def who(addrs: list[Any]) -> str:
        return ", ".join((a.target_ref.name if a.target_ref else a.ip) for a in addrs[:5])

    value = f"{len(ready)} ready, {len(not_ready)} not ready"
    if not ready:
        found.row(check, Status.FAIL, value, "no ready endpoint: requests to the service fail"
                  + (f"; not ready: {who(not_ready)}" if not_ready else ""))
        found.cause(f"service {service} has no ready endpoints")
    elif not_ready:
        found.row(check, Status.WARN, value, f"not ready: {who(not_ready)}")
    else:
        found.row(check, Status.OK, value, f"ready: {who(ready)}")


def _spread_rules(pod: Pod) -> list[str]:
    rules = []
    anti = pod.spec.affinity.get("podAntiAffinity") or {}
    for kind, key in (("required", "requiredDuringSchedulingIgnoredDuringExecution"),
                      ("preferred", "preferredDuringSchedulingIgnoredDuringExecution")):
        for term in anti.get(key) or []:
            topo = (term.get("podAffinityTerm") or term).get("topologyKey", "?")
            rules.append(f"anti-affinity {kind} on {topo}")
    for c in pod.spec.topology_spread_constraints:
        rules.append(f"topologySpread {c.get('whenUnsatisfiable', '?')} on "
                     f"{c.get('topologyKey', '?')}")
    return rules


def check_spread(found: Findings, pods: list[Pod], nodes: dict[str, Got[Node]]) -> None:
    check = "Replica spread"
    running = [p for p in pods if p.spec.node_name]
    rules = _spread_rules(pods[0]) if pods else []
    said = "; ".join(rules) or "no pod anti-affinity or topology spread constraint"
    if len(running) < 2:
        found.row(check, Status.OK, plural(len(running), "scheduled replica"),
                  f"nothing to spread; {said}")
        return
    zones: Counter[str] = Counter()
    for p in running:
        got = nodes.get(p.spec.node_name)
        zone = got.value.metadata.labels.get(ZONE, "?") if got and got.value else "?"
        zones[zone] += 1
    known = {z: n for z, n in zones.items() if z != "?"}
    value = f"{len(running)} replicas in {plural(len(known), 'zone')}"
    detail = ", ".join(f"{z}: {n}" for z, n in sorted(zones.items())) + f"; {said}"
    if not known:
        errors = {g.error for g in nodes.values() if g.error}
        found.unknown(check, "node zones unreadable: " + "; ".join(sorted(errors)))
    elif len(known) == 1:
        found.row(check, Status.WARN, value, "all in one zone: one zone's trouble takes every "
                  "replica; " + detail)
        if not rules:
            app = pods[0].metadata.labels.get("app", "inference")
            found.remedy("Spread replicas across zones",
                         "Prefer one replica per zone (the guide's anti-affinity):",
                         "affinity:\n  podAntiAffinity:\n    preferredDuringSchedulingIgnored"
                         "DuringExecution:\n    - weight: 100\n      podAffinityTerm:\n"
                         f"        labelSelector:\n          matchLabels:\n            app: {app}"
                         f"\n        topologyKey: \"{ZONE}\"\n")
    else:
        found.row(check, Status.OK, value, detail)


def _distributed(pod: Pod) -> bool:
    c = main_container(pod)
    if c is None:
        return False
    names = {e.name for e in c.env}
    words = c.command + c.args
    multi = any(w.startswith(("--pipeline-parallel-size", "--nnodes")) for w in words)
    return multi or any(n.startswith("NCCL_") for n in names) or bool(
        {"MASTER_ADDR", "WORLD_SIZE"} & names)


def check_settings(found: Findings, pod: Pod, nccl_trouble: bool) -> None:
    c = main_container(pod)
    if c is None:
        return
    nccl = c.env_value("NCCL_TIMEOUT")
    request = c.env_value("REQUEST_TIMEOUT")
    value = f"NCCL_TIMEOUT={nccl or 'unset'} · REQUEST_TIMEOUT={request or 'unset'}"
    low = not (nccl or "").isdigit() or int(nccl or 0) < 1800
    if nccl_trouble and low:
        found.row("Timeouts", Status.WARN, value, "NCCL timed out and NCCL_TIMEOUT is below "
                  "the guide's 1800 s")
        found.remedy("Raise the timeouts", "The guide's values (30 min NCCL, 5 min request):",
                     'env:\n- name: NCCL_TIMEOUT\n  value: "1800"  # was '
                     f'{nccl or "unset"}\n- name: REQUEST_TIMEOUT\n  value: "300"  # was '
                     f'{request or "unset"}\n')
    else:
        found.row("Timeouts", Status.OK, value, "")
    efa = c.resources.limits.get(EFA)
    if not (_distributed(pod) or nccl_trouble):
        found.row("EFA", Status.OK, "not needed", "single-node pod (no NCCL settings)")
    elif efa:
        found.row("EFA", Status.OK, f"{EFA}: {efa}", "distributed pod with EFA")
    else:
        found.row("EFA", Status.WARN, "none", f"distributed pod without {EFA}: NCCL runs over "
                  "plain TCP")
        found.remedy("Enable EFA", "For distributed inference (p4d/p5 carry 4/32 EFA "
                     "interfaces):", f"resources:\n  limits:\n    {EFA}: 4\n")


def check_nccl_logs(found: Findings, logs: list[tuple[str, Got[str | None]]],
                    tail: int) -> bool:
    """NCCL timeouts or errors in each replica's current and previous log; True if any.
    An unreadable log may hold them: then "none" is not said, the row is unknown."""
    check = "NCCL in logs"
    hits = [f"{name}: {line}" for name, got in logs for line in matching(got.value, NCCL)]
    if hits:
        found.row(check, Status.FAIL, plural(len(hits), "line"), quote(hits))
        found.cause("NCCL timeouts or errors between GPUs/nodes")
        return True
    pods = len(dict.fromkeys(name for name, _ in logs))
    read = sum(got.value is not None for _, got in logs)
    errors = list(dict.fromkeys(got.error for _, got in logs if got.error))
    searched = (f"no NCCL timeout or error in the last {plural(tail, 'line')} of "
                f"{plural(read, 'log')} from {plural(pods, 'replica')}")
    if errors:
        found.unknown(check, (f"{searched}; " if read else "") + "; ".join(errors))
    elif not read:
        found.unknown(check, "no log yet: no replica's container has started" if logs
                      else "no replica to read logs from")
    else:
        found.row(check, Status.OK, "none", searched)
    return False


def diagnose(ctx: Context, target: str, namespace: str) -> Report:
    kube = ctx.kubernetes
    pod, service = find_target(ctx, target, namespace)
    found = Findings()
    services: list[Service] = [service] if service else []
    if pod is not None:
        try:
            services = [s for s in kube.services(namespace) if s.spec.selector and all(
                pod.metadata.labels.get(k) == v for k, v in s.spec.selector.items())]
        except SourceError as exc:
            found.unknown("Services of the pod", str(exc))
    domain = ctx.settings.diag.cluster_domain
    dns = [fetch(ctx, resolver.service, s.metadata.name, namespace, domain)
           for s in services[:3]]
    eps = [(s.metadata.name, fetch(ctx, kube.endpoints, namespace, s.metadata.name))
           for s in services[:3]]
    selector = _selector(services[0].spec.selector) if services else ""
    if not selector and pod is not None and "app" in pod.metadata.labels:
        selector = f"app={pod.metadata.labels['app']}"
    replicas: list[Pod] = [pod] if pod is not None else []
    if selector:
        try:
            replicas = kube.pods_in(namespace, selector) or replicas
        except SourceError as exc:
            found.unknown("Replicas", str(exc))
    if pod is not None:  # the asked pod first: its logs and settings are read for sure
        replicas = [pod] + [p for p in replicas if p.metadata.name != pod.metadata.name]
    replicas = replicas[:MAX_PODS]
    tail = ctx.settings.diag.log_tail_lines
    logs: list[tuple[str, Future[Got[str | None]]]] = []
    for p in replicas:
        c = main_container(p)
        for prev in (False, True):
            logs.append((p.metadata.name, fetch(ctx, kube.pod_log, namespace, p.metadata.name,
                                                c.name if c else None, prev, tail)))
    nodes = {n: fetch(ctx, kube.node, n) for n in {p.spec.node_name for p in replicas} if n}

    if not services:
        found.row("Service", Status.WARN, "none", "no service selects this pod: nothing to "
                  "resolve or balance")
    answers = [f.result() for f in dns]
    check_dns(found, [a.value for a in answers if a.value is not None])
    for a in answers:
        if a.value is None:
            found.unknown("DNS", a.error)
    for name, ep in eps:
        check_endpoints(found, name, ep.result())
    hits = check_nccl_logs(found, [(name, f.result()) for name, f in logs], tail)
    check_spread(found, replicas, {n: f.result() for n, f in nodes.items()})
    if replicas:
        check_settings(found, replicas[0], hits)
    kind = "pod" if pod is not None else "service"
    return report("network", f"{kind} {namespace}/{target}", found,
                  f"{plural(len(replicas), 'replica')} · DNS from the bot's resolver · "
                  f"cluster domain {domain}")
