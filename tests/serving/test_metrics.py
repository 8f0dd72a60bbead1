"""The metric names are a contract with the dashboards and alert rules."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.serving.loader import ModelRef
from services.serving.metrics import build_metrics

CONTRACT = {
    "http_requests_total": ("counter", {"handler", "method", "status"}),
    "http_request_duration_seconds": ("histogram", {"handler", "method"}),
    "http_requests_in_progress": ("gauge", set()),
    "model_info": ("gauge", {"model_name", "model_version", "run_id", "source"}),
    "model_loaded": ("gauge", set()),
    "model_load_timestamp_seconds": ("gauge", set()),
    "model_load_duration_seconds": ("gauge", set()),
    "model_trained_timestamp_seconds": ("gauge", set()),
    "model_reloads_total": ("counter", {"result"}),
    "model_registry_errors_total": ("counter", set()),
    "forecast_horizon": ("histogram", set()),
    "forecast_value": ("histogram", set()),
}


def _exported(registry: CollectorRegistry) -> dict[str, tuple[str, set[str]]]:
    found = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {k for s in family.samples for k in s.labels if k != "le"}
        found[name] = (family.type, labels)
    return found


def test_every_contract_metric_is_exported_with_its_type_and_labels() -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    ref = ModelRef("m", "1", "run", "prod", trained_at=1.0)
    metrics.served(ref, "registry", None, loaded_at=2.0, took=0.5)
    metrics.requests.labels("/predict", "POST", "200").inc()
    metrics.duration.labels("/predict", "POST").observe(0.001)
    metrics.horizon.observe(3)
    metrics.value.observe(100)
    exported = _exported(registry)
    for name, (kind, labels) in CONTRACT.items():
        assert exported.get(name) == (kind, labels), name


def test_both_reload_results_exist_before_any_reload() -> None:
    registry = CollectorRegistry()
    build_metrics(registry)
    for result in ("success", "failure"):
        assert registry.get_sample_value("model_reloads_total", {"result": result}) == 0


def test_a_swap_leaves_exactly_one_model_info_series() -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    old, new = ModelRef("m", "1", "r1", "prod"), ModelRef("m", "2", "r2", "prod")
    metrics.served(old, "cache", None, loaded_at=1.0, took=0.1)
    metrics.served(new, "registry", (old, "cache"), loaded_at=2.0, took=0.2)
    info = [s for f in registry.collect() if f.name == "model_info" for s in f.samples]
    assert [(s.labels["model_version"], s.labels["source"], s.value) for s in info] == [
        ("2", "registry", 1.0)
    ]
    assert registry.get_sample_value("model_load_timestamp_seconds") == 2.0
