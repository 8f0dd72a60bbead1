"""Prometheus metrics the API exports. The names are a contract: dashboards and alert rules in
`monitoring/` are written against them, so rename nothing here alone.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.registry import Version

# Sub-millisecond buckets: a cached forecast is answered in well under a millisecond.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
HORIZON_BUCKETS = (1, 3, 6, 7, 12, 14, 24, 30, 36, 52, 60, 90, 120, 180, 365, 730)
# Forecast values have no known scale; 1-2-5 steps over ten decades keep quantiles readable.
VALUE_BUCKETS = (0.0, *(m * 10.0**e for e in range(-2, 8) for m in (1, 2, 5)))
RESULTS = ("success", "failure")
# With WORKERS > 1, a gauge reads as the highest value among live workers.
LIVE: Literal["livemax"] = "livemax"

# The served version's realised accuracy, read from the tags `mlstack score` writes on it:
# (metric, tag, help). Labelled by model and version only, never by series.
SCORED_TAG = "scored_at"
ACCURACY: tuple[tuple[str, str, str], ...] = (
    (
        "model_realised_smape",
        "realised_smape",
        "Mean SMAPE (percent) of the served version's forecasts against the actuals that "
        "arrived, at its last scoring.",
    ),
    (
        "model_backtest_smape",
        "backtest_smape",
        "Mean backtest SMAPE (percent) of the served version, from its training, beside the "
        "realised one.",
    ),
    (
        "model_realised_points",
        "realised_points",
        "Points (over all series) the served version's last scoring compared with actuals.",
    ),
    (
        "model_interval_coverage",
        "realised_coverage",
        "Share of scored actuals inside the served version's prediction intervals (0-1).",
    ),
    (
        "model_interval_level",
        "interval_level",
        "Nominal level of the scored prediction intervals (0-1), to compare coverage with.",
    ),
    (
        "model_last_scored_timestamp_seconds",
        SCORED_TAG,
        "When the served version was last scored against actuals (Unix time).",
    ),
    # Its challengers' standing, as `mlstack score` summed it up on the served version.
    (
        "model_challengers_better",
        "challengers_better",
        "Challengers (and the previous champion) better than the served version on the "
        "realised evidence: a paired test on enough shared points.",
    ),
    (
        "model_challengers_kept_out",
        "challengers_kept_out",
        "Of those better on evidence, how many the promotion policy keeps out.",
    ),
    (
        "model_best_challenger_smape",
        "best_challenger_smape",
        "Realised SMAPE (percent) of the challenger closest to beating the served version, on "
        "the points both were scored on.",
    ),
    (
        "model_best_challenger_champion_smape",
        "best_challenger_champion_smape",
        "Realised SMAPE (percent) of the served version on the same points as "
        "model_best_challenger_smape.",
    ),
)
ACCURACY_LABELS = ("model_name", "model_version")


def accuracy_of(tags: Mapping[str, str]) -> dict[str, float]:
    """Each accuracy metric's value from a version's tags: none before its first scoring (no
    valid `scored_at`), and none for a tag missing or not a finite number."""
    values: dict[str, float] = {}
    for metric, tag, _help in ACCURACY:
        try:
            value = float(tags[tag])
        except (KeyError, ValueError):
            continue
        if math.isfinite(value):
            values[metric] = value
    return values if "model_last_scored_timestamp_seconds" in values else {}


class Accuracy(Collector):
    """The accuracy gauges of the version served now, as of the follower's last registry poll.

    A collector rather than `Gauge`s: its series are read at scrape time from what this process
    serves, so a version change or a retag replaces them at once. With WORKERS > 1 the scraped
    worker answers (`routers/metrics.py`); every worker polls the same registry, so they differ
    by at most one poll. prometheus_client cannot remove a labelled series in multiprocess mode,
    which would keep a replaced version's values exported for ever.
    """

    def __init__(self) -> None:
        self._shown: tuple[str, str, dict[str, float]] | None = None  # swapped whole: atomic

    def show(self, ref: Version) -> None:
        """Export `ref`'s tags (none of them when it was never scored), in place of any other."""
        self._shown = (ref.name, ref.version, accuracy_of(ref.tags))

    def forget(self, ref: Version) -> None:
        shown = self._shown
        if shown is not None and shown[:2] == (ref.name, ref.version):
            self._shown = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        for metric, _tag, help_text in ACCURACY:
            yield GaugeMetricFamily(metric, help_text, labels=ACCURACY_LABELS)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        shown = self._shown
        for family in self.describe():
            if shown is not None and family.name in shown[2]:
                family.add_metric([shown[0], shown[1]], shown[2][family.name])
            yield family


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
    accuracy: Accuracy = field(default_factory=Accuracy)

    def served(
        self,
        ref: Version,
        source: str,
        previous: tuple[Version, str] | None,
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
        self.accuracy.show(ref)
        self.reloads.labels("success").inc()

    def forget(self, ref: Version, source: str) -> None:
        """Drop the `model_info` and accuracy series of a version no longer served."""
        with contextlib.suppress(KeyError):
            self.model_info.remove(ref.name, ref.version, ref.run_id, source)
        self.accuracy.forget(ref)


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
    registry.register(metrics.accuracy)
    for result in RESULTS:
        metrics.reloads.labels(result)  # export both series at 0 so rate() and alerts work
    return metrics
