"""A real `mlstack serve` process on a loopback port, its log file, and its metrics.

Tests that need the API as users run it (reliability, monitoring, the demo) drive it over TCP,
the way clients and Prometheus do, and read what it logged from the process's own output (no
in-process log capture to hide behind).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from contract.api import API, ApiEnv
from services.local import process

# The API_TOKEN of the guarded API (at least 32 characters); tests look for it in output.
TOKEN = "tok-7f3a9c2e51b84d06-5e1b0a9c3f7d2e48"


@dataclass(frozen=True)
class RunningApi:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def target(self) -> str:
        """host:port, as a Prometheus scrape target."""
        return self.url.removeprefix("http://")

    def wait_ready(self) -> None:
        """Wait until a model is loaded (`/readyz` 200)."""
        process.wait_ready(f"{self.url}{API.ready_path}", self.proc, timeout=120, name="API")

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def _metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text

    def _samples(self) -> list[Sample]:
        return [s for f in text_string_to_metric_families(self._metrics()) for s in f.samples]

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """One sample from `/metrics` (0 when the series is absent)."""
        found = (s.value for s in self._samples() if s.name == name and s.labels == (labels or {}))
        return float(next(found, 0.0))

    def requests(self, handler: str) -> float:
        """All requests counted for one route template, whatever their method and status."""
        return sum(
            sample.value
            for sample in self._samples()
            if sample.name == "http_requests_total" and sample.labels["handler"] == handler
        )

    def server_errors(self) -> list[str]:
        """Request counters with a 5xx status, except /readyz's 503 before the model loaded."""
        return [
            line
            for line in self._metrics().splitlines()
            if line.startswith("http_requests_total{")
            and 'status="5' in line
            and 'handler="/readyz"' not in line
        ]

    def assert_healthy(self) -> None:
        """Still running, still ready, no 5xx counted and no traceback logged."""
        assert self.proc.poll() is None, "the API process exited"
        assert httpx.get(f"{self.url}/readyz", timeout=10).status_code == 200
        assert self.server_errors() == []
        assert "Traceback" not in self.logs()

    def version(self) -> str | None:
        """The version being served (from /readyz, whose 503s before a model are by design)."""
        response = httpx.get(f"{self.url}/readyz", timeout=10)
        return response.json()["version"] if response.status_code == 200 else None


@contextmanager
def running_api(
    folder: Path, tracking_uri: str, model_name: str, **env: str
) -> Iterator[RunningApi]:
    """`mlstack serve` from the API spec, alive (not necessarily ready), polling the registry
    every 0.2 s unless `env` says otherwise; stopped on exit."""
    port = process.free_port()
    values = ApiEnv(
        mlflow_tracking_uri=tracking_uri,
        model_name=model_name,
        host="127.0.0.1",
        port=port,
        model_poll_seconds=0.2,
        log_level="info",
        api_token="",  # auth off unless the test turns it on (never inherited)
        model_cache_dir=folder / "model-cache",  # the test's own, unless `env` names one
    ).to_env()
    values.update(env)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"api-{port}.log"
    with log.open("ab") as out:
        proc = process.start(API, values, stdout=out)
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_ready(f"{url}/healthz", proc, timeout=120, name="mlstack serve")
        yield RunningApi(url, proc, log)
    finally:
        process.stop(proc)
