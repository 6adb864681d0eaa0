"""`/genai diag karpenter [nodepool]`: the guide's Karpenter provisioning failure scenario."""

from __future__ import annotations

import json
import re
from concurrent.futures import Future

from bot.errors import NotFound, SourceError
from bot.report import Report, Status
from bot.sources.aws import instance_type_offerings
from bot.sources.k8s_models import Event, NodeClaim, NodePool, Pod
from bot.words import plural
from commands.base import Context
from commands.diag.common import (
    Findings,
    Got,
    TargetNotFound,
    clip,
    closest,
    fetch,
    quote,
    report,
)

TYPE_KEY = "node.kubernetes.io/instance-type"
ZONE_KEY = "topology.kubernetes.io/zone"
CAPACITY_KEY = "karpenter.sh/capacity-type"
POOL_KEY = "karpenter.sh/nodepool"
# The guide's GPU alternatives, proposed when they are offered where the pool runs.
CANDIDATES = ("p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge")
INSUFFICIENT = re.compile(r"insufficient|InsufficientInstanceCapacity", re.IGNORECASE)
CONTROLLER_ERRORS = (re.compile(r'"level":\s*"(ERROR|error)"'),
                     re.compile(r"\bERROR\b"),
                     re.compile(r"InsufficientCapacityError|InsufficientInstanceCapacity"))
MAX_PENDING = 20
MAX_CONTROLLERS = 3


def _pools(ctx: Context, name: str | None) -> list[NodePool]:
    if name is None:
        return ctx.kubernetes.nodepools()
    try:
        return [ctx.kubernetes.nodepool(name)]
    except NotFound:
        pass
    lines = [f"There is no NodePool {name!r}."]
    try:
        near = closest(name, [p.metadata.name for p in ctx.kubernetes.nodepools()])
        lines.append("NodePools: " + (", ".join(near) if near else "none close to that name"))
    except SourceError as exc:
        lines.append(f"(Could not list NodePools: {exc.reason}.)")
    raise TargetNotFound("NodePool not found", *lines)


def pools_of(pod: Pod) -> set[str] | None:
    """The NodePools a pod may land on, from its nodeSelector or required node affinity on
    `karpenter.sh/nodepool`; None when it does not say (any pool may take it)."""
    pools: set[str] | None = None
    if POOL_KEY in pod.spec.node_selector:
        pools = {pod.spec.node_selector[POOL_KEY]}
    required = (pod.spec.affinity.get("nodeAffinity", {})
                .get("requiredDuringSchedulingIgnoredDuringExecution", {}))
    terms = required.get("nodeSelectorTerms", []) if isinstance(required, dict) else []
    allowed: set[str] = set()
    for term in terms:  # terms are ORed: the pod may use any term's pools
        exprs = [e for e in term.get("matchExpressions", []) if e.get("key") == POOL_KEY
                 and e.get("operator") == "In"]
        if not exprs:
            return pools  # a term without a pool constraint: any pool
        allowed |= set(exprs[0].get("values", []))
    if terms:
        pools = allowed if pools is None else pools & allowed
    return pools


def check_pending(found: Findings, ctx: Context, got: Got[list[Pod]],
                  nodepool: str | None = None) -> None:
    check = "Pending pods"
    if got.value is None:
        found.unknown(check, got.error)
        return
    unscheduled = [p for p in got.value if any(
        c.type == "PodScheduled" and c.status == "False" for c in p.status.conditions)
        and (nodepool is None or (pools := pools_of(p)) is None or nodepool in pools)]
    if not unscheduled:
        found.row(check, Status.OK, "0 unschedulable", "no pod waits for a node")
        return
    unscheduled = unscheduled[:MAX_PENDING]
    namespaces = sorted({p.metadata.namespace for p in unscheduled})
    events: dict[str, Future[Got[list[Event]]]] = {
        ns: fetch(ctx, ctx.kubernetes.events, ns, "reason=FailedScheduling") for ns in namespaces}
    latest: dict[tuple[str, str], str] = {}
    for ns, future in events.items():
        for e in sorted(future.result().value or [], key=lambda e: e.seen.timestamp()
                        if e.seen else 0.0):
            latest[(ns, e.involved_object.name)] = e.message
    short: list[str] = []
    other: list[str] = []
    for p in unscheduled:
        key = (p.metadata.namespace, p.metadata.name)
        cond = next(c for c in p.status.conditions if c.type == "PodScheduled")
        message = latest.get(key) or cond.message
        line = f"{key[0]}/{key[1]}: {clip(message, 160)}"
        (short if INSUFFICIENT.search(message) else other).append(line)
    if short:
        found.row(check, Status.FAIL, f"{len(short)} for capacity", quote(short))
        found.cause(f"{plural(len(short), 'pod')} pending for insufficient capacity")
    if other:
        found.row("Pending pods (other reasons)", Status.WARN, f"{len(other)}", quote(other))


def check_claims(found: Findings, got: Got[list[NodeClaim]]) -> None:
    check = "NodeClaims"
    if got.value is None:
        found.unknown(check, got.error)
        return
    bad = []
    for claim in got.value:
        ready = claim.condition("Ready")
        if ready is not None and ready.status == "True":
            continue
        conds = [f"{c.type}={c.status} {c.reason}: {c.message}".strip()
                 for c in claim.status.conditions
                 if c.type != "Ready" and c.status != "True"]
        bad.append(f"{claim.metadata.name}: " + clip("; ".join(conds) or "no conditions", 300))
    if bad:
        found.row(check, Status.FAIL, f"{len(bad)}/{len(got.value)} not Ready", quote(bad, 4))
        found.cause(f"{plural(len(bad), 'NodeClaim')} not Ready"
                    + (" (insufficient EC2 capacity)" if any(INSUFFICIENT.search(b)
                                                              for b in bad) else ""))
    else:
        found.row(check, Status.OK, f"{len(got.value)} Ready", "")


def _controller_line(line: str) -> str:
    """Karpenter logs JSON: keep the message and the error, drop the noise."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line
    if not isinstance(entry, dict):
        return line
    parts = [str(entry.get(k)) for k in ("message", "error") if entry.get(k)]
    return clip(" — ".join(parts) or line)


def check_controller(found: Findings, ctx: Context, got: Got[list[Pod]]) -> None:
    check = "Karpenter controller logs"
    d = ctx.settings.diag
    if got.value is None:
        found.unknown(check, got.error)
        return
    if not got.value:
        found.row(check, Status.UNKNOWN, "no pods", f"no pod matches {d.karpenter_selector} in "
                  f"{d.karpenter_namespace} (settings diag.karpenter_namespace/_selector)")
        return
    futures = []
    for pod in got.value[:MAX_CONTROLLERS]:
        names = [c.name for c in pod.spec.containers]
        container = "controller" if "controller" in names else (names[0] if names else None)
        futures.append(fetch(ctx, ctx.kubernetes.pod_log, pod.metadata.namespace,
                             pod.metadata.name, container, False, d.log_tail_lines))
    lines, errors = [], []
    for f in futures:
        res = f.result()
        errors += [res.error] if res.error else []
        # Parsed before clipping: a cut JSON line no longer parses.
        lines += [_controller_line(x) for x in (res.value or "").splitlines()
                  if any(p.search(x) for p in CONTROLLER_ERRORS)]
    if not lines and errors:
        found.unknown(check, errors[0])
    elif lines:
        ice = [x for x in lines if INSUFFICIENT.search(x) or "InsufficientCapacity" in x]
        found.row(check, Status.FAIL if ice else Status.WARN, plural(len(lines), "error"),
                  quote(ice or lines))
        if ice:
            found.cause("Karpenter: InsufficientCapacityError from EC2")
    else:
        found.row(check, Status.OK, "no errors", f"last {plural(d.log_tail_lines, 'line')}")


def _limit_reached(pool: NodePool) -> list[str]:
    out = []
    for key, limit in pool.spec.limits.items():
        used = pool.status.resources.get(key, "0")
        if limit.isdigit() and used.isdigit() and int(used) >= int(limit):
            out.append(f"{key} {used}/{limit}")
    return out


def check_pools(found: Findings, ctx: Context, pools: list[NodePool]) -> dict[str, set[str]]:
    """Each pool's requirements and EC2 offerings for its types; the remedy names gaps."""
    types = sorted({t for p in pools for t in p.requirement(TYPE_KEY)} | set(CANDIDATES))
    offered: dict[str, set[str]] = {}
    error = "no AWS clients configured"
    if ctx.aws is not None:
        try:
            offered = instance_type_offerings(ctx.aws, types)
            error = ""
        except SourceError as exc:
            error = str(exc)
    region = ctx.aws.settings.region if ctx.aws is not None else "?"
    for pool in pools:
        name = pool.metadata.name
        p_types = pool.requirement(TYPE_KEY)
        p_zones = pool.requirement(ZONE_KEY)
        capacity = pool.requirement(CAPACITY_KEY) or ["on-demand"]
        ready = next((c for c in pool.status.conditions if c.type == "Ready"), None)
        at_limit = _limit_reached(pool)
        desc = (f"types {', '.join(p_types) or 'any'} · zones {', '.join(p_zones) or 'any'}"
                f" · capacity {', '.join(capacity)}")
        if ready is not None and ready.status != "True":
            found.row(f"NodePool {name}", Status.FAIL, "not Ready",
                      f"{ready.reason}: {ready.message}; {desc}")
            found.cause(f"NodePool {name} not Ready ({ready.reason})")
        elif at_limit:
            found.row(f"NodePool {name}", Status.FAIL, "at its limit",
                      ", ".join(at_limit) + f"; {desc}")
            found.cause(f"NodePool {name} at its limits ({', '.join(at_limit)})")
        elif ready is None:
            # No Ready condition reported (yet): readiness is unknown, not "Ready".
            found.row(f"NodePool {name}", Status.UNKNOWN, "unknown",
                      f"the NodePool reports no Ready condition; {desc}")
        else:
            found.row(f"NodePool {name}", Status.OK, "Ready", desc)
        check = f"EC2 offerings ({name})"
        if error:
            found.unknown(check, error)
            continue
        if not p_types:
            found.row(check, Status.OK, "any type", "the pool does not pin instance types")
            continue
        zones = p_zones or sorted({z for t in p_types for z in offered.get(t, set())})
        foreign = [z for z in zones if not z.startswith(region)]
        if foreign:
            found.unknown(check, f"zones {', '.join(foreign)} are not in the bot's AWS region "
                          f"{region} (aws.region)")
            continue
        _offering_row(found, pool, check, p_types, zones, capacity, offered)
    return offered


def _offering_row(found: Findings, pool: NodePool, check: str, p_types: list[str],
                  zones: list[str], capacity: list[str], offered: dict[str, set[str]]) -> None:
    if not zones:
        # The pool pins no zone and no type of it is offered in any zone of the region:
        # "every type in every zone" of no zone would read as fine.
        found.row(check, Status.FAIL, f"{plural(len(p_types), 'type')} offered nowhere",
                  f"{', '.join(p_types)}: not offered in any AZ of the region")
        found.cause(f"{', '.join(p_types)} not offered in the region")
        return
    gaps = {t: [z for z in zones if z not in offered.get(t, set())] for t in p_types}
    gaps = {t: z for t, z in gaps.items() if z}
    nowhere = [t for t, z in gaps.items() if len(z) == len(zones)]
    parts = [f"{t}: not in {', '.join(z)}" for t, z in gaps.items()]
    if nowhere:
        found.row(check, Status.FAIL, f"{plural(len(nowhere), 'type')} offered nowhere",
                  "; ".join(parts))
        found.cause(f"{', '.join(nowhere)} not offered in {', '.join(zones)}")
    elif gaps:
        found.row(check, Status.WARN, f"{plural(len(gaps), 'type')} missing in some AZs",
                  "; ".join(parts))
    else:
        found.row(check, Status.OK, f"{plural(len(p_types), 'type')} in "
                  f"{plural(len(zones), 'AZ')}",
                  "every type is offered in every zone")


def remedy(found: Findings, pools: list[NodePool], offered: dict[str, set[str]]) -> None:
    """Name what is missing where, and the NodePool change that routes around it."""
    for pool in pools[:2]:
        p_types = pool.requirement(TYPE_KEY)
        p_zones = pool.requirement(ZONE_KEY)
        capacity = pool.requirement(CAPACITY_KEY) or ["on-demand"]
        zones = p_zones or sorted({z for t in p_types for z in offered.get(t, set())})
        lines = []
        for t in p_types:
            missing = [z for z in zones if z not in offered.get(t, set())]
            if missing and offered:
                lines.append(f"{t} is not offered in {', '.join(missing)}.")
        add = [t for t in CANDIDATES if t not in p_types and len(
            offered.get(t, set()) & set(zones or offered.get(t, set()))) >= 1]
        if add:
            lines.append("Add " + ", ".join(
                f"{t} (offered in {', '.join(sorted(offered[t]))})"
                for t in add) + ".")
        more_zones = sorted({z for t in p_types + add for z in offered.get(t, set())}
                            - set(p_zones)) if p_zones else []
        if p_zones and len(p_zones) < 3 and more_zones:
            lines.append(f"Spread over several AZs: add {', '.join(more_zones[:3])}.")
        if capacity == ["spot"]:
            lines.append("Fall back to on-demand when Spot has no capacity.")
        new_types = p_types + add
        new_zones = p_zones + more_zones[:3] if p_zones else []
        new_cap = capacity + (["on-demand"] if capacity == ["spot"] else [])
        code = (f"# NodePool {pool.metadata.name}: spec.template.spec.requirements\n"
                f'- key: "{TYPE_KEY}"\n  operator: In\n  values: '
                + json.dumps(new_types) + "\n")
        if new_zones:
            code += f'- key: "{ZONE_KEY}"\n  operator: In\n  values: {json.dumps(new_zones)}\n'
        code += f'- key: "{CAPACITY_KEY}"\n  operator: In\n  values: {json.dumps(new_cap)}\n'
        found.remedy(f"Widen NodePool {pool.metadata.name}",
                     " ".join(lines) or "Offer Karpenter more instance types and zones.", code)


def diagnose(ctx: Context, nodepool: str | None) -> Report:
    kube, d = ctx.kubernetes, ctx.settings.diag
    selector = f"karpenter.sh/nodepool={nodepool}" if nodepool else ""
    claims = fetch(ctx, kube.nodeclaims, selector)
    pending = fetch(ctx, kube.pods_anywhere, "status.phase=Pending")
    controllers = fetch(ctx, kube.pods_in, d.karpenter_namespace, d.karpenter_selector)
    found = Findings()
    try:
        pools = _pools(ctx, nodepool)
    except SourceError as exc:
        pools = []
        found.unknown("NodePools", str(exc))
    check_pending(found, ctx, pending.result(), nodepool)
    check_claims(found, claims.result())
    check_controller(found, ctx, controllers.result())
    offered = check_pools(found, ctx, pools) if pools else {}
    if found.causes and pools:
        remedy(found, pools, offered)
    region = ctx.aws.settings.region if ctx.aws is not None else "?"
    return report("karpenter", f"NodePool {nodepool}" if nodepool else "all NodePools", found,
                  f"EC2 offerings in {region} · controller logs: {d.karpenter_namespace} "
                  f"{d.karpenter_selector}")
