"""The metric names are a contract with the dashboards and alert rules."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.registry import Version
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
    "model_realised_smape": ("gauge", {"model_name", "model_version"}),
    "model_backtest_smape": ("gauge", {"model_name", "model_version"}),
    "model_realised_points": ("gauge", {"model_name", "model_version"}),
    "model_interval_coverage": ("gauge", {"model_name", "model_version"}),
    "model_interval_level": ("gauge", {"model_name", "model_version"}),
    "model_last_scored_timestamp_seconds": ("gauge", {"model_name", "model_version"}),
}
# The tags `mlstack score` writes on a version, and the gauge each one becomes.
SCORED = {
    "realised_smape": "14.5",
    "realised_mase": "1.1",
    "realised_coverage": "0.91",
    "realised_points": "120",
    "realised_series": "10",
    "backtest_smape": "9.25",
    "interval_level": "0.95",
    "scored_at": "1767225600",
}
GAUGES = {
    "model_realised_smape": 14.5,
    "model_backtest_smape": 9.25,
    "model_realised_points": 120.0,
    "model_interval_coverage": 0.91,
    "model_interval_level": 0.95,
    "model_last_scored_timestamp_seconds": 1767225600.0,
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
    ref = Version("m", "1", "run", alias="prod", tags=SCORED, trained_at=1.0)
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
    old, new = Version("m", "1", "r1", alias="prod"), Version("m", "2", "r2", alias="prod")
    metrics.served(old, "cache", None, loaded_at=1.0, took=0.1)
    metrics.served(new, "registry", (old, "cache"), loaded_at=2.0, took=0.2)
    info = [s for f in registry.collect() if f.name == "model_info" for s in f.samples]
    assert [(s.labels["model_version"], s.labels["source"], s.value) for s in info] == [
        ("2", "registry", 1.0)
    ]
    assert registry.get_sample_value("model_load_timestamp_seconds") == 2.0


def _accuracy(registry: CollectorRegistry) -> dict[tuple[str, str, str], float]:
    """Every accuracy sample as (metric, model_name, model_version) -> value."""
    return {
        (s.name, s.labels["model_name"], s.labels["model_version"]): s.value
        for family in registry.collect()
        if family.name in GAUGES
        for s in family.samples
    }


def test_a_scored_version_exports_each_tag_as_its_gauge_labelled_by_model_and_version() -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    metrics.served(Version("m", "3", "r", alias="prod", tags=SCORED), "registry", None, 1.0, 0.1)
    assert _accuracy(registry) == {(name, "m", "3"): value for name, value in GAUGES.items()}


def test_a_version_never_scored_exports_no_accuracy_series_not_zeros() -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    # The trainer's own tags, and accuracy tags without a scoring time, are not a scoring.
    tags = {"promotion": "promoted", "realised_smape": "3.0"}
    metrics.served(Version("m", "1", "r", alias="prod", tags=tags), "registry", None, 1.0, 0.1)
    assert _accuracy(registry) == {}
    assert registry.get_sample_value("model_realised_smape", {"model_name": "m"}) is None


def test_a_tag_that_is_not_a_number_is_left_out_and_the_rest_exported() -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    tags = {**SCORED, "realised_coverage": "n/a", "backtest_smape": "nan"}
    metrics.served(Version("m", "1", "r", alias="prod", tags=tags), "registry", None, 1.0, 0.1)
    exported = {name for name, _, _ in _accuracy(registry)}
    assert exported == set(GAUGES) - {"model_interval_coverage", "model_backtest_smape"}


def test_a_new_version_replaces_the_old_version_s_accuracy_series() -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    old = Version("m", "1", "r1", alias="prod", tags=SCORED)
    metrics.served(old, "registry", None, 1.0, 0.1)
    new = Version("m", "2", "r2", alias="prod", tags={**SCORED, "realised_smape": "30"})
    metrics.served(new, "registry", (old, "registry"), 2.0, 0.1)
    assert {version for _, _, version in _accuracy(registry)} == {"2"}
    assert _accuracy(registry)[("model_realised_smape", "m", "2")] == 30.0
    # ... and one never scored leaves none at all.
    bare = Version("m", "3", "r3", alias="prod")
    metrics.served(bare, "registry", (new, "registry"), 3.0, 0.1)
    assert _accuracy(registry) == {}


def test_forgetting_the_served_version_drops_its_accuracy_series() -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    ref = Version("m", "1", "r1", alias="prod", tags=SCORED)
    metrics.served(ref, "registry", None, 1.0, 0.1)
    metrics.forget(Version("m", "9", "r9", alias="prod"), "registry")  # another version: no effect
    assert _accuracy(registry)
    metrics.forget(ref, "registry")
    assert _accuracy(registry) == {}
