"""Monitoring as code for the serving API: alert rules, Grafana dashboards and the scrape job.

The files next to this module are the single source for promtool, the local stack's Prometheus
(`mlstack up`, through `prometheus_config`) and the cluster objects (`infra/prometheus_stack.py`).
The API itself never reads them: it only exports the metrics they are written against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ALERTS_FILE = HERE / "alerts.yaml"
ALERT_TESTS = (
    HERE / "alerts_test.yaml",
    HERE / "alerts_age_test.yaml",
    HERE / "alerts_accuracy_test.yaml",
)
DASHBOARDS_DIR = HERE / "dashboards"

# Every rule and panel selects the API by this job name: the local scrape job is called this,
# and the cluster's ServiceMonitor relabels its targets to it.
API_JOB = "mlstack-api"

# The alert settings a deployment may change, each a recording rule of the rule file that the
# alerts read (`vector(<value>)`), so the alert expressions never change with them.
DEGRADATION_RATIO_RULE = "mlstack:forecast_degradation_ratio"
SCORE_MAX_AGE_RULE = "mlstack:forecast_score_max_age_seconds"


def rule_groups(
    forecast_degradation_ratio: float | None = None, score_max_age_seconds: int | None = None
) -> list[dict[str, Any]]:
    """The `groups:` of the alert rule file, as a PrometheusRule's `spec.groups` wants them;
    each setting given replaces the file's default in its recording rule."""
    import yaml  # type: ignore[import-untyped]

    groups: list[dict[str, Any]] = yaml.safe_load(ALERTS_FILE.read_text())["groups"]
    settings = {
        DEGRADATION_RATIO_RULE: forecast_degradation_ratio,
        SCORE_MAX_AGE_RULE: score_max_age_seconds,
    }
    for rule in (rule for group in groups for rule in group["rules"]):
        value = settings.get(rule.get("record", ""))
        if value is not None:
            rule["expr"] = f"vector({value})"
    return groups


def recorded_names() -> set[str]:
    """The series the rule file records itself: Prometheus writes them, no exporter does."""
    return {
        rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule
    }


def dashboards() -> dict[str, str]:
    """Each checked-in dashboard's file name mapped to its JSON text."""
    return {path.name: path.read_text() for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def dashboard_models() -> dict[str, dict[str, Any]]:
    """Each checked-in dashboard's file name mapped to its parsed JSON model."""
    return {name: json.loads(text) for name, text in dashboards().items()}


def prometheus_config(
    api_targets: list[str], scrape_interval: str = "15s", evaluation_interval: str = "15s"
) -> dict[str, Any]:
    """A Prometheus config that scrapes the API as `API_JOB` and loads the alert rules."""
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": [str(ALERTS_FILE)],
        "scrape_configs": [
            {
                "job_name": API_JOB,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": list(api_targets)}],
            }
        ],
    }
