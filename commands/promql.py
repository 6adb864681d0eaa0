"""PromQL shared by the commands. DCGM and OpenCost facts live here, in one place."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from bot.sources.prometheus import Sample

# used/free is not a ratio of capacity (the guide's rule was wrong): used / (used + free).
GPU_MEM_RATIO = "(DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE))"
GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"

ERROR_RATE_BY_MODEL = (
    "(sum by (model) (rate(inference_request_errors_total[5m]))"
    " or sum by (model) (rate(inference_request_total[5m])) * 0)"
    " / sum by (model) (rate(inference_request_total[5m]))"
)
P99_BY_MODEL = (
    "histogram_quantile(0.99, sum by (le, model) "
    "(rate(inference_request_duration_seconds_bucket[5m])))"
)

STAT_LABEL = "__stat"


def stats_query(parts: Mapping[str, str]) -> str:
    """Several aggregations in one round trip: each part is tagged with a `__stat` label and
    the parts are joined with `or`, so the query count does not grow with the checks."""
    return " or ".join(
        f'label_replace({expr}, "{STAT_LABEL}", "{name}", "", "")' for name, expr in parts.items()
    )


def split_stats(samples: list[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for sample in samples:
        out.setdefault(sample.labels.get(STAT_LABEL, ""), []).append(sample)
    return out


def label_regex(values: Iterable[str]) -> str:
    """A PromQL string literal matching exactly `values` with `=~`: RE2 metacharacters and
    the literal's own quotes escaped, so a host name can never widen or break the query."""
    return label_string("|".join(re.escape(v) for v in sorted(set(values))))


def label_string(value: str) -> str:
    """A PromQL double-quoted string literal holding `value` verbatim."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def gpu_host(labels: Mapping[str, str]) -> str:
    """Older dcgm-exporters label the host `Hostname`, newer ones `hostname`; accept both,
    and prefer the Kubernetes node name where a relabel put one."""
    return labels.get("node") or labels.get("Hostname") or labels.get("hostname") or "?"


def gpu_name(labels: Mapping[str, str]) -> str:
    return f"{gpu_host(labels)}/gpu{labels.get('gpu', '?')}"
