"""The GPU nodes' capacity mix (Karpenter's capacity-type label) and what each kind costs."""

from __future__ import annotations

from bot.report import Row, Status
from bot.sources.kubernetes import NodeInfo
from bot.words import plural
from commands.base import Context
from commands.cost.common import (
    NO_NODE_PRICE,
    Failed,
    Stats,
    by_node,
    money,
    no_gpu_price,
    unknown_row,
)
from commands.cost.savings import Figures

CAPACITY_TYPE = "karpenter.sh/capacity-type"


def _kind_cost(kind: str, names: list[str], totals: dict[str, float]) -> str:
    """A kind's $/day; a floor when some of its nodes have no price, unknown when none has."""
    priced = [n for n in names if n in totals]
    dollars = money(sum(totals[n] for n in priced) * 24)
    if len(priced) == len(names):
        return f"{kind} {dollars}/day"
    if priced:
        return (f"{kind} ≥ {dollars}/day ({len(names) - len(priced)} of "
                f"{plural(len(names), 'node')} unpriced)")
    return f"{kind} unknown $/day"


def spot_rows(ctx: Context, nodes: list[NodeInfo] | Failed, now: Stats | Failed,
              figures: Figures) -> list[Row]:
    name = "Spot / on-demand (GPU nodes)"
    if isinstance(nodes, Failed):
        figures.ondemand_gpu_day = nodes
        return [unknown_row(name, nodes.reason)]
    if not nodes:
        figures.ondemand_gpu_day = Failed("no GPU nodes found")
        return [Row(check=name, status=Status.OK, value="0 GPU nodes",
                    detail=f"no node is labelled {ctx.settings.thresholds.gpu_node_selector}")]
    kinds: dict[str, list[str]] = {}
    for node in nodes:
        kinds.setdefault(node.labels.get(CAPACITY_TYPE, "unlabelled"), []).append(node.name)
    spot, ondemand = kinds.get("spot", []), kinds.get("on-demand", [])
    value = f"{len(spot)} spot / {len(ondemand)} on-demand"
    others = {k: v for k, v in kinds.items() if k not in ("spot", "on-demand")}
    value += "".join(f" / {len(v)} {k}" for k, v in sorted(others.items()))
    detail: list[str] = []
    if isinstance(now, Failed):
        figures.ondemand_gpu_day = now
        detail.append(f"no prices ({now.reason})")
    else:
        totals = by_node(now.get("node_total", []))
        gpu_price = by_node(now.get("node_gpu_price", []))
        gpus = by_node(now.get("node_gpus", []))
        detail += [_kind_cost(kind, names, totals) for kind, names in sorted(kinds.items())]
        if not totals:
            detail.append(NO_NODE_PRICE)
        unpriced = [n for n in ondemand if n not in gpu_price or n not in gpus]
        if not ondemand:
            figures.ondemand_gpu_day = 0.0  # measured: no on-demand GPU node to move to Spot
        elif unpriced:
            # Part of the on-demand GPU spend is unknown: no hint may be built on the rest.
            reason = no_gpu_price(sorted(unpriced), now)
            figures.ondemand_gpu_day = Failed(reason)
            detail.append(f"on-demand GPU part unknown ({reason})")
        else:
            day = sum(gpu_price[n] * gpus[n] for n in ondemand) * 24
            figures.ondemand_gpu_day = day
            detail.append(f"on-demand GPU part {money(day)}/day")
    status = Status.WARN if ondemand and not spot else Status.OK
    return [Row(check=name, status=status, value=value,
                threshold=f"label {CAPACITY_TYPE}", detail="; ".join(detail))]
