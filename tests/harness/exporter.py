"""A synthetic Prometheus exporter whose values the test controls.

The bot's PromQL is only proven when a real Prometheus evaluates it over real scraped series:
`rate()` extrapolation, `histogram_quantile()` interpolation, label matching and `on()`/
`ignoring()` all happen there. This exporter feeds such a Prometheus with:

- DCGM gauges per GPU, labelled like dcgm-exporter (`Hostname` in old versions, `hostname`
  in new ones, chosen per GPU) plus a relabelled `node` label and the pod using the GPU;
- inference counters and a latency histogram per model that grow with time, so that
  `rate()` returns exactly the requests/s, error ratio and quantiles the test set;
- kube-state-metrics restart counters, and any other gauge (OpenCost and the like).

Counter values are integrated over time: each counter is `base + rate * (now - since)`, and
every change of rate first folds the elapsed part into `base`. Counters therefore stay
monotonic when a test changes the rate half-way, as real counters do.

A caveat about `rate(x[w])`: Prometheus divides the (extrapolated) increase by the whole
window `w`. Until samples cover the window, an absolute rate is too low. Ratios (error
ratio, histogram quantiles) are right from the second scrape on; absolute requests/s need
about `w` seconds of scraping (use a short window such as `[3s]` in tests).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import uuid as uuid_mod
from collections.abc import Iterable, Mapping
from typing import Any

from .exposition import (
    DEFAULT_LATENCY_BUCKETS,
    P99_LAYOUT,
    _Gpu,
    _mean_latency,
    _Model,
    escape_label_value,
    format_le,
    format_value,
    p99_buckets,
    render_labels,
)
from .loopback import LoopbackHandler, LoopbackServer

__all__ = [
    "DEFAULT_LATENCY_BUCKETS",
    "P99_LAYOUT",
    "SyntheticExporter",
    "escape_label_value",
    "format_le",
    "format_value",
    "p99_buckets",
    "render_labels",
]

_DCGM_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", "util", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_FB_USED", "fb_used", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_FREE", "fb_free", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_GPU_TEMP", "temp", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "power", "Power draw (in W)."),
    ("DCGM_FI_DEV_XID_ERRORS", "xid", "Value of the last XID error encountered."),
)

_RESERVED = frozenset(
    {name for name, _, _ in _DCGM_FAMILIES}
    | {
        "inference_request_total",
        "inference_request_errors_total",
        "inference_request_duration_seconds",
        "kube_pod_container_status_restarts_total",
    }
)



class SyntheticExporter(LoopbackServer):
    """`/metrics` on a free loopback port, with values set by the test.

    Use as a context manager or `start()`/`stop()`; give `.target` (`127.0.0.1:PORT`) to
    `PrometheusProcess`. Setting `.available = False` answers 503, so `up` drops to 0.
    Every setter is thread-safe; rendering 8,000 GPUs takes a few tens of milliseconds.
    """

    disable_nagle_algorithm = True
    thread_name = "synthetic-exporter"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._gpus: dict[tuple[str, int], _Gpu] = {}
        self._models: dict[str, _Model] = {}
        self._restarts: dict[tuple[str, str, str], float] = {}
        self._gauges: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        self._help: dict[str, str] = {}
        self.available = True
        self.scrapes = 0

    # -- serving (`start`, `stop` and the context manager come from LoopbackServer) ---------

    def on_request(self, request: LoopbackHandler) -> None:
        """`GET /metrics`: the exposition, or a 503 while `available` is False."""
        if request.path.split("?")[0] != "/metrics":
            self._reply(request, 404, b"404 page not found\n")
            return
        if not self.available:
            self._reply(request, 503, b"exporter unavailable (injected)\n")
            return
        body = self.render().encode()
        with self._lock:
            self.scrapes += 1
        self._reply(request, 200, body, "text/plain; version=0.0.4; charset=utf-8")

    @staticmethod
    def _reply(request: LoopbackHandler, code: int, body: bytes,
               ctype: str = "text/plain; charset=utf-8") -> None:
        # Prometheus may have given up on the scrape (timeout): nothing to tell it then.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            request.reply(code, body, ctype)


    @property
    def target(self) -> str:
        """`127.0.0.1:PORT`, the form a Prometheus `static_configs` target takes."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT/metrics`."""
        return f"http://{self.target}/metrics"

    # -- DCGM -------------------------------------------------------------------------------

    def set_gpu(
        self,
        host: str,
        gpu: int,
        util: float = 50,
        fb_used: float = 40000,
        fb_free: float = 40000,
        temp: float = 60,
        power: float = 300,
        xid: int = 0,
        host_label: str = "Hostname",
        pod: str | None = None,
        namespace: str | None = None,
        model_name: str = "NVIDIA A100-SXM4-80GB",
        *,
        container: str | None = None,
        node: str | None = None,
        uuid: str | None = None,
        extra_labels: Mapping[str, str] | None = None,
    ) -> None:
        """Create or replace one GPU's DCGM series.

        `host_label` is "Hostname" (old dcgm-exporter) or "hostname" (new). `node` is the
        relabelled Kubernetes node name; None means `host`, "" leaves it out. A `pod` gets
        `namespace` (default "inference") and `container` (default "server").
        """
        labels: list[tuple[str, str]] = [
            ("gpu", str(gpu)),
            ("UUID", uuid or "GPU-" + str(uuid_mod.uuid5(uuid_mod.NAMESPACE_DNS, f"{host}/{gpu}"))),
            ("pci_bus_id", f"00000000:{0x10 + gpu:02X}:1C.0"),
            ("device", f"nvidia{gpu}"),
            ("modelName", model_name),
        ]
        if host_label:
            labels.append((host_label, host))
        labels.append(("DCGM_FI_DRIVER_VERSION", "535.183.01"))
        if pod:
            labels += [
                ("container", container or "server"),
                ("namespace", namespace or "inference"),
                ("pod", pod),
            ]
        labels.append(("node", host if node is None else node))
        labels += list((extra_labels or {}).items())
        values = {
            "util": float(util),
            "fb_used": float(fb_used),
            "fb_free": float(fb_free),
            "temp": float(temp),
            "power": float(power),
            "xid": float(xid),
        }
        with self._lock:
            self._gpus[(host, gpu)] = _Gpu(render_labels(labels), values)

    def set_gpus(self, hosts: Iterable[str], per_host: int = 8, **kwargs: Any) -> None:
        """`set_gpu` for every GPU of every host, with the same values (fleet fixtures)."""
        for host in hosts:
            for gpu in range(per_host):
                self.set_gpu(host, gpu, **kwargs)

    def remove_gpu(self, host: str, gpu: int) -> None:
        """Drop one GPU's series (Prometheus marks them stale at the next scrape)."""
        with self._lock:
            self._gpus.pop((host, gpu), None)

    def clear_gpus(self) -> None:
        """Drop every GPU series."""
        with self._lock:
            self._gpus.clear()

    # -- inference --------------------------------------------------------------------------

    def set_model(
        self,
        model: str,
        rps: float = 10.0,
        error_ratio: float = 0.0,
        latency_buckets: Mapping[float, float] | None = None,
        *,
        extra_labels: Mapping[str, str] | None = None,
    ) -> None:
        """Set a model's request rate, error ratio and latency distribution from now on.

        `latency_buckets` maps `le` -> cumulative fraction (<= 1, non-decreasing); +Inf is
        always 1.0. Bounds once exposed stay exposed (as a real histogram's would), taking
        the fraction of the largest given bound below them. Counters keep their values.
        """
        dist = sorted(
            (float(le), float(frac))
            for le, frac in (latency_buckets or DEFAULT_LATENCY_BUCKETS).items()
            if not math.isinf(le)
        )
        last = 0.0
        for _le, frac in dist:
            if not 0.0 <= frac <= 1.0 or frac < last:
                raise ValueError(f"bucket fractions must be cumulative in [0, 1]: {dist}")
            last = frac
        if not 0.0 <= error_ratio <= 1.0 or rps < 0:
            raise ValueError("need rps >= 0 and 0 <= error_ratio <= 1")
        now = time.monotonic()
        with self._lock:
            state = self._models.get(model)
            if state is None:
                labels = [("model", model), *(extra_labels or {}).items()]
                state = _Model(labels=render_labels(labels), since=now)
                self._models[model] = state
            else:
                state.fold(now)
            for le in sorted({le for le, _ in dist} - set(state.les)):
                # A new bound starts where the bound below it is: no request fell in between
                # before, and cumulative buckets must stay non-decreasing.
                below = [b for b in state.les if b < le]
                state.base_buckets[le] = state.base_buckets.get(below[-1], 0.0) if below else 0.0
                state.les = sorted([*state.les, le])
            state.rps = float(rps)
            state.error_ratio = float(error_ratio)
            state.distribution = dist
            state.mean_latency = _mean_latency(dist)

    def set_model_p99(
        self,
        model: str,
        seconds: float,
        rps: float | None = None,
        error_ratio: float | None = None,
    ) -> None:
        """Give `model` a latency distribution whose p99 is `seconds` (see `p99_buckets`).

        Keeps the current rps and error ratio unless given (10 rps, 0 errors for a new model).
        """
        with self._lock:
            state = self._models.get(model)
            layout = set(P99_LAYOUT) | set(state.les if state else ())
            self.set_model(
                model,
                rps=rps if rps is not None else (state.rps if state else 10.0),
                error_ratio=error_ratio
                if error_ratio is not None
                else (state.error_ratio if state else 0.0),
                latency_buckets=p99_buckets(seconds, layout),
            )

    def remove_model(self, model: str) -> None:
        """Drop a model's series (a restarted server would reset them instead)."""
        with self._lock:
            self._models.pop(model, None)

    # -- kube-state-metrics and generic gauges ----------------------------------------------

    def set_restarts(
        self, namespace: str, pod: str, count: float, container: str = "server"
    ) -> None:
        """`kube_pod_container_status_restarts_total` for one container."""
        with self._lock:
            self._restarts[(namespace, pod, container)] = float(count)

    def set_gauge(
        self, name: str, labels: Mapping[str, str], value: float, help_text: str = ""
    ) -> None:
        """Any other gauge, e.g. OpenCost's `node_gpu_hourly_cost{node, instance_type}`."""
        if name in _RESERVED:
            raise ValueError(f"{name} is rendered by a dedicated setter; use that one")
        key = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
        with self._lock:
            self._gauges.setdefault(name, {})[key] = float(value)
            if help_text:
                self._help[name] = help_text

    def remove_gauge(self, name: str, labels: Mapping[str, str]) -> None:
        """Drop one series of a generic gauge."""
        key = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
        with self._lock:
            series = self._gauges.get(name, {})
            series.pop(key, None)
            if not series:
                self._gauges.pop(name, None)

    # -- exposition -------------------------------------------------------------------------

    def render(self) -> str:
        """The whole exposition, as served on `/metrics` (text format 0.0.4)."""
        now = time.monotonic()
        out: list[str] = []
        with self._lock:
            gpus = list(self._gpus.values())
            for name, key, help_text in _DCGM_FAMILIES:
                if not gpus:
                    break
                out.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge")
                out.extend(f"{name}{{{g.labels}}} {format_value(g.values[key])}" for g in gpus)
            if self._models:
                self._render_models(out, now)
            if self._restarts:
                name = "kube_pod_container_status_restarts_total"
                out.append(f"# HELP {name} The number of container restarts per container.")
                out.append(f"# TYPE {name} counter")
                for (ns, pod, container), count in sorted(self._restarts.items()):
                    lbl = render_labels((("namespace", ns), ("pod", pod), ("container", container)))
                    out.append(f"{name}{{{lbl}}} {format_value(count)}")
            for name in sorted(self._gauges):
                out.append(f"# HELP {name} {self._help.get(name, name)}")
                out.append(f"# TYPE {name} gauge")
                for labels_key, value in sorted(self._gauges[name].items()):
                    out.append(f"{name}{{{render_labels(labels_key)}}} {format_value(value)}")
        out.append("")
        return "\n".join(out)

    def _render_models(self, out: list[str], now: float) -> None:
        models = list(self._models.values())
        total = "inference_request_total"
        errors = "inference_request_errors_total"
        hist = "inference_request_duration_seconds"
        out.append(f"# HELP {total} Inference requests served.\n# TYPE {total} counter")
        for m in models:
            value = m.base_total + m.rps * (now - m.since)
            out.append(f"{total}{{{m.labels}}} {format_value(value)}")
        out.append(f"# HELP {errors} Inference requests that failed.\n# TYPE {errors} counter")
        for m in models:
            value = m.base_errors + m.rps * m.error_ratio * (now - m.since)
            out.append(f"{errors}{{{m.labels}}} {format_value(value)}")
        out.append(f"# HELP {hist} Inference request latency.\n# TYPE {hist} histogram")
        for m in models:
            elapsed = now - m.since
            for le in [*m.les, math.inf]:
                value = m.base_buckets.get(le, 0.0) + m.rps * m.fraction(le) * elapsed
                out.append(
                    f'{hist}_bucket{{{m.labels},le="{format_le(le)}"}} {format_value(value)}'
                )
            out.append(
                f"{hist}_sum{{{m.labels}}} "
                f"{format_value(m.base_sum + m.rps * m.mean_latency * elapsed)}"
            )
            out.append(f"{hist}_count{{{m.labels}}} {format_value(m.base_total + m.rps * elapsed)}")
