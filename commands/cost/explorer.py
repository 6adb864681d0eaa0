"""AWS Cost Explorer: the latest reported day against the budget and the top services."""

from __future__ import annotations

from bot.report import Row, Status
from bot.sources.costs import DayCost
from bot.words import plural
from commands.base import Context, ceiling_status
from commands.cost.common import Failed, money, unknown_row

ENABLE_CE = ("AWS Cost Explorer is off. Enable it with GENAI_COST__COST_EXPLORER=true "
             "(AWS charges $0.01 per request; this command makes one per run).")


def explorer_rows(ctx: Context, window: str, days: list[DayCost] | Failed,
                  limit: int = 5) -> list[Row]:
    daily, top = "AWS daily cost (Cost Explorer)", "AWS top services"
    budget = ctx.settings.cost.daily_budget_usd
    threshold = f"< {money(budget)}/day"
    if isinstance(days, Failed):
        return [unknown_row(daily, days.reason, threshold), unknown_row(top, days.reason)]
    # Cost Explorer lists today (and sometimes yesterday) before it has any amount for it:
    # such trailing days are "not reported yet", not $0 days.
    reported = list(days)
    while reported and not reported[-1].services and reported[-1].total == 0:
        reported.pop()
    if not reported:
        reason = f"Cost Explorer reported no amounts for the last {window}"
        return [unknown_row(daily, reason, threshold), unknown_row(top, reason)]
    pending = [d.start for d in days[len(reported):]]
    last = reported[-1]
    mark = " (estimated)" if last.estimated else ""
    shown = reported[-7:]
    detail = "; ".join(f"{d.start} {money(d.total)}" for d in shown)
    if len(reported) > len(shown):
        detail = f"… {plural(len(reported) - len(shown), 'earlier day')}; " + detail
    if pending:
        detail += f"; {', '.join(pending)} not reported yet"
    total = sum(d.total for d in reported)
    services: dict[str, float] = {}
    for d in reported:
        for svc, amount in d.services.items():
            services[svc] = services.get(svc, 0.0) + amount
    ranked = sorted(services.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [Row(check=daily,
                status=ceiling_status(last.total, budget, ctx.settings.thresholds.warn_fraction),
                value=f"{money(last.total)} on {last.start}{mark}", threshold=threshold,
                detail=f"{money(total)} over {plural(len(reported), 'day')}: {detail}")]
    if ranked:
        rows.append(Row(check=top, status=Status.OK,
                        value=f"{ranked[0][0]} {money(ranked[0][1])}",
                        threshold=f"UnblendedCost, last {window}",
                        detail="; ".join(f"{k} {money(v)} ({v / total:.0%})" if total else k
                                         for k, v in ranked[:limit])))
    else:
        rows.append(unknown_row(top, "Cost Explorer returned no SERVICE groups"))
    return rows
