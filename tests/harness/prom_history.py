"""History in a real Prometheus: series written as OpenMetrics, turned into TSDB blocks with
`promtool tsdb create-blocks-from openmetrics`, and served by Prometheus (no scrape targets)
with a retention that keeps the whole history, however old its first block.

A series is its labels and its values on a regular grid (`None` where no sample exists), so
the same series can also be written as `promtool test rules` input (`promtool_values`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .binaries import require_binary
from .prometheus import PrometheusProcess, backfill_openmetrics

RETENTION = "90d"


@dataclass(frozen=True)
class GridSeries:
    """`values[k]` is the sample at `start_s + k * step_s`, or None for no sample."""

    name: str
    labels: dict[str, str]
    values: Sequence[float | None]

    def selector(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.name}{{{inner}}}"


class HistoryPrometheus(PrometheusProcess):
    """PrometheusProcess whose retention is `RETENTION` (the 30-day default would let a
    30-day history plus its lead-in lose its oldest block)."""

    def _argv(self) -> list[str]:
        return [f"--storage.tsdb.retention.time={RETENTION}"
                if arg.startswith("--storage.tsdb.retention.time=") else arg
                for arg in super()._argv()]


def write_openmetrics(out: TextIO, series: Iterable[GridSeries], start_s: int,
                      step_s: int) -> int:
    """Write gauges grouped by family, then `# EOF`; returns the number of samples."""
    by_family: dict[str, list[GridSeries]] = {}
    for s in series:
        by_family.setdefault(s.name, []).append(s)
    count = 0
    for name, members in by_family.items():
        out.write(f"# TYPE {name} gauge\n")
        for s in members:
            head = s.selector() + " "
            lines = [f"{head}{v!r} {start_s + k * step_s}\n"
                     for k, v in enumerate(s.values) if v is not None]
            out.write("".join(lines))
            count += len(lines)
    out.write("# EOF\n")
    return count


def promtool_values(values: Sequence[float | None]) -> str:
    """The `values` line of a promtool input series: one entry per step, `_` for none."""
    return " ".join("_" if v is None else repr(v) for v in values)


@contextmanager
def served(workdir: Path, series: Iterable[GridSeries], start_s: int, step_s: int, *,
           rule_files: Sequence[Path] = (), max_block_duration: str = "24h",
           extra_args: Sequence[str] = ()) -> Iterator[PrometheusProcess]:
    """Backfill `series` and serve them; the TSDB is removed afterwards."""
    require_binary("prometheus", "the history is served by a real Prometheus")
    require_binary("promtool", "the history is backfilled with promtool")
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "history.om"
    tsdb = workdir / "tsdb"
    with source.open("w", buffering=1 << 20) as out:
        write_openmetrics(out, series, start_s, step_s)
    backfill_openmetrics(source, tsdb, max_block_duration=max_block_duration)
    source.unlink()
    prom = HistoryPrometheus([], rule_files=rule_files, evaluation_interval="1m",
                             extra_args=extra_args, tsdb_path=tsdb).start()
    try:
        yield prom
    finally:
        prom.stop()
        shutil.rmtree(tsdb, ignore_errors=True)
