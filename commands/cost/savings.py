"""The guide's savings table applied to what the report measured, as hints."""

from __future__ import annotations

from dataclasses import dataclass

from commands.cost.common import Failed, money

# The guide's cost table: (measure, low, high, what it applies to).
SAVINGS = (
    ("Spot instances for the on-demand GPU nodes", 0.60, 0.90, "ondemand"),
    ("Autoscaling away idle GPUs", 0.30, 0.50, "idle"),
    ("Model quantization (INT8/FP8)", 0.20, 0.40, "gpu"),
    ("Request batching", 0.20, 0.30, "gpu"),
    ("Consolidating idle GPU nodes", 0.10, 0.20, "idle"),
)

NOT_MEASURED = Failed("not measured")


@dataclass
class Figures:
    """$/day the hints apply to; Failed (with why) where a backend could not tell. Only a
    measured 0 may read "nothing to save"."""

    gpu_day: float | Failed = NOT_MEASURED
    idle_day: float | Failed = NOT_MEASURED
    ondemand_gpu_day: float | Failed = NOT_MEASURED


def hint_lines(figures: Figures) -> list[str]:
    lines = []
    bases = {
        "gpu": (figures.gpu_day, "of GPU spend", "needs node_gpu_hourly_cost"),
        "idle": (figures.idle_day, "of idle-GPU spend",
                 "needs DCGM utilisation and node GPU prices"),
        "ondemand": (figures.ondemand_gpu_day, "of on-demand GPU spend",
                     "needs node capacity types and GPU prices"),
    }
    why: dict[str, None] = {}
    for measure, lo, hi, base in SAVINGS:
        amount, what, missing = bases[base]
        band = f"{lo:.0%}–{hi:.0%}"
        if isinstance(amount, Failed):
            lines.append(f"{measure} ({band}): no estimate, {missing}")
            why.setdefault(amount.reason, None)
        elif amount <= 0:
            lines.append(f"{measure} ({band}): nothing to save now ($0/day {what})")
        else:
            lines.append(f"{measure} ({band}): about {money(amount * lo)}–"
                         f"{money(amount * hi)}/day of {money(amount)}/day {what}")
    if why:
        lines.append("No estimate where: " + "; ".join(why))
    lines.append("Estimates: the guide's savings ranges applied to the current run-rate, "
                 "not a quote.")
    return lines
