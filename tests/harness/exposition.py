"""The exposition side of the synthetic exporter: the text format's escaping and number
spelling, latency distributions (`p99_buckets`), and the per-series state it renders.

Counters are integrated over time (see `tests.harness.exporter`): `_Model.fold` moves what
accumulated at the old rate into the bases before a rate changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DEFAULT_LATENCY_BUCKETS: dict[float, float] = {0.5: 0.5, 1.0: 0.8, 2.5: 0.95, 5.0: 0.99, 10.0: 1.0}
"""`le` -> cumulative fraction of requests; what `set_model` uses when given no buckets."""

P99_LAYOUT: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""The bucket boundaries `set_model_p99` builds on (plus any the model already exposes)."""



def escape_label_value(value: str) -> str:
    """Escape a label value for the text exposition format (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_labels(labels: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """`a="x",b="y"` (no braces), keeping the given order; empty values are dropped.

    Prometheus treats an empty label as absent, and dcgm-exporter omits pod labels of GPUs
    no pod uses, so dropping them is what the real exporter does too.
    """
    items = labels.items() if isinstance(labels, Mapping) else labels
    return ",".join(f'{k}="{escape_label_value(str(v))}"' for k, v in items if v != "")


def format_value(value: float) -> str:
    """A sample value as Prometheus' parser reads it (`+Inf`, `-Inf`, `NaN`, Python repr)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def format_le(le: float) -> str:
    """A bucket bound, as the Python client writes it (`0.5`, `1.0`, `+Inf`)."""
    return "+Inf" if math.isinf(le) else repr(float(le))


def p99_buckets(seconds: float, layout: Iterable[float] = P99_LAYOUT) -> dict[float, float]:
    """A cumulative bucket distribution whose `histogram_quantile(0.99, ...)` is `seconds`.

    Prometheus interpolates linearly inside the bucket (lo, hi] that holds the 0.99 rank.
    Putting 1% of the requests in that bucket, with `0.99 - a * 1%` below it where
    `a = (seconds - lo) / (hi - lo)`, makes the interpolation land on `seconds` exactly
    (up to float rounding). Lower buckets ramp up evenly, so the median stays plausible.
    """
    if seconds <= 0:
        raise ValueError("p99 must be > 0")
    les = sorted({float(x) for x in layout if not math.isinf(x)})
    if not les or seconds > les[-1]:
        les.append(float(seconds) * 2)
    hi_idx = next(i for i, le in enumerate(les) if le >= seconds)
    hi = les[hi_idx]
    lo = les[hi_idx - 1] if hi_idx else 0.0
    a = (seconds - lo) / (hi - lo)
    f_lo = 0.99 - 0.01 * a
    f_hi = f_lo + 0.01
    out: dict[float, float] = {}
    for i, le in enumerate(les):
        if i < hi_idx:
            out[le] = f_lo * (i + 1) / hi_idx
        elif i == hi_idx:
            out[le] = f_hi
        else:
            out[le] = 1.0
    return out


@dataclass(slots=True)
class _Gpu:
    labels: str
    values: dict[str, float]


@dataclass(slots=True)
class _Model:
    """One model's inference series; counters are `base + rate * (now - since)`."""

    labels: str
    rps: float = 0.0
    error_ratio: float = 0.0
    distribution: list[tuple[float, float]] = field(default_factory=list)
    les: list[float] = field(default_factory=list)
    mean_latency: float = 0.0
    since: float = 0.0
    base_total: float = 0.0
    base_errors: float = 0.0
    base_sum: float = 0.0
    base_buckets: dict[float, float] = field(default_factory=dict)

    def fraction(self, le: float) -> float:
        """Cumulative fraction at `le`: that of the largest defined bound <= le (step)."""
        if math.isinf(le):
            return 1.0
        frac = 0.0
        for bound, cum in self.distribution:
            if bound <= le:
                frac = cum
            else:
                break
        return frac

    def fold(self, now: float) -> None:
        """Move the part accumulated since `since` into the bases (before a rate change)."""
        elapsed = max(0.0, now - self.since)
        self.base_total += self.rps * elapsed
        self.base_errors += self.rps * self.error_ratio * elapsed
        self.base_sum += self.rps * self.mean_latency * elapsed
        for le in [*self.les, math.inf]:
            self.base_buckets[le] = (
                self.base_buckets.get(le, 0.0) + self.rps * self.fraction(le) * elapsed
            )
        self.since = now


def _mean_latency(distribution: list[tuple[float, float]]) -> float:
    """Mean request duration implied by a bucket distribution (bucket mid-points)."""
    mean, prev_le, prev_cum = 0.0, 0.0, 0.0
    for le, cum in distribution:
        mean += (cum - prev_cum) * (prev_le + le) / 2
        prev_le, prev_cum = le, cum
    return mean + (1.0 - prev_cum) * prev_le * 1.5
