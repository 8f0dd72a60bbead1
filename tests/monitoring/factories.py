"""Builders for monitoring tests: a promoted model, a running API, traffic and a Prometheus."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx

import monitoring
from contract.service import ServiceSpec
from services.local import process


def drive_traffic(url: str) -> None:
    """One round of every kind of request the dashboards chart: good, bad and health."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for horizon in (1, 6, 12, 24):
            client.post("/predict", json={"horizon": horizon}).raise_for_status()
        client.post("/predict", json={"horizon": 12, "level": 0.8}).raise_for_status()
        split = {"dataframe_split": {"columns": ["n_periods"], "data": [[3]]}}
        client.post("/invocations", json=split).raise_for_status()
        assert client.post("/predict", json={"horizon": 0}).status_code == 422
        assert client.get("/no-such-route").status_code == 404
        for path in ("/healthz", "/readyz", "/model"):
            client.get(path).raise_for_status()


def start_prometheus(binary: str, folder: Path, targets: list[str]) -> tuple[str, Any]:
    """A real Prometheus scraping `targets` every second, with the alert rules loaded."""
    port = process.free_port()
    config = monitoring.prometheus_config(targets, scrape_interval="1s", evaluation_interval="1s")
    config_file = folder / "prometheus.yml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    spec = ServiceSpec(
        name="prometheus",
        image="prometheus",
        extra="",
        args=(
            Path(binary).name,  # process.start resolves a bare name on PATH
            f"--config.file={config_file}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ),
        env=MappingProxyType({}),
    )
    log = open(folder / "prometheus.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = process.start(spec, {}, stdout=log)
    url = f"http://127.0.0.1:{port}"
    process.wait_ready(f"{url}/-/ready", proc, timeout=60, name="Prometheus")
    return url, proc


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector (empty when the query has no data)."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def promtool_test(
    promtool: str, folder: Path, groups: list[dict[str, Any]], tests: list[dict[str, Any]]
) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` of `tests` (promtool's test cases, evaluated every minute) against
    the rule `groups` given, e.g. `monitoring.rule_groups()` rendered with other settings."""
    (folder / "rules.yaml").write_text(json.dumps({"groups": groups}))  # JSON is YAML
    suite = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (folder / "rules_test.yaml").write_text(json.dumps(suite))
    argv = [promtool, "test", "rules", "rules_test.yaml"]
    return subprocess.run(argv, capture_output=True, text=True, cwd=folder, check=False)


def gauge_series(name: str, labels: dict[str, str], value: float, minutes: int) -> dict[str, str]:
    """A promtool input series: the gauge `name` at `value` for `minutes` minutes."""
    selector = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{selector}}}", "values": f"{value!r}x{minutes}"}
