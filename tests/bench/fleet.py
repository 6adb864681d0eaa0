"""`/genai gpu` and `/genai status` on a backfilled fleet of 100, 1,000 and 4,000 GPU nodes.

The fleet's DCGM history (6 h) is written as OpenMetrics, turned into TSDB blocks with
`promtool tsdb create-blocks-from openmetrics`, and served by a real Prometheus with no
scrape targets. Each size times the command run plus the Block Kit render, and counts the
PromQL queries issued: the count must not grow with the fleet.

`/genai status` also lists nodes and pods: a Kubernetes stand-in holds the same nodes, one
inference pod on each.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.config import KubernetesSettings, load_settings
from bot.report import Report, Section
from bot.slack.render.report import render_blocks
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from commands import gpu, promql, status
from commands.base import Context
from tests.harness.blockkit import validate_blocks
from tests.harness.kube import KubeStandin, node, pod
from tests.harness.procs import PrometheusProcess, backfill_openmetrics

GPUS_PER_NODE = 8
HOURS = 6.0
FAMILIES = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
    ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered."),
)
FB_TOTAL_MIB = 81920.0


def node_name(i: int) -> str:
    return f"gpu-node-{i:04d}"


def gpu_values(n: int, g: int) -> tuple[float, float, float, float, float]:
    """(util, mem ratio, temp, power, xid) of one GPU; a few are offenders by design."""
    k = n * GPUS_PER_NODE + g
    util = 45.0 + (k * 37 % 45)
    mem = 0.40 + (k * 13 % 40) / 100.0
    temp = 55.0 + (k * 7 % 20)
    xid = 0.0
    if k % 131 == 5:
        mem = 0.95
    if k % 97 == 3:
        temp = 86.0
    if k % 53 == 7:
        util = 5.0
    if k % 401 == 11:
        xid = 79.0
    power = 150.0 + util * 3.0
    return util, mem, temp, power, xid


def write_fleet(path: Path, nodes: int, *, step_s: int = 300, hours: float = HOURS,
                end: float | None = None) -> int:
    """Write an OpenMetrics file: `nodes` x 8 GPUs x `hours` of DCGM gauges, one sample
    every `step_s` seconds, the last one at `end` (default: a minute ago). Half the nodes
    use the old `Hostname` label, half the new `hostname`. Returns the number of samples."""
    end = time.time() - 60 if end is None else end
    n_points = int(hours * 3600 // step_s)
    stamps = [int(end) - step_s * (n_points - 1 - i) for i in range(n_points)]
    # A gentle daily-ish wave, so the sparkline has a shape.
    wave = [math.sin(2 * math.pi * (t % 21600) / 21600) for t in stamps]
    stamp_txt = [str(t) for t in stamps]
    count = 0
    with path.open("w", buffering=1 << 20) as out:
        for f_index, (family, help_text) in enumerate(FAMILIES):
            out.write(f"# HELP {family} {help_text}\n# TYPE {family} gauge\n")
            for n in range(nodes):
                host = node_name(n)
                host_label = "Hostname" if n % 2 == 0 else "hostname"
                for g in range(GPUS_PER_NODE):
                    util, mem, temp, power, xid = gpu_values(n, g)
                    labels = (f'{family}{{gpu="{g}",UUID="GPU-{n:04d}-{g}",'
                              f'{host_label}="{host}",modelName="NVIDIA A100-SXM4-80GB"}} ')
                    if f_index == 0:
                        vals = [f"{max(0.0, min(100.0, util + 10 * w)):.0f}" for w in wave]
                    elif f_index == 1:
                        vals = [f"{FB_TOTAL_MIB * mem:.0f}"] * n_points
                    elif f_index == 2:
                        vals = [f"{FB_TOTAL_MIB * (1 - mem):.0f}"] * n_points
                    elif f_index == 3:
                        vals = [f"{temp:.0f}"] * n_points
                    elif f_index == 4:
                        vals = [f"{power:.1f}"] * n_points
                    else:
                        vals = [f"{xid:.0f}"] * n_points
                    out.write("".join(f"{labels}{v} {t}\n"
                                      for v, t in zip(vals, stamp_txt, strict=True)))
                    count += n_points
        out.write("# EOF\n")
    return count


@contextmanager
def fleet_prometheus(nodes: int, workdir: Path, *, step_s: int = 300
                     ) -> Iterator[tuple[PrometheusProcess, dict[str, float]]]:
    """Backfill a fleet and serve it; yields the Prometheus and timings of each stage."""
    timings: dict[str, float] = {}
    workdir.mkdir(parents=True, exist_ok=True)
    om = workdir / f"fleet-{nodes}.om"
    tsdb = workdir / f"tsdb-{nodes}"
    started = time.perf_counter()
    timings["samples"] = write_fleet(om, nodes, step_s=step_s)
    timings["write_s"] = time.perf_counter() - started
    started = time.perf_counter()
    backfill_openmetrics(om, tsdb)
    timings["backfill_s"] = time.perf_counter() - started
    om.unlink()
    started = time.perf_counter()
    prom = PrometheusProcess([], tsdb_path=tsdb).start()
    timings["start_s"] = time.perf_counter() - started
    try:
        yield prom, timings
    finally:
        prom.stop()
        shutil.rmtree(tsdb, ignore_errors=True)


def fleet_context(prometheus_url: str, kubernetes_url: str = "http://127.0.0.1:1") -> Context:
    return Context(settings=load_settings(), prometheus=PrometheusSource(prometheus_url),
                   kubernetes=KubernetesSource(KubernetesSettings(
                       mode="url", url=kubernetes_url, timeout_s=10)))


def fleet_kube(nodes: int) -> KubeStandin:
    kube = KubeStandin()
    for i in range(nodes):
        kube.add(node(node_name(i), labels={"nvidia.com/gpu.present": "true"}))
        kube.add(pod(f"vllm-{i:04d}", node=node_name(i), labels={"app": "inference"}))
    return kube


def all_gpus_ranked(ctx: Context, _args: list[str]) -> Report:
    """The baseline `/genai gpu`: every stat of every GPU in one query (48,000 samples at
    1,000 nodes), ranked in Python; the trend concurrently, as the first version did."""
    trend = ctx.fanout.submit(gpu._trend, ctx)
    lim = gpu.Limits(mem_ratio=ctx.settings.thresholds.gpu_mem_max_ratio)
    every = gpu.collect(promql.split_stats(ctx.prometheus.query(gpu.details_query([""]))))
    shown = sorted((g for g in every if gpu.risks(g, lim)),
                   key=lambda g: gpu.rank_key(g, lim))[:gpu.MAX_ROWS]
    return Report(title="GPUs: riskiest first", summary=trend.result(),
                  sections=[Section(rows=[gpu.gpu_row(g, lim) for g in shown])])


def timed(ctx: Context, command: str, args: list[str]) -> tuple[float, int, int]:
    """(seconds, queries issued, blocks) of one command run + Block Kit render."""
    run = {"gpu": gpu.run, "status": status.run, "baseline": all_gpus_ranked}[command]
    before = ctx.prometheus.queries_issued
    started = time.perf_counter()
    blocks = render_blocks(run(ctx, args))
    elapsed = time.perf_counter() - started
    errors = validate_blocks(blocks)
    assert not errors, errors
    return elapsed, ctx.prometheus.queries_issued - before, len(blocks)


def run() -> tuple[list[str], list[list[object]]]:
    header = ["GPU nodes", "GPUs", "samples", "write+backfill s", "command", "best s",
              "median s", "queries", "blocks", "all-GPU baseline best s", "baseline / ours"]
    rows: list[list[object]] = []
    workdir = Path(tempfile.mkdtemp(prefix="genai-bench-fleet-"))
    try:
        for nodes in (100, 1000, 4000):
            with fleet_prometheus(nodes, workdir) as (prom, timings), \
                    fleet_kube(nodes) as kube:
                ctx = fleet_context(prom.url, kube.url)
                prep = f"{timings['write_s']:.1f}+{timings['backfill_s']:.1f}"
                for command in ("gpu", "status"):
                    timed(ctx, command, [])  # warm-up: Prometheus' caches, TCP
                    runs = [timed(ctx, command, []) for _ in range(5)]
                    secs = sorted(r[0] for r in runs)
                    base = ["—", "—"]
                    if command == "gpu":
                        timed(ctx, "baseline", [])
                        best = min(timed(ctx, "baseline", [])[0] for _ in range(3))
                        base = [f"{best:.3f}", f"{best / secs[0]:.1f}×"]
                    rows.append([nodes, nodes * GPUS_PER_NODE, int(timings["samples"]), prep,
                                 f"/genai {command}", f"{secs[0]:.3f}", f"{secs[2]:.3f}",
                                 runs[0][1], runs[0][2], *base])
                ctx.fanout.shutdown()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return header, rows
