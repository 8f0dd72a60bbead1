"""The local stack's Prometheus (`mlstack up`) runs the same rules on the same job name."""

from __future__ import annotations

from pathlib import Path

from services.local import prometheus
from services.local.config import LocalConfig
from services.serving import monitoring


def test_the_local_prometheus_scrapes_the_api_as_the_job_the_rules_select(tmp_path: Path) -> None:
    config = prometheus.config(LocalConfig(state_dir=tmp_path))
    (job,) = config["scrape_configs"]  # type: ignore[misc]
    assert job["job_name"] == monitoring.API_JOB
    assert job["metrics_path"] == "/metrics"


def test_the_local_prometheus_loads_the_checked_in_rule_file(tmp_path: Path) -> None:
    config = prometheus.config(LocalConfig(state_dir=tmp_path))
    rule_files = [Path(str(p)).resolve() for p in config["rule_files"]]  # type: ignore[attr-defined]
    assert rule_files == [monitoring.ALERTS_FILE]
