"""The local Prometheus config is valid, scrapes the API as the alert rules expect, loads them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from monitoring import ALERTS_FILE as ALERT_RULES
from services.local import prometheus
from services.local.config import DEFAULT_PORTS, LocalConfig
from tests.binaries import binary


def _cfg(tmp_path: Path) -> LocalConfig:
    return LocalConfig(state_dir=tmp_path, ports={**DEFAULT_PORTS, "api": 8123})


def test_scrape_targets_the_api_metrics_route(tmp_path: Path) -> None:
    (scrape,) = prometheus.config(_cfg(tmp_path))["scrape_configs"]  # type: ignore[misc]
    assert scrape["metrics_path"] == "/metrics"
    assert scrape["static_configs"] == [{"targets": ["127.0.0.1:8123"]}]


def test_scrape_job_is_the_job_the_alert_rules_select() -> None:
    jobs = set(re.findall(r'job="([^"]+)"', ALERT_RULES.read_text()))
    assert jobs == {prometheus.JOB}


def test_the_checked_in_alert_rules_are_loaded(tmp_path: Path) -> None:
    assert prometheus.config(_cfg(tmp_path))["rule_files"] == [str(ALERT_RULES)]


def test_the_rules_it_loads_include_the_accuracy_alerts_and_their_settings(
    tmp_path: Path,
) -> None:
    (rule_file,) = prometheus.config(_cfg(tmp_path))["rule_files"]  # type: ignore[misc]
    groups = yaml.safe_load(Path(rule_file).read_text())["groups"]
    names = {rule.get("alert") or rule["record"] for g in groups for rule in g["rules"]}
    assert names >= {
        "MlstackForecastDegraded",
        "MlstackIntervalsMiscalibrated",
        "MlstackForecastNotScored",
        "mlstack:forecast_degradation_ratio",
        "mlstack:forecast_score_max_age_seconds",
    }


def test_promtool_accepts_the_written_config_with_its_rules(tmp_path: Path) -> None:
    promtool = binary("promtool", "`make system-deps` installs it with the prometheus package")
    path = prometheus.write_config(_cfg(tmp_path))
    assert json.loads(path.read_text())["rule_files"] == [str(ALERT_RULES)]
    result = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_spec_listens_on_the_configured_port_and_keeps_data_in_the_state_dir(
    tmp_path: Path,
) -> None:
    spec = prometheus.spec(_cfg(tmp_path))
    assert f"--web.listen-address=127.0.0.1:{DEFAULT_PORTS['prometheus']}" in spec.args
    assert f"--storage.tsdb.path={tmp_path / 'prometheus'}" in spec.args
    assert spec.ready_path == "/-/ready"
