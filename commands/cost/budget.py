"""The run-rate and the window's spend against the daily budget."""

from __future__ import annotations

from bot.report import Row
from commands.base import Context, ceiling_status
from commands.cost.common import NO_NODE_PRICE, Failed, Stats, money, unknown_row
from commands.cost.queries import WINDOWS

NO_MGMT = "no kubecost_cluster_management_cost series"


def run_rate_rows(ctx: Context, now: Stats | Failed) -> list[Row]:
    budget = ctx.settings.cost.daily_budget_usd
    threshold = f"< {money(budget)}/day"
    name = "Daily run-rate"
    if isinstance(now, Failed):
        return [unknown_row(name, now.reason, threshold)]
    if "total" not in now:
        return [unknown_row(name, NO_NODE_PRICE, threshold)]
    total_h = now["total"][0].value
    detail = f"{money(total_h)}/h nodes"
    if "mgmt" in now:
        mgmt_h = now["mgmt"][0].value
        rate = (total_h + mgmt_h) * 24
        value = f"{money(rate)}/day"
        detail += f" + {money(mgmt_h)}/h cluster management"
    else:
        # A missing part is not $0: the figure is a floor, and the detail says what is left out.
        rate = total_h * 24
        value = f"≥ {money(rate)}/day"
        detail += f" + cluster management unknown ({NO_MGMT}), not included"
    detail += f"; {rate / budget:.0%} of the budget"
    status = ceiling_status(rate, budget, ctx.settings.thresholds.warn_fraction)
    return [Row(check=name, status=status, value=value, threshold=threshold, detail=detail)]


def spend_rows(ctx: Context, window: str, spent: Stats | Failed) -> list[Row]:
    days = WINDOWS[window]
    budget = ctx.settings.cost.daily_budget_usd
    name = f"Spend, last {window}"
    threshold = f"< {money(budget * days)}"
    if isinstance(spent, Failed):
        return [unknown_row(name, spent.reason, threshold)]
    if "spent" not in spent or "hours" not in spent or spent["hours"][0].value <= 0:
        return [unknown_row(name, f"Prometheus holds no node_total_hourly_cost in the last "
                                  f"{window}", threshold)]
    dollars = spent["spent"][0].value
    hours = spent["hours"][0].value
    per_day = dollars / hours * 24
    detail = f"avg {money(per_day)}/day over {hours:.1f} h of data"
    if hours < days * 24 * 0.9:
        detail += f" (Prometheus holds only {hours:.1f} h of the {days * 24} h window)"
    mgmt_hours = spent["mgmt_hours"][0].value if "mgmt_hours" in spent else 0.0
    if mgmt_hours < hours * 0.99:
        # The query adds the management cost as 0 where it is missing: say where that was.
        detail += (f"; cluster management cost missing for {hours - mgmt_hours:.1f} h "
                   f"({NO_MGMT}), not included there")
    return [Row(check=name,
                status=ceiling_status(per_day, budget, ctx.settings.thresholds.warn_fraction),
                value=money(dollars), threshold=threshold, detail=detail)]
