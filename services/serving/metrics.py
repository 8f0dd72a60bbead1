"""Prometheus metrics the API exports. The names are a contract: dashboards and alert rules in
`monitoring/` are written against them, so rename nothing here alone.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.serving.loader import ModelRef

# Sub-millisecond buckets: a cached forecast is answered in well under a millisecond.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
HORIZON_BUCKETS = (1, 3, 6, 7, 12, 14, 24, 30, 36, 52, 60, 90, 120, 180, 365, 730)
# Forecast values have no known scale; 1-2-5 steps over ten decades keep quantiles readable.
VALUE_BUCKETS = (0.0, *(m * 10.0**e for e in range(-2, 8) for m in (1, 2, 5)))
RESULTS = ("success", "failure")
# With WORKERS > 1, a gauge reads as the highest value among live workers.
LIVE: Literal["livemax"] = "livemax"


@dataclass(frozen=True)
class Metrics:
    requests: Counter
    duration: Histogram
    in_progress: Gauge
    model_info: Gauge
    model_loaded: Gauge
    load_timestamp: Gauge
    load_duration: Gauge
    trained_timestamp: Gauge
    reloads: Counter
    registry_errors: Counter
    horizon: Histogram
    value: Histogram

    def served(
        self,
        ref: ModelRef,
        source: str,
        previous: tuple[ModelRef, str] | None,
        loaded_at: float,
        took: float,
    ) -> None:
        """Point the model gauges at `ref`, loaded from `source` (the registry or the model
        cache), in place of `previous` (called on the event loop, so scrapes see no gap)."""
        if previous is not None:
            self.forget(*previous)
        self.model_info.labels(ref.name, ref.version, ref.run_id, source).set(1)
        self.model_loaded.set(1)
        self.load_timestamp.set(loaded_at)
        self.load_duration.set(took)
        if ref.trained_at is not None:
            self.trained_timestamp.set(ref.trained_at)
        self.reloads.labels("success").inc()

    def forget(self, ref: ModelRef, source: str) -> None:
        """Drop the `model_info` series of a version no longer served."""
        with contextlib.suppress(KeyError):
            self.model_info.remove(ref.name, ref.version, ref.run_id, source)


def build_metrics(registry: CollectorRegistry) -> Metrics:
    """Create every metric in `registry` (one registry per app, so tests never share state)."""
    metrics = Metrics(
        requests=Counter(
            "http_requests_total",
            "HTTP requests by route template, method and status.",
            ("handler", "method", "status"),
            registry=registry,
        ),
        duration=Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ("handler", "method"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        in_progress=Gauge(
            "http_requests_in_progress",
            "HTTP requests being served now.",
            multiprocess_mode="livesum",
            registry=registry,
        ),
        model_info=Gauge(
            "model_info",
            "1 for the model version being served; source: registry, or cache (the local model "
            "cache, while the registry is unreachable).",
            ("model_name", "model_version", "run_id", "source"),
            multiprocess_mode=LIVE,
            registry=registry,
        ),
        model_loaded=Gauge(
            "model_loaded",
            "1 when a model is loaded and served.",
            multiprocess_mode=LIVE,
            registry=registry,
        ),
        load_timestamp=Gauge(
            "model_load_timestamp_seconds",
            "When the served version was loaded (Unix time).",
            multiprocess_mode=LIVE,
            registry=registry,
        ),
        load_duration=Gauge(
            "model_load_duration_seconds",
            "How long the served version took to download, load and warm.",
            multiprocess_mode=LIVE,
            registry=registry,
        ),
        trained_timestamp=Gauge(
            "model_trained_timestamp_seconds",
            "When the served version's training run finished (Unix time).",
            multiprocess_mode=LIVE,
            registry=registry,
        ),
        reloads=Counter(
            "model_reloads_total",
            "Model loads by result (a broken version counts once).",
            ("result",),
            registry=registry,
        ),
        registry_errors=Counter(
            "model_registry_errors_total", "Failed reads of the model registry.", registry=registry
        ),
        horizon=Histogram(
            "forecast_horizon",
            "Requested forecast horizons (periods).",
            buckets=HORIZON_BUCKETS,
            registry=registry,
        ),
        value=Histogram(
            "forecast_value",
            "Point forecasts (yhat) of each forecast the model computed.",
            buckets=VALUE_BUCKETS,
            registry=registry,
        ),
    )
    for result in RESULTS:
        metrics.reloads.labels(result)  # export both series at 0 so rate() and alerts work
    return metrics
