"""A real Prometheus scraping a real API: targets up, rules loaded, every panel has data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import monitoring
from services.local import process
from tests.api import RunningApi
from tests.factories import wait_for
from tests.monitoring.factories import drive_traffic, query, start_prometheus
from tests.monitoring.promql import Query, dashboard_queries

pytestmark = pytest.mark.slow

# Scrapes run every second here, so a short window already holds several samples.
QUERIES = dashboard_queries(window="15s")
# Alerting and recording rules alike, by name.
RULE_NAMES = {
    rule.get("alert") or rule["record"]
    for group in monitoring.rule_groups()
    for rule in group["rules"]
}
# Conditions that must not hold against a healthy API with a model loaded.
HEALTH_ALERTS = ("MlstackApiDown", "MlstackApiNoTargets", "MlstackModelNotLoaded")


@pytest.fixture(scope="module")
def prometheus(
    served_api: RunningApi, prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("prometheus")
    url, proc = start_prometheus(prometheus_binary, folder, [served_api.target])
    try:
        wait_for(
            lambda: _targets(url),
            "the API target to be up",
            60,
            done=lambda ts: [t["health"] for t in ts] == ["up"],
            every=0.5,
        )
        yield url
    finally:
        process.stop(proc)


def _targets(prometheus: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()
    return list(body["data"]["activeTargets"])


def _rules(prometheus: str) -> dict[str, dict[str, Any]]:
    body = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()
    return {r["name"]: r for g in body["data"]["groups"] for r in g["rules"]}


def test_prometheus_scrapes_the_api_as_the_job_the_rules_select(prometheus: str) -> None:
    (target,) = _targets(prometheus)
    assert target["labels"]["job"] == monitoring.API_JOB
    assert target["health"] == "up"


def test_every_dashboard_query_returns_data_under_traffic(
    prometheus: str, served_api: RunningApi
) -> None:
    def empty_queries() -> list[Query]:
        drive_traffic(served_api.url)  # keep rates above zero while Prometheus catches up
        return [q for q in QUERIES if not query(prometheus, q.expr)]

    wait_for(empty_queries, "every panel query to return data", 90, done=lambda e: not e, every=0.5)


def test_the_served_model_shows_with_its_version_and_training_time(
    prometheus: str, served_api: RunningApi
) -> None:
    model = httpx.get(f"{served_api.url}/model", timeout=10).json()
    info = wait_for(
        lambda: query(prometheus, f'model_info{{job="{monitoring.API_JOB}"}}'),
        "model_info",
        30,
        every=0.5,
    )
    assert info[0]["metric"]["model_version"] == str(model["version"])
    (age,) = query(prometheus, "time() - max(model_trained_timestamp_seconds > 0)")
    assert 0 <= float(age["value"][1]) < 86400  # trained by this test session, not at epoch 0


def test_the_served_version_s_accuracy_is_scraped_with_its_model_and_version(
    prometheus: str, served_api: RunningApi
) -> None:
    model = httpx.get(f"{served_api.url}/model", timeout=10).json()
    found = wait_for(
        lambda: query(prometheus, f'model_realised_smape{{job="{monitoring.API_JOB}"}}'),
        "model_realised_smape",
        30,
        every=0.5,
    )
    assert [(s["metric"]["model_name"], s["metric"]["model_version"]) for s in found] == [
        (model["name"], str(model["version"]))
    ]
    assert float(found[0]["value"][1]) == float(model["tags"]["realised_smape"])


def test_prometheus_loads_every_alert_rule_and_evaluates_it_without_error(
    prometheus: str,
) -> None:
    rules = wait_for(
        lambda: _rules(prometheus), "the rules", 30, done=lambda r: set(r) >= RULE_NAMES, every=0.5
    )
    assert set(rules) == RULE_NAMES
    evaluated = wait_for(
        lambda: _rules(prometheus),
        "every rule to be evaluated once",
        30,
        done=lambda r: all(rule.get("lastEvaluation", "").startswith("2") for rule in r.values()),
        every=0.5,
    )
    assert {name: r["health"] for name, r in evaluated.items() if r["health"] != "ok"} == {}


def test_health_alerts_stay_inactive_for_a_healthy_api(prometheus: str) -> None:
    def active() -> list[str]:
        rules = _rules(prometheus)
        return [name for name in HEALTH_ALERTS if rules[name]["state"] != "inactive"]

    # absent(up) may be pending until the first scrape lands; it must then clear.
    wait_for(active, "the health alerts to be inactive", 30, done=lambda n: not n, every=0.5)
