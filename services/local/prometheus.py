"""The local Prometheus: scrapes the API's `/metrics` with the project's own alert rules loaded.

On Kubernetes, kube-prometheus-stack does this through a ServiceMonitor; locally we run the
`prometheus` binary when it is on PATH and say how to get it when it is not.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import MappingProxyType

from contract.service import ServiceSpec
from monitoring import API_JOB, prometheus_config
from services.local.config import LocalConfig

HINT = (
    "prometheus is not on PATH, so the stack runs without it "
    "(Debian/Ubuntu: `sudo apt-get install prometheus`; macOS: `brew install prometheus`)"
)
# The job the alert rules select on; the cluster's ServiceMonitor relabels to the same name.
JOB = API_JOB


def available() -> bool:
    return shutil.which("prometheus") is not None


def spec(cfg: LocalConfig) -> ServiceSpec:
    """Prometheus as a ServiceSpec, so it starts, waits and stops like every other service."""
    return ServiceSpec(
        name="prometheus",
        image="prometheus",
        extra="",
        args=(
            "prometheus",
            f"--config.file={write_config(cfg)}",
            f"--storage.tsdb.path={cfg.state_dir / 'prometheus'}",
            f"--web.listen-address={cfg.host}:{cfg.ports['prometheus']}",
        ),
        port=cfg.ports["prometheus"],
        env=MappingProxyType({}),
        ready_path="/-/ready",
        live_path="/-/healthy",
    )


def config(cfg: LocalConfig) -> dict[str, object]:
    """The monitoring config (scrape job and alert rules) pointed at the local API."""
    return prometheus_config([f"{cfg.host}:{cfg.ports['api']}"])


def write_config(cfg: LocalConfig) -> Path:
    path = cfg.state_dir / "prometheus.yml"
    # JSON is YAML, so no YAML library is needed for a file nobody edits by hand.
    path.write_text(json.dumps(config(cfg), indent=2))
    return path
