"""The package's Prometheus metrics (the `metrics` extra), made once on first use and only
when prometheus_client imports; `telemetry` records into them. docs/observability.md
lists them."""

from __future__ import annotations

import os
from typing import Any, Final

try:
    import prometheus_client as _prometheus
except ImportError:  # pragma: no cover - the `metrics` extra is in the test extra
    _prometheus = None  # type: ignore[assignment]

__all__ = [
    "LATENCY_BUCKETS",
    "METRIC_PREFIX",
    "Metrics",
    "count_retry",
    "current_metrics",
    "refresh_pool",
    "render_metrics",
    "report_pool",
    "switch_metrics",
]

METRIC_PREFIX: Final = "adk_store"
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Histogram buckets, seconds: a statement on a near server takes well under 1 ms."""


class Metrics:
    """The Prometheus objects (one set per process)."""

    def __init__(self, prometheus: Any) -> None:
        labels = ("service", "operation")
        name = METRIC_PREFIX
        self.duration = prometheus.Histogram(
            f"{name}_call_duration_seconds",
            "Duration of a service call, errors included.",
            labels,
            buckets=LATENCY_BUCKETS,
        )
        self.errors = prometheus.Counter(
            f"{name}_call_errors", "Service calls that raised, by error class.", (*labels, "kind")
        )
        stale = "Appends refused: the session changed since it was loaded."
        self.stale = prometheus.Counter(f"{name}_stale_appends", stale, labels)
        self.retries = prometheus.Counter(
            f"{name}_append_retries", "Reloads and retries after a stale append.", labels
        )
        self.pool = {
            field: prometheus.Gauge(
                f"{name}_pool_{field}",
                f"Connections of the service's pool: {text} (summed over live processes).",
                ("service",),
                multiprocess_mode="livesum",
            )
            for field, text in (
                ("size", "open"),
                ("idle", "open and idle"),
                ("in_use", "checked out"),
                ("max_size", "the most it opens"),
            )
        }


class _Switch:
    wanted = _prometheus is not None
    made: Metrics | None = None


def current_metrics() -> Metrics | None:
    """The metrics, made on first call; None when switched off or not installed."""
    if not _Switch.wanted:
        return None
    if _Switch.made is None:
        _Switch.made = Metrics(_prometheus)
    return _Switch.made


def switch_metrics(on: bool) -> None:
    """Record metrics from now on (when prometheus_client imports), or stop."""
    _Switch.wanted = on and _prometheus is not None


def refresh_pool(service_name: str, service: Any) -> None:
    """Copy the numbers of `service.store`'s pool into the gauges, if it has a pool."""
    stats = getattr(getattr(service, "store", None), "pool_stats", None)
    if callable(stats):
        report_pool(service_name, stats())


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text of this process, or of every process writing to
    `PROMETHEUS_MULTIPROC_DIR` when it is set; and its content type.

    Raises:
        RuntimeError: prometheus_client is not installed (the `metrics` extra).
    """
    if _prometheus is None:
        raise RuntimeError("prometheus_client is missing: pip install 'fastapi-adk-store[metrics]'")
    current_metrics()  # the families show (at zero) before the first call
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    registry = _prometheus.REGISTRY
    if directory:
        from prometheus_client import multiprocess

        registry = _prometheus.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return _prometheus.generate_latest(registry), _prometheus.CONTENT_TYPE_LATEST


def report_pool(service: str, stats: Any) -> None:
    """Set the pool gauges of `service` from `stats` (a `PoolStats`: size, idle, in_use,
    max_size)."""
    made = current_metrics()
    if made is not None:
        for field, gauge in made.pool.items():
            gauge.labels(service).set(getattr(stats, field))


def count_retry(service: str, operation: str) -> None:
    """Count one retry of `operation` after a stale append (`append_to_latest`)."""
    made = current_metrics()
    if made is not None:
        made.retries.labels(service, operation).inc()
