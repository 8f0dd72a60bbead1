"""The alert rule file: valid for promtool, unit-tested, complete, and linked to the runbook."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import monitoring
from tests.monitoring.promql import anchor, label_value, selectors

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
ALERTS = [rule for group in monitoring.rule_groups() for rule in group["rules"]]
NAMES = [rule["alert"] for rule in ALERTS]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=monitoring.HERE, check=False)


def test_promtool_accepts_the_rule_file(promtool: str) -> None:
    result = _run(promtool, "check", "rules", str(monitoring.ALERTS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


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
    }
    assert len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("rule", ALERTS, ids=NAMES)
def test_each_alert_has_severity_for_summary_description_and_runbook(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning"}
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
