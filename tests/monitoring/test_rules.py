"""The alert rule file: valid for promtool, unit-tested, complete, and linked to the runbook."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import monitoring
from tests.monitoring.factories import gauge_series, promtool_test
from tests.monitoring.promql import anchor, label_value, metric_names, selectors

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
RULES = [rule for group in monitoring.rule_groups() for rule in group["rules"]]
ALERTS = [rule for rule in RULES if "alert" in rule]
NAMES = [rule["alert"] for rule in ALERTS]
RECORDS = [rule for rule in RULES if "record" in rule]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=monitoring.HERE, check=False)


def test_promtool_accepts_the_rule_file(promtool: str) -> None:
    result = _run(promtool, "check", "rules", str(monitoring.ALERTS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in result.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = _run(promtool, "test", "rules", *(str(p) for p in monitoring.ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_issue_s_alerts_are_all_there() -> None:
    assert set(NAMES) >= {
        "MlstackApiDown",
        "MlstackApiNoTargets",
        "MlstackApiHighErrorRatio",
        "MlstackApiHighLatencyP99",
        "MlstackModelNotLoaded",
        "MlstackModelReloadFailures",
        "MlstackServedModelStale",
        "MlstackNoRecentTraining",
        "MlstackForecastDegraded",
        "MlstackIntervalsMiscalibrated",
        "MlstackForecastNotScored",
    }
    assert len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("rule", ALERTS, ids=NAMES)
def test_each_alert_has_severity_for_summary_description_and_runbook(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert re.fullmatch(r"[0-9]+[smhd]", rule["for"])
    annotations = rule["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    assert annotations["runbook_url"] == f"docs/runbook.md#{rule['alert'].lower()}"


def test_every_runbook_url_points_at_a_heading_of_the_runbook() -> None:
    headings = [line.lstrip("#") for line in RUNBOOK.read_text().splitlines() if line[:2] == "##"]
    anchors = {anchor(h) for h in headings}
    for rule in ALERTS:
        path, fragment = rule["annotations"]["runbook_url"].split("#")
        assert (ROOT / path).resolve() == RUNBOOK
        assert fragment in anchors, f"{rule['alert']}: no heading for #{fragment} in {RUNBOOK}"


@pytest.mark.parametrize("rule", ALERTS, ids=NAMES)
def test_each_alert_selects_only_the_api_job(rule: dict[str, Any]) -> None:
    for selector in selectors(rule["expr"]):
        assert label_value(selector, "job") == monitoring.API_JOB, selector


def _cases() -> list[dict[str, Any]]:
    tests = [yaml.safe_load(p.read_text()) for p in monitoring.ALERT_TESTS]
    return [case for test in tests for block in test["tests"] for case in block["alert_rule_test"]]


@pytest.mark.parametrize("name", NAMES)
def test_each_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not(name: str) -> None:
    cases = [case for case in _cases() if case["alertname"] == name]
    assert any(case["exp_alerts"] for case in cases), f"{name} is never expected to fire"
    assert any(not case["exp_alerts"] for case in cases), f"{name} is never expected to be quiet"


def test_each_setting_the_alerts_read_is_recorded_for_the_api_job_before_they_read_it() -> None:
    for group in monitoring.rule_groups():
        recorded: set[str] = set()
        for rule in group["rules"]:
            if "record" in rule:
                assert rule["labels"] == {"job": monitoring.API_JOB}, rule["record"]
                recorded.add(rule["record"])
                continue
            used = metric_names(rule["expr"]) & monitoring.recorded_names()
            assert used <= recorded, (
                f"{rule['alert']} reads {used - recorded} before its group records it"
            )
    defaults = {r["record"]: r["expr"] for r in RECORDS}
    assert defaults == {
        monitoring.DEGRADATION_RATIO_RULE: "vector(1.5)",
        monitoring.SCORE_MAX_AGE_RULE: "vector(21600)",
    }


def _degraded(realised: float, backtest: float) -> dict[str, Any]:
    """A promtool case: version 1 realised `realised` against `backtest` for an hour."""
    labels = {
        "job": monitoring.API_JOB,
        "instance": "api-0:8000",
        "model_name": "m",
        "model_version": "1",
    }
    return {
        "interval": "1m",
        "input_series": [
            gauge_series("model_realised_smape", labels, realised, 60),
            gauge_series("model_backtest_smape", labels, backtest, 60),
        ],
        "alert_rule_test": [],
    }


def annotations(alert: str, labels: dict[str, str], value: str) -> dict[str, str]:
    """`alert`'s annotations as Prometheus renders them for `labels`, with `value` standing
    for whatever `{{ $value | ... }}` prints (promtool compares annotations exactly)."""
    (rule,) = (rule for rule in ALERTS if rule["alert"] == alert)

    def render(text: str) -> str:
        text = re.sub(r"\{\{ \$value[^}]*\}\}", value, text)
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)

    return {key: render(text) for key, text in rule["annotations"].items()}


def firing(
    alert: str, labels: dict[str, str] | None, value: str = "", at: str = "50m"
) -> dict[str, Any]:
    """An expectation: `alert` fires with exactly these labels and its `value` (None: stays
    quiet) at `at`."""
    expected = []
    if labels is not None:
        expected = [
            {
                "exp_labels": {"severity": "warning", **labels},
                "exp_annotations": annotations(alert, labels, value),
            }
        ]
    return {"eval_time": at, "alertname": alert, "exp_alerts": expected}


@pytest.mark.parametrize(("ratio", "fires"), [(2.5, True), (3.0, False), (4.0, False)])
def test_the_degradation_ratio_is_a_setting_of_the_rendered_rules(
    promtool: str, tmp_path: Path, ratio: float, fires: bool
) -> None:
    case = _degraded(realised=30.0, backtest=10.0)  # three times the backtest SMAPE
    labels = {"job": monitoring.API_JOB, "model_name": "m", "model_version": "1"}
    case["alert_rule_test"] = [firing("MlstackForecastDegraded", labels if fires else None, "30")]
    groups = monitoring.rule_groups(forecast_degradation_ratio=ratio)
    result = promtool_test(promtool, tmp_path, groups, [case])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("max_age", "fires"), [(3600, True), (86400, False)])
def test_the_time_allowed_between_scorings_is_a_setting_of_the_rendered_rules(
    promtool: str, tmp_path: Path, max_age: int, fires: bool
) -> None:
    scored = {
        "job": monitoring.API_JOB,
        "instance": "api-0:8000",
        "model_name": "m",
        "model_version": "1",
    }
    case = {
        "interval": "1m",
        "input_series": [gauge_series("model_last_scored_timestamp_seconds", scored, 0, 180)],
        "alert_rule_test": [
            firing(
                "MlstackForecastNotScored",
                {"job": monitoring.API_JOB, "model_name": "m"} if fires else None,
                "2h 30m 0s",
                at="150m",
            )
        ],
    }
    groups = monitoring.rule_groups(score_max_age_seconds=max_age)
    result = promtool_test(promtool, tmp_path, groups, [case])
    assert result.returncode == 0, result.stdout + result.stderr
