"""Every metric a dashboard panel or an alert reads is one the running API really exports."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

import monitoring
from tests.api import RunningApi
from tests.monitoring.promql import alert_queries, dashboard_queries, metric_names

# Series Prometheus writes itself (for every target, and from the recording rules); no exporter
# ever shows them.
SCRAPE_SERIES = {"up", *monitoring.recorded_names()}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def exported_series_names(exposition: str) -> set[str]:
    """Every series name the exposition declares, including ones with no sample yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def used_metric_names() -> dict[str, set[str]]:
    """Each metric name read by an alert or a panel, mapped to who reads it."""
    used: dict[str, set[str]] = {}
    for query in [*alert_queries(), *dashboard_queries()]:
        for name in metric_names(query.expr):
            used.setdefault(name, set()).add(query.source)
    return used


def test_every_metric_used_by_alerts_and_dashboards_is_exported_by_the_api(
    served_api: RunningApi,
) -> None:
    exported = exported_series_names(httpx.get(f"{served_api.url}/metrics").text)
    used = used_metric_names()
    missing = {name: sorted(who) for name, who in used.items() if name not in exported}
    assert not {n: w for n, w in missing.items() if n not in SCRAPE_SERIES}, missing


def test_the_metrics_check_sees_the_metric_families_the_issue_names() -> None:
    # Guards the check above against reading nothing: these must all be in use.
    assert set(used_metric_names()) >= {
        "up",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_requests_in_progress",
        "model_info",
        "model_loaded",
        "model_load_timestamp_seconds",
        "model_load_duration_seconds",
        "model_reloads_total",
        "model_registry_errors_total",
        "model_trained_timestamp_seconds",
        "forecast_horizon_bucket",
        "forecast_value_bucket",
        "model_realised_smape",
        "model_backtest_smape",
        "model_realised_points",
        "model_interval_coverage",
        "model_interval_level",
        "model_last_scored_timestamp_seconds",
    }


def test_a_name_the_api_does_not_export_is_reported_missing(served_api: RunningApi) -> None:
    exported = exported_series_names(httpx.get(f"{served_api.url}/metrics").text)
    assert "http_requests_total" in exported and "forecast_value_bucket" in exported
    assert "http_request_duration_seconds_count" in exported
    assert "model_load_duration_seconds_bucket" not in exported  # a gauge, not a histogram
