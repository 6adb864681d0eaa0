"""`/genai diag oom <pod>`: the guide's GPU OOM scenario, read from the API and DCGM."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import NotFound, SourceError
from bot.report import Report, Status
from bot.sources.k8s_models import Container, ContainerStatus, Pod, StateTerminated
from bot.sources.kube_exec import exec_in_pod
from bot.sources.prometheus import Sample
from bot.words import noun, plural
from commands import promql
from commands.base import Context
from commands.diag.common import (
    GPU,
    Findings,
    Got,
    TargetNotFound,
    arg_value,
    bytes_of,
    clip,
    fetch,
    find_pod,
    gib,
    main_container,
    matching,
    quote,
    report,
)

CUDA_OOM = (re.compile(r"CUDA out of memory"),
            re.compile(r"RuntimeError: CUDA error: out of memory"))
NVIDIA_SMI = ["nvidia-smi", "--query-gpu=index,memory.used,memory.total",
              "--format=csv,noheader"]
VLLM_DEFAULT_GPU_UTIL = 0.9  # vLLM preallocates this share of each GPU unless told otherwise
EXEC_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ServerSettings:
    """The knobs the guide's remedies turn, as this pod sets them (None: not set)."""

    batch: str | None
    quantization: str | None
    max_num_seqs: str | None
    seqs_in_args: bool
    gpu_util: str | None
    max_model_len: str | None

    @classmethod
    def of(cls, c: Container) -> ServerSettings:
        seqs_arg = arg_value(c, "--max-num-seqs")
        return cls(
            batch=c.env_value("MAX_BATCH_SIZE"),
            quantization=c.env_value("QUANTIZATION") or arg_value(c, "--quantization"),
            max_num_seqs=c.env_value("MAX_NUM_SEQS") or seqs_arg,
            seqs_in_args=seqs_arg is not None and c.env_value("MAX_NUM_SEQS") is None,
            gpu_util=arg_value(c, "--gpu-memory-utilization"),
            max_model_len=arg_value(c, "--max-model-len"),
        )

    def summary(self) -> str:
        return (f"MAX_BATCH_SIZE={self.batch or 'unset'} · QUANTIZATION="
                f"{self.quantization or 'unset'} · MAX_NUM_SEQS={self.max_num_seqs or 'unset'}"
                f" · gpu_memory_utilization={self.gpu_util or f'unset ({VLLM_DEFAULT_GPU_UTIL})'}"
                f" · max_model_len={self.max_model_len or 'unset (model maximum)'}")


def _status_of(pod: Pod, container: Container | None) -> ContainerStatus | None:
    name = container.name if container else None
    return next((s for s in pod.status.container_statuses if s.name == name), None)


def check_termination(found: Findings, pod: Pod, container: Container | None) -> None:
    check = "Last termination"
    status = _status_of(pod, container)
    if status is None:
        found.row(check, Status.UNKNOWN, "no status", "the container has not started yet")
        return
    term: StateTerminated | None = status.last_state.terminated or status.state.terminated
    if term is None:
        found.row(check, Status.OK, plural(status.restart_count, "restart"),
                  "no terminated container on record")
        return
    when = f" at {term.finished_at:%H:%M UTC}" if term.finished_at else ""
    value = f"{term.reason or 'Terminated'}, exit {term.exit_code}"
    limit = container.resources.limits.get("memory") if container else None
    if term.reason == "OOMKilled":
        # The kernel's cgroup OOM killer: host memory at the container limit, not GPU memory.
        found.row(check, Status.FAIL, value, f"killed{when} at its memory limit "
                  f"({limit or 'none set'}); this is host RAM, not GPU memory; "
                  f"{plural(status.restart_count, 'restart')}")
        found.cause(f"container memory limit ({limit or 'no limit'}) reached: OOMKilled, "
                    "exit 137")
        more_memory_remedy(found, container)
    elif term.exit_code == 137:
        found.row(check, Status.WARN, value, f"SIGKILL{when} without OOMKilled: a failed "
                  "liveness probe or an eviction, not the memory limit")
    elif term.exit_code not in (0, None):
        found.row(check, Status.WARN, value, f"exited{when}; "
                  f"{plural(status.restart_count, 'restart')} (the logs say why)")
    else:
        found.row(check, Status.OK, value, f"exited cleanly{when}")


def more_memory_remedy(found: Findings, container: Container | None) -> None:
    res = container.resources if container else None
    limit = bytes_of(res.limits.get("memory") if res else None) or 0
    new_limit = max(64 * 2**30, 2 * limit)
    new_request = max(32 * 2**30, new_limit / 2)
    was = f"  # was {res.limits.get('memory')}" if res and res.limits.get("memory") else ""
    found.remedy("More memory for the container",
                 "OOMKilled is the container's memory limit: give it room to load and serve "
                 "(the guide asks 32Gi requested, 64Gi limit at least).",
                 f'resources:\n  requests:\n    memory: "{gib(new_request)}"\n'
                 f'  limits:\n    memory: "{gib(new_limit)}"{was}\n')


def check_logs(found: Findings, current: Got[str | None], previous: Got[str | None],
               tail: int) -> bool:
    """CUDA OOM lines in the current and previous container's logs; True if any."""
    check = "CUDA OOM in logs"
    prev_hits = matching(previous.value, CUDA_OOM)
    cur_hits = matching(current.value, CUDA_OOM)
    hits = [f"previous: {h}" for h in prev_hits] + [f"current: {h}" for h in cur_hits]
    if hits:
        found.row(check, Status.FAIL, plural(len(hits), "line"), quote(hits))
        found.cause("CUDA out of memory in the model server (GPU memory)")
        return True
    read = [which for which, got in (("current", current), ("previous", previous))
            if got.value is not None]
    errors = "; ".join(e for e in (current.error, previous.error) if e)
    searched = (f"none in the last {plural(tail, 'line')} of the {' and '.join(read)} "
                f"{noun(len(read), 'log')}")
    if errors or not read:
        # A log that could not be read may hold the OOM: unknown, not "none".
        why = errors or "no log yet: the container has not started"
        found.row(check, Status.UNKNOWN, "unknown", f"{searched}; {why}" if read else why)
        return False
    if previous.value is None:
        searched += " (no previous container)"
    found.row(check, Status.OK, "none", searched)
    return False


def dcgm_query(namespace: str, pod: str) -> str:
    """Memory ratio and total per GPU of the pod. dcgm-exporter's pod mapping sets
    pod/namespace; scraped through a ServiceMonitor they may arrive as exported_*."""
    def sel(prefix: str) -> str:
        return (f"{{{prefix}pod={promql.label_string(pod)},"
                f"{prefix}namespace={promql.label_string(namespace)}}}")

    def both(fmt: str) -> str:
        return " or ".join(fmt.format(s=sel(p)) for p in ("", "exported_"))

    used, free = "DCGM_FI_DEV_FB_USED{s}", "DCGM_FI_DEV_FB_FREE{s}"
    return promql.stats_query({
        "ratio": both(f"({used} / ({used} + {free}))"),
        "total": both(f"({used} + {free})"),
    })


def check_gpu_memory(found: Findings, ctx: Context, got: Got[list[Sample]],
                     gpu_util: str | None) -> None:
    check = "GPU memory (DCGM)"
    t = ctx.settings.thresholds
    if got.value is None:
        found.unknown(check, got.error)
        return
    stats = promql.split_stats(got.value)
    totals = {promql.gpu_name(s.labels): s.value for s in stats.get("total", [])}
    gpus = sorted(stats.get("ratio", []), key=lambda s: -s.value)
    if not gpus:
        found.row(check, Status.UNKNOWN, "no data", "no DCGM series carry this pod's name "
                  "(dcgm-exporter's Kubernetes pod mapping is off, or the pod holds no GPU)")
        return
    parts = []
    for s in gpus[:8]:
        name = promql.gpu_name(s.labels)
        total = totals.get(name)
        # Without the total the MiB are unknown: show the ratio alone, not "0/0 MiB".
        mib = f" ({s.value * total:,.0f}/{total:,.0f} MiB)" if total else ""
        parts.append(f"{name} {s.value:.0%}{mib}")
    worst = gpus[0].value
    status = Status.OK
    if worst > t.gpu_mem_max_ratio:
        status = Status.WARN  # the logs, not the gauge, decide whether it ran out
    detail = "; ".join(parts)
    prealloc = float(gpu_util) if gpu_util and _is_float(gpu_util) else VLLM_DEFAULT_GPU_UTIL
    if worst >= prealloc - 0.05:
        detail += (f"; vLLM preallocates gpu_memory_utilization={prealloc:g} of each GPU for "
                   "its KV cache, so this level alone is expected")
    found.row(check, status, f"{worst:.0%} max", detail, threshold=f"< {t.gpu_mem_max_ratio:.0%}")


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip().isdigit() else None


def gpu_oom_remedy(found: Findings, s: ServerSettings) -> None:
    """The guide's four remedies, with this pod's values."""
    env: list[str] = []
    args: list[str] = []
    steps: list[str] = []
    batch = _int(s.batch)
    if batch and batch > 1:
        env.append(f'- name: MAX_BATCH_SIZE\n  value: "{batch // 2}"  # was {batch}')
        steps.append(f"halve the batch ({batch} → {batch // 2})")
    if (s.quantization or "").lower() in ("", "none"):
        env.append('- name: QUANTIZATION\n  value: "int8"  # or "fp8" on H100 (p5); was unset')
        steps.append("quantise (int8, or fp8 on H100)")
    seqs = _int(s.max_num_seqs)
    new_seqs = 128 if seqs is None or seqs > 128 else max(seqs // 2, 1)
    if seqs is None or new_seqs < seqs:
        was = f"was {seqs}" if seqs else "unset: vLLM's default is 256"
        if s.seqs_in_args:
            args.append(f"- --max-num-seqs={new_seqs}  # {was}")
        else:
            env.append(f'- name: MAX_NUM_SEQS\n  value: "{new_seqs}"  # {was}')
        steps.append(f"cap concurrent sequences at {new_seqs} (KV cache)")
    util = float(s.gpu_util) if s.gpu_util and _is_float(s.gpu_util) else VLLM_DEFAULT_GPU_UTIL
    if util > 0.85:
        args.append(f"- --gpu-memory-utilization=0.85  # was {s.gpu_util or 'unset (0.9)'}")
        steps.append(f"gpu_memory_utilization {util:g} → 0.85")
    length = _int(s.max_model_len)
    if length is None:
        args.append("- --max-model-len=4096  # unset: the model's full context sizes the KV "
                    "cache")
        steps.append("set max_model_len")
    elif length > 4096:
        args.append(f"- --max-model-len={length // 2}  # was {length}")
        steps.append(f"max_model_len {length} → {length // 2}")
    code = ""
    if env:
        code += "env:\n" + "\n".join(env) + "\n"
    if args:
        code += "args:  # vLLM flags, next to the existing ones\n" + "\n".join(args) + "\n"
    found.remedy("Reduce GPU memory use",
                 "From the guide, with this pod's values: " + "; ".join(steps) + ".",
                 code or None)


def check_exec(found: Findings, ctx: Context, pod: Pod, container: Container | None) -> None:
    if not ctx.settings.diag.exec_enabled:
        found.notes.append("nvidia-smi through pod exec is off (GPU memory above is from "
                           "DCGM). To enable it set GENAI_DIAG__EXEC_ENABLED=true and apply "
                           "the exec overlay (manifests/overlays/exec).")
        return
    check = "nvidia-smi (exec)"
    try:
        out = exec_in_pod(ctx.kubernetes, pod.metadata.namespace, pod.metadata.name,
                          container.name if container else None, NVIDIA_SMI, EXEC_TIMEOUT_S)
    except SourceError as exc:
        found.unknown(check, str(exc))
        return
    parts, worst = [], 0.0
    for line in out.strip().splitlines():
        cells = [c.strip().removesuffix(" MiB") for c in line.split(",")]
        if len(cells) == 3 and cells[1].isdigit() and cells[2].isdigit() and int(cells[2]):
            ratio = int(cells[1]) / int(cells[2])
            worst = max(worst, ratio)
            parts.append(f"gpu{cells[0]} {cells[1]}/{cells[2]} MiB ({ratio:.0%})")
    if not parts:
        found.row(check, Status.UNKNOWN, "unreadable", clip(out or "no output"))
        return
    status = Status.WARN if worst > ctx.settings.thresholds.gpu_mem_max_ratio else Status.OK
    found.row(check, status, f"{worst:.0%} max", "; ".join(parts))


def pod_on_node(ctx: Context, node: str, found: Findings) -> Pod | None:
    """A GPU alert names a node, not a pod: pick the node's GPU pod that restarts most."""
    try:
        ctx.kubernetes.node(node)
    except NotFound:
        return None
    pods = [p for p in ctx.kubernetes.pods_anywhere(field_selector=f"spec.nodeName={node}")
            if p.status.phase not in ("Succeeded", "Failed") and _uses_gpu(p)]
    if not pods:
        raise TargetNotFound("No GPU pod on that node",
                             f"{node} is a node, and no pod on it holds a GPU.")
    pods.sort(key=lambda p: -sum(s.restart_count for s in p.status.container_statuses))
    pod = pods[0]
    others = ", ".join(p.metadata.name for p in pods[1:6])
    found.notes.append(f"{node} is a node: diagnosing its GPU pod {pod.metadata.name} (most "
                       "restarts)" + (f"; its other GPU pods: {others}" if others else ""))
    return pod


def _uses_gpu(pod: Pod) -> bool:
    c = main_container(pod)
    return c is not None and (GPU in c.resources.limits or GPU in c.resources.requests)


def diagnose(ctx: Context, name: str, namespace: str) -> Report:
    found = Findings()
    try:
        pod = find_pod(ctx, name, namespace, "oom")
    except TargetNotFound:
        try:
            on_node = pod_on_node(ctx, name, found)
        except SourceError:
            on_node = None
        if on_node is None:
            raise
        pod = on_node
    name, namespace = pod.metadata.name, pod.metadata.namespace
    container = main_container(pod)
    cname = container.name if container else None
    tail = ctx.settings.diag.log_tail_lines
    kube = ctx.kubernetes
    current = fetch(ctx, kube.pod_log, namespace, name, cname, False, tail)
    previous = fetch(ctx, kube.pod_log, namespace, name, cname, True, tail)
    dcgm = fetch(ctx, ctx.prometheus.query, dcgm_query(namespace, name))
    settings = ServerSettings.of(container) if container else None

    check_termination(found, pod, container)
    cuda_oom = check_logs(found, current.result(), previous.result(), tail)
    check_gpu_memory(found, ctx, dcgm.result(), settings.gpu_util if settings else None)
    if settings is not None:
        found.row("Server settings", Status.OK, "read", settings.summary())
        if cuda_oom:
            gpu_oom_remedy(found, settings)
    check_exec(found, ctx, pod, container)
    return report("oom", f"{namespace}/{name}", found,
                  f"container {cname or '?'} · logs: last {plural(tail, 'line')} · DCGM via "
                  "Prometheus")
