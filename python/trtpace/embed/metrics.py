"""Prometheus metrics of the Pacers and KeepWarms an app embeds (pip install "trtpace[metrics]").

    trtpace.metrics.serve(port=9400)                 # http://127.0.0.1:9400/metrics
    pacer = trtpace.Pacer(work, metrics=True)        # this Pacer reports there

Histograms, in seconds, per inference: trtpace_e2e_seconds (issue, or release when armed, to
done), trtpace_submit_seconds (issue to submitted) and trtpace_device_seconds (the GPU's own
time, where the workload has one). Counters: trtpace_releases_total, trtpace_cancels_total (armed
inferences cancelled with nothing released), trtpace_timeouts_total (waits that gave up with
WaitTimeoutError) and trtpace_keepwarm_fires_total (filler launches: a KeepWarm's thread, a
Pacer's pre-warm worker and the keep-warm or pre-warm fillers of Pacer.run). Every series has the
labels `workload` (the workload's name; "keepwarm" for a KeepWarm) and `gpu` (the CUDA device
index, "none" for host work).

Observations are made from the Pacer's own callback (Pacer docstring: after each record is
complete, never inside an inference's timed span); the fire counters are read from the C++
threads' counts when Prometheus scrapes. prometheus_client is imported only here, only when a
Metrics is made.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from trtpace.errors import UsageError

# Bucket bounds in seconds: 5 us to 1 s, about three per decade (an inference after an idle gap
# ranges from tens of us to tens of ms).
BUCKETS_S = (5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0)
LABELS = ("workload", "gpu")
EVENTS = ("release", "cancel", "timeout")


class _Fired(Protocol):
    @property
    def fired(self) -> int: ...


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise UsageError('trtpace metrics need prometheus_client: pip install "trtpace[metrics]"') from None
    return prometheus_client


def _counter_family() -> Any:
    from prometheus_client.core import CounterMetricFamily

    return CounterMetricFamily("trtpace_keepwarm_fires", _FIRES_DOC, labels=LABELS)


def gpu_label(device: int) -> str:
    return str(device) if device >= 0 else "none"


class _FiresCollector:
    """trtpace_keepwarm_fires_total: at each scrape, the `fired` count of every live C++ filler
    thread plus what threads already gone and Pacer.run fired."""

    def __init__(self) -> None:
        # Reentrant: a finalizer (_retire) can run on this thread in a garbage collection that
        # starts while the lock is held.
        self._lock = threading.RLock()
        self._done: dict[tuple[str, str], int] = {}
        self._live: dict[int, tuple[tuple[str, str], _Fired]] = {}
        self._next = 0

    def add(self, labels: tuple[str, str], n: int) -> None:
        with self._lock:
            self._done[labels] = self._done.get(labels, 0) + n

    def watch(self, owner: object, labels: tuple[str, str], source: _Fired) -> None:
        """Reads `source.fired` while `owner` lives. The finalizer keeps `source` (the C++ thread
        object, not its owner) until the owner goes, then counts its last value."""
        with self._lock:
            key = self._next
            self._next += 1
            self._live[key] = (labels, source)
            self._done.setdefault(labels, 0)
        weakref.finalize(owner, self._retire, key)

    def _retire(self, key: int) -> None:
        with self._lock:
            entry = self._live.pop(key, None)
            if entry is not None:
                labels, source = entry
                self._done[labels] = self._done.get(labels, 0) + int(source.fired)

    def describe(self) -> list[Any]:
        return [_counter_family()]

    def collect(self) -> Iterator[Any]:
        with self._lock:
            totals = dict(self._done)
            for labels, source in list(self._live.values()):
                totals[labels] = totals.get(labels, 0) + int(source.fired)
        family = _counter_family()
        for labels, value in sorted(totals.items()):
            family.add_metric(list(labels), value)
        yield family


_FIRES_DOC = "Keep-warm and pre-warm filler launches (KeepWarm, Pacer pre-warm, Pacer.run fillers)."


class Recorder:
    """One Pacer's or KeepWarm's series (labels fixed when it is bound): what the Pacer calls."""

    def __init__(self, metrics: Metrics, workload: str, gpu: int):
        self.labels = (workload, gpu_label(gpu))
        self._metrics = metrics
        self._e2e = metrics.e2e.labels(*self.labels)
        self._submit = metrics.submit.labels(*self.labels)
        self._device = metrics.device.labels(*self.labels)
        self._events = {e: metrics.events[e].labels(*self.labels) for e in EVENTS}
        metrics.fires.add(self.labels, 0)  # the series exists from the start, like the others

    def inference(self, record: Mapping[str, Any]) -> None:
        """Observes one complete record (issue_ns, done_ns; submitted_ns and device_us where present)."""
        issue, done = record["issue_ns"], record["done_ns"]
        if issue > 0 and done >= issue:
            self._e2e.observe((done - issue) / 1e9)
            submitted = record.get("submitted_ns", 0)
            if submitted >= issue:
                self._submit.observe((submitted - issue) / 1e9)
        device_us = record.get("device_us", math.nan)
        if math.isfinite(device_us) and device_us >= 0:
            self._device.observe(device_us / 1e6)

    def count(self, event: str, n: int = 1) -> None:
        self._events[event].inc(n)

    def fires(self, n: int) -> None:
        """Filler launches already finished with (Pacer.run's), added once."""
        self._metrics.fires.add(self.labels, n)

    def watch_fires(self, owner: object, source: _Fired) -> None:
        self._metrics.fires.watch(owner, self.labels, source)


class Metrics:
    """trtpace's collectors in one prometheus_client registry (default: prometheus_client's own
    REGISTRY, so an app that already serves it needs nothing more). Register each Metrics in a
    registry once: `default()` is the process's shared one, which `Pacer(metrics=True)` uses."""

    def __init__(self, registry: Any = None):
        prom = _client()
        self.registry = prom.REGISTRY if registry is None else registry
        kw: dict[str, Any] = {"labelnames": LABELS, "registry": self.registry}
        self.e2e = prom.Histogram(
            "trtpace_e2e_seconds", "Inference issue (armed: release) to done, host clock.", buckets=BUCKETS_S, **kw
        )
        self.submit = prom.Histogram(
            "trtpace_submit_seconds", "Inference issue to submitted (the launch call).", buckets=BUCKETS_S, **kw
        )
        self.device = prom.Histogram(
            "trtpace_device_seconds", "Inference device time (GPU events).", buckets=BUCKETS_S, **kw
        )
        self.events = {
            "release": prom.Counter("trtpace_releases", "Armed inferences released.", **kw),
            "cancel": prom.Counter("trtpace_cancels", "Armed inferences cancelled without a release.", **kw),
            "timeout": prom.Counter("trtpace_timeouts", "Waits that gave up (WaitTimeoutError).", **kw),
        }
        self.fires = _FiresCollector()
        self.registry.register(self.fires)
        self._server: Any = None

    def bind(self, workload: str, gpu: int) -> Recorder:
        return Recorder(self, workload, gpu)

    def serve(self, port: int = 9400, addr: str = "127.0.0.1") -> Metrics:
        """Serves this registry at http://addr:port/metrics from prometheus_client's HTTP server
        (a daemon thread); once per Metrics. addr "0.0.0.0" listens on every interface."""
        if self._server is not None:
            raise UsageError("these metrics are already served")
        self._server, _ = _client().start_http_server(port, addr=addr, registry=self.registry)
        return self

    @property
    def port(self) -> int | None:
        """The port served (useful after serve(port=0)); None before serve()."""
        return None if self._server is None else int(self._server.server_port)

    def shutdown(self) -> None:
        """Stops the HTTP server started by serve(); harmless when none runs."""
        if self._server is not None:
            server, self._server = self._server, None
            server.shutdown()
            server.server_close()


_default: Metrics | None = None
_default_lock = threading.Lock()


def default() -> Metrics:
    """The process's Metrics in prometheus_client's default REGISTRY, made on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Metrics()
        return _default


def serve(port: int = 9400, addr: str = "127.0.0.1") -> Metrics:
    """Serves the default metrics (every `Pacer(..., metrics=True)` and `KeepWarm(..., metrics=True)`)
    at http://addr:port/metrics; returns them. The one line of setup next to metrics=True."""
    return default().serve(port, addr)


def resolve(metrics: bool | Metrics | None) -> Metrics | None:
    """What a Pacer's or KeepWarm's `metrics=` argument names."""
    if metrics is None or metrics is False:
        return None
    if metrics is True:
        return default()
    if isinstance(metrics, Metrics):
        return metrics
    raise UsageError(f"metrics takes True, False or a trtpace.metrics.Metrics, got {type(metrics).__name__}")
